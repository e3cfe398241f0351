"""Where published events go: Kafka (through FastStream) or in-process subscribers.

Both implement :class:`EventPublisher`; the relay does not know which it talks to.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from artifact_hub.adapters.bus.topics import ensure_topics
from artifact_hub.schemas.cloudevents import KafkaRecord

__all__ = ["EventPublisher", "InProcessBus", "KafkaPublisher", "RecordHandler"]

log = logging.getLogger(__name__)

RecordHandler = Callable[[str, KafkaRecord], Awaitable[None]]
"""An in-process subscriber: ``handler(topic, record)``."""


class EventPublisher(abc.ABC):
    """Port: sends records to topics, in order, and says when they are durably accepted."""

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect (adapters may also connect lazily on first publish)."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Disconnect."""

    @abc.abstractmethod
    async def publish_many(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        """Publish ``(topic, record)`` pairs in order; return once all are acknowledged.

        Raises:
            Exception: Whatever the transport raised; nothing is known to be sent then, and
                the caller publishes the same records again later (consumers are idempotent).
        """


class InProcessBus(EventPublisher):
    """Delivers records to subscribers in this process: the embedded mode's event bus."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[RecordHandler]] = defaultdict(list)

    def subscribe(self, topic: str, handler: RecordHandler) -> None:
        """Call ``handler`` for every record published to ``topic``."""
        self._handlers[topic].append(handler)

    async def publish_many(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        """Hand each record to the topic's subscribers, one after the other."""
        for topic, record in items:
            for handler in self._handlers.get(topic, ()):
                await handler(topic, record)


class KafkaPublisher(EventPublisher):
    """Publishes through a FastStream ``KafkaBroker`` (aiokafka, ``acks=all``).

    Order per partition holds without the idempotent producer: aiokafka keeps one batch in
    flight per partition, so a retried batch is never overtaken. A retry may duplicate a
    record, which consumers skip by its event id. ``enable_idempotence=True`` removes those
    duplicates on brokers that support it (Tansu does not implement InitProducerId).

    Args:
        bootstrap_servers: Kafka bootstrap servers.
        request_timeout_ms: How long one publish may wait for the broker before failing;
            kept short so the relay notices an outage quickly and retries later.
        topics: Topics to create on (re)connect when missing (a restarted single-node broker
            without storage comes back empty).
        partitions: Partitions of the topics it creates.
        enable_idempotence: Use Kafka's idempotent producer (needs broker support).
        broker_options: Further ``KafkaBroker`` keyword arguments (security, client id, ...).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        *,
        request_timeout_ms: int = 10_000,
        topics: Sequence[str] = (),
        partitions: int = 3,
        enable_idempotence: bool = False,
        **broker_options: Any,
    ) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topics = tuple(topics)
        self.partitions = partitions
        self.enable_idempotence = enable_idempotence
        self.request_timeout_ms = request_timeout_ms
        self.broker_options = broker_options
        self._broker: Any = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> Any:
        from faststream.kafka import KafkaBroker

        async with self._lock:
            if self._broker is None:
                if self.topics:
                    await ensure_topics(
                        self.bootstrap_servers,
                        self.topics,
                        partitions=self.partitions,
                        timeout_ms=self.request_timeout_ms,
                    )
                broker = KafkaBroker(
                    self.bootstrap_servers,
                    enable_idempotence=self.enable_idempotence,
                    acks="all",
                    request_timeout_ms=self.request_timeout_ms,
                    logger=None,
                    **self.broker_options,
                )
                try:
                    await broker.start()
                except BaseException:
                    await _quietly(broker.stop())
                    raise
                self._broker = broker
            return self._broker

    async def publish_many(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        """Send all records without waiting, then wait for every acknowledgement."""
        broker = await self._connected()
        try:
            pending = [
                await broker.publish(
                    record.value,
                    topic,
                    key=record.key.encode(),
                    headers=record.headers,
                    no_confirm=True,
                )
                for topic, record in items
            ]
            await asyncio.gather(*pending)
        except BaseException:
            # The producer may be wedged after an outage: start a fresh one next time.
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the producer."""
        async with self._lock:
            broker, self._broker = self._broker, None
        if broker is not None:
            await _quietly(broker.stop())


async def _quietly(awaitable: Awaitable[Any]) -> None:
    try:
        await asyncio.wait_for(awaitable, timeout=10)
    except Exception:
        log.debug("ignored error while closing the Kafka producer", exc_info=True)
