"""Writing content and fields: push a new artifact, add a version, update metadata/labels/tags."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from artifact_hub.core.errors import ArtifactDeletedError, InvalidRequestError
from artifact_hub.core.ids import new_artifact_id
from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.events import ArtifactCreated, ArtifactVersioned, EventBase
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.lineage import Lineage
from artifact_hub.service.artifacts.commits import ArtifactCommits
from artifact_hub.service.artifacts.content import TTL, Content, _default_name, _small
from artifact_hub.service.artifacts.models import _SCOPE_FIELDS, _created_artifact, _invalid_request


class ArtifactWrites(ArtifactCommits):
    """Push, add a version, update fields."""

    async def push(
        self,
        caller: Caller,
        content: Content,
        *,
        name: str | None = None,
        session_id: str | None = None,
        content_type: str | None = None,
        kind: str | None = None,
        metadata: dict[str, Any] | None = None,
        labels: dict[str, Any] | None = None,
        tags: Sequence[str] = (),
        metrics: dict[str, Any] | None = None,
        pinned: bool = False,
        ttl: TTL = None,
        namespace: str | None = None,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        artifact_id: str | None = None,
        lineage: Lineage | None = None,
        **scope: str | None,
    ) -> Artifact:
        """Store new content as a new artifact (version 1).

        Args:
            caller: Who pushes; the artifact belongs to its tenant and agent.
            content: Bytes, a path, a binary file object or an async byte stream.
            name: The artifact's name (default: the file's name, or ``"artifact"``).
            session_id: The session to file it under; fails if that session is sealed.
            content_type: The MIME type.
            kind: The facade's kind (``"text"``, ``"dataset"``, ...).
            metadata: Free JSON metadata (keys ``^[a-zA-Z][a-zA-Z0-9_-]{0,63}$``).
            labels: Key/values to filter on.
            tags: Tags to filter on.
            metrics: Numbers (``best()`` ranks by them).
            pinned: Pinned artifacts are kept by clean-ups.
            ttl: Time to live; None takes the hub's default, ``"never"`` keeps it forever.
            namespace: The team namespace (default: the caller's).
            expected_sha256: Fail with ``checksum_mismatch`` unless the bytes hash to this.
            max_size: Fail with ``file_too_large`` past this many bytes.
            artifact_id: Use this id (an ingested event's) instead of a new one.
            lineage: The workflow run and step saving it, and the artifact versions it was
                made from (each must be readable by ``caller``). Its run, workflow and step
                fill ``run_id``, ``graph_id`` and ``node_id`` unless those are given.
            **scope: ``run_id``, ``graph_id``, ``node_id``, ``tool_name``, ``tool_version``,
                ``org_id``, ``user_id``, ``client_id``, ``app_id``, ``uri``, ``preview_uri``.

        Raises:
            SessionSealedError: The session is sealed.
            ChecksumMismatchError: The content does not match ``expected_sha256``.
            FileTooLargeError: The content is larger than ``max_size`` or the plan allows.
            QuotaExceededError: The tenant's storage quota would be exceeded.
            TTLExceedsPlanLimitError: ``ttl`` is longer than the plan allows.
        """
        unknown = set(scope) - _SCOPE_FIELDS
        if unknown:
            raise InvalidRequestError(f"unknown artifact fields: {', '.join(sorted(unknown))}")
        if lineage is not None:
            for key, value in (
                ("run_id", lineage.run_id),
                ("graph_id", lineage.workflow_id),
                ("node_id", lineage.step_id),
            ):
                if scope.get(key) is None and value is not None:
                    scope[key] = value
        metadata = self.rules.metadata(metadata)
        self.rules.values(labels, metrics)
        now = datetime.now(UTC)
        # The event is built (so every field validated: name, ids, labels, metrics...) before
        # any byte is stored; the blob's hash and size fill it in afterwards.
        with _invalid_request():
            draft = ArtifactCreated(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                occurred_at=now,
                artifact_id=artifact_id or new_artifact_id(),
                name=name or _default_name(content),
                namespace=namespace or caller.namespace,
                agent_id=caller.agent_id,
                session_id=session_id,
                kind=kind,
                content_type=content_type,
                sha256="0" * 64,
                size_bytes=0,
                metadata=metadata or {},
                labels=labels or {},
                tags=list(tags),
                metrics=metrics or {},
                pinned=pinned,
                expires_at=self._plan_expiry(caller, ttl, now),
                lineage=lineage,
                **scope,
            )
        if session_id and not _small(content):
            # Before the upload, not to store bytes for nothing; the write checks again.
            await self._check_session_open(caller.tenant_id, session_id)
        max_size = await self._precheck_size(caller, content, max_size)
        blob = await self._store(content, expected_sha256, max_size)
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
        *,
        content_type: str | None = None,
        metadata: dict[str, Any] | None = None,
        expected_sha256: str | None = None,
        max_size: int | None = None,
        lineage: Lineage | None = None,
    ) -> Artifact:
        """Store new content as the next version of an artifact the caller may write.

        ``metadata`` None keeps the previous version's metadata. The plan's size and storage
        limits apply as in :meth:`push`. ``lineage`` records the workflow run and step that
        made this version and what it was made from (as in :meth:`push`); the artifact's
        ``run_id``, ``graph_id`` and ``node_id`` then name that run.
        """
        metadata = self.rules.metadata(metadata)
        current = await self._writable(caller, artifact_id)
        if current.session_id and not _small(content):
            await self._check_session_open(caller.tenant_id, current.session_id)
        max_size = await self._precheck_size(caller, content, max_size)
        blob = await self._store(content, expected_sha256, max_size)

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
                content_type=content_type or latest.content_type,
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
