"""The one-hop SQLite driver behaves as the stock aiosqlite dialect at the DB-API level."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.sqlite_driver import DRIVER


async def test_rows_counts_errors_and_transactions(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    assert db.url.drivername == f"sqlite+{DRIVER}"
    try:
        async with db.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
            one = await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
            assert one.lastrowid == 1 and one.rowcount == 1
            many = await conn.execute(
                text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}, {"v": "d"}]
            )
            assert many.rowcount == 3
            changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
            assert changed.rowcount == 2
        async with db.connect() as conn:
            rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            assert [tuple(row) for row in rows] == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
            assert list((await conn.execute(text("SELECT v FROM t WHERE id = 9"))).all()) == []
        with pytest.raises(IntegrityError):
            async with db.begin() as conn:
                await conn.execute(text("INSERT INTO t (v) VALUES ('z')"))
                await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        async with db.connect() as conn:  # the failed transaction left nothing
            assert await conn.scalar(text("SELECT count(*) FROM t")) == 4
    finally:
        await db.dispose()
