"""The distributed hub as real processes: API replicas behind one address, consumers, relays.

:class:`Topology` starts, with the real ``artifact-hub`` command, on given Kafka, PostgreSQL,
S3 and Redis:

- ``api``: N ``artifact-hub serve --workers 1`` replicas on free ports, without the relay, their
  rate-limit counters in Redis, behind a :class:`~tests.distributed.balancer.RoundRobinBalancer`
  (:attr:`Topology.url`);
- ``consumer``: M ``artifact-hub consumers`` in one group, with short group timeouts so the
  group reacts to a dead member in seconds;
- ``relay``: ``artifact-hub relay`` processes on the one outbox (one publishes, by the lease;
  the others stand by).

It also answers what the fault tests ask afterwards: :meth:`Topology.audit` (what the index
says against what S3 holds, :mod:`tests.distributed.checks`) and :meth:`Topology.events_lag`.

Run as a module for local trials without Docker (``scripts/distributed``)::

    python -m tests.distributed.local --api 2 --consumers 2 --relays 2

It stays in ``tests/``: it is test tooling on the test service finders (tests/services.py),
not part of the product.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.distributed.balancer import RoundRobinBalancer
from tests.distributed.checks import Audit, EventsLag, audit_index, events_lag
from tests.services import _PDEATHSIG_EXEC, free_port

__all__ = ["Proc", "Services", "Topology"]

ROOT = Path(__file__).resolve().parents[2]
ROLES = ("api", "consumer", "relay")
# What a started process writes to its log once it does its job (the API answers /health).
READY_MARKERS = {"consumer": ("app started successfully",), "relay": ("relaying the outbox",)}


@dataclass(frozen=True)
class Services:
    """Where the topology's infrastructure is.

    Attributes:
        kafka: Bootstrap servers.
        database_url: A fresh PostgreSQL database (SQLAlchemy URL).
        s3: boto3 client kwargs (``endpoint_url``, keys, ``region_name``).
        bucket: An existing, empty bucket.
        redis_url: The Redis of the shared rate-limit counters.
    """

    kafka: str
    database_url: str
    s3: dict[str, Any]
    bucket: str
    redis_url: str


@dataclass
class Proc:
    """One hub process of the topology."""

    role: str
    index: int
    argv: list[str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        """``api0``, ``consumer1``, ..."""
        return f"{self.role}{self.index}"

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def log_text(self) -> str:
        """Everything the process (all its starts) wrote so far."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


