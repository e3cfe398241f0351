"""CloudEvents 1.0 on Kafka: binary mode out, binary and structured mode in.

Binary mode (what the hub publishes): the record value is the event's JSON ``data`` and the
envelope attributes are headers: ``ce_specversion``, ``ce_id``, ``ce_source``, ``ce_type``
(``artifact.created.v1``), ``ce_time``, ``ce_subject``, ``ce_partitionkey`` and
``content-type``. The key is the artifact id (the session id for ``session.sealed``).
Structured mode (accepted from other producers): the value is the whole CloudEvent as JSON
with content type ``application/cloudevents+json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import ValidationError

from artifact_hub.core.errors import EventRejectedError
from artifact_hub.schemas.events import EVENT_TYPES, EventBase, HubEvent, parse_event

__all__ = [
    "SPEC_VERSION",
    "KafkaRecord",
    "decode",
    "encode",
    "header_map",
]

SPEC_VERSION = "1.0"
TYPE_SUFFIX = ".v1"
_ENVELOPE_FIELDS = {"type", "event_id", "occurred_at", "source"}


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    """What goes on the wire for one event."""

    key: str
    value: bytes
    headers: dict[str, str]


def encode(event: EventBase) -> KafkaRecord:
    """The binary-mode record for an event."""
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": event.event_id,
        "ce_source": event.source,
        "ce_type": event.type + TYPE_SUFFIX,
        "ce_time": event.occurred_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ce_subject": event.subject,
        "ce_partitionkey": event.key,
        "content-type": "application/json",
    }
    value = event.model_dump_json(exclude=_ENVELOPE_FIELDS).encode()
    return KafkaRecord(key=event.key, value=value, headers=headers)


def header_map(headers: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Kafka headers (a list of ``(name, bytes)`` or a mapping) as a dict of strings."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, str] = {}
    for name, value in items:
        if isinstance(value, bytes):
            result[name] = value.decode("utf-8", errors="replace")
        elif value is not None:
            result[name] = str(value)
    return result


_quoted: Callable[[str], str] = encode_basestring_ascii
"""A string as a JSON string literal (what ``json.dumps`` makes of it)."""

# Per event type (the ``ce_type`` header): the model's own validator, and the envelope's
# constant start (``"type":"artifact.created"``) for the binary-mode fast path.
_BINARY_TYPES: dict[str, tuple[Any, bytes]] = {
    name + TYPE_SUFFIX: (cls.__pydantic_validator__, b'"type":' + json.dumps(name).encode())
    for name, cls in EVENT_TYPES.items()
}


def _decode_binary(value: bytes, headers: Mapping[str, str]) -> HubEvent | None:
    """A binary-mode record the hub's way, in one pass; None: take the general path.

    The payload bytes are validated as JSON by the event type's own model, with the envelope
    attributes appended as the object's last members: on a duplicate key the last one wins
    (as the general path drops envelope fields from ``data``). Anything unusual (no
    ``ce_time``, a value that is not a plain ``{...}``, an invalid payload) returns None, and
    :func:`decode` answers as it always did, with its own error messages.
    """
    found = _BINARY_TYPES.get(headers.get("ce_type", ""))
    if found is None or headers.get("ce_specversion") != SPEC_VERSION:
        return None
    event_id = headers.get("ce_id")
    time = headers.get("ce_time")
    if not event_id or not time or value[:1] != b"{" or value[-1:] != b"}":
        return None
    validator, envelope = found
    tail = b'%s,"event_id":%s,"source":%s,"occurred_at":%s}' % (
        envelope,
        _quoted(event_id).encode(),
        _quoted(headers.get("ce_source") or "unknown").encode(),
        _quoted(time).encode(),
    )
    head = value[:-1]
    document = head + b"," + tail if head[1:].strip() else b"{" + tail
    try:
        event: HubEvent = validator.validate_json(document)
    except ValidationError:
        return None
    return event


def decode(value: bytes, headers: Mapping[str, str]) -> HubEvent:
    """The event in a Kafka record, binary or structured mode.

    Raises:
        EventRejectedError: Not a CloudEvent, an unknown type or version, or a payload that
            does not match the event's schema (the message says which).
    """
    if value and "ce_type" in headers:
        event = _decode_binary(value, headers)
        if event is not None:
            return event
    try:
        body = json.loads(value) if value else None
    except ValueError as error:
        raise EventRejectedError(f"value is not JSON: {error}") from error
    content_type = headers.get("content-type", "")
    if "ce_type" in headers:
        attributes = {
            "specversion": headers.get("ce_specversion"),
            "id": headers.get("ce_id"),
            "source": headers.get("ce_source"),
            "type": headers.get("ce_type"),
            "time": headers.get("ce_time"),
        }
        data = body
    elif content_type.startswith("application/cloudevents+json") or (
        isinstance(body, dict) and "specversion" in body and "data" in body
    ):
        if not isinstance(body, dict):
            raise EventRejectedError("structured CloudEvent is not a JSON object")
        attributes = body
        data = body.get("data")
    else:
        raise EventRejectedError("not a CloudEvent: no ce_type header and no structured body")
    if attributes.get("specversion") != SPEC_VERSION:
        raise EventRejectedError(
            f"unsupported CloudEvents specversion {attributes.get('specversion')!r}"
        )
    ce_type = str(attributes.get("type") or "")
    if not ce_type.endswith(TYPE_SUFFIX) or ce_type[: -len(TYPE_SUFFIX)] not in EVENT_TYPES:
        raise EventRejectedError(f"unknown event type {ce_type!r}")
    if not isinstance(data, dict):
        raise EventRejectedError("event data is not a JSON object")
    if not attributes.get("id"):
        raise EventRejectedError("event has no id")
    document: dict[str, Any] = {
        **{k: v for k, v in data.items() if k not in _ENVELOPE_FIELDS},
        "type": ce_type[: -len(TYPE_SUFFIX)],
        "event_id": attributes["id"],
        "source": attributes.get("source") or "unknown",
    }
    if attributes.get("time"):
        document["occurred_at"] = attributes["time"]
    try:
        return parse_event(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise EventRejectedError(f"invalid {ce_type} payload: {problems}") from error
