"""ASGI middleware: per-tenant rate limiting and ``Idempotency-Key`` on POST.

The idempotency middleware is in :mod:`artifact_hub.api.idempotency` (re-exported here).

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

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import FastAPI
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifact_hub.api.errors import error_response
from artifact_hub.api.idempotency import IDEMPOTENT_BODY_LIMIT, IdempotencyMiddleware
from artifact_hub.core.errors import (
    ArtifactHubError,
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


def install_middleware(
    app: FastAPI, *, limiter: RateLimiter, authenticate: Authenticate, store: IdempotencyStore
) -> None:
    """Add both middlewares: rate limiting outermost, so replays and 409s are counted too."""
    app.add_middleware(IdempotencyMiddleware, store=store)
    app.add_middleware(RateLimitMiddleware, limiter=limiter, authenticate=authenticate)
