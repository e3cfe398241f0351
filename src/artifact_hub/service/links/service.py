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

Where the parts live: lifetimes in :mod:`.lifetimes`, ids and paths in :mod:`.paths`, the
maker's access in :mod:`.access`, links in :mod:`.revocable` and :mod:`.listing`, download
URLs in :mod:`.signed_urls`.
"""

from __future__ import annotations

from artifact_hub.service.links.listing import LinkListing
from artifact_hub.service.links.revocable import RevocableLinks
from artifact_hub.service.links.signed_urls import SignedUrls


class LinkService(RevocableLinks, LinkListing, SignedUrls):
    """Revocable download links and signed download URLs.

    Args:
        db: The index database's transactions.
        store: The links (read and written in ``db``'s transactions).
        artifacts: The artifact service (reads go through it, so its rules apply).
        signer: Signs and verifies the hub's URLs.
        public_url: The hub's base URL as clients see it.
        store_url_max_ttl: The longest life of a presigned URL straight to the blob store;
            a longer download URL is the hub's own.
    """
