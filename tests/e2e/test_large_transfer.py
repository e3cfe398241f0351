"""Large transfers through a live ``artifact-hub serve``: bytes intact, memory flat.

A 2 GiB file goes through the presigned flow (``upload-url`` → ``PUT`` → ``complete``) and a
480 MiB file through the streamed multipart ``POST /v1/artifacts`` (the multipart path takes at
most 500 MiB, ``api/ingest.py``), both with the SDK's ``Client``; both are pulled back to files.
The sha256 must agree end to end: the one computed while writing the input, the one the hub
stored (and announces on download), and the one of the pulled file.

"Memory stays flat": the RSS of the server process and of the client process (a subprocess
running this file as a script, so pytest's own memory does not blur the figure) is sampled
every 50 ms; the peak during the transfers minus the baseline just before them must stay under
:data:`MAX_GROWTH`. A path that held the body in memory would grow by gigabytes.

The figures (peak RSS growth, MB/s per phase) are printed (``pytest -s`` shows them) and
written to ``large-transfer.json`` in the test's temporary folder.

The hub runs on loopback with the local blob store and SQLite, its data folder on the same
disk as the test's files, and rate limits raised out of the way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

MiB = 1024 * 1024
GiB = 1024 * MiB
MB = 1_000_000  # throughput in MB/s (10^6 bytes per second)

PRESIGNED_SIZE = 2 * GiB
MULTIPART_SIZE = 480 * MiB
"""Under the multipart path's 500 MiB limit (``MULTIPART_MAX_BYTES``)."""
MAX_GROWTH = 150 * MiB
SAMPLE_INTERVAL = 0.05
BASELINE_PAUSE = 0.5
"""Seconds the client idles after its warm-up, so the baseline has samples of its own."""
CLIENT_TIMEOUT = 240

PHASES = ("push_multipart", "push_presigned", "pull_presigned", "pull_multipart")


# ------------------------------------------------------------------------------ client side
# This file is also the client process: ``python test_large_transfer.py client ARGS_JSON``.
# It prints one JSON line per event ("ready", then one per phase, with monotonic timestamps,
# which are comparable across processes on Linux) for the test to line up with the samples.


