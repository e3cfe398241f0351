"""The relay lease: several relays on one outbox, only one publishes; another takes over when
it stops or dies. Lease semantics in one process (SQLite lock file, PostgreSQL advisory lock),
then two relay processes on one PostgreSQL outbox, publishing to Kafka."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.factories import history
from tests.integration.test_kafka_events import read_topics
from tests.integration.workers import Worker, read_stats, spawn, stop_all

from artifact_hub.adapters.bus import InProcessBus, OutboxRelay, header_map
from artifact_hub.adapters.bus.lease import (
    LEASE_LOCK_CLASS,
    LEASE_LOCK_OUTBOX,
    FileRelayLease,
    PostgresRelayLease,
    relay_lease,
)
from artifact_hub.adapters.index import Database, IndexProjector, Outbox
from artifact_hub.adapters.index import tables as t
from artifact_hub.schemas import EventBase


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
async def pg_url(postgres_server: Any) -> AsyncIterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


def events(artifacts: int, tag: str) -> list[EventBase]:
    """``artifacts`` histories of 7 events, interleaved in time as a busy hub writes them."""
    log = [e for n in range(artifacts) for e in history(f"art_{tag}{n:012d}")]
    return sorted(log, key=lambda e: e.occurred_at)


async def write(
    db: Database, log: list[EventBase], prefix: str = "", per_transaction: int = 10
) -> None:
    """The write path's transaction: apply to the index and append to the outbox, together."""
    projector, outbox = IndexProjector(), Outbox(prefix)
    for start in range(0, len(log), per_transaction):
        async with db.begin() as conn:
            for event in log[start : start + per_transaction]:
                await projector.apply(conn, event)
                await outbox.append(conn, event)


async def pending(db: Database) -> int:
    async with db.connect() as conn:
        return await Outbox().count_pending(conn)


# ---------------------------------------------------------------------- lease semantics


async def test_a_lock_file_lets_one_relay_publish_and_the_other_take_over(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'index.db'}")
    await db.migrate()
    first_bus, second_bus = _CountingBus(), _CountingBus()
    first = OutboxRelay(db, Outbox(), first_bus, poll_interval=0.05)
    second = OutboxRelay(db, Outbox(), second_bus, poll_interval=0.05)
    assert isinstance(first.lease, FileRelayLease)
    try:
        await write(db, events(3, "a"))
        assert await first.publish_pending() == 21
        await write(db, events(2, "b"))
        assert await second.publish_pending() == 0  # standing by: the first holds the lease
        assert (first.active, second.active) == (True, False)
        assert await pending(db) == 14
        await first.stop()  # gives the lease up
        await asyncio.sleep(0.06)  # the standby's next attempt
        assert await second.publish_pending() == 14
        assert (first_bus.count, second_bus.count) == (21, 14)
    finally:
        await first.stop()
        await second.stop()
        await db.dispose()


async def test_in_memory_sqlite_needs_no_lease() -> None:
    db = Database("sqlite:///:memory:")
    lease = relay_lease(db)
    assert await lease.acquire() and lease.held
    await lease.release()
    assert not lease.held


@pytest.mark.postgres
async def test_the_advisory_lock_is_held_per_session_and_lost_with_it(pg_url: str) -> None:
    db = Database(pg_url)
    await db.migrate()
    first = PostgresRelayLease(db, retry_interval=0)
    second = PostgresRelayLease(db, retry_interval=0)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await first.acquire()  # confirmed, still held
        await first.release()
        assert await second.acquire()
        assert not await first.acquire()
        # The holder's session ends (a crash, a network cut): the lock goes with it, the standby
        # takes over, and the old holder notices before its next batch that it lost it.
        holder = await lease_holder(db)
        assert holder is not None
        async with db.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holder})
        for _ in range(100):  # the backend exits (and drops its locks) a moment later
            if await lease_holder(db) is None:
                break
            await asyncio.sleep(0.05)
        assert await first.acquire()
        assert second.held  # as far as it knows, until it checks
        assert not await second.acquire()
        assert not second.held
    finally:
        await first.release()
        await second.release()
        await db.dispose()


async def lease_holder(db: Database) -> int | None:
    """The process id of the session holding the relay lease on this database."""
    async with db.connect() as conn:
        pid = await conn.scalar(
            text(
                "SELECT pid FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database "
                "WHERE d.datname = current_database() AND locktype = 'advisory' "
                "AND classid = :c AND objid = :o AND objsubid = 2 AND granted"
            ),
            {"c": LEASE_LOCK_CLASS, "o": LEASE_LOCK_OUTBOX},
        )
    return None if pid is None else int(pid)


class _CountingBus(InProcessBus):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    async def publish_many(self, items: Any) -> None:
        self.count += len(items)


# ---------------------------------------------------------------------- two relay processes


def start_relay(tmp_path: Path, name: str, url: str, bootstrap: str, prefix: str) -> Worker:
    return spawn(
        tmp_path,
        name,
        "relay",
        database_url=url,
        bootstrap=bootstrap,
        prefix=prefix,
        data_dir=tmp_path / name,
        batch_size=10,
    )


