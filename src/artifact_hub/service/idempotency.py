"""Idempotency keys: the first response to a POST, kept so a retry gets it again.

A key belongs to a tenant. Its row is written when the first request starts (status still
empty: "in progress") and completed with the response; a retry with the same key and the same
request gets the stored response, one with another request gets ``conflict``. Keys live
``KEY_LIFETIME``; the sweeper drops older ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from artifact_hub.core.errors import ConflictError
from artifact_hub.ports.idempotency import IdempotencyKeys, KeyRecord
from artifact_hub.ports.transactions import Transaction, Transactions

__all__ = ["KEY_LIFETIME", "IdempotencyStore", "StoredResponse"]

KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for an idempotency key."""

    status: int
    body: str


class IdempotencyStore:
    """Idempotency keys: claim, replay, complete, release and purge them.

    Args:
        db: The index database's transactions.
        keys: The ``idempotency_keys`` rows (read and written in ``db``'s transactions).
        lifetime: How long a key is remembered.
    """

    def __init__(
        self, db: Transactions, keys: IdempotencyKeys, *, lifetime: timedelta = KEY_LIFETIME
    ) -> None:
        self.db = db
        self.keys = keys
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

        async def claim(conn: Transaction) -> KeyRecord | None:
            # A new key (the usual case) is claimed by one statement; only a key seen before
            # is read.
            if await self.keys.claim_new(conn, tenant_id, key, request_sha256, moment):
                return None
            row = await self.keys.get(conn, tenant_id, key)
            if row is not None and row.created_at <= moment - self.lifetime:
                # Past its lifetime but not swept yet: the key is free again.
                await self.keys.reclaim(conn, tenant_id, key, request_sha256, moment)
                row = None
            return row

        try:
            row = await self.db.write(claim)  # shares the commit of concurrent writes
        except ConflictError as error:
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
        return StoredResponse(status=row.status, body=row.body or "")

    async def complete(self, tenant_id: str, key: str, status: int, body: str) -> None:
        """Keep the response of the request that claimed the key."""
        await self.db.write(lambda conn: self.keys.complete(conn, tenant_id, key, status, body))

    async def release(self, tenant_id: str, key: str) -> None:
        """Forget a claimed key (the request failed in a way a retry may fix)."""
        await self.db.write(lambda conn: self.keys.delete(conn, tenant_id, key))

    async def purge(self, *, now: datetime | None = None) -> int:
        """Drop keys older than the lifetime; returns how many."""
        cutoff = (now or datetime.now(UTC)) - self.lifetime
        async with self.db.begin() as conn:
            return await self.keys.purge(conn, cutoff)


def _in_progress(key: str) -> ConflictError:
    return ConflictError(
        "a request with this Idempotency-Key is still in progress; retry it later",
        idempotency_key=key,
    )
