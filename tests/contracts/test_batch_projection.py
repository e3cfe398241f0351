"""The set-based batch projection on both databases: the same index as one event at a time.

``IndexConsumer.handle_batch`` applies a poll with a few statements per table
(``BatchProjection``); shuffled, with duplicates and events that come before their
predecessor, it must leave exactly the rows that ``IndexProjector.apply`` leaves event by
event in order, ``tenant_usage`` included, and that counter must equal the storage SUM that
the quota check used to compute.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text
from tests.factories import created, history, sha

from artifact_hub.adapters.bus import KafkaRecord, decode, encode
from artifact_hub.adapters.bus.signing import sign_record
from artifact_hub.adapters.index import Database, IndexProjector, IndexReader
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.rebuild_target import PROJECTION_TABLES
from artifact_hub.adapters.index.stores.artifacts import SqlArtifactStore
from artifact_hub.consumers import IndexConsumer, Outcome
from artifact_hub.consumers.validation import Verdict
from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    Principal,
    SessionSealed,
)
from artifact_hub.schemas.events import ArtifactEvent, ArtifactExpired, ExpiryChange
from artifact_hub.schemas.lineage import Lineage, LineageInput

T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=10)


class _Chain:
    """Events of one artifact with consecutive seq and growing times."""

    def __init__(self, artifact_id: str, tenant_id: str, start: datetime) -> None:
        self.artifact_id, self.tenant_id, self.at = artifact_id, tenant_id, start
        self.seq, self.version = 0, 0
        self.events: list[EventBase] = []

    def add(self, cls: type[ArtifactEvent], **fields: Any) -> None:
        self.seq += 1
        self.at += timedelta(seconds=1)
        if cls in (ArtifactCreated, ArtifactVersioned):
            self.version += 1
            fields.setdefault("sha256", sha(f"{self.artifact_id}/{self.version}"))
            fields.setdefault("size_bytes", 100 * self.version + len(self.artifact_id))
        if cls is ArtifactVersioned:
            fields["version"] = self.version
        if cls is ArtifactCreated:
            fields.setdefault("name", f"{self.artifact_id}.bin")
        self.events.append(
            cls(
                tenant_id=self.tenant_id,
                artifact_id=self.artifact_id,
                seq=self.seq,
                occurred_at=self.at,
                **fields,
            )
        )


def mixed_log() -> list[EventBase]:
    """Creates, versions (metadata, lineage), shares/unshares, updates (labels, tags, pin,
    expiry), version deletes, soft deletes, purges, expiries and seals, over two tenants."""
    events: list[EventBase] = []
    for n in range(24):
        tenant = "t1" if n % 3 else "t2"
        chain = _Chain(f"art_b{n:014d}", tenant, T0 + timedelta(minutes=n))
        chain.add(
            ArtifactCreated,
            session_id=f"s{n % 4}",
            metadata={"n": n, "kind": "x"},
            labels={"team": "a" if n % 2 else "b"},
            tags=["q", "r"] if n % 2 else [],
            expires_at=T0 + timedelta(days=1 if n % 5 == 0 else 30),
            lineage=Lineage(run_id=f"run{n}", inputs=[LineageInput(artifact_id="art_x", version=1)])
            if n % 4 == 0
            else None,
        )
        chain.add(ArtifactVersioned, metadata={"n": n, "v": 2} if n % 2 else None)
        chain.add(
            ArtifactShared,
            grants=[Principal(type="agent", id="bob"), Principal(type="group", id="g")],
        )
        if n % 2:
            chain.add(
                ArtifactVersioned,
                lineage=Lineage(run_id="r2", workflow_id="wf", step_id="st"),
                content_type="text/plain",
            )
            chain.add(ArtifactShared, revokes=[Principal(type="agent", id="bob")])
            chain.add(ArtifactShared, grants=[Principal(type="agent", id="bob")])
        chain.add(
            ArtifactUpdated,
            labels={"team": "c", "n": n},
            tags=["z"] if n % 3 else None,
            pinned=n % 5 == 0 or None,
            metadata={"upd": True} if n % 4 == 1 else None,
            expiry=ExpiryChange(expires_at=None) if n % 7 == 3 else None,
        )
        if n % 6 == 1:
            chain.add(ArtifactDeleted, version=1)
        if n % 6 == 2:
            chain.add(ArtifactDeleted)  # soft delete
            chain.add(ArtifactShared, grants=[Principal(type="agent", id="late")])
        if n % 6 == 3:
            chain.add(ArtifactDeleted, purged=True)
        if n % 6 == 4:
            chain.add(ArtifactExpired)
            chain.add(ArtifactVersioned)
        if n % 6 == 5:
            chain.add(ArtifactDeleted)
            chain.add(ArtifactDeleted, purged=True)
        events += chain.events
    events += history("art_b_history", tenant_id="t2", session_id="s9")
    events += [
        SessionSealed(tenant_id="t1", session_id="s1", occurred_at=T0 + timedelta(hours=5)),
        SessionSealed(tenant_id="t2", session_id="s0", occurred_at=T0 + timedelta(hours=6)),
        SessionSealed(tenant_id="t1", session_id="fresh", occurred_at=T0 + timedelta(hours=7)),
    ]
    return events


async def empty(db: Database) -> None:
    async with db.begin() as conn:
        for table in PROJECTION_TABLES:
            await conn.execute(delete(table))


async def snapshot(db: Database) -> dict[str, list[dict[str, Any]]]:
    async with db.connect() as conn:
        return await IndexReader().snapshot(conn)


async def usage(db: Database) -> dict[str, tuple[int, int]]:
    async with db.connect() as conn:
        rows = (await conn.execute(select(t.tenant_usage))).all()
    return {row.tenant_id: (int(row.bytes), int(row.versions)) for row in rows}


async def one_by_one(db: Database, events: list[EventBase]) -> dict[str, list[dict[str, Any]]]:
    projector = IndexProjector()
    for event in events:
        async with db.begin() as conn:
            await projector.apply(conn, event)
    return await snapshot(db)


async def test_a_shuffled_batch_leaves_the_index_of_one_by_one(database: Database) -> None:
    events = mixed_log()
    expected = await one_by_one(database, events)
    assert expected["tenant_usage"], "the log stores bytes"
    await empty(database)

    dead: list[str] = []

    async def dead_letter(topic: str, record: KafkaRecord, reason: str) -> None:
        dead.append(reason)

    consumer = IndexConsumer(database, dead_letter=dead_letter)
    records = [(e.topic, encode(e)) for e in events]
    records += random.Random(7).sample(records, 25)  # redeliveries
    random.Random(11).shuffle(records)
    outcomes: list[Outcome] = []
    for start in range(0, len(records), 40):
        outcomes += await consumer.handle_batch(records[start : start + 40])
    assert dead == []
    assert Outcome.DEFERRED in outcomes and Outcome.DUPLICATE in outcomes
    await consumer.retry_deferred()
    assert await consumer.pending() == 0
    assert await snapshot(database) == expected
    # Everything again, in one batch: nothing changes.
    again = await consumer.handle_batch(records)
    assert set(again) == {Outcome.DUPLICATE}
    assert await snapshot(database) == expected


async def test_one_big_batch_and_batches_in_order_match_too(database: Database) -> None:
    events = mixed_log()
    expected = await one_by_one(database, events)
    for size in (len(events), 5):
        await empty(database)
        consumer = IndexConsumer(database)
        records = [(e.topic, encode(e)) for e in events]
        for start in range(0, len(records), size):
            outcomes = await consumer.handle_batch(records[start : start + size])
            assert set(outcomes) == {Outcome.APPLIED}
        assert await snapshot(database) == expected


async def test_the_usage_counter_equals_the_storage_sum(database: Database) -> None:
    """``tenant_usage`` (plus the expired correction) is what the quota check summed."""
    events = mixed_log()
    consumer = IndexConsumer(database)
    checked = 0
    for start in range(0, len(events), 9):
        await consumer.handle_batch([(e.topic, encode(e)) for e in events[start : start + 9]])
        async with database.connect() as conn:
            for tenant in ("t1", "t2"):
                for now in (T0, T0 + timedelta(days=2), NOW + timedelta(days=60)):
                    counted = await SqlArtifactStore().storage_used(conn, tenant, now)
                    summed = await SqlArtifactStore.storage_used_by_sum(conn, tenant, now)
                    assert counted == summed, (start, tenant, now)
                    checked += summed > 0
    assert checked
    # One by one (the write path's apply) keeps it the same way.
    by_batch = await usage(database)
    await empty(database)
    await one_by_one(database, events)
    assert await usage(database) == by_batch


HUB_SECRET = "ahbs_contract"


class _CountingValidator:
    """Stands in for ``IngestValidator``: trusts every record, counts what it checks."""

    hub_source = "artifact-hub"
    trusted_bus = False

    def __init__(self) -> None:
        self.checked: list[str] = []

    async def hub_secret(self, *, fresh: bool = False) -> str:
        return HUB_SECRET

    async def check(self, topic: str, record: KafkaRecord) -> Verdict:
        self.checked.append(record.headers["ce_id"])
        return Verdict(decode(record.value, record.headers), trusted=True)

    async def record_applied(self, conn: Any, event: EventBase) -> None:
        return None


async def test_applied_hub_events_are_skipped_before_any_check(database: Database) -> None:
    """Distributed mode: the write path applied the hub's events already; the consumer tells
    them by ``ce_id`` with one query and the hub's signature, and never decodes them again. An
    agent's record with an applied id is still checked (a reused id must be dead-lettered)."""
    hub_events = history("art_skip_hub")
    agent_event = created("art_skip_agent", source="agents/alice")
    validator = _CountingValidator()
    consumer = IndexConsumer(database, validator=validator)  # type: ignore[arg-type]
    records = [(e.topic, sign_record(encode(e), HUB_SECRET)) for e in hub_events]
    records.append((agent_event.topic, encode(agent_event)))
    assert set(await consumer.handle_batch(records)) == {Outcome.APPLIED}
    assert len(validator.checked) == len(records)

    validator.checked.clear()
    assert set(await consumer.handle_batch(records)) == {Outcome.DUPLICATE}
    assert validator.checked == [agent_event.event_id]
    assert consumer.stats.duplicate == len(records)


async def test_the_migration_backfills_the_usage_counter(tmp_path: Path) -> None:
    """Migration 0006 fills ``tenant_usage`` from the rows already in the index."""
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        await db.migrate("0005")
        events = mixed_log()
        async with db.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE tenant_usage (tenant_id VARCHAR(128) PRIMARY KEY, "
                    "bytes BIGINT NOT NULL, versions BIGINT NOT NULL)"
                )
            )
        await one_by_one(db, events)  # the projection of this version (it needs the table)
        expected = await usage(db)
        async with db.begin() as conn:
            await conn.execute(text("DROP TABLE tenant_usage"))
        await db.migrate()
        assert await usage(db) == expected
        async with db.connect() as conn:
            for tenant in ("t1", "t2"):
                assert await SqlArtifactStore().storage_used(conn, tenant, NOW) == (
                    await SqlArtifactStore.storage_used_by_sum(conn, tenant, NOW)
                )
    finally:
        await db.dispose()
