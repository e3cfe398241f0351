"""Idempotency keys: the first response to a POST, kept so a retry gets it again.

A key belongs to a tenant. Its row is written when the first request starts (status still
empty: "in progress") and completed with the response; a retry with the same key and the same
request gets the stored response, one with another request gets ``conflict``. Keys live
``KEY_LIFETIME``; the sweeper drops older ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.core.errors import ConflictError

__all__ = ["KEY_LIFETIME", "IdempotencyStore", "StoredResponse"]

KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for an idempotency key."""

    status: int
    body: str


class IdempotencyStore:
    """The ``idempotency_keys`` table.

    Args:
        db: The index database.
        lifetime: How long a key is remembered.
    """

    def __init__(self, db: Database, *, lifetime: timedelta = KEY_LIFETIME) -> None:
        self.db = db
        self.lifetime = lifetime

    async def begin(
        self, tenant_id: str, key: str, request_sha256: str, *, now: datetime | None = None
    ) -> StoredResponse | None:
        """Claim the key for a request, or find the response it already got.

        Returns:
            None when the key is new (now claimed: run the request, then :meth:`complete`
            or :meth:`release`), else the stored response to send again.

        Raises:
            ConflictError: The key was used with a different request, or the first request
                with it is still running (a concurrent duplicate: retry it later).
        """
        moment = now or datetime.now(UTC)
        k = t.idempotency_keys.c
        where = and_(k.tenant_id == tenant_id, k.key == key)

        values = {
            "tenant_id": tenant_id,
            "key": key,
            "request_sha256": request_sha256,
            "created_at": moment,
        }

        async def claim(conn: AsyncConnection) -> Any:
            # A new key (the usual case) is claimed by one statement; only a key seen before
            # is read.
            insert_new = (sqlite_insert if conn.dialect.name == "sqlite" else pg_insert)(
                t.idempotency_keys
            ).on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            if (await conn.execute(insert_new, values)).rowcount == 1:
                return None
            row = (
                await conn.execute(
                    select(k.request_sha256, k.status, k.body, k.created_at).where(where)
                )
            ).first()
            if row is not None and row.created_at <= moment - self.lifetime:
                # Past its lifetime but not swept yet: the key is free again.
                await conn.execute(delete(t.idempotency_keys).where(where))
                await conn.execute(insert(t.idempotency_keys).values(values))
                row = None
            return row

        try:
            row = await self.db.write(claim)  # shares the commit of concurrent writes
        except IntegrityError as error:
            # Another request inserted the same key between our read and our insert.
            raise _in_progress(key) from error
        if row is None:
            return None
        if row.request_sha256 != request_sha256:
            raise ConflictError(
                "this Idempotency-Key was already used with a different request; "
                "use a new key for a new request",
                idempotency_key=key,
            )
        if row.status is None:
            raise _in_progress(key)
        return StoredResponse(status=int(row.status), body=row.body or "")

    async def complete(self, tenant_id: str, key: str, status: int, body: str) -> None:
        """Keep the response of the request that claimed the key."""
        k = t.idempotency_keys.c
        statement = (
            update(t.idempotency_keys)
            .where(and_(k.tenant_id == tenant_id, k.key == key))
            .values(status=status, body=body)
        )
        await self.db.write(lambda conn: conn.execute(statement))

    async def release(self, tenant_id: str, key: str) -> None:
        """Forget a claimed key (the request failed in a way a retry may fix)."""
        k = t.idempotency_keys.c
        statement = delete(t.idempotency_keys).where(and_(k.tenant_id == tenant_id, k.key == key))
        await self.db.write(lambda conn: conn.execute(statement))

    async def purge(self, *, now: datetime | None = None) -> int:
        """Drop keys older than the lifetime; returns how many."""
        cutoff = (now or datetime.now(UTC)) - self.lifetime
        async with self.db.begin() as conn:
            result = await conn.execute(
                delete(t.idempotency_keys).where(t.idempotency_keys.c.created_at <= cutoff)
            )
        return int(result.rowcount or 0)


def _in_progress(key: str) -> ConflictError:
    return ConflictError(
        "a request with this Idempotency-Key is still in progress; retry it later",
        idempotency_key=key,
    )
