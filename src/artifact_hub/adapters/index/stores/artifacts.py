"""The SQL side of :class:`~artifact_hub.ports.artifacts.ArtifactStore`: locks, usage, lineage.

The statements the artifact service, the write rules and the plans ran themselves before the
ports: advisory locks (PostgreSQL; SQLite serializes writers anyway), the tenant's used
storage from the ``tenant_usage`` counter, which lineage inputs a caller may name, and the
expiry/deletion state the sweeper's expire and purge decide on.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.queries import IndexReader
from artifact_hub.adapters.index.statements import lock_artifact
from artifact_hub.ports.artifacts import ArtifactStore, Lifespan
from artifact_hub.schemas.identity import Caller

__all__ = ["SqlArtifactStore"]


class SqlArtifactStore:
    """Locks and index questions of the write path, on SQLite or PostgreSQL."""

    async def lock_blob(self, conn: AsyncConnection, sha256: str) -> None:
        """See :meth:`ArtifactStore.lock_blob` (a key no artifact id can take)."""
        await lock_artifact(conn, f"blob:{sha256}")

    async def lock_tenant(self, conn: AsyncConnection, tenant_id: str) -> None:
        """See :meth:`ArtifactStore.lock_tenant`."""
        await lock_artifact(conn, f"tenant:{tenant_id}")

    async def lifespan(
        self, conn: AsyncConnection, tenant_id: str, artifact_id: str
    ) -> Lifespan | None:
        """See :meth:`ArtifactStore.lifespan`."""
        a = t.artifacts.c
        row = (
            await conn.execute(
                select(a.expires_at, a.expired_at, a.deleted_at, a.purged_at, a.pinned).where(
                    and_(a.artifact_id == artifact_id, a.tenant_id == tenant_id)
                )
            )
        ).first()
        if row is None:
            return None
        return Lifespan(
            expires_at=row.expires_at,
            expired_at=row.expired_at,
            deleted_at=row.deleted_at,
            purged_at=row.purged_at,
            pinned=bool(row.pinned),
        )

    async def storage_used(self, conn: AsyncConnection, tenant_id: str, now: datetime) -> int:
        """See :meth:`ArtifactStore.storage_used`.

        Read from the ``tenant_usage`` counter that the projection keeps (one primary-key
        read), minus the versions of the artifacts that expired by ``now`` and that the
        sweeper has not purged yet (an index range over ``(tenant_id, expires_at)``, usually
        empty): the counter follows events, expiry follows the clock. Equal to
        :meth:`storage_used_by_sum`.
        """
        counted = await conn.scalar(
            select(t.tenant_usage.c.bytes).where(t.tenant_usage.c.tenant_id == tenant_id)
        )
        if not counted:
            return 0
        a, v = t.artifacts.c, t.artifact_versions.c
        expired = await conn.scalar(
            select(func.coalesce(func.sum(v.size_bytes), 0))
            .select_from(t.artifacts.join(t.artifact_versions, a.artifact_id == v.artifact_id))
            .where(
                and_(
                    a.tenant_id == tenant_id,
                    a.expires_at <= now,
                    a.pinned == false(),
                    a.deleted_at.is_(None),
                    a.purged_at.is_(None),
                    v.deleted_at.is_(None),
                )
            )
        )
        return int(counted) - int(expired or 0)

    @staticmethod
    async def storage_used_by_sum(conn: AsyncConnection, tenant_id: str, now: datetime) -> int:
        """:meth:`storage_used` by summing every live version (the reference; slow)."""
        a, v = t.artifacts.c, t.artifact_versions.c
        total = await conn.scalar(
            select(func.coalesce(func.sum(v.size_bytes), 0))
            .select_from(t.artifact_versions.join(t.artifacts, a.artifact_id == v.artifact_id))
            .where(
                and_(
                    a.tenant_id == tenant_id,
                    a.deleted_at.is_(None),
                    a.purged_at.is_(None),
                    v.deleted_at.is_(None),
                    # Pinned artifacts do not expire (see docs/rest-api.md, Limits).
                    or_(a.pinned == true(), a.expires_at.is_(None), a.expires_at > now),
                )
            )
        )
        return int(total or 0)

    async def readable_versions(
        self, conn: AsyncConnection, caller: Caller, artifact_ids: Collection[str]
    ) -> dict[str, set[int]]:
        """See :meth:`ArtifactStore.readable_versions`."""
        a = t.artifacts.c
        readable = set(
            await conn.scalars(
                select(a.artifact_id).where(
                    and_(a.artifact_id.in_(sorted(artifact_ids)), IndexReader.visible_to(caller))
                )
            )
        )
        found: dict[str, set[int]] = {artifact_id: set() for artifact_id in readable}
        v = t.artifact_versions.c
        rows = await conn.execute(
            select(v.artifact_id, v.version).where(v.artifact_id.in_(sorted(readable)))
        )
        for row in rows:
            found[row.artifact_id].add(row.version)
        return found

    async def foreign_artifact(
        self, conn: AsyncConnection, tenant_id: str, artifact_ids: Collection[str]
    ) -> str | None:
        """See :meth:`ArtifactStore.foreign_artifact`."""
        a = t.artifacts.c
        foreign: str | None = await conn.scalar(
            select(a.artifact_id)
            .where(a.artifact_id.in_(sorted(artifact_ids)), a.tenant_id != tenant_id)
            .limit(1)
        )
        return foreign


if TYPE_CHECKING:
    _port: type[ArtifactStore] = SqlArtifactStore
