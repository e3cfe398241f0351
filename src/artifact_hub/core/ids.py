"""Artifact ids: ``art_`` and 16 random base32 characters."""

from __future__ import annotations

import secrets

_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


def new_artifact_id() -> str:
    """``art_`` and 16 random lowercase base32 characters (80 bits)."""
    return "art_" + "".join(secrets.choice(_ALPHABET) for _ in range(16))
