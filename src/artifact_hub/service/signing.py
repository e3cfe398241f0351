r"""Signed hub URLs: HMAC-SHA256 over the method, the path and the expiry.

A signed URL is ``<path>?exp=<unix seconds>&sig=<hex>`` where::

    sig = HMAC-SHA256(secret, "<METHOD>\n<path>\n<exp>")

so changing any byte of the path, the expiry or the signature makes it invalid. Links
(``/l/<link_id>``), signed downloads on the local store (``/v1/signed/<id>/<version>``) and
local presigned uploads (``/v1/uploads/<upload_id>``) all use it (docs/rest-api.md).

The secret is ``settings.signing_secret``; in embedded mode, without one, a random secret is
created once in ``data_dir/signing.key`` (mode 0600) so links survive restarts. In distributed
mode every API replica must verify what any other signed, so a shared secret is required.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from artifact_hub.core.errors import LinkExpiredError, PermissionDeniedError
from artifact_hub.core.settings import HubSettings

__all__ = [
    "SIGNING_KEY_FILE",
    "SignedPath",
    "SigningSecretMissingError",
    "UrlSigner",
    "load_signing_secret",
]

SIGNING_KEY_FILE = "signing.key"
_SIG = re.compile(r"[0-9a-f]{64}")
_EXP = re.compile(r"[0-9]{1,12}")


class SigningSecretMissingError(RuntimeError):
    """Distributed mode without ``ARTIFACT_HUB_SIGNING_SECRET``: the API must not start."""


@dataclass(frozen=True, slots=True)
class SignedPath:
    """A signed path and its query.

    Attributes:
        path: The path that was signed (``/l/lnk_...``).
        exp: The expiry, in Unix seconds.
        sig: The hex HMAC.
    """

    path: str
    exp: int
    sig: str

    @property
    def query(self) -> str:
        """``exp=...&sig=...``."""
        return urlencode({"exp": self.exp, "sig": self.sig})

    @property
    def expires_at(self) -> datetime:
        """The expiry as an aware datetime."""
        return datetime.fromtimestamp(self.exp, UTC)

    def url(self, base_url: str) -> str:
        """The absolute URL under ``base_url`` (the hub's public URL)."""
        # A path that carries a query of its own (``?by=...``) was signed with it.
        separator = "&" if "?" in self.path else "?"
        return f"{base_url.rstrip('/')}{self.path}{separator}{self.query}"


class UrlSigner:
    """Signs and verifies hub URLs with HMAC-SHA256.

    Args:
        secret: The HMAC key (at least 16 bytes).
        clock: Unix time now; tests move it to check expiry without waiting.
    """

    def __init__(self, secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the signing secret must be at least 16 bytes long")
        self._secret = secret
        self.clock = clock

    def signature(self, method: str, path: str, exp: int) -> str:
        r"""The hex HMAC of ``"<METHOD>\n<path>\n<exp>"``."""
        message = f"{method.upper()}\n{path}\n{exp}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, expires_in: timedelta | float) -> SignedPath:
        """Sign ``path`` for ``method`` for at least ``expires_in`` from now.

        The expiry is whole Unix seconds, rounded up: the URL is good while the clock is
        before it, so for between ``expires_in`` and ``expires_in`` + 1 s.

        Raises:
            ValueError: ``expires_in`` is not positive.
        """
        seconds = expires_in.total_seconds() if isinstance(expires_in, timedelta) else expires_in
        if seconds <= 0:
            raise ValueError("expires_in must be positive")
        # Rounded up, so a URL is good for at least ``expires_in``: truncating would leave
        # a one-second link as little as a few milliseconds of life.
        exp = math.ceil(self.clock() + seconds)
        return SignedPath(path=path, exp=exp, sig=self.signature(method, path, exp))

    def verify(self, method: str, path: str, exp: str | int | None, sig: str | None) -> int:
        """Check a signed request; return its expiry.

        The signature is checked before the expiry, so a tampered URL is ``forbidden`` even
        when it is also late, and ``link_expired`` always means an authentic URL.

        Raises:
            PermissionDeniedError: Signature or expiry missing, malformed or not matching
                (any changed byte of the path, the expiry or the signature).
            LinkExpiredError: Authentic, but used after its expiry.
        """
        exp_text = str(exp) if exp is not None else ""
        if sig is None or _SIG.fullmatch(sig) is None or _EXP.fullmatch(exp_text) is None:
            raise PermissionDeniedError("this URL is not validly signed")
        expected = self.signature(method, path, int(exp_text))
        # Constant time, so the signature cannot be guessed byte by byte from timings.
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise PermissionDeniedError("this URL is not validly signed")
        # ``exp`` is the first instant the URL is no longer good, as for the link's row.
        if self.clock() >= int(exp_text):
            raise LinkExpiredError("this URL has expired", expired_at=int(exp_text))
        return int(exp_text)


def load_signing_secret(settings: HubSettings) -> bytes:
    """The HMAC key for ``settings``.

    ``signing_secret`` when set. Otherwise, in embedded mode (no ``database_url``), the key
    in ``data_dir/signing.key``, created with 32 random bytes (mode 0600) on first use.

    Raises:
        SigningSecretMissingError: Distributed mode (``database_url`` set) without
            ``signing_secret``: each replica would invent its own key, and URLs signed by one
            would fail on the others.
    """
    if settings.signing_secret:
        return settings.signing_secret.encode()
    if settings.database_url:
        raise SigningSecretMissingError(
            "ARTIFACT_HUB_SIGNING_SECRET is required when database_url is set (distributed "
            "mode): every API replica must sign and verify links with the same secret. "
            "Set it to a long random string, e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`."
        )
    return _key_file_secret(Path(settings.data_dir) / SIGNING_KEY_FILE)


def _key_file_secret(path: Path) -> bytes:
    """Read the key file, creating it first (atomically, 0600) when it does not exist."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".signing-", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; the key is complete before it gets its name.
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails when the name exists, so two processes starting at once agree on the
        # first key instead of the second overwriting it.
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)
    finally:
        os.unlink(temp)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = text.encode()
    if len(key) < 16:
        raise SigningSecretMissingError(f"{path} holds no usable signing key; delete it")
    return key