class _RecordingTransport(httpx.HTTPTransport):
    """An ``HTTPTransport`` that notes each request's method, path and media type."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        media = request.headers.get("content-type", "").split(";", 1)[0]
        self.requests.append((request.method, request.url.path, media))
        return super().handle_request(request)


def _emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


def _client_main(args: dict[str, Any]) -> None:
    from artifact_hub import Client

    work = Path(args["work"])
    transports = {"multipart": _RecordingTransport(), "presigned": _RecordingTransport()}
    clients = {
        # Never presigned, and always presigned.
        "multipart": Client(
            api_key=args["key"],
            base_url=args["url"],
            transport=transports["multipart"],
            presigned_threshold=1024 * GiB,
        ),
        "presigned": Client(
            api_key=args["key"],
            base_url=args["url"],
            transport=transports["presigned"],
            presigned_threshold=0,
        ),
    }
    session = "ses_large_transfer"

    # Warm-up: every code path once with a small file (imports, pools, first allocations).
    small = work / "warmup.bin"
    small.write_bytes(os.urandom(MiB))
    for mode, client in clients.items():
        warm = client.push(small, session_id=session, filename=f"warmup-{mode}.bin")
        client.pull(warm.id, work / f"warmup-{mode}.out")
        transports[mode].requests.clear()
    _emit(event="ready", t=time.monotonic())
    time.sleep(BASELINE_PAUSE)

    sources = {"multipart": Path(args["multipart_src"]), "presigned": Path(args["presigned_src"])}
    ids: dict[str, str] = {}
    for phase in PHASES:
        action, mode = phase.split("_")
        client = clients[mode]
        calls: list[tuple[int, int | None]] = []

        def progress(
            done: int, total: int | None, calls: list[tuple[int, int | None]] = calls
        ) -> None:
            calls.append((done, total))

        start = time.monotonic()
        if action == "push":
            artifact = client.push(
                sources[mode], session_id=session, filename=f"{mode}.bin", progress=progress
            )
            ids[mode] = artifact.id
            result: dict[str, Any] = {"artifact_id": artifact.id, "sha256": artifact.sha256}
            result["size_bytes"] = artifact.size_bytes
        else:
            target = client.pull(ids[mode], work / f"pulled-{mode}.bin", progress=progress)
            result = {"artifact_id": ids[mode], "path": str(target)}
        end = time.monotonic()
        _emit(
            event="phase",
            phase=phase,
            start=start,
            end=end,
            bytes=sources[mode].stat().st_size,
            progress_calls=len(calls),
            progress_last=list(calls[-1]) if calls else None,
            requests=transports[mode].requests[:],
            **result,
        )
        transports[mode].requests.clear()
    for client in clients.values():
        client.close()
    _emit(event="done")


# ------------------------------------------------------------------------------ test side


@dataclass
class _Sampler:
    """Samples a process's RSS (with its children's) every ``SAMPLE_INTERVAL`` seconds."""

    pid: int
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        import psutil  # type: ignore[import-untyped,unused-ignore]

        try:
            process = psutil.Process(self.pid)
            while not self._stop.is_set():
                rss = process.memory_info().rss
                for child in process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        rss += child.memory_info().rss
                self.samples.append((time.monotonic(), rss))
                self._stop.wait(SAMPLE_INTERVAL)
        except psutil.NoSuchProcess:
            return

    def window(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in self.samples if start <= t <= end]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _make_input(path: Path, size: int, seed: int) -> str:
    """Write ``size`` bytes: one random MiB, each copy stamped with its index (blocks differ).

    Streamed to disk and hashed on the way; returns the sha256.
    """
    block = bytearray(os.urandom(MiB))
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for index in range(size // MiB):
            block[:16] = seed.to_bytes(8, "little") + index.to_bytes(8, "little")
            out.write(block)
            digest.update(block)
    return digest.hexdigest()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MiB):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _serve(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
    env |= {
        "ARTIFACT_HUB_SIGNING_SECRET": secrets.token_hex(32),
        "ARTIFACT_HUB_PUBLIC_URL": url,
        "ARTIFACT_HUB_RATE_LIMIT_PER_SECOND": "100000",
        "ARTIFACT_HUB_RATE_LIMIT_BURST": "1000000",
        # The embedding model (torch + MiniLM, about 450 MiB, loaded at the first push) is a
        # fixed cost of the process, not a body held in memory: it would hide what this test
        # measures. Search has its own benchmark (bench/bench_search.py).
        "ARTIFACT_HUB_SEARCH_EMBEDDER": "hashing",
    }
    cli = str(Path(sys.executable).parent / "artifact-hub")
    log_path = data_dir.parent / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [cli, "serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.1)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _figures(events: list[dict[str, Any]], server: _Sampler, client: _Sampler) -> dict[str, Any]:
    ready = next(e for e in events if e["event"] == "ready")
    phases = {e["phase"]: e for e in events if e["event"] == "phase"}
    first = min(p["start"] for p in phases.values())
    last = max(p["end"] for p in phases.values())
    figures: dict[str, Any] = {"max_growth_mib": MAX_GROWTH // MiB, "phases": {}}
    for name, sampler in (("server", server), ("client", client)):
        before = sampler.window(ready["t"], first)
        assert before, f"no {name} RSS sample before the transfers"
        baseline = min(before)
        during = sampler.window(first, last)
        assert during, f"no {name} RSS sample during the transfers"
        figures[name] = {
            "baseline_rss_mib": round(baseline / MiB, 1),
            "peak_rss_mib": round(max(during) / MiB, 1),
            "peak_growth_mib": round((max(during) - baseline) / MiB, 1),
            "samples": len(during),
        }
    for name, phase in phases.items():
        seconds = phase["end"] - phase["start"]
        row: dict[str, Any] = {
            "bytes": phase["bytes"],
            "seconds": round(seconds, 2),
            "mb_per_s": round(phase["bytes"] / MB / seconds, 1),
        }
        for side, sampler in (("server", server), ("client", client)):
            window = sampler.window(phase["start"], phase["end"]) or [0]
            baseline = figures[side]["baseline_rss_mib"] * MiB
            row[f"{side}_peak_growth_mib"] = round((max(window) - baseline) / MiB, 1)
        figures["phases"][name] = row
    return figures


def _report(figures: dict[str, Any], path: Path) -> None:
    print()
    print(f"large transfers through a live hub (RSS sampled every {SAMPLE_INTERVAL * 1000:.0f} ms)")
    for side in ("server", "client"):
        f = figures[side]
        print(
            f"  {side}: baseline {f['baseline_rss_mib']} MiB, peak {f['peak_rss_mib']} MiB, "
            f"peak growth {f['peak_growth_mib']} MiB ({f['samples']} samples)"
        )
    for name, row in figures["phases"].items():
        print(
            f"  {name:15} {row['bytes'] / MiB:6.0f} MiB in {row['seconds']:6.2f} s = "
            f"{row['mb_per_s']:6.1f} MB/s; peak growth server {row['server_peak_growth_mib']} "
            f"MiB, client {row['client_peak_growth_mib']} MiB"
        )
    print(f"  figures: {path}")


@pytest.mark.slow
def test_large_push_and_pull_stream_with_flat_memory(tmp_path: Path) -> None:
    # Inputs, staged upload, blobs and pulled copies: about 4.5x the bytes at the peak.
    free = shutil.disk_usage(tmp_path).free
    if free < 12 * GiB:
        pytest.skip(f"needs about 12 GiB free in {tmp_path}, has {free / GiB:.1f} GiB")
    work = tmp_path / "work"
    work.mkdir()
    data_dir = tmp_path / "hub"
    sources = {"presigned": work / "presigned.bin", "multipart": work / "multipart.bin"}
    try:
        expected = {
            "presigned": _make_input(sources["presigned"], PRESIGNED_SIZE, seed=1),
            "multipart": _make_input(sources["multipart"], MULTIPART_SIZE, seed=2),
        }
        with _serve(data_dir) as (url, server_process):
            key_file = data_dir / "bootstrap-key.txt"  # serve writes it on an empty hub
            assert key_file.is_file(), f"serve wrote no {key_file}"
            key = key_file.read_text().strip()
            server = _Sampler(server_process.pid)
            server.start()
            args = {
                "url": url,
                "key": key,
                "work": str(work),
                "presigned_src": str(sources["presigned"]),
                "multipart_src": str(sources["multipart"]),
            }
            env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
            env["HOME"] = str(tmp_path / "home")  # no config file of the user's
            child = subprocess.Popen(
                [sys.executable, __file__, "client", json.dumps(args)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            client = _Sampler(child.pid)
            client.start()
            try:
                out, err = child.communicate(timeout=CLIENT_TIMEOUT)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
                client.stop()
                server.stop()
            assert child.returncode == 0, err[-4000:]
            events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
            assert events[-1] == {"event": "done"}, out[-2000:]
            phases = {e["phase"]: e for e in events if e["event"] == "phase"}

            # The stored sha256, as the hub's API reports it now.
            headers = {"Authorization": f"Bearer {key}"}
            stored = {
                mode: httpx.get(
                    f"{url}/v1/artifacts/{phases[f'push_{mode}']['artifact_id']}",
                    headers=headers,
                ).json()
                for mode in sources
            }

        figures = _figures(events, server, client)
        report = tmp_path / "large-transfer.json"
        report.write_text(json.dumps(figures, indent=2))
        _report(figures, report)

        # Each push took the path it was meant to.
        multipart_requests = [tuple(r) for r in phases["push_multipart"]["requests"]]
        assert multipart_requests == [("POST", "/v1/artifacts", "multipart/form-data")]
        presigned_requests = [r[:2] for r in phases["push_presigned"]["requests"]]
        assert [m for m, _ in presigned_requests] == ["POST", "PUT", "POST"]
        assert presigned_requests[0][1] == "/v1/artifacts/upload-url"
        assert presigned_requests[1][1].startswith("/v1/uploads/upl_")
        assert presigned_requests[2][1].endswith("/complete")

        # sha256 end to end: written == stored == pulled, for both paths.
        for mode, size in (("presigned", PRESIGNED_SIZE), ("multipart", MULTIPART_SIZE)):
            push, pull = phases[f"push_{mode}"], phases[f"pull_{mode}"]
            assert push["size_bytes"] == size
            assert push["sha256"] == expected[mode], mode
            assert stored[mode]["sha256"] == expected[mode], mode
            assert stored[mode]["size_bytes"] == size
            pulled = Path(pull["path"])
            assert pulled.stat().st_size == size
            assert _sha256_of(pulled) == expected[mode], mode
            blob = data_dir / "blobs" / "blobs" / expected[mode][:2] / expected[mode][2:4]
            assert (blob / expected[mode]).stat().st_size == size
            # progress went from 0 to the whole size
            for phase in (push, pull):
                assert phase["progress_calls"] > 2
                assert phase["progress_last"] == [size, size], phase["phase"]

        # Memory stays flat while gigabytes go through.
        for side in ("server", "client"):
            growth = figures[side]["peak_growth_mib"]
            assert growth * MiB < MAX_GROWTH, (
                f"{side} RSS grew by {growth} MiB during the transfers (bound "
                f"{MAX_GROWTH // MiB} MiB): something holds a body in memory"
            )
    finally:
        # Keep the report and the server's log; drop the gigabytes (pytest keeps tmp dirs).
        for path in [*work.glob("*"), *data_dir.rglob("*")]:
            if path.is_file() and path.stat().st_size > MiB:
                path.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        _client_main(json.loads(sys.argv[2]))
    else:
        sys.exit(f"usage: {sys.argv[0]} client ARGS_JSON")
