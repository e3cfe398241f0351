"""The relay lease: one active outbox relay per database, the others stand by.

Two relays reading the same outbox would publish the same rows at the same time, twice and
interleaved. A relay publishes only while it holds the lease; another process's relay keeps
trying and takes over as soon as the holder stops or dies.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held by a dedicated
  connection. The server releases it when that session ends, so a relay killed with SIGKILL
  (or cut off from the database) gives the lease up without anyone cleaning up. The lease is
  confirmed on that connection before every batch: a relay whose session is gone stops
  publishing, since another one may have the lease by then.
- SQLite file: an exclusive ``flock`` on ``<database>.relay.lock`` next to the database. The
  kernel releases it when the process dies. SQLite databases are local files, so every relay
  that can open the database can see that lock.
- In-memory SQLite: one connection, one process: nothing to share, the lease is always held.

A relay that dies after publishing a batch but before marking it sent leaves those rows for
its successor, which publishes them again: a duplicate, never a loss (consumers skip it by the
event id).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.outbox import OUTBOX_CHANNEL

__all__ = [
    "FileRelayLease",
    "LocalRelayLease",
    "PostgresRelayLease",
    "RelayLease",
    "relay_lease",
]

log = logging.getLogger(__name__)

# The two-key form of PostgreSQL's advisory locks: a key space apart from the single bigint
# keys of ``lock_artifact``, so the lease never collides with an artifact's lock.
LEASE_LOCK_CLASS = 0x41484231  # "AHB1"
LEASE_LOCK_OUTBOX = 1


class RelayLease(abc.ABC):
    """Who may publish the outbox now.

    Args:
        retry_interval: Seconds between two attempts to take a lease someone else holds.
    """

    def __init__(self, retry_interval: float = 1.0) -> None:
        self.retry_interval = retry_interval
        self._next_attempt = 0.0
        # Called when another process commits outbox rows (PostgreSQL: LISTEN/NOTIFY);
        # the relay sets it to its notify().
        self.on_wake: Callable[[], None] | None = None

    @property
    @abc.abstractmethod
    def held(self) -> bool:
        """Whether this relay holds the lease (as of the last :meth:`acquire`)."""

    async def acquire(self) -> bool:
        """Take the lease, or confirm that it is still held, without waiting for it.

        A relay that holds the lease keeps it until :meth:`release`. A failed attempt is not
        repeated before ``retry_interval`` has passed (the relay wakes up on every commit).

        Returns:
            True while this relay may publish.
        """
        if self.held:
            if await self._confirm():
                return True
            log.warning("outbox relay: lost the relay lease")
        now = asyncio.get_running_loop().time()
        if now < self._next_attempt:
            return False
        if await self._try():
            log.info("outbox relay: took the relay lease (%s)", self)
            return True
        self._next_attempt = now + self.retry_interval
        return False

    @abc.abstractmethod
    async def _try(self) -> bool:
        """One attempt to take the lease."""

    async def _confirm(self) -> bool:
        """Whether the lease taken earlier is still held."""
        return True

    @abc.abstractmethod
    async def release(self) -> None:
        """Give the lease up (idempotent); another relay may take it at once."""


class LocalRelayLease(RelayLease):
    """Always held: for a database only this process can reach (in-memory SQLite)."""

    def __init__(self) -> None:
        super().__init__()
        self._held = False

    @property
    def held(self) -> bool:
        """Whether :meth:`acquire` was called since the last :meth:`release`."""
        return self._held

    async def _try(self) -> bool:
        self._held = True
        return True

    async def release(self) -> None:
        """Nothing to give back."""
        self._held = False

    def __str__(self) -> str:
        return "in-process"


class FileRelayLease(RelayLease):
    """An exclusive lock on a file (``flock``), released by the kernel when the process dies.

    Locks taken through two different opens of the file exclude each other even within one
    process, so two hubs in one process on one SQLite file also share one lease.

    Args:
        path: The lock file (created when missing, never removed).
        retry_interval: Seconds between attempts while another relay holds it.
    """

    def __init__(self, path: Path, retry_interval: float = 1.0) -> None:
        super().__init__(retry_interval)
        self.path = path
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        """Whether this relay holds the lock."""
        return self._file is not None

    async def _try(self) -> bool:
        handle = await asyncio.to_thread(self._take)
        self._file = handle
        return handle is not None

    def _take(self) -> IO[bytes] | None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+b")
        try:
            locked = _try_lock_file(handle)
        except BaseException:
            handle.close()
            raise
        if not locked:
            handle.close()
            return None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n".encode())  # who holds it, for people; not read back
        handle.flush()
        return handle

    async def release(self) -> None:
        """Unlock and close the file."""
        handle, self._file = self._file, None
        if handle is not None:
            with contextlib.suppress(OSError):
                _unlock_file(handle)
            handle.close()

    def __str__(self) -> str:
        return f"lock file {self.path}"


class PostgresRelayLease(RelayLease):
    """A session-level advisory lock held by a dedicated connection.

    Args:
        db: The PostgreSQL index database that holds the outbox.
        retry_interval: Seconds between attempts while another relay holds it.
        confirm_timeout: Seconds the check before each batch may take before the lease is
            considered lost.
    """

    def __init__(
        self, db: Database, retry_interval: float = 1.0, confirm_timeout: float = 10.0
    ) -> None:
        super().__init__(retry_interval)
        self.db = db
        self.confirm_timeout = confirm_timeout
        self._conn: AsyncConnection | None = None
        self._held = False
        self._listening = False

    @property
    def held(self) -> bool:
        """Whether this relay's session holds the lock."""
        return self._held

    async def _connection(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self.db.engine.connect()
            try:
                # Autocommit: the session holds the lock, not a transaction left open.
                await conn.execution_options(isolation_level="AUTOCOMMIT")
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _try(self) -> bool:
        try:
            conn = await self._connection()
            got = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:class_id, :object_id)"),
                {"class_id": LEASE_LOCK_CLASS, "object_id": LEASE_LOCK_OUTBOX},
            )
        except Exception as error:
            log.warning("outbox relay: cannot try the relay lease (%s)", error)
            await self._drop()
            return False
        self._held = bool(got)
        if self._held and not self._listening:
            await self._listen(conn)
        return self._held

    async def _listen(self, conn: AsyncConnection) -> None:
        """Wake the relay on every commit that appended to the outbox, in any process.

        The writers' transactions ``NOTIFY`` the channel (:meth:`Outbox.append`); PostgreSQL
        delivers it at their commit, here, on the lease's own connection. Without it, a row
        written by another API worker or replica waited for the next poll.
        """
        try:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection  # asyncpg's Connection
            await driver.add_listener(OUTBOX_CHANNEL, self._notified)
        except Exception as error:  # polling still works: say so and go on
            log.warning("outbox relay: cannot LISTEN for outbox commits (%s)", error)
            return
        self._listening = True

    def _notified(self, *_: object) -> None:
        if self.on_wake is not None:
            self.on_wake()

    async def _confirm(self) -> bool:
        # The lock lives as long as the session: a connection that still answers holds it.
        conn = self._conn
        try:
            if conn is None:
                raise ConnectionError("no lease connection")
            await asyncio.wait_for(conn.scalar(text("SELECT 1")), self.confirm_timeout)
        except Exception:
            await self._drop()
            return False
        return True

    async def _drop(self) -> None:
        """Forget the connection (and with it the lease), without waiting on a broken one."""
        conn, self._conn = self._conn, None
        self._held = False
        self._listening = False
        if conn is not None:
            await self._close(conn, invalidate=True)

    async def _close(self, conn: AsyncConnection, *, invalidate: bool) -> None:
        # Bounded: a relay cancelled in the middle of a query on this connection (shutdown)
        # leaves it busy, and a plain close would wait for that query forever. Invalidating
        # drops the socket, and the server ends the session and its lock.
        if not invalidate:
            try:
                await asyncio.wait_for(conn.close(), self.confirm_timeout)
                return
            except Exception:
                pass
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.invalidate(), self.confirm_timeout)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), self.confirm_timeout)

    async def release(self) -> None:
        """Unlock and close the dedicated connection."""
        conn = self._conn
        if conn is not None and self._held:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:class_id, :object_id)"),
                        {"class_id": LEASE_LOCK_CLASS, "object_id": LEASE_LOCK_OUTBOX},
                    ),
                    self.confirm_timeout,
                )
        self._conn = None
        self._held = False
        if conn is not None:
            await self._close(conn, invalidate=False)

    def __str__(self) -> str:
        return f"advisory lock ({LEASE_LOCK_CLASS}, {LEASE_LOCK_OUTBOX}) on {self.db.url.database}"


def relay_lease(db: Database, retry_interval: float = 1.0) -> RelayLease:
    """The lease that fits the database: advisory lock, lock file, or none needed."""
    if not db.is_sqlite:
        return PostgresRelayLease(db, retry_interval)
    database = db.url.database
    if database in (None, "", ":memory:"):
        return LocalRelayLease()
    return FileRelayLease(Path(f"{database}.relay.lock"), retry_interval)


if sys.platform == "win32":  # pragma: no cover - the tests run on Linux
    import msvcrt

    def _try_lock_file(handle: IO[bytes]) -> bool:
        handle.seek(0)
        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock_file(handle: IO[bytes]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock_file(handle: IO[bytes]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock_file(handle: IO[bytes]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
