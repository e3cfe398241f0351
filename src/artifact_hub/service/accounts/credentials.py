"""Credential formats: API keys (``ak_live_<id>_<secret>``), their hashing, ingestion secrets."""

from __future__ import annotations

import hashlib
import secrets

from artifact_hub.core.errors import AuthenticationError

KEY_PREFIX = "ak_live_"

INGESTION_SECRET_PREFIX = "ahis_"
"""Ingestion secrets read ``ahis_<43 url-safe characters>`` (256 bits), easy to spot in a leak."""

_KEY_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

_KEY_ID_LENGTH = 16

_UNAUTHORIZED = "the API key is missing, unknown or revoked"

# Hashed when the key id is unknown, so both failures take about the same time.
_DUMMY_SHA256 = hashlib.sha256(b"artifact-hub").hexdigest()

_TENANT_SCOPE = "tenant"

_HUB_SCOPE = "hub"


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_key_id() -> str:
    return "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))


def _new_ingestion_secret() -> str:
    return INGESTION_SECRET_PREFIX + secrets.token_urlsafe(32)


def parse_key(token: str) -> tuple[str, str]:
    """Split ``ak_live_<key_id>_<secret>`` into key id and secret.

    Raises:
        AuthenticationError: The token does not have that shape.
    """
    if not token.startswith(KEY_PREFIX):
        raise AuthenticationError(_UNAUTHORIZED)
    key_id, sep, secret = token[len(KEY_PREFIX) :].partition("_")
    if not sep or len(key_id) != _KEY_ID_LENGTH or not secret or len(secret) > 256:
        raise AuthenticationError(_UNAUTHORIZED)
    return key_id, secret
