"""Peer benchmark: artifact-hub beside an MLflow tracking server, same workload, same run.

Run from the repository root (MLflow comes with the optional ``bench`` extra)::

    pip install -e '.[bench]'
    PYTHONPATH=src python bench/bench_peer.py [--rounds 3] [--small-count 1000] [--threads 32]
        [--big-mib 1024] [--hub-env K=V]... [--hub-arg ARG]... [--no-mlflow] [--skip-events]
        [--workdir DIR] [--json]

Both servers run as subprocesses on loopback, each on a fresh temporary folder per round:

- MLflow: ``mlflow server --backend-store-uri sqlite:///<tmp>/mlflow.db --artifacts-destination
  <tmp>/mlartifacts --serve-artifacts --workers 4`` (proxied artifacts, as a team server runs);
- artifact-hub: ``artifact-hub serve --data-dir <tmp>/hub`` (embedded: SQLite, local blobs,
  in-process events), with the user's defaults except the rate limit, raised out of the way
  (MLflow has none); ``--hub-env`` and ``--hub-arg`` change that.

Each round runs the whole workload on one system, then on the other; who goes first alternates
from round to round; the table gives the median over rounds (every round is in the notes).
The client side has the same shape for both: the hub through its SDK (``artifact_hub.Client``),
MLflow through the HTTP requests its ``HttpArtifactRepository`` sends, on one ``httpx.Client``.

1. ``--small-count`` distinct 4 KiB pushes, one thread; then as many again from ``--threads``
   threads sharing one client object. Hub: ``Client.push(bytes, filename=..., session_id=...)``.
   MLflow: ``PUT /api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/f<i>.bin``.
2. Server CPU per small push: user + system CPU seconds of the server's process tree over
   both push phases, divided by the pushes.
3. Listing the ``--small-count`` artifacts of the first phase (median of 5): the hub SDK's
   ``Client.list(session_id=...)`` with its default paging (pages of 200);
   MLflow: ``GET /api/2.0/mlflow-artifacts/artifacts?path=<experiment>/<run>/artifacts``, the
   one request ``MlflowClient.list_artifacts`` sends once it knows the run.
4. A ``--big-mib`` file of random bytes: hub ``Client.push(path)`` (the presigned flow above
   100 MB) and ``Client.pull(id, path)`` (sha256 checked); MLflow: a streamed ``PUT`` and a
   streamed ``GET`` to a file in 1 MiB chunks (what its client does; no hash). The server's
   RSS (process tree) is sampled every 0.1 s during both; the peak is reported.
5. Idle memory: RSS of the server's process tree after start and one warm-up push.

"Event path" (``--skip-events`` skips it) runs ``bench/bench_bus.py`` with small sizes in a
subprocess and prints its tables: the Kafka consumer projection against raw batched inserts
(SQLite, and PostgreSQL when reachable) and API write -> subscriber latency with Kafka.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from _common import machine_facts, print_facts, print_json, progress, stopwatch

from artifact_hub import Client

ROOT = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024
MB = 1_000_000  # throughput in MB/s (10^6 bytes per second), memory in MB
SMALL_BLOB = 4096
LIST_REPEAT = 5
PAGE = 200  # the SDK's page when iterating
STARTUP_TIMEOUT = 120.0
RSS_INTERVAL = 0.1
HUB = "artifact-hub"
MLFLOW = "MLflow"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    unit: str
    higher_is_better: bool


def metrics(args: argparse.Namespace) -> list[Metric]:
    n, big = args.small_count, f"{args.big_mib} MiB"
    return [
        Metric("push_seq", f"{n:,} x 4 KiB pushes, 1 thread", "pushes/s", True),
        Metric(
            "push_threads",
            f"{n:,} x 4 KiB pushes, {args.threads} threads, one shared client",
            "pushes/s",
            True,
        ),
        Metric("cpu_per_push", "server CPU per small push", "ms", False),
        Metric("list", f"list the {n:,} artifacts of a session (SDK default pages)", "ms", False),
        Metric("upload", f"{big} upload", "MB/s", True),
        Metric("download", f"{big} download", "MB/s", True),
        Metric("transfer_rss", f"server peak RSS during the {big} transfers", "MB", False),
        Metric("idle_rss", "idle server memory (RSS of the process tree)", "MB", False),
    ]


ROW_KEYS = (
    "push_seq",
    "push_threads",
    "cpu_per_push",
    "list",
    "upload",
    "download",
    "transfer_rss",
    "idle_rss",
)


# ------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This environment without ``ARTIFACT_HUB_*`` and ``MLFLOW_*`` (they change what runs)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ARTIFACT_HUB_", "MLFLOW_"))}


@dataclass
class Server:
    """A server subprocess (its own process group) and what psutil sees of its tree."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total

    def pss_bytes(self) -> int | None:
        """Proportional set size (shared pages split between the processes), Linux only."""
        total = 0
        for proc in self.tree():
            try:
                total += getattr(proc.memory_full_info(), "pss", 0)
            except (psutil.Error, AttributeError):
                return None
        return total


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL after 20 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    # Workers that outlived their parent (same group).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


