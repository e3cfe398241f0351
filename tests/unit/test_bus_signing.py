"""Event signatures (x-ah-signature): what they cover, what they refuse, the signing publisher."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import replace

import pytest
from tests.factories import created

from artifact_hub.adapters.bus import EventPublisher, KafkaRecord, encode
from artifact_hub.adapters.bus.signing import (
    SIGNATURE_HEADER,
    SignatureError,
    SigningPublisher,
    sign_record,
    signature_for,
    verify_record,
)

SECRET = "ahis_test-secret"


def test_the_signature_is_the_documented_hmac() -> None:
    record = encode(created())
    h = record.headers
    base = "\n".join([h["ce_id"], h["ce_type"], h["ce_source"], h["ce_time"], record.key])
    expected = hmac.new(SECRET.encode(), base.encode() + b"\n" + record.value, hashlib.sha256)
    assert signature_for(record, SECRET) == "sha256=" + expected.hexdigest()
    assert sign_record(record, SECRET).headers[SIGNATURE_HEADER] == signature_for(record, SECRET)


def test_a_signed_record_verifies_with_its_secret_only() -> None:
    record = sign_record(encode(created()), SECRET)
    assert verify_record(record, [SECRET])
    assert verify_record(record, ["ahis_other", SECRET])  # e.g. current and previous
    assert not verify_record(record, ["ahis_other"])
    assert not verify_record(record, [])


@pytest.mark.parametrize("header", ["ce_id", "ce_type", "ce_source", "ce_time"])
def test_changing_a_signed_header_breaks_the_signature(header: str) -> None:
    record = sign_record(encode(created()), SECRET)
    changed = replace(record, headers={**record.headers, header: record.headers[header] + "x"})
    assert not verify_record(changed, [SECRET])


def test_changing_the_key_or_the_value_breaks_the_signature() -> None:
    record = sign_record(encode(created()), SECRET)
    assert not verify_record(replace(record, key=record.key + "x"), [SECRET])
    assert not verify_record(replace(record, value=record.value + b" "), [SECRET])


def test_missing_malformed_and_ambiguous_signatures_are_refused() -> None:
    record = encode(created())
    with pytest.raises(SignatureError) as missing:
        verify_record(record, [SECRET])
    assert missing.value.reason == "missing_signature"
    malformed = replace(record, headers={**record.headers, SIGNATURE_HEADER: "md5=abc"})
    with pytest.raises(SignatureError) as bad:
        verify_record(malformed, [SECRET])
    assert bad.value.reason == "bad_signature"
    newline = sign_record(record, SECRET)
    newline = replace(newline, headers={**newline.headers, "ce_source": "a\nb"})
    with pytest.raises(SignatureError):
        verify_record(newline, [SECRET])


class _Collect(EventPublisher):
    def __init__(self) -> None:
        self.items: list[tuple[str, KafkaRecord]] = []
        self.stopped = False

    async def publish_many(self, items: Sequence[tuple[str, KafkaRecord]]) -> None:
        self.items.extend(items)

    async def stop(self) -> None:
        self.stopped = True


async def test_the_signing_publisher_signs_everything_and_fetches_its_secret_once() -> None:
    inner, calls = _Collect(), []

    async def secret() -> str:
        calls.append(1)
        return SECRET

    publisher = SigningPublisher(inner, secret)
    await publisher.publish_many([("t", encode(created())), ("t", encode(created()))])
    await publisher.publish_many([("t", encode(created()))])
    await publisher.stop()
    assert len(inner.items) == 3 and len(calls) == 1 and inner.stopped
    assert all(verify_record(record, [SECRET]) for _, record in inner.items)
