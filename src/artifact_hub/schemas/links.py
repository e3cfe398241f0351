"""A link as its artifact's owner sees it (``GET /v1/artifacts/{id}/links``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

__all__ = ["LinkInfo", "LinkList"]


class LinkInfo(BaseModel):
    """One link of an artifact, without its URL (the signature is the creator's to share).

    Revoke it with ``DELETE /v1/links/{id}``.
    """

    id: str
    artifact_id: str
    version: int | None = None
    created_by: str | None = None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None
    active: bool
    """Neither revoked nor expired (it may still fail if its creator lost read access)."""


class LinkList(BaseModel):
    """One page of an artifact's links, newest first."""

    data: list[LinkInfo]
    next_cursor: str | None = None