@dataclass
class Topology:
    """N API replicas behind one address, M consumers in one group and R relays.

    Args:
        services: The infrastructure.
        run_dir: Logs and data folders of the processes.
        api: API replicas.
        consumers: Index consumers (one group).
        relays: Outbox relays (one active, the others standing by).
        env: More ``ARTIFACT_HUB_*`` variables for every process.
    """

    services: Services
    run_dir: Path
    api: int = 2
    consumers: int = 2
    relays: int = 2
    env: dict[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: f"d{uuid.uuid4().hex[:8]}.")
    procs: dict[str, list[Proc]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    """API keys by tenant id (``tenant-a``, ``tenant-b``), each an admin of its tenant."""
    balancer: RoundRobinBalancer | None = None

    # ------------------------------------------------------------------------- properties

    @property
    def url(self) -> str:
        """The one address of the API (the balancer)."""
        assert self.balancer is not None, "start() first"
        return self.balancer.url

    @property
    def api_key(self) -> str:
        """The first tenant's API key."""
        return self.keys["tenant-a"]

    @property
    def group(self) -> str:
        """The index consumers' group id."""
        return f"{self.prefix}index"

    def environment(self) -> dict[str, str]:
        """The environment of every hub process."""
        s3 = self.services.s3
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ARTIFACT_HUB_"))}
        hub = {
            "DATABASE_URL": self.services.database_url,
            "EVENT_BUS": "kafka",
            "KAFKA_BOOTSTRAP_SERVERS": self.services.kafka,
            "TOPIC_PREFIX": self.prefix,
            "CONSUMER_GROUP": self.group,
            "CONSUMER_SESSION_TIMEOUT_MS": "6000",
            "CONSUMER_HEARTBEAT_INTERVAL_MS": "500",
            "CONSUMER_REBALANCE_TIMEOUT_MS": "1000",
            "BLOB_STORE": "s3",
            "S3_BUCKET": self.services.bucket,
            "S3_ENDPOINT_URL": s3["endpoint_url"],
            "S3_ACCESS_KEY_ID": s3["aws_access_key_id"],
            "S3_SECRET_ACCESS_KEY": s3["aws_secret_access_key"],
            "S3_REGION": s3.get("region_name", "us-east-1"),
            "REDIS_URL": self.services.redis_url,
            "RATE_LIMIT_KEY_PREFIX": f"artifact-hub:{self.prefix}ratelimit",
            # High enough that the load scenarios are not throttled; the rate-limit scenario
            # restarts the replicas with its own limit.
            "RATE_LIMIT_PER_SECOND": "100000",
            "RATE_LIMIT_BURST": "100000",
            # A killed replica's in-progress POSTs are taken over by their retries after this
            # (default 10 s; shorter keeps the scenarios short).
            "IDEMPOTENCY_STALE_SECONDS": "4",
            "RUN_RELAY": "false",
            "RELAY_POLL_INTERVAL": "0.1",
            "SEARCH_EMBEDDER": "hashing",
            # Shared by the replicas: a link or signed URL one made, the other checks.
            "SIGNING_SECRET": self._secret("signing"),
            "BUS_SIGNING_SECRET": self._secret("bus"),
            "PUBLIC_URL": self.url,
            "DEFAULT_TTL_SECONDS": "never",
        }
        hub.update(self.env)
        return {**base, **{f"ARTIFACT_HUB_{k}": v for k, v in hub.items()}}

    def _secret(self, name: str) -> str:
        path = self.run_dir / f"{name}.secret"
        if not path.exists():
            path.write_text(secrets.token_hex(32))
        return path.read_text()

    # -------------------------------------------------------------------------- lifecycle

    async def start(self, timeout: float = 90.0) -> None:
        """Migrate, create the tenants, start every process and wait until all are ready."""
        from artifact_hub.adapters.bus import all_topics, ensure_topics

        self.run_dir.mkdir(parents=True, exist_ok=True)
        await ensure_topics(self.services.kafka, all_topics(self.prefix))
        await self._create_tenants()
        ports = [free_port() for _ in range(self.api)]
        self.balancer = RoundRobinBalancer([("127.0.0.1", p) for p in ports])
        self.balancer.start()
        cli = _cli()
        for role, count in (
            ("api", self.api),
            ("consumer", self.consumers),
            ("relay", self.relays),
        ):
            self.procs[role] = []
            for index in range(count):
                proc = Proc(role, index, [], self.run_dir / f"{role}{index}.log")
                data_dir = self.run_dir / proc.name
                if role == "api":
                    proc.port = ports[index]
                    proc.argv = [*cli, "serve", "--host", "127.0.0.1", "--port", str(proc.port)]
                    proc.argv += ["--workers", "1", "--data-dir", str(data_dir)]
                else:
                    command = "consumers" if role == "consumer" else "relay"
                    proc.argv = [*cli, command, "--data-dir", str(data_dir)]
                self.procs[role].append(proc)
                self._spawn(proc)
        await self.wait_healthy(timeout)

    async def _create_tenants(self) -> None:
        from artifact_hub.plugin.bootstrap import build_accounts, build_database

        db = build_database(self.services.database_url)
        try:
            await db.migrate()
            accounts = build_accounts(db)
            for tenant in ("tenant-a", "tenant-b"):
                await accounts.create_tenant(tenant)
                _, self.keys[tenant] = await accounts.create_key(tenant, "loader", admin=True)
        finally:
            await db.dispose()

    def _spawn(self, proc: Proc) -> None:
        argv = proc.argv
        if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
            # SIGKILL when the test process dies, even by a signal that skips clean-up.
            argv = [sys.executable, "-c", _PDEATHSIG_EXEC, str(os.getpid()), *argv]
        with proc.log.open("ab") as log:
            log.write(f"\n==== start {proc.starts} at {time.time():.3f}\n".encode())
            log.flush()
            proc.popen = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        proc.starts += 1

    def proc(self, role: str, index: int) -> Proc:
        """The process ``index`` of ``role``."""
        return self.procs[role][index]

    def kill(self, role: str, index: int) -> None:
        """SIGKILL one process (no clean-up of any kind)."""
        self._signal(self.proc(role, index), signal.SIGKILL)

    def terminate(self, role: str, index: int) -> None:
        """SIGTERM one process (a clean stop: in-flight work finishes)."""
        self._signal(self.proc(role, index), signal.SIGTERM)

    @staticmethod
    def _signal(proc: Proc, sig: signal.Signals) -> None:
        if proc.alive and proc.popen is not None:
            proc.popen.send_signal(sig)

    async def wait_stopped(self, role: str, index: int, timeout: float = 30.0) -> int | None:
        """Wait for the process to exit; its exit code."""
        popen = self.proc(role, index).popen
        if popen is None:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(popen.wait, timeout)
        return popen.poll()

    async def restart(
        self, role: str, index: int, *, kill: bool = False, drain: float = 0.0, timeout: float = 60
    ) -> None:
        """Stop one process (SIGTERM, or SIGKILL with ``kill``), start it again, wait ready.

        For an API replica the balancer stops sending it new connections first, and after
        ``drain`` seconds the stop signal goes; it is put back once ``/health`` answers.
        """
        proc = self.proc(role, index)
        if role == "api" and self.balancer is not None:
            self.balancer.disable(index)
            await asyncio.sleep(drain)
        (self.kill if kill else self.terminate)(role, index)
        if await self.wait_stopped(role, index, timeout) is None:
            self.kill(role, index)
            await self.wait_stopped(role, index, 10)
        self._spawn(proc)
        await self._wait_ready(proc, time.monotonic() + timeout)
        if role == "api" and self.balancer is not None:
            self.balancer.enable(index)

    def start_again(self, role: str, index: int) -> None:
        """Start a stopped process again (not waiting: see :meth:`wait_healthy`)."""
        proc = self.proc(role, index)
        if not proc.alive:
            self._spawn(proc)

    async def wait_healthy(self, timeout: float = 60.0) -> None:
        """Wait until every process is ready: API ``/health`` 200, the others' log markers."""
        deadline = time.monotonic() + timeout
        for role in ROLES:
            for proc in self.procs.get(role, []):
                await self._wait_ready(proc, deadline)

    async def _wait_ready(self, proc: Proc, deadline: float) -> None:
        marker_from = len(proc.log_text().rsplit("\n==== start ", 1)[0])
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                if not proc.alive:
                    raise RuntimeError(f"{proc.name} exited: {_tail(proc.log_text())}")
                if proc.role == "api":
                    with contextlib.suppress(httpx.HTTPError):
                        answer = await http.get(f"http://127.0.0.1:{proc.port}/health")
                        if answer.status_code == 200:
                            return
                else:
                    text = proc.log_text()[marker_from:]
                    if any(marker in text for marker in READY_MARKERS[proc.role]):
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{proc.name} not ready: {_tail(proc.log_text())}")
                await asyncio.sleep(0.1)

    async def __aenter__(self) -> Topology:
        """Start every process (stopped again if the start fails)."""
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process, SIGKILL what is left after ``timeout``, stop the balancer."""
        every = [p for role in ROLES for p in self.procs.get(role, [])]
        for proc in every:
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in every:
            if proc.popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    remaining = max(0.1, deadline - time.monotonic())
                    await asyncio.to_thread(proc.popen.wait, remaining)
        for proc in every:
            self._signal(proc, signal.SIGKILL)
            if proc.popen is not None:
                proc.popen.wait(10)
        if self.balancer is not None:
            self.balancer.stop()

    # ----------------------------------------------------------------------------- checks

    async def audit(self, *, pull_sample: int = 20) -> Audit:
        """What the index says against what S3 holds (see :func:`checks.audit_index`)."""
        return await audit_index(
            self.services.database_url,
            self.services.s3,
            self.services.bucket,
            url=self.url,
            api_keys=list(self.keys.values()),
            pull_sample=pull_sample,
        )

    async def events_lag(self) -> EventsLag:
        """Outbox rows not yet published and the consumer group's lag on the topics."""
        return await events_lag(self.services.database_url, self.services.kafka, self.prefix)

    async def wait_caught_up(self, timeout: float = 30.0) -> EventsLag:
        """Wait until the outbox is published and the group has consumed it; the last lag."""
        deadline = time.monotonic() + timeout
        while True:
            lag = await self.events_lag()
            if lag.total == 0 or time.monotonic() > deadline:
                return lag
            await asyncio.sleep(0.25)


def _cli() -> list[str]:
    """The installed ``artifact-hub`` command of this interpreter's environment."""
    script = Path(sys.executable).with_name("artifact-hub")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from artifact_hub.cli.main import main; main()"]


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])
