"""Idempotency keys in SQL (the ``IdempotencyKeys`` port)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import ConflictError
from artifact_hub.ports.idempotency import IdempotencyKeys, KeyRecord

__all__ = ["SqlIdempotencyKeys"]


def _row(tenant_id: str, key: str) -> ColumnElement[bool]:
    k = t.idempotency_keys.c
    return and_(k.tenant_id == tenant_id, k.key == key)


def _claim(tenant_id: str, key: str, claimed_at: datetime) -> ColumnElement[bool]:
    """The key's row while it is still the claim made at ``claimed_at``, in progress."""
    k = t.idempotency_keys.c
    return and_(_row(tenant_id, key), k.created_at == claimed_at, k.status.is_(None))


class SqlIdempotencyKeys:
    """The ``idempotency_keys`` table."""

    async def claim_new(
        self, conn: AsyncConnection, tenant_id: str, key: str, request_sha256: str, at: datetime
    ) -> bool:
        """Insert the key unless the tenant has it; True when this call inserted it."""
        # One statement claims a new key (the usual case); no read first.
        insert_new = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(
            t.idempotency_keys
        ).on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        values = {
            "tenant_id": tenant_id,
            "key": key,
            "request_sha256": request_sha256,
            "created_at": at,
        }
        result = await conn.execute(insert_new, values)
        return bool(result.rowcount == 1)

    async def get(self, conn: AsyncConnection, tenant_id: str, key: str) -> KeyRecord | None:
        """The key's row, or None."""
        k = t.idempotency_keys.c
        row = (
            await conn.execute(
                select(k.request_sha256, k.status, k.body, k.created_at).where(_row(tenant_id, key))
            )
        ).first()
        if row is None:
            return None
        return KeyRecord(
            request_sha256=row.request_sha256,
            status=None if row.status is None else int(row.status),
            body=row.body,
            created_at=row.created_at,
        )

    async def reclaim(
        self, conn: AsyncConnection, tenant_id: str, key: str, request_sha256: str, at: datetime
    ) -> None:
        """Replace the key's row by a fresh claim (``ConflictError`` if another one won)."""
        await conn.execute(delete(t.idempotency_keys).where(_row(tenant_id, key)))
        try:
            await conn.execute(
                insert(t.idempotency_keys).values(
                    tenant_id=tenant_id, key=key, request_sha256=request_sha256, created_at=at
                )
            )
        except IntegrityError as error:
            raise ConflictError(f"idempotency key {key} was claimed meanwhile") from error

    async def take_over(
        self, conn: AsyncConnection, tenant_id: str, key: str, claimed_at: datetime, at: datetime
    ) -> bool:
        """Move a stale, unapplied claim to ``at``; one statement, so one retry wins."""
        k = t.idempotency_keys.c
        result = await conn.execute(
            update(t.idempotency_keys)
            .where(_claim(tenant_id, key, claimed_at), k.body.is_(None))
            .values(created_at=at)
        )
        return bool(result.rowcount)

    async def mark_applied(
        self, conn: AsyncConnection, tenant_id: str, key: str, claimed_at: datetime, marker: str
    ) -> bool:
        """Mark the claim applied unless a retry took the key over."""
        result = await conn.execute(
            update(t.idempotency_keys).where(_claim(tenant_id, key, claimed_at)).values(body=marker)
        )
        if result.rowcount:
            return True
        # A write made after the request completed its key (a task it left behind) is its
        # own still: only a claim taken over (or given up) refuses it.
        k = t.idempotency_keys.c
        done = await conn.execute(
            select(k.status).where(_row(tenant_id, key), k.created_at == claimed_at)
        )
        return done.first() is not None

    async def complete(
        self,
        conn: AsyncConnection,
        tenant_id: str,
        key: str,
        status: int,
        body: str,
        claimed_at: datetime | None = None,
    ) -> None:
        """Keep the response on the key's row."""
        where = _row(tenant_id, key) if claimed_at is None else _claim(tenant_id, key, claimed_at)
        await conn.execute(update(t.idempotency_keys).where(where).values(status=status, body=body))

    async def delete(
        self, conn: AsyncConnection, tenant_id: str, key: str, claimed_at: datetime | None = None
    ) -> None:
        """Forget the key."""
        where = _row(tenant_id, key) if claimed_at is None else _claim(tenant_id, key, claimed_at)
        await conn.execute(delete(t.idempotency_keys).where(where))

    async def purge(self, conn: AsyncConnection, created_before: datetime) -> int:
        """Drop keys created at or before ``created_before``."""
        result = await conn.execute(
            delete(t.idempotency_keys).where(t.idempotency_keys.c.created_at <= created_before)
        )
        return int(result.rowcount or 0)


if TYPE_CHECKING:
    _port: type[IdempotencyKeys] = SqlIdempotencyKeys  # mypy checks the store against the port
