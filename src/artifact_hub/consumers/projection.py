"""The index consumer: applies events from the topics to the index, exactly once in effect.

Transport-neutral: the FastStream subscriber (Kafka) and the in-process bus both call
:meth:`IndexConsumer.handle`. Events about one artifact travel on several topics, so one may
arrive before its predecessor. Such an event is parked in ``deferred_events`` (durably, so its
offset can be committed and the partition moves on) and applied in the same transaction as the
event it waited for. One that still waits after ``max_wait`` goes to the dead-letter topic, as
does anything that can never apply, each with its reason (``<code>: <detail>``, codes in
:class:`~artifact_hub.consumers.validation.RejectReason`).

With a ``validator`` (consumer processes on Kafka), every record is checked before it touches
the index: the hub's own events by their signature, agents' events (message-bus ingestion) in
full; see :mod:`artifact_hub.consumers.validation`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.bus.cloudevents import KafkaRecord, decode
from artifact_hub.consumers.validation import (
    IngestRejectedError,
    IngestValidator,
    RejectReason,
    decode_reason,
)
from artifact_hub.errors import EventNotReadyError, EventRejectedError
from artifact_hub.index import tables as t
from artifact_hub.index.batch_projector import (
    BatchProjection,
    executemany,
    ids_param,
    in_ids,
    lock_artifacts,
    processed_ids,
)
from artifact_hub.index.database import Database
from artifact_hub.index.projector import IndexProjector, lock_artifact
from artifact_hub.schemas.events import ArtifactEvent, HubEvent

__all__ = ["ConsumerStats", "DeadLetter", "IndexConsumer", "Outcome"]

log = logging.getLogger(__name__)

_PARKED_CACHE = 20_000
"""Parked events kept decoded in memory, at most."""

_PARK = insert(t.deferred_events)

_ParkedRow = Row[Any, Any, Any]
"""A parked event's ``event_id``, ``artifact_id`` and ``seq``."""

DeadLetter = Callable[[str, KafkaRecord, str], Awaitable[None]]
"""Sends ``(source_topic, record, reason)`` to the dead-letter topic."""


