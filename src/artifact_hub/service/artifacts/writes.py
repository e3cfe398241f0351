"""Writing content and fields: push a new artifact, add a version, update metadata/labels/tags."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from artifact_hub.core.errors import ArtifactDeletedError
from artifact_hub.core.ids import new_artifact_id
from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.commands import AddVersion, PushArtifact
from artifact_hub.schemas.events import ArtifactCreated, ArtifactVersioned, EventBase
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts.commits import ArtifactCommits
from artifact_hub.service.artifacts.content import Content, _default_name, _small
from artifact_hub.service.artifacts.models import _command, _created_artifact, _invalid_request


class ArtifactWrites(ArtifactCommits):
    """Push, add a version, update fields."""

    async def push(
        self, caller: Caller, content: Content, command: PushArtifact | None = None, **fields: Any
    ) -> Artifact:
        """Store new content as a new artifact (version 1).

        Args:
            caller: Who pushes; the artifact belongs to its tenant and agent.
            content: Bytes, a path, a binary file object or an async byte stream.
            command: What to push (see :class:`~artifact_hub.schemas.commands.PushArtifact`).
            **fields: Instead of ``command``: its fields as keywords, the scope's among
                them (``name=..., tags=..., run_id=...``).

        Raises:
            InvalidRequestError: A bad value, or a keyword that is no field of the command.
            SessionSealedError: The session is sealed.
            ChecksumMismatchError: The content does not match ``expected_sha256``.
            FileTooLargeError: The content is larger than ``max_size`` or the plan allows.
            QuotaExceededError: The tenant's storage quota would be exceeded.
            TTLExceedsPlanLimitError: ``ttl`` is longer than the plan allows.
        """
        push = _command(command, fields, PushArtifact.from_fields)
        session_id, lineage, ttl = push.session_id, push.lineage, push.ttl
        metadata = self.rules.metadata(push.metadata)
        self.rules.values(push.labels, push.metrics)
        now = datetime.now(UTC)
        # The event is built (so every field validated: name, ids, labels, metrics...) before
        # any byte is stored; the blob's hash and size fill it in afterwards.
        with _invalid_request():
            draft = ArtifactCreated(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                occurred_at=now,
                artifact_id=push.artifact_id or new_artifact_id(),
                name=push.name or _default_name(content),
                namespace=push.namespace or caller.namespace,
                agent_id=caller.agent_id,
                session_id=session_id,
                kind=push.kind,
                content_type=push.content_type,
                sha256="0" * 64,
                size_bytes=0,
                metadata=metadata or {},
                labels=push.labels or {},
                tags=list(push.tags),
                metrics=push.metrics or {},
                pinned=push.pinned,
                expires_at=self._plan_expiry(caller, ttl, now),
                lineage=lineage,
                **push.scope.with_lineage(lineage).fields(),
            )
        if session_id and not _small(content):
            # Before the upload, not to store bytes for nothing; the write checks again.
            await self._check_session_open(caller.tenant_id, session_id)
        max_size = await self._precheck_size(caller, content, push.max_size)
        blob = await self._store(content, push.expected_sha256, max_size)
        now = datetime.now(UTC)
        event = draft.model_copy(
            update={
                "sha256": blob.sha256,
                "size_bytes": blob.size,
                "occurred_at": now,
                "expires_at": self._plan_expiry(caller, ttl, now),
            }
        )

        async def build(conn: Transaction) -> EventBase:
            if session_id:
                await self._check_session_open(caller.tenant_id, session_id, conn)
            await self._check_lineage(conn, caller, lineage)
            await self._check_stored(conn, caller, blob, now)
            return event

        await self._commit_blob(build, blob)
        # The row the projection just wrote, from the event itself: no read back.
        return _created_artifact(event)

    async def add_version(
        self,
        caller: Caller,
        artifact_id: str,
        content: Content,
        command: AddVersion | None = None,
        **fields: Any,
    ) -> Artifact:
        """Store new content as the next version of an artifact the caller may write.

        ``command`` (or its fields as keywords) says what to store: see
        :class:`~artifact_hub.schemas.commands.AddVersion`. Its ``metadata`` None keeps the
        previous version's metadata. The plan's size and storage limits apply as in
        :meth:`push`.
        """
        version = _command(command, fields, AddVersion)
        lineage = version.lineage
        metadata = self.rules.metadata(version.metadata)
        current = await self._writable(caller, artifact_id)
        if current.session_id and not _small(content):
            await self._check_session_open(caller.tenant_id, current.session_id)
        max_size = await self._precheck_size(caller, content, version.max_size)
        blob = await self._store(content, version.expected_sha256, max_size)

        async def build(conn: Transaction) -> EventBase:
            await self._check_stored(conn, caller, blob, datetime.now(UTC))
            await self._check_lineage(conn, caller, lineage)
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            latest = await self.reader.get(conn, caller.tenant_id, artifact_id)
            if latest is None or latest.deleted_at is not None:
                raise ArtifactDeletedError(artifact_id=artifact_id)
            if latest.session_id:
                await self._check_session_open(caller.tenant_id, latest.session_id, conn)
            return ArtifactVersioned(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=seq,
                version=latest.version + 1,
                sha256=blob.sha256,
                size_bytes=blob.size,
                content_type=version.content_type or latest.content_type,
                metadata=metadata,
                agent_id=caller.agent_id,
                lineage=lineage,
            )

        await self._commit_blob(build, blob)
        return await self.get(caller, artifact_id)

    async def update(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> Artifact:
        """Replace metadata, labels, tags or metrics (those given) without a new version."""
        self.rules.values(labels, metrics)
        return await self._update(
            caller,
            artifact_id,
            metadata=self.rules.metadata(metadata),
            labels=labels,
            tags=None if tags is None else list(tags),
            metrics=metrics,
        )
