"""REST API benchmark: each figure of a live hub beside a bare FastAPI endpoint, in one run.

Run from the repository root::

    PYTHONPATH=src python bench/bench_api.py [--size-mib 1024] [--count 2000]
        [--concurrency 32] [--repeat 3] [--workdir DIR] [--json]

Two servers run as subprocesses on loopback, each a single uvicorn worker with the same
defaults (whatever ``uvicorn`` picks on this machine, access log on):

- the hub: ``artifact-hub serve`` on a fresh data folder (local blob store, SQLite, in-process
  events), rate limits raised out of the way and the periodic sweeper off;
- the baseline: a bare FastAPI app written to the work folder, whose endpoints only move the
  bytes: ``POST /small`` writes the uploaded file like the hub's blob store does (temp file,
  fsync, rename under its sha256, fsync of the folder), ``PUT /blob/{name}`` streams the body
  to a file the same way (sha256, fsync, rename), ``GET /blob/{name}`` is a ``FileResponse``.

Parts, every figure a rate (higher is better):

1. Small pushes: ``--count`` distinct 4 KiB files as multipart ``POST`` from ``--concurrency``
   asyncio tasks, each with its own ``httpx.AsyncClient`` (one connection each): to
   ``/v1/artifacts`` (without, and with an ``Idempotency-Key`` as the SDK sends), and to the
   bare ``/small`` with the same requests.
2. Large file (``--size-mib``): the SDK's ``Client.push`` through the presigned flow
   (``upload-url``, ``PUT``, ``complete``) and ``Client.pull``, and ``Client.push`` through the
   streamed multipart ``POST`` (at most 480 MiB: that path takes 500 MiB); beside the bare
   ``PUT``/``GET`` with the same httpx client code the SDK runs (1 MiB chunks; the download
   hashed and written to a temp file, then renamed). Best of ``--repeat`` rounds with a fresh
   input file each; hub and bare take turns going first, operation by operation.

``sync(2)`` runs (untimed) before each timed part, so nothing pays for the writeback of what
ran before it. Page caches are not dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from _common import (
    Row,
    machine_facts,
    print_facts,
    print_json,
    print_table,
    progress,
    stopwatch,
)

from artifact_hub import Client

CHUNK = 1024 * 1024
MiB = 1024 * 1024
SMALL_BLOB = 4096
MB = 1_000_000  # throughput is in MB/s (10^6 bytes per second)
MULTIPART_MAX_MIB = 480
"""The multipart row's largest file: the hub's multipart path takes at most 500 MiB."""
STARTUP_TIMEOUT = 60.0
NEVER_PRESIGNED = 1 << 50

# The row keys every run prints (the smoke test holds the bench to them).
ROW_KEYS = (
    "small_push",
    "small_push_idempotent",
    "upload_presigned",
    "upload_multipart",
    "download",
)

BARE_APP = '''\
"""The baseline: FastAPI endpoints that only move bytes (written by bench/bench_api.py)."""

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.responses import FileResponse

ROOT = Path(os.environ["BENCH_BARE_DIR"])
BLOBS = ROOT / "blobs"
TMP = ROOT / "tmp"
BLOBS.mkdir(parents=True, exist_ok=True)
TMP.mkdir(parents=True, exist_ok=True)
CHUNK = 1024 * 1024

app = FastAPI()


def _fsync_dir(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store(data):
    """As the hub's blob store: temp file, fsync, rename under the sha256, fsync the folder."""
    sha = hashlib.sha256(data).hexdigest()
    fd, temp = tempfile.mkstemp(dir=TMP, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, BLOBS / sha)
    _fsync_dir(BLOBS)
    return sha


def _write(out, digest, batch):
    for chunk in batch:
        digest.update(chunk)
        out.write(chunk)


def _finish(out, temp, target):
    out.flush()
    os.fsync(out.fileno())
    out.close()
    os.replace(temp, target)
    _fsync_dir(target.parent)


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.post("/small", status_code=201)
async def small(file: UploadFile = File(...)):
    data = await file.read()
    sha = await asyncio.to_thread(_store, data)
    return {"sha256": sha, "size_bytes": len(data)}


