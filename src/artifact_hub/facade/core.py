"""The facade's plumbing: pushing, pulling, caching and materialising artifacts' bytes.

:class:`FacadeCore` holds the run context, backend, cache and S3 reader; the public methods
live in :class:`~artifact_hub.facade.reads.FacadeReads` and
:class:`~artifact_hub.facade.facade.ArtifactFacade`, which build on it.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import functools
import math
import mimetypes
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from artifact_hub.core.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    TTLExceedsPlanLimitError,
)
from artifact_hub.facade.cache import DirEntry, LocalCache, cache_key, gather_limited
from artifact_hub.facade.manifest import (
    DIR_ENTRY_KIND,
    MANIFEST_CONTENT_TYPE,
    LocalFile,
    Manifest,
    safe_relative_path,
)
from artifact_hub.facade.scope import FacadeScope, default_cache_dir
from artifact_hub.facade.uris import S3Reader
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.commands import Scope

if TYPE_CHECKING:
    from artifact_hub.facade.backends import FacadeBackend
from artifact_hub.facade.naming import (
    _GONE,
    _view,
)


class FacadeCore:
    """State and internals shared by the facade's public methods.

    Args:
        context: The run context.
        backend: How to reach the hub.
    """

    def __init__(self, context: FacadeScope, backend: FacadeBackend) -> None:
        self.context = context
        self.backend = backend
        self.cache = LocalCache(context.cache_dir or default_cache_dir())
        options = context.s3_options if context.s3_options is not None else backend.s3_options()
        self._s3 = S3Reader(options)

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
        scope = Scope.of(ctx, skip_empty=True)
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
                scope=Scope(),
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
