"""Rebuilding the index and access lists from the events (``artifact-hub index rebuild``).

Two sources, one projection:

- :func:`rebuild_from_topics` reads every artifact topic from the beginning up to the end
  offsets taken when it starts, without a consumer group (nothing is committed, the running
  consumers are not disturbed). Events of one artifact travel on several topics, so the
  partitions are merged by the events' ``ce_time``: the order they were written in, as far as
  the writers' clocks agree. What still arrives early is parked by :class:`IndexConsumer`
  until its predecessor comes, as in the live consumers.
- :func:`rebuild_from_log` reads the hub's own event log, the outbox table (rows are kept once
  sent, and events that agents published straight to the topics join it when the consumers
  accept them), in the order it was written: for when the topics have been trimmed.

Both apply the events with :class:`~artifact_hub.consumers.IndexConsumer`, the code the
consumers run, many events per transaction. A batch in which an event cannot be applied yet
(or at all) is rolled back and replayed one event at a time through
:meth:`IndexConsumer.handle`, which parks early events and releases them when their predecessor
is applied. Events that can never apply are reported, not dead-lettered (a rebuild publishes
nothing).

The target must hold no index yet (no artifacts, sessions, applied or parked events): with
``force`` those tables are emptied first. Tenants, API keys, links, uploads and the outbox are
kept, so an index can be rebuilt in place from its own database's log. A rebuild is not one
transaction: stop the API and the consumers of the target while it runs.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from artifact_hub.bus.cloudevents import KafkaRecord, decode, encode, header_map
from artifact_hub.consumers.app import ARTIFACT_TOPICS
from artifact_hub.consumers.projection import IndexConsumer, Outcome
from artifact_hub.consumers.validation import IngestRejectedError, IngestValidator
from artifact_hub.errors import (
    ConflictError,
    EventNotReadyError,
    EventRejectedError,
    NotFoundError,
)
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database, normalize_url
from artifact_hub.index.outbox import OutboxRow
from artifact_hub.schemas.events import ArtifactEvent, EventBase, HubEvent, parse_event
from artifact_hub.settings import HubSettings

__all__ = [
    "PROJECTION_TABLES",
    "RebuildReport",
    "RejectedEvent",
    "prepare_target",
    "rebuild_from_log",
    "rebuild_from_topics",
    "rebuild_index",
]

log = logging.getLogger(__name__)

PROJECTION_TABLES = (
    t.lineage_inputs,
    t.artifact_lineage,
    t.access_entries,
    t.artifact_tags,
    t.artifact_labels,
    t.artifact_versions,
    t.artifacts,
    t.sessions,
    t.deferred_events,
    t.processed_events,
    t.tenant_usage,
)
"""What the events build (and ``force`` empties): the index, the access lists, and the
consumers' bookkeeping of applied and parked events."""

ValidatorFactory = Callable[[Database], IngestValidator]
"""Makes the validator for the target database (see :func:`rebuild_from_topics`)."""

Progress = Callable[["RebuildReport"], None]


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event the rebuild could not apply (the live consumers dead-lettered it too)."""

    topic: str
    event_id: str | None
    reason: str


@dataclass
class RebuildReport:
    """What a rebuild did.

    Attributes:
        source: ``"topics"`` or ``"log"``.
        target: The target database (without its password).
        read: Records (or log rows) read.
        applied: Events in the rebuilt index (``processed_events``).
        parked: Deliveries that came before their predecessor and waited for it (applied
            once it came, unless counted in ``waiting``).
        waiting: Early events still parked at the end: their predecessor is not in the
            source (trimmed away, or never published). Consumers running on the target later
            apply them if it comes, or dead-letter them after their ``max_wait``.
        rejected: Events that can never apply, with the reason.
        seconds: How long it took.
    """

    source: str
    target: str
    read: int = 0
    applied: int = 0
    parked: int = 0
    waiting: int = 0
    rejected: list[RejectedEvent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Records that repeated an event already applied or parked (republished events)."""
        return max(0, self.read - self.applied - self.waiting - len(self.rejected))

    def summary(self) -> str:
        """One line for people."""
        return (
            f"rebuilt {self.target} from the {self.source}: {self.read} read, "
            f"{self.applied} applied, {self.parked} parked on the way, {self.duplicates} "
            f"duplicates, {self.waiting} waiting, "
            f"{len(self.rejected)} rejected, in {self.seconds:.1f}s"
        )


