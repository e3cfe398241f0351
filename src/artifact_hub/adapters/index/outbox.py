"""The transactional outbox: events appended in the writer's transaction, published later.

Rows are kept after they are sent: the outbox doubles as the hub's own event log, from which
an index can be rebuilt when the topics have been trimmed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.schemas.events import EventBase, HubEvent, parse_event

__all__ = ["OUTBOX_CHANNEL", "Outbox", "OutboxRow"]

OUTBOX_CHANNEL = "artifact_hub_outbox"
"""PostgreSQL channel notified by every transaction that appends to the outbox: the relay
holding the lease listens on it (``bus/lease.py``), so it publishes rows that other processes
committed at once instead of at its next poll."""

_NOTIFY = text(f"NOTIFY {OUTBOX_CHANNEL}")


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event waiting in (or sent from) the outbox."""

    id: int
    event_id: str
    event_type: str
    tenant_id: str
    topic: str
    key: str
    payload: str
    created_at: datetime
    sent_at: datetime | None

    def event(self) -> HubEvent:
        """The event model stored in this row."""
        return parse_event(self.payload)


class Outbox:
    """Appends to, reads from and marks the outbox table.

    Args:
        topic_prefix: Prepended to every event's topic (e.g. ``"prod."``).
    """

    def __init__(self, topic_prefix: str = "") -> None:
        self.topic_prefix = topic_prefix

    async def append(self, conn: AsyncConnection, event: EventBase) -> None:
        """Add the event in the caller's transaction."""
        await conn.execute(
            insert(t.outbox).values(
                event_id=event.event_id,
                event_type=event.type,
                tenant_id=event.tenant_id,
                topic=self.topic_prefix + event.topic,
                key=event.key,
                payload=event.model_dump_json(),
                created_at=datetime.now(UTC),
            )
        )
        if conn.dialect.name == "postgresql":
            # Delivered at commit (and once per transaction however many rows it appends).
            await conn.execute(_NOTIFY)

    async def pending(self, conn: AsyncConnection, limit: int = 100) -> list[OutboxRow]:
        """The oldest unsent rows, in the order they were written."""
        rows = (
            await conn.execute(
                select(t.outbox)
                .where(t.outbox.c.sent_at.is_(None))
                .order_by(t.outbox.c.id)
                .limit(limit)
            )
        ).all()
        return [OutboxRow(**row._mapping) for row in rows]

    async def mark_sent(self, conn: AsyncConnection, ids: Sequence[int]) -> None:
        """Mark rows as published."""
        if ids:
            await conn.execute(
                update(t.outbox).where(t.outbox.c.id.in_(ids)).values(sent_at=datetime.now(UTC))
            )

    async def count_pending(self, conn: AsyncConnection) -> int:
        """How many rows wait to be published."""
        value = await conn.scalar(
            select(func.count()).select_from(t.outbox).where(t.outbox.c.sent_at.is_(None))
        )
        return int(value or 0)

    async def log(
        self, conn: AsyncConnection, *, after_id: int = 0, batch: int = 500
    ) -> AsyncIterator[OutboxRow]:
        """Every row ever written, in order: the event log (for rebuilds)."""
        last = after_id
        while True:
            rows = (
                await conn.execute(
                    select(t.outbox)
                    .where(t.outbox.c.id > last)
                    .order_by(t.outbox.c.id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return
            for row in rows:
                yield OutboxRow(**row._mapping)
            last = rows[-1].id
