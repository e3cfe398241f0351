"""What the pipeline fault scenarios share: a steady load, a lag sampler, the bus and the index.

- :class:`Load`: workers that push, add versions and pull through the topology's one address,
  each on its own connection (the balancer spreads connections), recording every answer;
- :class:`LagSampler`: the events lag (outbox rows not published, the group's lag) sampled
  while a scenario runs, for the report's peak figures;
- :func:`bus_records`: every event on the artifact topics, by CloudEvents id;
- :func:`index_equals_replay`: the live index against one rebuilt from the topics;
- :func:`broker_outage`: the Kafka broker stopped, then started again with its topics.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from tests.distributed.report import ScenarioFigures
from tests.distributed.topology import Topology
from tests.integration.test_kafka_events import read_topics

from artifact_hub.adapters.bus import all_topics, decode, ensure_topics, header_map
from artifact_hub.adapters.index import Database, IndexReader
from artifact_hub.consumers import ARTIFACT_TOPICS
from artifact_hub.consumers.rebuild import rebuild_from_topics

__all__ = [
    "BusRecord",
    "LagSampler",
    "Load",
    "Outcome",
    "broker_outage",
    "bus_records",
    "index_equals_replay",
    "index_versions",
    "indexed_names",
    "lease_holder",
    "outbox_ids",
]


@dataclass
class Outcome:
    """One request of the load and its answer (``status`` 0: no answer at all)."""

    op: str
    status: int
    latency_ms: float
    artifact_id: str | None = None
    version: int | None = None
    name: str = ""
    detail: str = ""


@dataclass
class Load:
    """``workers`` clients cycling push, add a version, pull, until :meth:`stop`.

    Args:
        url: The API (the balancer).
        api_key: A key of the tenant the load writes to.
        tag: Put in every artifact's name (tells the scenarios' artifacts apart).
        workers: Concurrent clients, each on its own connection.
    """

    url: str
    api_key: str
    tag: str
    workers: int = 4
    outcomes: list[Outcome] = field(default_factory=list)
    contents: dict[tuple[str, int], str] = field(default_factory=dict)
    """sha256 of what each acknowledged (artifact, version) holds."""
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0

    def start(self) -> None:
        """Start the workers."""
        self.started = time.monotonic()
        self._tasks = [asyncio.create_task(self._worker(n)) for n in range(self.workers)]

    async def stop(self) -> None:
        """Let each worker finish its request in hand, then stop (again: nothing)."""
        if self._stop.is_set():
            return
        self._stop.set()
        await asyncio.gather(*self._tasks)
        self.seconds = time.monotonic() - self.started

    async def __aenter__(self) -> Load:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _worker(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        current: tuple[str, int] | None = None
        step = 0
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60) as http:
            while not self._stop.is_set():
                step += 1
                data = f"{self.tag} worker {number} step {step} ".encode() * 40
                if current is None or step % 3 == 1:
                    name = f"{self.tag}-{number}-{step}.txt"
                    body = {"name": name, "content_base64": base64.b64encode(data).decode()}
                    outcome = await self._call(http, "push", "POST", "/v1/artifacts", json=body)
                    outcome.name = name
                    current = self._acknowledged(outcome, data) or current
                elif step % 3 == 2:
                    body = {"content_base64": base64.b64encode(data).decode()}
                    path = f"/v1/artifacts/{current[0]}/versions"
                    outcome = await self._call(http, "version", "POST", path, json=body)
                    outcome.artifact_id = current[0]
                    current = self._acknowledged(outcome, data) or current
                else:
                    path = f"/v1/artifacts/{current[0]}/content"
                    outcome = await self._call(http, "pull", "GET", path)
                    outcome.artifact_id = current[0]
                self.outcomes.append(outcome)

    async def _call(self, http: httpx.AsyncClient, op: str, *args: Any, **kw: Any) -> Outcome:
        began = time.perf_counter()
        try:
            response = await http.request(*args, **kw)
        except httpx.HTTPError as error:
            elapsed = (time.perf_counter() - began) * 1000
            return Outcome(op, 0, elapsed, detail=repr(error))
        elapsed = (time.perf_counter() - began) * 1000
        outcome = Outcome(op, response.status_code, elapsed)
        if response.status_code in (200, 201) and op != "pull":
            body = response.json()
            outcome.artifact_id, outcome.version = body["id"], body["version"]
        elif op == "pull" and response.status_code == 200:
            outcome.version = int(response.headers["x-artifact-version"])
            outcome.detail = hashlib.sha256(response.content).hexdigest()
        elif response.status_code >= 400:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                outcome.detail = response.json()["error"]["code"]
        return outcome

    def _acknowledged(self, outcome: Outcome, data: bytes) -> tuple[str, int] | None:
        if outcome.status != 201 or outcome.artifact_id is None or outcome.version is None:
            return None
        key = (outcome.artifact_id, outcome.version)
        self.contents[key] = hashlib.sha256(data).hexdigest()
        return key

    def figures(self, scenario: str) -> ScenarioFigures:
        """Requests, failures, duration and latencies of the load so far."""
        return ScenarioFigures(
            scenario,
            requests=len(self.outcomes),
            failed=sum(1 for o in self.outcomes if o.status >= 400 or o.status == 0),
            seconds=self.seconds,
            latencies_ms=[o.latency_ms for o in self.outcomes],
        )

    def acknowledged_versions(self) -> dict[str, int]:
        """The highest acknowledged version of every artifact the load created."""
        latest: dict[str, int] = {}
        for artifact_id, version in self.contents:
            latest[artifact_id] = max(version, latest.get(artifact_id, 0))
        return latest

    def bad_pulls(self) -> list[Outcome]:
        """Pulls that answered 200 with bytes the hub never acknowledged for that version."""
        return [
            o
            for o in self.outcomes
            if o.op == "pull"
            and o.status == 200
            and o.artifact_id is not None
            and o.version is not None
            and self.contents.get((o.artifact_id, o.version)) not in (None, o.detail)
        ]


@dataclass
class LagSampler:
    """Samples ``topology.events_lag()`` every ``interval`` seconds; keeps the peaks."""

    topology: Topology
    interval: float = 1.0
    peak_outbox: int = 0
    peak_lag: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start sampling in the background."""
        self._task = asyncio.create_task(self._run())

    async def __aenter__(self) -> LagSampler:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                lag = await asyncio.wait_for(self.topology.events_lag(), 10)
                self.peak_outbox = max(self.peak_outbox, lag.outbox_pending)
                self.peak_lag = max(self.peak_lag, lag.consumer_lag)
            await asyncio.sleep(self.interval)

    async def stop(self, figures: ScenarioFigures | None = None) -> None:
        """Stop sampling and put the peaks into ``figures``."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if figures is not None:
            figures.outbox_pending = self.peak_outbox
            figures.consumer_lag = self.peak_lag


@dataclass
class BusRecord:
    """One event as it sits on a topic."""

    event_id: str
    topic: str
    key: str
    partition: int
    offset: int
    event: Any


async def bus_records(topology: Topology, expected: int, timeout: float = 30) -> list[BusRecord]:
    """Every record on the artifact topics (at least ``expected`` unless ``timeout`` passes)."""
    topics = [topology.prefix + suffix for suffix in ARTIFACT_TOPICS]
    records = await read_topics(topology.services.kafka, topics, expected, timeout)
    found = []
    for record in records:
        headers = header_map(record.headers)
        found.append(
            BusRecord(
                headers["ce_id"],
                record.topic,
                (record.key or b"").decode(),
                record.partition,
                record.offset,
                decode(record.value, headers),
            )
        )
    return found


async def outbox_ids(
    database_url: str, *, after_id: int = 0, sent_only: bool = False
) -> dict[str, int]:
    """Event ids in the outbox (past row ``after_id``; published ones only), with row ids."""
    query = "SELECT event_id, id FROM outbox WHERE id > :after"
    if sent_only:
        query += " AND sent_at IS NOT NULL"
    db = Database(database_url)
    try:
        async with db.connect() as conn:
            rows = await conn.execute(text(query), {"after": after_id})
            return {row.event_id: int(row.id) for row in rows}
    finally:
        await db.dispose()


async def indexed_names(database_url: str, names: set[str]) -> set[str]:
    """Which of ``names`` an artifact in the index has."""
    db = Database(database_url)
    try:
        async with db.connect() as conn:
            found = await conn.execute(text("SELECT name FROM artifacts"))
            return names & set(found.scalars())
    finally:
        await db.dispose()


async def index_versions(database_url: str) -> tuple[dict[str, int], dict[str, int], set[str]]:
    """From the index: version rows per artifact, each artifact's version, processed ids."""
    db = Database(database_url)
    try:
        async with db.connect() as conn:
            counts = await conn.execute(
                text("SELECT artifact_id, count(*) AS n FROM artifact_versions GROUP BY 1")
            )
            rows = {row.artifact_id: int(row.n) for row in counts}
            latest = await conn.execute(text("SELECT artifact_id, version FROM artifacts"))
            versions = {row.artifact_id: int(row.version) for row in latest}
            applied = await conn.execute(text("SELECT event_id FROM processed_events"))
            processed = set(applied.scalars())
    finally:
        await db.dispose()
    return rows, versions, processed