@contextlib.contextmanager
def running(
    name: str, command: list[str], env: dict[str, str], log: Path, health: str
) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [part.replace("{port}", str(port)) for part in command]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}{health}", timeout=2).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            yield Server(name, url, process, log)
        finally:
            stop(process)


def hub_command(args: argparse.Namespace) -> list[str]:
    exe = Path(sys.executable).parent / "artifact-hub"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from artifact_hub.cli import main; main()"]


def hub_env(args: argparse.Namespace) -> dict[str, str]:
    env = clean_env() | {
        # MLflow has no rate limit; the hub's default (100/s, burst 200) stays out of the way.
        "ARTIFACT_HUB_RATE_LIMIT_PER_SECOND": "1000000",
        "ARTIFACT_HUB_RATE_LIMIT_BURST": "10000000",
    }
    for item in args.hub_env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def hub_server(args: argparse.Namespace, folder: Path) -> contextlib.AbstractContextManager[Server]:
    command = [
        *hub_command(args),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--data-dir",
        str(folder / "hub"),
        *args.hub_arg,
    ]
    return running(HUB, command, hub_env(args), folder / "hub-serve.log", "/health")


def mlflow_server(
    args: argparse.Namespace, folder: Path
) -> contextlib.AbstractContextManager[Server]:
    command = [
        args.mlflow,
        "server",
        "--backend-store-uri",
        f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination",
        str(folder / "mlartifacts"),
        "--serve-artifacts",
        "--workers",
        str(args.mlflow_workers),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
    ]
    return running(MLFLOW, command, clean_env(), folder / "mlflow-server.log", "/health")


def find_mlflow(explicit: str | None) -> str | None:
    if explicit:
        path = Path(explicit)
        if path.is_dir():  # a venv or its bin folder
            for candidate in (path / "bin" / "mlflow", path / "mlflow"):
                if candidate.exists():
                    return str(candidate)
            return None
        if path.name.startswith("python"):  # that interpreter's venv
            candidate = path.parent / "mlflow"
            return str(candidate) if candidate.exists() else None
        return str(path) if path.exists() else None
    beside = Path(sys.executable).parent / "mlflow"
    if beside.exists():
        return str(beside)
    return shutil.which("mlflow")


def mlflow_version(exe: str) -> str:
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=120, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc!r})"
    return out.strip().rsplit(" ", 1)[-1]


# ------------------------------------------------------------------------------ measuring


class RssSampler:
    """Peak RSS of a server's process tree, sampled every 0.1 s in a thread."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = server.rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(RSS_INTERVAL):
            self.peak = max(self.peak, self.server.rss_bytes())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.server.rss_bytes())


class Side:
    """One system's client: the operations the workload needs."""

    name: str

    def warm_up(self) -> None: ...
    def push_small(self, group: int, index: int, blob: bytes) -> None: ...
    def list_group(self, group: int) -> int: ...
    def upload(self, path: Path) -> None: ...
    def download(self, target: Path) -> None: ...
    def close(self) -> None: ...


