"""A small round-robin TCP load balancer: one address in front of the API replicas.

It runs its own event loop in a daemon thread, so a test that blocks its own loop (or a sync
script) never stalls the traffic. Each client connection goes to the next replica in turn;
when a replica refuses the connection (it was killed) the next one is tried, so only requests
already in flight on a dead replica fail, and clients retry those. A replica can be taken out
(``disable``: new connections avoid it, open ones finish) and put back (``enable``), which is
how a rolling restart drains one replica before stopping it.

Plain asyncio streams rather than an HTTP proxy: TCP passthrough keeps the hub's streaming
uploads and downloads untouched, and no proxy library (HAProxy, nginx, aiohttp's) is among
the project's dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Backend", "RoundRobinBalancer"]

CONNECT_TIMEOUT = 2.0
CHUNK = 256 * 1024


@dataclass
class Backend:
    """One replica behind the balancer."""

    host: str
    port: int
    enabled: bool = True
    connections: int = field(default=0)
    """Client connections handed to this replica so far."""


class RoundRobinBalancer:
    """Round-robin TCP passthrough to ``backends``, listening on ``host:port`` (0: any).

    Args:
        backends: ``(host, port)`` of each replica, in order.
        host: Where to listen.
        port: Port to listen on; 0 picks a free one (read :attr:`port` after :meth:`start`).
    """

    def __init__(
        self, backends: list[tuple[str, int]], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.backends = [Backend(h, p) for h, p in backends]
        self.host = host
        self.port = port
        self.refused: Counter[int] = Counter()
        """Connect failures per replica index (each one was retried on the next replica)."""
        self.dropped = 0
        """Client connections closed because no replica accepted them."""
        self._turn = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://host:port`` of the balancer."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        """Start listening (in a daemon thread with its own loop); returns once it listens."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
                )
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="round-robin-lb", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]

    def stop(self) -> None:
        """Stop listening, close every connection and the loop."""
        loop, server = self._loop, self._server
        if loop is None or server is None or self._thread is None:
            return

        async def close() -> None:
            server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)
        self._loop = self._server = self._thread = None

    def disable(self, index: int) -> None:
        """Send no new connection to replica ``index`` (open ones carry on)."""
        self.backends[index].enabled = False

    def enable(self, index: int) -> None:
        """Send new connections to replica ``index`` again."""
        self.backends[index].enabled = True

    def set_port(self, index: int, port: int) -> None:
        """Point replica ``index`` at another port (a restart on a new port)."""
        self.backends[index].port = port

    def _order(self) -> list[int]:
        """Replica indexes to try for the next connection: the next in turn first."""
        count = len(self.backends)
        first = next(self._turn) % count
        rotated = [(first + i) % count for i in range(count)]
        enabled = [i for i in rotated if self.backends[i].enabled]
        # Everything disabled: try them all rather than drop the client.
        return enabled or rotated

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for index in self._order():
            backend = self.backends[index]
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(backend.host, backend.port), CONNECT_TIMEOUT
                )
            except (OSError, TimeoutError):
                self.refused[index] += 1
                continue
            backend.connections += 1
            break
        if upstream is None:
            self.dropped += 1
            client_w.close()
            return
        server_r, server_w = upstream
        writers = (client_w, server_w)
        try:
            await asyncio.gather(
                _pipe(client_r, server_w, writers), _pipe(server_r, client_w, writers)
            )
        finally:
            for writer in writers:
                writer.close()


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    both: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
) -> None:
    """Copy ``reader`` to ``writer``; a reset on either side closes both connections.

    A clean end of stream is passed on as a half-close, so a client that shuts down its
    sending side still gets the answer. A reset (a killed replica) closes both sides: the
    client sees its connection drop, as it would with the replica itself.
    """
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError):
        for other in both:
            other.transport.abort()
