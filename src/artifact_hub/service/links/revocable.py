"""Revocable links: a ``links`` row plus a signed ``/l/<id>`` URL; create, revoke, resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from artifact_hub.core.errors import LinkExpiredError, LinkNotFoundError
from artifact_hub.ports.links import LinkRow
from artifact_hub.schemas.api import Link
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.links.access import LinkAccess, Opened
from artifact_hub.service.links.lifetimes import LINK_DEFAULT_TTL, LINK_MAX_TTL, seconds
from artifact_hub.service.links.paths import link_path, new_link_id


class RevocableLinks(LinkAccess):
    """Create, revoke and resolve links."""

    async def create_link(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        expires_in: timedelta | float | None = None,
        version: int | None = None,
    ) -> Link:
        """A link anyone can download ``artifact_id`` with until it expires or is revoked.

        Args:
            caller: Must be able to read the artifact.
            artifact_id: The artifact.
            expires_in: Lifetime (default 7 days, at most 30).
            version: A fixed version; None serves the latest version at download time.

        Raises:
            InvalidRequestError: ``expires_in`` out of bounds.
            ArtifactNotFoundError, VersionNotFoundError: Not visible, or no such version.
            ArtifactDeletedError, ArtifactExpiredError: Not live.
        """
        ttl = seconds(expires_in, default=LINK_DEFAULT_TTL, maximum=LINK_MAX_TTL, what="expires_in")
        await self._check_readable(caller, artifact_id, version)
        link_id = new_link_id()
        signed = self.signer.sign("GET", link_path(link_id), ttl)
        now = datetime.now(UTC)
        row = LinkRow(
            link_id=link_id,
            tenant_id=caller.tenant_id,
            artifact_id=artifact_id,
            version=version,
            created_by=caller.agent_id,
            created_at=now,
            expires_at=signed.expires_at,
        )
        async with self.db.begin() as conn:
            await self.store.insert_link(conn, row)
        return Link(
            id=link_id,
            url=signed.url(self.public_url),
            artifact_id=artifact_id,
            version=version,
            created_at=now,
            expires_at=signed.expires_at,
        )

    async def revoke_link(self, caller: Caller, link_id: str) -> None:
        """Revoke a link: its URL then answers 404 ``link_not_found``. Revoking twice is fine.

        Only the link's creator, the artifact's owner or a tenant admin may revoke it; to
        anyone else it does not exist.

        Raises:
            LinkNotFoundError: No such link for this caller.
        """
        async with self.db.begin() as conn:
            owners = await self.store.link_owners(conn, caller.tenant_id, link_id)
            allowed = owners is not None and (
                caller.admin
                or (
                    caller.agent_id is not None
                    and caller.agent_id in (owners.created_by, owners.artifact_owner)
                )
            )
            if not allowed:
                raise LinkNotFoundError(f"Link {link_id} was not found.", link_id=link_id)
            await self.store.revoke_link(conn, link_id, datetime.now(UTC))

    async def resolve(self, link_id: str, exp: str | None, sig: str | None) -> Opened:
        """What a link URL serves: the artifact, its version and a verified stream.

        The checks run in this order: signature (403), expiry (410 ``link_expired``), the link
        row (404 ``link_not_found`` when unknown or revoked), then the artifact itself (410
        when deleted or expired, 404 when gone).

        Raises:
            PermissionDeniedError: The URL was altered or is not signed.
            LinkExpiredError: Used after its expiry.
            LinkNotFoundError: Revoked or unknown.
            ArtifactDeletedError, ArtifactExpiredError: The artifact is no longer live.
        """
        self.signer.verify("GET", link_path(link_id), exp, sig)
        async with self.db.connect() as conn:
            row = await self.store.get_link(conn, link_id)
        if row is None or row.revoked_at is not None:
            raise LinkNotFoundError(f"Link {link_id} was not found.", link_id=link_id)
        if row.expires_at <= datetime.now(UTC):
            raise LinkExpiredError(f"Link {link_id} has expired.", link_id=link_id)
        # The link reads as its creator can read now, not as it could when it made the link.
        reader = await self._creator(row.tenant_id, row.created_by)
        return await self.artifacts.open(reader, row.artifact_id, row.version)
