"""The console's writes: share and unshare, links (create, revoke), TTL and pin.

Each is a POST form carrying the session's CSRF token, and calls the service method the REST
route of the same write calls (so the owner-or-admin checks are the API's own). Without
JavaScript each answers with a redirect back to the artifact page (post/redirect/get).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from artifact_hub.console.artifact_pages import local_url, render_artifact
from artifact_hub.console.auth import check_csrf, current_session
from artifact_hub.console.pages import hub_of
from artifact_hub.console.render import ConsoleRoute, with_headers
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.service.artifacts import TTL

__all__ = ["router"]

router = APIRouter(prefix="/console/artifacts", route_class=ConsoleRoute, include_in_schema=False)

Csrf = Annotated[str, Form()]


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.replace("\n", ",").split(",") if name.strip()]


def _back(artifact_id: str, anchor: str) -> Response:
    return with_headers(RedirectResponse(f"/console/artifacts/{artifact_id}#{anchor}", 303))


@router.post("/{artifact_id}/share")
async def share(
    request: Request,
    artifact_id: str,
    csrf_token: Csrf = "",
    agents: Annotated[str, Form(max_length=10_000)] = "",
    groups: Annotated[str, Form(max_length=10_000)] = "",
    action: Annotated[str, Form()] = "share",
) -> Response:
    """Give (or, with ``action=unshare``, take back) read access to agents and groups."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    who, teams = _names(agents), _names(groups)
    if not who and not teams:
        raise InvalidRequestError("name at least one agent or group")
    service = hub_of(request).service
    if action == "unshare":
        await service.unshare(session.caller, artifact_id, agents=who, groups=teams)
    else:
        await service.share(session.caller, artifact_id, agents=who, groups=teams)
    return _back(artifact_id, "sharing")


@router.post("/{artifact_id}/links")
async def create_link(
    request: Request,
    artifact_id: str,
    csrf_token: Csrf = "",
    expires_in_hours: Annotated[float, Form(gt=0, le=720)] = 168,
    version: Annotated[str, Form()] = "",
) -> Response:
    """A revocable download link; the page shows its URL once (it is not stored)."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    hub = hub_of(request)
    fixed = int(version) if version.strip().isdigit() else None
    link = await hub.links.create_link(
        session.caller, artifact_id, expires_in=expires_in_hours * 3600, version=fixed
    )
    return await render_artifact(
        request, artifact_id, new_link=link, new_link_href=local_url(hub, link.url)
    )


@router.post("/{artifact_id}/links/{link_id}/revoke")
async def revoke_link(
    request: Request, artifact_id: str, link_id: str, csrf_token: Csrf = ""
) -> Response:
    """Revoke a link: its URL answers 404 ``link_not_found`` from now on."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    await hub_of(request).links.revoke_link(session.caller, link_id)
    return _back(artifact_id, "links")


@router.post("/{artifact_id}/ttl")
async def extend_ttl(
    request: Request,
    artifact_id: str,
    csrf_token: Csrf = "",
    ttl_hours: Annotated[str, Form()] = "",
    never: Annotated[str, Form()] = "",
) -> Response:
    """Expire ``ttl_hours`` from now, or never (owner or admin, as the API)."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    ttl: TTL
    if never:
        ttl = "never"
    else:
        try:
            hours = float(ttl_hours)
        except ValueError:
            raise InvalidRequestError("give the TTL in hours, or choose never") from None
        if not 0 < hours <= 24 * 365 * 100:
            raise InvalidRequestError("the TTL is between 0 and 100 years")
        ttl = int(hours * 3600)
    await hub_of(request).service.extend_ttl(session.caller, artifact_id, ttl)
    return _back(artifact_id, "lifecycle")


@router.post("/{artifact_id}/pin")
async def pin(
    request: Request,
    artifact_id: str,
    csrf_token: Csrf = "",
    pinned: Annotated[str, Form()] = "true",
) -> Response:
    """Pin (kept past its TTL and by clean-ups) or unpin."""
    session = await current_session(request)
    await check_csrf(request, session, csrf_token)
    await hub_of(request).service.pin(session.caller, artifact_id, pinned == "true")
    return _back(artifact_id, "lifecycle")
