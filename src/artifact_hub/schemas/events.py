"""Event payloads: one frozen model per change, named in the past tense.

Every change to the hub is one of these events. The same models travel through the outbox, over
Kafka (CloudEvents 1.0, binary mode: the value is the JSON ``data``, the envelope attributes
are ``ce_*`` headers) and into the projection that keeps the index.

Events about one artifact carry ``seq``, the artifact's revision after the event: 1 for
``artifact.created``, then one more per event. Artifact events live on several topics, so a
consumer may see them out of order; ``seq`` lets it apply each exactly once, in order.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from artifact_hub.schemas.artifacts import Principal
from artifact_hub.schemas.fields import (
    MAX_INT32,
    ContentType,
    Identifier,
    Kind,
    Name,
    Namespace,
    OptionalIdentifier,
    Tag,
    Text,
    ToolVersion,
    Version,
)
from artifact_hub.schemas.lineage import Lineage

__all__ = [
    "DLQ_TOPIC",
    "EVENT_TYPES",
    "METADATA_KEY_PATTERN",
    "ArtifactCreated",
    "ArtifactDeleted",
    "ArtifactEvent",
    "ArtifactExpired",
    "ArtifactShared",
    "ArtifactUpdated",
    "ArtifactVersioned",
    "EventBase",
    "HubEvent",
    "SessionSealed",
    "parse_event",
    "topic_for",
]

DLQ_TOPIC = "artifact.dlq"
METADATA_KEY_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
SHA256_PATTERN = r"^[0-9a-f]{64}$"


def new_event_id() -> str:
    """A fresh, unique event id (UUID4, hex)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Now, as an aware UTC datetime."""
    return datetime.now(UTC)


class EventBase(BaseModel):
    """Fields every event has.

    Attributes:
        event_id: Unique id; the CloudEvents ``id``. Consumers record it to skip replays.
        occurred_at: When the change happened; the CloudEvents ``time``.
        source: Who produced the event; the CloudEvents ``source``.
        tenant_id: The tenant the change belongs to.
        actor: The agent that made the change.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    event_id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    occurred_at: datetime = Field(default_factory=utcnow)
    source: str = "artifact-hub"
    tenant_id: str = Field(min_length=1, max_length=128)
    actor: str | None = None

    topic: ClassVar[str] = ""

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    @property
    def key(self) -> str:
        """The Kafka key: what orders this event relative to its neighbours."""
        raise NotImplementedError

    @property
    def subject(self) -> str:
        """The CloudEvents ``subject``."""
        return self.key


class ArtifactEvent(EventBase):
    """An event about one artifact; keyed by its id and ordered by ``seq``."""

    artifact_id: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=1)

    @property
    def key(self) -> str:
        """The artifact id."""
        return self.artifact_id


