"""Signed download URLs: the store's presigned GET, or the hub's own signed URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from artifact_hub.core.errors import ArtifactNotFoundError
from artifact_hub.schemas.api import SignedUrl
from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.links.access import LinkAccess, Opened
from artifact_hub.service.links.lifetimes import (
    DOWNLOAD_URL_DEFAULT_TTL,
    DOWNLOAD_URL_MAX_TTL,
    REDIRECT_TTL,
    seconds,
)
from artifact_hub.service.links.paths import signed_path


class SignedUrls(LinkAccess):
    """Make and open signed download URLs (no row; nothing to revoke)."""

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
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
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
            tenant_id = await self.store.artifact_tenant(conn, artifact_id)
        if tenant_id is None:
            raise ArtifactNotFoundError(
                f"Artifact {artifact_id} was not found.", artifact_id=artifact_id
            )
        # ``by`` names the URL's maker (signed): it reads as the maker can now. URLs made
        # without an agent (embedded callers, and URLs signed before makers were named) keep
        # the tenant-wide reading they were made with.
        reader = await self._creator(tenant_id, by)
        return await self.artifacts.open(reader, artifact_id, int(version))
