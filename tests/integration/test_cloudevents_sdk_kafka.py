"""Events from another CloudEvents producer: built with the ``cloudevents`` SDK (its Kafka
binding, binary and structured mode), published with aiokafka to our topics, applied by the
index consumer, and the index is the one our own events would have built."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from tests.integration.test_kafka_events import consume_into, read_topics, snapshot

from artifact_hub.adapters.bus import all_topics, ensure_topics, header_map
from artifact_hub.adapters.index import Database, IndexProjector
from artifact_hub.adapters.index import tables as t
from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)

kafka_binding = pytest.importorskip("cloudevents.core.bindings.kafka")
from cloudevents.core.v1.event import CloudEvent  # noqa: E402

ENVELOPE = {"type", "event_id", "occurred_at", "source"}
SOURCE = "urn:example:other-producer"
T0 = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
SHA = [f"{n:x}" * 64 for n in range(1, 6)]


@pytest.fixture
def prefix() -> str:
    return f"ce{uuid.uuid4().hex[:8]}."


async def _index(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    return db


@pytest.fixture
async def index_pair(tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    consumed, direct = await _index(tmp_path / "consumed.db"), await _index(tmp_path / "direct.db")
    yield consumed, direct
    await consumed.dispose()
    await direct.dispose()


def foreign_events() -> list[EventBase]:
    """Two artifacts and a session, as another producer would describe them."""
    a, b = f"art_sdk_{uuid.uuid4().hex[:10]}", f"art_sdk_{uuid.uuid4().hex[:10]}"
    common: dict[str, Any] = {"tenant_id": "t-sdk", "actor": "agent-x", "source": SOURCE}

    def at(minutes: int) -> datetime:
        return T0 + timedelta(minutes=minutes)

    return [
        ArtifactCreated(
            **common,
            occurred_at=at(0),
            artifact_id=a,
            name="features.parquet",
            sha256=SHA[0],
            size_bytes=1024,
            content_type="application/vnd.apache.parquet",
            session_id="ses_sdk",
            agent_id="agent-x",
            metadata={"run": "r1"},
            labels={"stage": "train"},
            tags=["sdk"],
        ),
        ArtifactVersioned(
            **common,
            occurred_at=at(1),
            artifact_id=a,
            seq=2,
            version=2,
            sha256=SHA[1],
            size_bytes=2048,
            metadata={"run": "r2"},
        ),
        ArtifactShared(
            **common,
            occurred_at=at(2),
            artifact_id=a,
            seq=3,
            grants=[{"type": "agent", "id": "agent-y"}, {"type": "group", "id": "ml"}],
        ),
        ArtifactCreated(
            **common,
            occurred_at=at(3),
            artifact_id=b,
            name="notes.md",
            sha256=SHA[2],
            size_bytes=10,
            session_id="ses_sdk",
        ),
        ArtifactUpdated(**common, occurred_at=at(4), artifact_id=b, seq=2, pinned=True),
        SessionSealed(**common, occurred_at=at(5), session_id="ses_sdk"),
    ]


def sdk_message(event: EventBase, mode: str) -> Any:
    """The event as the SDK's Kafka binding renders it (``KafkaMessage``)."""
    cloud_event = CloudEvent(
        {
            "id": event.event_id,
            "source": event.source,
            "type": f"{event.type}.v1",
            "time": event.occurred_at,
            "subject": event.subject,
            "datacontenttype": "application/json",
            "partitionkey": event.key,
        },
        event.model_dump(mode="json", exclude=ENVELOPE),
    )
    if mode == "binary":
        return kafka_binding.to_binary_event(cloud_event)
    return kafka_binding.to_structured_event(cloud_event)


