"""A consumer process: the index consumer on Kafka, validating what it applies.

:func:`run_consumers` is the body of ``artifact-hub consumers``: one member of the consumer
group, with message-bus ingestion's checks (:mod:`artifact_hub.consumers.validation`) in front
of the projection, and a maintenance loop that applies or dead-letters parked early events.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.search import SearchIndexer
from artifact_hub.consumers.app import build_consumer_app
from artifact_hub.consumers.projection import IndexConsumer
from artifact_hub.consumers.validation import IngestValidator
from artifact_hub.core.settings import HubSettings
from artifact_hub.ports.blobs import BlobStore
from artifact_hub.schemas.events import HubEvent
from artifact_hub.service.embedders import build_embedder

__all__ = ["build_validated_consumer", "run_consumers"]


def build_validated_consumer(
    settings: HubSettings,
    db: Database,
    *,
    blobs: BlobStore | None = None,
    max_wait: timedelta = timedelta(minutes=5),
    after_apply: Callable[[HubEvent], None] | None = None,
) -> IndexConsumer:
    """An index consumer that checks every record first (close its ``validator`` when done)."""
    validator = IngestValidator.from_settings(settings, db, blobs)
    return IndexConsumer(db, validator=validator, max_wait=max_wait, after_apply=after_apply)


async def run_consumers(settings: HubSettings, *, maintain_every: float = 5.0) -> None:
    """Run the validating index consumer until the process is stopped (SIGINT / SIGTERM)."""
    from artifact_hub.plugin.hub import build_blob_store

    db = Database(settings.resolved_database_url)
    await db.migrate()
    # Events that agents publish straight to the bus never pass through a hub's service:
    # their search documents are built here, after each applied event.
    search_blobs = build_blob_store(settings)
    indexer = SearchIndexer(
        db,
        search_blobs,
        build_embedder(settings.search_embedder, threads=settings.search_embed_threads),
        text_limit=settings.search_text_limit,
        delay=settings.search_index_delay_seconds,
        embed_delay=settings.search_embed_delay_seconds,
    )
    consumer = build_validated_consumer(settings, db, after_apply=indexer.on_event)
    stream, _ = build_consumer_app(
        settings.kafka_bootstrap_servers,
        consumer,
        group_id=settings.consumer_group,
        topic_prefix=settings.topic_prefix,
    )

    async def maintain() -> None:
        while True:
            await asyncio.sleep(maintain_every)
            await consumer.expire_deferred()

    task = asyncio.create_task(maintain())
    try:
        await stream.run()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await indexer.close()
        await search_blobs.close()
        if consumer.validator is not None:
            await consumer.validator.close()
        await db.dispose()
