"""The outbox relay: publishes what the write path appended, in order, and marks it sent.

When the transport fails the rows stay unsent and the relay tries again with backoff; nothing
is lost while Kafka is down. A row may be published twice (sent, then the relay dies before
marking it); consumers skip the duplicate by its event id.

Several relays may run on one outbox (API replicas, ``artifact-hub relay`` processes): only
the one holding the relay lease (:mod:`artifact_hub.adapters.bus.lease`) publishes, so no row
goes out from two relays at once and the order holds; the others stand by and take over when it
stops or dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial

from artifact_hub.adapters.bus.lease import RelayLease, relay_lease
from artifact_hub.adapters.bus.publisher import EventPublisher
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.outbox import Outbox
from artifact_hub.schemas.cloudevents import KafkaRecord, encode
from artifact_hub.schemas.events import parse_event

__all__ = ["OutboxRelay"]

log = logging.getLogger(__name__)


class OutboxRelay:
    """Moves events from the outbox table to an :class:`EventPublisher`.

    Args:
        db: The index database that holds the outbox.
        outbox: The outbox table accessor.
        publisher: Kafka or the in-process bus.
        batch_size: Rows published per round trip.
        poll_interval: Seconds between looks at the table when nobody calls :meth:`notify`
            (other processes may write to the same outbox).
        max_backoff: Longest wait between retries while the transport is down.
        lease: Decides which of several relays on one outbox publishes (default: the one
            that fits the database, see :func:`~artifact_hub.adapters.bus.lease.relay_lease`; a
            standby relay tries to take it every ``poll_interval``).
    """

    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        publisher: EventPublisher,
        *,
        batch_size: int = 200,
        poll_interval: float = 0.5,
        max_backoff: float = 5.0,
        lease: RelayLease | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.publisher = publisher
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.lease = lease if lease is not None else relay_lease(db, poll_interval)
        self.lease.on_wake = self.notify  # commits of other processes (PostgreSQL)
        self.published = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._round = asyncio.Lock()

    def notify(self) -> None:
        """Say that new rows were committed, so the relay looks now."""
        self._wake.set()

    @property
    def active(self) -> bool:
        """Whether this relay holds the lease (it publishes; the others stand by)."""
        return self.lease.held

    async def publish_pending(self) -> int:
        """Publish every unsent row, oldest first; return how many went out.

        Nothing goes out while another relay holds the lease (0 is returned); the lease is
        confirmed before every batch.

        Raises:
            Exception: The transport's error; the rows not yet acknowledged stay unsent.
        """
        total = 0
        async with self._round:  # one round at a time in this process keeps the order
            while True:
                if not await self.lease.acquire():
                    return total
                async with self.db.connect() as conn:
                    rows = await self.outbox.pending(conn, self.batch_size)
                if not rows:
                    return total
                items = [(row.topic, _record(row.payload, row.event_id)) for row in rows]
                await self.publisher.publish_many(items)
                await self.db.write(partial(self.outbox.mark_sent, ids=[row.id for row in rows]))
                total += len(rows)
                self.published += len(rows)
                if len(rows) < self.batch_size:
                    # The table had no more: a row committed since then calls notify().
                    return total

    async def run(self) -> None:
        """Publish forever: on notify, every ``poll_interval``, with backoff on failure."""
        backoff = 0.1
        while True:
            try:
                await self.publish_pending()
                backoff = 0.1
                # asyncio.timeout, not wait_for: wait_for runs the wait as a task of its own,
                # and a stop() landing as a notification wakes it could leave the relay
                # "cancelling" for good (a 30 s shutdown seen in CI on PostgreSQL).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_interval):
                        await self._wake.wait()
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.failures += 1
                log.warning("outbox relay: publish failed (%s); retrying in %.1fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def start(self) -> None:
        """Run :meth:`run` in a background task."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="artifact-hub-outbox-relay")

    async def stop(self) -> None:
        """Cancel the background task and give the lease up (a standby relay takes over)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        async with self._round:  # not in the middle of a batch
            await self.lease.release()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until the outbox is empty (for shutdown and tests).

        Raises:
            TimeoutError: Rows are still unsent after ``timeout`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self.db.connect() as conn:
                if await self.outbox.count_pending(conn) == 0:
                    return
            if loop.time() > deadline:
                raise TimeoutError("the outbox still has unsent events")
            self.notify()
            await asyncio.sleep(0.05)


def _record(payload: str, event_id: str) -> KafkaRecord:
    event = parse_event(payload)
    if event.event_id != event_id:  # pragma: no cover - the row and its payload are one write
        raise ValueError(f"outbox row {event_id} holds event {event.event_id}")
    return encode(event)