class HubSide(Side):
    name = HUB

    def __init__(self, server: Server, data_dir: Path) -> None:
        key = (data_dir / "bootstrap-key.txt").read_text().strip()
        self.client = Client(api_key=key, base_url=server.url)
        self.sessions = {g: Client.session_new() for g in (0, 1, 2)}
        self.big_id: str | None = None

    def warm_up(self) -> None:
        self.client.push(os.urandom(SMALL_BLOB), filename="warmup.bin", session_id=self.sessions[2])

    def push_small(self, group: int, index: int, blob: bytes) -> None:
        self.client.push(blob, filename=f"f{index}.bin", session_id=self.sessions[group])

    def list_group(self, group: int) -> int:
        return sum(1 for _ in self.client.list(session_id=self.sessions[group]))

    def upload(self, path: Path) -> None:
        self.big_id = self.client.push(path, session_id=self.sessions[2]).id

    def download(self, target: Path) -> None:
        assert self.big_id is not None
        self.client.pull(self.big_id, target)

    def capture(self, server: Server, folder: Path) -> None:
        """Save the hub's answer to a 4 KiB push and one page of its listing (the replies the
        null server gives in the ceiling phase)."""
        key = self.client.config.api_key
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as http:
            pushed = http.post(
                "/v1/artifacts",
                files={"file": ("capture.bin", os.urandom(SMALL_BLOB))},
                data={"session_id": self.sessions[2]},
            )
            pushed.raise_for_status()
            listed = http.get(
                "/v1/artifacts", params={"session_id": self.sessions[0], "limit": PAGE}
            )
            listed.raise_for_status()
        (folder / "push.json").write_bytes(pushed.content)
        (folder / "page.json").write_bytes(listed.content)

    def close(self) -> None:
        self.client.close()


class MlflowSide(Side):
    """What MLflow's client sends with proxied artifacts (``mlflow-artifacts:/`` run URIs)."""

    name = MLFLOW
    ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"

    def __init__(self, server: Server) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=600)
        response = self.http.post("/api/2.0/mlflow/experiments/create", json={"name": "bench-peer"})
        response.raise_for_status()
        experiment = response.json()["experiment_id"]
        self.roots: dict[int, str] = {}
        self.big_name = ""
        for group in (0, 1, 2):
            response = self.http.post(
                "/api/2.0/mlflow/runs/create",
                json={"experiment_id": experiment, "start_time": int(time.time() * 1000)},
            )
            response.raise_for_status()
            uri = response.json()["run"]["info"]["artifact_uri"]
            # mlflow-artifacts:/<experiment>/<run>/artifacts
            self.roots[group] = uri.split(":", 1)[1].lstrip("/")

    def _put(self, group: int, name: str, content: Any, headers: dict[str, str]) -> None:
        response = self.http.put(
            f"{self.ARTIFACTS}/{self.roots[group]}/{name}", content=content, headers=headers
        )
        response.raise_for_status()

    def warm_up(self) -> None:
        self._put(2, "warmup.bin", os.urandom(SMALL_BLOB), {})

    def push_small(self, group: int, index: int, blob: bytes) -> None:
        self._put(group, f"f{index}.bin", blob, {"Content-Type": "application/octet-stream"})

    def list_group(self, group: int) -> int:
        response = self.http.get(self.ARTIFACTS, params={"path": self.roots[group]})
        response.raise_for_status()
        return len(response.json().get("files", []))

    def upload(self, path: Path) -> None:
        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(MiB):
                    yield chunk

        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(path.stat().st_size),
        }
        self._put(2, path.name, chunks(), headers)
        self.big_name = path.name

    def download(self, target: Path) -> None:
        url = f"{self.ARTIFACTS}/{self.roots[2]}/{self.big_name}"
        with self.http.stream("GET", url) as response:
            response.raise_for_status()
            with target.open("wb") as out:
                for chunk in response.iter_bytes(MiB):
                    out.write(chunk)

    def close(self) -> None:
        self.http.close()


