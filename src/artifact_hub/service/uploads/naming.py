"""Upload ids (``upl_`` and 16 base32 characters) and the path a hub upload URL signs."""

from __future__ import annotations

import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_upload_id() -> str:
    """``upl_`` and 16 random lowercase base32 characters (80 bits)."""
    return "upl_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))


def upload_path(upload_id: str) -> str:
    """The path a hub upload URL's signature covers."""
    return f"/v1/uploads/{upload_id}"
