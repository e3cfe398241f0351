"""UrlSigner: HMAC-SHA256 over method, path and expiry; and where the secret comes from."""

from __future__ import annotations

import hashlib
import hmac
import stat
import time
from datetime import timedelta
from pathlib import Path

import pytest

from artifact_hub.core.errors import LinkExpiredError, PermissionDeniedError
from artifact_hub.core.settings import HubSettings
from artifact_hub.service.signing import (
    SIGNING_KEY_FILE,
    SigningSecretMissingError,
    UrlSigner,
    load_signing_secret,
)

SECRET = b"0123456789abcdef0123456789abcdef"
PATH = "/l/lnk_abcdefghijklmnop"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _signer(clock: Clock | None = None) -> UrlSigner:
    return UrlSigner(SECRET, clock=clock or Clock())


def _altered(text: str, index: int) -> str:
    """``text`` with one character replaced by another of the same kind."""
    c = text[index]
    if c.isdigit():
        replacement = "7" if c != "7" else "3"
    elif c.isalpha():
        replacement = "b" if c.lower() != "b" else "c"
        replacement = replacement.upper() if c.isupper() else replacement
    else:
        replacement = "x"
    return text[:index] + replacement + text[index + 1 :]


def test_signature_is_hmac_sha256_of_method_path_and_exp() -> None:
    expected = hmac.new(SECRET, b"GET\n/v1/signed/art_x/1\n1700000000", hashlib.sha256)
    assert _signer().signature("GET", "/v1/signed/art_x/1", 1_700_000_000) == expected.hexdigest()
    # The method is upper-cased, so "get" and "GET" sign the same thing.
    assert _signer().signature("get", PATH, 5) == _signer().signature("GET", PATH, 5)


def test_sign_then_verify_returns_the_expiry() -> None:
    clock = Clock()
    signer = _signer(clock)
    signed = signer.sign("GET", PATH, timedelta(hours=1))
    assert signed.exp == int(clock.now) + 3600
    assert signed.expires_at.timestamp() == signed.exp
    assert signer.verify("GET", PATH, str(signed.exp), signed.sig) == signed.exp
    assert signer.verify("GET", PATH, signed.exp, signed.sig) == signed.exp


def test_signed_url_layout() -> None:
    signed = _signer().sign("GET", PATH, 60)
    url = signed.url("https://hub.example.com/")
    assert url == f"https://hub.example.com{PATH}?exp={signed.exp}&sig={signed.sig}"
    assert signed.query == f"exp={signed.exp}&sig={signed.sig}"


@pytest.mark.parametrize("part", ["path", "exp", "sig"])
def test_every_single_altered_byte_is_forbidden(part: str) -> None:
    signer = _signer()
    signed = signer.sign("GET", PATH, 3600)
    original = {"path": PATH, "exp": str(signed.exp), "sig": signed.sig}[part]
    for index in range(len(original)):
        altered = _altered(original, index)
        assert altered != original
        values = {"path": PATH, "exp": str(signed.exp), "sig": signed.sig, part: altered}
        with pytest.raises(PermissionDeniedError) as caught:
            signer.verify("GET", values["path"], values["exp"], values["sig"])
        assert caught.value.code == "forbidden"
        assert caught.value.status == 403


@pytest.mark.parametrize(
    ("exp", "sig"),
    [
        (None, None),
        ("1700003600", None),
        (None, "a" * 64),
        ("", "a" * 64),
        ("-1", "a" * 64),
        ("17e8", "a" * 64),
        ("1700003600", "A" * 64),
        ("1700003600", "a" * 63),
        ("1700003600", "é" * 64),
        ("1700003600", "g" * 64),
    ],
)
def test_missing_or_malformed_parameters_are_forbidden(exp: str | None, sig: str | None) -> None:
    with pytest.raises(PermissionDeniedError):
        _signer().verify("GET", PATH, exp, sig)


