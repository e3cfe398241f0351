"""Idempotency keys: the first response to a POST, kept so a retry gets it again.

A key belongs to a tenant. Its row is written when the first request starts (status still
empty: "in progress") and completed with the response; a retry with the same key and the same
request gets the stored response, one with another request gets ``conflict``. Keys live
``KEY_LIFETIME``; the sweeper drops older ones.

Several API replicas share the keys, and a replica can die in the middle of a request. So
that its client's retry, which reaches another replica, neither fails for ever nor runs the
request a second time:

- the request's writes carry a fence (:meth:`IdempotencyStore.fence`, through
  ``WRITE_FENCE``): in the write's own transaction it marks the claim applied, or fails
  when the claim is no longer this request's, which rolls the write back;
- a retry that finds the key in progress gets 409 with ``retry_after_seconds`` (the SDK
  waits and retries); once the claim is ``stale_after`` old and not applied, the retry takes
  it over and runs the request (the first one, if it still runs, can no longer commit);
- a retry that finds the claim applied without a response (the replica died between its
  commit and its answer) gets :class:`Applied`, from which the middleware rebuilds the
  answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from artifact_hub.core.errors import ConflictError, IdempotencyInProgressError
from artifact_hub.ports.idempotency import IdempotencyKeys, KeyRecord
from artifact_hub.ports.transactions import Transaction, Transactions, WriteFence

__all__ = [
    "KEY_LIFETIME",
    "STALE_AFTER",
    "Applied",
    "IdempotencyInProgressError",
    "IdempotencyStore",
    "StoredResponse",
]

KEY_LIFETIME = timedelta(hours=24)
STALE_AFTER = timedelta(seconds=10)
"""How long a claim may stay in progress, unapplied, before a retry takes it over."""


@dataclass(frozen=True)
class StoredResponse:
    """A response kept for an idempotency key."""

    status: int
    body: str


@dataclass(frozen=True)
class Applied:
    """The first request with the key committed its write, but its response was not kept."""

    artifact_id: str | None
    """The artifact its write was about, when it was one."""


class IdempotencyStore:
    """Idempotency keys: claim, replay, complete, release and purge them.

    Args:
        db: The index database's transactions.
        keys: The ``idempotency_keys`` rows (read and written in ``db``'s transactions).
        lifetime: How long a key is remembered.
        stale_after: How long a claim stays in progress before a retry may take it over.
    """

    def __init__(
        self,
        db: Transactions,
        keys: IdempotencyKeys,
        *,
        lifetime: timedelta = KEY_LIFETIME,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.db = db
        self.keys = keys
        self.lifetime = lifetime
        self.stale_after = stale_after

    async def begin(
        self, tenant_id: str, key: str, request_sha256: str, *, now: datetime | None = None
    ) -> StoredResponse | Applied | None:
        """Claim the key for a request (at ``now``), or find the response it already got.

        Returns:
            None when the key is new or was taken over (now claimed at ``now``: run the
            request under :meth:`fence`, then :meth:`complete` or :meth:`release`), else the
            stored response to send again, or :class:`Applied` when the first request
            committed but its response was lost.

        Raises:
            ConflictError: The key was used with a different request.
            IdempotencyInProgressError: The first request with it is still running (or its
                replica died less than ``stale_after`` ago): retry after the time it says.
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
            elif (
                row is not None
                and row.status is None
                and row.body is None
                and row.request_sha256 == request_sha256
                and row.created_at <= moment - self.stale_after
                and await self.keys.take_over(conn, tenant_id, key, row.created_at, moment)
            ):
                # In progress for too long and never applied: its replica died, or it is so
                # slow that its client gave up. The fence keeps it from committing now.
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
            if row.body is not None:
                return Applied(_marked_artifact(row.body))
            wait = (row.created_at + self.stale_after - moment).total_seconds()
            raise _in_progress(key, max(0.2, wait))
        return StoredResponse(status=row.status, body=row.body or "")

    def fence(self, tenant_id: str, key: str, claimed_at: datetime) -> WriteFence:
        """The write fence of the request that claimed ``key`` at ``claimed_at``.

        Run in each of its writes' transactions: marks the claim applied (with the artifact
        the write was about), or raises ``ConflictError`` when a retry took the key over,
        which rolls that write back.
        """

        async def fence(conn: Transaction, result: Any) -> None:
            artifact_id = getattr(result, "artifact_id", None)
            marker = json.dumps(
                {
                    "applied": True,
                    "artifact_id": artifact_id if isinstance(artifact_id, str) else None,
                }
            )
            if not await self.keys.mark_applied(conn, tenant_id, key, claimed_at, marker):
                raise ConflictError(
                    "a retry with this Idempotency-Key took the request over; it runs there",
                    idempotency_key=key,
                )

        return fence

    async def complete(
        self,
        tenant_id: str,
        key: str,
        status: int,
        body: str,
        claimed_at: datetime | None = None,
    ) -> None:
        """Keep the response of the request that claimed the key (at ``claimed_at``)."""
        await self.db.write(
            lambda conn: self.keys.complete(conn, tenant_id, key, status, body, claimed_at)
        )

    async def release(self, tenant_id: str, key: str, claimed_at: datetime | None = None) -> None:
        """Forget a claimed key (the request failed in a way a retry may fix).

        With ``claimed_at``, only that claim: a key a retry took over stays with the retry.
        """
        await self.db.write(lambda conn: self.keys.delete(conn, tenant_id, key, claimed_at))

    async def purge(self, *, now: datetime | None = None) -> int:
        """Drop keys older than the lifetime; returns how many."""
        cutoff = (now or datetime.now(UTC)) - self.lifetime
        async with self.db.begin() as conn:
            return await self.keys.purge(conn, cutoff)


def _in_progress(key: str, retry_after: float = 1.0) -> IdempotencyInProgressError:
    return IdempotencyInProgressError(
        "a request with this Idempotency-Key is still in progress; retry it later",
        retry_after_seconds=round(retry_after, 1),
        idempotency_key=key,
    )


def _marked_artifact(marker: str) -> str | None:
    try:
        value = json.loads(marker).get("artifact_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