class Outcome(StrEnum):
    """What became of one delivered record."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"
    DEFERRED = "deferred"
    DEAD_LETTERED = "dead_lettered"


@dataclass
class ConsumerStats:
    """Counts since start. ``applied`` includes deferred events applied later."""

    received: int = 0
    applied: int = 0
    duplicate: int = 0
    deferred: int = 0
    dead_lettered: int = 0


class IndexConsumer:
    """Applies records to the index through :class:`IndexProjector`.

    Args:
        db: The index database.
        projector: The projection (one per process is enough).
        dead_letter: Where rejected records go; None logs and drops them (embedded mode,
            where every event was already validated by the write path).
        max_wait: How long an early event may wait for its predecessor.
        validator: Checks each record before it is applied (None: every record is trusted,
            as in embedded mode, where only the hub's write path produces events).
        after_apply: Called with each event once its transaction committed (search indexing
            schedules a refresh of the artifact's search document); must not block.
    """

    def __init__(
        self,
        db: Database,
        *,
        projector: IndexProjector | None = None,
        dead_letter: DeadLetter | None = None,
        max_wait: timedelta = timedelta(minutes=5),
        validator: IngestValidator | None = None,
        after_apply: Callable[[HubEvent], None] | None = None,
    ) -> None:
        self.db = db
        self.after_apply = after_apply
        self.validator = validator
        self.projector = projector or IndexProjector()
        self.dead_letter = dead_letter
        self.max_wait = max_wait
        self.stats = ConsumerStats()
        # Events this consumer parked, decoded: released in a later batch without decoding
        # their record again (bounded; a miss decodes).
        self._parked_events: OrderedDict[str, HubEvent] = OrderedDict()

    async def handle(self, topic: str, record: KafkaRecord) -> Outcome:
        """Decode and apply one record (or park it until its predecessor arrives).

        Database errors propagate, so the transport redelivers the record later.
        """
        self.stats.received += 1
        decoded = await self._decode(topic, record)
        if isinstance(decoded, Outcome):
            return decoded
        return await self._apply_one(topic, record, decoded)

    async def handle_batch(self, records: Sequence[tuple[str, KafkaRecord]]) -> list[Outcome]:
        """Apply a batch of records (one poll of the subscriber) in one transaction.

        The outcome is the same as :meth:`handle` on each record in turn, with fewer commits:
        events of one artifact are put in ``seq`` order inside the batch (the topics carry
        them at their own pace, so a version often comes in the same poll as its create, but
        first); those whose predecessor is neither in the index nor earlier in the batch are
        parked in the same transaction; rejected records go to the dead-letter topic one by one.
        When the transaction fails on an event (a conflict), the batch is applied one record at
        a time instead, so the other records still apply. Database errors propagate: the
        transport redelivers the whole batch, and the idempotent apply skips what is done.

        Records whose event id (the ``ce_id`` header) is already applied are told apart first,
        with one query for the whole batch, before anything is decoded or verified: in
        distributed mode the hub's write path applied its own events already. With a
        validator, only the hub's own events (``ce_source``) are skipped so; an agent's event
        is still checked (the same id on a different event is dead-lettered).

        The transaction is set-based (:class:`~artifact_hub.index.batch_projector.BatchProjection`):
        a few statements per table for the whole batch, not per event.

        Returns:
            One outcome per record, in the order given.
        """
        outcomes: list[Outcome | None] = [None] * len(records)
        self.stats.received += len(records)
        ready: list[tuple[int, str, KafkaRecord, HubEvent]] = []
        early: list[tuple[tuple[int, str, KafkaRecord, HubEvent], str]] = []
        applied = 0
        done: dict[int, Outcome] = {}
        try:
            if self.validator is not None:
                # Checked outside the transaction: a check may take a while (blob hashing).
                async with self.db.connect() as conn:
                    candidates, known = await self._already_applied(conn, records)
                ready = await self._decode_batch(records, outcomes, known)
                if ready:
                    async with self.db.begin() as conn:
                        early, applied, done = await self._apply_together(conn, ready, set())
            else:
                async with self.db.begin() as conn:
                    candidates, known = await self._already_applied(conn, records)
                    ready = await self._decode_batch(records, outcomes, known)
                    # Read in this transaction: not applied (a concurrent apply before the
                    # locks shows as a conflict, and the batch goes one record at a time).
                    fresh = {i for n, i in candidates.items() if n not in known}
                    if ready:
                        early, applied, done = await self._apply_together(conn, ready, fresh)
        except (EventNotReadyError, EventRejectedError):
            # Rolled back: one at a time, so that only the offending record is set aside.
            for index, topic, record, event in ready:
                outcomes[index] = await self._apply_one(topic, record, event)
        else:
            self.stats.applied += applied
            for index, outcome in done.items():
                if outcome is Outcome.DUPLICATE:
                    self.stats.duplicate += 1
                outcomes[index] = outcome
            if self.after_apply is not None:
                for index, _, _, event in ready:
                    if done.get(index) is Outcome.APPLIED:
                        self.after_apply(event)
            self.stats.deferred += len(early)
            for (index, _, _, _), _ in early:
                outcomes[index] = Outcome.DEFERRED
        return [outcome or Outcome.DUPLICATE for outcome in outcomes]

    async def _decode_batch(
        self,
        records: Sequence[tuple[str, KafkaRecord]],
        outcomes: list[Outcome | None],
        known: set[int],
    ) -> list[tuple[int, str, KafkaRecord, HubEvent]]:
        """Decode (and check) the records not ``known`` as applied, in each artifact's order."""
        ready: list[tuple[int, str, KafkaRecord, HubEvent]] = []
        trusted = self.validator is None
        for index, (topic, record) in enumerate(records):
            if index in known:
                self.stats.duplicate += 1
                outcomes[index] = Outcome.DUPLICATE
                continue
            if trusted:
                # :meth:`_decode` without a validator, minus a coroutine per record.
                try:
                    event = decode(record.value, record.headers)
                except EventRejectedError as error:
                    outcomes[index] = await self._reject(topic, record, decode_reason(error))
                    continue
                ready.append((index, topic, record, event))
                continue
            decoded = await self._decode(topic, record)
            if isinstance(decoded, Outcome):
                outcomes[index] = decoded
            else:
                ready.append((index, topic, record, decoded))
        return _in_seq_order(ready)

    async def _already_applied(
        self, conn: AsyncConnection, records: Sequence[tuple[str, KafkaRecord]]
    ) -> tuple[dict[int, str], set[int]]:
        """The records' event ids read from ``ce_id``, and the positions of those applied.

        One query. Binary-mode records only (their ``ce_id`` is the event id); with a
        validator, only those that claim the hub's source (an agent's reuse of an id must be
        dead-lettered, which takes its decoded payload).
        """
        hub_source = None if self.validator is None else self.validator.hub_source
        candidates: dict[int, str] = {}
        for index, (_, record) in enumerate(records):
            headers = record.headers
            event_id = headers.get("ce_id")
            if not event_id or "ce_type" not in headers:
                continue
            if hub_source is not None and headers.get("ce_source") != hub_source:
                continue
            candidates[index] = event_id
        if not candidates:
            return candidates, set()
        applied = await processed_ids(conn, candidates.values())
        return candidates, {index for index, event_id in candidates.items() if event_id in applied}

    async def _apply_together(
        self,
        conn: AsyncConnection,
        ready: Sequence[tuple[int, str, KafkaRecord, HubEvent]],
        fresh: set[str],
    ) -> tuple[list[tuple[tuple[int, str, KafkaRecord, HubEvent], str]], int, dict[int, Outcome]]:
        """Apply ``ready`` in one transaction; return (early ones, applied count, outcomes).

        ``fresh``: event ids already found not applied in this transaction (not read again).
        """
        ids = sorted({e.artifact_id for _, _, _, e in ready if isinstance(e, ArtifactEvent)})
        # Locks in one order (sorted): another member may hold the same artifacts, whose
        # events travel on topics assigned to it.
        await lock_artifacts(conn, ids)
        parked = await self._parked(conn, ids)
        batch = BatchProjection(self.projector)
        await batch.load(
            conn,
            [event for _, _, _, event in ready],
            [row.event_id for rows in parked.values() for row in rows.values()],
            fresh=fresh,
        )
        parked_ids = {row.event_id for rows in parked.values() for row in rows.values()}
        released_ids: list[str] = []
        early: list[tuple[tuple[int, str, KafkaRecord, HubEvent], str]] = []
        done: dict[int, Outcome] = {}
        applied = 0
        for item in ready:
            index, _, _, event = item
            if isinstance(event, ArtifactEvent):
                current = batch.revision(event.artifact_id)
                if event.seq > (current or 0) + 1:
                    # The projector's own words for it (see IndexProjector._advance).
                    early.append(
                        (
                            item,
                            f"{event.type} for {event.artifact_id} arrived before artifact.created"
                            if current is None
                            else f"{event.type} seq {event.seq} for {event.artifact_id} waits "
                            f"for seq {current + 1}",
                        )
                    )
                    continue
            fast = batch.apply_fast(event)  # batch.apply, without a coroutine per event
            if not (fast if fast is not None else await batch.apply_slow(conn, event)):
                done[index] = Outcome.DUPLICATE
                continue
            if self.validator is not None:
                await self.validator.record_applied(conn, event)
            applied += 1
            done[index] = Outcome.APPLIED
            if isinstance(event, ArtifactEvent) and event.artifact_id in parked:
                applied += await self._release_parked(
                    conn, batch, event.artifact_id, parked[event.artifact_id], released_ids
                )
        await batch.finish(conn)
        if released_ids:
            await conn.execute(
                delete(t.deferred_events).where(in_ids(conn, t.deferred_events.c.event_id)),
                {"ids": ids_param(conn, released_ids)},
            )
        await self._park(conn, early, parked_ids)
        return early, applied, done

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

    async def _decode(self, topic: str, record: KafkaRecord) -> HubEvent | Outcome:
        """The record's event, or what became of a record that is not one to apply."""
        if self.validator is not None:
            try:
                verdict = await self.validator.check(topic, record)
            except IngestRejectedError as error:
                return await self._reject(topic, record, error.header)
            if verdict.duplicate:
                self.stats.duplicate += 1
                return Outcome.DUPLICATE
            return verdict.event
        try:
            return decode(record.value, record.headers)
        except EventRejectedError as error:
            return await self._reject(topic, record, decode_reason(error))

    async def _apply_one(self, topic: str, record: KafkaRecord, event: HubEvent) -> Outcome:
        try:
            async with self.db.begin() as conn:
                applied = await self.projector.apply(conn, event)
                if applied:
                    if self.validator is not None:
                        await self.validator.record_applied(conn, event)
                    self.stats.applied += 1
                    if isinstance(event, ArtifactEvent):
                        self.stats.applied += await self._release(
                            conn, event.artifact_id, event.seq
                        )
        except EventNotReadyError as error:
            await self._defer(topic, record, event, error.message)
            return Outcome.DEFERRED
        except EventRejectedError as error:
            return await self._reject(topic, record, f"{RejectReason.CONFLICT}: {error.message}")
        if applied:
            if self.after_apply is not None:
                self.after_apply(event)
            return Outcome.APPLIED
        self.stats.duplicate += 1
        return Outcome.DUPLICATE

    async def handle_inprocess(self, topic: str, record: KafkaRecord) -> None:
        """The in-process bus's subscriber signature."""
        await self.handle(topic, record)

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


def _in_seq_order(
    items: list[tuple[int, str, KafkaRecord, HubEvent]],
) -> list[tuple[int, str, KafkaRecord, HubEvent]]:
    """``items`` with each artifact's events in ``seq`` order, in the places they held.

    Only the events of one artifact trade places; everything else keeps its position.
    """
    last: dict[str, int] = {}  # artifact -> the seq of its latest event so far
    places: dict[str, list[int]] | None = None
    for _, _, _, event in items:
        if isinstance(event, ArtifactEvent):
            artifact_id = event.artifact_id
            seq = event.seq
            before = last.get(artifact_id)
            if before is not None and seq < before and places is None:
                places = {}  # out of order: collect every artifact's places (below)
            last[artifact_id] = seq if before is None or seq > before else before
    if places is None:
        return items  # the common case: every artifact's events already in seq order
    for position, (_, _, _, event) in enumerate(items):
        if isinstance(event, ArtifactEvent):
            places.setdefault(event.artifact_id, []).append(position)
    ordered = list(items)
    for positions in places.values():
        if len(positions) > 1:
            events = sorted((items[p] for p in positions), key=lambda item: _seq(item[3]))
            for position, item in zip(positions, events, strict=True):
                ordered[position] = item
    return ordered


def _seq(event: HubEvent) -> int:
    return event.seq if isinstance(event, ArtifactEvent) else 0
