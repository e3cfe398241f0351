"""Event digests and the binary-mode decode fast path keep their old results exactly.

``event_digest`` is stored in ``processed_events`` and compared on redelivery and rebuild: a
digest stored by an older hub must still match, so the canonical form may get faster but
never different. The oracle below is the original implementation, copied.

``decode`` validates a hub record's bytes in one pass; the result must be the event the
general path (``json.loads``, envelope from the headers, ``parse_event``) makes of it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from artifact_hub.adapters.index.projector import event_digest, label_value
from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    Principal,
    SessionSealed,
)
from artifact_hub.schemas.cloudevents import _decode_binary, decode, encode
from artifact_hub.schemas.events import ExpiryChange, parse_event
from artifact_hub.schemas.lineage import Lineage, LineageInput


def old_event_digest(event: EventBase) -> str:
    """The original ``event_digest``: the oracle."""
    document = json.dumps(
        event.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(document.encode()).hexdigest()


def old_decode(value: bytes, headers: dict[str, str]) -> EventBase:
    """The original binary-mode decode (``json.loads``, then ``parse_event``): the oracle."""
    data = json.loads(value)
    assert isinstance(data, dict)
    document: dict[str, Any] = {
        **{k: v for k, v in data.items() if k not in {"type", "event_id", "occurred_at", "source"}},
        "type": headers["ce_type"].removesuffix(".v1"),
        "event_id": headers["ce_id"],
        "source": headers.get("ce_source") or "unknown",
    }
    if headers.get("ce_time"):
        document["occurred_at"] = headers["ce_time"]
    return parse_event(document)


SHA = "ab" * 32
ART = "art_0123456789abcdef"
WHEN = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
ODD_FLOATS = [0.1, 1e16, 1e-05, 1.5e300, -0.0, 2.5, 123456789.125, 1e22, 5e-324, 1 / 3]


def _events() -> list[EventBase]:
    common: dict[str, Any] = {"tenant_id": "t1", "actor": "agent-a", "occurred_at": WHEN}
    nested: dict[str, Any] = {
        "zeta": [1, 2.0, {"b": None, "a": True, "ä": "ü"}],
        "alpha": {"inner": {"z": 1, "Z": 2, "_": 3}, "floats": ODD_FLOATS},
        "big": 2**70,
        "neg": -(2**63),
        "text": 'quote " backslash \\ tab \t newline \n nul \x00 del \x7f ls \u2028',
        "emoji": "🙂 snowman ☃ 日本語",
    }
    return [
        ArtifactCreated(**common, artifact_id=ART, name="report.csv", sha256=SHA, size_bytes=12),
        ArtifactCreated(
            **common,
            artifact_id=ART,
            name="résumé 📄.csv",
            namespace="ns-ü",
            sha256=SHA,
            size_bytes=2**40,
            content_type="text/csv; charset=utf-8",
            metadata={"run": "r1", "nested": nested, "f": 0.30000000000000004, "E": 1e100},
            labels={"stage": "prod", "weight": 0.5, "list": ["x", 1, None]},
            tags=["b", "a", "ü", "🙂"],
            metrics={"loss": 0.0001, "acc": 99.5, "steps": 10**6, "tiny": 1e-7},
            pinned=True,
            uri="s3://bucket/key?x=1&y=ü",
            expires_at=WHEN + timedelta(days=30),
            lineage=Lineage(
                run_id="run-1",
                workflow_id="wf",
                step_id="step",
                inputs=[LineageInput(artifact_id="art_b", version=2)],
            ),
        ),
        ArtifactVersioned(
            **common, artifact_id=ART, seq=2, version=2, sha256=SHA, size_bytes=13, metadata=None
        ),
        ArtifactVersioned(
            tenant_id="t1",
            occurred_at=datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
            artifact_id=ART,
            seq=3,
            version=3,
            sha256=SHA,
            size_bytes=0,
            metadata={"k": [0.1, 0.2], "Key-2": {"nested": {"deeper": [{}]}}},
            lineage=Lineage(run_id="r"),
        ),
        ArtifactShared(
            **common,
            artifact_id=ART,
            seq=4,
            grants=[Principal(type="agent", id="agent-b"), Principal(type="group", id="ünï")],
            revokes=[Principal(type="group", id="g")],
        ),
        ArtifactUpdated(
            **common,
            artifact_id=ART,
            seq=5,
            pinned=False,
            expiry=ExpiryChange(expires_at=None),
            metadata={},
            labels={"a": 1.25},
            tags=[],
            metrics={"m": -1e-10},
        ),
        ArtifactUpdated(**common, artifact_id=ART, seq=6, expiry=ExpiryChange(expires_at=WHEN)),
        ArtifactDeleted(**common, artifact_id=ART, seq=7, version=2),
        ArtifactDeleted(**common, artifact_id=ART, seq=8, purged=True),
        ArtifactExpired(**common, artifact_id=ART, seq=9),
        SessionSealed(**common, session_id="ses_42"),
        SessionSealed(tenant_id="t2", session_id="séance", source="elsewhere", actor=None),
    ]


EVENTS = _events()
IDS = [f"{i}-{e.type}" for i, e in enumerate(EVENTS)]


@pytest.mark.parametrize("event", EVENTS, ids=IDS)
def test_digest_equals_the_original_implementation(event: EventBase) -> None:
    assert event_digest(event) == old_event_digest(event)


@pytest.mark.parametrize("event", EVENTS, ids=IDS)
def test_digest_survives_the_wire(event: EventBase) -> None:
    record = encode(event)
    decoded = decode(record.value, record.headers)
    assert event_digest(decoded) == old_event_digest(decoded) == old_event_digest(event)


def test_digest_of_a_known_event_is_pinned() -> None:
    """A digest an older hub stored: the value itself must never change."""
    event = ArtifactCreated(
        event_id="e1",
        occurred_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        tenant_id="t",
        artifact_id="a",
        name="n",
        sha256="0" * 64,
        size_bytes=1,
        metadata={"f": 0.5, "u": "🙂", "n": {"ü": [1e16, 1e-05]}},
    )
    pinned = "f196eb2cc83a2d0066f4f491d1629947104aa0beef162be5a6cb7b5278833fe2"
    assert old_event_digest(event) == pinned
    assert event_digest(event) == pinned


def test_digest_with_non_finite_floats_matches() -> None:
    event = ArtifactUpdated(
        tenant_id="t", artifact_id="a", seq=2, metrics={"nan": float("nan"), "inf": float("inf")}
    )
    assert event_digest(event) == old_event_digest(event)


@pytest.mark.parametrize("event", EVENTS, ids=IDS)
def test_fast_decode_equals_the_general_path(event: EventBase) -> None:
    record = encode(event)
    fast = _decode_binary(record.value, record.headers)
    assert fast is not None
    assert fast == old_decode(record.value, record.headers)
    assert type(fast) is type(event)
    assert fast == event


def _headers(event_type: str = "artifact.created", **changes: str | None) -> dict[str, str]:
    headers: dict[str, str | None] = {
        "ce_specversion": "1.0",
        "ce_id": "evt-1",
        "ce_source": "producer/x",
        "ce_type": event_type + ".v1",
        "ce_time": "2024-05-01T12:30:15.5Z",
        "content-type": "application/json",
    }
    headers.update(changes)
    return {k: v for k, v in headers.items() if v is not None}


def _payload(**extra: Any) -> dict[str, Any]:
    return {
        "tenant_id": "t1",
        "artifact_id": ART,
        "name": "n",
        "sha256": SHA,
        "size_bytes": 3,
        **extra,
    }


@pytest.mark.parametrize(
    "value",
    [
        json.dumps(_payload()).encode(),
        json.dumps(_payload(), indent=2).encode(),  # whitespace and newlines
        json.dumps(_payload(labels={"é": "ü"}), ensure_ascii=True).encode(),  # \\u escapes
        json.dumps(_payload(labels={"é": "ü"}), ensure_ascii=False).encode(),
        # Envelope fields inside data are ignored: the headers say what they are.
        json.dumps(
            _payload(
                type="artifact.deleted",
                event_id="other",
                source="s",
                occurred_at="2020-01-01T00:00:00Z",
            )
        ).encode(),
        b'{"\\u0074ype": "artifact.deleted", "event_\\u0069d": "x", '
        + json.dumps(_payload())[1:].encode(),  # escaped envelope keys: still ignored
        json.dumps(_payload(size_bytes="7", pinned="true", metadata={"n": 1e400})).encode(),
        json.dumps(_payload(metadata={"big": 10**30, "neg0": -0.0})).encode(),
        # A duplicate key: the last one wins, on both paths.
        b'{"name": "first", ' + json.dumps(_payload(name="second"))[1:].encode(),
    ],
)
def test_fast_decode_of_foreign_payloads_equals_the_general_path(value: bytes) -> None:
    headers = _headers()
    fast = _decode_binary(value, headers)
    assert fast is not None
    assert fast == old_decode(value, headers)
    assert decode(value, headers) == fast
    assert event_digest(fast) == old_event_digest(old_decode(value, headers))


def test_fast_decode_without_source_uses_unknown() -> None:
    value = json.dumps(_payload()).encode()
    headers = _headers(ce_source=None)
    fast = _decode_binary(value, headers)
    assert fast is not None and fast.source == "unknown"
    assert fast == old_decode(value, headers)


def test_fast_decode_of_an_empty_object_fails_like_the_general_path() -> None:
    headers = _headers("artifact.expired")
    assert _decode_binary(b"{}", headers) is None
    with pytest.raises(EventRejectedError, match=r"invalid artifact\.expired\.v1 payload"):
        decode(b"{}", headers)
    headers = _headers("session.sealed")
    value = b'{ "tenant_id": "t", "session_id": "s" }'
    assert decode(value, headers) == old_decode(value, headers)
    assert decode(b'{"tenant_id":"t","session_id":"s"}', headers).tenant_id == "t"


@pytest.mark.parametrize(
    ("value", "headers", "accepted"),
    [
        (json.dumps(_payload()).encode(), _headers(ce_time=None), True),  # time: now
        (json.dumps(_payload()).encode(), _headers(ce_specversion="0.3"), False),
        (json.dumps(_payload()).encode(), _headers("artifact.nope"), False),
        (json.dumps(_payload()).encode(), _headers(ce_id=""), False),
        (b" " + json.dumps(_payload()).encode() + b"\n", _headers(), True),  # not plain {...}
        (b'[{"a": 1}]', _headers(), False),
        (b'{"name": "x\x01y"}', _headers(), False),  # a raw control character: not JSON
        (json.dumps(_payload(labels={"s": "\ud800"})).encode(), _headers(), True),  # surrogate
        (json.dumps(_payload(sha256="nope")).encode(), _headers(), False),  # invalid payload
        (json.dumps(_payload(bogus=1)).encode(), _headers(), False),
        (json.dumps(_payload())[:-1].encode() + b",}", _headers(), False),  # trailing comma
        (b'{"name":"}', _headers(), False),  # an unterminated string
    ],
)
def test_unusual_records_take_the_general_path(
    value: bytes, headers: dict[str, str], accepted: bool
) -> None:
    assert _decode_binary(value, headers) is None
    if not accepted:
        with pytest.raises(EventRejectedError):
            decode(value, headers)
        return
    expected = old_decode(value, headers)
    got = decode(value, headers)
    assert got.model_dump(exclude={"occurred_at"}) == expected.model_dump(exclude={"occurred_at"})
    if "ce_time" in headers:
        assert got == expected


def test_fast_decode_keeps_the_rejection_messages() -> None:
    value = json.dumps(_payload(sha256="nope")).encode()
    with pytest.raises(EventRejectedError) as caught:
        decode(value, _headers())
    assert "invalid artifact.created.v1 payload: artifact.created.sha256:" in caught.value.message


@pytest.mark.parametrize(
    "value",
    ["", "plain", 'q"uote\\back', "tab\tnl\nnul\x00del\x7f", "ü日本🙂\u2028", "x" * 600, "é" * 300],
)
def test_label_value_of_a_string_is_unchanged(value: str) -> None:
    old = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)[:512]
    assert label_value(value) == old
