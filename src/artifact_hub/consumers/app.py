"""The consumers as a FastStream app: one subscriber per artifact topic, in a consumer group.

``build_consumer_app`` wires :class:`IndexConsumer` to Kafka. Offsets are committed after the
index transaction (``AckPolicy.NACK_ON_ERROR``: an error seeks back and the record comes again),
so a crash between applying and committing redelivers, and the idempotent apply makes that
harmless.
"""

from __future__ import annotations

from typing import Any

from faststream import FastStream
from faststream.kafka import KafkaBroker, KafkaMessage
from faststream.middlewares import AckPolicy

from artifact_hub.consumers.projection import IndexConsumer
from artifact_hub.schemas.cloudevents import KafkaRecord, header_map
from artifact_hub.schemas.events import DLQ_TOPIC, EVENT_TYPES

__all__ = ["ARTIFACT_TOPICS", "build_consumer_app", "subscribe_index_consumer"]

ARTIFACT_TOPICS: tuple[str, ...] = tuple(cls.topic for cls in EVENT_TYPES.values())


def subscribe_index_consumer(
    broker: KafkaBroker,
    consumer: IndexConsumer,
    *,
    group_id: str,
    topic_prefix: str = "",
    auto_offset_reset: str = "earliest",
    max_records: int = 500,
    **subscriber_options: Any,
) -> None:
    """Attach ``consumer`` to every artifact topic on ``broker``, and its DLQ publisher.

    Records come in batches (up to ``max_records`` per poll) applied in one transaction each
    (:meth:`IndexConsumer.handle_batch`); the offsets are committed after it.
    """
    dlq_topic = topic_prefix + DLQ_TOPIC

    async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
        headers = {**record.headers, "x-dlq-reason": reason[:1000], "x-dlq-topic": topic}
        await broker.publish(record.value, dlq_topic, key=record.key.encode(), headers=headers)

    consumer.dead_letter = dead_letter
    topics = [topic_prefix + suffix for suffix in ARTIFACT_TOPICS]

    # One subscriber for every artifact topic: one group member per process, so a group of
    # several processes rebalances once per join rather than once per topic. Early events do
    # not block it: the consumer parks them (see IndexConsumer).
    @broker.subscriber(  # type: ignore[call-overload, untyped-decorator]
        *topics,
        group_id=group_id,
        auto_offset_reset=auto_offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        title="artifact-hub-index",
        decoder=_raw_body,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=100,
        **subscriber_options,
    )
    async def apply_events(body: Any, msg: KafkaMessage) -> None:
        # The raw records, not FastStream's decoded body: we decode CloudEvents ourselves.
        batch: Any = msg.raw_message  # a tuple of aiokafka ConsumerRecords
        await consumer.handle_batch([(raw.topic, _record(raw)) for raw in batch])


def _record(raw: Any) -> KafkaRecord:
    key = raw.key.decode() if isinstance(raw.key, bytes) else str(raw.key or "")
    return KafkaRecord(key=key, value=raw.value or b"", headers=header_map(raw.headers))


async def _raw_body(msg: Any) -> bytes:
    """Keep the records' values as bytes.

    A malformed JSON value must reach the handler (and the DLQ) instead of failing in
    FastStream's decoder and being redelivered forever.
    """
    body: bytes = msg.body
    return body


def build_consumer_app(
    bootstrap_servers: str,
    consumer: IndexConsumer,
    *,
    group_id: str = "artifact-hub-index",
    topic_prefix: str = "",
    **subscriber_options: Any,
) -> tuple[FastStream, KafkaBroker]:
    """A FastStream app running the index consumer on Kafka."""
    broker = KafkaBroker(bootstrap_servers)
    subscribe_index_consumer(
        broker, consumer, group_id=group_id, topic_prefix=topic_prefix, **subscriber_options
    )
    return FastStream(broker), broker
