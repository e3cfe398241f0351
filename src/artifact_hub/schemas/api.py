"""Bodies of the REST API (see docs/rest-api.md), shared by the server and the client."""

from __future__ import annotations

from datetime import datetime

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.fields import (
    ContentType,
    Identifier,
    JsonObject,
    Kind,
    Labels,
    Name,
    Namespace,
    OptionalIdentifier,
    PrincipalId,
    Tag,
    Text,
    ToolVersion,
    TTLSeconds,
    Version,
)

__all__ = [
    "ArtifactList",
    "CreateArtifact",
    "CreateLink",
    "ExtendTTL",
    "Link",
    "ShareRequest",
    "SignedUrl",
    "UpdateArtifact",
    "Upload",
    "UploadPart",
    "UploadReceived",
    "UploadUrlRequest",
    "VersionList",
    "WhoAmI",
]


class _Body(BaseModel):
    # Strict: JSON ``true`` is not the integer 1, nor ``"5"`` the number 5 (a multipart form,
    # whose fields are all text, is validated with ``strict=False``: see api/ingest.py).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, strict=True)


class CreateArtifact(_Body):
    """A new artifact (or, on ``/versions``, a new version: only content, type and metadata).

    With a JSON body the content is ``content_base64``; with a multipart form it is the
    ``file`` part and these fields are form fields (dicts as JSON strings).
    """

    name: Name | None = Field(default=None, validation_alias=AliasChoices("name", "filename"))
    content_base64: str | None = None
    content_type: ContentType | None = None
    session_id: Identifier | None = None
    agent_id: Identifier | None = Field(
        default=None, description="Ignored unless it equals the key's agent (kept for SDKs)."
    )
    namespace: Namespace | None = None
    kind: Kind | None = None
    metadata: JsonObject | None = None
    labels: Labels | None = None
    tags: list[Tag] | None = None
    metrics: JsonObject | None = None
    pinned: bool = False
    ttl_seconds: TTLSeconds | None = None
    never_expires: bool = False
    sha256: str | None = Field(default=None, description="Fail unless the content hashes so.")
    run_id: OptionalIdentifier | None = None
    graph_id: OptionalIdentifier | None = None
    node_id: OptionalIdentifier | None = None
    tool_name: OptionalIdentifier | None = None
    tool_version: ToolVersion | None = None
    org_id: OptionalIdentifier | None = None
    user_id: OptionalIdentifier | None = None
    client_id: OptionalIdentifier | None = None
    app_id: OptionalIdentifier | None = None
    uri: Text | None = None
    preview_uri: Text | None = None


class UpdateArtifact(_Body):
    """Fields to replace without a new version; those left out stay."""

    metadata: JsonObject | None = None
    labels: Labels | None = None
    tags: list[Tag] | None = None
    metrics: JsonObject | None = None
    pinned: bool | None = None


class ArtifactList(BaseModel):
    """One page of artifacts, newest first."""

    data: list[Artifact]
    next_cursor: str | None = None


class VersionList(BaseModel):
    """Every live version of an artifact, oldest first."""

    data: list[ArtifactVersion]


class ShareRequest(_Body):
    """Agents and groups to grant (``share``) or revoke (``unshare``)."""

    agents: list[PrincipalId] = Field(
        default_factory=list, validation_alias=AliasChoices("agents", "with_agents")
    )
    groups: list[PrincipalId] = Field(
        default_factory=list, validation_alias=AliasChoices("groups", "with_groups")
    )


class ExtendTTL(_Body):
    """A new TTL from now, or ``never``."""

    ttl_seconds: TTLSeconds | None = Field(
        default=None, validation_alias=AliasChoices("ttl_seconds", "expires_in", "ttl")
    )
    never: bool = False


LINK_MAX_SECONDS = 30 * 24 * 3600
"""The longest a link lives (30 days)."""
DOWNLOAD_URL_MAX_SECONDS = 7 * 24 * 3600
"""The longest a signed download URL lives (7 days)."""


class CreateLink(_Body):
    """A revocable download link."""

    # At most LINK_MAX_SECONDS: checked by the service (400 invalid_request, as always).
    expires_in: int = Field(default=7 * 24 * 3600, ge=1)
    version: Version | None = None


class Link(BaseModel):
    """A link the hub serves until it expires or is revoked."""

    id: str
    url: str
    artifact_id: str
    version: int | None = None
    created_at: datetime
    expires_at: datetime


class SignedUrl(BaseModel):
    """A URL that reads (or writes) without the API key, until ``expires_at``."""

    url: str
    expires_at: datetime


class UploadUrlRequest(CreateArtifact):
    """Ask for a presigned upload of ``size_bytes`` bytes (up to 5 GB)."""

    size_bytes: int = Field(ge=0)


class UploadPart(BaseModel):
    """One part of a multipart presigned upload: PUT bytes ``offset..offset+size`` to ``url``."""

    part_number: int
    url: str
    offset: int
    size: int


class UploadReceived(BaseModel):
    """The answer to the ``PUT`` of an upload's bytes."""

    id: str
    size_bytes: int


class Upload(BaseModel):
    """A pending presigned upload: PUT the bytes to ``url``, then ``complete`` it.

    With ``parts`` (large files on S3), PUT each part's range of the file to its own URL
    instead (any order, in parallel if you like; ``Content-Length`` = the part's size), then
    ``complete``; ``url`` is not used then.
    """

    id: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    expires_at: datetime
    parts: list[UploadPart] | None = None

    @property
    def upload_id(self) -> str:
        """Alias of ``id``."""
        return self.id


class WhoAmI(BaseModel):
    """Who the API key speaks for."""

    tenant_id: str
    tenant_name: str | None = None
    agent_id: str
    groups: list[str] = Field(default_factory=list)
    namespace: str = "default"
    plan: str
    key_id: str
    admin: bool = False