@pytest.fixture
def relays(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    stop_all(started)


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def published_records(
    db: Database, bootstrap: str, prefix: str, expected: int
) -> tuple[dict[str, int], list[Any]]:
    async with db.connect() as conn:
        rows = (
            await conn.execute(select(t.outbox.c.id, t.outbox.c.event_id, t.outbox.c.sent_at))
        ).all()
    assert all(row.sent_at is not None for row in rows)
    ids = {row.event_id: row.id for row in rows}
    topics = sorted({prefix + e.topic for e in events(1, "x")})
    return ids, await read_topics(bootstrap, topics, expected, timeout=60)


def check_order(records: list[Any], ids: dict[str, int]) -> None:
    """In every partition, each event's first copy comes in the order the outbox wrote them."""
    partitions: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for r in records:
        partitions[(r.topic, r.partition)].append((r.offset, ids[header_map(r.headers)["ce_id"]]))
    for rows in partitions.values():
        seen: set[int] = set()
        first_copies = []
        for _, outbox_id in sorted(rows):
            if outbox_id not in seen:
                seen.add(outbox_id)
                first_copies.append(outbox_id)
        assert first_copies == sorted(first_copies)


@pytest.mark.postgres
async def test_two_relay_processes_publish_every_row_exactly_once_in_order(
    pg_url: str, kafka_bootstrap_servers: str, prefix: str, tmp_path: Path, relays: list[Any]
) -> None:
    db = Database(pg_url)
    await db.migrate()
    try:
        for name in ("relay-a", "relay-b"):
            relays.append(start_relay(tmp_path, name, pg_url, kafka_bootstrap_servers, prefix))

        async def both_started() -> bool:
            return all(read_stats(stats).get("started") for _, stats in relays)

        await wait_for(both_started, 30, "both relays to start")
        log = events(150, "r")  # 1,050 events, written while both relays run
        await write(db, log, prefix)

        async def drained() -> bool:
            return await pending(db) == 0

        await wait_for(drained, 60, "the outbox to drain")
        for process, _ in relays:
            process.send_signal(signal.SIGTERM)
        for process, _ in relays:
            assert process.wait(30) == 0
        published = sorted(read_stats(stats)["published"] for _, stats in relays)
        assert published == [0, len(log)]  # one relay published everything, the other stood by

        ids, records = await published_records(db, kafka_bootstrap_servers, prefix, len(log))
        copies = Counter(header_map(r.headers)["ce_id"] for r in records)
        assert set(copies) == set(ids) == {e.event_id for e in log}
        assert set(copies.values()) == {1}  # every row exactly once
        check_order(records, ids)
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_when_the_active_relay_is_killed_the_standby_takes_over(
    pg_url: str, kafka_bootstrap_servers: str, prefix: str, tmp_path: Path, relays: list[Any]
) -> None:
    db = Database(pg_url)
    await db.migrate()
    try:
        log = events(300, "k")  # 2,100 events waiting before the relays start
        await write(db, log, prefix, per_transaction=50)
        for name in ("relay-a", "relay-b"):
            relays.append(start_relay(tmp_path, name, pg_url, kafka_bootstrap_servers, prefix))

        async def leader_halfway() -> bool:
            return any(read_stats(stats).get("published", 0) >= 300 for _, stats in relays)

        await wait_for(leader_halfway, 60, "the leader to publish 300 rows")
        (leader, leader_stats), (standby, standby_stats) = sorted(
            relays, key=lambda r: -read_stats(r[1]).get("published", 0)
        )
        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        killed_at = read_stats(leader_stats)["published"]
        assert await pending(db) > 0, "the leader finished before it was killed"

        async def drained() -> bool:
            return await pending(db) == 0

        await wait_for(drained, 60, "the standby to publish the rest")
        standby.send_signal(signal.SIGTERM)
        assert standby.wait(30) == 0
        assert read_stats(standby_stats)["published"] > 0

        ids, records = await published_records(db, kafka_bootstrap_servers, prefix, len(log))
        copies = Counter(header_map(r.headers)["ce_id"] for r in records)
        assert set(copies) == set(ids)  # nothing lost
        # At most the batch the leader published but had not marked sent goes out twice.
        assert len(records) - len(ids) <= 10
        assert killed_at > 0
        check_order(records, ids)
    finally:
        await db.dispose()


async def test_the_active_relay_wakes_at_another_process_commit_not_at_its_poll(
    pg_url: str, prefix: str
) -> None:
    """PostgreSQL: rows another writer commits reach the active relay by LISTEN/NOTIFY."""
    db = Database(pg_url)
    writer = Database(pg_url)  # another API worker or replica, with its own connections
    await db.migrate()
    outbox = Outbox(prefix)
    bus = InProcessBus()
    seen: list[float] = []
    loop = asyncio.get_running_loop()

    async def record(topic: str, item: Any) -> None:
        seen.append(loop.time())

    for topic in {prefix + event.topic for event in events(1, "warm")}:
        bus.subscribe(topic, record)
    # A poll so long that only a notification can explain a quick delivery.
    relay = OutboxRelay(db, outbox, bus, poll_interval=30.0)
    relay.start()
    try:
        for _ in range(100):  # the relay takes the lease (and LISTENs) on its first round
            if relay.active:
                break
            await asyncio.sleep(0.05)
        assert relay.active
        await asyncio.sleep(0.2)  # its first round is over: it now waits for 30 s
        committed = loop.time()
        await write(writer, events(1, "woken")[:1], prefix)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.02)
        assert seen, "the relay did not publish the other writer's row"
        assert seen[0] - committed < 2.0
    finally:
        await relay.stop()
        await db.dispose()
        await writer.dispose()
