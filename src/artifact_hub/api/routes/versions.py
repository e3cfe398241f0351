"""``/v1/artifacts/{id}/versions``: new versions, their list, their bytes, deleting one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.ingest import read_incoming
from artifact_hub.api.routes.artifacts import CONTENT_RESPONSES, UPLOAD_DOC
from artifact_hub.api.routes.common import content_response, json_response
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.api import VersionList
from artifact_hub.schemas.artifacts import Artifact
from artifact_hub.schemas.commands import AddVersion
from artifact_hub.schemas.fields import MAX_INT32

__all__ = ["router"]

router = APIRouter(prefix="/v1/artifacts/{artifact_id}/versions", tags=["versions"])

# A new version takes content, its type and metadata; the rest of the artifact stays.
_VERSION_FIELDS = frozenset({"content_base64", "content_type", "metadata", "sha256", "agent_id"})
# Sent by clients that reuse their create body; accepted and ignored.
_IGNORED_FIELDS = frozenset({"name", "namespace", "session_id"})

VersionPath = Annotated[int, Path(ge=1, le=MAX_INT32)]


@router.post(
    "",
    status_code=201,
    response_model=Artifact,
    openapi_extra=UPLOAD_DOC,
    responses=errors(400, 403, 404, 409, 410, 413, 503),
)
async def add_version(
    artifact_id: str, request: Request, hub: HubDep, caller: CallerDep
) -> Response:
    """Upload the next version (multipart ``file`` or JSON base64, like a new artifact)."""
    incoming = await read_incoming(request, caller)
    extra = incoming.body.model_fields_set - _VERSION_FIELDS - _IGNORED_FIELDS
    if extra:
        raise InvalidRequestError(
            f"a new version takes content, content_type and metadata only, not "
            f"{', '.join(sorted(extra))}"
        )
    body = incoming.body
    command = AddVersion(
        content_type=incoming.given_content_type,  # None: the artifact's type stays
        metadata=body.metadata,
        expected_sha256=body.sha256,
        max_size=incoming.max_size,
    )
    artifact = await hub.service.add_version(caller, artifact_id, incoming.content, command)
    return json_response(artifact, status_code=201)


@router.get("", response_model=VersionList, responses=errors(404, 410))
async def list_versions(artifact_id: str, hub: HubDep, caller: CallerDep) -> Response:
    """Every live version, oldest first."""
    rows = await hub.service.versions(caller, artifact_id)
    return json_response(VersionList(data=rows))


@router.get(
    "/{version}/content",
    response_class=Response,
    responses=CONTENT_RESPONSES,
)
async def version_content(
    artifact_id: str, version: VersionPath, request: Request, hub: HubDep, caller: CallerDep
) -> Response:
    """The bytes of one version."""
    return await content_response(request, hub, caller, artifact_id, version)


@router.delete(
    "/{version}",
    status_code=204,
    response_class=Response,
    responses=errors(400, 403, 404, 409, 410),
)
async def delete_version(
    artifact_id: str, version: VersionPath, hub: HubDep, caller: CallerDep
) -> Response:
    """Soft-delete one version (not the latest: delete the artifact instead)."""
    await hub.service.delete_version(caller, artifact_id, version)
    return Response(status_code=204)
