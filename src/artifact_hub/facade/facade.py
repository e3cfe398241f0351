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
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from artifact_hub.core.errors import (
    InvalidRequestError,
)
from artifact_hub.facade.manifest import (
    MANIFEST_CONTENT_TYPE,
    Manifest,
    ManifestEntry,
    scan_directory,
)
from artifact_hub.facade.naming import (
    _extension,
    _filename,
    _folder_name,
)
from artifact_hub.facade.reads import FacadeReads
from artifact_hub.facade.writer import ArtifactWriter
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.search import SearchMode

__all__ = ["ArtifactFacade", "ArtifactWriter", "SearchMode"]


class ArtifactFacade(FacadeReads):
    """Save, stage, load and query artifacts of one run context.

    Build it with :meth:`RunContext.artifacts() <artifact_hub.facade.context.RunContext.artifacts>`.
    Everything it saves carries the context's ids as fields (``run_id``, ``node_id``, ...) and
    as labels, which is how ``list``, ``search`` and ``best`` scope their queries.

    Args:
        context: The run context.
        backend: How to reach the hub.
    """

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
