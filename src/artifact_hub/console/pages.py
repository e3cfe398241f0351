"""Console pages: sign-in, the artifact list with filters and search, sessions, static files.

Every page calls the services the REST API calls, as the caller of the session's API key:
``hub.service.list`` (the ``GET /v1/artifacts`` query), ``hub.search.search`` (``GET
/v1/search``) and ``hub.service.session``; only the tenant's session list comes from the
console's own read service (:class:`~artifact_hub.service.console_reads.ConsoleReads`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import ValidationError

from artifact_hub.console.auth import (
    check_csrf,
    check_origin,
    clear_session,
    console_reads,
    current_session,
    issue_session,
    safe_next,
)
from artifact_hub.console.render import STATIC_DIR, ConsoleRoute, page, with_headers
from artifact_hub.core.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
)
from artifact_hub.plugin import Hub
from artifact_hub.ports.index import ArtifactFilter
from artifact_hub.schemas.search import SearchRequest

__all__ = ["router"]

router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)

MODES = ("structured", "lexical", "semantic", "hybrid")
PAGE_SIZE = 50


def hub_of(request: Request) -> Hub:
    """The hub the app serves."""
    hub: Hub = request.app.state.hub
    return hub


# ------------------------------------------------------------------------------- sign-in


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The sign-in form: paste an API key."""
    return page(request, "login.html", next=safe_next(next), error=None)


@router.post("/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=4096)] = "/console/",
) -> Response:
    """Check the key with the API's own authentication, then set the session cookie."""
    check_origin(request)
    try:
        caller = await hub_of(request).accounts.authenticate(api_key.strip())
    except AuthenticationError:
        return page(
            request, "login.html", status_code=401, next=safe_next(next), error="unauthorized"
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    issue_session(request, response, caller)
    return with_headers(response)


@router.post("/logout")
async def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the session (the cookie is removed)."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    response = RedirectResponse("/console/login", status_code=303)
    clear_session(response)
    return with_headers(response)


# ------------------------------------------------------------------------------- the list


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(entries: list[str], what: str) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for entry in entries:
        for part in entry.split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep or not key.strip():
                raise InvalidRequestError(f"{what} filters read key=value, not {part.strip()!r}")
            pairs[key.strip()] = _value(value.strip())
    return pairs


def _tags(entries: list[str]) -> list[str]:
    return [tag.strip() for entry in entries for tag in entry.split(",") if tag.strip()]


@router.get("/")
async def artifact_list(
    request: Request,
    q: str = "",
    mode: str = "",
    session_id: str = "",
    namespace: str = "",
    kind: str = "",
    content_type: str = "",
    tag: Annotated[list[str] | None, Query()] = None,
    label: Annotated[list[str] | None, Query()] = None,
    metadata: Annotated[list[str] | None, Query()] = None,
    cursor: str = "",
    shared: bool = False,
) -> Response:
    """What the key may read, newest first, filtered; or the hits of a search mode."""
    session = await current_session(request)
    hub = hub_of(request)
    params: dict[str, Any] = {
        "q": q,
        "mode": mode,
        "session_id": session_id,
        "namespace": namespace,
        "kind": kind,
        "content_type": content_type,
        "tag": list(tag or ()),
        "label": list(label or ()),
        "metadata": list(metadata or ()),
        "shared": "true" if shared else "",
    }
    if mode and mode not in MODES:
        raise InvalidRequestError(f"mode is one of {', '.join(MODES)}", mode=mode)
    tags, labels = _tags(params["tag"]), _pairs(params["label"], "label")
    meta = _pairs(params["metadata"], "metadata")
    scores: dict[str, float | None] = {}
    next_cursor = None
    if q.strip() or mode not in ("", "structured"):
        # The search modes: the same request ``GET /v1/search`` builds.
        if session_id:
            labels.setdefault("session_id", session_id)
        try:
            body = SearchRequest(
                query=q or None,
                mode=mode or None,
                kind=kind or None,
                tags=tags,
                labels=labels,
                limit=PAGE_SIZE,
            )
        except ValidationError as error:
            first = error.errors()[0]
            raise InvalidRequestError(f"search: {first.get('msg', 'invalid search')}") from None
        hits = await hub.search.search(session.caller, body)
        items = [hit.artifact for hit in hits]
        scores = {hit.artifact.artifact_id: hit.score for hit in hits}
    else:
        filters = ArtifactFilter(
            session_id=session_id or None,
            namespace=namespace or None,
            kind=kind or None,
            content_type=content_type or None,
            tags=tuple(tags),
            labels=labels,
            metadata=meta,
            shared_only=shared,
        )
        listed = await hub.service.list(
            session.caller, filters, limit=PAGE_SIZE, cursor=cursor or None
        )
        items, next_cursor = listed.items, listed.next_cursor
    template = "list_rows.html" if request.headers.get("hx-request") else "list.html"
    return page(
        request,
        template,
        session,
        items=items,
        scores=scores,
        params=params,
        next_cursor=next_cursor,
        cursor=cursor,
        modes=MODES,
    )


# ------------------------------------------------------------------------------- sessions


@router.get("/sessions")
async def sessions(
    request: Request, state: str = "", cursor: str = "", limit: int = PAGE_SIZE
) -> Response:
    """The tenant's sessions, open and sealed, newest first."""
    session = await current_session(request)
    found = await console_reads(request).sessions(
        session.caller, state=state or None, limit=limit, cursor=cursor or None
    )
    return page(
        request,
        "sessions.html",
        session,
        sessions=found.items,
        next_cursor=found.next_cursor,
        state=state,
    )


@router.get("/sessions/{session_id}")
async def session_page(request: Request, session_id: str, cursor: str = "") -> Response:
    """One session: open or sealed, and its artifacts the key may read."""
    session = await current_session(request)
    hub = hub_of(request)
    found = await hub.service.session(session.caller, session_id)
    listed = await hub.service.list(
        session.caller,
        ArtifactFilter(session_id=session_id),
        limit=PAGE_SIZE,
        cursor=cursor or None,
    )
    return page(
        request,
        "session.html",
        session,
        found=found,
        items=listed.items,
        next_cursor=listed.next_cursor,
    )


@router.post("/sessions/{session_id}/seal")
async def seal(
    request: Request, session_id: str, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Seal the session (as ``POST /v1/sessions/{id}/seal``)."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    await hub_of(request).service.seal_session(session.caller, session_id)
    return with_headers(RedirectResponse(f"/console/sessions/{session_id}", status_code=303))


# ------------------------------------------------------------------------------- static files


_STATIC_ROOT = STATIC_DIR.resolve()


@router.get("/static/{path:path}")
async def static(path: str) -> Response:
    """The console's CSS and JavaScript (vendored libraries under ``vendor/``)."""
    target = (_STATIC_ROOT / path).resolve()
    if not target.is_relative_to(_STATIC_ROOT) or not target.is_file():
        raise NotFoundError("no such console file", path=path)
    media = {".js": "text/javascript", ".css": "text/css"}.get(Path(path).suffix, "text/plain")
    response = FileResponse(target, media_type=media)
    # Versioned names (vendor/htmx-2.0.11.min.js): cacheable; our own files revalidate.
    cache = "public, max-age=31536000, immutable" if path.startswith("vendor/") else "no-cache"
    response.headers["Cache-Control"] = cache
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
