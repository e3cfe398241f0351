"""Listing links, a page at a time with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime

from artifact_hub.core.errors import InvalidRequestError, PermissionDeniedError
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.links import LinkInfo, LinkList
from artifact_hub.service.links.access import LinkAccess

LIST_DEFAULT_LIMIT = 50

LIST_MAX_LIMIT = 500


def _encode_cursor(created_at: datetime, link_id: str) -> str:
    raw = f"{created_at.isoformat()}|{link_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, link_id) a cursor names.

    Raises:
        InvalidRequestError: It is not a cursor this endpoint gave.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, link_id = raw.split("|", 1)
        created_at = datetime.fromisoformat(when)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError("cursor is not valid") from None
    if created_at.tzinfo is None or not link_id:
        raise InvalidRequestError("cursor is not valid")
    return created_at, link_id


class LinkListing(LinkAccess):
    """List links."""

    async def list_links(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        limit: int = LIST_DEFAULT_LIMIT,
        cursor: str | None = None,
        include_inactive: bool = False,
    ) -> LinkList:
        """The artifact's links, newest first, for its owner (or a tenant admin) to revoke.

        Args:
            caller: The artifact's owner or a tenant admin.
            artifact_id: The artifact (deleted ones too: their links may still be revoked).
            limit: Links per page (1 to 500).
            cursor: ``next_cursor`` of the previous page.
            include_inactive: Revoked and expired links too.

        Raises:
            ArtifactNotFoundError: Not visible to the caller.
            PermissionDeniedError: Visible, but not the caller's (nor is it an admin).
            InvalidRequestError: A bad ``limit`` or ``cursor``.
        """
        if not 1 <= limit <= LIST_MAX_LIMIT:
            raise InvalidRequestError(f"limit must be between 1 and {LIST_MAX_LIMIT}")
        artifact = await self.artifacts.get(caller, artifact_id, include_deleted=True)
        if not caller.admin and artifact.agent_id != caller.agent_id:
            raise PermissionDeniedError(
                f"only the owner of {artifact_id} can list its links", artifact_id=artifact_id
            )
        now = datetime.now(UTC)
        before = None if cursor is None else _decode_cursor(cursor)
        async with self.db.connect() as conn:
            rows = await self.store.list_links(
                conn,
                caller.tenant_id,
                artifact_id,
                limit=limit + 1,  # one more tells whether there is a next page
                active_at=None if include_inactive else now,
                before=before,
            )
        page = rows[:limit]
        items = [
            LinkInfo(
                id=row.link_id,
                artifact_id=row.artifact_id,
                version=row.version,
                created_by=row.created_by,
                created_at=row.created_at,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
                active=row.revoked_at is None and row.expires_at > now,
            )
            for row in page
        ]
        next_cursor = None
        if len(rows) > limit:
            last = page[-1]
            next_cursor = _encode_cursor(last.created_at, last.link_id)
        return LinkList(data=items, next_cursor=next_cursor)
