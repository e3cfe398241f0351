"""Links and signed download URLs (docs/rest-api.md).

``/l/{link_id}`` and ``/v1/signed/...`` need no API key: the signature in the URL is the
credential, checked by :class:`~artifact_hub.service.links.LinkService` before anything else.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from artifact_hub.adapters.storage.base import content_disposition
from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.routes.common import json_response
from artifact_hub.schemas.api import CreateLink, Link, SignedUrl
from artifact_hub.schemas.fields import MAX_INT32
from artifact_hub.schemas.links import LinkList
from artifact_hub.service.links import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT, Opened

__all__ = ["router", "stream_response"]

router = APIRouter(tags=["links"])


def stream_response(opened: Opened) -> StreamingResponse:
    """The bytes of an opened version, with the same headers as ``/content``.

    ``Cache-Control: no-store``: a revoked link must stop working, so no cache between the
    hub and the reader may keep a copy.
    """
    artifact, row, stream = opened
    headers = {
        "Content-Length": str(row.size_bytes),
        "Content-Disposition": content_disposition(artifact.name),
        "ETag": f'"{row.sha256}"',
        "X-Artifact-Version": str(row.version),
        "X-Content-SHA256": row.sha256,
        "Cache-Control": "private, no-store",
    }
    return StreamingResponse(
        stream,
        media_type=row.content_type or artifact.content_type or "application/octet-stream",
        headers=headers,
    )


_STREAM: dict[int | str, dict[str, Any]] = {
    200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    **errors(400, 403, 404, 410, public=True),
}


@router.post(
    "/v1/artifacts/{artifact_id}/links",
    status_code=201,
    response_model=Link,
    responses=errors(400, 403, 404, 409, 410),
)
async def create_link(
    artifact_id: str, hub: HubDep, caller: CallerDep, body: CreateLink | None = None
) -> Response:
    """A revocable download link (default 7 days, at most 30)."""
    body = body or CreateLink()
    link = await hub.links.create_link(
        caller, artifact_id, expires_in=body.expires_in, version=body.version
    )
    return json_response(link, status_code=201)


@router.get(
    "/v1/artifacts/{artifact_id}/links", response_model=LinkList, responses=errors(400, 403, 404)
)
async def list_links(
    artifact_id: str,
    hub: HubDep,
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX_LIMIT)] = LIST_DEFAULT_LIMIT,
    cursor: str | None = None,
    include_inactive: bool = False,
) -> Response:
    """The artifact's links, newest first (owner or admin); revoke each with DELETE."""
    page = await hub.links.list_links(
        caller, artifact_id, limit=limit, cursor=cursor, include_inactive=include_inactive
    )
    return json_response(page)


@router.delete("/v1/links/{link_id}", status_code=204, responses=errors(403, 404, 409))
async def revoke_link(link_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """Revoke a link; its URL then answers 404 ``link_not_found``."""
    await hub.links.revoke_link(caller, link_id)
    return Response(status_code=204)


@router.get("/l/{link_id}", tags=["public"], response_class=StreamingResponse, responses=_STREAM)
async def follow_link(
    link_id: str, hub: HubDep, exp: str | None = None, sig: str | None = None
) -> StreamingResponse:
    """The linked bytes (no API key): 403 if altered, 410 if late, 404 if revoked."""
    return stream_response(await hub.links.resolve(link_id, exp, sig))


@router.get(
    "/v1/artifacts/{artifact_id}/download-url",
    response_model=SignedUrl,
    responses=errors(400, 404, 410),
)
async def download_url(
    artifact_id: str,
    hub: HubDep,
    caller: CallerDep,
    expires_in: Annotated[int | None, Query(ge=1)] = None,  # at most 7 days: the service
    version: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> Response:
    """A URL that downloads without an API key (default 1 hour, at most 7 days)."""
    signed = await hub.links.download_url(
        caller, artifact_id, version=version, expires_in=expires_in
    )
    return json_response(signed)


# ``version`` is a string on purpose: it is checked against the signature before it is parsed,
# so an altered byte there is 403 like anywhere else in the URL, not a validation error.
@router.get(
    "/v1/signed/{artifact_id}/{version}",
    tags=["public"],
    response_class=StreamingResponse,
    responses=_STREAM,
)
async def signed_download(
    artifact_id: str,
    version: str,
    hub: HubDep,
    exp: str | None = None,
    sig: str | None = None,
    by: str | None = None,
) -> Response:
    """The bytes behind a hub-signed download URL (no API key); on S3 a redirect to them.

    The artifact is checked at each use; on S3 the answer is then a ``307`` to a presigned
    GET that lives a minute, so the bytes do not pass through the hub.
    """
    served = await hub.links.signed_download(artifact_id, version, exp, sig, by)
    if isinstance(served, str):
        return RedirectResponse(served, status_code=307, headers={"Cache-Control": "no-store"})
    return stream_response(served)
