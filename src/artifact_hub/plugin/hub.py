"""The running hub: its parts, and their start and stop.

:class:`Hub` holds what :func:`artifact_hub.plugin.bootstrap.bootstrap` wired (the database,
blob store, services, outbox relay and event transport) and runs them. In embedded mode the
relay delivers events to in-process consumers; in distributed mode it publishes them to Kafka,
where the consumer processes (``artifact-hub consumers``) apply them. Nothing is built here:
the bootstrap is the one place that turns settings into adapters.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

from artifact_hub.core.settings import HubSettings

if TYPE_CHECKING:
    from artifact_hub.adapters.bus.publisher import EventPublisher, InProcessBus
    from artifact_hub.adapters.bus.relay import OutboxRelay
    from artifact_hub.adapters.index.database import Database
    from artifact_hub.adapters.index.outbox import Outbox
    from artifact_hub.adapters.index.search import SearchIndexer
    from artifact_hub.ports.blobs import BlobStore
    from artifact_hub.service.accounts import AccountService
    from artifact_hub.service.artifacts import ArtifactService
    from artifact_hub.service.console_reads import ConsoleReads
    from artifact_hub.service.idempotency import IdempotencyStore
    from artifact_hub.service.links import LinkService
    from artifact_hub.service.search import SearchService
    from artifact_hub.service.signing import UrlSigner
    from artifact_hub.service.sweeper import Sweeper
    from artifact_hub.service.uploads import UploadService

__all__ = ["Hub", "LazyServices"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LazyServices:
    """How the hub builds the services it makes on first use (the bootstrap supplies them)."""

    signer: Callable[[], UrlSigner]
    links: Callable[[], LinkService]
    uploads: Callable[[], UploadService]
    search: Callable[[], SearchService]
    console: Callable[[], ConsoleReads]


class Hub:
    """A running artifact hub: the service and everything behind it.

    Built by :func:`artifact_hub.plugin.bootstrap` (``bootstrap(settings)``). Use as an async
    context manager, or call :meth:`start` and :meth:`stop`.

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

    sweeper: Sweeper
    """Set by the bootstrap once the hub exists (the sweeper reads the hub's parts)."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        db: Database,
        blobs: BlobStore,
        outbox: Outbox,
        indexer: SearchIndexer,
        publisher: EventPublisher,
        bus: InProcessBus | None,
        relay: OutboxRelay,
        service: ArtifactService,
        accounts: AccountService,
        idempotency: IdempotencyStore,
        lazy: LazyServices,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.outbox = outbox
        self.indexer = indexer
        self.publisher = publisher
        self.bus = bus
        self.consumer: None = None
        self.relay = relay
        self.service = service
        self.accounts = accounts
        self.idempotency = idempotency
        self._lazy = lazy
        self._started = False

    # Built on first use, not by the bootstrap: a distributed hub without a signing secret
    # must still run consumers and the relay; only what signs URLs (the API) refuses to start.
    @cached_property
    def signer(self) -> UrlSigner:
        """Signs and verifies the hub's URLs (``SigningSecretMissingError`` if it cannot)."""
        return self._lazy.signer()

    @cached_property
    def links(self) -> LinkService:
        """Download links and signed download URLs."""
        return self._lazy.links()

    @cached_property
    def uploads(self) -> UploadService:
        """Presigned uploads (upload-url, PUT, complete)."""
        return self._lazy.uploads()

    @cached_property
    def search(self) -> SearchService:
        """Structured, lexical, semantic and hybrid search, and ``best`` by a metric."""
        return self._lazy.search()

    @cached_property
    def console(self) -> ConsoleReads:
        """The web console's reads beyond the REST API's: sessions, the event feed, keys."""
        return self._lazy.console()

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