@app.put("/blob/{name}")
async def put_blob(name: str, request: Request):
    """Stream the body to a temp file in ~1 MiB batches (sha256, fsync), then rename."""
    fd, temp = tempfile.mkstemp(dir=TMP, suffix=".part")
    out = os.fdopen(fd, "wb")
    digest = hashlib.sha256()
    size = 0
    batch, batched = [], 0
    async for chunk in request.stream():
        batch.append(chunk)
        batched += len(chunk)
        size += len(chunk)
        if batched >= CHUNK:
            await asyncio.to_thread(_write, out, digest, batch)
            batch, batched = [], 0
    if batch:
        await asyncio.to_thread(_write, out, digest, batch)
    await asyncio.to_thread(_finish, out, temp, BLOBS / name)
    return {"sha256": digest.hexdigest(), "size_bytes": size}


@app.get("/blob/{name}")
async def get_blob(name: str):
    return FileResponse(BLOBS / name, media_type="application/octet-stream")
'''


# ------------------------------------------------------------------------------ servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env() -> dict[str, str]:
    """This environment without ``ARTIFACT_HUB_*`` (they would change what is measured)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}


@dataclass
class Server:
    """A server subprocess on loopback."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server used so far (None without psutil)."""
        try:
            import psutil  # type: ignore[import-untyped,unused-ignore]
        except ImportError:  # pragma: no cover - psutil is in the test extra
            return None
        times = psutil.Process(self.process.pid).cpu_times()
        return float(times.user + times.system)


@contextlib.contextmanager
def running(name: str, command: list[str], env: dict[str, str], log: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [part.replace("{port}", str(port)).replace("{url}", url) for part in command]
    env = {k: v.replace("{url}", url) for k, v in env.items()}
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield Server(name, url, process, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def hub_server(workdir: Path) -> contextlib.AbstractContextManager[Server]:
    """``artifact-hub serve`` (this interpreter, this package) on a fresh data folder."""
    data_dir = workdir / "hub"
    env = clean_env() | {
        "ARTIFACT_HUB_SIGNING_SECRET": secrets.token_hex(32),
        "ARTIFACT_HUB_PUBLIC_URL": "{url}",
        "ARTIFACT_HUB_RATE_LIMIT_PER_SECOND": "1000000",
        "ARTIFACT_HUB_RATE_LIMIT_BURST": "10000000",
        "ARTIFACT_HUB_SWEEP_ENABLED": "false",
        # Search documents are still written (lexical); embedding every push with MiniLM is
        # search's own cost, measured by bench_search.py, not the REST API's.
        "ARTIFACT_HUB_SEARCH_EMBEDDER": "none",
    }
    command = [
        sys.executable,
        "-c",
        "from artifact_hub.cli import main; main()",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--data-dir",
        str(data_dir),
    ]
    return running("artifact-hub serve", command, env, workdir / "hub-serve.log")


def bare_server(workdir: Path) -> contextlib.AbstractContextManager[Server]:
    """The bare FastAPI app under uvicorn's own command line, one worker."""
    app_dir = workdir / "bare-app"
    app_dir.mkdir()
    (app_dir / "bare_app.py").write_text(BARE_APP)
    env = clean_env() | {"BENCH_BARE_DIR": str(workdir / "bare-store")}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bare_app:app",
        "--app-dir",
        str(app_dir),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "info",
    ]
    return running("bare uvicorn", command, env, workdir / "bare-serve.log")


def server_facts() -> dict[str, Any]:
    """What serves the requests: uvicorn's version and the HTTP and loop implementations."""
    import importlib.util

    import uvicorn

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return {"uvicorn": uvicorn.__version__, "http": http, "loop": loop, "httpx": httpx.__version__}


@dataclass
class Cpu:
    """CPU seconds of a server and of this (client) process over one timed block."""

    server: float | None = None
    client: float = 0.0

    def text(self, wall: float) -> str:
        server = "?" if self.server is None else f"{self.server / wall:.2f}"
        return f"CPU/wall server {server}, client {self.client / wall:.2f}"


@contextlib.contextmanager
def cpu_of(server: Server) -> Iterator[Cpu]:
    cpu = Cpu()
    server_before = server.cpu_seconds()
    client_before = time.process_time()
    try:
        yield cpu
    finally:
        cpu.client = time.process_time() - client_before
        server_after = server.cpu_seconds()
        if server_before is not None and server_after is not None:
            cpu.server = server_after - server_before


# ------------------------------------------------------------------------------ 1. small pushes


@dataclass(frozen=True)
class SmallResult:
    seconds: float
    cpu: Cpu


async def push_small(
    server: Server,
    path: str,
    blobs: Sequence[bytes],
    concurrency: int,
    headers: Callable[[], dict[str, str]],
) -> SmallResult:
    """POST each blob as a multipart ``file`` (a ``name`` field first), timed once every
    client has its connection open."""
    counter = itertools.count()
    start = asyncio.Event()
    ready: list[int] = []
    failures: list[str] = []

    async def post(http: httpx.AsyncClient, name: str, blob: bytes) -> None:
        response = await http.post(
            path,
            data={"name": name},
            files={"file": (name, blob, "application/octet-stream")},
            headers=headers(),
        )
        if response.status_code != 201:
            failures.append(f"{response.status_code} {response.text[:200]}")

    async def worker(index: int) -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=120) as http:
            # One untimed request opens the connection (and warms the server up).
            await post(http, f"warmup-{index:03d}.bin", os.urandom(SMALL_BLOB))
            ready.append(index)
            if len(ready) == concurrency:
                start.set()
            await start.wait()
            while (n := next(counter)) < len(blobs):
                await post(http, f"blob-{n:06d}.bin", blobs[n])

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await start.wait()
    with cpu_of(server) as cpu, stopwatch() as watch:
        await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{len(failures)} pushes failed, first: {failures[0]}")
    return SmallResult(watch.seconds, cpu)


def run_small(
    server: Server,
    path: str,
    count: int,
    concurrency: int,
    headers: Callable[[], dict[str, str]],
) -> SmallResult:
    blobs = [os.urandom(SMALL_BLOB) for _ in range(count)]
    os.sync()
    return asyncio.run(push_small(server, path, blobs, concurrency, headers))


def bench_small(
    hub: Server, bare: Server, key: str, count: int, concurrency: int, notes: list[str]
) -> list[Row]:
    auth = {"Authorization": f"Bearer {key}"}

    def plain() -> dict[str, str]:
        return auth

    def idempotent() -> dict[str, str]:
        return {**auth, "Idempotency-Key": str(uuid.uuid4())}

    label = f"{count} x 4 KiB, {concurrency} clients"
    progress(f"small: bare POST /small ({label})")
    base = run_small(bare, "/small", count, concurrency, plain)
    progress(f"small: hub POST /v1/artifacts ({label})")
    hub_plain = run_small(hub, "/v1/artifacts", count, concurrency, plain)
    progress(f"small: hub POST /v1/artifacts with Idempotency-Key ({label})")
    hub_idem = run_small(hub, "/v1/artifacts", count, concurrency, idempotent)

    for what, result in (
        ("bare /small", base),
        ("hub", hub_plain),
        ("hub + Idempotency-Key", hub_idem),
    ):
        notes.append(
            f"small, {what}: {count / result.seconds:.0f} pushes/s over {result.seconds:.1f} s; "
            f"{result.cpu.text(result.seconds)}"
        )
    baseline = "bare POST: write+fsync+rename"
    return [
        Row(
            "small_push",
            f"push 4 KiB, {concurrency} clients",
            "ops/s",
            count / hub_plain.seconds,
            baseline,
            count / base.seconds,
        ),
        Row(
            "small_push_idempotent",
            "push 4 KiB + Idempotency-Key",
            "ops/s",
            count / hub_idem.seconds,
            baseline,
            count / base.seconds,
        ),
    ]


# ------------------------------------------------------------------------------ 2. large file


def make_input(path: Path, size: int, stamp: int) -> str:
    """``size`` bytes (one random MiB, each copy stamped so blocks differ); its sha256."""
    block = bytearray(os.urandom(CHUNK))
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left, index = size, 0
        while left > 0:
            block[:16] = stamp.to_bytes(8, "little") + index.to_bytes(8, "little")
            piece = block[: min(CHUNK, left)]
            out.write(piece)
            digest.update(piece)
            left -= len(piece)
            index += 1
    return digest.hexdigest()


def bare_put(http: httpx.Client, url: str, path: Path) -> dict[str, Any]:
    """Stream a file as the body of a PUT, in 1 MiB chunks, with its Content-Length."""

    def body() -> Iterator[bytes]:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    size = path.stat().st_size
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    response = http.put(url, content=body(), headers=headers)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


def bare_get(http: httpx.Client, url: str, target: Path) -> str:
    """What ``Client.pull`` does: stream, sha256 and write a temp file, rename; the sha256."""
    digest = hashlib.sha256()
    partial = target.with_name(f".{target.name}.part")
    with http.stream("GET", url) as response:
        response.raise_for_status()
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                digest.update(chunk)
    partial.replace(target)
    return digest.hexdigest()


@dataclass(frozen=True)
class Inputs:
    """One round's input files and their sha256."""

    large: Path
    large_sha: str
    multipart: Path
    multipart_sha: str


@dataclass(frozen=True)
class Timed:
    seconds: float
    cpu: Cpu


@contextlib.contextmanager
def timed(server: Server, into: list[Timed]) -> Iterator[None]:
    """Time a transfer (and the CPU of both ends); appended to ``into`` when it succeeds.

    ``sync(2)`` first, untimed, so no transfer pays for the writeback of the one before.
    """
    os.sync()
    with cpu_of(server) as cpu, stopwatch() as watch:
        yield
    into.append(Timed(watch.seconds, cpu))


OPS = ("upload", "download", "multipart")


class HubSide:
    """The hub through the SDK: presigned push, pull, multipart push."""

    name = "hub"

    def __init__(self, server: Server, key: str, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.results: dict[str, list[Timed]] = {op: [] for op in OPS}
        self.presigned = Client(
            api_key=key, base_url=server.url, presigned_threshold=0, max_retries=0
        )
        self.multipart = Client(
            api_key=key, base_url=server.url, presigned_threshold=NEVER_PRESIGNED, max_retries=0
        )
        self.artifact_id = ""
        self.stored: list[str] = []

    def upload(self, inputs: Inputs) -> None:
        with timed(self.server, self.results["upload"]):
            artifact = self.presigned.push(inputs.large, filename="large.bin")
        if artifact.sha256 != inputs.large_sha:
            raise RuntimeError(f"the hub stored {artifact.sha256}, the file is {inputs.large_sha}")
        self.artifact_id = artifact.id
        self.stored.append(artifact.sha256)

    def download(self, inputs: Inputs) -> None:
        pulled = self.workdir / "hub-pulled.bin"
        with timed(self.server, self.results["download"]):
            self.presigned.pull(self.artifact_id, pulled)  # verified against X-Content-SHA256
        if pulled.stat().st_size != inputs.large.stat().st_size:
            raise RuntimeError("the pulled file has the wrong size")
        pulled.unlink()

    def multipart_upload(self, inputs: Inputs) -> None:
        with timed(self.server, self.results["multipart"]):
            artifact = self.multipart.push(inputs.multipart, filename="multipart.bin")
        if artifact.sha256 != inputs.multipart_sha:
            raise RuntimeError(f"the hub stored {artifact.sha256}, not {inputs.multipart_sha}")
        self.stored.append(artifact.sha256)

    def cleanup(self) -> None:
        # The bench reads these blobs no more: drop them so rounds do not pile up gigabytes.
        root = self.workdir / "hub" / "blobs" / "blobs"
        for sha in self.stored:
            (root / sha[:2] / sha[2:4] / sha).unlink(missing_ok=True)
        self.stored.clear()

    def close(self) -> None:
        self.presigned.close()
        self.multipart.close()


class BareSide:
    """The bare app through plain httpx: PUT, GET, PUT."""

    name = "bare"

    def __init__(self, server: Server, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.results: dict[str, list[Timed]] = {op: [] for op in OPS}
        self.http = httpx.Client(base_url=server.url, timeout=httpx.Timeout(300.0, connect=10.0))

    def upload(self, inputs: Inputs) -> None:
        with timed(self.server, self.results["upload"]):
            stored = bare_put(self.http, "/blob/large.bin", inputs.large)
        if stored["sha256"] != inputs.large_sha:
            raise RuntimeError("the bare server stored other bytes")

    def download(self, inputs: Inputs) -> None:
        pulled = self.workdir / "bare-pulled.bin"
        with timed(self.server, self.results["download"]):
            got = bare_get(self.http, "/blob/large.bin", pulled)
        if got != inputs.large_sha:
            raise RuntimeError("the bare download hashes differently")
        pulled.unlink()

    def multipart_upload(self, inputs: Inputs) -> None:
        with timed(self.server, self.results["multipart"]):
            stored = bare_put(self.http, "/blob/multipart.bin", inputs.multipart)
        if stored["sha256"] != inputs.multipart_sha:
            raise RuntimeError("the bare server stored other bytes")

    def cleanup(self) -> None:
        store = self.workdir / "bare-store" / "blobs"
        for name in ("large.bin", "multipart.bin"):
            (store / name).unlink(missing_ok=True)

    def close(self) -> None:
        self.http.close()


def run_op(side: HubSide | BareSide, op: str, inputs: Inputs) -> None:
    if op == "upload":
        side.upload(inputs)
    elif op == "download":
        side.download(inputs)
    else:
        side.multipart_upload(inputs)


def bench_large(
    hub: Server,
    bare: Server,
    key: str,
    workdir: Path,
    size: int,
    repeat: int,
    notes: list[str],
) -> list[Row]:
    small_size = min(size, MULTIPART_MAX_MIB * MiB)
    hub_side = HubSide(hub, key, workdir)
    bare_side = BareSide(bare, workdir)
    try:
        for round_ in range(repeat):
            progress(f"large: round {round_ + 1}/{repeat}, writing the input files")
            large, multipart = workdir / "input.bin", workdir / "input-multipart.bin"
            inputs = Inputs(
                large,
                make_input(large, size, 2 * round_),
                multipart,
                make_input(multipart, small_size, 2 * round_ + 1),
            )
            for index, op in enumerate(OPS):
                # Hub and bare take turns going first, operation by operation.
                sides: list[HubSide | BareSide] = [hub_side, bare_side]
                if (round_ + index) % 2 == 0:
                    sides.reverse()
                for side in sides:
                    progress(f"large: round {round_ + 1}/{repeat}, {op}, {side.name}")
                    run_op(side, op, inputs)
            hub_side.cleanup()
            bare_side.cleanup()
            large.unlink()
            multipart.unlink()
    finally:
        hub_side.close()
        bare_side.close()

    sizes = {"upload": size, "download": size, "multipart": small_size}

    def rates(side: HubSide | BareSide, op: str) -> tuple[float, ...]:
        return tuple(sizes[op] / MB / t.seconds for t in side.results[op])

    def best(side: HubSide | BareSide, op: str) -> Timed:
        return min(side.results[op], key=lambda t: t.seconds)

    def listed(values: Sequence[float]) -> str:
        return ", ".join(f"{v:.0f}" for v in values)

    notes.append(
        f"large: best of {repeat} rounds (hub and bare take turns going first, operation by "
        "operation; sync(2) before each transfer, untimed). MB/s per round: hub presigned "
        f"{listed(rates(hub_side, 'upload'))} | bare PUT {listed(rates(bare_side, 'upload'))}"
        f" | hub multipart {listed(rates(hub_side, 'multipart'))} | bare PUT "
        f"{listed(rates(bare_side, 'multipart'))} | hub pull "
        f"{listed(rates(hub_side, 'download'))} | bare GET "
        f"{listed(rates(bare_side, 'download'))}."
    )
    for op, what in (("upload", "presigned push"), ("multipart", "multipart push")):
        h, b = best(hub_side, op), best(bare_side, op)
        notes.append(
            f"large, {what}: hub {h.cpu.text(h.seconds)}; bare PUT {b.cpu.text(b.seconds)}."
        )
    h, b = best(hub_side, "download"), best(bare_side, "download")
    notes.append(f"large, pull: hub {h.cpu.text(h.seconds)}; bare GET {b.cpu.text(b.seconds)}.")
    notes.append(
        "large: the presigned push is upload-url, PUT (streamed to data_dir/uploads, sha256, "
        "fsync), complete (read back, sha256, write to the blob store's tmp/, fsync, rename, "
        "one index transaction): the bytes are written to disk twice; the bare PUT writes "
        "them once (sha256, fsync, rename). The multipart push streams the file part to the "
        "blob store (sha256, fsync, rename) once. Downloads go to a temp file hashed on the "
        "way, then renamed (Client.pull, and the same loop for the bare GET); the hub also "
        "verifies the sha256 while it reads the blob."
    )
    label = f"{size / MiB:.0f} MiB"
    small_label = f"{small_size / MiB:.0f} MiB"
    put_label = "bare PUT: stream+sha256+fsync"
    specs = (
        ("upload_presigned", "upload", f"push {label} (presigned)", put_label),
        ("upload_multipart", "multipart", f"push {small_label} (multipart)", put_label),
        ("download", "download", f"pull {label}", "bare GET: FileResponse"),
    )
    return [
        Row(
            key,
            metric,
            "MB/s",
            max(rates(hub_side, op)),
            baseline,
            max(rates(bare_side, op)),
            rates(hub_side, op),
            rates(bare_side, op),
        )
        for key, op, metric, baseline in specs
    ]


# ------------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="artifact-hub REST API benchmark: a live hub beside a bare FastAPI app."
    )
    parser.add_argument("--size-mib", type=int, default=1024, help="large file size (MiB)")
    parser.add_argument("--count", type=int, default=2000, help="number of 4 KiB pushes")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="concurrent clients of the small pushes"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of the large-file part (hub and bare alternate; the best round counts)",
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
    for name in ("size_mib", "count", "concurrency", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    parent: Path = args.workdir if args.workdir is not None else Path(tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="artifact-hub-bench-api-", dir=parent))
    size = args.size_mib * MiB
    try:
        facts = machine_facts(workdir)
        if facts["disk_free_gib"] * 1024**3 < 5 * size:
            raise SystemExit(f"{workdir} needs about {5 * size / 1024**3:.1f} GiB free")
        servers = server_facts()
        notes: list[str] = []
        progress("starting artifact-hub serve and the bare uvicorn app")
        with hub_server(workdir) as hub, bare_server(workdir) as bare:
            key = (workdir / "hub" / "bootstrap-key.txt").read_text().strip()
            rows = bench_small(hub, bare, key, args.count, args.concurrency, notes)
            rows += bench_large(hub, bare, key, workdir, size, args.repeat, notes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if tuple(row.key for row in rows) != ROW_KEYS:  # keeps ROW_KEYS honest
        raise RuntimeError(f"rows {[row.key for row in rows]} differ from ROW_KEYS")

    print("artifact-hub REST API benchmark: a live `artifact-hub serve` beside a bare FastAPI")
    print("app on the same uvicorn, both subprocesses on loopback, measured in this same run on")
    print("this same machine; the clients run in this process. Compare ratios, not absolutes.")
    print_facts(facts)
    print(
        f"servers: uvicorn {servers['uvicorn']} ({servers['http']}, {servers['loop']} loop), "
        f"one worker each, access log on; clients httpx {servers['httpx']}"
    )
    print(
        f"sizes:   {args.count} pushes of 4 KiB from {args.concurrency} concurrent clients "
        f"(one pass each); large file {args.size_mib} MiB, multipart "
        f"{min(args.size_mib, MULTIPART_MAX_MIB)} MiB (best of {args.repeat} rounds)"
    )
    print(
        "caches:  page cache NOT dropped: the input files and stored blobs are read from "
        "memory when RAM allows (both sides alike)."
    )
    print("ratio = artifact-hub / baseline (all figures are rates; 1.00x = as fast as bare).")
    print()
    print_table(rows)
    print()
    print("notes:")
    for note in notes:
        print(f"  - {note}")
    if args.json:
        print_json(
            {
                "bench": "api",
                "machine": facts,
                "servers": servers,
                "params": {
                    "size_mib": args.size_mib,
                    "count": args.count,
                    "concurrency": args.concurrency,
                    "repeat": args.repeat,
                },
                "rows": [row.as_dict() for row in rows],
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
