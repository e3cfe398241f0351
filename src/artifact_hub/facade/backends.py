"""How the facade reaches the hub: one small protocol, two adapters.

:class:`ServiceBackend` calls the service layer of an embedded hub (:class:`InProcessHub`: what
the facade uses of ``artifact_hub.Hub``, which whoever builds the context passes in) as a
:class:`~artifact_hub.schemas.identity.Caller`; :class:`ClientBackend` calls the REST API
through the SDK's :class:`~artifact_hub.client.AsyncClient`. Both raise the same typed
errors of :mod:`artifact_hub.core.errors`, so the facade above them has one code path.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from artifact_hub.ports.index import MAX_LIMIT, ArtifactFilter
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.commands import PushArtifact, Scope

if TYPE_CHECKING:
    from artifact_hub.client import AsyncClient
    from artifact_hub.core.settings import HubSettings
    from artifact_hub.schemas.identity import Caller
    from artifact_hub.schemas.search import SearchRequest
    from artifact_hub.service.artifacts import ArtifactService
    from artifact_hub.service.search import SearchService

__all__ = ["ClientBackend", "FacadeBackend", "InProcessHub", "ServiceBackend"]

TTLValue = timedelta | Literal["never"]


class FacadeBackend(Protocol):
    """What the facade needs from a hub; every method raises :mod:`artifact_hub.core.errors`."""

    async def push(
        self,
        content: bytes | Path,
        *,
        name: str,
        content_type: str | None,
        kind: str | None,
        labels: dict[str, Any],
        tags: Sequence[str],
        metrics: dict[str, Any],
        pinned: bool,
        session_id: str | None,
        scope: Scope,
        expected_sha256: str | None = None,
    ) -> Artifact:
        """Store content as a new artifact, made where ``scope`` says (run, graph, node, ...).

        With ``expected_sha256`` the hub refuses content that does not hash to it
        (``ChecksumMismatchError``), and stores nothing.
        """
        ...

    async def get(self, artifact_id: str) -> Artifact:
        """The artifact, or ``ArtifactNotFoundError``/``Deleted``/``Expired``."""
        ...

    async def list(
        self,
        *,
        kind: str | None = None,
        tags: Sequence[str] = (),
        labels: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Artifact]:
        """Visible artifacts matching every filter, newest first (``limit`` None: all)."""
        ...

    async def pull_bytes(self, artifact_id: str, version: int | None = None) -> bytes:
        """A version's content (default: the current one), verified against its sha256."""
        ...

    async def pull_to(self, artifact_id: str, path: Path, version: int | None = None) -> Path:
        """Write a version (default: the current one) to ``path`` (appears once verified)."""
        ...

    async def pin(self, artifact_id: str, pinned: bool) -> Artifact:
        """Pin or unpin."""
        ...

    async def extend_ttl(self, artifact_id: str, ttl: TTLValue) -> Artifact:
        """Expire ``ttl`` from now (``"never"``: keep)."""
        ...

    async def search(self, request: SearchRequest) -> builtins.list[Artifact]:
        """The hub's search (structured, lexical, semantic or hybrid), best first."""
        ...

    async def best(self, request: SearchRequest) -> Artifact | None:
        """The artifact with the best ``request.metric`` among the matches."""
        ...

    async def agent_id(self) -> str | None:
        """The agent this backend acts as (owner of what it pushes)."""
        ...

    def s3_options(self) -> dict[str, Any] | None:
        """boto3 options for ``s3://`` URIs when the backend knows the hub's (else None)."""
        ...

    def protected_locations(self) -> tuple[Path | None, str | None, str]:
        """Where the hub keeps its own blobs: (local folder, S3 bucket, S3 prefix).

        URIs pointing there are refused: reading blobs directly would skip tenant checks.
        """
        ...


class InProcessHub(Protocol):
    """What the in-process facade uses of an embedded hub (``artifact_hub.Hub`` has it all).

    The facade never imports the composition root that builds the hub: it is handed one.
    """

    @property
    def settings(self) -> HubSettings:
        """Where the hub keeps its blobs (never read directly) and its S3 options."""
        ...

    @property
    def service(self) -> ArtifactService:
        """The artifact use cases (push, get, list, pull, pin, TTL)."""
        ...

    @property
    def search(self) -> SearchService:
        """The search use cases (search, best)."""
        ...


