"""A consumer process: the index consumer on Kafka, validating what it applies.

:func:`run_consumers` is the body of ``artifact-hub consumers``: one member of the consumer
group, with message-bus ingestion's checks (:mod:`artifact_hub.consumers.validation`) in front
of the projection, and a maintenance loop that applies or dead-letters parked early events.
Its database, blob store, accounts and search indexer come from the bootstrap
(:func:`artifact_hub.plugin.bootstrap.consumer_parts`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from artifact_hub.adapters.index.database import Database
from artifact_hub.consumers.app import build_consumer_app
from artifact_hub.consumers.projection import IndexConsumer
from artifact_hub.consumers.validation import IngestValidator
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin.bootstrap import consumer_parts
from artifact_hub.ports.blobs import BlobStore
from artifact_hub.schemas.events import HubEvent
from artifact_hub.service.accounts import AccountService

__all__ = ["build_validated_consumer", "run_consumers"]


def build_validated_consumer(
    settings: HubSettings,
    db: Database,
    *,
    blobs: BlobStore,
    accounts: AccountService | None = None,
    max_wait: timedelta = timedelta(minutes=5),
    after_apply: Callable[[HubEvent], None] | None = None,
) -> IndexConsumer:
    """An index consumer that checks every record first.

    Args:
        settings: The hub's settings.
        db: The index database.
        blobs: The hub's blob store (the caller closes it).
        accounts: Tenants and secrets (default: over ``db``).
        max_wait: How long an early event may wait for its predecessor.
        after_apply: Called with each applied event (search indexing).
    """
    validator = IngestValidator.from_settings(settings, db, blobs, accounts=accounts)
    return IndexConsumer(db, validator=validator, max_wait=max_wait, after_apply=after_apply)


def _group_timeouts(settings: HubSettings) -> dict[str, int]:
    """The group timeouts the settings name (the others keep aiokafka's defaults)."""
    values = {
        "session_timeout_ms": settings.consumer_session_timeout_ms,
        "heartbeat_interval_ms": settings.consumer_heartbeat_interval_ms,
        "rebalance_timeout_ms": settings.consumer_rebalance_timeout_ms,
    }
    return {name: value for name, value in values.items() if value is not None}


async def run_consumers(settings: HubSettings, *, maintain_every: float = 5.0) -> None:
    """Run the validating index consumer until the process is stopped (SIGINT / SIGTERM)."""
    parts = consumer_parts(settings)
    try:
        await parts.db.migrate()
        # Events that agents publish straight to the bus never pass through a hub's service:
        # their search documents are built here, after each applied event.
        consumer = build_validated_consumer(
            settings,
            parts.db,
            blobs=parts.blobs,
            accounts=parts.accounts,
            after_apply=parts.indexer.on_event,
        )
        stream, _ = build_consumer_app(
            settings.kafka_bootstrap_servers,
            consumer,
            group_id=settings.consumer_group,
            topic_prefix=settings.topic_prefix,
            **_group_timeouts(settings),
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
    finally:
        await parts.close()
