"""The composition root: the one module that builds adapters and wires them into services.

Everything that runs the hub asks here for its parts, so a database URL, a blob store or a
publisher is turned into an object in one place:

- :func:`bootstrap` wires a whole :class:`~artifact_hub.plugin.hub.Hub` (the API, the CLI's
  hub commands, the step service, the facade in embedded mode).
- :func:`consumer_parts` gives a consumer process (``artifact-hub consumers``) what it needs
  beside its own projection: the index, the blob store, the accounts and a search indexer.
- :func:`build_database`, :func:`build_blob_store` and :func:`build_accounts` are the single
  adapters, for the entry points that need just one (``admin``, ``db upgrade``, a rebuild).

Each service is built by one statement of its own in :func:`bootstrap`: that is where a
service's constructor call changes when its dependencies do.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from artifact_hub.adapters.bus.publisher import EventPublisher, InProcessBus, KafkaPublisher
from artifact_hub.adapters.bus.relay import OutboxRelay
from artifact_hub.adapters.bus.signing import SigningPublisher
from artifact_hub.adapters.bus.topics import all_topics
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.outbox import Outbox
from artifact_hub.adapters.index.queries import IndexReader
from artifact_hub.adapters.index.search import SearchIndexer
from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
from artifact_hub.adapters.index.stores.artifacts import SqlArtifactStore
from artifact_hub.adapters.index.stores.console import SqlConsoleStore
from artifact_hub.adapters.index.stores.events import SqlEventLog
from artifact_hub.adapters.index.stores.idempotency import SqlIdempotencyKeys
from artifact_hub.adapters.index.stores.links import SqlLinkStore
from artifact_hub.adapters.index.stores.search_backend import SqlSearchBackend
from artifact_hub.adapters.index.stores.sweeper import SqlSweepStore
from artifact_hub.adapters.index.stores.uploads import SqlUploadStore
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin.hub import Hub, LazyServices
from artifact_hub.ports.blobs import BlobStore
from artifact_hub.service.accounts import AccountService
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.service.console_reads import ConsoleReads
from artifact_hub.service.embedders import build_embedder
from artifact_hub.service.idempotency import IdempotencyStore
from artifact_hub.service.links import LinkService
from artifact_hub.service.search import SearchService
from artifact_hub.service.signing import UrlSigner, load_signing_secret
from artifact_hub.service.sweeper import Sweeper
from artifact_hub.service.uploads import UploadService

__all__ = [
    "ConsumerParts",
    "bootstrap",
    "build_accounts",
    "build_blob_store",
    "build_database",
    "consumer_parts",
]


# ---------------------------------------------------------------------------- single adapters


def build_database(url: str) -> Database:
    """The index database at ``url`` (not migrated: call ``migrate()`` before use)."""
    return Database(url)


def build_blob_store(settings: HubSettings) -> BlobStore:
    """The blob store the settings name."""
    if settings.blob_store == "s3":
        # Imported here: boto3 loads only for a hub that stores in S3.
        from artifact_hub.adapters.storage.s3 import S3BlobStore

        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
            prefix=settings.s3_prefix,
            max_attempts=settings.s3_max_attempts,
            # In the data folder, not /tmp: the next start finds what a killed process left.
            spool_dir=settings.data_dir / "spool",
        )
    return LocalBlobStore(settings.resolved_blob_dir)


def build_accounts(db: Database, settings: HubSettings | None = None) -> AccountService:
    """Tenants and API keys over ``db`` (new tenants get the settings' default plan)."""
    if settings is None:
        return AccountService(db, SqlAccountStore())
    return AccountService(db, SqlAccountStore(), default_plan=settings.default_plan)


# ---------------------------------------------------------------------------- the hub


def bootstrap(
    settings: HubSettings | None = None,
    *,
    blobs: BlobStore | None = None,
    publisher: EventPublisher | None = None,
    **overrides: Any,
) -> Hub:
    """A wired hub from settings (default: the environment), with field overrides.

    Args:
        settings: The hub's settings; None reads them from the environment.
        blobs: A blob store to use instead of the one the settings name (tests, benches).
        publisher: Where the relay publishes, instead of Kafka or the in-process bus.
        **overrides: Settings fields to replace.

    Returns:
        The hub, not started (``async with`` it, or call ``start``).
    """
    if settings is None:
        settings = HubSettings(**overrides)
    elif overrides:
        settings = HubSettings(**{**settings.model_dump(), **overrides})
    db = build_database(settings.resolved_database_url)
    blob_store = blobs or build_blob_store(settings)
    outbox = Outbox(settings.topic_prefix)
    # Built (cheaply: the model loads on first use) before the service, which tells it what
    # changed.
    indexer = SearchIndexer(
        db,
        blob_store,
        build_embedder(settings.search_embedder, threads=settings.search_embed_threads),
        text_limit=settings.search_text_limit,
        pgvector=settings.search_pgvector,
        pgvector_ef_search=settings.search_pgvector_ef_search,
        pgvector_exact_limit=settings.search_pgvector_exact_limit,
        delay=settings.search_index_delay_seconds,
        embed_delay=settings.search_embed_delay_seconds,
    )
    accounts = build_accounts(db, settings)
    bus: InProcessBus | None = None
    if publisher is None:
        if settings.event_bus == "kafka":
            # Signed with the hub's bus secret: consumers tell the hub's own events from
            # agents' (message-bus ingestion) by it (see consumers/validation.py).
            publisher = SigningPublisher(
                KafkaPublisher(
                    settings.kafka_bootstrap_servers,
                    topics=all_topics(settings.topic_prefix),
                    enable_idempotence=settings.kafka_idempotent_producer,
                ),
                lambda: accounts.hub_bus_secret(settings.bus_signing_secret),
            )
        else:
            # Only this hub's write path produces events here, and it projected each one in
            # its own transaction (read-your-writes): no index consumer re-applies them. The
            # bus carries them to downstream subscribers.
            bus = InProcessBus()
            publisher = bus
    relay = OutboxRelay(
        db,
        outbox,
        publisher,
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval,
    )
    service = ArtifactService(
        db,
        blob_store,
        reader=IndexReader(),
        store=SqlArtifactStore(),
        events=SqlEventLog(outbox),
        on_commit=relay.notify,
        after_commit=[indexer.on_event],
        default_ttl=settings.default_ttl,
        source=settings.event_source,
    )
    idempotency = IdempotencyStore(
        db,
        SqlIdempotencyKeys(),
        stale_after=timedelta(seconds=settings.idempotency_stale_seconds),
    )
    hub = Hub(
        settings,
        db=db,
        blobs=blob_store,
        outbox=outbox,
        indexer=indexer,
        publisher=publisher,
        bus=bus,
        relay=relay,
        service=service,
        accounts=accounts,
        idempotency=idempotency,
        lazy=LazyServices(
            signer=lambda: _signer(settings),
            links=lambda: _links(hub),
            uploads=lambda: _uploads(hub),
            search=lambda: _search(hub),
            console=lambda: ConsoleReads(db, SqlConsoleStore()),
        ),
    )
    hub.sweeper = Sweeper(
        settings,
        db=db,
        store=SqlSweepStore(),
        blobs=blob_store,
        artifacts=service,
        idempotency=idempotency,
        uploads=lambda: hub.uploads,  # built on first use: it needs the signing secret
    )
    return hub


# Built on first use, not in bootstrap: a distributed hub without a signing secret must still
# run consumers and the relay; only what signs URLs (the API) refuses to start.


def _signer(settings: HubSettings) -> UrlSigner:
    return UrlSigner(load_signing_secret(settings))


def _links(hub: Hub) -> LinkService:
    return LinkService(
        hub.db,
        SqlLinkStore(),
        hub.service,
        hub.signer,
        hub.settings.resolved_public_url,
        store_url_max_ttl=timedelta(seconds=hub.settings.s3_download_url_max_seconds),
    )


def _uploads(hub: Hub) -> UploadService:
    return UploadService(
        hub.db,
        hub.service,
        hub.signer,
        hub.settings.resolved_public_url,
        store=SqlUploadStore(),
        url_ttl=timedelta(seconds=hub.settings.upload_url_ttl_seconds),
        complete_grace=timedelta(seconds=hub.settings.upload_complete_grace_seconds),
    )


def _search(hub: Hub) -> SearchService:
    return SearchService(
        hub.db,
        SqlSearchBackend(hub.indexer.pgvector),
        hub.indexer,
        hub.indexer.embedder,
        vector_cache_bytes=hub.settings.search_vector_cache_bytes,
    )


# ---------------------------------------------------------------------------- consumers


@dataclasses.dataclass
class ConsumerParts:
    """What a consumer process needs beside its projection, built from the settings.

    Attributes:
        settings: The hub's settings.
        db: The index database (not migrated yet).
        blobs: The hub's blob store (the validator checks agents' blobs in it; the indexer
            reads documents from it).
        accounts: Tenants, ingestion secrets and the hub's bus secret.
        indexer: Builds the search documents of the events the consumer applies: events that
            agents publish straight to the bus never pass through a hub's service.
    """

    settings: HubSettings
    db: Database
    blobs: BlobStore
    accounts: AccountService
    indexer: SearchIndexer

    async def close(self) -> None:
        """Stop the indexer, close the blob store and dispose of the database."""
        await self.indexer.close()
        await self.blobs.close()
        await self.db.dispose()


def consumer_parts(settings: HubSettings) -> ConsumerParts:
    """The parts of a consumer process (``artifact-hub consumers``)."""
    db = build_database(settings.resolved_database_url)
    blobs = build_blob_store(settings)
    indexer = SearchIndexer(
        db,
        blobs,
        build_embedder(settings.search_embedder, threads=settings.search_embed_threads),
        text_limit=settings.search_text_limit,
        delay=settings.search_index_delay_seconds,
        embed_delay=settings.search_embed_delay_seconds,
    )
    return ConsumerParts(settings, db, blobs, build_accounts(db), indexer)
