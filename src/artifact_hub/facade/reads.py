"""The facade's read side: load, local paths and queries (list, search, best, pin)."""

from __future__ import annotations

import asyncio
import builtins
import errno
import functools
import json
import os
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any, Literal

from artifact_hub.facade.cache import cache_key, gather_limited
from artifact_hub.facade.core import FacadeCore
from artifact_hub.facade.manifest import (
    MANIFEST_CONTENT_TYPE,
)
from artifact_hub.facade.naming import (
    _GONE,
    _search_request,
    _view,
)
from artifact_hub.facade.scope import ScopeLevel
from artifact_hub.facade.uris import ARTIFACT_SCHEME, parse_uri
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.search import SearchMode


class FacadeReads(FacadeCore):
    """Load and query artifacts of one run context (see :class:`ArtifactFacade`)."""

    # ------------------------------------------------------------------ load

    async def load_bytes_by_id(self, artifact_id: str) -> bytes:
        """The content of an artifact (a directory artifact's is its manifest JSON).

        Raises:
            FileNotFoundError: Unknown, deleted, expired, or not visible to the caller.
        """
        try:
            return await self.backend.pull_bytes(artifact_id)
        except _GONE as error:
            raise FileNotFoundError(errno.ENOENT, str(error), artifact_id) from error

    async def load_text_by_id(
        self, artifact_id: str, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """The content of an artifact, decoded.

        Raises:
            FileNotFoundError: See :meth:`load_bytes_by_id`.
            UnicodeDecodeError: Not valid in ``encoding`` (with ``errors="strict"``).
        """
        return (await self.load_bytes_by_id(artifact_id)).decode(encoding, errors)

    async def load_json_by_id(
        self, artifact_id: str, *, encoding: str = "utf-8", errors: str = "strict"
    ) -> Any:
        """The content of an artifact, parsed as JSON.

        Raises:
            FileNotFoundError: See :meth:`load_bytes_by_id`.
            json.JSONDecodeError: The content is not JSON.
        """
        return json.loads(await self.load_text_by_id(artifact_id, encoding=encoding, errors=errors))

    async def load_bytes(self, uri: str | os.PathLike[str]) -> bytes:
        """The bytes at ``file://``, ``s3://`` or ``artifact://`` URI, or a local path.

        Raises:
            FileNotFoundError: Nothing there.
            PermissionDeniedError: The URI points into the hub's own blob storage.
            InvalidRequestError: Another scheme.
        """
        parsed = parse_uri(uri)
        if parsed.scheme == ARTIFACT_SCHEME:
            return await self.load_bytes_by_id(parsed.key)
        if parsed.scheme == "s3":
            self._check_s3(parsed.bucket, parsed.key)
            return await self._s3.read(parsed.bucket, parsed.key)
        assert parsed.path is not None
        path = self._check_local(parsed.path)
        return await asyncio.to_thread(path.read_bytes)

    async def load_text(
        self, uri: str | os.PathLike[str], *, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """The text at a URI (see :meth:`load_bytes`), decoded."""
        return (await self.load_bytes(uri)).decode(encoding, errors)

    async def load_json(
        self, uri: str | os.PathLike[str], *, encoding: str = "utf-8", errors: str = "strict"
    ) -> Any:
        """The JSON at a URI (see :meth:`load_bytes`), parsed.

        Raises:
            json.JSONDecodeError: The content is not JSON.
        """
        return json.loads(await self.load_text(uri, encoding=encoding, errors=errors))

    # ------------------------------------------------------------------ local paths

    async def as_local_file(
        self, artifact_or_uri: str | os.PathLike[str] | Artifact, *, must_exist: bool = True
    ) -> str:
        """A local path holding the content (downloaded once into the cache, verified).

        Local paths and ``file://`` URIs are returned as they are (absolute).

        Raises:
            FileNotFoundError: Missing, or not a file (a directory artifact is not a file),
                when ``must_exist`` (artifacts and S3 objects must always exist).
        """
        if isinstance(artifact_or_uri, Artifact):
            return str(await self._cached_artifact(artifact_or_uri))
        parsed = parse_uri(artifact_or_uri)
        if parsed.scheme == ARTIFACT_SCHEME:
            return str(await self._cached_artifact(await self._get_or_missing(parsed.key)))
        if parsed.scheme == "s3":
            self._check_s3(parsed.bucket, parsed.key)
            etag, _ = await self._s3.etag(parsed.bucket, parsed.key)
            bucket, key = parsed.bucket, parsed.key
            cached = await self.cache.file(
                cache_key("s3", bucket, key, etag),
                PurePosixPath(key).name or "object",
                None,
                functools.partial(self._s3.download, bucket, key),
            )
            return str(cached)
        assert parsed.path is not None
        path = self._check_local(parsed.path).absolute()
        if must_exist and not path.is_file():
            raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
        return str(path)

    async def as_local_dir(
        self, artifact_or_uri: str | os.PathLike[str] | Artifact, *, must_exist: bool = True
    ) -> str:
        """A local directory holding a directory artifact (materialised once, verified).

        ``s3://bucket/prefix`` downloads every object under the prefix; local paths and
        ``file://`` URIs are returned as they are (absolute).

        Raises:
            FileNotFoundError: Missing, or not a directory (artifacts and S3 prefixes must
                always exist; local paths only when ``must_exist``).
            InvalidRequestError: The manifest holds an unsafe path.
        """
        if isinstance(artifact_or_uri, Artifact):
            return str(await self._materialise(artifact_or_uri))
        parsed = parse_uri(artifact_or_uri)
        if parsed.scheme == ARTIFACT_SCHEME:
            return str(await self._materialise(await self._get_or_missing(parsed.key)))
        if parsed.scheme == "s3":
            return str(await self._s3_dir(parsed.bucket, parsed.key))
        assert parsed.path is not None
        path = self._check_local(parsed.path).absolute()
        if must_exist and not path.is_dir():
            raise FileNotFoundError(errno.ENOENT, "no such directory", str(path))
        return str(path)

    # ------------------------------------------------------------------ query

    async def get_by_id(self, artifact_id: str) -> Artifact | None:
        """The artifact, or None when unknown, deleted, expired or not visible."""
        try:
            return _view(await self.backend.get(artifact_id))
        except _GONE:
            return None

    async def list(
        self,
        *,
        level: ScopeLevel | None = "run",
        include_node: bool = True,
        tags: builtins.list[str] | None = None,
        filters: dict[str, Any] | None = None,
        limit: int | None = None,
        kind: str | None = None,
    ) -> builtins.list[Artifact]:
        """Artifacts of this context's scope, newest first.

        Args:
            level: ``run`` (default), ``session``, ``scope`` (org, user, client, app),
                ``user`` or ``org``.
            include_node: Narrow to this context's graph and node (default True).
            tags: All of these tags.
            filters: Extra label filters (merged over the scope filters).
            limit: At most this many (default: all).
            kind: Only this kind.
        """
        labels = self.context.level_labels(
            level, include_graph=include_node, include_node=include_node
        )
        labels.update(filters or {})
        found = await self.backend.list(kind=kind, tags=tags or (), labels=labels, limit=limit)
        return [_view(artifact) for artifact in found]

    async def pin(self, artifact_id: str, pinned: bool = True) -> None:
        """Pin (or unpin) an artifact.

        Pinning a directory artifact pins its files too. Unpinning leaves them pinned: another
        pinned directory may share them, and unpinning them could let its files expire.
        """
        artifact = await self.backend.pin(artifact_id, pinned)
        if pinned and artifact.content_type == MANIFEST_CONTENT_TYPE:
            manifest = await self._manifest(artifact)
            ids = sorted({entry.artifact_id for entry in manifest.files})
            await gather_limited([functools.partial(self.backend.pin, i, pinned) for i in ids])

    async def search(
        self,
        *,
        query: str | None = None,
        kind: str | None = None,
        tags: builtins.list[str] | None = None,
        labels: dict[str, Any] | None = None,
        metric: str | None = None,
        metric_mode: Literal["max", "min"] | None = None,
        level: ScopeLevel | None = "run",
        extra_scope_labels: dict[str, Any] | None = None,
        limit: int | None = None,
        include_graph: bool = False,
        include_node: bool = False,
        time_window: str | timedelta | None = None,
        mode: SearchMode | None = None,
    ) -> builtins.list[Artifact]:
        """Search this context's scope: structured without ``query``, else by ``mode``.

        Args:
            query: Free text for lexical, semantic or hybrid search.
            kind: Only this kind.
            tags: All of these tags.
            labels: Extra label filters.
            metric: Rank by this metric (structured).
            metric_mode: ``"max"`` (default) or ``"min"``.
            level: The scope level (see :meth:`list`).
            extra_scope_labels: Scope labels merged over the level's.
            limit: At most this many (default 10).
            include_graph: Narrow to this context's graph.
            include_node: Narrow to this context's node.
            time_window: Only artifacts created within it (``"7d"``, ``"24h"``, timedelta).
            mode: ``structured``, ``lexical``, ``semantic`` or ``hybrid``.

        Returns:
            Matching artifacts in search order.
        """
        filters = self.context.level_labels(
            level, include_graph=include_graph, include_node=include_node
        )
        filters.update(extra_scope_labels or {})
        filters.update(labels or {})
        request = _search_request(
            query=query or None,
            mode=mode,
            kind=kind,
            tags=tags or [],
            labels=filters,
            metric=metric,
            metric_mode=metric_mode or "max",
            time_window=time_window,
            limit=limit or 10,
        )
        return [_view(artifact) for artifact in await self.backend.search(request)]

    async def best(
        self,
        *,
        kind: str,
        metric: str,
        metric_mode: Literal["max", "min"],
        level: ScopeLevel | None = "run",
        tags: builtins.list[str] | None = None,
        filters: dict[str, Any] | None = None,
    ) -> Artifact | None:
        """The artifact of ``kind`` with the highest (``max``) or lowest (``min``) metric.

        Returns:
            The best artifact of this scope, or None when none has the metric.
        """
        labels = self.context.level_labels(level)
        labels.update(filters or {})
        request = _search_request(
            query=None,
            mode="structured",
            kind=kind,
            tags=tags or [],
            labels=labels,
            metric=metric,
            metric_mode=metric_mode,
            time_window=None,
            limit=1,
        )
        found = await self.backend.best(request)
        return None if found is None else _view(found)
