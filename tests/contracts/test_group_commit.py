"""Group commit (``Database.write``) on SQLite and PostgreSQL: shared commits, isolated failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.core.errors import ConflictError


def _key(tenant: str, key: str) -> dict[str, object]:
    return {
        "tenant_id": tenant,
        "key": key,
        "request_sha256": "0" * 64,
        "created_at": datetime.now(UTC),
    }


async def _count(db: Database, tenant: str) -> int:
    async with db.connect() as conn:
        value = await conn.scalar(
            select(func.count())
            .select_from(t.idempotency_keys)
            .where(t.idempotency_keys.c.tenant_id == tenant)
        )
    return int(value or 0)


async def test_concurrent_writes_share_commits_and_all_land(database: Database) -> None:
    commits = 0

    def count(_: object) -> None:
        nonlocal commits
        commits += 1

    event.listen(database.engine.sync_engine, "commit", count)
    try:

        async def one(i: int) -> int:
            async def work(conn: AsyncConnection) -> int:
                await conn.execute(insert(t.idempotency_keys).values(_key("gc", f"k{i}")))
                return i

            return await database.write(work)

        results = await asyncio.gather(*(one(i) for i in range(100)))
    finally:
        event.remove(database.engine.sync_engine, "commit", count)
    assert results == list(range(100))
    assert await _count(database, "gc") == 100
    # 100 writers arriving together are committed in far fewer transactions.
    assert 1 <= commits < 50, commits


async def test_a_failing_write_is_rolled_back_alone(database: Database) -> None:
    after: list[str] = []

    async def good(conn: AsyncConnection, key: str) -> str:
        await conn.execute(insert(t.idempotency_keys).values(_key("iso", key)))
        return key

    async def bad(conn: AsyncConnection) -> None:
        await conn.execute(insert(t.idempotency_keys).values(_key("iso", "half")))
        raise ConflictError("this write changes its mind")

    async def duplicate(conn: AsyncConnection) -> None:
        # A database error inside the group: the savepoint takes it back.
        await conn.execute(insert(t.idempotency_keys).values(_key("iso", "a")))

    outcomes = await asyncio.gather(
        database.write(lambda conn: good(conn, "a"), after=after.append),
        database.write(bad),
        database.write(lambda conn: good(conn, "b"), after=after.append),
        database.write(duplicate),
        database.write(lambda conn: good(conn, "c"), after=after.append),
        return_exceptions=True,
    )
    assert outcomes[0] == "a" and outcomes[2] == "b" and outcomes[4] == "c"
    assert isinstance(outcomes[1], ConflictError)
    assert isinstance(outcomes[3], Exception)  # the unique key: an IntegrityError
    assert sorted(after) == ["a", "b", "c"]  # post-commit callbacks of the committed ones only
    async with database.connect() as conn:
        keys = set(
            await conn.scalars(
                select(t.idempotency_keys.c.key).where(t.idempotency_keys.c.tenant_id == "iso")
            )
        )
    assert keys == {"a", "b", "c"}  # nothing of the failed writes


async def test_a_lone_write_that_fails_raises_its_own_error(database: Database) -> None:
    async def bad(conn: AsyncConnection) -> None:
        await conn.execute(insert(t.idempotency_keys).values(_key("lone", "x")))
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await database.write(bad)
    assert await _count(database, "lone") == 0


async def test_a_write_transaction_inside_another_fails_at_once(tmp_path: Path) -> None:
    # SQLite only: it alone serializes this process's writers (on an asyncio lock), where a
    # nested write would wait for itself.
    database = Database(f"sqlite:///{tmp_path / 'nested.db'}")
    await database.migrate()

    async def nested(conn: AsyncConnection) -> None:
        async with database.begin():
            pass

    try:
        with pytest.raises(RuntimeError, match="inside another"):
            await asyncio.wait_for(database.write(nested), timeout=10)
    finally:
        await database.dispose()
