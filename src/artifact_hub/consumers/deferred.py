"""Early events: parked in ``deferred_events``, released when their predecessor applies.

A base class of :class:`~artifact_hub.consumers.projection.IndexConsumer`; also dead-letters
what can never apply and expires what waited longer than ``max_wait``.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.batch_projector import (
    BatchProjection,
    executemany,
    ids_param,
    in_ids,
)
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.projector import IndexProjector, lock_artifact
from artifact_hub.consumers.outcomes import ConsumerStats, DeadLetter, Outcome
from artifact_hub.consumers.validation import (
    IngestValidator,
    RejectReason,
)
from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas.cloudevents import KafkaRecord, decode
from artifact_hub.schemas.events import ArtifactEvent, HubEvent

log = logging.getLogger("artifact_hub.consumers.projection")

_PARKED_CACHE = 20_000
"""Parked events kept decoded in memory, at most."""

_PARK = insert(t.deferred_events)

_ParkedRow = Row[Any, Any, Any]
"""A parked event's ``event_id``, ``artifact_id`` and ``seq``."""


class DeferredEvents:
    """Parking, release, expiry and dead-lettering of :class:`IndexConsumer`."""

    db: Database
    validator: IngestValidator | None
    projector: IndexProjector
    dead_letter: DeadLetter | None
    max_wait: timedelta
    stats: ConsumerStats
    _parked_events: OrderedDict[str, HubEvent]

    async def _parked(
        self, conn: AsyncConnection, artifact_ids: Sequence[str]
    ) -> dict[str, dict[int, _ParkedRow]]:
        """The parked events of these artifacts, by artifact and seq (one query).

        Their ids only (``event_id``, ``artifact_id``, ``seq``): a released event is usually
        still decoded in memory; :meth:`_parked_record` reads a record when it is not.
        """
        parked: dict[str, dict[int, _ParkedRow]] = {}
        if not artifact_ids:
            return parked
        d = t.deferred_events.c
        rows = await conn.execute(
            select(d.event_id, d.artifact_id, d.seq)
            .where(in_ids(conn, d.artifact_id))
            .order_by(d.event_id),
            {"ids": ids_param(conn, artifact_ids)},
        )
        for row in rows:
            parked.setdefault(row.artifact_id, {}).setdefault(int(row.seq), row)
        return parked

    async def _release_parked(
        self,
        conn: AsyncConnection,
        batch: BatchProjection,
        artifact_id: str,
        waiting: dict[int, _ParkedRow],
        released_ids: list[str],
    ) -> int:
        """Apply the parked events that follow the artifact's revision, in order.

        As :meth:`_release` does, on the batch's projection.
        """
        released = 0
        while True:
            revision = batch.revision(artifact_id)
            row = None if revision is None else waiting.pop(revision + 1, None)
            if row is None:
                return released
            released_ids.append(row.event_id)
            event = self._parked_events.pop(row.event_id, None)
            if event is None:
                _, record = await self._parked_record(conn, row.event_id)
                event = decode(record.value, record.headers)
            try:
                fast = batch.apply_fast(event)
                if fast is None:
                    await batch.flush(conn)
                    async with conn.begin_nested():  # a bad parked event must not undo this one
                        await batch.apply_slow(conn, event)
                if self.validator is not None:
                    await self.validator.record_applied(conn, event)
            except EventRejectedError as error:
                topic, record = await self._parked_record(conn, row.event_id)
                await self._reject(topic, record, f"{RejectReason.CONFLICT}: {error.message}")
                return released
            released += 1
            if fast is False or batch.revision(artifact_id) == revision:
                return released  # a duplicate: nothing moved (as _release would find)

    @staticmethod
    async def _parked_record(conn: AsyncConnection, event_id: str) -> tuple[str, KafkaRecord]:
        """The topic and record of one parked event."""
        d = t.deferred_events.c
        row = (
            await conn.execute(
                select(d.topic, d.key, d.value, d.headers).where(d.event_id == event_id)
            )
        ).one()
        return row.topic, KafkaRecord(key=row.key, value=row.value.encode(), headers=row.headers)

    async def _park(
        self,
        conn: AsyncConnection,
        early: Sequence[tuple[tuple[int, str, KafkaRecord, HubEvent], str]],
        parked: set[str],
    ) -> None:
        """Park early events inside the batch's transaction (their artifacts are locked).

        No release check is needed, unlike :meth:`_defer`: under the lock, each one's
        predecessor is known to be missing. ``parked``: the event ids already parked for
        these artifacts (read under the same locks).
        """
        if not early:
            return
        parked = set(parked)
        now = datetime.now(UTC)
        rows = []
        for (_, topic, record, event), reason in early:
            if event.event_id in parked or not isinstance(event, ArtifactEvent):
                continue
            parked.add(event.event_id)  # twice in one batch: once
            self._parked_events[event.event_id] = event
            if len(self._parked_events) > _PARKED_CACHE:
                self._parked_events.popitem(last=False)
            rows.append(
                {
                    "event_id": event.event_id,
                    "artifact_id": event.artifact_id,
                    "seq": event.seq,
                    "topic": topic,
                    "key": record.key,
                    "headers": record.headers,
                    "value": record.value.decode(),
                    "reason": reason,
                    "first_seen_at": now,
                }
            )
        await executemany(conn, _PARK, rows)

    async def pending(self) -> int:
        """How many early events wait for their predecessor."""
        async with self.db.connect() as conn:
            value = await conn.scalar(select(func.count()).select_from(t.deferred_events))
        return int(value or 0)

    async def expire_deferred(self, *, now: datetime | None = None) -> int:
        """Dead-letter the early events that waited longer than ``max_wait``; return how many."""
        await self.retry_deferred()
        cutoff = (now or datetime.now(UTC)) - self.max_wait
        d = t.deferred_events.c
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(select(t.deferred_events).where(d.first_seen_at <= cutoff))
            ).all()
        for row in rows:
            async with self.db.begin() as conn:
                gone = await conn.execute(
                    delete(t.deferred_events).where(d.event_id == row.event_id)
                )
            if gone.rowcount:
                record = KafkaRecord(key=row.key, value=row.value.encode(), headers=row.headers)
                await self._reject(
                    row.topic,
                    record,
                    f"{RejectReason.PREDECESSOR_MISSING}: predecessor never arrived: {row.reason}",
                )
        return len(rows)

    async def _release(self, conn: AsyncConnection, artifact_id: str, seq: int) -> int:
        """Apply the parked events that follow ``seq`` of the artifact, in order."""
        d = t.deferred_events.c
        released = 0
        while True:
            row = (
                await conn.execute(
                    select(t.deferred_events).where(
                        and_(d.artifact_id == artifact_id, d.seq == seq + 1)
                    )
                )
            ).first()
            if row is None:
                return released
            await conn.execute(delete(t.deferred_events).where(d.event_id == row.event_id))
            waiting = decode(row.value.encode(), row.headers)
            try:
                async with conn.begin_nested():  # a bad parked event must not undo this one
                    await self.projector.apply(conn, waiting)
                    if self.validator is not None:
                        await self.validator.record_applied(conn, waiting)
            except EventRejectedError as error:
                record = KafkaRecord(key=row.key, value=row.value.encode(), headers=row.headers)
                await self._reject(row.topic, record, f"{RejectReason.CONFLICT}: {error.message}")
                return released
            released += 1
            seq += 1

    async def _defer(self, topic: str, record: KafkaRecord, event: HubEvent, reason: str) -> None:
        if not isinstance(event, ArtifactEvent):  # pragma: no cover - only artifact events wait
            await self._reject(topic, record, reason)
            return
        async with self.db.begin() as conn:
            await lock_artifact(conn, event.artifact_id)
            exists = await conn.scalar(
                select(t.deferred_events.c.event_id).where(
                    t.deferred_events.c.event_id == event.event_id
                )
            )
            if exists is None:
                await conn.execute(
                    insert(t.deferred_events).values(
                        event_id=event.event_id,
                        artifact_id=event.artifact_id,
                        seq=event.seq,
                        topic=topic,
                        key=record.key,
                        headers=record.headers,
                        value=record.value.decode(),
                        reason=reason,
                        first_seen_at=datetime.now(UTC),
                    )
                )
            # The predecessor may have been applied while we were deciding: release now.
            revision = await conn.scalar(
                select(t.artifacts.c.revision).where(t.artifacts.c.artifact_id == event.artifact_id)
            )
            if revision is not None and revision + 1 == event.seq:
                self.stats.applied += await self._release(conn, event.artifact_id, revision)
        self.stats.deferred += 1

    async def retry_deferred(self) -> int:
        """Apply every parked event whose predecessor is now in the index; return how many.

        A safety net run periodically: normally the predecessor's own transaction releases
        the events waiting for it.
        """
        d = t.deferred_events.c
        async with self.db.connect() as conn:
            waiting = (await conn.execute(select(d.artifact_id).distinct())).scalars().all()
        released = 0
        for artifact_id in waiting:
            async with self.db.begin() as conn:
                await lock_artifact(conn, artifact_id)
                revision = await conn.scalar(
                    select(t.artifacts.c.revision).where(t.artifacts.c.artifact_id == artifact_id)
                )
                if revision is not None:
                    released += await self._release(conn, artifact_id, int(revision))
        self.stats.applied += released
        return released

    async def _reject(self, topic: str, record: KafkaRecord, reason: str) -> Outcome:
        self.stats.dead_lettered += 1
        if self.dead_letter is None:
            log.error("dropping event from %s: %s", topic, reason)
        else:
            await self.dead_letter(topic, record, reason)
        return Outcome.DEAD_LETTERED