def _check_metadata(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    for key in value:
        if not METADATA_KEY_PATTERN.fullmatch(key):
            raise ValueError(f"metadata key {key!r} must match {METADATA_KEY_PATTERN.pattern}")
    return value


class ArtifactCreated(ArtifactEvent):
    """A new artifact with its first version."""

    type: Literal["artifact.created"] = "artifact.created"
    topic: ClassVar[str] = "artifact.created"

    seq: int = Field(default=1, ge=1, le=1)
    name: Name
    namespace: Namespace = "default"
    agent_id: Identifier | None = None
    session_id: Identifier | None = None
    kind: Kind | None = None
    content_type: ContentType | None = None
    sha256: str = Field(pattern=SHA256_PATTERN)
    size_bytes: int = Field(ge=0)
    # JSON values (NaN, NUL, depth) are checked where they enter (the API's bodies, the
    # service's WriteRules.values): events already in a log replay as they were.
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    pinned: bool = False
    uri: Text | None = None
    preview_uri: Text | None = None
    run_id: OptionalIdentifier | None = None
    graph_id: OptionalIdentifier | None = None
    node_id: OptionalIdentifier | None = None
    tool_name: OptionalIdentifier | None = None
    tool_version: ToolVersion | None = None
    org_id: OptionalIdentifier | None = None
    user_id: OptionalIdentifier | None = None
    client_id: OptionalIdentifier | None = None
    app_id: OptionalIdentifier | None = None
    expires_at: datetime | None = None
    # Left out of the JSON when absent, so the events of hubs without lineage stay the same
    # bytes (same digests) and consumers from before lineage still accept them.
    lineage: Lineage | None = Field(default=None, exclude_if=lambda value: value is None)
    """The workflow run and step that saved it, and what they had loaded (None: not a step)."""

    _meta = field_validator("metadata")(classmethod(lambda cls, v: _check_metadata(v)))


class ArtifactVersioned(ArtifactEvent):
    """A new version of an existing artifact. ``metadata`` of None keeps the previous one."""

    type: Literal["artifact.versioned"] = "artifact.versioned"
    topic: ClassVar[str] = "artifact.versioned"

    version: int = Field(ge=2, le=MAX_INT32)
    sha256: str = Field(pattern=SHA256_PATTERN)
    size_bytes: int = Field(ge=0)
    content_type: ContentType | None = None
    metadata: dict[str, Any] | None = None
    agent_id: Identifier | None = None
    lineage: Lineage | None = Field(default=None, exclude_if=lambda value: value is None)
    """The workflow run and step that saved this version, and what they had loaded."""

    _meta = field_validator("metadata")(classmethod(lambda cls, v: _check_metadata(v)))


class ArtifactShared(ArtifactEvent):
    """Access granted to and/or revoked from agents and groups, in one step."""

    type: Literal["artifact.shared"] = "artifact.shared"
    topic: ClassVar[str] = "artifact.shared"

    grants: list[Principal] = Field(default_factory=list)
    revokes: list[Principal] = Field(default_factory=list)


class ExpiryChange(BaseModel):
    """A new expiry: a time, or None for ``never``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    expires_at: datetime | None


class ArtifactUpdated(ArtifactEvent):
    """Pin, TTL, metadata, labels, tags or metrics changed. Fields left None stay as they are."""

    type: Literal["artifact.updated"] = "artifact.updated"
    topic: ClassVar[str] = "artifact.updated"

    pinned: bool | None = None
    expiry: ExpiryChange | None = None
    metadata: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    tags: list[Tag] | None = None
    metrics: dict[str, Any] | None = None

    _meta = field_validator("metadata")(classmethod(lambda cls, v: _check_metadata(v)))


class ArtifactDeleted(ArtifactEvent):
    """The whole artifact (``version`` None) or one version was soft-deleted.

    ``purged`` marks the hard delete after retention: the artifact's rows leave the index (its
    blobs are collected once nothing else points at them).
    """

    type: Literal["artifact.deleted"] = "artifact.deleted"
    topic: ClassVar[str] = "artifact.deleted"

    version: Version | None = None
    purged: bool = False


class ArtifactExpired(ArtifactEvent):
    """The artifact's TTL passed; reads now answer ``artifact_expired``."""

    type: Literal["artifact.expired"] = "artifact.expired"
    topic: ClassVar[str] = "artifact.expired"


class SessionSealed(EventBase):
    """A session was sealed: it takes no more writes."""

    type: Literal["session.sealed"] = "session.sealed"
    topic: ClassVar[str] = "session.sealed"

    session_id: Identifier

    @property
    def key(self) -> str:
        """The session id."""
        return self.session_id


HubEvent = Annotated[
    ArtifactCreated
    | ArtifactVersioned
    | ArtifactShared
    | ArtifactUpdated
    | ArtifactDeleted
    | ArtifactExpired
    | SessionSealed,
    Field(discriminator="type"),
]
EVENT_TYPES: dict[str, type[EventBase]] = {
    cls.topic: cls
    for cls in (
        ArtifactCreated,
        ArtifactVersioned,
        ArtifactShared,
        ArtifactUpdated,
        ArtifactDeleted,
        ArtifactExpired,
        SessionSealed,
    )
}
_ADAPTER: TypeAdapter[HubEvent] = TypeAdapter(HubEvent)


def parse_event(data: dict[str, Any] | str | bytes) -> HubEvent:
    """Validate a JSON document (with its ``type``) into the matching event model."""
    if isinstance(data, (str, bytes)):
        return _ADAPTER.validate_json(data)
    return _ADAPTER.validate_python(data)


def topic_for(event_type: str, prefix: str = "") -> str:
    """The topic an event type is published on, with the deployment's prefix."""
    return f"{prefix}{EVENT_TYPES[event_type].topic}"
