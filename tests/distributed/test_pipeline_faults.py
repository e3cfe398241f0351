"""Faults in the event pipeline of the distributed topology, each under a steady load.

2 API replicas behind one address, 2 index consumers in one group, 2 relays on the lease, on
PostgreSQL, S3 (through :class:`~tests.distributed.s3_faults.S3FaultProxy`) and Kafka:

(a) a consumer killed with SIGKILL mid-batch: the group rebalances and the survivor catches up
    alone; every acknowledged write is in the index once, every event on the bus once, and an
    index rebuilt from the topics equals the live one;
(b) the broker stopped for 20 s: the API keeps accepting writes into the outbox, and once the
    broker is back every event is delivered;
(c) the active relay killed: the standby takes the lease and publishes the rest; nothing is
    lost and each artifact's events stay in order;
(d) S3 answering 503 to PUT and GET: short bursts are retried away, a long one answers a clear
    503 ``storage_unavailable``, and nothing is half-visible.

Each scenario adds its throughput, p50/p99 and events lag (the peaks of outbox rows not
published and of the group's lag) to the suite's table (:mod:`tests.distributed.report`).
The broker scenario runs last: Tansu forgets its topics when it stops.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.distributed.pipeline import (
    LagSampler,
    Load,
    broker_outage,
    bus_records,
    index_equals_replay,
    index_versions,
    indexed_names,
    lease_holder,
    outbox_ids,
)
from tests.distributed.report import ScenarioFigures, record
from tests.distributed.s3_faults import S3FaultProxy
from tests.distributed.topology import Services, Topology

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(150)]

S3_ATTEMPTS = 3
"""The replicas' ``s3_max_attempts``: a burst of S3_ATTEMPTS - 1 faults is retried away."""


@pytest.fixture(scope="module")
def s3_proxy(s3_endpoint_url: str) -> Iterator[S3FaultProxy]:
    with S3FaultProxy(s3_endpoint_url) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def pipeline(
    kafka_bootstrap_servers: str,
    topology_database: str,
    s3_settings: dict[str, Any],
    topology_bucket: str,
    redis_url: str,
    s3_proxy: S3FaultProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Topology]:
    """The topology with every hub process's S3 endpoint at the fault proxy."""
    services = Services(
        kafka=kafka_bootstrap_servers,
        database_url=topology_database,
        s3={**s3_settings, "endpoint_url": s3_proxy.endpoint_url},
        bucket=topology_bucket,
        redis_url=redis_url,
    )
    env = {"S3_MAX_ATTEMPTS": str(S3_ATTEMPTS)}
    async with Topology(services, tmp_path_factory.mktemp("pipeline"), env=env) as topo:
        yield topo


async def caught_up(topology: Topology, timeout: float) -> tuple[float, Any]:
    """Seconds until nothing is pending (outbox and group lag), and the last lag seen."""
    began = time.monotonic()
    lag = await topology.wait_caught_up(timeout)
    return time.monotonic() - began, lag


def finish(
    record_property: Callable[[str, object], None],
    figures: ScenarioFigures,
    sampler: LagSampler,
    notes: str,
) -> None:
    """Add the scenario's row (its lag peaks from ``sampler``) to the suite's table."""
    figures.outbox_pending, figures.consumer_lag = sampler.peak_outbox, sampler.peak_lag
    figures.notes = notes
    record(record_property, figures)
    print(f"\n{figures.scenario}: {figures.row()}")


def check_index(load: Load, rows: dict[str, int], versions: dict[str, int]) -> None:
    """Every acknowledged write is in the index, once: 0 lost, 0 doubled."""
    for artifact_id, acknowledged in load.acknowledged_versions().items():
        assert versions.get(artifact_id) == acknowledged, artifact_id
        assert rows.get(artifact_id) == acknowledged, artifact_id


