"""``context.artifacts()``: the ArtifactFacade of seeds/artifact-facade-api.txt.

One facade over a :class:`~artifact_hub.facade.backends.FacadeBackend`: the service layer of
an embedded hub, or the REST API through the SDK. It labels everything it saves with the run
context's ids (the seed's scope labels), turns scope levels into label filters, stores
directories as manifests of content-addressed files, and keeps downloads in a local cache.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import functools
import json
import math
import mimetypes
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from artifact_hub.errors import (
    ArtifactDeletedError,
    ArtifactExpiredError,
    ArtifactNotFoundError,
    InvalidRequestError,
    PermissionDeniedError,
    TTLExceedsPlanLimitError,
)
from artifact_hub.facade.cache import DirEntry, LocalCache, cache_key, gather_limited
from artifact_hub.facade.context import RunContext, ScopeLevel, default_cache_dir
from artifact_hub.facade.manifest import (
    DIR_ENTRY_KIND,
    MANIFEST_CONTENT_TYPE,
    LocalFile,
    Manifest,
    ManifestEntry,
    safe_relative_path,
    scan_directory,
)
from artifact_hub.facade.uris import ARTIFACT_SCHEME, S3Reader, artifact_uri, parse_uri
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.search import SearchMode, SearchRequest

if TYPE_CHECKING:
    from artifact_hub.facade.backends import FacadeBackend

__all__ = ["ArtifactFacade", "ArtifactWriter", "SearchMode"]

_GONE = (ArtifactNotFoundError, ArtifactDeletedError, ArtifactExpiredError)


class ArtifactWriter:
    """What ``async with facade.writer(...) as w`` yields: stream bytes, add labels/metrics.

    Attributes:
        path: The staged file the bytes go to.
        labels: Labels given so far (``"tags"`` among them become the artifact's tags).
        metrics: Metrics given so far.
        artifact: The saved artifact, once the ``async with`` block has exited cleanly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.labels: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.artifact: Artifact | None = None
        self._handle = path.open("wb")
        self.bytes_written = 0

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the staged file (written off the event loop)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRequestError(f"write() takes bytes, not {type(data).__name__}")
        await asyncio.to_thread(self._handle.write, data)
        self.bytes_written += len(data)

    def add_labels(self, labels: dict[str, Any]) -> None:
        """Add labels (later keys win); ``{"tags": [...]}`` sets tags."""
        self.labels.update(labels)

    def add_metrics(self, metrics: dict[str, Any]) -> None:
        """Add metrics (later keys win)."""
        self.metrics.update(metrics)

    def _close(self) -> None:
        self._handle.close()


class ArtifactFacade:
    """Save, stage, load and query artifacts of one run context.

    Build it with :meth:`RunContext.artifacts() <artifact_hub.facade.context.RunContext.artifacts>`.
    Everything it saves carries the context's ids as fields (``run_id``, ``node_id``, ...) and
    as labels, which is how ``list``, ``search`` and ``best`` scope their queries.

    Args:
        context: The run context.
        backend: How to reach the hub.
    """

    def __init__(self, context: RunContext, backend: FacadeBackend) -> None:
        self.context = context
        self.backend = backend
        self.cache = LocalCache(context.cache_dir or default_cache_dir())
        options = context.s3_options if context.s3_options is not None else backend.s3_options()
        self._s3 = S3Reader(options)

    # ------------------------------------------------------------------ save

    async def save_file(
        self,
        path: str | os.PathLike[str],
        *,
        kind: str,
        labels: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        suggested_uri: str | None = None,
        name: str | None = None,
        pin: bool = False,
        cleanup: bool = True,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Save an existing file and index it.

        Args:
            path: The local file to save.
            kind: The artifact type (``"text"``, ``"dataset"``, ...).
            labels: Metadata labels.
            metrics: Numeric metrics.
            suggested_uri: A logical URI; its last segment names the file unless ``name``
                is given. Kept as the ``suggested_uri`` label.
            name: The file name (the ``filename`` label); wins over ``suggested_uri``.
            pin: Pin the artifact.
            cleanup: Delete the local file once it is saved (not when saving fails).
            tags: Tags.

        Returns:
            The saved artifact.

        Raises:
            FileNotFoundError: ``path`` is not a file.
        """
        source = Path(path)
        if not await asyncio.to_thread(source.is_file):
            raise FileNotFoundError(errno.ENOENT, "no such file to save", str(source))
        artifact = await self._push(
            source,
            kind=kind,
            filename=_filename(name, suggested_uri, source.name),
            suggested_uri=suggested_uri,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
        )
        if cleanup:
            await asyncio.to_thread(source.unlink, missing_ok=True)
        return artifact

    async def save_text(
        self,
        payload: str,
        *,
        suggested_uri: str | None = None,
        name: str | None = None,
        kind: str = "text",
        labels: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        pin: bool = False,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Save text (UTF-8) as an artifact (default name ``payload.txt``)."""
        if not isinstance(payload, str):
            raise InvalidRequestError(f"save_text takes a str, not {type(payload).__name__}")
        return await self._push(
            payload.encode(),
            kind=kind,
            filename=_filename(name, suggested_uri, "payload.txt"),
            suggested_uri=suggested_uri,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
            content_type="text/plain",
        )

    async def save_json(
        self,
        payload: Any,
        *,
        suggested_uri: str | None = None,
        name: str | None = None,
        kind: str = "json",
        labels: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        pin: bool = False,
        tags: Sequence[str] | None = None,
    ) -> Artifact:
        """Save a JSON-serialisable value as an artifact (default name ``payload.json``).

        Raises:
            TypeError: ``payload`` is not JSON-serialisable (nothing is saved).
        """
        data = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
        return await self._push(
            data,
            kind=kind,
            filename=_filename(name, suggested_uri, "payload.json"),
            suggested_uri=suggested_uri,
            labels=labels,
            metrics=metrics,
            tags=tags,
            pin=pin,
            content_type="application/json",
        )

    @contextlib.asynccontextmanager
    async def writer(
        self,
        *,
        kind: str,
        planned_ext: str | None = None,
        pin: bool = False,
        name: str | None = None,
        suggested_uri: str | None = None,
        labels: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
    ) -> AsyncIterator[ArtifactWriter]:
        """Stream an artifact: bytes go to a staged file, saved when the block exits.

        If the block raises, the staged file is removed and nothing is saved.

        Args:
            kind: The artifact type.
            planned_ext: The staged file's extension (``".log"``); also the default name's.
            pin: Pin the artifact.
            name: The file name (default ``<kind><planned_ext>``).
            suggested_uri: A logical URI (see :meth:`save_file`).
            labels: Initial labels (``w.add_labels`` adds more).
            metrics: Initial metrics (``w.add_metrics`` adds more).
            tags: Tags (``w.add_labels({"tags": [...]})`` works too).

        Yields:
            The :class:`ArtifactWriter`; its ``artifact`` is set after the block.
        """
        ext = _extension(planned_ext)
        fd, staged = tempfile.mkstemp(dir=self.cache.staging, prefix="writer-", suffix=ext)
        os.close(fd)
        stream = ArtifactWriter(Path(staged))
        stream.add_labels(dict(labels or {}))
        stream.add_metrics(dict(metrics or {}))
        try:
            yield stream
            stream._close()
            extra = dict(stream.labels)
            extra_tags = extra.pop("tags", None)
            all_tags = list(tags or ())
            if isinstance(extra_tags, str):
                all_tags.append(extra_tags)
            elif isinstance(extra_tags, (list, tuple)):
                all_tags.extend(str(tag) for tag in extra_tags)
            stream.artifact = await self._push(
                stream.path,
                kind=kind,
                filename=_filename(name, suggested_uri, f"{kind}{ext}"),
                suggested_uri=suggested_uri,
                labels=extra,
                metrics=stream.metrics,
                tags=all_tags,
                pin=pin,
            )
        finally:
            stream._close()
            with contextlib.suppress(FileNotFoundError):
                stream.path.unlink()

    # ------------------------------------------------------------------ stage and ingest

    async def stage_path(self, ext: str = "") -> str:
        """A new empty file in the staging area to write an artifact into.

        Args:
            ext: Its extension (``".txt"``).

        Returns:
            The staged file's path.
        """
        fd, path = tempfile.mkstemp(dir=self.cache.staging, prefix="stage-", suffix=_extension(ext))
        os.close(fd)
        return path

    async def stage_dir(self, suffix: str = "") -> str:
        """A new empty directory in the staging area to build a directory artifact in.

        Args:
            suffix: Appended to the directory's name (``"_images"``).

        Returns:
            The staged directory's path.
        """
        if "/" in suffix or "\\" in suffix or "\x00" in suffix:
            raise InvalidRequestError("stage_dir suffix must not contain path separators")
        return tempfile.mkdtemp(dir=self.cache.staging, prefix="stage-", suffix=suffix)

    async def ingest_file(
        self,
        staged_path: str | os.PathLike[str],
        *,
        kind: str,
        tags: Sequence[str] | None = None,
        labels: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        suggested_uri: str | None = None,
        pin: bool = False,
        name: str | None = None,
    ) -> Artifact:
        """Save a staged file; a file from :meth:`stage_path` is removed once saved.

        Files outside the staging area are left where they are (use :meth:`save_file` with
        ``cleanup`` to remove those).

        Raises:
            FileNotFoundError: ``staged_path`` is not a file.
        """
        source = Path(staged_path)
        return await self.save_file(
            source,
            kind=kind,
            labels=labels,
            metrics=metrics,
            suggested_uri=suggested_uri,
            name=name,
            pin=pin,
            cleanup=self._is_staged(source),
            tags=tags,
        )

    async def ingest_dir(
        self,
        staged_dir: str | os.PathLike[str] | None = None,
        *,
        staged_path: str | os.PathLike[str] | None = None,
        kind: str = "directory",
        tags: Sequence[str] | None = None,
        labels: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        suggested_uri: str | None = None,
        name: str | None = None,
        pin: bool = False,
    ) -> Artifact:
        """Save a directory as a manifest of content-addressed files.

        Each distinct file content becomes (or reuses) one ``dir_entry`` artifact; the
        returned artifact's content is the :class:`~artifact_hub.facade.manifest.Manifest`.
        A content this agent stored before is not uploaded again. A directory from
        :meth:`stage_dir` is removed once saved. ``file_count`` and ``total_bytes`` are
        added to the metrics.

        Args:
            staged_dir: The directory (``staged_path`` is accepted as its other name).
            staged_path: See ``staged_dir``.
            kind: The artifact type (default ``"directory"``).
            tags: Tags.
            labels: Labels.
            metrics: Metrics.
            suggested_uri: A logical URI (see :meth:`save_file`).
            name: The directory artifact's name (default: the folder's name).
            pin: Pin the manifest and its files.

        Raises:
            FileNotFoundError: The directory does not exist.
        """
        given = staged_dir if staged_dir is not None else staged_path
        if given is None:
            raise InvalidRequestError("ingest_dir needs staged_dir")
        root = Path(given)
        files = await asyncio.to_thread(scan_directory, root)
        entries = await self._store_entries(files, pin=pin)
        manifest = Manifest(
            files=[
                ManifestEntry(
                    path=item.path,
                    sha256=item.sha256,
                    size=item.size,
                    artifact_id=entries[item.sha256].artifact_id,
                    version=entries[item.sha256].version,
                )
                for item in files
            ]
        ).checked()
        all_metrics = {"file_count": len(files), "total_bytes": manifest.total_bytes}
        all_metrics.update(metrics or {})
        artifact = await self._push(
            manifest.model_dump_json().encode(),
            kind=kind,
            filename=_filename(name, suggested_uri, _folder_name(root)),
            suggested_uri=suggested_uri,
            labels=labels,
            metrics=all_metrics,
            tags=tags,
            pin=pin,
            content_type=MANIFEST_CONTENT_TYPE,
        )
        await self._keep_entries_alive(artifact, builtins.list(entries.values()))
        if self._is_staged(root):
            await asyncio.to_thread(shutil.rmtree, root, True)
        return artifact

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

    # ------------------------------------------------------------------ internals

    async def _push(
        self,
        content: bytes | Path,
        *,
        kind: str,
        filename: str,
        suggested_uri: str | None,
        labels: dict[str, Any] | None,
        metrics: dict[str, Any] | None,
        tags: Sequence[str] | None,
        pin: bool,
        content_type: str | None = None,
    ) -> Artifact:
        ctx = self.context
        all_labels = dict(labels or {})
        all_labels["filename"] = filename
        if suggested_uri:
            all_labels["suggested_uri"] = suggested_uri
        # Scope labels last: a user label cannot move an artifact into another run's scope.
        all_labels.update(ctx.scope_labels())
        scope = {
            key: value
            for key in (
                "run_id",
                "graph_id",
                "node_id",
                "tool_name",
                "tool_version",
                "org_id",
                "user_id",
                "client_id",
                "app_id",
            )
            if (value := getattr(ctx, key))
        }
        artifact = await self.backend.push(
            content,
            name=filename,
            content_type=content_type or mimetypes.guess_type(filename)[0],
            kind=kind,
            labels=all_labels,
            tags=builtins.list(dict.fromkeys(tags or ())),
            metrics=dict(metrics or {}),
            pinned=pin,
            session_id=ctx.session_id,
            scope=scope,
        )
        return _view(artifact)

    def _is_staged(self, path: Path) -> bool:
        """Whether ``path`` is inside the staging folder (never the folder itself)."""
        staging = self.cache.staging.resolve()
        resolved = path.resolve()
        return resolved != staging and resolved.is_relative_to(staging)

    async def _get_or_missing(self, artifact_id: str) -> Artifact:
        try:
            return await self.backend.get(artifact_id)
        except _GONE as error:
            raise FileNotFoundError(errno.ENOENT, str(error), artifact_id) from error

    async def _cached_artifact(self, artifact: Artifact) -> Path:
        if artifact.content_type == MANIFEST_CONTENT_TYPE:
            raise FileNotFoundError(
                errno.ENOENT, "a directory artifact is not a file (use as_local_dir)", artifact.id
            )
        if artifact.sha256 is None:  # pragma: no cover - every stored version has one
            raise FileNotFoundError(errno.ENOENT, "artifact has no content", artifact.id)
        artifact_id = artifact.artifact_id
        return await self.cache.file(
            artifact.sha256,
            artifact.name,
            artifact.sha256,
            # The version the caller holds: its sha256 is what the download must match.
            functools.partial(self._pull, artifact_id, artifact.version),
        )

    async def _pull(self, artifact_id: str, version: int | None, target: Path) -> Path:
        try:
            return await self.backend.pull_to(artifact_id, target, version)
        except _GONE as error:
            raise FileNotFoundError(errno.ENOENT, str(error), artifact_id) from error

    async def _manifest(self, artifact: Artifact) -> Manifest:
        try:
            # The version held: the cache is keyed by its sha256.
            raw = await self.backend.pull_bytes(artifact.artifact_id, artifact.version)
        except _GONE as error:
            raise FileNotFoundError(errno.ENOENT, str(error), artifact.id) from error
        try:
            manifest = Manifest.model_validate_json(raw)
        except ValueError as error:
            raise InvalidRequestError(
                "directory manifest is not valid", artifact_id=artifact.id
            ) from error
        return manifest.checked()

    async def _materialise(self, artifact: Artifact) -> Path:
        if artifact.content_type != MANIFEST_CONTENT_TYPE:
            raise FileNotFoundError(
                errno.ENOTDIR, "not a directory artifact (use as_local_file)", artifact.id
            )
        manifest = await self._manifest(artifact)
        entries = [
            DirEntry(
                path=safe_relative_path(entry.path),
                cache_key=entry.sha256,
                sha256=entry.sha256,
                fetch=functools.partial(self._pull, entry.artifact_id, entry.version),
            )
            for entry in manifest.files
        ]
        assert artifact.sha256 is not None
        return await self.cache.directory(cache_key("manifest", artifact.sha256), entries)

    async def _s3_dir(self, bucket: str, prefix: str) -> Path:
        self._check_s3(bucket, prefix)
        listing = await self._s3.list_prefix(bucket, prefix)
        if not listing:
            raise FileNotFoundError(
                errno.ENOENT, "no objects under prefix", f"s3://{bucket}/{prefix}"
            )
        folder = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        entries: builtins.list[DirEntry] = []
        for key, etag, _ in listing:
            relative = key[len(folder) :]
            if relative.endswith("/"):
                continue  # a "folder" placeholder object
            entries.append(
                DirEntry(
                    path=safe_relative_path(relative),
                    cache_key=cache_key("s3", bucket, key, etag),
                    sha256=None,
                    fetch=functools.partial(self._s3.download, bucket, key),
                )
            )
        signature = [f"{key}\t{etag}" for key, etag, _ in listing]
        return await self.cache.directory(cache_key("s3dir", bucket, folder, *signature), entries)

    async def _store_entries(
        self, files: builtins.list[LocalFile], *, pin: bool
    ) -> dict[str, Artifact]:
        """One ``dir_entry`` artifact per distinct content: found again, or pushed."""
        unique = {item.sha256: item for item in files}
        me = await self.backend.agent_id()
        stored: dict[str, Artifact] = {}

        async def store(item: LocalFile) -> None:
            candidates = await self.backend.list(
                kind=DIR_ENTRY_KIND, labels={"cas_sha256": item.sha256}, limit=20
            )
            for candidate in candidates:
                if candidate.agent_id == me and candidate.sha256 == item.sha256:
                    if pin and not candidate.pinned:
                        candidate = await self.backend.pin(candidate.artifact_id, True)
                    stored[item.sha256] = candidate
                    return
            stored[item.sha256] = await self.backend.push(
                item.absolute,
                name=PurePosixPath(item.path).name,
                content_type="application/octet-stream",
                kind=DIR_ENTRY_KIND,
                labels={"cas_sha256": item.sha256},
                tags=(),
                metrics={},
                pinned=pin,
                session_id=None,
                scope={},
                # A file changed since it was hashed must not go in under the old hash.
                expected_sha256=item.sha256,
            )

        await gather_limited([functools.partial(store, item) for item in unique.values()])
        return stored

    async def _keep_entries_alive(
        self, manifest: Artifact, entries: builtins.list[Artifact]
    ) -> None:
        """Extend files that would expire before their manifest (reused or new)."""
        deadline = manifest.expires_at
        if manifest.pinned:
            return  # the files were pinned with it
        now = datetime.now(UTC)
        late = [
            entry
            for entry in entries
            if entry.expires_at is not None and (deadline is None or entry.expires_at < deadline)
        ]
        # Whole seconds, rounded up: the API takes integer seconds, and the entry must not
        # expire before its manifest. The manifest got this expiry within the plan, so the
        # same horizon fits it too.
        ttl: timedelta | Literal["never"] = (
            "never"
            if deadline is None
            else timedelta(seconds=max(1, math.ceil((deadline - now).total_seconds())))
        )

        async def extend(artifact_id: str) -> None:
            # Best effort: the manifest is saved already, and an entry outliving it by less
            # than a second (or a plan refusing "never") must not fail the whole ingest.
            with contextlib.suppress(TTLExceedsPlanLimitError):
                await self.backend.extend_ttl(artifact_id, ttl)

        await gather_limited([functools.partial(extend, entry.artifact_id) for entry in late])

    def _check_local(self, path: Path) -> Path:
        blob_dir, _, _ = self.backend.protected_locations()
        if blob_dir is not None and path.resolve().is_relative_to(blob_dir.resolve()):
            raise PermissionDeniedError(
                "the hub's blob folder is read through artifacts, not paths", path=str(path)
            )
        return path

    def _check_s3(self, bucket: str, key: str) -> None:
        _, hub_bucket, prefix = self.backend.protected_locations()
        if hub_bucket is not None and bucket == hub_bucket and key.startswith(prefix):
            raise PermissionDeniedError(
                "the hub's blobs are read through artifacts, not s3:// URIs", bucket=bucket
            )


def _folder_name(root: Path) -> str:
    """The folder's own name (``.`` and trailing slashes resolved), pure string work."""
    parts = [part for part in PurePosixPath(root.as_posix()).parts if part not in ("", ".")]
    return parts[-1] if parts and parts[-1] not in ("/", "..") else "directory"


def _view(artifact: Artifact) -> Artifact:
    """The artifact with its hub URI when it was stored without one."""
    if artifact.uri:
        return artifact
    return artifact.model_copy(update={"uri": artifact_uri(artifact.artifact_id)})


def _filename(name: str | None, suggested_uri: str | None, fallback: str) -> str:
    """The file name: ``name``, else the last segment of ``suggested_uri``, else fallback."""
    for candidate in (name, _last_segment(suggested_uri)):
        if candidate:
            return candidate
    return fallback


def _last_segment(uri: str | None) -> str | None:
    """The last path segment of a URI or path (None for a bare ``s3://bucket``)."""
    if not uri:
        return None
    path = uri.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if "://" in path:
        path = path.split("://", 1)[1]
        if "/" not in path:
            return None  # only a host or bucket
    segment = path.rsplit("/", 1)[-1]
    return segment if segment not in ("", ".", "..") else None


def _extension(ext: str | None) -> str:
    if not ext:
        return ""
    if "/" in ext or "\\" in ext or "\x00" in ext:
        raise InvalidRequestError("a file extension must not contain path separators")
    return ext if ext.startswith(".") else "." + ext


def _search_request(**fields: Any) -> SearchRequest:
    """The request, or ``InvalidRequestError`` saying what is wrong with it."""
    try:
        return SearchRequest(**fields)
    except ValidationError as error:
        problems = "; ".join(str(item["msg"]) for item in error.errors())
        raise InvalidRequestError(f"invalid search: {problems}") from error
