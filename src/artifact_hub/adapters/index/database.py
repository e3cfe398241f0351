"""Connections to the index database: SQLite (aiosqlite, WAL) or PostgreSQL (asyncpg).

Writes on SQLite take the database's write lock when they begin (``BEGIN IMMEDIATE``), so two
writers wait for each other instead of failing on a stale snapshot; reads use a second engine
whose transactions never take that lock. Inside one process the writers of a SQLite database
queue on an asyncio lock first: SQLite's own busy handler sleeps 1-100 ms between tries, which
under a few concurrent writers cost more than the writes themselves.

Small writes go through :meth:`Database.write`, which commits concurrent writers together
(group commit): each runs in its own savepoint of one shared transaction, so one that fails
is rolled back alone, and the group pays for one ``COMMIT`` (one WAL append on SQLite, one
fsync on PostgreSQL) instead of one each.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from artifact_hub.adapters.index.sqlite_driver import DRIVER
from artifact_hub.adapters.index.sqlite_driver import register as register_sqlite_driver
from artifact_hub.ports.transactions import WRITE_FENCE, Transactions, WriteFence

__all__ = ["MIGRATION_LOCK", "Database", "normalize_url"]

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
_T = TypeVar("_T")

GROUP_LIMIT = 256
"""Most writes committed together by :meth:`Database.write`."""

MIGRATION_LOCK = int.from_bytes(b"ahub-mig", "big")  # < 2**63: a bigint key
"""PostgreSQL advisory lock key of the schema's setup: :meth:`Database.migrate`, and the
pgvector extension (``index/pgvector.py``), which hubs starting at once would race to create."""


@dataclass(eq=False)
class _Queue:
    """The writes of one event loop waiting for their group, and its flushing task."""

    pending: list[_Write[Any]] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Write(Generic[_T]):
    """One caller's work waiting for a group commit."""

    work: Callable[[AsyncConnection], Awaitable[_T]]
    future: asyncio.Future[_T]
    after: Callable[[_T], None] | None = None
    fence: WriteFence | None = None
    result: Any = None
    error: BaseException | None = field(default=None)


