"""An index database per test, on SQLite and on PostgreSQL: the index contract's two adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from artifact_hub.adapters.index import Database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'index.db'}")
        await db.migrate()
        yield db
        await db.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    name = server.create_database()
    db = Database(server.url(name))
    try:
        await db.migrate()
        yield db
    finally:
        await db.dispose()
        server.drop_database(name)
