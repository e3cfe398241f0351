"""Revocable links: a ``links`` row plus a signed ``/l/<id>`` URL; create, revoke, resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, insert, select, update

from artifact_hub.adapters.index import tables as t
from artifact_hub.core.errors import LinkExpiredError, LinkNotFoundError
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
        async with self.db.begin() as conn:
            await conn.execute(
                insert(t.links).values(
                    link_id=link_id,
                    tenant_id=caller.tenant_id,
                    artifact_id=artifact_id,
                    version=version,
                    created_by=caller.agent_id,
                    created_at=now,
                    expires_at=signed.expires_at,
                )
            )
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
            row = (
                await conn.execute(
                    select(t.links.c.created_by, t.artifacts.c.agent_id.label("owner"))
                    .select_from(
                        t.links.outerjoin(
                            t.artifacts, t.artifacts.c.artifact_id == t.links.c.artifact_id
                        )
                    )
                    .where(
                        and_(t.links.c.link_id == link_id, t.links.c.tenant_id == caller.tenant_id)
                    )
                )
            ).first()
            allowed = row is not None and (
                caller.admin
                or (caller.agent_id is not None and caller.agent_id in (row.created_by, row.owner))
            )
            if not allowed:
                raise LinkNotFoundError(f"Link {link_id} was not found.", link_id=link_id)
            await conn.execute(
                update(t.links)
                .where(and_(t.links.c.link_id == link_id, t.links.c.revoked_at.is_(None)))
                .values(revoked_at=datetime.now(UTC))
            )

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
            row = (await conn.execute(select(t.links).where(t.links.c.link_id == link_id))).first()
        if row is None or row.revoked_at is not None:
            raise LinkNotFoundError(f"Link {link_id} was not found.", link_id=link_id)
        if row.expires_at <= datetime.now(UTC):
            raise LinkExpiredError(f"Link {link_id} has expired.", link_id=link_id)
        # The link reads as its creator can read now, not as it could when it made the link.
        reader = await self._creator(row.tenant_id, row.created_by)
        return await self.artifacts.open(reader, row.artifact_id, row.version)
