"""The HTTP core of :class:`AsyncClient`: its connection pool, the retrying send, the account.

Written once, for the async client; ``scripts/unasync.py`` generates the sync twin (the
``_sync_`` module of the same name) that :class:`Client` is made of. Requests are built by the
I/O-free :class:`~artifact_hub.client._base.BaseClient`; this layer only sends them.
"""

from __future__ import annotations

import asyncio
import os
from types import TracebackType
from typing import Any, Self

import httpx

from artifact_hub.client._base import BaseClient
from artifact_hub.client._config import (
    DEFAULT_TIMEOUT,
    PRESIGNED_THRESHOLD,
    RetryPolicy,
    resolve_config,
    retry_after_seconds,
)
from artifact_hub.client._errors import error_from_response
from artifact_hub.client._requests import Call
from artifact_hub.core.errors import ServerError
from artifact_hub.schemas.api import WhoAmI
from artifact_hub.schemas.artifacts import Session

__all__ = ["AsyncSender"]


class AsyncSender(BaseClient):
    """The connection pool and retries of :class:`AsyncClient`, and the account calls.

    The constructor's arguments are documented on the client class.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        session_id: str | None = None,
        agent_id: str | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        presigned_threshold: int | None = None,
        idempotency_keys: bool = True,
        config_path: str | os.PathLike[str] | None = None,
    ) -> None:
        config = resolve_config(
            api_key=api_key,
            base_url=base_url,
            session_id=session_id,
            agent_id=agent_id,
            config_path=config_path,
        )
        super().__init__(
            config,
            RetryPolicy(max_retries=max_retries, backoff=retry_backoff),
            presigned_threshold=(
                PRESIGNED_THRESHOLD if presigned_threshold is None else presigned_threshold
            ),
            idempotency_keys=idempotency_keys,
        )
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout)

    # --- lifecycle

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- I/O

    async def _send(self, call: Call) -> httpx.Response:
        """Send ``call`` with retries; the answer is read unless ``call.stream``."""
        attempt = 0
        while True:
            request = self._request(call, None if call.body is None else call.body.__aiter__())
            try:
                response = await self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if self.retry.should_retry(attempt, call, None, connection_error=True):
                    await asyncio.sleep(self.retry.delay(attempt))
                    attempt += 1
                    continue
                raise ServerError(f"cannot reach {request.url}: {exc!r}") from exc
            if response.is_success:
                if not call.stream:
                    await response.aread()
                return response
            await response.aread()
            wait = retry_after_seconds(response) if response.status_code in (409, 429) else None
            in_progress = response.status_code == 409 and wait is not None
            if self.retry.should_retry(
                attempt, call, response.status_code, in_progress=in_progress
            ):
                await asyncio.sleep(self.retry.delay(attempt, wait))
                attempt += 1
                continue
            raise error_from_response(response)

    async def _send_and_close(self, call: Call) -> None:
        """Send ``call`` for its effect only (an upload's PUT): the answer is not kept."""
        await (await self._send(call)).aclose()

    # --- account and sessions

    async def health(self) -> dict[str, Any]:
        """The hub's ``/health`` answer (no API key needed)."""
        result: dict[str, Any] = (await self._send(self._health())).json()
        return result

    async def whoami(self) -> WhoAmI:
        """Check the API key and tell whom it speaks for.

        Example:
            >>> (await AsyncClient().whoami()).tenant_id  # doctest: +SKIP
            'acme'
        """
        return self._parse(WhoAmI, await self._send(self._whoami()))

    async def seal_session(self, session_id: str | None = None) -> Session:
        """Seal a session (default: the client's): it takes no more writes.

        Example:
            >>> await client.seal_session("run_q4")  # doctest: +SKIP
        """
        return self._parse(Session, await self._send(self._seal_session(self._session(session_id))))

    async def get_session(self, session_id: str | None = None) -> Session:
        """A session's state (default: the client's)."""
        return self._parse(Session, await self._send(self._get_session(self._session(session_id))))
