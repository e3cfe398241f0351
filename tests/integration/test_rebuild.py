"""Rebuilding the index and ACLs: from the topics, and from the database's own event log.

A hub in Kafka mode runs a mixed workload through its service (creates, versions, shares,
unshares, updates, pins, deletes of versions and of artifacts, seals), its relay publishes
the outbox, and both rebuilds must give an index equal to the live one.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import KafkaBroker as FastStreamKafkaBroker
from sqlalchemy import func, select
from tests.factories import history, sealed
from tests.integration.conftest import stack_settings
from tests.integration.test_kafka_events import FAST_GROUP, mixed_operations, read_topics, snapshot

from artifact_hub.adapters.bus import KafkaPublisher, all_topics, encode, ensure_topics, header_map
from artifact_hub.adapters.index import Database, IndexProjector
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.storage.memory import MemoryBlobStore
from artifact_hub.consumers import build_validated_consumer, subscribe_index_consumer
from artifact_hub.consumers.rebuild import rebuild_from_log, rebuild_from_topics, rebuild_index
from artifact_hub.core.errors import ConflictError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub, bootstrap
from artifact_hub.publisher import AgentPublisher, put_blob_local
from artifact_hub.schemas import Caller, EventBase

ROOT = Path(__file__).resolve().parents[2]
OWNER = Caller(tenant_id="t1", agent_id="alice")


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@dataclass
class _Live:
    version: int
    session: str
    versions: list[int] = field(default_factory=list)


async def mixed_run(hub: Hub, operations: int, seed: int = 7) -> Counter[str]:
    """``operations`` calls of the hub's service, each writing exactly one event."""
    rng = random.Random(seed)
    service = hub.service
    live: dict[str, _Live] = {}
    open_sessions = [f"s{n}" for n in range(12)]
    next_session = len(open_sessions)
    done: Counter[str] = Counter()
    for n in range(operations):
        roll = rng.random()
        if roll < 0.25 or len(live) < 20:
            session = rng.choice(open_sessions)
            artifact = await service.push(
                OWNER,
                f"content {n}".encode(),
                name=f"f{n}.txt",
                session_id=session,
                labels={"n": n % 7},
                tags=[f"t{n % 5}"],
                metadata={"i": n},
            )
            live[artifact.id] = _Live(1, session, [1])
            done["create"] += 1
            continue
        artifact_id = rng.choice(list(live))
        state = live[artifact_id]
        if roll < 0.45 and state.session in open_sessions:
            metadata = {"v": n} if n % 2 else None
            await service.add_version(OWNER, artifact_id, f"v {n}".encode(), metadata=metadata)
            state.version += 1
            state.versions.append(state.version)
            done["version"] += 1
        elif roll < 0.62:
            await service.share(OWNER, artifact_id, agents=[f"a{n % 4}"], groups=[f"g{n % 3}"])
            done["share"] += 1
        elif roll < 0.74:
            await service.unshare(OWNER, artifact_id, agents=[f"a{n % 4}"])
            done["unshare"] += 1
        elif roll < 0.80:
            await service.update(OWNER, artifact_id, labels={"u": n % 3}, tags=["x"] * (n % 2))
            done["update"] += 1
        elif roll < 0.84:
            await service.pin(OWNER, artifact_id, pinned=bool(n % 2))
            done["pin"] += 1
        elif roll < 0.90 and len(state.versions) > 1 and state.session in open_sessions:
            version = rng.choice(state.versions[:-1])
            await service.delete_version(OWNER, artifact_id, version)
            state.versions.remove(version)
            done["delete_version"] += 1
        elif roll < 0.97 and state.session not in open_sessions:
            # A sealed session takes no deletes (issue 12): a share in their place.
            await service.share(OWNER, artifact_id, agents=[f"a{n % 4}"])
            done["share"] += 1
        elif roll < 0.97:
            await service.delete(OWNER, artifact_id)
            del live[artifact_id]
            done["delete"] += 1
        else:
            session = rng.choice(open_sessions)
            await service.seal_session(OWNER, session)
            open_sessions.remove(session)
            open_sessions.append(f"s{next_session}")
            next_session += 1
            done["seal"] += 1
    return done


