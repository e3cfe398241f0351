"""What :class:`AsyncClient` reads: lookups, versions, access, search, paged lists, downloads.

Written once, for the async client; ``scripts/unasync.py`` generates the sync twin (the
``_sync_`` module of the same name) that :class:`Client` is made of.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Unpack

import anyio

from artifact_hub.client._async_send import AsyncSender
from artifact_hub.client._config import CHUNK_SIZE, Progress
from artifact_hub.client._errors import (
    checksum_error,
    content_length,
    expected_sha256,
    filename_from_headers,
    output_is_dir,
    part_path,
)
from artifact_hub.client._requests import ListFilters
from artifact_hub.client._transfers import AsyncHashingWriter
from artifact_hub.schemas.api import ArtifactList, SignedUrl, VersionList
from artifact_hub.schemas.artifacts import Access, Artifact, ArtifactVersion
from artifact_hub.schemas.lineage import LineageGraph
from artifact_hub.schemas.lookup import ArtifactRef
from artifact_hub.schemas.search import SearchHit, SearchResults

__all__ = ["AsyncReads"]


class AsyncReads(AsyncSender):
    """The reading calls of :class:`AsyncClient` (each raises the typed errors of the hub)."""

    async def lookup(
        self, ref: str, *, session_id: str | None = None, namespace: str | None = None
    ) -> ArtifactRef:
        """Find an artifact by ``NAME``, ``NAME:latest`` or ``NAME:vN``.

        The newest artifact with that name the key may read, in its namespace (or
        ``namespace``), optionally in one session.

        Raises:
            ArtifactNotFoundError: No such name.
            VersionNotFoundError: No such version.

        Example:
            >>> (await client.lookup("report.txt:v2")).artifact_id  # doctest: +SKIP
            'art_2xk9f7v3m1p0abcd'
        """
        call = self._lookup(ref, session_id, namespace)
        return self._parse(ArtifactRef, await self._send(call))

    async def get(self, artifact_id: str) -> Artifact:
        """An artifact's metadata at its current version."""
        return self._parse(Artifact, await self._send(self._get(artifact_id)))

    async def versions(self, artifact_id: str) -> list[ArtifactVersion]:
        """Every live version of an artifact, oldest first."""
        return self._parse(VersionList, await self._send(self._versions(artifact_id))).data

    async def access(self, artifact_id: str) -> Access:
        """Who the artifact is shared with."""
        return self._parse(Access, await self._send(self._access(artifact_id)))

    async def lineage(self, artifact_id: str) -> LineageGraph:
        """Where the artifact came from and what was made from it (workflow lineage).

        Artifacts of the tenant the caller may not read appear as ``hidden`` nodes.
        """
        return self._parse(LineageGraph, await self._send(self._lineage(artifact_id)))

    async def download_url(
        self, artifact_id: str, *, expires_in: int = 3600, version: int | None = None
    ) -> SignedUrl:
        """A signed download URL that works without the API key until it expires."""
        call = self._download_url(artifact_id, expires_in, version)
        return self._parse(SignedUrl, await self._send(call))

    async def search(
        self,
        query: str | None = None,
        *,
        mode: str | None = None,
        kind: str | None = None,
        tags: Sequence[str] | None = None,
        labels: Mapping[str, Any] | None = None,
        metric: str | None = None,
        metric_mode: str | None = None,
        time_window: str | timedelta | float | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        limit: int | None = None,
    ) -> list[SearchHit]:
        """Search what the caller may read (``GET /v1/search``), best first.

        Args:
            query: Free text; without it the search is structured (filters only).
            mode: ``structured``, ``lexical``, ``semantic`` or ``hybrid`` (default: hybrid
                with a query, structured without).
            kind: Only this kind.
            tags: Every one of these tags.
            labels: Label equality; scope keys (``run_id``, ``session_id``...) match the
                artifact's scope fields too.
            metric: Rank by this metric (structured search); the hit's ``score`` is its value.
            metric_mode: ``max`` or ``min``.
            time_window: Only artifacts created within it (``"24h"``, ``"7d"``, a timedelta).
            created_after: Only artifacts created at or after this moment.
            created_before: Only artifacts created before this moment.
            limit: At most this many hits (1..1000, default 10).

        Example:
            >>> hits = await client.search("quarterly revenue", kind="report")  # doctest: +SKIP
            >>> hits[0].artifact.name, hits[0].score  # doctest: +SKIP
        """
        call = self._search(
            query,
            mode=mode,
            kind=kind,
            tags=tags,
            labels=labels,
            metric=metric,
            metric_mode=metric_mode,
            time_window=time_window,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
        )
        return self._parse(SearchResults, await self._send(call)).data

    async def list_page(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> ArtifactList:
        """One page of artifacts, newest first, with ``next_cursor`` for the next."""
        call = self._list(limit=limit, cursor=cursor, offset=offset, **filters)
        return self._parse(ArtifactList, await self._send(call))

    async def list(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> AsyncIterator[Artifact]:
        """Iterate over matching artifacts, newest first, following cursors transparently.

        Args:
            limit: Stop after this many artifacts (default: all).
            page_size: Artifacts per request (1..200, default 200).
            **filters: See :class:`ListFilters`; ``session_id`` defaults to the client's.

        Example:
            >>> async for a in client.list(session_id="run_q4", metadata={"model": "m"}):
            ...     print(a.id, a.filename)  # doctest: +SKIP
        """
        async for artifact in self._iterate(False, limit, page_size, filters):
            yield artifact

    async def list_shared(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> AsyncIterator[Artifact]:
        """Iterate over artifacts others shared with the caller (``.owner`` says whose)."""
        filters.setdefault("session_id", "*")
        async for artifact in self._iterate(True, limit, page_size, filters):
            yield artifact

    async def _iterate(
        self, shared: bool, limit: int | None, page_size: int | None, filters: ListFilters
    ) -> AsyncIterator[Artifact]:
        cursor: str | None = None
        seen = 0
        while True:
            size = (page_size or 200) if limit is None else min(page_size or 200, limit - seen)
            call = self._list(shared=shared, limit=size, cursor=cursor, **filters)
            page = self._parse(ArtifactList, await self._send(call))
            for artifact in page.data:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield artifact
            if not page.next_cursor or not page.data or (limit is not None and seen >= limit):
                return
            cursor = page.next_cursor

    async def pull(
        self,
        artifact_id: str,
        output: str | os.PathLike[str] = ".",
        *,
        version: int | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Download to a folder (ending in ``/`` or existing) or a file path, verified.

        The bytes are streamed to a temporary file next to the target, hashed on the way, and
        renamed only if they match the sha256 the hub announced; otherwise the partial file is
        removed and :class:`~artifact_hub.core.errors.ChecksumMismatchError` is raised.

        Returns:
            The path written.

        Example:
            >>> await client.pull(artifact.id, output="./downloads/")  # doctest: +SKIP
            PosixPath('downloads/report.pdf')
        """
        response = await self._send(self._content(artifact_id, version))
        async with contextlib.aclosing(response):
            target = Path(output)
            if output_is_dir(output):
                name = filename_from_headers(response)
                if not name:  # none, or one that is only a folder ("/")
                    name = Path((await self.get(artifact_id)).name).name
                target = target / name
            await anyio.Path(target.parent).mkdir(parents=True, exist_ok=True)
            expected = expected_sha256(response)
            total = content_length(response)
            partial = anyio.Path(part_path(target))
            done = 0
            try:
                async with await anyio.open_file(partial, "wb") as handle:
                    # Written and hashed in a worker thread while the next bytes arrive.
                    writer = AsyncHashingWriter(handle)
                    try:
                        if progress is not None:
                            progress(0, total)
                        async for chunk in response.aiter_bytes(CHUNK_SIZE):
                            await writer.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, total)
                    finally:
                        actual = await writer.finish()
                if expected is not None and actual != expected:
                    raise checksum_error(artifact_id, expected, actual)
                await partial.replace(target)
            except BaseException:
                await partial.unlink(missing_ok=True)
                raise
        return target

    async def pull_bytes(
        self, artifact_id: str, *, version: int | None = None, progress: Progress | None = None
    ) -> bytes:
        """Download into memory, verified against the announced sha256."""
        response = await self._send(self._content(artifact_id, version))
        async with contextlib.aclosing(response):
            total = content_length(response)
            chunks: list[bytes] = []
            done = 0
            async for chunk in response.aiter_bytes(CHUNK_SIZE):
                chunks.append(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        data = b"".join(chunks)
        expected = expected_sha256(response)
        actual = hashlib.sha256(data).hexdigest()
        if expected is not None and actual != expected:
            raise checksum_error(artifact_id, expected, actual)
        return data

    async def pull_dict(self, artifact_id: str, *, version: int | None = None) -> Any:
        """Download and parse JSON.

        Example:
            >>> (await client.pull_dict(artifact.id))["score"]  # doctest: +SKIP
            0.95
        """
        return json.loads(await self.pull_bytes(artifact_id, version=version))
