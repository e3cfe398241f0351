"""Download links (``/l/<link_id>``) and signed download URLs.

A **link** is a row in ``links`` plus a signed URL: the signature makes it unguessable and
tamper-evident, the row makes it revocable. A **signed download URL** has no row: on S3 it is
the store's own presigned GET, elsewhere a hub URL ``/v1/signed/<id>/<version>`` signed with
the hub's secret (see :mod:`artifact_hub.service.signing`). Both work without an API key.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, insert, select, update

from artifact_hub.errors import (
    ArtifactNotFoundError,
    InvalidRequestError,
    LinkExpiredError,
    LinkNotFoundError,
)
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.schemas.api import DOWNLOAD_URL_MAX_SECONDS, LINK_MAX_SECONDS, Link, SignedUrl
from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.service.signing import UrlSigner

__all__ = [
    "DOWNLOAD_URL_DEFAULT_TTL",
    "DOWNLOAD_URL_MAX_TTL",
    "LINK_DEFAULT_TTL",
    "LINK_MAX_TTL",
    "LinkService",
    "Opened",
    "new_link_id",
    "seconds",
]

LINK_DEFAULT_TTL = timedelta(days=7)
LINK_MAX_TTL = timedelta(seconds=LINK_MAX_SECONDS)
DOWNLOAD_URL_DEFAULT_TTL = timedelta(hours=1)
# S3 refuses presigned URLs that live longer than 7 days; hub URLs follow the same bound.
DOWNLOAD_URL_MAX_TTL = timedelta(seconds=DOWNLOAD_URL_MAX_SECONDS)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

Opened = tuple[Artifact, ArtifactVersion, AsyncIterator[bytes]]
"""An artifact, the version asked for, and its verified byte stream."""


def new_link_id() -> str:
    """``lnk_`` and 16 random lowercase base32 characters (80 bits)."""
    return "lnk_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def seconds(
    value: timedelta | float | None, *, default: timedelta, maximum: timedelta, what: str
) -> timedelta:
    """A lifetime from seconds or a timedelta, bounded to ``(0, maximum]``.

    Raises:
        InvalidRequestError: Not positive, or longer than ``maximum``.
    """
    ttl = default if value is None else value
    if not isinstance(ttl, timedelta):
        # Compared as a number first: timedelta(seconds=10**14) overflows (a 500, not a 400).
        limit = maximum.total_seconds()
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl <= limit:
            raise InvalidRequestError(f"{what} must be between 1 and {int(limit)} seconds")
        ttl = timedelta(seconds=ttl)
    if ttl <= timedelta(0) or ttl > maximum:
        raise InvalidRequestError(
            f"{what} must be between 1 and {int(maximum.total_seconds())} seconds"
        )
    return ttl


class LinkService:
    """Revocable download links and signed download URLs.

    Args:
        db: The index database (``links`` table).
        artifacts: The artifact service (reads go through it, so its rules apply).
        signer: Signs and verifies the hub's URLs.
        public_url: The hub's base URL as clients see it.
    """

    def __init__(
        self, db: Database, artifacts: ArtifactService, signer: UrlSigner, public_url: str
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.signer = signer
        self.public_url = public_url.rstrip("/")

    # ------------------------------------------------------------------ links

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
        # The link speaks for its tenant, not for an agent's current grants: whoever made it
        # could read the artifact then, and revoking the link is how access is taken back.
        reader = Caller(tenant_id=row.tenant_id, agent_id=row.created_by, admin=True)
        return await self.artifacts.open(reader, row.artifact_id, row.version)

    # ------------------------------------------------------------------ signed URLs

    async def download_url(
        self,
        caller: Caller,
        artifact_id: str,
        *,
        version: int | None = None,
        expires_in: timedelta | float | None = None,
    ) -> SignedUrl:
        """A URL that downloads one version without an API key until it expires.

        On S3 it is the store's presigned GET (the bytes never pass through the hub); on
        other stores it is the hub's ``/v1/signed/<id>/<version>`` URL.

        Raises:
            InvalidRequestError: ``expires_in`` out of bounds (default 1 hour, max 7 days).
            ArtifactNotFoundError, VersionNotFoundError: Not visible, or no such version.
            ArtifactDeletedError, ArtifactExpiredError: Not live.
        """
        ttl = seconds(
            expires_in,
            default=DOWNLOAD_URL_DEFAULT_TTL,
            maximum=DOWNLOAD_URL_MAX_TTL,
            what="expires_in",
        )
        artifact, row = await self._check_readable(caller, artifact_id, version)
        url = await self.artifacts.blobs.presigned_get_url(
            row.sha256,
            expires_in=ttl,
            filename=artifact.name,
            content_type=row.content_type or artifact.content_type,
        )
        if url is not None:
            return SignedUrl(url=url, expires_at=datetime.now(UTC) + ttl)
        signed = self.signer.sign("GET", signed_path(artifact_id, row.version), ttl)
        return SignedUrl(url=signed.url(self.public_url), expires_at=signed.expires_at)

    async def open_signed(
        self, artifact_id: str, version: str, exp: str | None, sig: str | None
    ) -> Opened:
        """What a hub-signed download URL serves.

        ``version`` is the path segment as received: it is verified as signed before it is
        parsed, so any change to it is ``forbidden`` rather than a validation error.

        Raises:
            PermissionDeniedError: The URL was altered or is not signed.
            LinkExpiredError: Used after its expiry.
            ArtifactNotFoundError: The artifact is gone.
            ArtifactDeletedError, ArtifactExpiredError: No longer live.
        """
        self.signer.verify("GET", signed_path(artifact_id, version), exp, sig)
        async with self.db.connect() as conn:
            tenant_id = await conn.scalar(
                select(t.artifacts.c.tenant_id).where(t.artifacts.c.artifact_id == artifact_id)
            )
        if tenant_id is None:
            raise ArtifactNotFoundError(
                f"Artifact {artifact_id} was not found.", artifact_id=artifact_id
            )
        reader = Caller(tenant_id=tenant_id, admin=True)
        return await self.artifacts.open(reader, artifact_id, int(version))

    async def _check_readable(
        self, caller: Caller, artifact_id: str, version: int | None
    ) -> tuple[Artifact, ArtifactVersion]:
        artifact, row, stream = await self.artifacts.open(caller, artifact_id, version)
        # Only the checks were wanted; the stream was never started, so this reads nothing.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
        return artifact, row


def link_path(link_id: str) -> str:
    """The path a link's signature covers."""
    return f"/l/{link_id}"


def signed_path(artifact_id: str, version: int | str) -> str:
    """The path a hub-signed download URL's signature covers."""
    return f"/v1/signed/{artifact_id}/{version}"