def normalize_url(url: str | URL) -> URL:
    """Pick the async driver: ``sqlite://`` to aiosqlite, ``postgres(ql)://`` to asyncpg."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.get_driver_name() != DRIVER:
        # aiosqlite with one thread hop per statement (see index/sqlite_driver.py).
        register_sqlite_driver()
        parsed = parsed.set(drivername=f"sqlite+{DRIVER}")
    elif backend == "postgresql" and parsed.get_driver_name() != "asyncpg":
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The timeout first: switching a new file to WAL takes its lock, and processes starting
    # at once on one new database would otherwise fail at once ("database is locked").
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
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
        # Per event loop: a Database may serve several (a test client's portal thread).
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )
        self._serialize_writes = False
        self._write_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._lock_owner: asyncio.Task[Any] | None = None
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
            self._serialize_writes = True
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
        """A write transaction: committed when the block ends, rolled back on error.

        On SQLite the writers of this process take turns on an asyncio lock before SQLite's
        own lock. A write transaction must not open another one inside it (it would wait for
        itself): that raises ``RuntimeError`` at once instead of hanging.
        """
        if not self._serialize_writes:
            async with self.engine.begin() as conn:
                yield conn
            return
        task = asyncio.current_task()
        if task is not None and task is self._lock_owner:
            raise RuntimeError("a write transaction was opened inside another one")
        async with self._lock():
            self._lock_owner = task
            try:
                async with self.engine.begin() as conn:
                    yield conn
            finally:
                self._lock_owner = None

    def _lock(self) -> asyncio.Lock:
        # One lock per event loop: a Database may outlive the loop it was first used on (the
        # CLI runs several asyncio.run() calls on one).
        loop = asyncio.get_running_loop()
        if self._write_lock is None or self._lock_loop is not loop:
            self._write_lock, self._lock_loop = asyncio.Lock(), loop
        return self._write_lock

    async def write(
        self,
        work: Callable[[AsyncConnection], Awaitable[_T]],
        *,
        after: Callable[[_T], None] | None = None,
    ) -> _T:
        """Run ``work`` in a write transaction shared with concurrent writers (group commit).

        ``work`` runs in its own savepoint when others share the transaction: if it raises,
        only its changes are rolled back and its caller gets the error; the others commit.
        Its changes are visible to the writers after it in the same group, and to everyone
        once the group commits; this returns only then. ``after`` runs once the transaction
        committed, even when the caller was cancelled meanwhile (the work was done).

        Keep ``work`` short and free of other transactions: the group waits for it.
        """
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        # The fence is the caller's (a context variable): taken now, run in the flusher task.
        item: _Write[_T] = _Write(work, loop.create_future(), after, WRITE_FENCE.get())
        queue.pending.append(item)
        if queue.flusher is None:
            # A fresh context: the flusher (and what its callbacks start) must not inherit the
            # first writer's request context, its write fence in particular.
            queue.flusher = loop.create_task(
                self._flush(queue), name="artifact-hub-group-commit", context=contextvars.Context()
            )
        return await item.future

    async def _flush(self, queue: _Queue) -> None:
        """Commit what is pending, a group at a time, until nothing is."""
        pending = queue.pending
        try:
            while pending:
                group = [w for w in pending[:GROUP_LIMIT] if not w.future.cancelled()]
                del pending[:GROUP_LIMIT]
                if group:
                    await self._commit_group(group)
        finally:
            queue.flusher = None
            for item in pending:  # only when this task itself was cancelled
                if not item.future.done():
                    item.future.cancel()
            pending.clear()

    async def _commit_group(self, group: list[_Write[Any]]) -> None:
        alone = len(group) == 1
        try:
            async with self.begin() as conn:
                for item in group:
                    try:
                        if alone:
                            item.result = await _run(item, conn)
                        else:
                            async with conn.begin_nested():
                                item.result = await _run(item, conn)
                    except Exception as error:
                        if alone:
                            raise
                        item.error = error
        except BaseException as error:
            # The commit (or the only write) failed: nobody's changes were kept.
            for item in group:
                if not item.future.done():
                    item.future.set_exception(item.error or error)
            if not isinstance(error, Exception):
                raise
            return
        for item in group:
            if item.error is not None:
                if not item.future.done():
                    item.future.set_exception(item.error)
                continue
            if item.after is not None:
                try:
                    item.after(item.result)
                except Exception:
                    log.exception("group commit: a post-commit callback failed")
            if not item.future.done():
                item.future.set_result(item.result)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (its implicit transaction is rolled back at the end)."""
        async with self.read_engine.connect() as conn:
            yield conn

    async def migrate(self, revision: str = "head") -> None:
        """Apply the Alembic migrations up to ``revision`` (idempotent, safe to run at once).

        Several processes starting on one new database (``docker compose up``: the API, the
        consumers, the relay) would each create the same tables, and all but one fail on
        PostgreSQL's catalog (``pg_type_typname_nsp_index``). So the upgrade runs under a
        lock: on PostgreSQL a session advisory lock held by the migrating connection, on
        SQLite the database's write lock (``BEGIN IMMEDIATE``). Whoever comes next reads the
        version only once it holds the lock, finds it at ``revision`` and has nothing to do.
        """
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                async with conn.begin():  # BEGIN IMMEDIATE (see _begin_immediate)
                    await conn.run_sync(_upgrade, revision)
                return
            await _lock_migrations(conn)
            try:
                async with conn.begin():
                    await conn.run_sync(_upgrade, revision)
            finally:
                await _unlock_migrations(conn)

    async def dispose(self) -> None:
        """Close every pooled connection (after the writes still queued are committed)."""
        queue = self._queues.get(asyncio.get_running_loop())
        if queue is not None and queue.flusher is not None:
            await asyncio.wait({queue.flusher}, timeout=10)
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


async def _run(item: _Write[Any], conn: AsyncConnection) -> Any:
    """The work, then its fence in the same transaction (a fence that raises undoes it)."""
    result = await item.work(conn)
    if item.fence is not None:
        await item.fence(conn, result)
    return result


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration for the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def _lock_migrations(conn: AsyncConnection) -> None:
    """Take the migration lock on ``conn``'s session, waiting for another process's upgrade."""
    key = {"key": MIGRATION_LOCK}
    taken = await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), key)
    if not taken:
        log.info("waiting for another process to finish migrating the index database")
        await conn.execute(text("SELECT pg_advisory_lock(:key)"), key)
    await conn.commit()  # the lock is the session's: it outlives this transaction


async def _unlock_migrations(conn: AsyncConnection) -> None:
    """Release the migration lock; a connection that cannot say so is closed (which does)."""
    try:
        await conn.rollback()  # whatever a failed upgrade left open
        await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
        await conn.commit()
    except BaseException:
        # Back in the pool with the lock, it would hold every later start: drop it instead.
        await conn.invalidate()
        raise


def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


if TYPE_CHECKING:
    _port: type[Transactions] = Database  # mypy checks the database against the port
