"""Link ids (``lnk_`` and 16 base32 characters) and the paths link and URL signatures cover."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_link_id() -> str:
    """``lnk_`` and 16 random lowercase base32 characters (80 bits)."""
    return "lnk_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def link_path(link_id: str) -> str:
    """The path a link's signature covers."""
    return f"/l/{link_id}"


def signed_path(artifact_id: str, version: int | str, by: str | None = None) -> str:
    """The path (and maker, as ``?by=``) a hub-signed download URL's signature covers."""
    path = f"/v1/signed/{artifact_id}/{version}"
    return path if by is None else f"{path}?{urlencode({'by': by})}"
