"""Events on the real Kafka-protocol broker: CloudEvents headers, rebuilding a second index
from the topics, an outage of the broker, and duplicate / out-of-order delivery."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker as FastStreamKafkaBroker
from sqlalchemy import func, select
from tests.integration.conftest import stack_settings

from artifact_hub.adapters.bus import KafkaPublisher, all_topics, decode, encode, header_map
from artifact_hub.adapters.index import Database, IndexReader, Outbox
from artifact_hub.adapters.index import tables as t
from artifact_hub.consumers import IndexConsumer, subscribe_index_consumer
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.schemas import Caller, EventBase
from artifact_hub.schemas.cloudevents import KafkaRecord

ALICE = Caller(tenant_id="t1", agent_id="alice")
BOB = Caller(tenant_id="t1", agent_id="bob")
FAST_GROUP = {
    "rebalance_timeout_ms": 1000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
}


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture(
    params=[
        "sqlite-local",
        pytest.param("postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3]),
    ]
)
async def kafka_hub(
    request: pytest.FixtureRequest, tmp_path: Path, kafka_bootstrap_servers: str, prefix: str
) -> AsyncIterator[Hub]:
    settings, cleanup = stack_settings(
        request,
        tmp_path,
        request.param,
        event_bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        topic_prefix=prefix,
        relay_poll_interval=0.2,
    )
    hub = bootstrap(settings)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()
        if cleanup:
            cleanup()


@pytest.fixture
async def empty_index(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'second' / 'index.db'}")
    await db.migrate()
    yield db
    await db.dispose()


async def read_topics(
    bootstrap: str, topics: list[str], expected: int, timeout: float = 30
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the topics from the beginning, until ``expected`` arrived (no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = []
        for topic in topics:
            for _ in range(50):
                found = consumer.partitions_for_topic(topic)
                if found:
                    break
                await consumer._client.force_metadata_update()
                await asyncio.sleep(0.1)
            partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expected and asyncio.get_running_loop().time() < deadline:
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        await asyncio.sleep(0.5)  # and nothing more after that
        for batch in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(batch)
        return records
    finally:
        await consumer.stop()


async def mixed_operations(hub: Hub, artifacts: int = 6) -> int:
    """Creates, versions, shares, unshares, updates, deletes and seals; returns the event count."""
    ids = []
    for n in range(artifacts):
        a = await hub.service.push(
            ALICE,
            f"content {n}".encode(),
            name=f"f{n}.txt",
            session_id=f"s{n % 2}",
            labels={"n": n},
            tags=["even" if n % 2 == 0 else "odd"],
            metadata={"i": n},
        )
        ids.append(a.id)
    for n, artifact_id in enumerate(ids):
        await hub.service.add_version(
            ALICE, artifact_id, f"v2 {n}".encode(), metadata={"i": n, "v": 2}
        )
        await hub.service.share(ALICE, artifact_id, agents=["bob"], groups=["ml"])
        if n % 2:
            await hub.service.unshare(ALICE, artifact_id, agents=["bob"])
            await hub.service.pin(ALICE, artifact_id)
        if n % 3 == 0:
            await hub.service.add_version(ALICE, artifact_id, f"v3 {n}".encode())
            await hub.service.delete_version(ALICE, artifact_id, 1)
    await hub.service.seal_session(ALICE, "s0")
    await hub.service.delete(ALICE, ids[-1])
    async with hub.db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(t.outbox)) or 0)


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    async with db.connect() as conn:
        return await IndexReader().snapshot(conn)


async def consume_into(
    bootstrap: str,
    prefix: str,
    db: Database,
    until_applied: int,
    *,
    received: int = 0,
    timeout: float = 90,
) -> IndexConsumer:
    """Run the FastStream index consumer (own group) until it applied ``until_applied`` events
    (or dead-lettered them) and received at least ``received`` records."""
    consumer = IndexConsumer(db)
    broker = FastStreamKafkaBroker(bootstrap, logger=None)
    subscribe_index_consumer(
        broker, consumer, group_id=f"g-{uuid.uuid4().hex[:8]}", topic_prefix=prefix, **FAST_GROUP
    )
    await broker.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while (
            consumer.stats.applied + consumer.stats.dead_lettered < until_applied
            or consumer.stats.received < received
        ):
            assert asyncio.get_running_loop().time() < deadline, (
                f"consumer stalled: {consumer.stats}"
            )
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # anything beyond the expected count would show up now
    finally:
        await broker.stop()
    return consumer


async def test_an_event_arrives_with_cloudevents_headers_and_its_key(
    kafka_hub: Hub, kafka_bootstrap_servers: str, prefix: str
) -> None:
    artifact = await kafka_hub.service.push(ALICE, b"hello", name="h.txt", session_id="s1")
    await kafka_hub.relay.drain()
    records = await read_topics(kafka_bootstrap_servers, [prefix + "artifact.created"], 1)
    assert len(records) == 1
    record = records[0]
    headers = header_map(record.headers)
    async with kafka_hub.db.connect() as conn:
        (row,) = await Outbox().pending(conn) or [r async for r in Outbox().log(conn)]
    assert record.key == artifact.id.encode()
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_id"] == row.event_id
    assert headers["ce_type"] == "artifact.created.v1"
    assert headers["ce_source"] == "artifact-hub"
    assert headers["ce_subject"] == artifact.id == headers["ce_partitionkey"]
    assert headers["ce_time"].endswith("Z")
    assert headers["content-type"] == "application/json"
    event = decode(record.value, headers)
    assert event.artifact_id == artifact.id and event.sha256 == artifact.sha256  # type: ignore[union-attr]
    assert b'"event_id"' not in record.value  # envelope attributes live in headers only


async def test_a_second_hub_rebuilds_an_equal_index_from_the_topics(
    kafka_hub: Hub, kafka_bootstrap_servers: str, prefix: str, empty_index: Database
) -> None:
    events = await mixed_operations(kafka_hub)
    await kafka_hub.relay.drain()
    consumer = await consume_into(kafka_bootstrap_servers, prefix, empty_index, events)
    assert consumer.stats.dead_lettered == 0
    assert consumer.stats.applied == events
    assert await snapshot(empty_index) == await snapshot(kafka_hub.db)


async def test_writes_during_a_broker_outage_are_delivered_once_it_returns(
    restartable_kafka_broker: Any,
    tmp_path: Path,
    prefix: str,
    empty_index: Database,
    request: pytest.FixtureRequest,
) -> None:
    broker = restartable_kafka_broker
    settings, _ = stack_settings(
        request,
        tmp_path,
        "sqlite-local",
        event_bus="kafka",
        kafka_bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=prefix,
        relay_poll_interval=0.2,
    )
    async with bootstrap(settings) as hub:
        await broker.astop()
        # 100 writes while the broker is down: 20 artifacts with 4 more versions each.
        ids = [
            (await hub.service.push(ALICE, f"a{n}".encode(), name=f"a{n}")).id for n in range(20)
        ]
        for version in range(2, 6):
            for artifact_id in ids:
                await hub.service.add_version(
                    ALICE, artifact_id, f"{artifact_id} v{version}".encode()
                )
        await asyncio.sleep(1.5)
        async with hub.db.connect() as conn:
            assert await hub.outbox.count_pending(conn) == 100  # all kept, none lost
        assert hub.relay.failures > 0
        await broker.astart()
        await hub.relay.drain(timeout=90)
        records = await read_topics(
            broker.bootstrap_servers,
            [prefix + "artifact.created", prefix + "artifact.versioned"],
            100,
        )
        assert len(records) == 100
        assert len({header_map(r.headers)["ce_id"] for r in records}) == 100
        # In order per artifact: one artifact's versions sit in one partition, in version order.
        versions: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        for r in records:
            if r.topic.endswith("versioned"):
                versions[r.key.decode()].append(
                    (r.partition, r.offset, decode(r.value, header_map(r.headers)).version)
                )  # type: ignore[union-attr]
        for artifact_id in ids:
            rows = sorted(versions[artifact_id])
            assert len({p for p, _, _ in rows}) == 1
            assert [v for _, _, v in rows] == [2, 3, 4, 5]
        consumer = await consume_into(broker.bootstrap_servers, prefix, empty_index, 100)
        assert (consumer.stats.applied, consumer.stats.dead_lettered) == (100, 0)
        async with empty_index.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(t.processed_events)) == 100
        assert await snapshot(empty_index) == await snapshot(hub.db)


@pytest.mark.parametrize("target", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_every_event_twice_and_out_of_order_between_artifacts_changes_nothing(
    tmp_path: Path,
    kafka_bootstrap_servers: str,
    prefix: str,
    target: str,
    request: pytest.FixtureRequest,
) -> None:
    settings, _ = stack_settings(request, tmp_path, "sqlite-local")
    async with bootstrap(settings) as hub:
        await mixed_operations(hub, artifacts=8)
        async with hub.db.connect() as conn:
            log: list[EventBase] = [row.event() async for row in hub.outbox.log(conn)]
        expected = await snapshot(hub.db)

    # Keep each artifact's (and session's) own order, shuffle between them, and send each twice.
    queues: dict[str, list[EventBase]] = defaultdict(list)
    for event in log:
        queues[event.key].append(event)
    rng = random.Random(11)
    shuffled: list[EventBase] = []
    while queues:
        key = rng.choice(sorted(queues))
        shuffled.append(queues[key].pop(0))
        if not queues[key]:
            del queues[key]
    deliveries = shuffled + shuffled[::-1][: len(shuffled)]  # every event again, later
    assert [e.event_id for e in shuffled] != [e.event_id for e in log]

    publisher = KafkaPublisher(kafka_bootstrap_servers, topics=all_topics(prefix))
    await publisher.publish_many([(prefix + e.topic, encode(e)) for e in deliveries])
    await publisher.stop()

    if target == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'replayed.db'}")
        cleanup = None
    else:
        server = request.getfixturevalue("postgres_server")
        name = server.create_database()
        db = Database(server.url(name))
        cleanup = lambda: server.drop_database(name)  # noqa: E731
    await db.migrate()
    try:
        consumer = await consume_into(
            kafka_bootstrap_servers, prefix, db, len(log), received=len(deliveries)
        )
        assert consumer.stats.received == len(deliveries)
        assert consumer.stats.applied == len(log)
        assert consumer.stats.dead_lettered == 0
        assert await snapshot(db) == expected
        # And straight through the consumer again, in yet another order: still nothing changes.
        again = IndexConsumer(db)
        for event in rng.sample(log, len(log)):
            await again.handle(event.topic, encode(event))
        assert again.stats.duplicate == len(log) and again.stats.applied == 0
        assert await snapshot(db) == expected
    finally:
        await db.dispose()
        if cleanup:
            cleanup()


async def test_undecodable_records_go_to_the_dead_letter_topic(
    kafka_bootstrap_servers: str, prefix: str, empty_index: Database
) -> None:
    good = encode(await _one_created_event())
    bad = KafkaRecord(key="art_x", value=b"{not json", headers={**good.headers, "ce_id": "bad-1"})
    unknown = KafkaRecord(
        key="art_y",
        value=good.value,
        headers={**good.headers, "ce_type": "artifact.exploded.v1", "ce_id": "bad-2"},
    )
    publisher = KafkaPublisher(kafka_bootstrap_servers, topics=all_topics(prefix))
    await publisher.publish_many([(prefix + "artifact.created", r) for r in (bad, good, unknown)])
    await publisher.stop()
    consumer = await consume_into(kafka_bootstrap_servers, prefix, empty_index, 3)
    assert (consumer.stats.applied, consumer.stats.dead_lettered) == (1, 2)
    dead = await read_topics(kafka_bootstrap_servers, [prefix + "artifact.dlq"], 2)
    reasons = {header_map(r.headers)["ce_id"]: header_map(r.headers)["x-dlq-reason"] for r in dead}
    assert set(reasons) == {"bad-1", "bad-2"}
    assert "not JSON" in reasons["bad-1"] and "unknown event type" in reasons["bad-2"]
    assert all(header_map(r.headers)["x-dlq-topic"] == prefix + "artifact.created" for r in dead)


async def _one_created_event() -> EventBase:
    from tests.factories import created

    return created(f"art_{uuid.uuid4().hex[:16]}")
