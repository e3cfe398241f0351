"""Connections to the index database: SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg).

Writes on SQLite take the database's write lock when they begin (``BEGIN IMMEDIATE``), so two
writers wait for each other instead of failing on a stale snapshot; reads use a second engine
whose transactions never take that lock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["Database", "normalize_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str | URL) -> URL:
    """Pick the async driver: ``sqlite://`` to aiosqlite, ``postgres(ql)://`` to asyncpg."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.get_driver_name() != "aiosqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend == "postgresql" and parsed.get_driver_name() != "asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """The index's engines and transactions.

    Args:
        url: A SQLAlchemy URL; ``sqlite:///path.db`` or ``postgresql://...``.
        echo: Log SQL.
    """

    def __init__(self, url: str | URL, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite:
            database = self.url.database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # Pooled connections: opening one costs a thread and four PRAGMAs (~2-3 ms), which
            # bench/bench_core.py showed dominating small pushes. An in-memory database cannot
            # be shared between connections, so it gets none.
            pool: dict[str, Any] = (
                {"poolclass": NullPool}
                if database in (None, "", ":memory:")
                else {"pool_size": 5, "max_overflow": 5}
            )
            self.engine = create_async_engine(self.url, echo=echo, **pool)
            self.read_engine = create_async_engine(self.url, echo=echo, **pool)
            for engine in (self.engine, self.read_engine):
                event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            # Take control of BEGIN from the pysqlite layer so writes can say IMMEDIATE.
            event.listen(self.engine.sync_engine, "connect", _autocommit_driver)
            event.listen(self.engine.sync_engine, "begin", _begin_immediate)
        else:
            self.engine = create_async_engine(
                self.url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True
            )
            self.read_engine = self.engine

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (its implicit transaction is rolled back at the end)."""
        async with self.read_engine.connect() as conn:
            yield conn

    async def migrate(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision`` (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration for the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
