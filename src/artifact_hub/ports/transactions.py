"""Units of work: the one port every service use case goes through to read or write.

The service layer opens a transaction, passes its handle to the stores it calls (so their
writes commit or roll back together, with the outbox row of the event they imply), and never
looks inside the handle: it is an ``AsyncConnection`` for the SQL adapter today, and could be
a session of another store tomorrow without a change above the ports.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from typing import Any, Protocol, TypeAlias, TypeVar

__all__ = ["WRITE_FENCE", "Transaction", "Transactions", "WriteFence"]

Transaction: TypeAlias = Any
"""An open transaction (or read connection), opaque above the adapters."""

_T = TypeVar("_T")

WriteFence: TypeAlias = Callable[[Transaction, Any], Awaitable[None]]
"""``fence(transaction, result)``: runs after a write's work, in the same transaction."""

WRITE_FENCE: ContextVar[WriteFence | None] = ContextVar("artifact_hub_write_fence", default=None)
"""The fence of the current request: every :meth:`Transactions.write` made while it is set
runs it after the work, in the work's transaction (savepoint), and a fence that raises rolls
the work back. The idempotency middleware sets it, so that a request whose key a retry took
over cannot commit (its retry runs instead), and a request that commits marks its key applied
in the same transaction."""


class Transactions(Protocol):
    """Opens read connections and write transactions on the index."""

    @property
    def dialect(self) -> str:
        """The SQL dialect underneath: ``sqlite`` or ``postgresql``."""
        ...

    def begin(self) -> AbstractAsyncContextManager[Transaction]:
        """A write transaction: committed when the block ends, rolled back on error."""
        ...

    def connect(self) -> AbstractAsyncContextManager[Transaction]:
        """A read connection (no transaction is committed)."""
        ...

    async def write(
        self,
        work: Callable[[Transaction], Awaitable[_T]],
        *,
        after: Callable[[_T], None] | None = None,
    ) -> _T:
        """Run ``work`` in a write transaction shared with concurrent writers (group commit).

        The caller's :data:`WRITE_FENCE`, if set, runs after ``work`` in its transaction.
        """
        ...
