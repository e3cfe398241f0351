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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from pydantic import ValidationError

from artifact_hub.errors import EventRejectedError
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


def decode(value: bytes, headers: Mapping[str, str]) -> HubEvent:
    """The event in a Kafka record, binary or structured mode.

    Raises:
        EventRejectedError: Not a CloudEvent, an unknown type or version, or a payload that
            does not match the event's schema (the message says which).
    """
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
