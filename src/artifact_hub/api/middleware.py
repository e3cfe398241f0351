"""ASGI middleware: per-tenant rate limiting and ``Idempotency-Key`` on POST.

Both are plain ASGI middleware rather than ``BaseHTTPMiddleware``, so streamed uploads and
downloads pass through without being buffered (except a POST body with an idempotency key,
up to ``IDEMPOTENT_BODY_LIMIT``).

Rate limits (the ``limits`` package, moving windows): a tenant may send ``burst`` requests in
any 1 second and ``per_second * 10`` in any 10 seconds. Together that is "100/s sustained,
200/s burst": short bursts up to 200/s are served, but over any 10 s the average cannot pass
100/s. The counters live in Redis when ``redis_url`` is set (shared by every API replica), else
in memory (one process). Requests without a valid API key are counted per client address.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifact_hub.api.errors import error_response
from artifact_hub.core.errors import (
    ArtifactHubError,
    InvalidRequestError,
    RateLimitedError,
    ServerError,
)
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.idempotency import IdempotencyStore

__all__ = [
    "IDEMPOTENT_BODY_LIMIT",
    "IdempotencyMiddleware",
    "RateLimitMiddleware",
    "RateLimiter",
    "RateState",
]

log = logging.getLogger(__name__)

SUSTAINED_WINDOW_SECONDS = 10
IDEMPOTENT_BODY_LIMIT = 10 * 1024 * 1024
"""POST bodies up to this size are hashed for ``Idempotency-Key``; larger ones run without."""
_STORED_RESPONSE_LIMIT = 1024 * 1024
_MAX_KEY_LENGTH = 255

Authenticate = Callable[[str], Awaitable[Caller]]


@dataclass(frozen=True)
class RateState:
    """The outcome of counting one request.

    Attributes:
        allowed: Whether the request may run.
        limit: Requests per second allowed (sustained).
        remaining: Requests that can still be sent right now (at most the burst).
        reset: Unix time when the window that binds next frees capacity.
        retry_after: Seconds to wait when not allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float = 0.0

    def headers(self) -> dict[str, str]:
        """The ``X-RateLimit-*`` headers."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset)),
        }


class RateLimiter:
    """Counts requests per identity in a burst window (1 s) and a sustained one (10 s).

    Args:
        per_second: Sustained requests per second.
        burst: Requests allowed in any one second.
        redis_url: Keep the counters in this Redis (shared by replicas); None: in memory.
        key_prefix: Prefix of the Redis keys (one per deployment sharing a Redis).
    """

    def __init__(
        self,
        *,
        per_second: int,
        burst: int,
        redis_url: str | None = None,
        key_prefix: str = "artifact-hub:ratelimit",
    ) -> None:
        self.per_second = per_second
        self.storage: Storage = (
            RedisStorage(redis_url, implementation="redispy", key_prefix=key_prefix)
            if redis_url
            else MemoryStorage()
        )
        self.strategy = MovingWindowRateLimiter(self.storage)
        # Burst first: it is the cheaper window to fill, and a request it refuses does not
        # use up the sustained budget.
        self.items = (
            RateLimitItemPerSecond(burst, 1),
            RateLimitItemPerSecond(per_second * SUSTAINED_WINDOW_SECONDS, SUSTAINED_WINDOW_SECONDS),
        )

    async def hit(self, identity: str) -> RateState:
        """Count one request of ``identity``.

        When the storage fails (Redis down), the request is allowed: a counter outage must not
        take the API down with it.
        """
        now = time.time()
        try:
            allowed = True
            for item in self.items:
                if not await self.strategy.hit(item, identity):
                    allowed = False
                    break
            stats = [await self.strategy.get_window_stats(item, identity) for item in self.items]
        except Exception:
            log.warning("rate limit storage unavailable; allowing the request", exc_info=True)
            return RateState(True, self.per_second, self.items[0].amount, now + 1)
        remaining = min(s.remaining for s in stats)
        binding = min(stats, key=lambda s: (s.remaining, s.reset_time))
        if allowed:
            return RateState(True, self.per_second, remaining, binding.reset_time)
        reset = max(s.reset_time for s in stats if s.remaining <= 0) if remaining <= 0 else now
        return RateState(False, self.per_second, 0, reset, retry_after=max(0.0, reset - now))


class RateLimitMiddleware:
    """Counts every request against its tenant (or client address) and adds the headers.

    The caller resolved from the API key is kept in ``request.state.caller``, so the route's
    ``get_caller`` dependency does not authenticate a second time.

    Args:
        app: The wrapped application.
        limiter: The counters.
        authenticate: Resolves an API key to a caller (raises ``AuthenticationError``).
    """

    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, authenticate: Authenticate) -> None:
        self.app = app
        self.limiter = limiter
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the request; answer 429 over the limit, else run it with the headers."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        state = await self.limiter.hit(await self._identity(request))
        headers = state.headers()
        if not state.allowed:
            response = error_response(
                RateLimitedError(
                    f"rate limit of {state.limit} requests per second exceeded; "
                    f"retry in {state.retry_after:.1f} s",
                    retry_after_seconds=round(state.retry_after, 3),
                )
            )
            response.headers.update(headers)
            await response(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                MutableHeaders(scope=message).update(headers)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            # The app's crash handler answers outside this middleware; answer here instead so
            # a 500 carries the headers too. Not re-raised when the 500 went out whole: the
            # server would close the connection, and the client's next request on it (an
            # innocent one) would fail. A response cut off midway (a stream that failed) must
            # close the connection, and so must a broken connection: those still propagate.
            if started:
                raise
            response = error_response(ServerError("internal error"))
            response.headers.update(headers)
            await response(scope, receive, send)
            if isinstance(error, ConnectionError):
                raise
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))

    async def _identity(self, request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            try:
                caller = await self.authenticate(token.strip())
            except ArtifactHubError:
                pass  # counted per address; the route answers 401
            else:
                request.state.caller = caller
                return f"tenant:{caller.tenant_id}"
        client = request.client.host if request.client else "unknown"
        return f"ip:{client}"


class IdempotencyMiddleware:
    """Replays the stored response to a POST retried with the same ``Idempotency-Key``.

    The request is identified by the SHA-256 of its method, path, query and body. Bodies over
    ``body_limit`` bytes are not hashed: such POSTs (large multipart uploads) run without
    idempotency. Only responses below 500 are kept, except 409 and 429, which a retry may
    turn into success; for those the key is released.

    Runs inside :class:`RateLimitMiddleware`, which resolves the caller; a request without a
    valid caller passes through (the route answers 401).
    """

    def __init__(
        self, app: ASGIApp, *, store: IdempotencyStore, body_limit: int = IDEMPOTENT_BODY_LIMIT
    ) -> None:
        self.app = app
        self.store = store
        self.body_limit = body_limit
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request once per key; replay the kept response to retries."""
        key = Headers(scope=scope).get("idempotency-key") if scope["type"] == "http" else None
        caller = scope.get("state", {}).get("caller") if key else None
        if key is None or scope["method"] != "POST" or not isinstance(caller, Caller):
            await self.app(scope, receive, send)
            return
        if not key or len(key) > _MAX_KEY_LENGTH:
            await error_response(
                InvalidRequestError(f"Idempotency-Key must be 1 to {_MAX_KEY_LENGTH} characters")
            )(scope, receive, send)
            return
        body, replay = await _read_body(receive, self.body_limit)
        if body is None:
            await self.app(scope, replay, send)
            return
        digest = hashlib.sha256()
        for part in (scope["method"], scope["path"], scope.get("query_string", b"").decode()):
            digest.update(part.encode() + b"\n")
        digest.update(body)
        try:
            stored = await self.store.begin(caller.tenant_id, key, digest.hexdigest())
        except ArtifactHubError as error:
            await error_response(error)(scope, replay, send)
            return
        if stored is not None:
            response = Response(
                stored.body,
                status_code=stored.status,
                media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
            await response(scope, replay, send)
            return
        await self._run(scope, replay, send, caller.tenant_id, key)

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, tenant_id: str, key: str
    ) -> None:
        status = 500
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
                if size <= _STORED_RESPONSE_LIMIT:
                    chunks.append(message.get("body", b""))
            await send(message)

        keep = False
        try:
            await self.app(scope, receive, capture)
            body = b"".join(chunks)
            keep = status < 500 and status not in (409, 429) and size <= _STORED_RESPONSE_LIMIT
            if keep:
                try:
                    text = body.decode()
                except UnicodeDecodeError:
                    keep = False
                else:
                    # The response is sent already; keeping it need not hold the request up.
                    # It joins the next group commit, queued before any retry's claim of the
                    # key, so a retry from this process finds it kept (a retry that reaches
                    # another replica first gets "in progress", 409, and retries again).
                    self._in_background(self.store.complete(tenant_id, key, status, text))
        finally:
            if not keep:
                await self.store.release(tenant_id, key)

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("could not keep an idempotent response", exc_info=task.exception())


async def _read_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the request body up to ``limit`` bytes.

    Returns:
        The body (None when it is larger than ``limit``) and a ``receive`` that plays back
        what was read and then continues with the rest of the stream.
    """
    messages: list[Message] = []
    size = 0
    complete = False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if size > limit:
            break
        if not message.get("more_body", False):
            complete = True
            break

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    if not complete:
        return None, replay
    return b"".join(m.get("body", b"") for m in messages), replay


def install_middleware(
    app: FastAPI, *, limiter: RateLimiter, authenticate: Authenticate, store: IdempotencyStore
) -> None:
    """Add both middlewares: rate limiting outermost, so replays and 409s are counted too."""
    app.add_middleware(IdempotencyMiddleware, store=store)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, authenticate=authenticate)
