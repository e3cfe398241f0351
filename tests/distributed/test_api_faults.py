"""API replicas under faults and load, on the distributed topology (tests/distributed/topology.py).

Two ``artifact-hub serve`` replicas behind one round-robin address, PostgreSQL, S3, Kafka and
Redis; SDK clients that retry (``max_retries``, an ``Idempotency-Key`` on every POST):

- (a) an API replica killed (SIGKILL) in the middle of a burst of 32 clients;
- (b) an API replica killed in the middle of uploads of several MB, direct and presigned;
- (c) a rolling restart of every replica (SIGTERM, one by one) under load;
- (d) a rate limit shared by the replicas through Redis (runs last: it restarts the replicas
  with a low limit).

For (a)-(c): no failed request, every push acknowledged exactly once (one artifact, version 1,
per name), and 0 partial artifacts (:meth:`Topology.audit`). Each scenario records its
throughput, p50/p99 latency and events lag (tests/distributed/report.py prints the table);
none of those figures is asserted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest
from tests.distributed.checks import Audit
from tests.distributed.load import LoadResult, listed, push_load
from tests.distributed.report import ScenarioFigures, record
from tests.distributed.topology import Topology

from artifact_hub.client import AsyncClient
from artifact_hub.core.errors import RateLimitedError

pytestmark = [pytest.mark.distributed, pytest.mark.slow, pytest.mark.timeout(150)]

Record = Callable[[str, object], None]
MiB = 1024 * 1024


async def _finish(
    topology: Topology, scenario: str, loads: list[LoadResult], record_property: Record, notes: str
) -> ScenarioFigures:
    """Measure the events lag at the end of the load, wait for it to drain, record the row."""
    lag = await topology.events_lag()
    started = time.monotonic()
    drained = await topology.wait_caught_up(30)
    figures = ScenarioFigures(
        scenario,
        requests=sum(load.requests for load in loads),
        failed=sum(len(load.failures) for load in loads),
        seconds=max(load.seconds for load in loads),
        latencies_ms=[ms for load in loads for ms in load.latencies_ms],
        outbox_pending=lag.outbox_pending,
        consumer_lag=lag.consumer_lag,
        notes=f"{notes}; drained in {time.monotonic() - started:.1f}s"
        + ("" if drained.total == 0 else f" (still {drained})"),
    )
    record(record_property, figures)
    return figures


async def _exactly_once(topology: Topology, session_id: str, load: LoadResult) -> None:
    """No failed push; each one is one artifact at version 1; nothing else appeared.

    A push whose replica was killed is retried through the other one with the same
    ``Idempotency-Key``: it waits for the dead replica's claim to go stale and runs there, or
    gets the artifact back when the first attempt had committed (service/idempotency.py).
    """
    assert load.failures == [], load.failures[:5]
    found = await listed(topology.url, topology.api_key, session_id)
    duplicated = {n: found[n] for n in found if len(found[n]) != 1 or found[n][0][1] != 1}
    assert duplicated == {}
    assert {name: ids[0][0] for name, ids in found.items()} == load.acked


async def _no_partial(topology: Topology) -> Audit:
    audit = await topology.audit()
    assert audit.partial == []
    return audit


async def _during(load: Awaitable[LoadResult], fault: Awaitable[None]) -> LoadResult:
    result, _ = await asyncio.gather(load, fault)
    return result


async def test_kill_api_replica_mid_burst(topology: Topology, record_property: Record) -> None:
    session = "burst"

    async def fault() -> None:
        await asyncio.sleep(3)
        topology.kill("api", 0)
        await asyncio.sleep(3)
        topology.start_again("api", 0)
        await topology.wait_healthy()

    load = await _during(
        push_load(topology.url, topology.api_key, session_id=session, clients=32, seconds=10),
        fault(),
    )
    await _finish(topology, "(a) kill API mid-burst", [load], record_property, "32 clients, 512 B")
    await _exactly_once(topology, session, load)
    await _no_partial(topology)


async def test_kill_api_replica_mid_upload(topology: Topology, record_property: Record) -> None:
    # Through the API (streamed to S3 by the replica) and presigned (upload-url, PUT straight
    # to S3, complete): a kill hits requests of both kinds in flight.
    direct, presigned = "upload-direct", "upload-presigned"

    async def fault() -> None:
        await asyncio.sleep(2)
        topology.kill("api", 1)
        await asyncio.sleep(2.5)
        topology.start_again("api", 1)
        await topology.wait_healthy()

    loads = await asyncio.gather(
        push_load(
            topology.url, topology.api_key, session_id=direct, clients=3, seconds=8, size=5 * MiB
        ),
        push_load(
            topology.url,
            topology.api_key,
            session_id=presigned,
            clients=3,
            seconds=8,
            size=5 * MiB,
            presigned_threshold=1 * MiB,
        ),
        fault(),
    )
    audit = await topology.audit(pull_sample=5)
    staging = (
        f"staging {audit.staging_objects}, multipart {audit.multipart_uploads}, "
        f"open uploads {audit.open_uploads}, unreferenced blobs {audit.unreferenced_blobs}"
    )
    await _finish(
        topology,
        "(b) kill API mid-upload",
        [loads[0], loads[1]],
        record_property,
        f"6x5 MiB; {staging}",
    )
    await _exactly_once(topology, direct, loads[0])
    await _exactly_once(topology, presigned, loads[1])
    assert audit.partial == []


async def test_rolling_restart_under_load(topology: Topology, record_property: Record) -> None:
    session = "rolling"

    async def roll() -> None:
        await asyncio.sleep(1.5)
        for index in range(len(topology.procs["api"])):
            await topology.restart("api", index, drain=0.5)
            await asyncio.sleep(1)

    load = await _during(
        push_load(topology.url, topology.api_key, session_id=session, clients=16, seconds=14),
        roll(),
    )
    await _finish(
        topology, "(c) rolling restart", [load], record_property, "16 clients, SIGTERM one by one"
    )
    await _exactly_once(topology, session, load)
    await _no_partial(topology)


async def test_rate_limit_holds_across_replicas(
    topology: Topology, record_property: Record
) -> None:
    limit, seconds, clients = 20, 5.0, 16
    topology.env.update(RATE_LIMIT_PER_SECOND=str(limit), RATE_LIMIT_BURST=str(limit))
    await asyncio.gather(*(topology.restart("api", i) for i in range(len(topology.procs["api"]))))
    assert topology.balancer is not None
    before = [b.connections for b in topology.balancer.backends]
    key = topology.keys["tenant-b"]
    accepted: list[float] = []
    refused = 0
    deadline = time.monotonic() + seconds

    async def caller() -> None:
        nonlocal refused
        # One client per caller, no retries: every answer counts, 200 or 429.
        async with AsyncClient(key, base_url=topology.url, max_retries=0) as client:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    await client.whoami()
                except RateLimitedError:
                    refused += 1
                    await asyncio.sleep(0.02)
                    continue
                accepted.append((time.perf_counter() - started) * 1000)

    started = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(clients)))
    elapsed = time.monotonic() - started
    spread = [b.connections - n for b, n in zip(topology.balancer.backends, before, strict=True)]
    lag = await topology.events_lag()
    figures = ScenarioFigures(
        "(d) rate limit, 2 replicas",
        requests=len(accepted) + refused,
        failed=refused,
        seconds=elapsed,
        latencies_ms=accepted,
        outbox_pending=lag.outbox_pending,
        consumer_lag=lag.consumer_lag,
        notes=(
            f"limit {limit}/s per tenant: {len(accepted) / elapsed:.1f}/s accepted, "
            f"{refused} x 429 ('failed'); connections per replica {spread}"
        ),
    )
    record(record_property, figures)
    # Both replicas served, and together they let through about one limit's worth, not two:
    # in any second at most `limit` (the burst window), so over `elapsed` at most
    # limit * (elapsed + 1); two unshared counters would let ~2 * limit * elapsed through.
    assert all(n > 0 for n in spread), spread
    assert refused > 0
    assert limit <= len(accepted) <= limit * (elapsed + 1)
