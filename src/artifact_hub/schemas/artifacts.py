"""Read models: what the index returns for artifacts, versions, access entries and sessions.

These are plain frozen pydantic models with no behaviour beyond aliases, shared by the
service layer, the API, the client and the workflow steps.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from artifact_hub.schemas.fields import PrincipalId

__all__ = ["Access", "AccessEntry", "Artifact", "ArtifactVersion", "Principal", "Session"]

PrincipalType = Literal["agent", "group"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class Principal(_Frozen):
    """Who an artifact is shared with: one agent or one group of agents."""

    type: PrincipalType
    id: PrincipalId


class Artifact(_Frozen):
    """One artifact as the index knows it, at its current version.

    Carries every attribute of the ArtifactFacade's ``Artifact`` (run/graph/node ids, tool,
    kind, sha256, bytes, mime/mimetype, tags, labels, metrics, pinned, uri, preview_uri and the
    org/user/client/app/session scope) and the Artifacta/Acenta fields (``id``, ``name``,
    ``filename``, ``size_bytes``, ``content_type``, ``metadata``, ``owner``).
    """

    artifact_id: str
    tenant_id: str
    namespace: str = "default"
    name: str
    version: int = 1
    agent_id: str | None = None
    session_id: str | None = None
    content_type: str | None = Field(
        default=None, validation_alias=AliasChoices("content_type", "mime", "mimetype")
    )
    sha256: str | None = None
    size_bytes: int | None = Field(
        default=None, validation_alias=AliasChoices("size_bytes", "bytes")
    )
    kind: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    labels: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    pinned: bool = False
    uri: str | None = None
    preview_uri: str | None = None
    run_id: str | None = None
    graph_id: str | None = None
    node_id: str | None = None
    tool_name: str | None = None
    tool_version: str | None = None
    org_id: str | None = None
    user_id: str | None = None
    client_id: str | None = None
    app_id: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    expires_at: datetime | None = None
    deleted_at: datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def id(self) -> str:
        """Alias of ``artifact_id`` (Artifacta and Acenta clients say ``id``)."""
        return self.artifact_id

    @computed_field  # type: ignore[prop-decorator]
    @property
    def filename(self) -> str:
        """Alias of ``name`` (Artifacta's word)."""
        return self.name

    @property
    def mime(self) -> str | None:
        """Alias of ``content_type`` (the facade's word)."""
        return self.content_type

    @property
    def mimetype(self) -> str | None:
        """Alias of ``content_type`` (the facade's backward-compatible word)."""
        return self.content_type

    @property
    def owner(self) -> str | None:
        """The agent that created the artifact."""
        return self.agent_id

    @property
    def deleted(self) -> bool:
        """Whether the artifact was soft-deleted."""
        return self.deleted_at is not None

    @property
    def bytes(self) -> int | None:
        """Alias of ``size_bytes`` (the facade's word)."""
        return self.size_bytes


class ArtifactVersion(_Frozen):
    """One stored version of an artifact."""

    artifact_id: str
    version: int
    sha256: str
    size_bytes: int
    content_type: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    agent_id: str | None = None
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def bytes(self) -> builtins.int:
        """Alias of ``size_bytes``."""
        return self.size_bytes


class AccessEntry(_Frozen):
    """One grant of read access on an artifact to an agent or a group."""

    artifact_id: str
    principal_type: PrincipalType
    principal_id: str
    granted_by: str | None = None
    granted_at: datetime


class Access(_Frozen):
    """Who an artifact is shared with (``client.artifact.get_access``)."""

    artifact_id: str
    owner: str | None = None
    agents: list[str] = Field(default_factory=list)
    groups: list[str] = Field(default_factory=list)


class Session(_Frozen):
    """A session groups the artifacts of one run; once sealed it takes no more writes."""

    tenant_id: str
    session_id: str
    created_at: datetime
    sealed_at: datetime | None = None

    @property
    def sealed(self) -> bool:
        """Whether the session is sealed."""
        return self.sealed_at is not None
