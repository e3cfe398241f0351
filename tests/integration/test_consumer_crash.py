"""Two consumer processes share the partitions of one group; one is killed with SIGKILL in the
middle of a stream of 10,000 events. The survivor takes its
partitions over, gets again what the dead one applied but had not committed, releases what the
dead one parked, and the index ends complete and exact."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from tests.factories import history, sealed
from tests.integration.test_kafka_events import read_topics, snapshot
from tests.integration.workers import Worker, read_stats, spawn, stop_all

from artifact_hub.adapters.bus import KafkaPublisher, all_topics, encode, ensure_topics
from artifact_hub.adapters.index import Database, IndexProjector
from artifact_hub.adapters.index import tables as t
from artifact_hub.schemas import EventBase


def event_log(size: int) -> list[EventBase]:
    """``size`` events: artifacts of 7 (create, 2 versions, share, unshare, update, delete of
    version 1), interleaved in time as a busy hub writes them, then sealed sessions."""
    artifacts, seals = divmod(size, 7)
    if seals == 0:
        artifacts, seals = artifacts - 1, 7
    events = [
        e for n in range(artifacts) for e in history(f"art_crash{n:011d}", session_id=f"s{n % 10}")
    ]
    events.sort(key=lambda e: e.occurred_at)  # stable: each artifact keeps its own order
    return [*events, *(sealed(f"s{n}") for n in range(seals))]


async def expected_snapshot(log: list[EventBase], path: Path) -> dict[str, list[dict[str, Any]]]:
    """The index the log makes when applied directly, in order."""
    db = Database(f"sqlite:///{path}")
    await db.migrate()
    projector = IndexProjector()
    try:
        for start in range(0, len(log), 500):
            async with db.begin() as conn:
                for event in log[start : start + 500]:
                    await projector.apply(conn, event)
        return await snapshot(db)
    finally:
        await db.dispose()


async def counts(db: Database) -> tuple[int, int]:
    """(applied events, parked events) in the consumers' index."""
    async with db.connect() as conn:
        applied = await conn.scalar(select(func.count()).select_from(t.processed_events))
        parked = await conn.scalar(select(func.count()).select_from(t.deferred_events))
    return int(applied or 0), int(parked or 0)


def start_consumer(
    tmp_path: Path, member: str, url: str, bootstrap: str, prefix: str, group: str
) -> Worker:
    """One member of the group, in its own process (see ``workers.py``)."""
    return spawn(
        tmp_path,
        f"consumer-{member}",
        "consumer",
        database_url=url,
        bootstrap=bootstrap,
        prefix=prefix,
        group=group,
    )


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    stop_all(started)


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


# 10,000 events in every run (about 100 s on two cores); the deadlines inside scale with the
# count, so the test's own timeout is raised past them.
@pytest.mark.parametrize("events", [pytest.param(10_000, marks=pytest.mark.timeout(1200))])
async def test_a_consumer_killed_mid_stream_leaves_a_complete_and_exact_index(
    events: int,
    postgres_server: Any,
    kafka_bootstrap_servers: str,
    tmp_path: Path,
    workers: list[Worker],
) -> None:
    prefix, group = f"t{uuid.uuid4().hex[:8]}.", f"g-{uuid.uuid4().hex[:8]}"
    log = event_log(events)
    assert len(log) == events
    name = postgres_server.create_database()
    db = Database(postgres_server.url(name))
    await db.migrate()  # before the next one: Alembic's context is global to the process
    expected = asyncio.create_task(expected_snapshot(log, tmp_path / "expected.db"))
    try:
        await ensure_topics(kafka_bootstrap_servers, all_topics(prefix), partitions=3)
        for member in ("a", "b"):
            workers.append(
                start_consumer(
                    tmp_path,
                    member,
                    postgres_server.url(name),
                    kafka_bootstrap_servers,
                    prefix,
                    group,
                )
            )
        (victim, victim_stats), (survivor, survivor_stats) = workers

        async def both_received() -> bool:
            return all(read_stats(stats).get("received", 0) > 0 for _, stats in workers)

        publisher = KafkaPublisher(kafka_bootstrap_servers, topics=all_topics(prefix))
        try:
            # A first slice, until the group has settled with partitions on both members.
            await publisher.publish_many([(prefix + e.topic, encode(e)) for e in log[:700]])
            await wait_for(both_received, 60, "both consumers to get partitions")
            for start in range(700, events, 1000):
                chunk = log[start : start + 1000]
                await publisher.publish_many([(prefix + e.topic, encode(e)) for e in chunk])
        finally:
            await publisher.stop()

        async def a_third_applied() -> bool:
            # ... and the victim has committed work of its own (applied, or parked for the
            # survivor's creates to release: which depends on the partitions it was given).
            victim = read_stats(workers[0][1])
            return (await counts(db))[0] >= events // 3 and (
                victim.get("applied", 0) + victim.get("deferred", 0) > 0
            )

        # Generous deadlines: on a loaded 2-core machine two consumers that park most events
        # (every topic's partitions are consumed at their own pace) apply ~50 a second.
        await wait_for(a_third_applied, events / 20, "a third of the events to be applied")
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        applied_at_kill, _ = await counts(db)
        victim = read_stats(victim_stats)
        victim_applied = victim["applied"]
        assert victim_applied + victim["deferred"] > 0 and applied_at_kill < events

        async def complete() -> bool:
            return await counts(db) == (events, 0)

        await wait_for(complete, 60 + events / 20, f"all {events} events after the kill")
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(30) == 0
        survived = read_stats(survivor_stats)
        print(
            f"\nkilled consumer a at {applied_at_kill} applied ({victim_applied} by a); "
            f"survivor b: {survived}"
        )
        assert survived["dead_lettered"] == 0
        # The survivor took over the dead member's partitions and applied all the rest.
        assert survived["applied"] >= events - applied_at_kill
        assert await read_topics(kafka_bootstrap_servers, [prefix + "artifact.dlq"], 0) == []
        assert await snapshot(db) == await expected
    finally:
        expected.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await expected
        await db.dispose()
        postgres_server.drop_database(name)
