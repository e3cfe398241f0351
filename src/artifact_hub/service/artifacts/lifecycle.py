"""An artifact's life: pin, TTL, delete, sealing sessions, and the sweeper's expire and purge."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime

from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ConflictError,
    ServerError,
    VersionNotFoundError,
)
from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Artifact, Session
from artifact_hub.schemas.events import (
    ArtifactDeleted,
    ArtifactExpired,
    EventBase,
    ExpiryChange,
    SessionSealed,
)
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts.commits import ArtifactCommits
from artifact_hub.service.artifacts.content import TTL


class ArtifactLifecycle(ArtifactCommits):
    """Pin, extend TTL, delete, seal, expire, purge."""

    async def pin(self, caller: Caller, artifact_id: str, pinned: bool = True) -> Artifact:
        """Pin (or unpin) the artifact."""
        return await self._update(caller, artifact_id, pinned=pinned)

    async def extend_ttl(self, caller: Caller, artifact_id: str, ttl: TTL) -> Artifact:
        """Set the artifact to expire ``ttl`` from now (``"never"``: keep it).

        Raises:
            TTLExceedsPlanLimitError: ``ttl`` is longer than the plan allows.
        """
        expires = self._plan_expiry(caller, ttl, datetime.now(UTC))
        return await self._update(
            caller, artifact_id, expiry=ExpiryChange(expires_at=expires), allow_expired=True
        )

    async def delete(self, caller: Caller, artifact_id: str) -> Artifact:
        """Soft-delete the artifact (all versions); a second delete answers 410.

        Raises:
            SessionSealedError: The artifact is in a sealed session (a delete is a write).
        """
        await self._writable(caller, artifact_id)

        async def build(conn: Transaction) -> EventBase:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            latest = await self.reader.get(conn, caller.tenant_id, artifact_id)
            if latest is None or latest.deleted_at is not None:
                raise ArtifactDeletedError(artifact_id=artifact_id)
            if latest.session_id:
                await self._check_session_open(caller.tenant_id, latest.session_id, conn)
            return ArtifactDeleted(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=seq,
            )

        await self._commit(build)
        return await self.get(caller, artifact_id, include_deleted=True)

    async def delete_version(self, caller: Caller, artifact_id: str, version: int) -> None:
        """Soft-delete one version; the latest version cannot be deleted alone.

        Raises:
            SessionSealedError: The artifact is in a sealed session.
        """
        current = await self._writable(caller, artifact_id)
        if version == current.version:
            raise ConflictError(
                "the latest version cannot be deleted on its own; delete the artifact",
                artifact_id=artifact_id,
                version=version,
            )
        await self._version_row(artifact_id, version)

        async def build(conn: Transaction) -> EventBase:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            row = await self.reader.version(conn, artifact_id, version)
            if row is None:
                raise VersionNotFoundError(artifact_id=artifact_id, version=version)
            if row.deleted_at is not None:
                raise ArtifactDeletedError(artifact_id=artifact_id, version=version)
            if current.session_id:  # a sealed session takes no deletes either
                await self._check_session_open(caller.tenant_id, current.session_id, conn)
            return ArtifactDeleted(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                artifact_id=artifact_id,
                seq=seq,
                version=version,
            )

        await self._commit(build)

    async def seal_session(self, caller: Caller, session_id: str) -> Session:
        """Seal a session: every later write to it fails with ``session_sealed``.

        Sealing twice is allowed and changes nothing.
        """
        async with self.db.connect() as conn:
            existing = await self.reader.session(conn, caller.tenant_id, session_id)
        if existing is not None and existing.sealed:
            return existing

        async def build(conn: Transaction) -> EventBase:
            return SessionSealed(
                tenant_id=caller.tenant_id,
                actor=caller.agent_id,
                source=self.source,
                session_id=session_id,
            )

        await self._commit(build)
        async with self.db.connect() as conn:
            sealed = await self.reader.session(conn, caller.tenant_id, session_id)
        if sealed is None:  # pragma: no cover - the seal was just committed
            raise ServerError("session vanished after sealing")
        return sealed

    async def expire(self, tenant_id: str, artifact_id: str, *, now: datetime) -> bool:
        """Record that the artifact's TTL passed (``artifact.expired``), once.

        Returns:
            False when there is nothing to do: not expired at ``now``, pinned, deleted, or
            already recorded as expired.
        """

        async def build(conn: Transaction) -> EventBase | None:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            row = await self.store.lifespan(conn, tenant_id, artifact_id)
            if (
                row is None
                or row.pinned
                or row.deleted_at is not None
                or row.expired_at is not None
                or row.expires_at is None
                or row.expires_at > now
            ):
                return None
            return ArtifactExpired(
                tenant_id=tenant_id,
                source=self.source,
                occurred_at=now,
                artifact_id=artifact_id,
                seq=seq,
            )

        return await self._commit(build) is not None

    async def purge(self, tenant_id: str, artifact_id: str, *, now: datetime) -> builtins.list[str]:
        """Hard-delete the artifact (``artifact.deleted`` with ``purged``) and collect its blobs.

        The caller (the sweeper) decides that retention has passed. The artifact's row stays
        as a tombstone; its versions, labels, tags and grants leave the index.

        Returns:
            The sha256 of each blob removed from the store (blobs still used by other
            artifacts stay). Empty when the artifact was already purged.
        """
        shas: list[str] = []

        async def build(conn: Transaction) -> EventBase | None:
            seq = await self._next_seq(conn, artifact_id)  # locks the row first
            state = await self.store.lifespan(conn, tenant_id, artifact_id)
            if state is not None and state.purged_at is not None:
                return None
            shas[:] = sorted({row.sha256 for row in await self.reader.versions(conn, artifact_id)})
            return ArtifactDeleted(
                tenant_id=tenant_id,
                source=self.source,
                occurred_at=now,
                artifact_id=artifact_id,
                seq=seq,
                purged=True,
            )

        if await self._commit(build) is None:
            return []
        return [sha for sha in shas if await self.collect_blob(sha)]
