"""``Idempotency-Key`` on POST: a retried request gets the first one's response.

The keys are kept in the index (:class:`~artifact_hub.service.idempotency.IdempotencyStore`),
shared by every API replica. A replica may die in the middle of a request: its client's retry
reaches another replica, which waits for the claim to go stale and then takes the request over,
or, when the first attempt had committed, rebuilds its answer (service/idempotency.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifact_hub.api.errors import error_response
from artifact_hub.core.errors import ArtifactHubError, ConflictError, InvalidRequestError
from artifact_hub.ports.transactions import WRITE_FENCE
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.idempotency import Applied, IdempotencyStore

__all__ = ["IDEMPOTENT_BODY_LIMIT", "IdempotencyMiddleware"]

log = logging.getLogger(__name__)

IDEMPOTENT_BODY_LIMIT = 10 * 1024 * 1024
"""POST bodies up to this size are hashed for ``Idempotency-Key``; larger ones run without."""
_STORED_RESPONSE_LIMIT = 1024 * 1024
_MAX_KEY_LENGTH = 255
# The POSTs whose answer is the artifact they wrote, and its status.
_ARTIFACT_ANSWERS = (
    (re.compile(r"/v1/artifacts"), 201),
    (re.compile(r"/v1/artifacts/[^/]+/versions"), 201),
    (re.compile(r"/v1/artifacts/[^/]+/complete"), 201),
    (re.compile(r"/v1/artifacts/[^/]+/extend-ttl"), 200),
)


def _artifact_answer_status(path: str) -> int | None:
    for pattern, status in _ARTIFACT_ANSWERS:
        if pattern.fullmatch(path):
            return status
    return None


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


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
        claimed_at = datetime.now(UTC)
        try:
            stored = await self.store.begin(
                caller.tenant_id, key, digest.hexdigest(), now=claimed_at
            )
        except ArtifactHubError as error:
            await error_response(error)(scope, replay, send)
            return
        if isinstance(stored, Applied):
            await self._answer_applied(scope, send, caller.tenant_id, key, stored)
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
        await self._run(scope, replay, send, caller.tenant_id, key, claimed_at)

    async def _run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        tenant_id: str,
        key: str,
        claimed_at: datetime,
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
        # Every write of the request checks, in its own transaction, that the key is still
        # this request's, and marks it applied (service/idempotency.py).
        fence = WRITE_FENCE.set(self.store.fence(tenant_id, key, claimed_at))
        try:
            try:
                await self.app(scope, receive, capture)
            finally:
                WRITE_FENCE.reset(fence)  # before the background work below inherits it
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
                    self._in_background(
                        self.store.complete(tenant_id, key, status, text, claimed_at)
                    )
        finally:
            if not keep:
                await self.store.release(tenant_id, key, claimed_at)

    async def _answer_applied(
        self, scope: Scope, send: Send, tenant_id: str, key: str, applied: Applied
    ) -> None:
        """Answer a retry whose first attempt committed but died before answering.

        For the POSTs that answer with the artifact (push, new version, upload complete,
        extend TTL) the answer is rebuilt from the artifact as it is now, and kept for the
        next retry; any other gets 409.
        """
        status = _artifact_answer_status(scope["path"])
        if applied.artifact_id is None or status is None:
            await error_response(
                ConflictError(
                    "the request with this Idempotency-Key was applied, but its answer was lost",
                    idempotency_key=key,
                )
            )(scope, _no_body, send)
            return
        read_scope = {
            **scope,
            "method": "GET",
            "path": f"/v1/artifacts/{applied.artifact_id}",
            "raw_path": f"/v1/artifacts/{applied.artifact_id}".encode(),
            "query_string": b"",
        }
        answer: dict[str, Any] = {"status": 500, "body": b""}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = int(message["status"])
            elif message["type"] == "http.response.body":
                answer["body"] += message.get("body", b"")

        await self.app(read_scope, _no_body, keep)
        if answer["status"] != 200:
            await Response(answer["body"], answer["status"], media_type="application/json")(
                scope, _no_body, send
            )
            return
        text = answer["body"].decode()
        await self.store.complete(tenant_id, key, status, text)
        await Response(
            text,
            status_code=status,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )(scope, _no_body, send)

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
