"""Presigned uploads: ``upload-url``, the hub's own ``PUT`` URL, and ``complete``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.ingest import check_identity
from artifact_hub.api.routes.common import json_response
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.api import Upload, UploadReceived, UploadUrlRequest
from artifact_hub.schemas.artifacts import Artifact

__all__ = ["router"]

router = APIRouter(tags=["uploads"])


@router.post(
    "/v1/artifacts/upload-url",
    status_code=201,
    response_model=Upload,
    responses=errors(400, 403, 409, 413),
)
async def upload_url(body: UploadUrlRequest, hub: HubDep, caller: CallerDep) -> Response:
    """Register an upload of up to 5 GB; PUT the bytes to the answer's ``url``."""
    check_identity(caller, body)
    upload = await hub.uploads.request_upload(caller, body)
    return json_response(upload, status_code=201)


@router.put(
    "/v1/uploads/{upload_id}",
    tags=["public"],
    responses={200: {"model": UploadReceived}, **errors(400, 403, 404, 409, 410, 413, public=True)},
)
async def put_upload(
    upload_id: str,
    request: Request,
    hub: HubDep,
    exp: str | None = None,
    sig: str | None = None,
) -> Response:
    """Receive the bytes of an upload (no API key: the URL is signed); streamed to disk."""
    length = request.headers.get("content-length")
    if length is not None and not length.isdigit():
        raise InvalidRequestError("Content-Length must be a number of bytes")
    received = await hub.uploads.receive(
        upload_id,
        exp,
        sig,
        request.stream(),
        content_length=None if length is None else int(length),
    )
    return json_response(UploadReceived(id=upload_id, size_bytes=received))


@router.post(
    "/v1/artifacts/{upload_id}/complete",
    status_code=201,
    response_model=Artifact,
    responses=errors(400, 403, 404, 409, 410, 413),
)
async def complete_upload(upload_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """Turn the uploaded bytes into an artifact (size and sha256 verified)."""
    artifact = await hub.uploads.complete(caller, upload_id)
    return json_response(
        artifact, status_code=201, headers={"Location": f"/v1/artifacts/{artifact.id}"}
    )