def settled_rss(server: Server, timeout: float = 15.0) -> int:
    """RSS once what the warm-up push started (events, search indexing: the hub loads its
    embedder then) has settled: two samples 0.5 s apart within 2%, after at least 1 s."""
    time.sleep(1.0)
    deadline = time.monotonic() + timeout
    last = server.rss_bytes()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = server.rss_bytes()
        if abs(now - last) <= 0.02 * max(last, 1):
            return now
        last = now
    return last


def run_pushes(
    push: Callable[[int, int, bytes], None], group: int, blobs: Sequence[bytes], threads: int
) -> float:
    """Seconds to push every blob (one thread, or ``threads`` threads sharing the client)."""
    if threads <= 1:
        with stopwatch() as watch:
            for index, blob in enumerate(blobs):
                push(group, index, blob)
        return watch.seconds
    with ThreadPoolExecutor(max_workers=threads) as pool, stopwatch() as watch:
        for future in [pool.submit(push, group, i, blob) for i, blob in enumerate(blobs)]:
            future.result()
    return watch.seconds


def measure(
    args: argparse.Namespace, side: Side, server: Server, big: Path, folder: Path
) -> dict[str, float]:
    """Every figure of one system in one round."""
    n = args.small_count
    name = side.name
    side.warm_up()
    idle = settled_rss(server)
    pss = server.pss_bytes()

    seq_blobs = [os.urandom(SMALL_BLOB) for _ in range(n)]
    par_blobs = [os.urandom(SMALL_BLOB) for _ in range(n)]
    cpu_before = server.cpu_seconds()
    progress(f"{name}: {n} x 4 KiB pushes, 1 thread")
    seq_s = run_pushes(side.push_small, 0, seq_blobs, 1)
    progress(f"{name}: {n} x 4 KiB pushes, {args.threads} threads, one client")
    par_s = run_pushes(side.push_small, 1, par_blobs, args.threads)
    cpu = server.cpu_seconds() - cpu_before

    progress(f"{name}: list the {n} artifacts of the first phase, {LIST_REPEAT} times")
    list_ms: list[float] = []
    for _ in range(LIST_REPEAT):
        with stopwatch() as watch:
            found = side.list_group(0)
        if found != n:
            raise RuntimeError(f"{name}: listed {found} artifacts, expected {n}")
        list_ms.append(watch.seconds * 1000)

    size = big.stat().st_size
    target = folder / "download.bin"
    os.sync()
    progress(f"{name}: {args.big_mib} MiB upload")
    with RssSampler(server) as rss:
        with stopwatch() as up:
            side.upload(big)
        progress(f"{name}: {args.big_mib} MiB download")
        with stopwatch() as down:
            side.download(target)
    if target.stat().st_size != size:
        raise RuntimeError(f"{name}: downloaded {target.stat().st_size} bytes, expected {size}")
    target.unlink()
    if isinstance(side, HubSide) and args.replies is not None and not args.replies.exists():
        args.replies.mkdir()
        side.capture(server, args.replies)
    return {
        "push_seq": n / seq_s,
        "push_threads": n / par_s,
        "cpu_per_push": cpu / (2 * n) * 1000,
        "list": statistics.median(list_ms),
        "upload": size / up.seconds / MB,
        "download": size / down.seconds / MB,
        "transfer_rss": rss.peak / MB,
        "idle_rss": idle / MB,
        "idle_pss": float("nan") if pss is None else pss / MB,
        "processes": float(len(server.tree())),
    }


