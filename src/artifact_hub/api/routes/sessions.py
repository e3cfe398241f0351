"""``/v1/sessions``: seal a session, read its state.

Sessions belong to the tenant: the agents of one run share them, so any key of the tenant may
read or seal one; other tenants never see it (their session ids are their own).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from artifact_hub.api.deps import CallerDep, HubDep
from artifact_hub.api.errors import errors
from artifact_hub.api.routes.common import json_response
from artifact_hub.schemas.artifacts import Session
from artifact_hub.schemas.fields import MAX_ID_LENGTH

__all__ = ["router"]

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])

# The same bound as a push's session_id (schemas/fields.py): a session that can be written to
# can be sealed.
SessionPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]


@router.post("/{session_id}/seal", response_model=Session, responses=errors(400, 409))
async def seal_session(session_id: SessionPath, hub: HubDep, caller: CallerDep) -> Response:
    """Seal the session: later writes to it fail with ``session_sealed``. Idempotent."""
    return json_response(await hub.service.seal_session(caller, session_id))


@router.get("/{session_id}", response_model=Session, responses=errors(404))
async def get_session(session_id: SessionPath, hub: HubDep, caller: CallerDep) -> Response:
    """The session (404 ``session_not_found`` before anything was written to it)."""
    return json_response(await hub.service.session(caller, session_id))
