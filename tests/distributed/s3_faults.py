"""An S3 fault injector: an HTTP proxy in front of a real S3 endpoint that fails on command.

The hub's ``s3_endpoint_url`` points at :attr:`S3FaultProxy.endpoint_url`; every request is
passed to the real endpoint (moto's server, MinIO) unchanged, the ``Host`` header included so
SigV4 signatures still verify, until the test asks for faults::

    with S3FaultProxy(s3_endpoint_url) as proxy:
        proxy.fail_next(2, methods={"PUT"})          # the next two object PUTs answer 503
        proxy.fail_for(5.0, methods={"GET"})         # every object GET for five seconds
        proxy.counts["PUT"], proxy.faults["PUT"]     # requests seen, faults injected

A fault answers like S3 does when it sheds load: ``503`` with an ``<Error><Code>SlowDown``
XML body (none for HEAD), after reading the request body, so the connection stays usable and
botocore's retry sees exactly what AWS would send. Only object requests (a key after the
bucket) are failed: the hub's start-up bucket check goes through.

Standard library only (``http.server`` in a thread, ``http.client`` upstream): the proxy
serves other processes (the topology's API replicas) as well as the test's own hub.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Fault", "S3FaultProxy"]

# Headers that describe one hop, not the message: never forwarded either way.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "expect",  # the proxy already answered 100-continue and holds the body
    }
)
_COPY_CHUNK = 64 * 1024


@dataclass
class Fault:
    """One armed fault: which requests it takes, how many or until when, and the answer."""

    methods: frozenset[str]
    remaining: int | None = None
    """Requests still to fail; None: every matching one until ``until``."""
    until: float | None = None
    """``time.monotonic()`` after which the fault is spent."""
    status: int = 503
    code: str = "SlowDown"
    message: str = "Please reduce your request rate."

    def takes(self, method: str, now: float) -> bool:
        """Whether this fault answers a request with ``method`` now (and counts it)."""
        if method not in self.methods:
            return False
        if self.until is not None and now >= self.until:
            return False
        if self.remaining is not None:
            if self.remaining <= 0:
                return False
            self.remaining -= 1
        return True

    def spent(self, now: float) -> bool:
        """True once the fault will take no more requests."""
        return (self.remaining is not None and self.remaining <= 0) or (
            self.until is not None and now >= self.until
        )


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    faults: list[Fault] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    log: list[tuple[str, str, int | None]] = field(default_factory=list)


class S3FaultProxy:
    """A proxy to ``upstream`` (an S3 endpoint URL) on a free local port, run in a thread.

    Args:
        upstream: The real S3 endpoint, ``http://host:port``.
        host: The address to listen on.
    """

    def __init__(self, upstream: str, host: str = "127.0.0.1") -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"the proxy forwards to plain http endpoints only, not {upstream!r}")
        self.upstream = upstream
        self._state = _State()
        handler = type(
            "_Handler",
            (_ProxyHandler,),
            {"upstream": (parsed.hostname, parsed.port or 80), "state": self._state},
        )
        self._server = ThreadingHTTPServer((host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="s3-fault-proxy", daemon=True
        )
        self._thread.start()
        self.endpoint_url = f"http://{host}:{self._server.server_address[1]}"

    # ----------------------------------------------------------------------- faults

    def fail_next(
        self,
        count: int,
        *,
        methods: Collection[str] = ("PUT", "GET"),
        status: int = 503,
        code: str = "SlowDown",
    ) -> Fault:
        """Answer the next ``count`` object requests with ``methods`` with an S3 error."""
        fault = Fault(frozenset(m.upper() for m in methods), remaining=count, status=status)
        fault.code = code
        return self._arm(fault)

    def fail_for(
        self,
        seconds: float,
        *,
        methods: Collection[str] = ("PUT", "GET"),
        status: int = 503,
        code: str = "SlowDown",
    ) -> Fault:
        """Answer every object request with ``methods`` with an S3 error for ``seconds``."""
        until = time.monotonic() + seconds
        fault = Fault(frozenset(m.upper() for m in methods), until=until, status=status)
        fault.code = code
        return self._arm(fault)

    def heal(self) -> None:
        """Disarm every fault: from now on every request goes through."""
        with self._state.lock:
            self._state.faults.clear()

    def _arm(self, fault: Fault) -> Fault:
        with self._state.lock:
            self._state.faults.append(fault)
        return fault

    @property
    def armed(self) -> bool:
        """True while some fault may still take requests."""
        now = time.monotonic()
        with self._state.lock:
            return any(not f.spent(now) for f in self._state.faults)

    # ----------------------------------------------------------------------- counters

    @property
    def counts(self) -> Counter[str]:
        """Object requests seen, per method (faulted ones included); a copy."""
        with self._state.lock:
            return Counter(self._state.counts)

    @property
    def faults(self) -> Counter[str]:
        """Error answers injected, per method; a copy."""
        with self._state.lock:
            return Counter(self._state.injected)

    @property
    def log(self) -> list[tuple[str, str, int | None]]:
        """Every object request: (method, path, the injected status or None); a copy."""
        with self._state.lock:
            return list(self._state.log)

    def reset_counts(self) -> None:
        """Start the counters and the log from zero."""
        with self._state.lock:
            self._state.counts.clear()
            self._state.injected.clear()
            self._state.log.clear()

    # ----------------------------------------------------------------------- life

    def close(self) -> None:
        """Stop listening (open keep-alive connections die with their daemon threads)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> S3FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection: each request is either failed here or relayed upstream."""

    protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue handled by the base class
    upstream: tuple[str, int]
    state: _State
    _connection: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the test output."""

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _serve(self) -> None:
        body = self._read_body()
        fault = self._fault()
        if fault is not None:
            self._answer_fault(fault)
            return
        try:
            response = self._exchange(body)
        except (OSError, http.client.HTTPException):
            # A stale upstream keep-alive connection: once more on a fresh one.
            self._drop_upstream()
            response = self._exchange(body)
        try:
            self._relay(response)
        except ConnectionError:
            # The client hung up mid-answer (a reader that stopped early): drop both sides.
            self.close_connection = True
            self._drop_upstream()

    def _is_object_request(self) -> bool:
        path = urllib.parse.urlsplit(self.path).path
        bucket_and_key = path.lstrip("/").split("/", 1)
        return len(bucket_and_key) == 2 and bucket_and_key[1] != ""

    def _fault(self) -> Fault | None:
        if not self._is_object_request():
            return None
        now = time.monotonic()
        state = self.state
        with state.lock:
            state.counts[self.command] += 1
            state.faults[:] = [f for f in state.faults if not f.spent(now)]
            for fault in state.faults:
                if fault.takes(self.command, now):
                    state.injected[self.command] += 1
                    state.log.append((self.command, self.path, fault.status))
                    return fault
            state.log.append((self.command, self.path, None))
        return None

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            pieces = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(pieces)
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _answer_fault(self, fault: Fault) -> None:
        path = urllib.parse.urlsplit(self.path).path
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{fault.code}</Code><Message>{fault.message}</Message>"
            f"<Resource>{path}</Resource><RequestId>s3-fault-proxy</RequestId></Error>"
        ).encode()
        self.send_response(fault.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", "s3-fault-proxy")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(xml)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(xml)

    def _upstream(self) -> http.client.HTTPConnection:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(*self.upstream, timeout=60)
        return self._connection

    def _drop_upstream(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _exchange(self, body: bytes) -> http.client.HTTPResponse:
        """Send the request upstream as it came (``Host`` included) and get the answer."""
        connection = self._upstream()
        connection.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                connection.putheader(name, value)
        if body or self.command in ("PUT", "POST"):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        return connection.getresponse()

    def _relay(self, response: http.client.HTTPResponse) -> None:
        """Pass the upstream answer on to the client."""
        self.send_response_only(response.status, response.reason)
        length = response.getheader("Content-Length")
        no_body = self.command == "HEAD" or response.status in (204, 304)
        content = b"" if no_body or length is not None else response.read()
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and (no_body or name.lower() != "content-length"):
                self.send_header(name, value)
        if not no_body:
            self.send_header("Content-Length", length if length is not None else str(len(content)))
        self.end_headers()
        if no_body:
            response.read()
        elif length is not None:
            while chunk := response.read(_COPY_CHUNK):
                self.wfile.write(chunk)
        else:
            self.wfile.write(content)
        if response.will_close:
            self._drop_upstream()

    def finish(self) -> None:
        """Close the upstream connection with the client's."""
        try:
            super().finish()
        finally:
            self._drop_upstream()
