"""Replay of read events into the target index: batched through the consumers' projection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.rebuild_target import applied_and_waiting, in_log
from artifact_hub.consumers.projection import IndexConsumer, Outcome
from artifact_hub.consumers.rebuild.report import Progress, RebuildReport
from artifact_hub.consumers.validation import IngestRejectedError, IngestValidator
from artifact_hub.core.errors import (
    EventNotReadyError,
    EventRejectedError,
)
from artifact_hub.schemas.cloudevents import KafkaRecord, decode
from artifact_hub.schemas.events import ArtifactEvent, EventBase, HubEvent


@dataclass(frozen=True, slots=True)
class _Item:
    topic: str
    record: KafkaRecord
    event: HubEvent | None = None


class _Replay:
    """Applies events in the order given, up to ``batch_size`` per transaction.

    Runs of events that can go together (decoded; with a validator, the hub's own signed
    events) are applied in one transaction. A run fails as a whole when one of its events is
    early or contradicts the index: it is then replayed one event at a time through
    ``IndexConsumer.handle``, which parks or rejects. So are agents' events (checked one at a
    time, as the live consumers check them), records that do not decode, and from the moment
    one of its events is parked, every event of that artifact: its predecessor's transaction
    then releases what waits for it.
    """

    def __init__(
        self,
        db: Database,
        consumer: IndexConsumer,
        report: RebuildReport,
        batch_size: int,
        progress: Progress | None,
    ) -> None:
        self.db = db
        self.consumer = consumer
        self.report = report
        self.batch_size = max(1, batch_size)
        self.progress = progress
        self.parked: set[str] = set()
        self.pending: list[_Item] = []

    async def add(self, topic: str, record: KafkaRecord, event: HubEvent | None = None) -> None:
        self.pending.append(_Item(topic, record, event))
        if len(self.pending) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        batch, self.pending = self.pending, []
        run: list[tuple[_Item, HubEvent]] = []
        for item in batch:
            event = await self._batchable(item)
            if event is not None:
                run.append((item, event))
                continue
            await self._apply_run(run)
            run = []
            await self._one(item)
        await self._apply_run(run)
        if batch and self.progress is not None:
            self.progress(self.report)

    async def _batchable(self, item: _Item) -> HubEvent | None:
        """The item's event if it may be applied in a run, else None."""
        event = item.event
        validator = self.consumer.validator
        if validator is not None:
            try:
                verdict = await validator.check(item.topic, item.record)
            except IngestRejectedError:
                return None
            if not verdict.trusted or verdict.duplicate:
                return None
            event = verdict.event
        elif event is None:
            try:
                event = decode(item.record.value, item.record.headers)
            except EventRejectedError:
                return None
        if isinstance(event, ArtifactEvent) and event.artifact_id in self.parked:
            return None
        return event

    async def _apply_run(self, run: Sequence[tuple[_Item, HubEvent]]) -> None:
        if not run:
            return
        validator = self.consumer.validator
        try:
            async with self.db.begin() as conn:
                for _, event in run:
                    if await self.consumer.projector.apply(conn, event) and validator:
                        await validator.record_applied(conn, event)
        except (EventNotReadyError, EventRejectedError):
            for item, _ in run:  # rolled back: one at a time, parking what is early
                await self._one(item)

    async def _one(self, item: _Item) -> None:
        outcome = await self.consumer.handle(item.topic, item.record)
        if outcome is Outcome.DEFERRED:  # only artifact events wait; their key is their id
            event = item.event
            self.parked.add(
                event.artifact_id if isinstance(event, ArtifactEvent) else item.record.key
            )

    async def finish(self) -> None:
        await self.flush()
        await self.consumer.retry_deferred()
        self.report.applied, self.report.waiting = await applied_and_waiting(self.db)
        self.report.parked = self.consumer.stats.deferred
        if self.progress is not None:
            self.progress(self.report)


class _RebuildValidator(IngestValidator):
    """The live consumers' checks, for a rebuild that may run in place.

    An agent's accepted event joins the hub's log (the outbox) when it is applied; rebuilt in
    place, the target's log has it already.
    """

    async def record_applied(self, conn: AsyncConnection, event: EventBase) -> None:
        """Add the event to the target's log unless it is there."""
        if not await in_log(conn, event.event_id):
            await super().record_applied(conn, event)
