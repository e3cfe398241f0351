"""CloudEvents 1.0 on Kafka (reference.md section 4): binary mode out, binary and structured in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersioned,
    EventBase,
    SessionSealed,
)
from artifact_hub.schemas.cloudevents import KafkaRecord, decode, encode, header_map

SHA = "cd" * 32
ART = "art_0123456789abcdef"
WHEN = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
ENVELOPE_FIELDS = {"type", "event_id", "occurred_at", "source"}


def _events() -> list[EventBase]:
    common: dict[str, Any] = {
        "tenant_id": "t1",
        "actor": "agent-a",
        "occurred_at": WHEN,
        "source": "artifact-hub/test",
    }
    return [
        ArtifactCreated(
            **common,
            artifact_id=ART,
            name="report.csv",
            sha256=SHA,
            size_bytes=12,
            content_type="text/csv",
            metadata={"run": "r1"},
            tags=["a", "b"],
            expires_at=WHEN + timedelta(days=30),
        ),
        ArtifactVersioned(
            **common, artifact_id=ART, seq=2, version=2, sha256=SHA, size_bytes=13, metadata=None
        ),
        ArtifactShared(
            **common,
            artifact_id=ART,
            seq=3,
            grants=[{"type": "agent", "id": "agent-b"}],
            revokes=[{"type": "group", "id": "g"}],
        ),
        ArtifactUpdated(
            **common, artifact_id=ART, seq=4, pinned=True, expiry={"expires_at": None}, tags=[]
        ),
        ArtifactDeleted(**common, artifact_id=ART, seq=5, version=None),
        ArtifactExpired(**common, artifact_id=ART, seq=6),
        SessionSealed(**common, session_id="ses_42"),
    ]


EVENTS = _events()
EVENT_IDS = [type(e).__name__ for e in EVENTS]


def _created(**overrides: Any) -> ArtifactCreated:
    return EVENTS[0].model_copy(update=overrides)  # type: ignore[return-value]


def _structured(event: EventBase) -> tuple[bytes, dict[str, str]]:
    record = encode(event)
    cloud_event = {
        "specversion": "1.0",
        "id": event.event_id,
        "source": event.source,
        "type": f"{event.type}.v1",
        "time": record.headers["ce_time"],
        "subject": event.subject,
        "datacontenttype": "application/json",
        "data": json.loads(record.value),
    }
    value = json.dumps(cloud_event).encode()
    return value, {"content-type": "application/cloudevents+json"}


def _rejected(value: bytes, headers: dict[str, str], *fragments: str) -> str:
    with pytest.raises(EventRejectedError) as info:
        decode(value, headers)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert info.value.code == "event_rejected"
    return message


# --- encode ---------------------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_encode_headers_are_exactly_the_reference_ones(event: EventBase) -> None:
    record = encode(event)
    assert isinstance(record, KafkaRecord)
    assert set(record.headers) == {
        "ce_specversion",
        "ce_id",
        "ce_source",
        "ce_type",
        "ce_time",
        "ce_subject",
        "ce_partitionkey",
        "content-type",
    }
    assert all(isinstance(v, str) for v in record.headers.values())
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["ce_id"] == event.event_id
    assert record.headers["ce_source"] == "artifact-hub/test"
    assert record.headers["ce_type"] == f"{event.type}.v1"
    assert record.headers["content-type"] == "application/json"
    assert record.headers["ce_time"].endswith("Z")
    assert datetime.fromisoformat(record.headers["ce_time"]) == WHEN
    expected_key = "ses_42" if isinstance(event, SessionSealed) else ART
    assert record.key == expected_key
    assert record.headers["ce_subject"] == expected_key
    assert record.headers["ce_partitionkey"] == expected_key


def test_encode_type_examples() -> None:
    assert encode(EVENTS[0]).headers["ce_type"] == "artifact.created.v1"
    assert encode(EVENTS[-1]).headers["ce_type"] == "session.sealed.v1"


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_encode_value_is_data_without_envelope_fields(event: EventBase) -> None:
    data = json.loads(encode(event).value)
    assert isinstance(data, dict)
    assert not ENVELOPE_FIELDS & set(data)
    assert data["tenant_id"] == "t1"
    assert data["actor"] == "agent-a"
    expected = event.model_dump(mode="json", exclude=ENVELOPE_FIELDS)
    assert data == expected


def test_encode_naive_time_is_utc_z() -> None:
    event = _created(occurred_at=datetime(2024, 1, 1, 0, 0))
    event = ArtifactCreated.model_validate(event.model_dump())
    assert encode(event).headers["ce_time"] == "2024-01-01T00:00:00Z"


def test_encode_non_utc_time_is_normalised_to_z() -> None:
    plus_two = timezone(timedelta(hours=2))
    event = ArtifactExpired(
        tenant_id="t", artifact_id=ART, seq=2, occurred_at=datetime(2024, 1, 1, 14, tzinfo=plus_two)
    )
    assert encode(event).headers["ce_time"] == "2024-01-01T12:00:00Z"


# --- decode: round trips --------------------------------------------------------------


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_decode_encode_round_trip(event: EventBase) -> None:
    record = encode(event)
    decoded = decode(record.value, record.headers)
    assert type(decoded) is type(event)
    assert decoded == event


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_decode_structured_mode(event: EventBase) -> None:
    value, headers = _structured(event)
    assert decode(value, headers) == event


def test_decode_structured_mode_without_content_type() -> None:
    value, _ = _structured(EVENTS[0])
    assert decode(value, {}) == EVENTS[0]


def test_decode_structured_content_type_with_parameters() -> None:
    value, _ = _structured(EVENTS[0])
    headers = {"content-type": "application/cloudevents+json; charset=utf-8"}
    assert decode(value, headers) == EVENTS[0]


def test_decode_binary_from_raw_kafka_header_list() -> None:
    record = encode(EVENTS[1])
    raw = [(name, value.encode()) for name, value in record.headers.items()]
    assert decode(record.value, header_map(raw)) == EVENTS[1]


def test_decode_ignores_envelope_fields_inside_data() -> None:
    record = encode(EVENTS[0])
    data = json.loads(record.value)
    data.update(type="session.sealed", event_id="forged", source="forged")
    decoded = decode(json.dumps(data).encode(), record.headers)
    assert decoded == EVENTS[0]


def test_decode_without_time_defaults_to_now() -> None:
    record = encode(EVENTS[0])
    headers = {k: v for k, v in record.headers.items() if k != "ce_time"}
    decoded = decode(record.value, headers)
    assert decoded.occurred_at.tzinfo is not None
    assert decoded.occurred_at > WHEN


# --- decode: rejections ---------------------------------------------------------------


def test_reject_invalid_json() -> None:
    record = encode(EVENTS[0])
    _rejected(b"{not json", record.headers, "JSON")


def test_reject_wrong_specversion_binary() -> None:
    record = encode(EVENTS[0])
    headers = {**record.headers, "ce_specversion": "0.3"}
    _rejected(record.value, headers, "specversion", "0.3")


def test_reject_missing_specversion() -> None:
    record = encode(EVENTS[0])
    headers = {k: v for k, v in record.headers.items() if k != "ce_specversion"}
    _rejected(record.value, headers, "specversion")


def test_reject_wrong_specversion_structured() -> None:
    value, headers = _structured(EVENTS[0])
    body = json.loads(value)
    body["specversion"] = "0.3"
    _rejected(json.dumps(body).encode(), headers, "specversion")


@pytest.mark.parametrize("ce_type", ["artifact.exploded.v1", "com.example.thing.v1", ""])
def test_reject_unknown_type(ce_type: str) -> None:
    record = encode(EVENTS[0])
    headers = {**record.headers, "ce_type": ce_type}
    _rejected(record.value, headers, "type", repr(ce_type))


@pytest.mark.parametrize(
    "ce_type", ["artifact.created", "artifact.created.v2", "artifact.createdv1"]
)
def test_reject_type_without_v1_suffix(ce_type: str) -> None:
    record = encode(EVENTS[0])
    headers = {**record.headers, "ce_type": ce_type}
    _rejected(record.value, headers, "type", ce_type)


@pytest.mark.parametrize("missing", ["drop", "empty"])
def test_reject_missing_id(missing: str) -> None:
    record = encode(EVENTS[0])
    headers = dict(record.headers)
    if missing == "drop":
        del headers["ce_id"]
    else:
        headers["ce_id"] = ""
    _rejected(record.value, headers, "id")


def test_reject_missing_id_structured() -> None:
    value, headers = _structured(EVENTS[0])
    body = json.loads(value)
    del body["id"]
    _rejected(json.dumps(body).encode(), headers, "id")


@pytest.mark.parametrize("value", [b"[1, 2]", b'"text"', b"42", b"null", b""])
def test_reject_data_not_an_object_binary(value: bytes) -> None:
    _rejected(value, encode(EVENTS[0]).headers, "data", "object")


@pytest.mark.parametrize("data", [[1], "text", None, 3])
def test_reject_data_not_an_object_structured(data: Any) -> None:
    value, headers = _structured(EVENTS[0])
    body = json.loads(value)
    body["data"] = data
    _rejected(json.dumps(body).encode(), headers, "data", "object")


def test_reject_structured_body_not_an_object() -> None:
    _rejected(b"[1, 2, 3]", {"content-type": "application/cloudevents+json"}, "object")


@pytest.mark.parametrize(
    ("field", "bad"),
    [("sha256", "not-a-sha"), ("size_bytes", -1), ("seq", 2), ("name", "")],
)
def test_reject_schema_violation_names_the_field(field: str, bad: Any) -> None:
    record = encode(EVENTS[0])
    data = json.loads(record.value)
    data[field] = bad
    message = _rejected(json.dumps(data).encode(), record.headers, field)
    assert "artifact.created.v1" in message


def test_reject_missing_required_field_names_it() -> None:
    record = encode(EVENTS[0])
    data = json.loads(record.value)
    del data["tenant_id"]
    _rejected(json.dumps(data).encode(), record.headers, "tenant_id")


def test_reject_unknown_field_names_it() -> None:
    record = encode(EVENTS[-1])
    data = json.loads(record.value)
    data["smuggled"] = True
    _rejected(json.dumps(data).encode(), record.headers, "smuggled")


def test_reject_bad_metadata_key_in_structured_mode() -> None:
    value, headers = _structured(EVENTS[0])
    body = json.loads(value)
    body["data"]["metadata"] = {"9lives": 1}
    _rejected(json.dumps(body).encode(), headers, "metadata")


def test_reject_no_ce_headers_and_no_structured_body() -> None:
    record = encode(EVENTS[0])
    message = _rejected(record.value, {"content-type": "application/json"}, "CloudEvent")
    assert "ce_type" in message or "structured" in message


def test_reject_plain_json_without_headers() -> None:
    _rejected(b'{"hello": "world"}', {}, "CloudEvent")


# --- header_map -----------------------------------------------------------------------


def test_header_map_list_of_byte_tuples() -> None:
    raw = [("ce_id", b"e1"), ("ce_type", b"artifact.created.v1"), ("content-type", b"x")]
    assert header_map(raw) == {"ce_id": "e1", "ce_type": "artifact.created.v1", "content-type": "x"}


def test_header_map_mapping_mixed_values() -> None:
    mapping = {"a": b"bytes", "b": "str", "c": 3, "d": None}
    assert header_map(mapping) == {"a": "bytes", "b": "str", "c": "3"}


def test_header_map_invalid_utf8_does_not_raise() -> None:
    result = header_map([("x", b"\xff\xfeok")])
    assert result["x"].endswith("ok")


def test_header_map_last_duplicate_wins() -> None:
    assert header_map([("k", b"1"), ("k", b"2")]) == {"k": "2"}


def test_header_map_empty() -> None:
    assert header_map([]) == {}
    assert header_map({}) == {}


# --- the CloudEvents Python SDK as a foreign producer ---------------------------------


def _sdk_data(event: EventBase) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude=ENVELOPE_FIELDS)


def _sdk_attributes(event: EventBase) -> dict[str, Any]:
    return {
        "id": event.event_id,
        "source": event.source,
        "type": f"{event.type}.v1",
        "time": event.occurred_at,
        "subject": event.subject,
        "datacontenttype": "application/json",
        "partitionkey": event.key,
    }


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_sdk_core_binary_mode_decodes(event: EventBase) -> None:
    pytest.importorskip("cloudevents")
    kafka = pytest.importorskip("cloudevents.core.bindings.kafka")
    from cloudevents.core.v1.event import CloudEvent

    message = kafka.to_binary_event(CloudEvent(_sdk_attributes(event), _sdk_data(event)))
    assert all(isinstance(v, bytes) for v in message.headers.values())
    assert message.key == event.key
    assert decode(message.value, header_map(message.headers)) == event


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_sdk_core_structured_mode_decodes(event: EventBase) -> None:
    pytest.importorskip("cloudevents")
    kafka = pytest.importorskip("cloudevents.core.bindings.kafka")
    from cloudevents.core.v1.event import CloudEvent

    message = kafka.to_structured_event(CloudEvent(_sdk_attributes(event), _sdk_data(event)))
    headers = header_map(message.headers)
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert decode(message.value, headers) == event


def test_sdk_core_decodes_what_we_encode() -> None:
    pytest.importorskip("cloudevents")
    kafka = pytest.importorskip("cloudevents.core.bindings.kafka")

    event = EVENTS[0]
    record = encode(event)
    message = kafka.KafkaMessage(
        headers={k: v.encode() for k, v in record.headers.items()},
        key=record.key,
        value=record.value,
    )
    parsed = kafka.from_binary_event(message)
    assert parsed.get_id() == event.event_id
    assert parsed.get_type() == "artifact.created.v1"
    assert parsed.get_source() == event.source
    assert parsed.get_subject() == ART
    assert parsed.get_time() == event.occurred_at
    assert parsed.get_data() == json.loads(record.value)


def test_sdk_foreign_type_rejected() -> None:
    pytest.importorskip("cloudevents")
    kafka = pytest.importorskip("cloudevents.core.bindings.kafka")
    from cloudevents.core.v1.event import CloudEvent

    attributes = {"type": "com.example.other", "source": "/elsewhere"}
    message = kafka.to_binary_event(CloudEvent(attributes, {"hello": "world"}))
    with pytest.raises(EventRejectedError, match=r"com\.example\.other"):
        decode(message.value, header_map(message.headers))


def _legacy_sdk() -> tuple[Any, Any]:
    """The SDK's 1.x API: ``cloudevents.v1.*`` in 2.x, ``cloudevents.*`` in 1.x."""
    pytest.importorskip("cloudevents")
    try:
        from cloudevents.v1 import kafka
        from cloudevents.v1.http import CloudEvent
    except ImportError:
        try:
            from cloudevents import kafka  # type: ignore[no-redef]
            from cloudevents.http import CloudEvent  # type: ignore[no-redef]
        except ImportError:
            pytest.skip("no CloudEvents SDK 1.x-style kafka API")
    return kafka, CloudEvent


@pytest.mark.parametrize("mode", ["binary", "structured"])
@pytest.mark.parametrize(
    "event", [EVENTS[0], EVENTS[3], EVENTS[-1]], ids=lambda e: type(e).__name__
)
def test_sdk_legacy_api_decodes(event: EventBase, mode: str) -> None:
    kafka, cloud_event_class = _legacy_sdk()
    attributes = _sdk_attributes(event)
    attributes["time"] = encode(event).headers["ce_time"]
    cloud_event = cloud_event_class(attributes, _sdk_data(event))
    message = kafka.to_binary(cloud_event) if mode == "binary" else kafka.to_structured(cloud_event)
    assert decode(message.value, header_map(message.headers)) == event
