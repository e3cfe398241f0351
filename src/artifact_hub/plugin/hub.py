"""The composition root: settings in, a wired hub out.

``Hub`` builds the database, blob store, service, outbox relay and event transport from
:class:`HubSettings`, and runs them. In embedded mode the relay delivers events to in-process
consumers; in distributed mode it publishes them to Kafka, where the consumer processes
(``artifact-hub consumers``) apply them.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Coroutine
from datetime import timedelta
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

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
from artifact_hub.adapters.index.stores.events import SqlEventLog
from artifact_hub.adapters.index.stores.idempotency import SqlIdempotencyKeys
from artifact_hub.adapters.index.stores.sweeper import SqlSweepStore
from artifact_hub.adapters.storage.local import LocalBlobStore
from artifact_hub.core.settings import HubSettings
from artifact_hub.ports.blobs import BlobStore
from artifact_hub.service.accounts import AccountService
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.service.embedders import build_embedder
from artifact_hub.service.idempotency import IdempotencyStore
from artifact_hub.service.sweeper import Sweeper

if TYPE_CHECKING:
    from artifact_hub.consumers.projection import IndexConsumer
    from artifact_hub.service.links import LinkService
    from artifact_hub.service.search import SearchService
    from artifact_hub.service.signing import UrlSigner
    from artifact_hub.service.uploads import UploadService

__all__ = ["Hub", "bootstrap", "build_blob_store"]

log = logging.getLogger(__name__)


def build_blob_store(settings: HubSettings) -> BlobStore:
    """The blob store the settings name."""
    if settings.blob_store == "s3":
        from artifact_hub.adapters.storage.s3 import S3BlobStore

        return S3BlobStore(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id,
            aws_secret_access_key=settings.s3_secret_access_key,
            prefix=settings.s3_prefix,
            # In the data folder, not /tmp: the next start finds what a killed process left.
            spool_dir=settings.data_dir / "spool",
        )
    return LocalBlobStore(settings.resolved_blob_dir)


class Hub:
    """A running artifact hub: the service and everything behind it.

    Use as an async context manager, or call :meth:`start` and :meth:`stop`.

    Attributes:
        service: The use cases (push, pull, list, share, seal, ...).
        accounts: Tenants and API keys (who a request speaks for).
        idempotency: The responses kept for ``Idempotency-Key`` retries.
        sweeper: Expiry, purge and clean-up passes (background loop when ``sweep_enabled``).
        relay: Publishes the outbox.
        bus: The in-process bus in embedded mode (subscribe downstream handlers to it), else
            None.
        consumer: Always None: the write path projects the hub's own events, and foreign
            events come from Kafka to ``artifact-hub consumers`` (kept for compatibility).
        indexer: Keeps the search documents current after each commit (see ``search``).
    """

    def __init__(
        self,
        settings: HubSettings,
        *,
        blobs: BlobStore | None = None,
        publisher: EventPublisher | None = None,
    ) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url)
        self.blobs = blobs or build_blob_store(settings)
        self.outbox = Outbox(settings.topic_prefix)
        self.bus: InProcessBus | None = None
        self.consumer: IndexConsumer | None = None
        # Built (cheaply: the model loads on first use) before the service and the consumer,
        # which tell it what changed.
        self.indexer = SearchIndexer(
            self.db,
            self.blobs,
            build_embedder(settings.search_embedder, threads=settings.search_embed_threads),
            text_limit=settings.search_text_limit,
            pgvector=settings.search_pgvector,
            pgvector_ef_search=settings.search_pgvector_ef_search,
            pgvector_exact_limit=settings.search_pgvector_exact_limit,
            delay=settings.search_index_delay_seconds,
            embed_delay=settings.search_embed_delay_seconds,
        )
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
                    lambda: self.accounts.hub_bus_secret(settings.bus_signing_secret),
                )
            else:
                # Only this hub's write path produces events here, and it projected each one
                # in its own transaction (read-your-writes): no index consumer re-applies
                # them. The bus carries them to downstream subscribers.
                self.bus = InProcessBus()
                publisher = self.bus
        self.publisher = publisher
        self.relay = OutboxRelay(
            self.db,
            self.outbox,
            publisher,
            batch_size=settings.relay_batch_size,
            poll_interval=settings.relay_poll_interval,
        )
        self.service = ArtifactService(
            self.db,
            self.blobs,
            reader=IndexReader(),
            store=SqlArtifactStore(),
            events=SqlEventLog(self.outbox),
            on_commit=self.relay.notify,
            after_commit=[self.indexer.on_event],
            default_ttl=settings.default_ttl,
            source=settings.event_source,
        )
        self.accounts = AccountService(
            self.db, SqlAccountStore(), default_plan=settings.default_plan
        )
        self.idempotency = IdempotencyStore(self.db, SqlIdempotencyKeys())
        self.sweeper = Sweeper(
            settings,
            db=self.db,
            store=SqlSweepStore(),
            blobs=self.blobs,
            artifacts=self.service,
            idempotency=self.idempotency,
            uploads=lambda: self.uploads,  # built on first use: it needs the signing secret
        )
        self._started = False

    # Built on first use, not in __init__: a distributed hub without a signing secret must
    # still run consumers and the relay; only what signs URLs (the API) refuses to start.
    @cached_property
    def signer(self) -> UrlSigner:
        """Signs and verifies the hub's URLs (``SigningSecretMissingError`` if it cannot)."""
        from artifact_hub.service.signing import UrlSigner, load_signing_secret

        return UrlSigner(load_signing_secret(self.settings))

    @cached_property
    def links(self) -> LinkService:
        """Download links and signed download URLs."""
        from artifact_hub.adapters.index.stores.links import SqlLinkStore
        from artifact_hub.service.links import LinkService

        return LinkService(
            self.db,
            SqlLinkStore(),
            self.service,
            self.signer,
            self.settings.resolved_public_url,
            store_url_max_ttl=timedelta(seconds=self.settings.s3_download_url_max_seconds),
        )

    @cached_property
    def uploads(self) -> UploadService:
        """Presigned uploads (upload-url, PUT, complete)."""
        from artifact_hub.adapters.index.stores.uploads import SqlUploadStore
        from artifact_hub.service.uploads import UploadService

        return UploadService(
            self.db,
            self.service,
            self.signer,
            self.settings.resolved_public_url,
            store=SqlUploadStore(),
            url_ttl=timedelta(seconds=self.settings.upload_url_ttl_seconds),
            complete_grace=timedelta(seconds=self.settings.upload_complete_grace_seconds),
        )

    @cached_property
    def search(self) -> SearchService:
        """Structured, lexical, semantic and hybrid search, and ``best`` by a metric."""
        from artifact_hub.adapters.index.stores.search_backend import SqlSearchBackend
        from artifact_hub.service.search import SearchService

        return SearchService(
            self.db,
            SqlSearchBackend(self.indexer.pgvector),
            self.indexer,
            self.indexer.embedder,
            vector_cache_bytes=self.settings.search_vector_cache_bytes,
        )

    async def start(self) -> None:
        """Apply migrations, prepare the blob store, and start the relay."""
        await self.db.migrate()
        ensure = getattr(self.blobs, "ensure_bucket", None)
        if ensure is not None:
            await ensure()
        # What a killed process was writing (its lock died with it); live writers' files stay.
        stale = await self.blobs.remove_stale_spool()
        if stale.count:
            log.info("removed %d stale spool files (%d bytes)", stale.count, stale.bytes)
        await self.indexer.prepare()  # pgvector, when PostgreSQL has it
        if self.settings.run_relay:
            self.relay.start()
        self.indexer.start_reindex()  # catch up what changed while no hub was indexing
        if self.settings.sweep_enabled:
            self.sweeper.start()
        self._started = True

    async def stop(self, *, drain_timeout: float = 5.0, step_timeout: float = 30.0) -> None:
        """Publish what is pending (briefly), then stop everything.

        Each step is bounded by ``step_timeout``: one that overruns (a connection stuck in a
        query, a broker that does not answer) is logged with its name and abandoned, so a
        shutdown always ends; what it left undone (unsent outbox rows, unindexed documents)
        is picked up at the next start.
        """
        if self.settings.run_relay and self._started:
            with contextlib.suppress(Exception):
                await self._bounded(
                    "drain", self.relay.drain(timeout=drain_timeout), drain_timeout + step_timeout
                )
        await self._bounded("sweeper", self.sweeper.stop(), step_timeout)
        await self._bounded("search indexer", self.indexer.close(), step_timeout)
        await self._bounded("relay", self.relay.stop(), step_timeout)
        await self._bounded("publisher", self.publisher.stop(), step_timeout)
        await self._bounded("blob store", self.blobs.close(), step_timeout)
        await self._bounded("database", self.db.dispose(), step_timeout)
        self._started = False

    @staticmethod
    async def _bounded(step: str, work: Coroutine[Any, Any, None], timeout: float) -> None:
        # Not asyncio.wait_for: on timeout it waits for the cancelled work to finish, which
        # a step stuck in its own clean-up never does. The work is cancelled and left.
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if task in done:
            task.result()  # its own error, if any
            return
        stack = io.StringIO()
        task.print_stack(file=stack)  # where it was stuck, for the next one who reads the log
        task.cancel()
        log.error(
            "hub shutdown: %s did not stop within %.0fs; going on without it\n%s",
            step,
            timeout,
            stack.getvalue(),
        )

    async def __aenter__(self) -> Hub:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def bootstrap(settings: HubSettings | None = None, **overrides: Any) -> Hub:
    """A hub from settings (default: the environment), with field overrides."""
    if settings is None:
        return Hub(HubSettings(**overrides))
    if overrides:
        settings = HubSettings(**{**settings.model_dump(), **overrides})
    return Hub(settings)
