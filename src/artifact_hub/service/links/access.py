"""Reading through a link or signed URL: with its maker's current read access.

:class:`LinkAccess` also holds the link service's parts (its constructor).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

from artifact_hub.ports.links import LinkStore
from artifact_hub.ports.transactions import Transactions
from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.identity import Caller
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.service.links.lifetimes import S3_DOWNLOAD_URL_MAX_TTL
from artifact_hub.service.signing import UrlSigner

Opened = tuple[Artifact, ArtifactVersion, AsyncIterator[bytes]]
"""An artifact, the version asked for, and its verified byte stream."""


class LinkAccess:
    """Reading as a link's or URL's maker can now, and the link service's parts.

    Args:
        db: The index database's transactions.
        store: The links (read and written in ``db``'s transactions).
        artifacts: The artifact service (reads go through it, so its rules apply).
        signer: Signs and verifies the hub's URLs.
        public_url: The hub's base URL as clients see it.
        store_url_max_ttl: The longest life of a presigned URL straight to the blob store;
            a longer download URL is the hub's own.
    """

    def __init__(
        self,
        db: Transactions,
        store: LinkStore,
        artifacts: ArtifactService,
        signer: UrlSigner,
        public_url: str,
        *,
        store_url_max_ttl: timedelta = S3_DOWNLOAD_URL_MAX_TTL,
    ) -> None:
        self.db = db
        self.store = store
        self.artifacts = artifacts
        self.signer = signer
        self.public_url = public_url.rstrip("/")
        self.store_url_max_ttl = store_url_max_ttl

    async def _creator(self, tenant_id: str, agent_id: str | None) -> Caller:
        """The read access ``agent_id`` has now: the union of its live keys' grants.

        Groups and the admin flag belong to API keys, so an agent reads what any of its live
        keys could. An agent without a key of any kind in the tenant (the hub's own steps, an
        embedded caller) and a link made without an agent keep the tenant-wide reading they
        always had: there is no credential of theirs that could be withdrawn.
        """
        if agent_id is None:
            return Caller(tenant_id=tenant_id, admin=True)
        async with self.db.connect() as conn:
            keys = await self.store.agent_grants(conn, tenant_id, agent_id)
        if not keys:
            return Caller(tenant_id=tenant_id, agent_id=agent_id, admin=True)
        live = [key for key in keys if not key.revoked]
        groups = sorted({group for key in live for group in key.groups})
        return Caller(
            tenant_id=tenant_id,
            agent_id=agent_id,
            groups=tuple(groups),
            admin=any(key.admin for key in live),
        )

    async def _check_readable(
        self, caller: Caller, artifact_id: str, version: int | None
    ) -> tuple[Artifact, ArtifactVersion]:
        artifact, row, stream = await self.artifacts.open(caller, artifact_id, version)
        # Only the checks were wanted; the stream was never started, so this reads nothing.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
        return artifact, row