async def lease_holder(topology: Topology) -> int | None:
    """The relay holding the lease: the one whose connection holds PostgreSQL's advisory lock.

    The server knows the holding session's client port; the relay process that owns a
    socket on that port is the active relay.
    """
    import psutil

    from artifact_hub.adapters.bus.lease import LEASE_LOCK_CLASS, LEASE_LOCK_OUTBOX

    query = text(
        "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :class_id "
        "AND l.objid = :object_id AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    db = Database(topology.services.database_url)
    try:
        async with db.connect() as conn:
            ports = set(
                (
                    await conn.execute(
                        query, {"class_id": LEASE_LOCK_CLASS, "object_id": LEASE_LOCK_OUTBOX}
                    )
                ).scalars()
            )
    finally:
        await db.dispose()
    for index, proc in enumerate(topology.procs["relay"]):
        if proc.alive and proc.popen is not None:
            with contextlib.suppress(psutil.Error):
                sockets = psutil.Process(proc.popen.pid).net_connections(kind="tcp")
                if any(c.laddr and c.laddr.port in ports for c in sockets):
                    return index
    return None


async def index_equals_replay(topology: Topology, work: Path) -> tuple[bool, str]:
    """Rebuild an index from the topics into a fresh SQLite file and compare it to the live one.

    Returns:
        Whether the two are equal, and a line on what differs (or how many rows matched).
    """
    target = f"sqlite:///{work / 'replayed.db'}"
    report = await rebuild_from_topics(topology.services.kafka, topology.prefix, target)
    live_db, replayed_db = Database(topology.services.database_url), Database(target)
    try:
        async with live_db.connect() as conn:
            live = await IndexReader().snapshot(conn)
        async with replayed_db.connect() as conn:
            replayed = await IndexReader().snapshot(conn)
    finally:
        await live_db.dispose()
        await replayed_db.dispose()
    differing = [name for name in live if live[name] != replayed.get(name)]
    rows = sum(len(v) for v in live.values())
    summary = f"replay of {report.read} records ({report.applied} applied): " + (
        f"tables differ: {differing}" if differing else f"{rows} index rows equal"
    )
    return not differing, summary


@contextlib.asynccontextmanager
async def broker_outage(broker: Any, topology: Topology) -> AsyncIterator[None]:
    """The broker stopped for the body of the ``with``, then started with its topics again.

    Tansu's memory storage forgets topics (and group offsets) when it stops, so they are
    created again at once, before the relay's first publish can auto-create them otherwise.
    """
    await broker.astop()
    try:
        yield
    finally:
        await broker.astart()
        await ensure_topics(broker.bootstrap_servers, all_topics(topology.prefix))
