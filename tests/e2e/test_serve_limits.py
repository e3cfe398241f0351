"""``serve`` against held sockets: half-sent requests are closed, ``/health`` keeps answering.

A real ``artifact-hub serve`` on loopback (one worker), flooded with connections that never
finish their headers. The count is bounded (2,000, below ``ulimit -n`` of both processes) and
the server's cap is set below it, so the cap is exercised as well as the timeouts.
"""

from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path

import httpx
import pytest
from tests.e2e.serve_support import Served, serve

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")

HALF_SENT = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "


def _open(port: int, count: int, payload: bytes = HALF_SENT) -> list[socket.socket]:
    held = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(payload)
        sock.setblocking(False)  # so that _closed never waits
        held.append(sock)
    return held


def _closed(sock: socket.socket) -> bool:
    """Whether the server closed it (EOF or reset), without blocking."""
    try:
        while sock.recv(65536, socket.MSG_DONTWAIT):
            pass  # a 408 answer before the close
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def _wait_all_closed(held: list[socket.socket], deadline: float) -> list[socket.socket]:
    open_ = list(held)
    while open_ and time.monotonic() < deadline:
        open_ = [s for s in open_ if not _closed(s)]
        time.sleep(0.05)
    return open_


def _server_fds(served: Served) -> int:
    assert served.process is not None
    return len(os.listdir(f"/proc/{served.process.pid}/fd"))


def _health_seconds(url: str) -> float:
    started = time.monotonic()
    response = httpx.get(f"{url}/health", timeout=1.0)
    assert response.status_code == 200
    return time.monotonic() - started


def test_held_sockets_do_not_stop_health(tmp_path: Path) -> None:
    count = min(2000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 2 - 100)
    with serve(tmp_path, server_header_timeout_seconds="4", server_max_connections="200") as served:
        baseline = _server_fds(served)
        started = time.monotonic()
        held = _open(served.port, count)
        try:
            # While they are held (and keep coming, in the count above): /health answers
            # within a second, every time, and the server holds no more than its cap.
            for _ in range(5):
                assert _health_seconds(served.url) < 1.0
            assert _server_fds(served) <= baseline + 200 + 20
            # Every one of them is closed: the oldest to make room, the rest at the timeout.
            still_open = _wait_all_closed(held, started + 4 + 5)
            assert not still_open, f"{len(still_open)} of {count} half-sent sockets still open"
            assert _health_seconds(served.url) < 1.0
        finally:
            for sock in held:
                sock.close()


def test_half_sent_requests_are_closed_at_the_header_timeout(tmp_path: Path) -> None:
    with serve(tmp_path, server_header_timeout_seconds="2") as served:
        started = time.monotonic()
        held = _open(served.port, 300)
        silent = _open(served.port, 50, b"")  # connected, never a byte
        try:
            trickle = held[0]
            # Not before the timeout: these are not the cap's doing.
            time.sleep(1.0)
            trickle.send(b"x")  # a byte now and then does not extend the deadline
            assert not any(_closed(s) for s in held + silent)
            remaining = _wait_all_closed(held + silent, started + 2 + 3)
            assert not remaining, f"{len(remaining)} sockets still open after the timeout"
            assert time.monotonic() - started >= 1.9
        finally:
            for sock in held + silent:
                sock.close()
        # A half-sent request is told why: 408.
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=10)
        sock.sendall(HALF_SENT)
        answer = sock.recv(1024)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_stalled_body_is_closed_at_the_body_timeout(tmp_path: Path) -> None:
    with serve(
        tmp_path, server_header_timeout_seconds="2", server_body_timeout_seconds="2"
    ) as served:
        sock = socket.create_connection(("127.0.0.1", served.port))
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/artifacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Authorization: Bearer " + served.key.encode() + b"\r\n"
            b"Content-Type: application/octet-stream\r\nX-Artifact-Name: a.bin\r\n"
            b"Content-Length: 100000\r\n\r\n" + b"x" * 1000
        )
        sock.setblocking(False)
        time.sleep(1.0)
        sock.send(b"x" * 1000)  # progress resets the pause
        assert not _closed(sock)
        remaining = _wait_all_closed([sock], started + 1 + 2 + 3)
        elapsed = time.monotonic() - started
        sock.close()
        assert not remaining, "a stalled body was never closed"
        assert elapsed >= 2.9  # the pause counted from the last piece, not from the start
        # The hub still answers, and a complete request on a fresh connection works.
        assert _health_seconds(served.url) < 1.0