# ---------------------------------------------------------------------------- entry points


async def rebuild_from_topics(
    bootstrap_servers: str,
    topic_prefix: str,
    database_url: str,
    *,
    force: bool = False,
    validator: ValidatorFactory | None = None,
    batch_size: int = 500,
    stall_timeout: float = 60.0,
    consumer_options: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Rebuild the index in ``database_url`` from the artifact topics.

    Args:
        bootstrap_servers: The Kafka cluster.
        topic_prefix: The deployment's topic prefix.
        database_url: The target index database (migrated first).
        force: Empty the target's index tables first instead of refusing a non-empty one.
        validator: Makes the check every record passes first, as in the live consumers
            (message-bus ingestion). Its accounts (tenants, ingestion and hub secrets) must be
            the hub's, not the empty target's. None applies every decodable record.
        batch_size: Events per transaction.
        stall_timeout: Seconds without a record, before the end offsets are reached, after
            which the rebuild gives up.
        consumer_options: More ``AIOKafkaConsumer`` arguments (security, client id, ...).
        progress: Called with the report after every batch.

    Raises:
        ConflictError: The target holds an index and ``force`` is False.
        TimeoutError: The topics stopped delivering before their end offsets.
    """
    started = time.monotonic()
    db = Database(database_url)
    report = RebuildReport("topics", _display(db))
    consumer: IndexConsumer | None = None
    try:
        await prepare_target(db, force=force)
        consumer = IndexConsumer(
            db,
            dead_letter=_collect_into(report),
            validator=validator(db) if validator is not None else None,
        )
        replay = _Replay(db, consumer, report, batch_size, progress)
        topics = [topic_prefix + suffix for suffix in ARTIFACT_TOPICS]
        reader = _TopicReader(bootstrap_servers, topics, stall_timeout, consumer_options or {})
        async for topic, record in reader.records():
            report.read += 1
            await replay.add(topic, record)
        await replay.finish()
    finally:
        if consumer is not None and consumer.validator is not None:
            await consumer.validator.close()
        await db.dispose()
    report.seconds = time.monotonic() - started
    return report


async def rebuild_from_log(
    source_database_url: str,
    target_database_url: str,
    *,
    force: bool = False,
    batch_size: int = 500,
    progress: Progress | None = None,
) -> RebuildReport:
    """Rebuild the index in ``target_database_url`` from the outbox of ``source_database_url``.

    The two may be the same database (with ``force``): its index is emptied and replayed from
    its own log.

    Raises:
        ConflictError: The target holds an index and ``force`` is False.
        NotFoundError: The source is a SQLite file that does not exist.
    """
    started = time.monotonic()
    source_url = normalize_url(source_database_url)
    missing = _missing_sqlite_file(source_database_url)
    if missing is not None:
        raise NotFoundError(f"no database at {missing} to read the log from")
    same = source_url == normalize_url(target_database_url)
    target = Database(target_database_url)
    source = target if same else Database(source_database_url)
    report = RebuildReport("log", _display(target))
    try:
        await prepare_target(target, force=force)
        # No validator: the log holds only what the write path or the consumers accepted.
        consumer = IndexConsumer(target, dead_letter=_collect_into(report))
        replay = _Replay(target, consumer, report, batch_size, progress)
        after = 0
        while True:
            async with source.connect() as conn:
                rows = await _log_batch(conn, after, batch_size)
            if not rows:
                break
            for row in rows:
                report.read += 1
                try:
                    event = parse_event(row.payload)
                except ValueError as error:  # pragma: no cover - the write path stored it
                    report.rejected.append(RejectedEvent(row.topic, row.event_id, str(error)))
                    continue
                await replay.add(row.topic, encode(event), event)
            after = rows[-1].id
        await replay.finish()
    finally:
        await target.dispose()
        if source is not target:
            await source.dispose()
    report.seconds = time.monotonic() - started
    return report


async def rebuild_index(
    settings: HubSettings,
    *,
    from_log: bool = False,
    target: str | None = None,
    source: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> RebuildReport:
    """The ``artifact-hub index rebuild`` command, on the hub's settings.

    Args:
        settings: The hub's settings (Kafka, topic prefix, database, blob store, secrets).
        from_log: Replay the event log (the outbox of ``source``) instead of the topics.
        target: The database to rebuild (default: the hub's own, which needs ``force``).
        source: The database whose log is replayed (default: the hub's own).
        force: Empty the target's index first instead of refusing a non-empty one.
        progress: Called with the report after every batch.
    """
    hub_database = settings.resolved_database_url
    target_url = target or hub_database
    if from_log:
        return await rebuild_from_log(
            source or hub_database, target_url, force=force, progress=progress
        )
    accounts_db = Database(hub_database)

    def make_validator(db: Database) -> IngestValidator:
        from artifact_hub.plugin.hub import build_blob_store
        from artifact_hub.service.accounts import AccountService

        # The records are checked as the live consumers checked them: the target's parked
        # and applied events, the hub's tenants and secrets, the hub's blob store.
        return _RebuildValidator(
            db,
            build_blob_store(settings),
            accounts=AccountService(accounts_db),
            hub_source=settings.event_source,
            trusted_bus=settings.trusted_bus,
            topic_prefix=settings.topic_prefix,
            owns_blobs=True,
        )

    try:
        return await rebuild_from_topics(
            settings.kafka_bootstrap_servers,
            settings.topic_prefix,
            target_url,
            force=force,
            validator=make_validator,
            progress=progress,
        )
    finally:
        await accounts_db.dispose()


async def prepare_target(db: Database, *, force: bool) -> None:
    """Migrate the target and make sure its index is empty (emptying it with ``force``).

    Raises:
        ConflictError: The index is not empty and ``force`` is False.
    """
    await db.migrate()
    async with db.connect() as conn:
        counts = {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in (t.artifacts, t.sessions, t.processed_events, t.deferred_events)
        }
    if not any(counts.values()):
        return
    if not force:
        found = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
        raise ConflictError(
            f"the target index is not empty ({found}); rebuild into an empty database, "
            "or force it to empty the index first",
            **counts,
        )
    log.warning("rebuild: emptying the index of %s (%s)", _display(db), counts)
    async with db.begin() as conn:
        for table in PROJECTION_TABLES:
            await conn.execute(delete(table))


# ---------------------------------------------------------------------------- applying


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
        async with self.db.connect() as conn:
            self.report.applied = await _count(conn, t.processed_events)
            self.report.waiting = await _count(conn, t.deferred_events)
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
        known = await conn.scalar(
            select(t.outbox.c.id).where(t.outbox.c.event_id == event.event_id)
        )
        if known is None:
            await super().record_applied(conn, event)


def _collect_into(report: RebuildReport) -> Callable[[str, KafkaRecord, str], Any]:
    async def collect(topic: str, record: KafkaRecord, reason: str) -> None:
        event_id = record.headers.get("ce_id")
        log.warning("rebuild: cannot apply %s from %s: %s", event_id, topic, reason)
        report.rejected.append(RejectedEvent(topic, event_id, reason))

    return collect


# ---------------------------------------------------------------------------- reading


class _TopicReader:
    """Every record of the topics up to their end offsets at start, merged by ``ce_time``."""

    def __init__(
        self,
        bootstrap_servers: str,
        topics: Sequence[str],
        stall_timeout: float,
        options: Mapping[str, Any],
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = list(topics)
        self.stall_timeout = stall_timeout
        self.options = dict(options)

    async def records(self) -> AsyncIterator[tuple[str, KafkaRecord]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.options,
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            if not partitions:
                return
            consumer.assign(partitions)
            listed = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            # Where each partition ends: the larger of its listed end offset and the high
            # watermark of its first fetch response (Tansu lists the base offset of the last
            # batch as the end). Fixed once known: what is written later is not waited for.
            ends: dict[TopicPartition, int] = {}
            active = set(partitions)
            buffers: dict[TopicPartition, deque[tuple[float, ConsumerRecord[bytes, bytes]]]] = {
                tp: deque() for tp in partitions
            }
            loop = asyncio.get_running_loop()
            last_progress = loop.time()
            while active:
                starving = [tp for tp in active if not buffers[tp]]
                if starving:
                    fetched = await consumer.getmany(*starving, timeout_ms=200)
                    for tp in starving:
                        highwater = consumer.highwater(tp)
                        if tp not in ends and highwater is not None:
                            ends[tp] = max(highwater, listed[tp])
                    for tp, batch in fetched.items():
                        end = ends.get(tp)
                        buffers[tp].extend(
                            (_event_time(r), r) for r in batch if end is None or r.offset < end
                        )
                    finished = [
                        tp
                        for tp in starving
                        if tp in ends
                        and not buffers[tp]
                        and await consumer.position(tp) >= ends[tp]
                    ]
                    active.difference_update(finished)
                    if fetched or finished:
                        last_progress = loop.time()
                    elif loop.time() - last_progress > self.stall_timeout:
                        missing = {f"{tp.topic}[{tp.partition}]" for tp in active}
                        raise TimeoutError(
                            f"no records for {self.stall_timeout:.0f}s before the end of "
                            f"{', '.join(sorted(missing))}"
                        )
                    continue
                # Every unfinished partition has a head: take the earliest, until one runs dry.
                heads = [(buffers[tp][0][0], tp.topic, tp.partition, tp) for tp in active]
                heapq.heapify(heads)
                while heads:
                    _, _, _, tp = heapq.heappop(heads)
                    _, raw = buffers[tp].popleft()
                    yield raw.topic, _kafka_record(raw)
                    if raw.offset + 1 >= ends[tp]:
                        active.discard(tp)
                    elif buffers[tp]:
                        heapq.heappush(heads, (buffers[tp][0][0], tp.topic, tp.partition, tp))
                    else:
                        break  # refill this partition before choosing again
        finally:
            await consumer.stop()

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        existing = await consumer.topics()
        partitions: list[TopicPartition] = []
        for topic in self.topics:
            if topic not in existing:
                log.info("rebuild: no topic %s", topic)
                continue
            found = consumer.partitions_for_topic(topic) or set()
            partitions += [TopicPartition(topic, p) for p in sorted(found)]
        return partitions


def _kafka_record(raw: ConsumerRecord[bytes, bytes]) -> KafkaRecord:
    key = raw.key.decode("utf-8", errors="replace") if isinstance(raw.key, bytes) else ""
    return KafkaRecord(key=key, value=raw.value or b"", headers=header_map(raw.headers))


def _event_time(raw: ConsumerRecord[bytes, bytes]) -> float:
    """When the event happened (``ce_time``), else when it was produced."""
    for name, value in raw.headers:
        if name == "ce_time" and value:
            try:
                return datetime.fromisoformat(value.decode()).timestamp()
            except ValueError:
                break
    return float(raw.timestamp) / 1000


async def _log_batch(conn: AsyncConnection, after: int, limit: int) -> list[OutboxRow]:
    rows = (
        await conn.execute(
            select(t.outbox).where(t.outbox.c.id > after).order_by(t.outbox.c.id).limit(limit)
        )
    ).all()
    return [OutboxRow(**row._mapping) for row in rows]


async def _count(conn: AsyncConnection, table: Any) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite file URL whose file does not exist (opening it would create it)."""
    parsed = normalize_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or path in (None, "", ":memory:"):
        return None
    return None if Path(path).exists() else path


def _display(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)