async def test_a_consumer_killed_mid_batch_loses_and_doubles_nothing(
    pipeline: Topology, record_property: Callable[[str, object], None], tmp_path: Path
) -> None:
    load = Load(pipeline.url, pipeline.api_key, "consumer-kill")
    try:
        async with LagSampler(pipeline) as sampler:
            async with load:
                await asyncio.sleep(2.5)
                pipeline.kill("consumer", 0)
                await asyncio.sleep(4.0)
            # The victim stays dead: the survivor alone takes its partitions over.
            catch_up, lag = await caught_up(pipeline, 45)
    finally:
        pipeline.start_again("consumer", 0)
    figures = load.figures("consumer SIGKILL mid-batch")
    assert lag.total == 0, f"the group did not catch up without its killed member: {lag}"
    assert figures.failed == 0, [o for o in load.outcomes if o.status not in (200, 201)]

    events = await outbox_ids(pipeline.services.database_url)
    rows, versions, processed = await index_versions(pipeline.services.database_url)
    check_index(load, rows, versions)
    assert processed == set(events)  # every event applied to the index exactly once
    on_bus = [r.event_id for r in await bus_records(pipeline, len(events))]
    assert set(on_bus) == set(events)  # 0 lost on the bus
    assert len(on_bus) == len(set(on_bus))  # 0 doubled
    assert load.bad_pulls() == []
    equal, replay = await index_equals_replay(pipeline, tmp_path)
    assert equal, replay
    await pipeline.wait_healthy(60)
    notes = f"group caught up {catch_up:.1f}s after the load, killed member still down; {replay}"
    finish(record_property, figures, sampler, notes)


async def test_the_standby_relay_takes_over_from_a_killed_one(
    pipeline: Topology, record_property: Callable[[str, object], None]
) -> None:
    before = max((await outbox_ids(pipeline.services.database_url)).values(), default=0)
    load = Load(pipeline.url, pipeline.api_key, "relay-kill")
    victim: int | None = None
    try:
        async with LagSampler(pipeline) as sampler:
            async with load:
                await asyncio.sleep(2.0)
                victim = await lease_holder(pipeline)
                assert victim is not None, "no relay holds the lease"
                pipeline.kill("relay", victim)
                await asyncio.sleep(4.0)
            catch_up, lag = await caught_up(pipeline, 45)
            standby = await lease_holder(pipeline)
    finally:
        if victim is not None:
            pipeline.start_again("relay", victim)
    figures = load.figures("active relay SIGKILL")
    assert lag.outbox_pending == 0, f"no relay published after the kill: {lag}"
    assert standby is not None and standby != victim
    assert figures.failed == 0

    events = await outbox_ids(pipeline.services.database_url, after_id=before)
    records = [r for r in await bus_records(pipeline, len(events)) if r.event_id in events]
    assert {r.event_id for r in records} == set(events)  # 0 lost
    doubled = len(records) - len(events)  # a batch published, not yet marked sent: again
    # Order per artifact: one partition per artifact, its versions in order (first sightings).
    sightings: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for r in records:
        if r.topic.endswith("artifact.versioned"):
            sightings[r.key].append((r.partition, r.offset, r.event.version))
    for artifact_id, seen in sightings.items():
        assert len({partition for partition, _, _ in seen}) == 1, artifact_id
        order = list(dict.fromkeys(v for _, _, v in sorted(seen)))
        assert order == sorted(order), (artifact_id, order)
    rows, versions, _ = await index_versions(pipeline.services.database_url)
    check_index(load, rows, versions)
    await pipeline.wait_healthy(60)
    notes = (
        f"relay{victim} killed, relay{standby} took the lease; caught up {catch_up:.1f}s after "
        f"the load; {len(events)} events, {doubled} published twice, order per artifact kept"
    )
    finish(record_property, figures, sampler, notes)