def run_side(
    args: argparse.Namespace, system: str, parent: Path, big: Path, round_no: int
) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix=f"{'hub' if system == HUB else 'mlflow'}-", dir=parent))
    try:
        progress(f"round {round_no}: starting {system} on {folder}")
        if system == HUB:
            with hub_server(args, folder) as server:
                side: Side = HubSide(server, folder / "hub")
                try:
                    return measure(args, side, server, big, folder)
                finally:
                    side.close()
        with mlflow_server(args, folder) as server:
            side = MlflowSide(server)
            try:
                return measure(args, side, server, big, folder)
            finally:
                side.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def make_big(path: Path, mib: int) -> None:
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(os.urandom(MiB))


# ------------------------------------------------------------------------------ ceiling


CEILING_KEYS = ("push_seq", "push_threads", "list")


def hub_workers(args: argparse.Namespace) -> int:
    """The API worker count ``serve`` runs with these arguments (the null server gets as many)."""
    for index, item in enumerate(args.hub_arg):
        if item.startswith("--workers="):
            return int(item.split("=", 1)[1])
        if item == "--workers" and index + 1 < len(args.hub_arg):
            return int(args.hub_arg[index + 1])
    for item in args.hub_env:
        key, _, value = item.partition("=")
        if key == "ARTIFACT_HUB_WORKERS" and value.strip():
            return int(value)
    return max(1, min(4, os.cpu_count() or 1))  # cli.main.default_workers


def run_ceiling(args: argparse.Namespace, parent: Path) -> dict[str, dict[str, float]]:
    """The same two clients against ``_null_server`` (no work at all), on as many workers as the
    hub had: no server on this machine lets either client go faster."""
    workers = hub_workers(args)
    pages = -(-args.small_count // PAGE)
    env = clean_env() | {"NULL_SERVER_REPLIES": str(args.replies), "NULL_SERVER_PAGES": str(pages)}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "_null_server:app",
        "--app-dir",
        str(ROOT / "bench"),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    n = args.small_count
    me = psutil.Process()
    figures: dict[str, dict[str, float]] = {}
    progress(f"ceiling: both clients against a server that does no work ({workers} workers)")
    with running("null server", command, env, parent / "null-server.log", "/health") as server:
        client = Client(api_key="ah_null_server", base_url=server.url)
        http = httpx.Client(base_url=server.url, timeout=600)
        try:
            blobs = [os.urandom(SMALL_BLOB) for _ in range(n)]

            def sdk_push(group: int, index: int, blob: bytes) -> None:
                client.push(blob, filename=f"f{index}.bin", session_id="null")

            def raw_put(group: int, index: int, blob: bytes) -> None:
                headers = {"Content-Type": "application/octet-stream"}
                http.put(f"/x/f{index}.bin", content=blob, headers=headers).raise_for_status()

            sdk_push(0, 0, blobs[0])
            raw_put(0, 0, blobs[0])
            cpu_before = sum(me.cpu_times()[:2])
            seq = run_pushes(sdk_push, 0, blobs, 1)
            par = run_pushes(sdk_push, 0, blobs, args.threads)
            sdk_cpu = (sum(me.cpu_times()[:2]) - cpu_before) / (2 * n) * 1000
            list_ms = []
            for _ in range(LIST_REPEAT):
                with stopwatch() as watch:
                    found = sum(1 for _ in client.list(session_id="null"))
                list_ms.append(watch.seconds * 1000)
            figures[HUB] = {
                "push_seq": n / seq,
                "push_threads": n / par,
                "list": statistics.median(list_ms),
                "client_cpu_per_push": sdk_cpu,
                "listed": float(found),
            }
            cpu_before = sum(me.cpu_times()[:2])
            seq = run_pushes(raw_put, 0, blobs, 1)
            par = run_pushes(raw_put, 0, blobs, args.threads)
            raw_cpu = (sum(me.cpu_times()[:2]) - cpu_before) / (2 * n) * 1000
            figures[MLFLOW] = {
                "push_seq": n / seq,
                "push_threads": n / par,
                "client_cpu_per_push": raw_cpu,
            }
        finally:
            client.close()
            http.close()
    return figures


# ------------------------------------------------------------------------------ events


@dataclass
class EventPath:
    ok: bool
    text: str
    report: dict[str, Any] | None = None
    shown: str = ""
    """The command line as printed (without the interpreter, the work folder and --json)."""


def run_event_path(args: argparse.Namespace, parent: Path) -> EventPath:
    command = [
        sys.executable,
        str(ROOT / "bench" / "bench_bus.py"),
        "--events",
        str(args.events),
        "--latency-samples",
        str(args.latency_samples),
        "--workdir",
        str(parent),
        "--json",
    ]
    shown = f"bench/bench_bus.py --events {args.events} --latency-samples {args.latency_samples}"
    if args.postgres_url:
        command += ["--postgres-url", args.postgres_url]
        shown += " --postgres-url ..."
    progress(f"event path: {shown}")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "src"), env.get("PYTHONPATH", "")) if p
    )
    proc = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        return EventPath(False, proc.stderr[-3000:], None, shown)
    lines = proc.stdout.rstrip().splitlines()
    report = None
    with contextlib.suppress(ValueError, IndexError):
        report = json.loads(lines[-1])
        lines = lines[:-1]
    return EventPath(True, "\n".join(lines), report, shown)


