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

from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.batch_projector import (
    BatchProjection,
    ids_param,
    in_ids,
    lock_artifacts,
)
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.projector import IndexProjector
from artifact_hub.consumers.applied import Applied, find_applied
from artifact_hub.consumers.deferred import DeferredEvents
from artifact_hub.consumers.outcomes import ConsumerStats, DeadLetter, Outcome
from artifact_hub.consumers.validation import (
    IngestRejectedError,
    IngestValidator,
    RejectReason,
    decode_reason,
)
from artifact_hub.core.errors import EventNotReadyError, EventRejectedError
from artifact_hub.schemas.cloudevents import KafkaRecord, decode
from artifact_hub.schemas.events import ArtifactEvent, HubEvent

__all__ = ["ConsumerStats", "DeadLetter", "IndexConsumer", "Outcome"]


class IndexConsumer(DeferredEvents):
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
        with one query for the whole batch, before anything is decoded or locked: in
        distributed mode the hub's write path applied its own events already. With a
        validator, only the hub's own events are dropped so, and only those the hub signed
        (see :mod:`artifact_hub.consumers.applied`); an agent's event is still checked in full
        (the same id on a different event is dead-lettered).

        The transaction is set-based
        (:class:`~artifact_hub.adapters.index.batch_projector.BatchProjection`): a few
        statements per table for the whole batch, not per event.

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
                    found = await self._already_applied(conn, records)
                ready = await self._decode_batch(records, outcomes, found)
                if ready:
                    async with self.db.begin() as conn:
                        early, applied, done = await self._apply_together(conn, ready, set())
            else:
                async with self.db.begin() as conn:
                    found = await self._already_applied(conn, records)
                    ready = await self._decode_batch(records, outcomes, found)
                    # Read in this transaction: not applied (a concurrent apply before the
                    # locks shows as a conflict, and the batch goes one record at a time).
                    fresh = {i for n, i in found.ids.items() if n not in found.again}
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
        found: Applied,
    ) -> list[tuple[int, str, KafkaRecord, HubEvent]]:
        """Decode (and check) the records not ``found`` applied, in each artifact's order."""
        ready: list[tuple[int, str, KafkaRecord, HubEvent]] = []
        trusted = self.validator is None
        known, reused = found.again, found.reused
        for index, (topic, record) in enumerate(records):
            if index in known:
                self.stats.duplicate += 1
                outcomes[index] = Outcome.DUPLICATE
                continue
            if reused and index in reused:
                outcomes[index] = await self._reject(topic, record, reused[index])
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
    ) -> Applied:
        """The records of the batch that are applied events again (one query)."""
        return await find_applied(conn, records, self.validator)

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