async def publish_sdk(
    bootstrap: str, prefix: str, items: list[tuple[str, Any]]
) -> list[tuple[str, Any]]:
    """Send ``(topic, KafkaMessage)`` pairs in order, as they are; return them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for topic, message in items:
            key = message.key.encode() if isinstance(message.key, str) else message.key
            await producer.send_and_wait(
                prefix + topic, message.value, key=key, headers=list(message.headers.items())
            )
    finally:
        await producer.stop()
    return items


@pytest.mark.parametrize("modes", ["binary", "structured", "mixed"])
async def test_sdk_built_events_on_our_topics_are_applied(
    kafka_bootstrap_servers: str,
    prefix: str,
    index_pair: tuple[Database, Database],
    modes: str,
) -> None:
    consumed, direct = index_pair
    events = foreign_events()
    await ensure_topics(kafka_bootstrap_servers, all_topics(prefix))
    items = []
    for n, event in enumerate(events):
        mode = ("binary", "structured")[n % 2] if modes == "mixed" else modes
        items.append((event.topic, sdk_message(event, mode)))
    await publish_sdk(kafka_bootstrap_servers, prefix, items)

    # What went over the wire is what the SDK made: binary headers or a structured body.
    records = await read_topics(
        kafka_bootstrap_servers, [prefix + topic for topic, _ in items], len(items)
    )
    assert len(records) == len(items)
    for record in records:
        headers = header_map(record.headers)
        if "ce_type" in headers:
            assert headers["ce_source"] == SOURCE
        else:
            assert headers["content-type"].startswith("application/cloudevents+json")

    consumer = await consume_into(kafka_bootstrap_servers, prefix, consumed, len(events))
    assert consumer.stats.dead_lettered == 0, consumer.stats
    assert consumer.stats.applied == len(events)

    # The same events applied straight through the projection build the same index.
    projector = IndexProjector()
    for event in events:
        async with direct.begin() as conn:
            assert await projector.apply(conn, event)
    assert await snapshot(consumed) == await snapshot(direct)

    first, second = events[0], events[3]
    assert isinstance(first, ArtifactCreated) and isinstance(second, ArtifactCreated)
    async with consumed.connect() as conn:
        artifacts = {
            row.artifact_id: row for row in (await conn.execute(select(t.artifacts))).all()
        }
        grants = {
            (row.principal_type, row.principal_id)
            for row in (await conn.execute(select(t.access_entries))).all()
        }
        sealed = await conn.scalar(
            select(t.sessions.c.sealed_at).where(t.sessions.c.session_id == "ses_sdk")
        )
        applied_ids = set((await conn.scalars(select(t.processed_events.c.event_id))).all())
    a = artifacts[first.artifact_id]
    assert (a.name, a.version, a.size_bytes, a.sha256) == ("features.parquet", 2, 2048, SHA[1])
    assert a.metadata == {"run": "r2"}
    assert a.created_at == T0
    assert artifacts[second.artifact_id].pinned is True
    assert {("agent", "agent-y"), ("group", "ml")} <= grants
    assert sealed is not None
    assert {e.event_id for e in events} <= applied_ids


async def test_a_redelivered_sdk_event_is_a_duplicate_and_a_bad_one_is_dead_lettered(
    kafka_bootstrap_servers: str, prefix: str, index_pair: tuple[Database, Database]
) -> None:
    consumed, _ = index_pair
    created = foreign_events()[0]
    bad = created.model_dump(mode="json", exclude=ENVELOPE)
    bad["sha256"] = "not-a-sha"
    broken = CloudEvent(
        {
            "id": uuid.uuid4().hex,
            "source": SOURCE,
            "type": "artifact.created.v1",
            "datacontenttype": "application/json",
            "partitionkey": "art_bad",
        },
        bad,
    )
    await ensure_topics(kafka_bootstrap_servers, all_topics(prefix))
    await publish_sdk(
        kafka_bootstrap_servers,
        prefix,
        [
            ("artifact.created", sdk_message(created, "structured")),
            ("artifact.created", sdk_message(created, "binary")),  # the same id again
            ("artifact.created", kafka_binding.to_structured_event(broken)),
        ],
    )
    consumer = await consume_into(kafka_bootstrap_servers, prefix, consumed, 2, received=3)
    assert consumer.stats.applied == 1
    assert consumer.stats.duplicate == 1
    assert consumer.stats.dead_lettered == 1
    (dead,) = await read_topics(kafka_bootstrap_servers, [prefix + "artifact.dlq"], 1)
    reason = header_map(dead.headers)["x-dlq-reason"]
    assert "sha256" in reason and "artifact.created.v1" in reason
