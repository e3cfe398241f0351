"""Coordination Hub step agents: ``data-loader``, ``artifact-saver`` and the agent registry.

Importing this package registers the built-in agents on :data:`default_registry`. They run
in-process under the workflow runner (:mod:`~artifact_hub.workflow_steps.runner`), or behind
the Kafka step service (:mod:`~artifact_hub.workflow_steps.service`, wired to Kafka by
:mod:`~artifact_hub.workflow_steps.step_app`, ``artifact-hub steps``; called through
:mod:`~artifact_hub.workflow_steps.step_client`).
"""

from artifact_hub.workflow_steps import agents as agents
from artifact_hub.workflow_steps.registry import (
    AgentFn,
    AgentRegistry,
    LoadLog,
    LoadRecord,
    StepContext,
    default_registry,
    import_agents,
)

__all__ = [
    "AgentFn",
    "AgentRegistry",
    "LoadLog",
    "LoadRecord",
    "StepContext",
    "default_registry",
    "import_agents",
]
