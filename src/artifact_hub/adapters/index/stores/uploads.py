"""The ``uploads`` table behind the upload service.

Implements :class:`~artifact_hub.ports.uploads.UploadStore`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.ports.uploads import UploadRecord

if TYPE_CHECKING:
    from artifact_hub.ports.uploads import UploadStore

__all__ = ["SqlUploadStore"]


class SqlUploadStore:
    """Pending and completed presigned uploads in the index database."""

    async def add(self, conn: AsyncConnection, upload: UploadRecord) -> None:
        """Insert the upload's row."""
        await conn.execute(
            insert(t.uploads).values(
                upload_id=upload.upload_id,
                tenant_id=upload.tenant_id,
                agent_id=upload.agent_id,
                request=upload.request,
                size_bytes=upload.size_bytes,
                sha256=upload.sha256,
                staging_key=upload.staging_key,
                created_at=upload.created_at,
                expires_at=upload.expires_at,
                completed_at=upload.completed_at,
                artifact_id=upload.artifact_id,
            )
        )

    async def get(
        self, conn: AsyncConnection, upload_id: str, *, tenant_id: str | None = None
    ) -> UploadRecord | None:
        """The upload's row (confined to ``tenant_id`` when given), or None."""
        condition = t.uploads.c.upload_id == upload_id
        if tenant_id is not None:
            condition = and_(condition, t.uploads.c.tenant_id == tenant_id)
        row = (await conn.execute(select(t.uploads).where(condition))).first()
        return None if row is None else _record(row)

    async def mark_completed(self, conn: AsyncConnection, upload_id: str, at: datetime) -> None:
        """Set ``completed_at``."""
        await conn.execute(
            update(t.uploads).where(t.uploads.c.upload_id == upload_id).values(completed_at=at)
        )

    async def stale(self, conn: AsyncConnection, cutoff: datetime) -> list[tuple[str, str]]:
        """Pending uploads whose ``expires_at`` is before ``cutoff``."""
        u = t.uploads.c
        rows = await conn.execute(
            select(u.upload_id, u.staging_key).where(
                and_(u.completed_at.is_(None), u.expires_at < cutoff)
            )
        )
        return [(row.upload_id, row.staging_key) for row in rows]

    async def forget_pending(self, conn: AsyncConnection, upload_id: str) -> None:
        """Delete the row unless it was completed meanwhile."""
        u = t.uploads.c
        await conn.execute(
            delete(t.uploads).where(and_(u.upload_id == upload_id, u.completed_at.is_(None)))
        )


def _record(row: Any) -> UploadRecord:
    return UploadRecord(
        upload_id=row.upload_id,
        tenant_id=row.tenant_id,
        agent_id=row.agent_id,
        request=row.request,
        size_bytes=int(row.size_bytes),
        sha256=row.sha256,
        staging_key=row.staging_key,
        created_at=row.created_at,
        expires_at=row.expires_at,
        artifact_id=row.artifact_id,
        completed_at=row.completed_at,
    )


if TYPE_CHECKING:
    _port: type[UploadStore] = SqlUploadStore
