"""Revocable download links and signed download URLs.

A package of one module per job (see :mod:`.service` for the map); every name importable
from ``artifact_hub.service.links`` before the split still is.
"""

from artifact_hub.service.links.access import Opened
from artifact_hub.service.links.lifetimes import (
    DOWNLOAD_URL_DEFAULT_TTL,
    DOWNLOAD_URL_MAX_TTL,
    LINK_DEFAULT_TTL,
    LINK_MAX_TTL,
    REDIRECT_TTL,
    S3_DOWNLOAD_URL_MAX_TTL,
    seconds,
)
from artifact_hub.service.links.listing import LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT
from artifact_hub.service.links.paths import link_path, new_link_id, signed_path
from artifact_hub.service.links.service import LinkService

__all__ = [
    "DOWNLOAD_URL_DEFAULT_TTL",
    "DOWNLOAD_URL_MAX_TTL",
    "LINK_DEFAULT_TTL",
    "LINK_MAX_TTL",
    "LIST_DEFAULT_LIMIT",
    "LIST_MAX_LIMIT",
    "REDIRECT_TTL",
    "S3_DOWNLOAD_URL_MAX_TTL",
    "LinkService",
    "Opened",
    "link_path",
    "new_link_id",
    "seconds",
    "signed_path",
]
