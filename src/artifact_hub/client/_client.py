"""``Client``: the synchronous SDK over httpx.Client."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Unpack

import httpx

from artifact_hub.client._base import BaseClient
from artifact_hub.client._config import (
    CHUNK_SIZE,
    DEFAULT_TIMEOUT,
    PART_CONCURRENCY,
    TTL,
    Progress,
    Source,
    retry_after_seconds,
)
from artifact_hub.client._errors import (
    checksum_error,
    content_length,
    error_from_response,
    expected_sha256,
    filename_from_headers,
    output_is_dir,
    part_path,
)
from artifact_hub.client._requests import Call, ListFilters, push_filename
from artifact_hub.client._transfers import HashingWriter
from artifact_hub.core.errors import ServerError
from artifact_hub.schemas.api import ArtifactList, Link, SignedUrl, Upload, VersionList, WhoAmI
from artifact_hub.schemas.artifacts import Access, Artifact, ArtifactVersion, Session
from artifact_hub.schemas.lineage import LineageGraph
from artifact_hub.schemas.lookup import ArtifactRef
from artifact_hub.schemas.search import SearchHit, SearchResults

__all__ = ["Client"]


class Client(BaseClient):
    """The synchronous client of an artifact-hub (Artifacta's ``Client``).

    Settings come from the arguments, then ``ARTIFACT_HUB_API_KEY``, ``ARTIFACT_HUB_URL``,
    ``ARTIFACT_HUB_SESSION_ID`` and ``ARTIFACT_HUB_AGENT_ID``, then
    ``~/.config/artifact-hub/config.toml``. Every method raises the typed exceptions of
    :mod:`artifact_hub.core.errors`.

    Args:
        api_key: The API key (``ak_live_...``).
        base_url: The hub's URL (default ``http://127.0.0.1:8080``).
        session_id: Default session of ``push`` and ``list``.
        agent_id: Default agent of ``push``.
        timeout: httpx timeout (seconds or ``httpx.Timeout``).
        max_retries: Retries after the first attempt (429, and 5xx or connection errors of
            idempotent calls; every POST carries an ``Idempotency-Key``).
        retry_backoff: Base of the exponential backoff in seconds.
        transport: An httpx transport (``httpx.MockTransport`` in tests).
        presigned_threshold: Files larger than this use upload-url, PUT, complete.
        idempotency_keys: Send an ``Idempotency-Key`` with every POST.
        config_path: Another config file.

    Example:
        >>> from artifact_hub import Client
        >>> client = Client(api_key="ak_live_abc123", base_url="http://127.0.0.1:8080")
        >>> artifact = client.push("report.pdf", session_id="run_q4")  # doctest: +SKIP
        >>> client.pull(artifact.id, output="./downloads/")  # doctest: +SKIP
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
        presigned_threshold: int | None = None,
        idempotency_keys: bool = True,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(
            api_key=api_key,
            base_url=base_url,
            session_id=session_id,
            agent_id=agent_id,
            max_retries=max_retries,
            retry_backoff=retry_backoff,
            idempotency_keys=idempotency_keys,
            config_path=config_path,
            **({} if presigned_threshold is None else {"presigned_threshold": presigned_threshold}),
        )
        self._http = httpx.Client(transport=transport, timeout=timeout)

    # --- lifecycle

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- I/O

    def _send(self, call: Call) -> httpx.Response:
        """Send ``call`` with retries; the answer is read unless ``call.stream``."""
        attempt = 0
        while True:
            request = self._request(call, None if call.body is None else iter(call.body))
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if self.retry.should_retry(attempt, call, None, connection_error=True):
                    time.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise ServerError(f"cannot reach {request.url}: {exc!r}") from exc
            if response.is_success:
                if not call.stream:
                    response.read()
                return response
            response.read()
            if self.retry.should_retry(attempt, call, response.status_code):
                wait = retry_after_seconds(response) if response.status_code == 429 else None
                time.sleep(self.retry.delay(attempt, wait))
                attempt += 1
                continue
            raise error_from_response(response)

    # --- account and sessions

    def health(self) -> dict[str, Any]:
        """The hub's ``/health`` answer (no API key needed)."""
        result: dict[str, Any] = self._send(self._health()).json()
        return result

    def whoami(self) -> WhoAmI:
        """Check the API key and tell whom it speaks for.

        Example:
            >>> Client().whoami().tenant_id  # doctest: +SKIP
            'acme'
        """
        return self._parse(WhoAmI, self._send(self._whoami()))

    def seal_session(self, session_id: str | None = None) -> Session:
        """Seal a session (default: the client's): it takes no more writes.

        Example:
            >>> client.seal_session("run_q4")  # doctest: +SKIP
        """
        return self._parse(Session, self._send(self._seal_session(self._session(session_id))))

    def get_session(self, session_id: str | None = None) -> Session:
        """A session's state (default: the client's)."""
        return self._parse(Session, self._send(self._get_session(self._session(session_id))))

    # --- write

    def push(
        self,
        path_or_bytes: Source,
        *,
        filename: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        ttl: TTL | None = None,
        labels: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        namespace: str | None = None,
        kind: str | None = None,
        pinned: bool = False,
        progress: Progress | None = None,
        **fields: Any,
    ) -> Artifact:
        """Upload a file (streamed from disk), bytes, or an open binary file.

        Files over ``presigned_threshold`` (100 MB) go through the presigned flow.

        Args:
            path_or_bytes: Path, bytes, or binary file object.
            filename: Name to store (default: the file's name; ``data.bin`` for bytes);
                ``name=`` is accepted as an alias.
            session_id: Session (default: the client's).
            agent_id: Agent (default: the client's).
            metadata: JSON object of custom attributes.
            content_type: Media type (default: guessed from the name).
            ttl: Seconds, ``timedelta``, ``"7d"`` or ``"never"``.
            labels: Key/value labels.
            tags: Tags.
            namespace: Namespace (default: the key's).
            kind: Kind of artifact (``report``, ``model``, ...).
            pinned: Keep it from retention sweeps.
            progress: ``progress(bytes_done, total)``.
            **fields: Other ``CreateArtifact`` fields (``run_id``, ``node_id``, ...); an
                unknown keyword raises ``TypeError``.

        Returns:
            The new artifact.

        Example:
            >>> artifact = client.push("report.pdf", session_id="run_q4",
            ...                        metadata={"model": "claude-sonnet-4-6"})  # doctest: +SKIP
            >>> artifact.id  # doctest: +SKIP
            'art_2xk9f7v3m1p0abcd'
        """
        filename = push_filename(filename, fields)
        values = self._create_fields(
            session_id=session_id,
            agent_id=agent_id,
            ttl=ttl,
            metadata=metadata and dict(metadata),
            labels=labels and dict(labels),
            tags=tags and list(tags),
            namespace=namespace,
            kind=kind,
            pinned=pinned,
            **fields,
        )
        call = self._push(
            path_or_bytes,
            filename=filename,
            content_type=content_type,
            progress=progress,
            fields=values,
        )
        assert call.body is not None
        if call.body.size > self.presigned_threshold:
            return self._push_presigned(call, values)
        return self._parse(Artifact, self._send(call))

    def _push_presigned(self, call: Call, values: dict[str, Any]) -> Artifact:
        body = call.body
        assert body is not None
        fields = {**values, "name": body.filename, "content_type": body.content_type}
        upload = self._parse(Upload, self._send(self._upload_url(fields, body.size)))
        body.fields = None
        if upload.parts:
            # Straight to the store, part by part (S3): PART_CONCURRENCY at once when each
            # part can open the file for itself.
            calls = self._upload_parts(upload, body)
            workers = PART_CONCURRENCY if body.parts_in_parallel else 1
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for response in pool.map(self._send, calls):
                    response.close()
        else:
            self._send(self._upload_put(upload.url, upload.headers, body)).close()
        return self.complete_upload(upload.id)

    def push_dict(
        self,
        data: Any,
        *,
        filename: str = "data.json",
        **kwargs: Any,
    ) -> Artifact:
        """Serialize ``data`` to JSON and push it (``application/json``).

        Example:
            >>> client.push_dict({"score": 0.95}, filename="results.json")  # doctest: +SKIP
        """
        kwargs.setdefault("content_type", "application/json")
        payload = json.dumps(data, ensure_ascii=False, default=str).encode()
        return self.push(payload, filename=filename, **kwargs)

    def push_version(
        self,
        artifact_id: str,
        path_or_bytes: Source,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        filename: str | None = None,
        progress: Progress | None = None,
    ) -> Artifact:
        """Store new content as the next version of ``artifact_id``.

        Example:
            >>> client.push_version(artifact.id, b"v2").version  # doctest: +SKIP
            2
        """
        fields = {} if metadata is None else {"metadata": dict(metadata)}
        call = self._push(
            path_or_bytes,
            filename=filename,
            content_type=content_type,
            progress=progress,
            fields=fields,
            artifact_id=artifact_id,
        )
        return self._parse(Artifact, self._send(call))

    def create_upload(
        self,
        filename: str,
        size_bytes: int,
        *,
        content_type: str | None = None,
        session_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Upload:
        """Ask for a presigned upload URL (PUT the bytes there, then ``complete_upload``)."""
        values = self._create_fields(
            session_id=session_id,
            agent_id=None,
            name=filename,
            content_type=content_type or "application/octet-stream",
            metadata=metadata and dict(metadata),
            **fields,
        )
        return self._parse(Upload, self._send(self._upload_url(values, size_bytes)))

    def complete_upload(self, upload_id: str) -> Artifact:
        """Turn a finished presigned upload into an artifact (size and sha256 verified)."""
        return self._parse(Artifact, self._send(self._complete(upload_id)))

    def update(
        self,
        artifact_id: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        labels: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        metrics: Mapping[str, Any] | None = None,
        pinned: bool | None = None,
    ) -> Artifact:
        """Replace metadata, labels, tags, metrics or the pin without a new version."""
        changes = {
            "metadata": metadata and dict(metadata),
            "labels": labels and dict(labels),
            "tags": None if tags is None else list(tags),
            "metrics": metrics and dict(metrics),
            "pinned": pinned,
        }
        return self._parse(Artifact, self._send(self._update(artifact_id, changes)))

    def delete(self, artifact_id: str) -> Artifact:
        """Soft-delete an artifact (all versions); deleting it again raises ArtifactDeletedError."""
        return self._parse(Artifact, self._send(self._delete(artifact_id)))

    def delete_version(self, artifact_id: str, version: int) -> None:
        """Delete one version of an artifact."""
        self._send(self._delete_version(artifact_id, version))

    def create_link(
        self, artifact_id: str, *, expires_in: int | None = None, version: int | None = None
    ) -> Link:
        """A revocable download URL (default 7 days, at most 30).

        Example:
            >>> client.create_link(artifact.id, expires_in=86400).url  # doctest: +SKIP
            'http://127.0.0.1:8080/l/lnk_...'
        """
        return self._parse(Link, self._send(self._create_link(artifact_id, expires_in, version)))

    def revoke_link(self, link_id: str) -> None:
        """Revoke a link: its URL answers 404 ``link_not_found`` from now on."""
        self._send(self._revoke_link(link_id))

    def download_url(
        self, artifact_id: str, *, expires_in: int = 3600, version: int | None = None
    ) -> SignedUrl:
        """A signed download URL that works without the API key until it expires."""
        call = self._download_url(artifact_id, expires_in, version)
        return self._parse(SignedUrl, self._send(call))

    def extend_ttl(self, artifact_id: str, ttl_seconds: TTL) -> Artifact:
        """Set the artifact to expire ``ttl_seconds`` from now (or ``"never"``).

        Example:
            >>> client.extend_ttl(artifact.id, "never").expires_at is None  # doctest: +SKIP
            True
        """
        return self._parse(Artifact, self._send(self._extend_ttl(artifact_id, ttl_seconds)))

    def share(
        self,
        artifact_id: str,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Grant read access to agents and groups."""
        return self._parse(Access, self._send(self._share(artifact_id, agents, groups)))

    def unshare(
        self,
        artifact_id: str,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Revoke read access from agents and groups."""
        return self._parse(Access, self._send(self._unshare(artifact_id, agents, groups)))

    def access(self, artifact_id: str) -> Access:
        """Who the artifact is shared with."""
        return self._parse(Access, self._send(self._access(artifact_id)))

    def lineage(self, artifact_id: str) -> LineageGraph:
        """Where the artifact came from and what was made from it (workflow lineage).

        Artifacts of the tenant the caller may not read appear as ``hidden`` nodes.
        """
        return self._parse(LineageGraph, self._send(self._lineage(artifact_id)))

    # --- read

    def lookup(
        self, ref: str, *, session_id: str | None = None, namespace: str | None = None
    ) -> ArtifactRef:
        """Find an artifact by ``NAME``, ``NAME:latest`` or ``NAME:vN``.

        The newest artifact with that name the key may read, in its namespace (or
        ``namespace``), optionally in one session.

        Raises:
            ArtifactNotFoundError: No such name.
            VersionNotFoundError: No such version.

        Example:
            >>> client.lookup("report.txt:v2").artifact_id  # doctest: +SKIP
            'art_2xk9f7v3m1p0abcd'
        """
        call = self._lookup(ref, session_id, namespace)
        return self._parse(ArtifactRef, self._send(call))

    def get(self, artifact_id: str) -> Artifact:
        """An artifact's metadata at its current version."""
        return self._parse(Artifact, self._send(self._get(artifact_id)))

    def versions(self, artifact_id: str) -> list[ArtifactVersion]:
        """Every live version of an artifact, oldest first."""
        return self._parse(VersionList, self._send(self._versions(artifact_id))).data

    def search(
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
            >>> hits = client.search("quarterly revenue", kind="report")  # doctest: +SKIP
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
        return self._parse(SearchResults, self._send(call)).data

    def list_page(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> ArtifactList:
        """One page of artifacts, newest first, with ``next_cursor`` for the next."""
        call = self._list(limit=limit, cursor=cursor, offset=offset, **filters)
        return self._parse(ArtifactList, self._send(call))

    def list(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> Iterator[Artifact]:
        """Iterate over matching artifacts, newest first, following cursors transparently.

        Args:
            limit: Stop after this many artifacts (default: all).
            page_size: Artifacts per request (1..200, default 200).
            **filters: See :class:`ListFilters`; ``session_id`` defaults to the client's.

        Example:
            >>> for a in client.list(session_id="run_q4", metadata={"model": "m"}):
            ...     print(a.id, a.filename)  # doctest: +SKIP
        """
        yield from self._iterate(False, limit, page_size, filters)

    def list_shared(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> Iterator[Artifact]:
        """Iterate over artifacts others shared with the caller (``.owner`` says whose)."""
        filters.setdefault("session_id", "*")
        yield from self._iterate(True, limit, page_size, filters)

    def _iterate(
        self, shared: bool, limit: int | None, page_size: int | None, filters: ListFilters
    ) -> Iterator[Artifact]:
        cursor: str | None = None
        seen = 0
        while True:
            size = (page_size or 200) if limit is None else min(page_size or 200, limit - seen)
            call = self._list(shared=shared, limit=size, cursor=cursor, **filters)
            page = self._parse(ArtifactList, self._send(call))
            for artifact in page.data:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield artifact
            if not page.next_cursor or not page.data or (limit is not None and seen >= limit):
                return
            cursor = page.next_cursor

    def pull(
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
            >>> client.pull(artifact.id, output="./downloads/")  # doctest: +SKIP
            PosixPath('downloads/report.pdf')
        """
        response = self._send(self._content(artifact_id, version))
        with contextlib.closing(response):
            target = Path(output)
            if output_is_dir(output):
                name = filename_from_headers(response) or Path(self.get(artifact_id).name).name
                target = target / name
            target.parent.mkdir(parents=True, exist_ok=True)
            expected = expected_sha256(response)
            total = content_length(response)
            partial = part_path(target)
            done = 0
            try:
                with partial.open("wb") as handle:
                    # Written and hashed in a worker thread while the next bytes arrive.
                    writer = HashingWriter(handle)
                    try:
                        if progress is not None:
                            progress(0, total)
                        for chunk in response.iter_bytes(CHUNK_SIZE):
                            writer.write(chunk)
                            done += len(chunk)
                            if progress is not None:
                                progress(done, total)
                    finally:
                        actual = writer.finish()
                if expected is not None and actual != expected:
                    raise checksum_error(artifact_id, expected, actual)
                partial.replace(target)
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
        return target

    def pull_bytes(
        self, artifact_id: str, *, version: int | None = None, progress: Progress | None = None
    ) -> bytes:
        """Download into memory, verified against the announced sha256."""
        response = self._send(self._content(artifact_id, version))
        with contextlib.closing(response):
            total = content_length(response)
            chunks: list[bytes] = []
            done = 0
            for chunk in response.iter_bytes(CHUNK_SIZE):
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

    def pull_dict(self, artifact_id: str, *, version: int | None = None) -> Any:
        """Download and parse JSON.

        Example:
            >>> client.pull_dict(artifact.id)["score"]  # doctest: +SKIP
            0.95
        """
        return json.loads(self.pull_bytes(artifact_id, version=version))