async def count(db: Database, table: Any) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def start_topic_rebuild(settings: HubSettings, target: str) -> subprocess.Popen[str]:
    """``artifact-hub index rebuild --target ... --json`` in its own process, on the other core.

    It reads the hub's settings as an operator's shell gives them (environment variables):
    the topics, and the hub's database for the tenants and the bus secret its checks need.
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "ARTIFACT_HUB_DATA_DIR": str(settings.data_dir),
        "ARTIFACT_HUB_EVENT_BUS": "kafka",
        "ARTIFACT_HUB_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "ARTIFACT_HUB_TOPIC_PREFIX": settings.topic_prefix,
    }
    command = Path(sys.executable).with_name("artifact-hub")
    return subprocess.Popen(
        [str(command), "index", "rebuild", "--target", target, "--json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("operations", [1000, pytest.param(10_000, marks=pytest.mark.soak)])
async def test_rebuilds_from_the_topics_and_from_the_log_equal_the_live_index(
    operations: int,
    tmp_path: Path,
    kafka_bootstrap_servers: str,
    prefix: str,
    request: pytest.FixtureRequest,
) -> None:
    settings, _ = stack_settings(
        request,
        tmp_path,
        "sqlite-local",
        event_bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        topic_prefix=prefix,
        relay_poll_interval=0.2,
    )
    began = time.monotonic()
    async with bootstrap(settings, blobs=MemoryBlobStore()) as hub:
        done = await mixed_run(hub, operations)
        await hub.relay.drain(timeout=120)
        written = time.monotonic()
        live = await snapshot(hub.db)
        assert await count(hub.db, t.outbox) == operations  # one event per operation
        live_url = settings.resolved_database_url
    assert {"create", "version", "share", "unshare", "delete", "seal"} <= set(done)

    from_topics = f"sqlite:///{tmp_path / 'from-topics.db'}"
    from_log = f"sqlite:///{tmp_path / 'from-log.db'}"
    process = start_topic_rebuild(settings, from_topics)
    try:
        log_report = await rebuild_from_log(live_url, from_log)
        out, err = await asyncio.to_thread(process.communicate, timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-3000:]
    topics_report = json.loads(out)
    rebuilt = time.monotonic()
    print(
        f"\n{operations} operations {dict(done)}: written and published in "
        f"{written - began:.1f}s, both rebuilds in {rebuilt - written:.1f}s\n"
        f"  from the topics: {topics_report}\n  {log_report.summary()}"
    )

    for report in (topics_report, log_report.__dict__):
        assert (report["read"], report["applied"]) == (operations, operations)
        assert (report["waiting"], report["rejected"]) == (0, [])
    for url in (from_topics, from_log):
        db = Database(url)
        try:
            assert await snapshot(db) == live
        finally:
            await db.dispose()


async def test_a_rebuild_refuses_a_target_with_an_index_unless_forced(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path / "hub", default_ttl_seconds=None)
    async with bootstrap(settings, blobs=MemoryBlobStore()) as hub:
        await mixed_operations(hub)
        live = await snapshot(hub.db)
    url = settings.resolved_database_url
    with pytest.raises(ConflictError, match="not empty"):
        await rebuild_from_log(url, url)
    # In place: the index is emptied and replayed from the database's own log (the outbox,
    # tenants and keys stay).
    report = await rebuild_from_log(url, url, force=True)
    assert report.applied == report.read > 0
    db = Database(url)
    try:
        assert await snapshot(db) == live
        assert await count(db, t.outbox) == report.read
    finally:
        await db.dispose()


async def test_events_whose_clocks_disagree_are_parked_and_released(
    tmp_path: Path, kafka_bootstrap_servers: str, prefix: str
) -> None:
    # Each artifact's create carries a later time than its next events (a writer whose clock
    # ran ahead), and every event is published twice: the merge by time hands the rebuild
    # versions before their create, which wait and are applied when it comes.
    log: list[EventBase] = []
    for n in range(20):
        events = history(f"art_skew{n:012d}", session_id=f"s{n % 3}")
        events[0] = events[0].model_copy(
            update={"occurred_at": events[0].occurred_at + timedelta(seconds=30)}
        )
        log += events
    log.append(sealed("s0"))
    expected_db = Database(f"sqlite:///{tmp_path / 'expected.db'}")
    await expected_db.migrate()
    async with expected_db.begin() as conn:
        for event in log:
            await IndexProjector().apply(conn, event)
    expected = await snapshot(expected_db)
    await expected_db.dispose()

    publisher = KafkaPublisher(kafka_bootstrap_servers, topics=all_topics(prefix))
    await publisher.publish_many([(prefix + e.topic, encode(e)) for e in log + log])
    await publisher.stop()

    target = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    report = await rebuild_from_topics(kafka_bootstrap_servers, prefix, target, batch_size=50)
    assert (report.read, report.applied, report.duplicates) == (2 * len(log), len(log), len(log))
    assert (report.waiting, report.rejected) == (0, [])
    assert report.parked >= 20  # at least each artifact's first early event waited
    db = Database(target)
    try:
        assert await snapshot(db) == expected
        with pytest.raises(ConflictError):
            await rebuild_from_topics(kafka_bootstrap_servers, prefix, target)
    finally:
        await db.dispose()
    forced = await rebuild_from_topics(kafka_bootstrap_servers, prefix, target, force=True)
    assert forced.applied == len(log)


async def test_the_command_checks_records_as_the_live_consumers_did(
    tmp_path: Path, kafka_bootstrap_servers: str, prefix: str
) -> None:
    """``rebuild_index`` (what ``artifact-hub index rebuild`` runs): hub events signed by the
    hub, an agent's signed events (message-bus ingestion), and events the live consumers
    dead-lettered (a wrong signature, a forged hub event), rebuilt from the topics and from
    the log into fresh databases."""
    settings = HubSettings(
        data_dir=tmp_path / "hub",
        default_ttl_seconds=None,
        event_bus="kafka",
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        topic_prefix=prefix,
        relay_poll_interval=0.1,
        sweep_enabled=False,
    )
    await ensure_topics(kafka_bootstrap_servers, all_topics(prefix))
    async with bootstrap(settings) as hub:
        await hub.accounts.create_tenant("acme", plan="enterprise")
        secret = await hub.accounts.create_ingestion_secret("acme")
        hub_events = await mixed_operations(hub)
        await hub.relay.drain()
        data = tmp_path / "report.csv"
        data.write_bytes(b"a,b\n1,2\n")
        sha256, size = await put_blob_local(settings.resolved_blob_dir, data)
        async with AgentPublisher(
            kafka_bootstrap_servers, "acme", secret, agent_id="alice", topic_prefix=prefix
        ) as agent:
            created = await agent.publish_created(
                name="report.csv", sha256=sha256, size_bytes=size, session_id="run-1"
            )
            await agent.publish_shared(created.artifact_id, agents=["bob"])
        async with AgentPublisher(
            kafka_bootstrap_servers, "acme", "ahis_not-the-secret", topic_prefix=prefix
        ) as impostor:
            await impostor.publish_created(name="x", sha256=sha256, size_bytes=size)
        forged = created.model_copy(
            update={"event_id": uuid.uuid4().hex, "source": settings.event_source}
        )
        forged = forged.model_copy(update={"artifact_id": "art_forged0000000000"})
        publisher = KafkaPublisher(kafka_bootstrap_servers)
        await publisher.publish_many([(prefix + forged.topic, encode(forged))])
        await publisher.stop()

        # The live consumer process: it applies the agent's events and dead-letters the rest.
        consumer = build_validated_consumer(settings, hub.db, blobs=hub.blobs)
        broker = FastStreamKafkaBroker(kafka_bootstrap_servers, logger=None)
        subscribe_index_consumer(
            broker, consumer, group_id=f"g-{prefix}", topic_prefix=prefix, **FAST_GROUP
        )
        await broker.start()
        try:
            deadline = asyncio.get_running_loop().time() + 60
            while consumer.stats.received < hub_events + 4:
                assert asyncio.get_running_loop().time() < deadline, consumer.stats
                await asyncio.sleep(0.1)
        finally:
            await broker.stop()
        assert (consumer.stats.applied, consumer.stats.dead_lettered) == (2, 2)
        live = await snapshot(hub.db)

    from_topics = await rebuild_index(settings, target=f"sqlite:///{tmp_path / 'topics.db'}")
    from_log = await rebuild_index(
        settings, from_log=True, target=f"sqlite:///{tmp_path / 'log.db'}"
    )
    assert from_topics.applied == from_log.applied == hub_events + 2
    # What the rebuild turns down is what the live consumer dead-lettered, for the same reason.
    dead = await read_topics(kafka_bootstrap_servers, [prefix + "artifact.dlq"], 2)
    live_reasons = {
        header_map(r.headers)["ce_id"]: header_map(r.headers)["x-dlq-reason"] for r in dead
    }
    assert {r.event_id: r.reason for r in from_topics.rejected} == live_reasons
    assert sorted(reason.split(":")[0] for reason in live_reasons.values()) == [
        "bad_signature",
        "missing_signature",
    ]
    assert from_log.rejected == []
    for name in ("topics.db", "log.db"):
        db = Database(f"sqlite:///{tmp_path / name}")
        try:
            assert await snapshot(db) == live
        finally:
            await db.dispose()