def test_signature_does_not_carry_over_to_another_method_or_secret() -> None:
    signed = _signer().sign("PUT", "/v1/uploads/upl_x", 60)
    with pytest.raises(PermissionDeniedError):
        _signer().verify("GET", "/v1/uploads/upl_x", signed.exp, signed.sig)
    other = UrlSigner(b"another-secret-of-enough-length", clock=Clock())
    with pytest.raises(PermissionDeniedError):
        other.verify("PUT", "/v1/uploads/upl_x", signed.exp, signed.sig)


def test_late_use_is_link_expired() -> None:
    clock = Clock()
    signer = _signer(clock)
    signed = signer.sign("GET", PATH, 10)
    clock.now += 9.999
    signer.verify("GET", PATH, signed.exp, signed.sig)  # the last valid moment
    clock.now += 0.001
    with pytest.raises(LinkExpiredError) as caught:
        signer.verify("GET", PATH, signed.exp, signed.sig)
    assert (caught.value.code, caught.value.status) == ("link_expired", 410)


@pytest.mark.parametrize("fraction", [0.0, 0.001, 0.5, 0.999])
def test_a_url_lives_at_least_its_lifetime_whatever_the_fraction_of_a_second(
    fraction: float,
) -> None:
    # Signed at any point of a second, a one-second URL is good for one more second, and
    # for under two.
    clock = Clock(1_700_000_000.0 + fraction)
    signer = _signer(clock)
    signed = signer.sign("GET", PATH, 1)
    start = clock.now
    clock.now = start + 1 - 1e-6
    signer.verify("GET", PATH, signed.exp, signed.sig)
    clock.now = start + 2
    with pytest.raises(LinkExpiredError):
        signer.verify("GET", PATH, signed.exp, signed.sig)


def test_a_tampered_late_url_is_forbidden_not_expired() -> None:
    clock = Clock()
    signer = _signer(clock)
    signed = signer.sign("GET", PATH, 10)
    clock.now += 3600
    with pytest.raises(PermissionDeniedError):
        signer.verify("GET", PATH, signed.exp + 7200, signed.sig)  # pushed the expiry back


def test_default_clock_is_wall_time() -> None:
    signer = UrlSigner(SECRET)
    signed = signer.sign("GET", PATH, 100)
    assert abs(signed.exp - (time.time() + 100)) <= 1


@pytest.mark.parametrize("expires_in", [0, -5, timedelta(0)])
def test_lifetime_must_be_positive(expires_in: float | timedelta) -> None:
    with pytest.raises(ValueError):
        _signer().sign("GET", PATH, expires_in)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        UrlSigner(b"short")


# ---------------------------------------------------------------------------- the secret


def test_configured_secret_wins(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path, signing_secret="configured-secret-123456")
    assert load_signing_secret(settings) == b"configured-secret-123456"
    assert not (tmp_path / SIGNING_KEY_FILE).exists()


def test_embedded_mode_creates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path / "hub")
    first = load_signing_secret(settings)
    key_file = tmp_path / "hub" / SIGNING_KEY_FILE
    assert len(first) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    # Restarting reads the same key, so links made before the restart keep working.
    assert load_signing_secret(settings) == first
    assert [p.name for p in key_file.parent.iterdir()] == [SIGNING_KEY_FILE]  # no temp left
    other = load_signing_secret(HubSettings(data_dir=tmp_path / "other"))
    assert other != first


def test_a_key_file_without_a_usable_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / SIGNING_KEY_FILE).write_text("tiny\n")
    with pytest.raises(SigningSecretMissingError):
        load_signing_secret(HubSettings(data_dir=tmp_path))


def test_distributed_mode_requires_a_shared_secret(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path, database_url="postgresql://h/db")
    with pytest.raises(SigningSecretMissingError, match="SIGNING_SECRET"):
        load_signing_secret(settings)
    assert not (tmp_path / SIGNING_KEY_FILE).exists()
    shared = HubSettings(
        data_dir=tmp_path, database_url="postgresql://h/db", signing_secret="s" * 32
    )
    assert load_signing_secret(shared) == b"s" * 32
