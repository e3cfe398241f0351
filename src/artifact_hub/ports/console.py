"""What the web console reads beyond the REST API's services: sessions, the event feed, keys.

The SQL implementation is :class:`~artifact_hub.adapters.index.stores.console.SqlConsoleStore`;
:class:`~artifact_hub.service.console_reads.ConsoleReads` is the use-case side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.artifacts import Session
from artifact_hub.schemas.identity import Caller

__all__ = ["ConsoleStore", "EventRow", "SessionPage"]


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event of the tenant's log (the outbox), as the live feed shows it."""

    id: int
    event_type: str
    key: str
    created_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class SessionPage:
    """A page of sessions, newest first, and the cursor of the next one."""

    items: list[Session]
    next_cursor: str | None


class ConsoleStore(Protocol):
    """Tenant-confined reads of sessions, events and API keys."""

    async def caller_for_key(self, conn: Transaction, key_id: str) -> Caller | None:
        """The caller of a live (not revoked) API key, or None."""
        ...

    async def sessions(
        self,
        conn: Transaction,
        tenant_id: str,
        *,
        state: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> SessionPage:
        """A page of the tenant's sessions, newest first."""
        ...

    async def events(
        self,
        conn: Transaction,
        caller: Caller,
        *,
        after_id: int | None = None,
        limit: int = 50,
    ) -> list[EventRow]:
        """The latest events of the caller's tenant it may read, newest first."""
        ...
