"""Step agents, the Kafka step service and lineage: each figure beside a raw baseline.

Run from the repository root::

    PYTHONPATH=src python bench/bench_steps.py [--requests 200] [--calls 200] [--depth 50]
        [--fetch-max-wait-ms 10] [--workdir DIR] [--json]

The Kafka-protocol broker is ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a Tansu broker that
this script starts and stops (as ``bench_bus.py`` does). The hub is embedded (SQLite, local
blobs) in a fresh folder.

1. ``step_roundtrip``: ``--requests`` step requests, one after the other, from
   ``KafkaStepClient.call`` through the step service (FastStream subscriber in a consumer group,
   API key check, template resolution, ``data-loader`` on a small JSON artifact, the reply)
   back to the client. Baseline: the same two hops with plain aiokafka: a producer sends a
   request record, a consumer in a group reads it and produces a reply record, the client's
   consumer reads it; no artifact-hub code, nothing done per request. Latency p50/p99 in the
   notes.
2. ``loader_inprocess``: ``--calls`` ``data-loader`` calls in-process (the agent function with
   its context) on that artifact. Baseline: ``ArtifactService.pull_bytes`` + ``json.loads``,
   what the agent does at its core.
3. ``saver_inprocess``: ``--calls`` ``artifact-saver`` calls saving a small JSON result with
   one lineage input. Baseline: ``ArtifactService.push`` of the same bytes without lineage.
4. ``lineage_chain``: ``ArtifactService.lineage`` of the last artifact of a ``--depth`` chain
   (each made from the previous one by a step), ``--calls`` times. Baseline: the same
   upstream walk as one recursive SQL query (sqlite3, ``WITH RECURSIVE``) on the same index
   file, with no access checks and no node details.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, machine_facts, print_facts, print_json, print_table, progress
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from bench_bus import Broker, spawn_broker, wait_ready
from faststream.kafka import KafkaBroker

from artifact_hub.adapters.bus import ensure_topics, step_topics
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub
from artifact_hub.plugin import bootstrap as hub_bootstrap
from artifact_hub.schemas import Caller
from artifact_hub.workflow_steps import LoadLog, StepContext, default_registry
from artifact_hub.workflow_steps.service import StepService
from artifact_hub.workflow_steps.step_app import subscribe_step_service
from artifact_hub.workflow_steps.step_client import KafkaStepClient

ROW_KEYS = ("step_roundtrip", "loader_inprocess", "saver_inprocess", "lineage_chain")
WARMUP = 5
FAST_GROUP = {
    "rebalance_timeout_ms": 1000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
}
DOC = json.dumps({"rows": [{"id": i, "amount": i * 1.5} for i in range(20)]}).encode()


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def context(hub: Hub, caller: Caller, step_id: str, loads: LoadLog) -> StepContext:
    return StepContext(
        service=hub.service,
        caller=caller,
        run_id="bench-run",
        workflow_id="bench",
        step_id=step_id,
        loads=loads,
    )


# --------------------------------------------------------------------------- 1. round trip


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(100):
        found = consumer.partitions_for_topic(topic)
        if found:
            return [TopicPartition(topic, p) for p in sorted(found)]
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.1)
    raise RuntimeError(f"no partitions for {topic}")


async def hub_roundtrip(
    hub: Hub, key: str, bootstrap: str, requests: int, fetch_wait: int, artifact_id: str
) -> list[float]:
    prefix = f"bs{uuid.uuid4().hex[:8]}."
    await ensure_topics(bootstrap, step_topics(prefix), partitions=1)
    broker = KafkaBroker(bootstrap, logger=None)
    steps = StepService(hub.service, hub.accounts, topic_prefix=prefix)
    subscribe_step_service(
        broker, steps, group_id=f"{prefix}g", fetch_max_wait_ms=fetch_wait, **FAST_GROUP
    )
    await broker.start()
    samples: list[float] = []
    try:
        async with KafkaStepClient(
            bootstrap,
            api_key=key,
            topic_prefix=prefix,
            timeout=60,
            consumer_options={"fetch_max_wait_ms": fetch_wait},
        ) as client:
            for n in range(WARMUP + requests):
                started = time.perf_counter()
                reply = await client.call(
                    "data-loader",
                    {"artifact_id": "<< input.artifact_id >>"},
                    context={"input": {"artifact_id": artifact_id}},
                    run_id="bench",
                    step_id=f"s{n}",
                )
                elapsed = time.perf_counter() - started
                if not reply.ok:
                    raise RuntimeError(f"step failed: {reply.error}")
                if n >= WARMUP:
                    samples.append(elapsed)
    finally:
        await broker.stop()
    return samples


async def raw_roundtrip(bootstrap: str, requests: int, fetch_wait: int) -> list[float]:
    prefix = f"br{uuid.uuid4().hex[:8]}."
    request_topic, reply_topic = f"{prefix}rq", f"{prefix}rp"
    await ensure_topics(bootstrap, [request_topic, reply_topic], partitions=1)
    worker_in = AIOKafkaConsumer(
        request_topic,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}g",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=fetch_wait,
        **FAST_GROUP,
    )
    worker_out = AIOKafkaProducer(bootstrap_servers=bootstrap)
    client_in = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_wait
    )
    client_out = AIOKafkaProducer(bootstrap_servers=bootstrap)
    for part in (worker_in, worker_out, client_in, client_out):
        await part.start()

    async def echo() -> None:
        async for record in worker_in:
            await worker_out.send_and_wait(reply_topic, record.value, headers=list(record.headers))
            await worker_in.commit()

    worker = asyncio.create_task(echo())
    samples: list[float] = []
    try:
        partitions = await _partitions(client_in, reply_topic)
        client_in.assign(partitions)
        await client_in.seek_to_end(*partitions)
        for partition in partitions:
            await client_in.position(partition)
        for n in range(WARMUP + requests):
            cid = uuid.uuid4().hex.encode()
            started = time.perf_counter()
            await client_out.send_and_wait(request_topic, DOC, headers=[("correlation_id", cid)])
            found = False
            while not found:
                if worker.done():
                    worker.result()  # the echo died: say why instead of waiting forever
                batches = await client_in.getmany(timeout_ms=1000)
                for records in batches.values():
                    found = found or any(
                        dict(r.headers).get("correlation_id") == cid for r in records
                    )
            elapsed = time.perf_counter() - started
            if n >= WARMUP:
                samples.append(elapsed)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
        for part in (worker_in, worker_out, client_in, client_out):
            await part.stop()
    return samples


# ------------------------------------------------------------------------ 2. and 3. agents


async def loader_rates(
    hub: Hub, caller: Caller, artifact_id: str, calls: int
) -> tuple[float, float]:
    load = default_registry.get("data-loader")
    ctx = context(hub, caller, "load", LoadLog())
    for _ in range(WARMUP):
        await load({"artifact_id": artifact_id}, ctx)
    started = time.perf_counter()
    for _ in range(calls):
        await load({"artifact_id": artifact_id}, ctx)
    agent_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(calls):
        json.loads(await hub.service.pull_bytes(caller, artifact_id))
    raw_s = time.perf_counter() - started
    return rate(calls, agent_s), rate(calls, raw_s)


async def saver_rates(
    hub: Hub, caller: Caller, artifact_id: str, calls: int
) -> tuple[float, float]:
    save = default_registry.get("artifact-saver")
    loads = LoadLog({"save": ["load"]})
    loads.record("load", artifact_id, 1)
    ctx = context(hub, caller, "save", loads)
    result = {"total": 123.5, "rows": 20}
    payload = json.dumps(result).encode()
    started = time.perf_counter()
    for n in range(calls):
        await save({"result": result, "name": f"out-{n}.json"}, ctx)
    agent_s = time.perf_counter() - started
    started = time.perf_counter()
    for n in range(calls):
        await hub.service.push(
            caller, payload, name=f"raw-{n}.json", content_type="application/json"
        )
    raw_s = time.perf_counter() - started
    return rate(calls, agent_s), rate(calls, raw_s)


# ------------------------------------------------------------------------------ 4. lineage


async def lineage_rates(
    hub: Hub, caller: Caller, first_id: str, depth: int, db_path: Path, repeat: int
) -> tuple[float, float, int]:
    save = default_registry.get("artifact-saver")
    current = first_id
    for n in range(depth):
        loads = LoadLog({"save": ["load"]})
        loads.record("load", current, 1)
        saved = await save(
            {"result": {"n": n}, "name": f"chain-{n}.json"}, context(hub, caller, "save", loads)
        )
        current = saved["artifact_id"]
    graph = await hub.service.lineage(caller, current)
    if len(graph.upstream) != depth:
        raise RuntimeError(f"lineage walked {len(graph.upstream)} of {depth}")
    started = time.perf_counter()
    for _ in range(repeat):
        await hub.service.lineage(caller, current)
    hub_s = time.perf_counter() - started

    query = """
        WITH RECURSIVE up(id) AS (
            SELECT input_artifact_id FROM lineage_inputs WHERE artifact_id = ? AND tenant_id = ?
            UNION
            SELECT li.input_artifact_id FROM lineage_inputs li JOIN up ON li.artifact_id = up.id
            WHERE li.tenant_id = ?
        ) SELECT count(*) FROM up"""
    conn = sqlite3.connect(db_path)
    try:
        (count,) = conn.execute(query, (current, caller.tenant_id, caller.tenant_id)).fetchone()
        if count != depth:
            raise RuntimeError(f"the SQL walk found {count} of {depth}")
        started = time.perf_counter()
        for _ in range(repeat):
            conn.execute(query, (current, caller.tenant_id, caller.tenant_id)).fetchone()
        raw_s = time.perf_counter() - started
    finally:
        conn.close()
    return rate(repeat, hub_s), rate(repeat, raw_s), repeat


# ------------------------------------------------------------------------------------ main


async def run(args: argparse.Namespace, workdir: Path, broker: Broker) -> dict[str, Any]:
    await wait_ready(broker)
    bootstrap = broker.bootstrap_servers
    settings = HubSettings(data_dir=workdir / "hub", default_ttl_seconds=None, sweep_enabled=False)
    rows: list[Row] = []
    notes: list[str] = []
    async with hub_bootstrap(settings) as hub:
        await hub.accounts.create_tenant("bench", plan="enterprise")
        _, key = await hub.accounts.create_key("bench", "bench")
        caller = await hub.accounts.authenticate(key)
        source = await hub.service.push(
            caller, DOC, name="doc.json", content_type="application/json"
        )

        progress(f"round trip: raw aiokafka request/reply, {args.requests} sequential")
        raw = await raw_roundtrip(bootstrap, args.requests, args.fetch_max_wait_ms)
        progress(f"round trip: step service data-loader, {args.requests} sequential")
        mine = await hub_roundtrip(
            hub, key, bootstrap, args.requests, args.fetch_max_wait_ms, source.artifact_id
        )
        rows.append(
            Row(
                "step_roundtrip",
                "step request -> service (data-loader) -> reply, sequential",
                "steps/s",
                rate(len(mine), sum(mine)),
                "aiokafka request -> echo -> reply",
                rate(len(raw), sum(raw)),
            )
        )
        for label, samples in (("step service", mine), ("raw aiokafka", raw)):
            notes.append(
                f"{label}: p50 {statistics.median(samples) * 1000:.1f} ms, "
                f"p99 {percentile(samples, 0.99) * 1000:.1f} ms"
            )

        progress(f"in-process: data-loader vs pull_bytes, {args.calls} calls")
        agent, baseline = await loader_rates(hub, caller, source.artifact_id, args.calls)
        rows.append(
            Row(
                "loader_inprocess",
                "data-loader (JSON, in-process)",
                "calls/s",
                agent,
                "service.pull_bytes + json.loads",
                baseline,
            )
        )
        progress(f"in-process: artifact-saver vs push, {args.calls} calls")
        agent, baseline = await saver_rates(hub, caller, source.artifact_id, args.calls)
        rows.append(
            Row(
                "saver_inprocess",
                "artifact-saver (JSON, 1 lineage input)",
                "calls/s",
                agent,
                "service.push, no lineage",
                baseline,
            )
        )
        progress(f"lineage: chain of {args.depth}")
        hub_rate, sql_rate, repeat = await lineage_rates(
            hub, caller, source.artifact_id, args.depth, settings.data_dir / "index.db", args.calls
        )
        rows.append(
            Row(
                "lineage_chain",
                f"service.lineage, {args.depth}-deep chain",
                "graphs/s",
                hub_rate,
                "sqlite3 WITH RECURSIVE (ids only)",
                sql_rate,
            )
        )
        notes.append(f"lineage: {repeat} walks each")
    return {"rows": rows, "notes": notes, "broker": broker.source}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200, help="step round trips")
    parser.add_argument("--calls", type=int, default=200, help="in-process agent calls")
    parser.add_argument("--depth", type=int, default=50, help="lineage chain length")
    parser.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=10,
        help="fetch_max_wait_ms of every consumer (Tansu answers a fetch only when it runs out)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    for name in ("requests", "calls", "depth"):
        if getattr(args, name) < 2:
            parser.error(f"--{name} must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parent: Path = args.workdir if args.workdir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="artifact-hub-bench-steps-", dir=parent))
    try:
        facts = machine_facts(workdir)
        broker = spawn_broker(workdir)
        try:
            result = asyncio.run(run(args, workdir, broker))
        finally:
            broker.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows: list[Row] = result["rows"]
    if tuple(row.key for row in rows) != ROW_KEYS:  # keeps ROW_KEYS honest
        raise RuntimeError(f"rows {[row.key for row in rows]} differ from {ROW_KEYS}")
    print("artifact-hub step agents benchmark: every figure beside a raw baseline measured in")
    print("this same run on this same machine. One pass each. Compare ratios.")
    print_facts(facts)
    print(f"kafka:   {result['broker']}; step topics of 1 partition")
    print(
        f"sizes:   {args.requests} round trips after {WARMUP} warm-up, {args.calls} agent "
        f"calls, lineage chain of {args.depth}; fetch_max_wait_ms={args.fetch_max_wait_ms}"
    )
    print("rates:   ratio = artifact-hub / baseline (1.00x = as fast as raw).")
    print()
    print_table(rows)
    print()
    for note in result["notes"]:
        print(f"note:    {note}")
    if args.json:
        print_json(
            {
                "rows": [row.as_dict() for row in rows],
                "notes": result["notes"],
                "params": {
                    "requests": args.requests,
                    "calls": args.calls,
                    "depth": args.depth,
                    "fetch_max_wait_ms": args.fetch_max_wait_ms,
                },
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
