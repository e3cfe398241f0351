"""The service fixtures hand out services that really work."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import boto3
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from tests.services import KafkaBroker, create_topics


async def _produce_and_consume_one(bootstrap: str, topic: str, value: bytes) -> bytes:
    await create_topics(bootstrap, [topic], partitions=3)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"art_0000000000000001")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"ah-test-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        rebalance_timeout_ms=1000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    await consumer.start()
    try:
        message = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    received: bytes = message.value
    return received


async def test_kafka_produce_and_consume_in_a_group(kafka_bootstrap_servers: str) -> None:
    topic = f"ah-test-{uuid.uuid4().hex[:8]}"
    got = await _produce_and_consume_one(kafka_bootstrap_servers, topic, b"hello")
    assert got == b"hello"


async def test_kafka_broker_restarts_on_the_same_address(
    restartable_kafka_broker: KafkaBroker,
) -> None:
    broker = restartable_kafka_broker
    address = broker.bootstrap_servers
    await broker.astop()
    await broker.astart()
    assert broker.bootstrap_servers == address
    topic = f"ah-test-{uuid.uuid4().hex[:8]}"
    assert await _produce_and_consume_one(address, topic, b"again") == b"again"


async def test_postgres_select_one(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+asyncpg://")
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
            database = (await conn.execute(text("SELECT current_database()"))).scalar_one()
    finally:
        await engine.dispose()
    assert database.startswith("ah_test_")


def test_s3_put_and_get(s3_bucket: str, s3_settings: dict[str, Any]) -> None:
    s3 = boto3.client("s3", **s3_settings)
    s3.put_object(Bucket=s3_bucket, Key="blobs/hello.txt", Body=b"hello blob")
    body = s3.get_object(Bucket=s3_bucket, Key="blobs/hello.txt")["Body"].read()
    assert body == b"hello blob"