async def test_s3_503_bursts_are_retried_or_a_clear_error_and_nothing_is_half_visible(
    pipeline: Topology, s3_proxy: S3FaultProxy, record_property: Callable[[str, object], None]
) -> None:
    load = Load(pipeline.url, pipeline.api_key, "s3-faults")
    s3_proxy.reset_counts()
    try:
        async with LagSampler(pipeline) as sampler:
            async with load:
                # Short bursts, within the retry budget, on puts and gets: retried away.
                for _ in range(6):
                    s3_proxy.fail_next(S3_ATTEMPTS - 1, methods={"PUT", "GET"})
                    await asyncio.sleep(0.5)
                short = len(load.outcomes)
                retried = sum(s3_proxy.faults.values())
                # A long outage: the calls that meet it answer 503 storage_unavailable.
                s3_proxy.fail_for(4.0, methods={"PUT", "GET"})
                await asyncio.sleep(5.0)
                s3_proxy.heal()
                await asyncio.sleep(1.5)
            catch_up, _ = await caught_up(pipeline, 30)
    finally:
        s3_proxy.heal()
    figures = load.figures("S3 503 on put and get")

    in_bursts = [o for o in load.outcomes[:short] if o.status not in (200, 201)]
    refused = [o for o in load.outcomes if o.status not in (200, 201)]
    assert all(o.status == 503 and o.detail == "storage_unavailable" for o in refused), refused
    assert refused, "the long outage met no request"
    assert load.bad_pulls() == []
    rows, versions, _ = await index_versions(pipeline.services.database_url)
    check_index(load, rows, versions)  # no refused version became visible
    refused_names = {o.name for o in refused if o.op == "push"}
    assert await indexed_names(pipeline.services.database_url, refused_names) == set()
    audit = await pipeline.audit()
    assert audit.partial == []  # every version's blob whole in S3, every artifact readable
    notes = (
        f"{retried} faults in short bursts ({len(in_bursts)} calls failed), then a 4 s outage: "
        f"{len(refused)} calls answered 503 storage_unavailable; audit: {audit.versions} "
        f"versions, 0 partial; caught up {catch_up:.1f}s"
    )
    finish(record_property, figures, sampler, notes)


async def test_writes_during_a_20s_broker_outage_are_all_delivered(
    pipeline: Topology,
    restartable_kafka_broker: Any,
    record_property: Callable[[str, object], None],
) -> None:
    before = max((await outbox_ids(pipeline.services.database_url)).values(), default=0)
    load = Load(pipeline.url, pipeline.api_key, "broker-outage")
    async with LagSampler(pipeline) as sampler:
        async with load:
            await asyncio.sleep(2.0)
            async with broker_outage(restartable_kafka_broker, pipeline):
                stopped = time.monotonic()
                published = await outbox_ids(pipeline.services.database_url, sent_only=True)
                await asyncio.sleep(max(0.0, 20.0 - (time.monotonic() - stopped)))
                pending = (await pipeline.events_lag()).outbox_pending
            back = time.monotonic()
            await asyncio.sleep(2.0)
        lag = await pipeline.events_lag()
        while lag.outbox_pending and time.monotonic() - back < 60:
            await asyncio.sleep(0.25)
            lag = await pipeline.events_lag()
        delivered = time.monotonic() - back
        # The group rejoins the new broker (Tansu forgot its offsets) and reads the topics.
        group = await pipeline.wait_caught_up(30)
        consumed = time.monotonic() - back
    figures = load.figures("broker stopped 20 s")
    assert figures.failed == 0  # the API wrote into the outbox all along
    assert pending > 0 and lag.outbox_pending == 0, (pending, lag)
    assert group.total == 0, f"the consumers did not catch up after the broker returned: {group}"

    # What was published before the stop went with Tansu's memory; every other event is here.
    events = set(await outbox_ids(pipeline.services.database_url, after_id=before))
    owed = events - set(published)
    on_bus = {r.event_id for r in await bus_records(pipeline, len(owed))}
    assert owed and owed <= on_bus  # 0 lost
    rows, versions, _ = await index_versions(pipeline.services.database_url)
    check_index(load, rows, versions)
    notes = (
        f"{pending} events waited in the outbox; all {len(owed)} owed delivered: the outbox "
        f"empty {delivered:.1f}s and the group caught up {consumed:.1f}s after the broker "
        "returned"
    )
    finish(record_property, figures, sampler, notes)
