"""Recording an event: the one write the artifact use cases make to the index.

Every change the service layer makes is an event. Recording it applies it through the
projection the consumers use (so the index shows it at once: read-your-writes) and appends it
to the outbox (the relay publishes it afterwards), both in the caller's transaction: the two
commit together or not at all. The SQL implementation is
:class:`~artifact_hub.adapters.index.stores.events.SqlEventLog`.
"""

from __future__ import annotations

from typing import Protocol

from artifact_hub.ports.transactions import Transaction
from artifact_hub.schemas.events import EventBase

__all__ = ["EventLog"]


class EventLog(Protocol):
    """Applies an event just made by the write path and appends it to the outbox."""

    async def record(self, conn: Transaction, event: EventBase) -> None:
        """Apply ``event`` to the index and append it to the outbox, in ``conn``'s transaction.

        Raises:
            EventNotReadyError: Another writer advanced the artifact meanwhile (retry).
            EventRejectedError: The event contradicts the index (e.g. the id is taken).
        """
        ...
