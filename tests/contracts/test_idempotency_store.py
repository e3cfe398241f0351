"""IdempotencyStore on SQLite and PostgreSQL: claim, replay, conflict, expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.stores.idempotency import SqlIdempotencyKeys
from artifact_hub.core.errors import ConflictError
from artifact_hub.service.idempotency import IdempotencyStore


async def test_claim_replay_conflict_and_expiry(database: Database) -> None:
    store = IdempotencyStore(database, SqlIdempotencyKeys(), lifetime=timedelta(hours=1))
    assert await store.begin("t1", "k", "a" * 64) is None  # claimed
    with pytest.raises(ConflictError, match="still in progress"):
        await store.begin("t1", "k", "a" * 64)
    await store.complete("t1", "k", 201, '{"id": 1}')
    stored = await store.begin("t1", "k", "a" * 64)
    assert stored is not None and (stored.status, stored.body) == (201, '{"id": 1}')
    with pytest.raises(ConflictError, match="different request"):
        await store.begin("t1", "k", "b" * 64)
    assert await store.begin("t2", "k", "b" * 64) is None  # keys are per tenant
    # Past its lifetime the key is free again, for any request.
    later = datetime.now(UTC) + timedelta(hours=2)
    assert await store.begin("t1", "k", "c" * 64, now=later) is None
    await store.release("t1", "k")
    assert await store.begin("t1", "k", "d" * 64) is None


async def test_concurrent_claims_of_one_key_let_exactly_one_run(database: Database) -> None:
    store = IdempotencyStore(database, SqlIdempotencyKeys())
    outcomes = await asyncio.gather(
        *(store.begin("t", "same", "e" * 64) for _ in range(10)), return_exceptions=True
    )
    assert sum(outcome is None for outcome in outcomes) == 1
    assert all(isinstance(o, ConflictError) for o in outcomes if o is not None)
