"""How long links and download URLs live: defaults, caps, and the bounded ``seconds`` parser."""

from __future__ import annotations

from datetime import timedelta

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.api import DOWNLOAD_URL_MAX_SECONDS, LINK_MAX_SECONDS

LINK_DEFAULT_TTL = timedelta(days=7)

LINK_MAX_TTL = timedelta(seconds=LINK_MAX_SECONDS)

DOWNLOAD_URL_DEFAULT_TTL = timedelta(hours=1)

# S3 refuses presigned URLs that live longer than 7 days; hub URLs follow the same bound.
DOWNLOAD_URL_MAX_TTL = timedelta(seconds=DOWNLOAD_URL_MAX_SECONDS)

S3_DOWNLOAD_URL_MAX_TTL = timedelta(minutes=15)
"""Default cap of a presigned GET straight to the bucket (``s3_download_url_max_seconds``)."""

REDIRECT_TTL = timedelta(seconds=60)
"""The life of the presigned GET a hub-signed URL redirects to (followed at once)."""


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
