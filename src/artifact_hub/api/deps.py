"""FastAPI dependencies: the hub, and the caller resolved from the API key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from artifact_hub.core.errors import AuthenticationError
from artifact_hub.plugin import Hub
from artifact_hub.schemas.identity import Caller

__all__ = ["CallerDep", "HubDep", "bearer_token", "get_caller", "get_hub"]


def get_hub(request: Request) -> Hub:
    """The hub the app was created with."""
    hub: Hub = request.app.state.hub
    return hub


def bearer_token(request: Request) -> str:
    """The API key from ``Authorization: Bearer ...``.

    Raises:
        AuthenticationError: No or malformed header.
    """
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("send your API key as 'Authorization: Bearer ak_live_...'")
    return token.strip()


async def get_caller(request: Request, hub: Annotated[Hub, Depends(get_hub)]) -> Caller:
    """Authenticate the request; the caller is kept on ``request.state`` for middleware.

    The rate-limit middleware already authenticated the key when it was valid; its caller is
    reused rather than looked up twice.
    """
    cached = getattr(request.state, "caller", None)
    if isinstance(cached, Caller):
        return cached
    caller = await hub.accounts.authenticate(bearer_token(request))
    request.state.caller = caller
    return caller


HubDep = Annotated[Hub, Depends(get_hub)]
CallerDep = Annotated[Caller, Depends(get_caller)]
