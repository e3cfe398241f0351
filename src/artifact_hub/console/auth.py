"""Console sign-in: a signed session cookie that names the API key, and CSRF tokens.

The browser posts its API key once; the hub checks it with ``hub.accounts.authenticate`` (the
API's own check) and answers with a cookie that holds the key's *id*, a random nonce and an
expiry, signed with the hub's URL-signing secret (``hub.signer``; the same secret on every
replica, so any worker accepts it). The key itself is never stored in the browser. Each request
looks the key up by id again, so a revoked key ends its console sessions at once.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (sent on top-level
navigation from elsewhere, so deep links pasted in a chat open signed in; never on a cross-site
POST), ``Secure`` when the request came over HTTPS, and limited to ``/console``. Every POST
must also carry the session's CSRF token (an HMAC of the nonce, in the form or in the
``X-CSRF-Token`` header) and, when the browser sends one, a same-origin ``Origin``.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from artifact_hub.core.errors import ArtifactHubError, PermissionDeniedError
from artifact_hub.plugin import Hub
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.console_reads import ConsoleReads

__all__ = [
    "COOKIE",
    "SESSION_SECONDS",
    "ConsoleSession",
    "SignInRequired",
    "check_csrf",
    "console_reads",
    "current_session",
    "issue_session",
    "safe_next",
]

COOKIE = "artifact_hub_console"
SESSION_SECONDS = 12 * 3600
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class SignInRequired(Exception):
    """No valid console session: the page redirects to the sign-in form."""


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser: who it speaks for and its CSRF token."""

    caller: Caller
    csrf: str


def console_reads(request: Request) -> ConsoleReads:
    """The console's read service of this app's hub (the bootstrap wires it)."""
    return _hub(request).console


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _sign(hub: Hub, purpose: str, message: str, exp: int) -> str:
    return hub.signer.signature(f"CONSOLE-{purpose}", message, exp)


def issue_session(request: Request, response: Response, caller: Caller) -> None:
    """Set the session cookie for a caller that just proved its key."""
    if caller.key_id is None or not _KEY_ID.match(caller.key_id):
        raise PermissionDeniedError("this key cannot open a console session")
    exp = int(time.time()) + SESSION_SECONDS
    nonce = secrets.token_urlsafe(24)
    payload = f"{caller.key_id}.{nonce}.{exp}"
    value = f"{payload}.{_sign(_hub(request), 'SESSION', payload, exp)}"
    response.set_cookie(
        COOKIE,
        value,
        max_age=SESSION_SECONDS,
        path="/console",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


def clear_session(response: Response) -> None:
    """Remove the session cookie."""
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="lax")


async def current_session(request: Request) -> ConsoleSession:
    """The request's session, its key looked up again (revoked keys end their sessions).

    Raises:
        SignInRequired: No cookie, a forged or expired one, or a revoked key.
    """
    cached = getattr(request.state, "console_session", None)
    if isinstance(cached, ConsoleSession):
        return cached
    value = request.cookies.get(COOKIE, "")
    parts = value.split(".")
    if len(parts) != 4:
        raise SignInRequired
    key_id, nonce, exp_text, signature = parts
    if not (_KEY_ID.match(key_id) and _NONCE.match(nonce) and exp_text.isdigit()):
        raise SignInRequired
    exp = int(exp_text)
    hub = _hub(request)
    expected = _sign(hub, "SESSION", f"{key_id}.{nonce}.{exp}", exp)
    if not hmac.compare_digest(expected, signature) or exp < time.time():
        raise SignInRequired
    try:
        caller = await console_reads(request).caller_for_key(key_id)
    except ArtifactHubError:
        raise SignInRequired from None
    session = ConsoleSession(caller=caller, csrf=_sign(hub, "CSRF", nonce, exp))
    request.state.console_session = session
    return session


def check_origin(request: Request) -> None:
    """Refuse a cross-site POST by its ``Origin`` header (when the browser sent one).

    Raises:
        PermissionDeniedError: The origin is another site's (code ``forbidden``).
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    # The host only: behind a proxy that ends TLS the hub may see http while the browser
    # says https; another site's page always names another host.
    if urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise PermissionDeniedError("cross-site request refused", origin=origin)


async def check_csrf(request: Request, session: ConsoleSession, token: str | None) -> None:
    """Refuse a POST without the session's CSRF token (403 ``forbidden``).

    Raises:
        PermissionDeniedError: Missing or wrong token, or another site's origin.
    """
    check_origin(request)
    given = token or request.headers.get("x-csrf-token") or ""
    if not given or not hmac.compare_digest(given, session.csrf):
        raise PermissionDeniedError("missing or wrong CSRF token; reload the page and retry")


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console path of this site, else the artifact list."""
    unsafe = any(char in (target or "") for char in "\\\r\n")
    if target and target.startswith("/console/") and not unsafe:
        return target
    return "/console/"
