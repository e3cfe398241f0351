"""Pydantic models shared by every part of the hub: read models and events.

This subpackage depends on nothing else in ``artifact_hub``, so producers, consumers, the API
and the client can all import it.
"""

from artifact_hub.schemas.artifacts import (
    Access,
    AccessEntry,
    Artifact,
    ArtifactVersion,
    Principal,
    Session,
)
from artifact_hub.schemas.events import (
    DLQ_TOPIC,
    EVENT_TYPES,
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactEvent,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    ExpiryChange,
    HubEvent,
    SessionSealed,
    parse_event,
    topic_for,
)
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import (
    Lineage,
    LineageEdge,
    LineageGraph,
    LineageInput,
    LineageNode,
)
from artifact_hub.schemas.workflow import (
    RetryPolicy,
    RunReport,
    Step,
    StepError,
    StepReport,
    Workflow,
)

__all__ = [
    "DLQ_TOPIC",
    "EVENT_TYPES",
    "Access",
    "AccessEntry",
    "Artifact",
    "ArtifactCreated",
    "ArtifactDeleted",
    "ArtifactEvent",
    "ArtifactExpired",
    "ArtifactShared",
    "ArtifactUpdated",
    "ArtifactVersion",
    "ArtifactVersioned",
    "Caller",
    "EventBase",
    "ExpiryChange",
    "HubEvent",
    "Lineage",
    "LineageEdge",
    "LineageGraph",
    "LineageInput",
    "LineageNode",
    "Principal",
    "RetryPolicy",
    "RunReport",
    "Session",
    "SessionSealed",
    "Step",
    "StepError",
    "StepReport",
    "Workflow",
    "parse_event",
    "topic_for",
]
