"""A real ``artifact-hub serve`` process on loopback, for tests that kill or flood it.

The process runs this checkout's sources (``PYTHONPATH`` is set to its ``src``), with the
settings given plus a signing secret, the hashing embedder and rate limits out of the way.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """One ``serve`` process and what a test needs to talk to it."""

    url: str
    port: int
    data_dir: Path
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    key: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 60) -> None:
        """Start (or restart) the process and wait until ``/health`` answers."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "artifact_hub.cli.main", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    break
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        key_file = self.data_dir / "bootstrap-key.txt"
        if key_file.exists():
            self.key = key_file.read_text().strip()

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind runs."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )


@contextlib.contextmanager
def serve(tmp_path: Path, **settings: str) -> Iterator[Served]:
    """A started ``serve`` with ``ARTIFACT_HUB_<NAME>`` settings; stopped at the end."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "hub"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTIFACT_HUB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env |= {
        "ARTIFACT_HUB_HOST": "127.0.0.1",
        "ARTIFACT_HUB_PORT": str(port),
        "ARTIFACT_HUB_DATA_DIR": str(data_dir),
        "ARTIFACT_HUB_WORKERS": "1",
        "ARTIFACT_HUB_SIGNING_SECRET": secrets.token_hex(32),
        "ARTIFACT_HUB_PUBLIC_URL": url,
        "ARTIFACT_HUB_RATE_LIMIT_PER_SECOND": "100000",
        "ARTIFACT_HUB_RATE_LIMIT_BURST": "1000000",
        "ARTIFACT_HUB_SEARCH_EMBEDDER": "hashing",
    }
    env |= {f"ARTIFACT_HUB_{name.upper()}": value for name, value in settings.items()}
    served = Served(url=url, port=port, data_dir=data_dir, env=env, log_path=tmp_path / "serve.log")
    served.start()
    try:
        yield served
    finally:
        served.stop()
