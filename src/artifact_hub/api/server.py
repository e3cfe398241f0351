"""``serve``'s HTTP protocol: uvicorn's httptools protocol with read timeouts and a cap.

Why a protocol subclass: uvicorn (0.55) arms no timer before a request's headers are
complete. Its only timer is the keep-alive one, armed after a response, so a client that
connects and never finishes its headers (or never sends a byte) holds its socket, and its file
descriptor, for ever; 20,000 of them exhausted the descriptors and ``/health`` stopped
answering (issue 12). ``limit_concurrency`` does not help: it answers 503 to *complete*
requests over the limit, and a half-sent request never becomes one. So this protocol adds,
per connection:

- a **header timeout** (``server_header_timeout_seconds``): from the connection (or the first
  byte of a later request on it) to the end of the headers; a client that has not finished
  them by then gets ``408`` and is closed, however slowly it trickles bytes;
- a **body timeout** (``server_body_timeout_seconds``): the longest pause between two pieces
  of a request body while the hub is waiting for them (not while the hub itself has paused
  reading); a stalled upload is closed;
- a **cap on open connections** per worker process (``server_max_connections``): a new
  connection over the cap closes the oldest connection that is *waiting* (no request in
  progress: half-sent headers, or idle keep-alive), so held sockets cannot keep out a new
  client such as a ``/health`` probe; a request being handled is never closed for it.
  When every connection is busy, the new one is closed instead.

The keep-alive idle timeout is uvicorn's own ``timeout_keep_alive``
(``server_keep_alive_seconds``). The limits come from :class:`HubSettings`: ``serve`` sets
them with :func:`configure` in its own process, and a worker process (``--workers`` > 1, which
re-imports this module) reads them from the ``ARTIFACT_HUB_*`` environment it inherited.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from uvicorn.server import ServerState

    from artifact_hub.core.settings import HubSettings

__all__ = ["PROTOCOL", "GuardedHttpToolsProtocol", "ServerLimits", "configure", "raise_fd_limit"]

PROTOCOL = "artifact_hub.api.server:GuardedHttpToolsProtocol"
"""What ``serve`` passes to uvicorn as ``http=`` (a string: worker processes import it)."""

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nRequest Timeout\n"
)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The read timeouts (seconds) and the connection cap of one server process."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: HubSettings) -> ServerLimits:
        """The limits the settings name."""
        return cls(
            header_timeout=settings.server_header_timeout_seconds,
            body_timeout=settings.server_body_timeout_seconds,
            max_connections=settings.server_max_connections,
        )


_limits: ServerLimits | None = None
# The waiting connections of each server (its ServerState), oldest first.
_waiting: weakref.WeakKeyDictionary[ServerState, OrderedDict[GuardedHttpToolsProtocol, None]] = (
    weakref.WeakKeyDictionary()
)


def configure(limits: ServerLimits) -> None:
    """Set the limits of the servers this process runs (``serve`` calls it)."""
    global _limits
    _limits = limits


def current_limits() -> ServerLimits:
    """The configured limits, or those of the ``ARTIFACT_HUB_*`` environment."""
    global _limits
    if _limits is None:
        from artifact_hub.core.settings import HubSettings

        _limits = ServerLimits.from_settings(HubSettings())
    return _limits


def raise_fd_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit; the new soft limit.

    The connection cap is what bounds the descriptors; this only leaves the cap room.
    """
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return int(soft)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a body timeout and a cap.

    See the module's docstring. Timers are the event loop's ``call_later`` handles, like
    uvicorn's keep-alive timer: no task per connection.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._limits = current_limits()
        self._read_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Arm the header timeout, and make room under the cap (see the module)."""
        super().connection_made(transport)
        waiting = _waiting.setdefault(self.server_state, OrderedDict())
        if len(self.connections) > self._limits.max_connections:
            victim = next(iter(waiting), None)
            if victim is None:
                # Every connection is handling a request: the newcomer is the one to go.
                self.transport.close()
                return
            victim._close()
        waiting[self] = None
        self._arm(self._limits.header_timeout, self._header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its timer."""
        self._disarm()
        self._waiting().pop(self, None)
        super().connection_lost(exc)

    # ------------------------------------------------------------------ parser callbacks

    def on_message_begin(self) -> None:
        """A (next) request starts: its headers have ``header_timeout`` to arrive."""
        super().on_message_begin()
        if self._read_timer is None:
            self._arm(self._limits.header_timeout, self._header_timeout)

    def on_headers_complete(self) -> None:
        """Headers in: the request is being handled; the body timeout applies to its body."""
        self._waiting().pop(self, None)
        self._arm(self._limits.body_timeout, self._body_timeout)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        """A piece of body: the pause allowed before the next one starts again."""
        self._arm(self._limits.body_timeout, self._body_timeout)
        super().on_body(body)

    def on_message_complete(self) -> None:
        """The whole request was read: no read timeout until the next request begins."""
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Idle again (keep-alive): evictable under the cap until the next request."""
        super().on_response_complete()
        if not self.transport.is_closing():
            waiting = self._waiting()
            waiting[self] = None
            waiting.move_to_end(self)

    # ------------------------------------------------------------------ timers

    def _waiting(self) -> OrderedDict[GuardedHttpToolsProtocol, None]:
        return _waiting.setdefault(self.server_state, OrderedDict())

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        self._read_timer = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _header_timeout(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's headers are late while an earlier one is still being
            # answered: let that answer finish, then close.
            self.cycle.keep_alive = False
            return
        self.transport.write(_REQUEST_TIMEOUT)
        self._close()

    def _body_timeout(self) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:
            # The hub paused reading (the app has not taken the body so far): not the
            # client's pause. Look again later.
            self._arm(self._limits.body_timeout, self._body_timeout)
            return
        self._close()

    def _close(self) -> None:
        self._disarm()
        self._waiting().pop(self, None)
        if not self.transport.is_closing():
            self.transport.close()