class ServiceBackend:
    """In-process: the service layer of an embedded hub.

    Args:
        hub: The started hub (``artifact_hub.Hub`` or anything with its
            :class:`InProcessHub` attributes).
        caller: Who to act as.
    """

    def __init__(self, hub: InProcessHub, caller: Caller) -> None:
        self.hub = hub
        self.caller = caller

    async def push(
        self,
        content: bytes | Path,
        *,
        name: str,
        content_type: str | None,
        kind: str | None,
        labels: dict[str, Any],
        tags: Sequence[str],
        metrics: dict[str, Any],
        pinned: bool,
        session_id: str | None,
        scope: Scope,
        expected_sha256: str | None = None,
    ) -> Artifact:
        """See :meth:`FacadeBackend.push`."""
        command = PushArtifact(
            name=name,
            content_type=content_type,
            kind=kind,
            labels=labels,
            tags=tags,
            metrics=metrics,
            pinned=pinned,
            session_id=session_id,
            expected_sha256=expected_sha256,
            scope=scope,
        )
        return await self.hub.service.push(self.caller, content, command)

    async def get(self, artifact_id: str) -> Artifact:
        """See :meth:`FacadeBackend.get`."""
        return await self.hub.service.get(self.caller, artifact_id)

    async def list(
        self,
        *,
        kind: str | None = None,
        tags: Sequence[str] = (),
        labels: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Artifact]:
        """See :meth:`FacadeBackend.list` (follows the service's cursors)."""
        filters = ArtifactFilter(kind=kind, tags=tuple(tags), labels=dict(labels or {}))
        found: builtins.list[Artifact] = []
        cursor: str | None = None
        while limit is None or len(found) < limit:
            size = MAX_LIMIT if limit is None else min(MAX_LIMIT, limit - len(found))
            page = await self.hub.service.list(self.caller, filters, limit=size, cursor=cursor)
            found.extend(page.items)
            if not page.next_cursor or not page.items:
                break
            cursor = page.next_cursor
        return found

    async def pull_bytes(self, artifact_id: str, version: int | None = None) -> bytes:
        """See :meth:`FacadeBackend.pull_bytes`."""
        return await self.hub.service.pull_bytes(self.caller, artifact_id, version)

    async def pull_to(self, artifact_id: str, path: Path, version: int | None = None) -> Path:
        """See :meth:`FacadeBackend.pull_to`."""
        return await self.hub.service.pull_to(self.caller, artifact_id, path, version=version)

    async def pin(self, artifact_id: str, pinned: bool) -> Artifact:
        """See :meth:`FacadeBackend.pin`."""
        return await self.hub.service.pin(self.caller, artifact_id, pinned)

    async def extend_ttl(self, artifact_id: str, ttl: TTLValue) -> Artifact:
        """See :meth:`FacadeBackend.extend_ttl`."""
        return await self.hub.service.extend_ttl(self.caller, artifact_id, ttl)

    async def search(self, request: SearchRequest) -> builtins.list[Artifact]:
        """See :meth:`FacadeBackend.search` (``hub.search``)."""
        hits = await self.hub.search.search(self.caller, request)
        return [hit.artifact for hit in hits]

    async def best(self, request: SearchRequest) -> Artifact | None:
        """See :meth:`FacadeBackend.best` (``hub.search.best``)."""
        assert request.metric is not None  # the facade always names one
        return await self.hub.search.best(
            self.caller,
            metric=request.metric,
            metric_mode=request.metric_mode,
            kind=request.kind,
            tags=request.tags,
            labels=request.labels,
            time_window=request.time_window,
        )

    async def agent_id(self) -> str | None:
        """See :meth:`FacadeBackend.agent_id`."""
        return self.caller.agent_id

    def s3_options(self) -> dict[str, Any] | None:
        """The hub's S3 settings when it stores its blobs in S3."""
        settings = self.hub.settings
        if settings.blob_store != "s3":
            return None
        options = {
            "endpoint_url": settings.s3_endpoint_url,
            "region_name": settings.s3_region,
            "aws_access_key_id": settings.s3_access_key_id,
            "aws_secret_access_key": settings.s3_secret_access_key,
        }
        return {key: value for key, value in options.items() if value is not None}

    def protected_locations(self) -> tuple[Path | None, str | None, str]:
        """The embedded hub's blob folder or bucket."""
        settings = self.hub.settings
        if settings.blob_store == "s3":
            return None, settings.s3_bucket, settings.s3_prefix
        return settings.resolved_blob_dir, None, ""


