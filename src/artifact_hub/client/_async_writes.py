"""What :class:`AsyncClient` writes: push (inline or presigned), versions, changes, links, shares.

Written once, for the async client; ``scripts/unasync.py`` generates the sync twin (the
``_sync_`` module of the same name) that :class:`Client` is made of.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from artifact_hub.client._async_send import AsyncSender
from artifact_hub.client._config import PART_CONCURRENCY, TTL, Progress, Source
from artifact_hub.client._requests import Call, push_filename
from artifact_hub.client._transfers import async_map_limited
from artifact_hub.schemas.api import Link, Upload
from artifact_hub.schemas.artifacts import Access, Artifact

__all__ = ["AsyncWrites"]


class AsyncWrites(AsyncSender):
    """The writing calls of :class:`AsyncClient` (each raises the typed errors of the hub)."""

    async def push(
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
            >>> artifact = await client.push("report.pdf", session_id="run_q4",
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
            return await self._push_presigned(call, values)
        return self._parse(Artifact, await self._send(call))

    async def _push_presigned(self, call: Call, values: dict[str, Any]) -> Artifact:
        body = call.body
        assert body is not None
        fields = {**values, "name": body.filename, "content_type": body.content_type}
        upload = self._parse(Upload, await self._send(self._upload_url(fields, body.size)))
        body.fields = None
        if upload.parts:
            # Straight to the store, part by part (S3): PART_CONCURRENCY at once when each
            # part can open the file for itself.
            workers = PART_CONCURRENCY if body.parts_in_parallel else 1
            await async_map_limited(self._send_and_close, self._upload_parts(upload, body), workers)
        else:
            await self._send_and_close(self._upload_put(upload.url, upload.headers, body))
        return await self.complete_upload(upload.id)

    async def push_dict(
        self,
        data: Any,
        *,
        filename: str = "data.json",
        **kwargs: Any,
    ) -> Artifact:
        """Serialize ``data`` to JSON and push it (``application/json``).

        Example:
            >>> await client.push_dict({"score": 0.95}, filename="results.json")  # doctest: +SKIP
        """
        kwargs.setdefault("content_type", "application/json")
        payload = json.dumps(data, ensure_ascii=False, default=str).encode()
        return await self.push(payload, filename=filename, **kwargs)

    async def push_version(
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
            >>> (await client.push_version(artifact.id, b"v2")).version  # doctest: +SKIP
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
        return self._parse(Artifact, await self._send(call))

    async def create_upload(
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
        return self._parse(Upload, await self._send(self._upload_url(values, size_bytes)))

    async def complete_upload(self, upload_id: str) -> Artifact:
        """Turn a finished presigned upload into an artifact (size and sha256 verified)."""
        return self._parse(Artifact, await self._send(self._complete(upload_id)))

    async def update(
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
        return self._parse(Artifact, await self._send(self._update(artifact_id, changes)))

    async def delete(self, artifact_id: str) -> Artifact:
        """Soft-delete an artifact (all versions); deleting it again raises ArtifactDeletedError."""
        return self._parse(Artifact, await self._send(self._delete(artifact_id)))

    async def delete_version(self, artifact_id: str, version: int) -> None:
        """Delete one version of an artifact."""
        await self._send(self._delete_version(artifact_id, version))

    async def create_link(
        self, artifact_id: str, *, expires_in: int | None = None, version: int | None = None
    ) -> Link:
        """A revocable download URL (default 7 days, at most 30).

        Example:
            >>> (await client.create_link(artifact.id, expires_in=86400)).url  # doctest: +SKIP
            'http://127.0.0.1:8080/l/lnk_...'
        """
        return self._parse(
            Link, await self._send(self._create_link(artifact_id, expires_in, version))
        )

    async def revoke_link(self, link_id: str) -> None:
        """Revoke a link: its URL answers 404 ``link_not_found`` from now on."""
        await self._send(self._revoke_link(link_id))

    async def extend_ttl(self, artifact_id: str, ttl_seconds: TTL) -> Artifact:
        """Set the artifact to expire ``ttl_seconds`` from now (or ``"never"``).

        Example:
            >>> (await client.extend_ttl(artifact.id, "never")).expires_at is None  # doctest: +SKIP
            True
        """
        return self._parse(Artifact, await self._send(self._extend_ttl(artifact_id, ttl_seconds)))

    async def share(
        self,
        artifact_id: str,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Grant read access to agents and groups."""
        return self._parse(Access, await self._send(self._share(artifact_id, agents, groups)))

    async def unshare(
        self,
        artifact_id: str,
        *,
        agents: Sequence[str] = (),
        groups: Sequence[str] = (),
    ) -> Access:
        """Revoke read access from agents and groups."""
        return self._parse(Access, await self._send(self._unshare(artifact_id, agents, groups)))
