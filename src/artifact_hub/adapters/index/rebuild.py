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

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database, normalize_url
from artifact_hub.adapters.index.rebuild_replay import _RebuildValidator, _Replay
from artifact_hub.adapters.index.rebuild_report import (
    Progress,
    RebuildReport,
    RejectedEvent,
    _collect_into,
)
from artifact_hub.adapters.index.rebuild_sources import _log_batch, _TopicReader
from artifact_hub.consumers.app import ARTIFACT_TOPICS
from artifact_hub.consumers.projection import IndexConsumer
from artifact_hub.consumers.validation import IngestValidator
from artifact_hub.core.errors import (
    ConflictError,
    NotFoundError,
)
from artifact_hub.core.settings import HubSettings
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
        from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
        from artifact_hub.plugin.hub import build_blob_store
        from artifact_hub.service.accounts import AccountService

        # The records are checked as the live consumers checked them: the target's parked
        # and applied events, the hub's tenants and secrets, the hub's blob store.
        return _RebuildValidator(
            db,
            build_blob_store(settings),
            accounts=AccountService(accounts_db, SqlAccountStore()),
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


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite file URL whose file does not exist (opening it would create it)."""
    parsed = normalize_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or path in (None, "", ":memory:"):
        return None
    return None if Path(path).exists() else path


def _display(db: Database) -> str:
    return db.url.render_as_string(hide_password=True)