# ------------------------------------------------------------------------------ report


def figure(value: float) -> str:
    if value != value:  # NaN
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:,.2f}"


def ratio_of(metric: Metric, hub: float, mlflow: float) -> float:
    """> 1 means the hub is better: hub/MLflow for rates, MLflow/hub for costs."""
    if hub != hub or mlflow != mlflow or hub <= 0 or mlflow <= 0:
        return float("nan")
    return hub / mlflow if metric.higher_is_better else mlflow / hub


def print_ceiling(
    args: argparse.Namespace, ceiling: dict[str, dict[str, float]], rows: list[dict[str, Any]]
) -> None:
    """The ceiling table: what each client reaches against a server that does no work, and the
    highest hub / MLflow ratio that leaves possible on this machine."""
    by_key = {row["key"]: row for row in rows}
    print()
    print(f"## Ceiling: the same clients against a server that does no work ({hub_workers(args)}")
    print("uvicorn workers answering every request with a reply the hub gave in round 1)")
    print()
    print(
        "| workload | hub SDK, null server | MLflow's requests, null server | MLflow server "
        "| highest hub / MLflow possible here |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for key in CEILING_KEYS:
        row = by_key[key]
        hub_null = ceiling[HUB][key]
        raw_null = ceiling[MLFLOW].get(key, float("nan"))
        metric = Metric(key, row["metric"], row["unit"], row["higher_is_better"])
        best = ratio_of(metric, hub_null, row["mlflow"])
        best_text = "n/a" if best != best else f"{best:.2f}x"
        print(
            f"| {row['metric']} ({row['unit']}) | {figure(hub_null)} | {figure(raw_null)} | "
            f"{figure(row['mlflow'])} | {best_text} |"
        )
    print()
    print(
        f"Client CPU per push (this process, both push phases): hub SDK "
        f"{figure(ceiling[HUB]['client_cpu_per_push'])} ms, MLflow's requests "
        f"{figure(ceiling[MLFLOW]['client_cpu_per_push'])} ms. The clients share the machine's "
        f"{os.cpu_count()} cores with the server; with {args.threads} threads they are bound "
        "by the GIL and these cores, not by the server."
    )


def git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + (" (uncommitted changes)" if dirty else "")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="artifact-hub beside an MLflow tracking server: same workload, one run."
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (medians are reported)")
    parser.add_argument("--small-count", type=int, default=1000, help="4 KiB pushes per phase")
    parser.add_argument("--threads", type=int, default=32, help="threads of the second phase")
    parser.add_argument("--big-mib", type=int, default=1024, help="size of the big file")
    parser.add_argument(
        "--hub-env",
        action="append",
        default=[],
        metavar="K=V",
        help="an environment variable of `artifact-hub serve` (repeatable)",
    )
    parser.add_argument(
        "--hub-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra argument of `artifact-hub serve` (repeatable; --hub-arg=--workers "
        "--hub-arg=2)",
    )
    parser.add_argument(
        "--mlflow",
        "--mlflow-python",
        dest="mlflow_path",
        default=None,
        metavar="PATH",
        help="the mlflow executable, or a python / venv whose bin/ has it (default: beside "
        "this interpreter, else on PATH)",
    )
    parser.add_argument("--mlflow-workers", type=int, default=4, help="mlflow server --workers")
    parser.add_argument("--no-mlflow", action="store_true", help="run the hub side only")
    parser.add_argument("--skip-events", action="store_true", help="skip the event path")
    parser.add_argument(
        "--skip-ceiling",
        action="store_true",
        help="skip the ceiling phase (both clients against a server that does no work)",
    )
    parser.add_argument("--events", type=int, default=2000, help="bench_bus.py --events")
    parser.add_argument(
        "--latency-samples", type=int, default=100, help="bench_bus.py --latency-samples"
    )
    parser.add_argument("--postgres-url", default=None, help="bench_bus.py --postgres-url")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="where to put the files (a fresh subfolder is made and removed); default: the "
        "system temp folder; needs about 3x --big-mib free",
    )
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    for name in ("rounds", "small_count", "threads", "big_mib"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for item in args.hub_env:
        if "=" not in item:
            parser.error(f"--hub-env takes K=V, not {item!r}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.mlflow = None
    if not args.no_mlflow:
        args.mlflow = find_mlflow(args.mlflow_path)
        if args.mlflow is None:
            print(
                "bench_peer: MLflow not found. Install the optional bench extra into this "
                "environment:\n    pip install -e '.[bench]'\nor point --mlflow at an mlflow "
                "executable (or a venv that has one), or run the hub side only with --no-mlflow.",
                file=sys.stderr,
            )
            return 2
    systems = [HUB] if args.no_mlflow else [HUB, MLFLOW]
    version = "not run" if args.mlflow is None else mlflow_version(args.mlflow)

    parent_dir: Path = args.workdir if args.workdir is not None else Path(tempfile.gettempdir())
    parent_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="artifact-hub-bench-peer-", dir=parent_dir))
    results: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    orders: list[list[str]] = []
    events: EventPath | None = None
    ceiling: dict[str, dict[str, float]] | None = None
    args.replies = None if args.skip_ceiling else workdir / "replies"
    try:
        facts = machine_facts(workdir)
        big = workdir / "big.bin"
        progress(f"writing the {args.big_mib} MiB input file")
        make_big(big, args.big_mib)
        for round_no in range(1, args.rounds + 1):
            order = systems if round_no % 2 else systems[::-1]
            orders.append(list(order))
            for system in order:
                results[system].append(run_side(args, system, workdir, big, round_no))
        big.unlink()
        if args.replies is not None and args.replies.exists():
            ceiling = run_ceiling(args, workdir)
        if not args.skip_events:
            events = run_event_path(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    table = metrics(args)
    rows: list[dict[str, Any]] = []
    for metric in table:
        hub_samples = [r[metric.key] for r in results[HUB]]
        ml_samples = [r[metric.key] for r in results.get(MLFLOW, [])]
        hub = statistics.median(hub_samples)
        ml = statistics.median(ml_samples) if ml_samples else float("nan")
        rows.append(
            {
                "key": metric.key,
                "metric": metric.label,
                "unit": metric.unit,
                "higher_is_better": metric.higher_is_better,
                "hub": hub,
                "mlflow": ml,
                "ratio": ratio_of(metric, hub, ml),
                "hub_samples": hub_samples,
                "mlflow_samples": ml_samples,
            }
        )
    if tuple(row["key"] for row in rows) != ROW_KEYS:  # keeps ROW_KEYS honest
        raise RuntimeError(f"rows {[row['key'] for row in rows]} differ from {ROW_KEYS}")

    hub_settings = [f"{k}={v}" for k, v in sorted(hub_env(args).items()) if "ARTIFACT_HUB_" in k]
    print("artifact-hub beside MLflow: the same client workload on both servers, in one run,")
    print(f"{args.rounds} round(s), who goes first alternating; medians over rounds.")
    print_facts(facts)
    print(f"git:     {git_commit()}")
    print(f"mlflow:  {version}" + ("" if args.mlflow is None else f" ({args.mlflow})"))
    print(
        f"servers: artifact-hub serve (embedded: SQLite, local blobs, in-process events) "
        f"{' '.join(args.hub_arg)}".rstrip()
        + f"; env {', '.join(hub_settings)}"
    )
    if args.mlflow is not None:
        print(
            f"         mlflow server --backend-store-uri sqlite --artifacts-destination <tmp> "
            f"--serve-artifacts --workers {args.mlflow_workers}"
        )
    print()
    print("| workload | artifact-hub | MLflow | hub / MLflow |")
    print("| --- | ---: | ---: | ---: |")
    for row in rows:
        ratio = row["ratio"]
        ratio_text = "n/a" if ratio != ratio else f"{ratio:.2f}x"
        print(
            f"| {row['metric']} ({row['unit']}) | {figure(row['hub'])} | "
            f"{figure(row['mlflow'])} | {ratio_text} |"
        )
    print()
    print("Ratio: > 1 means the hub is better. Rates (pushes/s, MB/s) are hub / MLflow; costs")
    print("(ms, MB) are MLflow / hub. Read ratios, not absolute figures, on a shared machine.")
    print()
    print("notes:")
    notes = [
        "round order: " + "; ".join(" then ".join(order) for order in orders),
        "hub client: artifact_hub.Client (SDK; an Idempotency-Key per POST, files over 100 MB "
        "through upload-url + PUT + complete, pull hashes and checks sha256); MLflow client: "
        "one httpx.Client sending what HttpArtifactRepository sends (PUT per file, GET list, "
        "streamed GET; no hash).",
        "CPU is user + system seconds of the server's whole process tree (MLflow: its "
        f"{args.mlflow_workers} uvicorn workers and job runner too) over both push phases / "
        f"{2 * args.small_count} pushes; RSS is summed over the tree (shared pages counted "
        "once per process; PSS below splits them).",
        "page caches are not dropped; the big file is random bytes, the same file for both.",
    ]
    for system in systems:
        for number, r in enumerate(results[system], 1):
            raw = ", ".join(f"{k} {figure(v)}" for k, v in r.items())
            notes.append(f"{system} round {number}: {raw}")
    for note in notes:
        print(f"  - {note}")

    if ceiling is not None:
        print_ceiling(args, ceiling, rows)

    if events is not None:
        print()
        print(f"## Event path ({events.shown})")
        print()
        if events.ok:
            print(events.text)
        else:
            print("bench_bus.py failed:")
            print(events.text)

    if args.json:
        print_json(
            {
                "bench": "peer",
                "machine": facts,
                "git": git_commit(),
                "mlflow": version,
                "params": {
                    "rounds": args.rounds,
                    "small_count": args.small_count,
                    "threads": args.threads,
                    "big_mib": args.big_mib,
                    "hub_env": args.hub_env,
                    "hub_arg": args.hub_arg,
                    "mlflow_workers": args.mlflow_workers,
                    "no_mlflow": args.no_mlflow,
                },
                "orders": orders,
                "rows": rows,
                "rounds": results,
                "ceiling": ceiling,
                "events": None if events is None else {"ok": events.ok, "report": events.report},
            }
        )
    return 0 if events is None or events.ok else 1


if __name__ == "__main__":
    sys.exit(main())
