"""Download links (``/l/<link_id>``) and signed download URLs.

A **link** is a row in ``links`` plus a signed URL: the signature makes it unguessable and
tamper-evident, the row makes it revocable. A **signed download URL** has no row: on S3, for
lifetimes up to ``s3_download_url_max_seconds`` (15 minutes by default), it is the store's
own presigned GET; otherwise it is a hub URL ``/v1/signed/<id>/<version>`` signed with the
hub's secret (see :mod:`artifact_hub.service.signing`), which checks the artifact at every use
and on S3 then redirects to a fresh, short presigned GET. So no URL reads a deleted artifact's
bytes from the bucket for longer than that cap. Both work without an API key.

A link acts with its creator's current read access, checked at every use (see
:meth:`LinkService.resolve`): a link made by an agent the artifact was shared with stops
working when the share is withdrawn, and works again if it is given back. Checking at use
time rather than revoking the links at ``unshare`` also covers the other ways access ends (a
group taken off the creator's keys, the creator's keys revoked) without tracking which grant
a link depended on.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import and_, insert, or_, select, update

from artifact_hub.errors import (
    ArtifactNotFoundError,
    InvalidRequestError,
    LinkExpiredError,
    LinkNotFoundError,
    PermissionDeniedError,
)
from artifact_hub.index import tables as t
from artifact_hub.index.database import Database
from artifact_hub.schemas.api import DOWNLOAD_URL_MAX_SECONDS, LINK_MAX_SECONDS, Link, SignedUrl
from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.links import LinkInfo, LinkList
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.service.signing import UrlSigner

__all__ = [
    "DOWNLOAD_URL_DEFAULT_TTL",
    "DOWNLOAD_URL_MAX_TTL",
    "LINK_DEFAULT_TTL",
    "LINK_MAX_TTL",
    "REDIRECT_TTL",
    "S3_DOWNLOAD_URL_MAX_TTL",
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
S3_DOWNLOAD_URL_MAX_TTL = timedelta(minutes=15)
"""Default cap of a presigned GET straight to the bucket (``s3_download_url_max_seconds``)."""
REDIRECT_TTL = timedelta(seconds=60)
"""The life of the presigned GET a hub-signed URL redirects to (followed at once)."""
LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 500

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
        store_url_max_ttl: The longest life of a presigned URL straight to the blob store;
            a longer download URL is the hub's own.
    """

    def __init__(
        self,
        db: Database,
        artifacts: ArtifactService,
        signer: UrlSigner,
        public_url: str,
        *,
        store_url_max_ttl: timedelta = S3_DOWNLOAD_URL_MAX_TTL,
    ) -> None:
        self.db = db
        self.artifacts = artifacts
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.store_url_max_ttl = store_url_max_ttl

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
        # The link reads as its creator can read now, not as it could when it made the link.
        reader = await self._creator(row.tenant_id, row.created_by)
        return await self.artifacts.open(reader, row.artifact_id, row.version)

    async def _creator(self, tenant_id: str, agent_id: str | None) -> Caller:
        """The read access ``agent_id`` has now: the union of its live keys' grants.

        Groups and the admin flag belong to API keys, so an agent reads what any of its live
        keys could. An agent without a key of any kind in the tenant (the hub's own steps, an
        embedded caller) and a link made without an agent keep the tenant-wide reading they
        always had: there is no credential of theirs that could be withdrawn.
        """
        if agent_id is None:
            return Caller(tenant_id=tenant_id, admin=True)
        k = t.api_keys.c
        async with self.db.connect() as conn:
            keys = (
                await conn.execute(
                    select(k.groups, k.admin, k.revoked_at).where(
                        and_(k.tenant_id == tenant_id, k.agent_id == agent_id)
                    )
                )
            ).all()
        if not keys:
            return Caller(tenant_id=tenant_id, agent_id=agent_id, admin=True)
        live = [key for key in keys if key.revoked_at is None]
        groups = sorted({group for key in live for group in (key.groups or ())})
        return Caller(
            tenant_id=tenant_id,
            agent_id=agent_id,
            groups=tuple(groups),
            admin=any(bool(key.admin) for key in live),
        )

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
        c = t.links.c
        now = datetime.now(UTC)
        condition = and_(c.tenant_id == caller.tenant_id, c.artifact_id == artifact_id)
        if not include_inactive:
            condition = and_(condition, c.revoked_at.is_(None), c.expires_at > now)
        if cursor is not None:
            created_at, link_id = _decode_cursor(cursor)
            condition = and_(
                condition,
                or_(
                    c.created_at < created_at,
                    and_(c.created_at == created_at, c.link_id < link_id),
                ),
            )
        async with self.db.connect() as conn:
            rows = (
                await conn.execute(
                    select(t.links)
                    .where(condition)
                    .order_by(c.created_at.desc(), c.link_id.desc())
                    .limit(limit + 1)
                )
            ).all()
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
        if ttl <= self.store_url_max_ttl:
            url = await self._store_url(artifact, row, ttl)
            if url is not None:
                return SignedUrl(url=url, expires_at=datetime.now(UTC) + ttl)
        # Longer than a store URL may live (or no store URL): the hub's own, which checks the
        # artifact at each use, so deleting it ends the URL at once.
        # The URL names its maker under the signature: it reads as the maker can read now,
        # so it ends with the share (or the keys) that let the maker read, as links do.
        signed = self.signer.sign(
            "GET", signed_path(artifact_id, row.version, caller.agent_id), ttl
        )
        return SignedUrl(url=signed.url(self.public_url), expires_at=signed.expires_at)

    async def _store_url(
        self, artifact: Artifact, row: ArtifactVersion, ttl: timedelta
    ) -> str | None:
        return await self.artifacts.blobs.presigned_get_url(
            row.sha256,
            expires_in=ttl,
            filename=artifact.name,
            content_type=row.content_type or artifact.content_type,
        )

    async def signed_download(
        self,
        artifact_id: str,
        version: str,
        exp: str | None,
        sig: str | None,
        by: str | None = None,
    ) -> Opened | str:
        """What a hub-signed download URL serves: a short store URL to redirect to, if any.

        The artifact is checked first (:meth:`open_signed`), at every use; then a store with
        presigned URLs (S3) gets a fresh one of :data:`REDIRECT_TTL` (at most
        ``store_url_max_ttl``) and the bytes do not pass through the hub; other stores stream.

        Raises:
            See :meth:`open_signed`.
        """
        artifact, row, stream = await self.open_signed(artifact_id, version, exp, sig, by)
        url = await self._store_url(artifact, row, min(REDIRECT_TTL, self.store_url_max_ttl))
        if url is None:
            return artifact, row, stream
        await _close_unstarted(stream)
        return url

    async def open_signed(
        self,
        artifact_id: str,
        version: str,
        exp: str | None,
        sig: str | None,
        by: str | None = None,
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
        self.signer.verify("GET", signed_path(artifact_id, version, by), exp, sig)
        async with self.db.connect() as conn:
            tenant_id = await conn.scalar(
                select(t.artifacts.c.tenant_id).where(t.artifacts.c.artifact_id == artifact_id)
            )
        if tenant_id is None:
            raise ArtifactNotFoundError(
                f"Artifact {artifact_id} was not found.", artifact_id=artifact_id
            )
        # ``by`` names the URL's maker (signed): it reads as the maker can now. URLs made
        # without an agent (embedded callers, and URLs signed before makers were named) keep
        # the tenant-wide reading they were made with.
        reader = await self._creator(tenant_id, by)
        return await self.artifacts.open(reader, artifact_id, int(version))

    async def _check_readable(
        self, caller: Caller, artifact_id: str, version: int | None
    ) -> tuple[Artifact, ArtifactVersion]:
        artifact, row, stream = await self.artifacts.open(caller, artifact_id, version)
        await _close_unstarted(stream)  # only the checks were wanted
        return artifact, row


async def _close_unstarted(stream: object) -> None:
    """Close a blob stream that was opened but never read (closing it reads nothing)."""
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def link_path(link_id: str) -> str:
    """The path a link's signature covers."""
    return f"/l/{link_id}"


def signed_path(artifact_id: str, version: int | str, by: str | None = None) -> str:
    """The path (and maker, as ``?by=``) a hub-signed download URL's signature covers."""
    path = f"/v1/signed/{artifact_id}/{version}"
    return path if by is None else f"{path}?{urlencode({'by': by})}"


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
