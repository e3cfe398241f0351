"""Templates, security headers and error pages of the console.

Pages are Jinja2 templates with autoescape on. Every console route uses
:class:`ConsoleRoute`: a page that needs a session and has none redirects to the sign-in form
(keeping the deep link in ``next``), and a hub error is shown as an HTML page with its stable
code (``artifact_not_found``, ``forbidden``, ...) and the status the REST API would answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from artifact_hub.console.auth import ConsoleSession, SignInRequired
from artifact_hub.core.errors import ArtifactHubError, InvalidRequestError
from artifact_hub.core.version import __version__

__all__ = ["ConsoleRoute", "page", "with_headers"]

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "frame-src 'self'; object-src 'self'; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


def _bytes(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _query(params: dict[str, Any], **changes: Any) -> str:
    merged = {**params, **changes}
    pairs = [
        (key, item)
        for key, value in merged.items()
        if value not in (None, "", [], ())
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return urlencode(pairs)


ENV = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(bytes=_bytes, when=_when, tojson_text=_json, urlpart=lambda s: quote(str(s)))
ENV.globals.update(query=_query, version=__version__)


def with_headers(response: Response) -> Response:
    """Add the console's security headers (CSP, no framing by others, no caching)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def page(
    request: Request,
    template: str,
    session: ConsoleSession | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a template with the session (for the header and CSRF token) in its context."""
    html = ENV.get_template(template).render(
        request=request,
        session=session,
        caller=None if session is None else session.caller,
        csrf=None if session is None else session.csrf,
        path=request.url.path,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    with_headers(response)
    return response


def error_page(request: Request, error: ArtifactHubError) -> HTMLResponse:
    """A hub error as a page: its code, message and status."""
    session = getattr(request.state, "console_session", None)
    return page(
        request,
        "error.html",
        session if isinstance(session, ConsoleSession) else None,
        status_code=error.status,
        code=error.code,
        message=str(error),
        status=error.status,
    )


class ConsoleRoute(APIRoute):
    """A route whose failures are console pages (sign-in redirect, HTML error)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler: SignInRequired and hub errors become pages."""
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if request.method != "GET" or request.headers.get("hx-request"):
                    again = HTMLResponse(
                        "sign in again", status_code=401, headers={"HX-Redirect": "/console/login"}
                    )
                    return with_headers(again)
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                login = "/console/login?" + urlencode({"next": target})
                return with_headers(RedirectResponse(login, status_code=303))
            except ArtifactHubError as error:
                return error_page(request, error)
            except RequestValidationError as error:
                first = error.errors()[0] if error.errors() else {}
                where = ".".join(str(part) for part in first.get("loc", ())) or "request"
                return error_page(
                    request, InvalidRequestError(f"{where}: {first.get('msg', 'invalid')}")
                )

        return console_handler
