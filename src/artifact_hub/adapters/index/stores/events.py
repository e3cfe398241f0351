"""The SQL side of :class:`~artifact_hub.ports.events.EventLog`: projection, then outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index.outbox import Outbox
from artifact_hub.adapters.index.projector import IndexProjector
from artifact_hub.ports.events import EventLog
from artifact_hub.schemas.events import EventBase

__all__ = ["SqlEventLog"]


class SqlEventLog:
    """Applies the write path's events to the index and appends them to the outbox.

    Args:
        outbox: The outbox (its topic prefix decides where events go).
        projector: The projection (the one the consumers apply events with).
    """

    def __init__(
        self, outbox: Outbox | None = None, projector: IndexProjector | None = None
    ) -> None:
        self.outbox = outbox or Outbox()
        self.projector = projector or IndexProjector()

    async def record(self, conn: AsyncConnection, event: EventBase) -> None:
        """See :meth:`EventLog.record`."""
        # Fresh: the write path just made it, so the processed-events lookup is skipped.
        await self.projector.apply(conn, event, fresh=True)
        await self.outbox.append(conn, event)


if TYPE_CHECKING:
    _port: type[EventLog] = SqlEventLog
