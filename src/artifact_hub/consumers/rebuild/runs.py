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

import time
from collections.abc import Callable, Mapping
from typing import Any

from artifact_hub.adapters.index.database import Database, normalize_url
from artifact_hub.adapters.index.rebuild_target import (
    PROJECTION_TABLES,
    display_url,
    log_batch,
    missing_sqlite_file,
    prepare_target,
)
from artifact_hub.consumers.app import ARTIFACT_TOPICS
from artifact_hub.consumers.projection import IndexConsumer
from artifact_hub.consumers.rebuild.replay import _RebuildValidator, _Replay
from artifact_hub.consumers.rebuild.report import (
    Progress,
    RebuildReport,
    RejectedEvent,
    _collect_into,
)
from artifact_hub.consumers.rebuild.sources import _TopicReader
from artifact_hub.consumers.validation import IngestValidator
from artifact_hub.core.errors import NotFoundError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin.bootstrap import build_accounts, build_blob_store, build_database
from artifact_hub.schemas.cloudevents import encode
from artifact_hub.schemas.events import parse_event

__all__ = [
    "PROJECTION_TABLES",
    "RebuildReport",
    "RejectedEvent",
    "prepare_target",
    "rebuild_from_log",
    "rebuild_from_topics",
    "rebuild_index",
]

ValidatorFactory = Callable[[Database], IngestValidator]
"""Makes the validator for the target database (see :func:`rebuild_from_topics`)."""


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
    db = build_database(database_url)
    report = RebuildReport("topics", display_url(db))
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
    missing = missing_sqlite_file(source_database_url)
    if missing is not None:
        raise NotFoundError(f"no database at {missing} to read the log from")
    same = source_url == normalize_url(target_database_url)
    target = build_database(target_database_url)
    source = target if same else build_database(source_database_url)
    report = RebuildReport("log", display_url(target))
    try:
        await prepare_target(target, force=force)
        # No validator: the log holds only what the write path or the consumers accepted.
        consumer = IndexConsumer(target, dead_letter=_collect_into(report))
        replay = _Replay(target, consumer, report, batch_size, progress)
        after = 0
        while True:
            async with source.connect() as conn:
                rows = await log_batch(conn, after, batch_size)
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
    accounts_db = build_database(hub_database)

    def make_validator(db: Database) -> IngestValidator:
        # The records are checked as the live consumers checked them: the target's parked
        # and applied events, the hub's tenants and secrets, the hub's blob store.
        return _RebuildValidator(
            db,
            build_blob_store(settings),
            accounts=build_accounts(accounts_db),
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
