"""Coordination Hub step agents: ``data-loader``, ``artifact-saver`` and the agent registry.

Importing this package registers the built-in agents on :data:`default_registry`. They run
in-process under the workflow runner, or behind the Kafka step service
(:mod:`artifact_hub.workflow_steps.service`, ``artifact-hub steps``).
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
