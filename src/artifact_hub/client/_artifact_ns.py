"""``client.artifact``: the Acenta-style async API, a thin layer over :class:`AsyncClient`."""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

from artifact_hub.client._config import ALL_SESSIONS, Progress, Source
from artifact_hub.client._requests import ListFilters
from artifact_hub.schemas.api import Upload
from artifact_hub.schemas.artifacts import Access, Artifact, ArtifactVersion
from artifact_hub.schemas.lineage import LineageGraph

if TYPE_CHECKING:
    from artifact_hub.client._api import AsyncApi

__all__ = ["ArtifactNamespace"]


class ArtifactNamespace:
    """Acenta's ``client.artifact``: create, download, version, share and list artifacts.

    Every method is a coroutine and raises the typed exceptions of :mod:`artifact_hub.core.errors`.

    Example:
        >>> from artifact_hub import AcentaClient
        >>> client = AcentaClient(api_key="ak_live_...")
        >>> artifact = await client.artifact.create(
        ...     name="report.pdf", content_type="application/pdf", data=b"%PDF-1.7 ...",
        ...     metadata={"author": "document-agent"})  # doctest: +SKIP
        >>> data = await client.artifact.download(artifact_id=artifact.id)  # doctest: +SKIP
    """

    def __init__(self, client: AsyncApi) -> None:
        self._client = client

    # --- create

    async def create(
        self,
        name: str,
        data: bytes | bytearray | memoryview,
        content_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Artifact:
        """Store bytes as a new artifact.

        Args:
            name: The artifact's name (``report.pdf``).
            data: The content.
            content_type: Media type (default: guessed from ``name``).
            metadata: Custom attributes (a JSON object up to 8 KB).
            **fields: Other ``push`` arguments (``session_id``, ``tags``, ``ttl``, ...).

        Example:
            >>> artifact = await client.artifact.create(
            ...     name="model.pt", data=model_bytes_v1)  # doctest: +SKIP
        """
        return await self._client.push(
            bytes(data), filename=name, content_type=content_type, metadata=metadata, **fields
        )

    async def upload_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        progress: Progress | None = None,
        **fields: Any,
    ) -> Artifact:
        """Stream a file from disk (presigned flow for large files).

        Example:
            >>> artifact = await client.artifact.upload_file(
            ...     path="/path/to/large-file.zip", name="backup.zip",
            ...     metadata={"type": "backup"})  # doctest: +SKIP
        """
        return await self._client.push(
            path,
            filename=name,
            content_type=content_type,
            metadata=metadata,
            progress=progress,
            **fields,
        )

    async def create_snippet(
        self,
        name: str,
        content: Any,
        metadata: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        **fields: Any,
    ) -> Artifact:
        """Store small data: JSON for dicts and lists, UTF-8 text for strings.

        Example:
            >>> artifact = await client.artifact.create_snippet(
            ...     name="config.json", content={"model": "gpt-4", "temperature": 0.7},
            ...     metadata={"version": "1.0"})  # doctest: +SKIP
        """
        data: bytes
        if isinstance(content, bytes | bytearray | memoryview):
            data = bytes(content)
        elif isinstance(content, str):
            data = content.encode()
            content_type = content_type or (None if "." in name else "text/plain")
        else:
            data = json.dumps(content, ensure_ascii=False, default=str).encode()
            content_type = content_type or "application/json"
        return await self._client.push(
            data, filename=name, content_type=content_type, metadata=metadata, **fields
        )

    async def get_upload_url(
        self,
        name: str,
        size_bytes: int,
        content_type: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Upload:
        """A presigned URL to PUT a large file to; then call :meth:`confirm_upload`.

        Example:
            >>> upload = await client.artifact.get_upload_url(
            ...     name="large-file.bin", content_type="application/octet-stream",
            ...     size_bytes=1073741824)  # doctest: +SKIP
            >>> artifact = await client.artifact.confirm_upload(upload.id)  # doctest: +SKIP
        """
        return await self._client.create_upload(
            name, size_bytes, content_type=content_type, metadata=metadata, **fields
        )

    async def confirm_upload(self, upload_id: str) -> Artifact:
        """Turn a finished presigned upload into an artifact (size and sha256 checked)."""
        return await self._client.complete_upload(upload_id)

    async def update(
        self,
        artifact_id: str,
        data: Source,
        metadata: Mapping[str, Any] | None = None,
        content_type: str | None = None,
    ) -> Artifact:
        """Store ``data`` as the next version; returns the artifact at that version.

        Example:
            >>> artifact = await client.artifact.update(
            ...     artifact_id=artifact.id, data=model_v2_bytes,
            ...     metadata={"version": "2.0"})  # doctest: +SKIP
        """
        return await self._client.push_version(
            artifact_id, data, content_type=content_type, metadata=metadata
        )

    # --- read

    async def get(self, artifact_id: str) -> Artifact:
        """Metadata only (``name``, ``size_bytes``, ``content_type``, ``created_at``, ...)."""
        return await self._client.get(artifact_id)

    async def download(self, artifact_id: str, version: int | None = None) -> bytes:
        """The content (of ``version``, default the current one), verified by sha256.

        Example:
            >>> data = await client.artifact.download(artifact_id="art_xxx")  # doctest: +SKIP
        """
        return await self._client.pull_bytes(artifact_id, version=version)

    async def download_file(
        self,
        artifact_id: str,
        path: str | os.PathLike[str],
        version: int | None = None,
        progress: Progress | None = None,
    ) -> Path:
        """Stream the content to ``path`` (a file, or a folder if it ends with ``/``).

        Example:
            >>> await client.artifact.download_file(
            ...     artifact_id="art_xxx", path="/path/to/output.pdf")  # doctest: +SKIP
        """
        return await self._client.pull(artifact_id, path, version=version, progress=progress)

    async def get_signed_url(
        self, artifact_id: str, expires_in: int = 3600, version: int | None = None
    ) -> str:
        """A download URL usable without the API key for ``expires_in`` seconds.

        Example:
            >>> url = await client.artifact.get_signed_url(
            ...     artifact_id="art_xxx", expires_in=3600)  # doctest: +SKIP
        """
        signed = await self._client.download_url(
            artifact_id, expires_in=expires_in, version=version
        )
        return signed.url

    async def list_versions(self, artifact_id: str) -> list[ArtifactVersion]:
        """Every live version, oldest first (``.version``, ``.created_at``, ``.size_bytes``)."""
        return await self._client.versions(artifact_id)

    async def list(
        self,
        metadata_filter: Mapping[str, Any] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        **filters: Unpack[ListFilters],
    ) -> builtins.list[Artifact]:
        """Artifacts in the namespace, newest first.

        Args:
            metadata_filter: Keep artifacts whose metadata has these key/value pairs.
            limit: At most this many (default: all).
            offset: Skip this many first (with ``limit``, one page as in Acenta).
            **filters: More filters: ``content_type``, ``session_id``, ``tags``, ``kind``, ...

        Example:
            >>> artifacts = await client.artifact.list(
            ...     metadata_filter={"department": "engineering"})  # doctest: +SKIP
            >>> page = await client.artifact.list(limit=10, offset=20)  # doctest: +SKIP
        """
        filters.setdefault("session_id", ALL_SESSIONS)
        if metadata_filter is not None:
            filters["metadata"] = metadata_filter
        if offset:
            page = await self._client.list_page(limit=limit, offset=offset, **filters)
            return page.data
        return [a async for a in self._client.list(limit=limit, **filters)]

    async def list_shared(
        self, limit: int | None = None, **filters: Unpack[ListFilters]
    ) -> builtins.list[Artifact]:
        """Artifacts other agents shared with you (``.owner`` is who created them).

        Example:
            >>> for a in await client.artifact.list_shared():
            ...     print(f"{a.name} (from {a.owner})")  # doctest: +SKIP
        """
        return [a async for a in self._client.list_shared(limit=limit, **filters)]

    # --- sharing

    async def share(
        self,
        artifact_id: str,
        with_agents: Sequence[str] | None = None,
        with_groups: Sequence[str] | None = None,
    ) -> Access:
        """Grant read access to agents and/or groups.

        Example:
            >>> await client.artifact.share(
            ...     artifact_id="art_xxx", with_groups=["data-team"])  # doctest: +SKIP
        """
        return await self._client.share(
            artifact_id, agents=with_agents or (), groups=with_groups or ()
        )

    async def unshare(
        self,
        artifact_id: str,
        agents: Sequence[str] | None = None,
        groups: Sequence[str] | None = None,
    ) -> Access:
        """Revoke read access from agents and/or groups."""
        return await self._client.unshare(artifact_id, agents=agents or (), groups=groups or ())

    async def get_access(self, artifact_id: str) -> Access:
        """Who the artifact is shared with (``.agents``, ``.groups``)."""
        return await self._client.access(artifact_id)

    async def lineage(self, artifact_id: str) -> LineageGraph:
        """Where the artifact came from and what was made from it (``.nodes``, ``.edges``)."""
        return await self._client.lineage(artifact_id)

    # --- delete

    async def delete(self, artifact_id: str) -> Artifact:
        """Delete an artifact and all its versions (soft delete, purged later)."""
        return await self._client.delete(artifact_id)

    async def delete_version(self, artifact_id: str, version: int) -> None:
        """Delete one version of an artifact."""
        await self._client.delete_version(artifact_id, version)
