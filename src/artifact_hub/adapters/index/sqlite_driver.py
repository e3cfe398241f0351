"""SQLAlchemy's aiosqlite dialect, with one thread hop per statement instead of four.

aiosqlite runs each sqlite3 call in the connection's own thread; SQLAlchemy's adapter makes
four such calls per statement (open a cursor, execute, fetch, close), each a round trip
through a queue, a future and the event loop's self-pipe. A small push runs some thirty
statements, so those hops cost more CPU than SQLite itself (a profile of 300 pushes: 131
hops each). This cursor sends the whole statement (execute, fetch every row, read the
description, row count and last row id, close) to the thread as one function.

Everything else is the stock dialect (``sqlite+aiosqlite``): connections, transactions,
isolation levels, error translation. :func:`register` makes it ``sqlite+aiosqlite_onehop``,
the driver :class:`~artifact_hub.adapters.index.database.Database` picks for SQLite URLs. It uses
``aiosqlite.Connection._execute`` (queue a function for the connection's thread), which
aiosqlite's own methods are built on.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
    SQLiteDialect_aiosqlite,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

__all__ = ["DRIVER", "OneHopDialect", "register"]

DRIVER = "aiosqlite_onehop"


def _run(
    conn: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """In the connection's thread: the statement, its rows and its counts, cursor closed."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement is one call in the connection's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No driver cursor: _run opens and closes one in the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        return  # nothing is open on the driver's side

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._statement(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._statement(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _statement(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            result = await self._connection._execute(
                _run, self._connection._conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = result
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """The stock adapted connection, with :class:`OneHopCursor`."""

    __slots__ = ()
    _cursor_cls = OneHopCursor


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The stock DB-API module adapter, handing out :class:`OneHopConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneHopConnection  # same slots: only the cursor class differs
        return connection  # type: ignore[return-value]


class OneHopDialect(SQLiteDialect_aiosqlite):
    """``sqlite+aiosqlite_onehop``: the aiosqlite dialect with :class:`OneHopCursor`."""

    driver = DRIVER
    supports_statement_cache = True  # the stock dialect's compilation, unchanged

    @classmethod
    def import_dbapi(cls) -> OneHopDBAPI:
        """The DB-API adapter over aiosqlite and sqlite3."""
        import aiosqlite

        return OneHopDBAPI(aiosqlite, sqlite3)


def register() -> None:
    """Make ``sqlite+aiosqlite_onehop://`` URLs use :class:`OneHopDialect` (idempotent)."""
    registry.register(f"sqlite.{DRIVER}", __name__, "OneHopDialect")
