"""The sweeper's queries on the index (:class:`~artifact_hub.ports.sweeper.SweepStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t

if TYPE_CHECKING:
    from artifact_hub.ports.sweeper import SweepStore

__all__ = ["SqlSweepStore"]


class SqlSweepStore:
    """Artifacts due for expiry or purge, and blobs in use, from the index tables."""

    async def due_for_expiry(
        self, conn: AsyncConnection, now: datetime, *, after: str, limit: int
    ) -> list[tuple[str, str]]:
        """Unpinned, live artifacts whose ``expires_at`` is at or before ``now``."""
        a = t.artifacts.c
        due = and_(
            a.expires_at <= now,
            a.expired_at.is_(None),
            a.deleted_at.is_(None),
            a.purged_at.is_(None),
            a.pinned == false(),
        )
        return await _page(conn, due, after, limit)

    async def due_for_purge(
        self, conn: AsyncConnection, cutoff: datetime, *, after: str, limit: int
    ) -> list[tuple[str, str]]:
        """Artifacts soft-deleted, or expired and unpinned, at or before ``cutoff``."""
        a = t.artifacts.c
        due = and_(
            a.purged_at.is_(None),
            or_(
                a.deleted_at <= cutoff,
                and_(a.deleted_at.is_(None), a.pinned == false(), a.expired_at <= cutoff),
            ),
        )
        return await _page(conn, due, after, limit)

    async def has_artifacts(self, conn: AsyncConnection) -> bool:
        """Whether the ``artifacts`` table has a row."""
        found = await conn.scalar(select(t.artifacts.c.artifact_id).limit(1))
        return found is not None

    async def blobs_in_use(self, conn: AsyncConnection, sha256s: Sequence[str]) -> set[str]:
        """The hashes some version row points at."""
        v = t.artifact_versions.c
        rows = await conn.execute(select(v.sha256).where(v.sha256.in_(list(sha256s))).distinct())
        return set(rows.scalars())


async def _page(
    conn: AsyncConnection, condition: ColumnElement[bool], after: str, limit: int
) -> list[tuple[str, str]]:
    """``(tenant_id, artifact_id)`` matching ``condition``, by artifact id, after ``after``."""
    a = t.artifacts.c
    rows = await conn.execute(
        select(a.tenant_id, a.artifact_id)
        .where(and_(condition, a.artifact_id > after))
        .order_by(a.artifact_id)
        .limit(limit)
    )
    return [(row.tenant_id, row.artifact_id) for row in rows]


if TYPE_CHECKING:
    _port: type[SweepStore] = SqlSweepStore