class ClientBackend:
    """Remote: the REST API through the SDK's :class:`~artifact_hub.client.AsyncClient`.

    Args:
        client: An open client (its API key decides tenant and agent).
    """

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self._agent: str | None = None

    async def push(
        self,
        content: bytes | Path,
        *,
        name: str,
        content_type: str | None,
        kind: str | None,
        labels: dict[str, Any],
        tags: Sequence[str],
        metrics: dict[str, Any],
        pinned: bool,
        session_id: str | None,
        scope: Scope,
        expected_sha256: str | None = None,
    ) -> Artifact:
        """See :meth:`FacadeBackend.push`."""
        # The SDK takes the scope's fields as keywords (all strings; typed loosely here so
        # mypy does not match them against its other keywords).
        scope_fields: dict[str, Any] = scope.fields()
        return await self.client.push(
            content,
            filename=name,
            content_type=content_type,
            kind=kind,
            labels=labels,
            tags=list(tags),
            pinned=pinned,
            session_id=session_id,
            metrics=metrics or None,
            sha256=expected_sha256,
            **scope_fields,
        )

    async def get(self, artifact_id: str) -> Artifact:
        """See :meth:`FacadeBackend.get`."""
        return await self.client.get(artifact_id)

    async def list(
        self,
        *,
        kind: str | None = None,
        tags: Sequence[str] = (),
        labels: dict[str, Any] | None = None,
        limit: int | None = None,
    ) -> builtins.list[Artifact]:
        """See :meth:`FacadeBackend.list` (every session: scope comes from labels)."""
        return [
            artifact
            async for artifact in self.client.list(
                session_id="*",
                kind=kind,
                tags=list(tags) or None,
                labels=labels or None,
                limit=limit,
                page_size=MAX_LIMIT,
            )
        ]

    async def pull_bytes(self, artifact_id: str, version: int | None = None) -> bytes:
        """See :meth:`FacadeBackend.pull_bytes`."""
        return await self.client.pull_bytes(artifact_id, version=version)

    async def pull_to(self, artifact_id: str, path: Path, version: int | None = None) -> Path:
        """See :meth:`FacadeBackend.pull_to`."""
        return await self.client.pull(artifact_id, output=path, version=version)

    async def pin(self, artifact_id: str, pinned: bool) -> Artifact:
        """See :meth:`FacadeBackend.pin`."""
        return await self.client.update(artifact_id, pinned=pinned)

    async def extend_ttl(self, artifact_id: str, ttl: TTLValue) -> Artifact:
        """See :meth:`FacadeBackend.extend_ttl`."""
        return await self.client.extend_ttl(artifact_id, ttl)

    async def search(self, request: SearchRequest) -> builtins.list[Artifact]:
        """See :meth:`FacadeBackend.search` (``GET /v1/search``)."""
        hits = await self.client.search(**request.model_dump(exclude_none=True))
        return [hit.artifact for hit in hits]

    async def best(self, request: SearchRequest) -> Artifact | None:
        """See :meth:`FacadeBackend.best`: a structured search by metric, first hit."""
        query = request.model_copy(update={"query": None, "mode": "structured", "limit": 1})
        found = await self.search(query)
        return found[0] if found else None

    async def agent_id(self) -> str | None:
        """See :meth:`FacadeBackend.agent_id` (asked once: ``whoami``)."""
        if self._agent is None:
            self._agent = (await self.client.whoami()).agent_id
        return self._agent

    def s3_options(self) -> dict[str, Any] | None:
        """None: a remote facade does not know the hub's storage."""
        return None

    def protected_locations(self) -> tuple[Path | None, str | None, str]:
        """Nothing: a remote hub's blobs are not reachable with this process's rights."""
        return None, None, ""
