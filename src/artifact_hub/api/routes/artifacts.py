"""``/v1/artifacts`` and ``/v1/shared``: push, list, get, update, delete, download, share, TTL."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.ingest import read_incoming
from artifact_hub.api.routes.common import content_response, json_response
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.ports.index import DEFAULT_LIMIT, MAX_LIMIT, ArtifactFilter
from artifact_hub.schemas.api import (
    ArtifactList,
    ExtendTTL,
    ShareRequest,
    UpdateArtifact,
)
from artifact_hub.schemas.artifacts import Access, Artifact
from artifact_hub.schemas.commands import TTL, PushArtifact, ShareArtifact
from artifact_hub.schemas.fields import MAX_INT32, MAX_OFFSET

__all__ = ["CONTENT_RESPONSES", "UPLOAD_DOC", "ListParams", "list_params", "router"]

router = APIRouter(prefix="/v1", tags=["artifacts"])

UPLOAD_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                    "description": "The file part, after the fields of CreateArtifact "
                    "(dicts and lists as JSON strings).",
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/CreateArtifact"}},
        },
    }
}


_WRITE = errors(400, 403, 404, 409, 410)
CONTENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}},
    304: {"description": "If-None-Match named the ETag: not modified, no body."},
    **errors(404, 410, 503),
}
"""The answers of a content download (its type is the artifact's own)."""


@router.post(
    "/artifacts",
    status_code=201,
    response_model=Artifact,
    openapi_extra=UPLOAD_DOC,
    responses={201: {"model": Artifact}, **errors(400, 403, 409, 413, 503)},
)
async def create_artifact(request: Request, hub: HubDep, caller: CallerDep) -> Response:
    """Upload an artifact: a multipart ``file`` part (500 MB) or JSON base64 (10 MB)."""
    incoming = await read_incoming(request, caller)
    body = incoming.body
    command = PushArtifact.from_body(
        body,
        name=incoming.name,
        content_type=incoming.content_type,
        namespace=body.namespace or caller.namespace,
        max_size=incoming.max_size,
    )
    artifact = await hub.service.push(caller, incoming.content, command)
    return json_response(
        artifact, status_code=201, headers={"Location": f"/v1/artifacts/{artifact.id}"}
    )


# ---------------------------------------------------------------------------- listing


@dataclass(frozen=True)
class ListParams:
    """A list query: the filters and the page."""

    filters: ArtifactFilter
    limit: int
    cursor: str | None
    offset: int | None


def _utc(moment: datetime | None) -> datetime | None:
    """The moment in UTC (naive: read as UTC); a moment UTC cannot hold is refused."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        # Converted here, not when bound to SQL: 0001-01-01T00:00+14:00 is before year 1 in
        # UTC, an OverflowError there (a 500) rather than this 400.
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequestError(f"{moment.isoformat()} is out of range in UTC") from None


def _json_or_str(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _pairs(request: Request, prefix: str) -> dict[str, Any]:
    return {
        key[len(prefix) :]: _json_or_str(value)
        for key, value in request.query_params.multi_items()
        if key.startswith(prefix) and len(key) > len(prefix)
    }


def list_params(
    request: Request,
    session_id: str | None = None,
    agent_id: str | None = None,
    kind: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
    content_type: str | None = None,
    run_id: str | None = None,
    graph_id: str | None = None,
    node_id: str | None = None,
    tag: Annotated[list[str] | None, Query(description="Repeatable; all must match.")] = None,
    metadata: Annotated[str | None, Query(description="A JSON object to match.")] = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    pinned: bool | None = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: str | None = None,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
) -> ListParams:
    """The filters of ``GET /v1/artifacts`` (``label.<k>=v`` and ``metadata.<k>=v`` too)."""
    meta = _pairs(request, "metadata.")
    if metadata is not None:
        try:
            whole = json.loads(metadata)
        except ValueError as error:
            raise InvalidRequestError("metadata must be a JSON object") from error
        if not isinstance(whole, dict):
            raise InvalidRequestError("metadata must be a JSON object")
        meta.update(whole)
    filters = ArtifactFilter(
        session_id=session_id,
        agent_id=agent_id,
        kind=kind,
        name=name,
        namespace=namespace,
        content_type=content_type,
        run_id=run_id,
        graph_id=graph_id,
        node_id=node_id,
        tags=tuple(tag or ()),
        labels=_pairs(request, "label."),
        metadata=meta,
        created_after=_utc(created_after),
        created_before=_utc(created_before),
        pinned=pinned,
        include_deleted=include_deleted,
    )
    return ListParams(filters=filters, limit=limit, cursor=cursor, offset=offset)


ListQuery = Annotated[ListParams, Depends(list_params)]


async def _list(hub: HubDep, caller: CallerDep, params: ListParams) -> Response:
    page = await hub.service.list(
        caller, params.filters, limit=params.limit, cursor=params.cursor, offset=params.offset
    )
    return json_response(ArtifactList(data=page.items, next_cursor=page.next_cursor))


@router.get("/artifacts", response_model=ArtifactList, responses=errors(400))
async def list_artifacts(hub: HubDep, caller: CallerDep, params: ListQuery) -> Response:
    """What the caller owns or was shared with, newest first, in every namespace."""
    return await _list(hub, caller, params)


@router.get("/shared", response_model=ArtifactList, responses=errors(400))
async def list_shared(hub: HubDep, caller: CallerDep, params: ListQuery) -> Response:
    """Artifacts shared with the caller (not its own), newest first."""
    shared = ListParams(
        filters=replace(params.filters, shared_only=True),
        limit=params.limit,
        cursor=params.cursor,
        offset=params.offset,
    )
    return await _list(hub, caller, shared)


# ---------------------------------------------------------------------------- one artifact


@router.get("/artifacts/{artifact_id}", response_model=Artifact, responses=errors(404, 410))
async def get_artifact(artifact_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """The artifact's metadata."""
    return json_response(await hub.service.get(caller, artifact_id))


@router.patch("/artifacts/{artifact_id}", response_model=Artifact, responses=_WRITE)
async def update_artifact(
    artifact_id: str, body: UpdateArtifact, hub: HubDep, caller: CallerDep
) -> Response:
    """Replace metadata, labels, tags, metrics or the pin, without a new version."""
    changes = body.model_fields_set - {"pinned"}
    if not body.model_fields_set:
        raise InvalidRequestError("give at least one of metadata, labels, tags, metrics, pinned")
    artifact = None
    if changes:
        artifact = await hub.service.update(
            caller,
            artifact_id,
            metadata=body.metadata,
            labels=body.labels,
            tags=body.tags,
            metrics=body.metrics,
        )
    if body.pinned is not None:
        artifact = await hub.service.pin(caller, artifact_id, body.pinned)
    if artifact is None:  # only "pinned": null
        artifact = await hub.service.get(caller, artifact_id)
    return json_response(artifact)


@router.delete("/artifacts/{artifact_id}", response_model=Artifact, responses=_WRITE)
async def delete_artifact(artifact_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """Soft-delete every version; a second delete answers 410 ``artifact_already_deleted``."""
    return json_response(await hub.service.delete(caller, artifact_id))


@router.get(
    "/artifacts/{artifact_id}/content",
    response_class=Response,
    responses=CONTENT_RESPONSES,
)
async def download(
    artifact_id: str,
    request: Request,
    hub: HubDep,
    caller: CallerDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> Response:
    """The bytes (streamed), with ``ETag``, ``X-Artifact-Version`` and ``X-Content-SHA256``."""
    return await content_response(request, hub, caller, artifact_id, version)


@router.post("/artifacts/{artifact_id}/share", response_model=Access, responses=_WRITE)
async def share(artifact_id: str, body: ShareRequest, hub: HubDep, caller: CallerDep) -> Response:
    """Give agents and groups read access (owner or admin only)."""
    command = ShareArtifact(agents=body.agents, groups=body.groups)
    access = await hub.service.share(caller, artifact_id, command)
    return json_response(access)


@router.post("/artifacts/{artifact_id}/unshare", response_model=Access, responses=_WRITE)
async def unshare(artifact_id: str, body: ShareRequest, hub: HubDep, caller: CallerDep) -> Response:
    """Take read access back from agents and groups (owner or admin only)."""
    command = ShareArtifact(agents=body.agents, groups=body.groups)
    access = await hub.service.unshare(caller, artifact_id, command)
    return json_response(access)


@router.get("/artifacts/{artifact_id}/access", response_model=Access, responses=errors(404, 410))
async def access(artifact_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """Who the artifact is shared with."""
    return json_response(await hub.service.access(caller, artifact_id))


@router.post("/artifacts/{artifact_id}/extend-ttl", response_model=Artifact, responses=_WRITE)
async def extend_ttl(artifact_id: str, body: ExtendTTL, hub: HubDep, caller: CallerDep) -> Response:
    """Expire ``ttl_seconds`` from now, or never (owner or admin only)."""
    if body.never == (body.ttl_seconds is not None):
        raise InvalidRequestError("give either ttl_seconds or never: true")
    ttl: TTL = "never" if body.never else body.ttl_seconds
    return json_response(await hub.service.extend_ttl(caller, artifact_id, ttl))
