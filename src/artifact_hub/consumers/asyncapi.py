"""The event contract as an AsyncAPI 3.0 document, generated from the code.

:func:`build_contract_broker` declares, on a FastStream ``KafkaBroker`` that never connects,
what the hub publishes (one publisher per artifact topic, its payload the event's JSON data
from :mod:`artifact_hub.schemas.events`), what the index consumer subscribes (the real
:func:`~artifact_hub.consumers.app.subscribe_index_consumer`), and the dead-letter topic.
FastStream turns that into AsyncAPI; :func:`contract_document` then adds what FastStream
cannot say by itself: the CloudEvents headers, the Kafka key, the consumer group, structured
mode on the way in. The result is deterministic, and ``docs/asyncapi.yaml`` holds a copy that
a test compares with a fresh one. Regenerate it with::

    python -m artifact_hub.consumers.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Sequence
from typing import Any

import yaml
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, ConfigDict, create_model
from pydantic.fields import FieldInfo

from artifact_hub.adapters.bus.signing import SIGNATURE_HEADER
from artifact_hub.consumers.app import subscribe_index_consumer
from artifact_hub.consumers.projection import IndexConsumer
from artifact_hub.consumers.validation import RejectReason
from artifact_hub.plugin.bootstrap import build_database
from artifact_hub.schemas.cloudevents import SPEC_VERSION, TYPE_SUFFIX
from artifact_hub.schemas.events import DLQ_TOPIC, EVENT_TYPES, METADATA_KEY_PATTERN, EventBase

__all__ = [
    "ENVELOPE_HEADERS",
    "INDEX_GROUP_ID",
    "build_contract_broker",
    "contract_document",
    "payload_model",
    "render_asyncapi",
]

ASYNCAPI_VERSION = "3.0.0"
INDEX_GROUP_ID = "artifact-hub-index"
PUBLISHER_TITLE = "artifact-hub"
DLQ_TITLE = "artifact-hub-index"
BINDING_VERSION = "0.4.0"

ENVELOPE_HEADERS: dict[str, str] = {
    "event_id": "ce_id",
    "source": "ce_source",
    "type": "ce_type",
    "occurred_at": "ce_time",
}
"""Model fields that travel as CloudEvents headers, not in the record value."""

_DESCRIPTION = """\
Every change to the hub is one event on Kafka, published from a transactional outbox in
order. Events are CloudEvents 1.0 in Kafka **binary mode**: the record value is the event's
JSON data (the payload schemas below), and the envelope attributes are headers: `ce_specversion`
(`1.0`), `ce_id` (unique event id), `ce_source`, `ce_type` (the topic plus `.v1`, e.g.
`artifact.created.v1`), `ce_time` (UTC, ending in `Z`), `ce_subject` and `ce_partitionkey`
(both the key), and `content-type: application/json`.

The key is the artifact id (the session id for `session.sealed`), so every event of one
artifact lands on one partition of each topic. An artifact's events carry `seq`, its revision
after the event (1 for `artifact.created`, one more per event); they span several topics, so a
consumer may see them out of order and uses `seq` to apply each exactly once, in order.

Delivery is at least once: a consumer records every applied `ce_id` in the same transaction
as its change, so redelivery and replay are no-ops. The hub's index consumer also accepts
**structured mode** (`content-type: application/cloudevents+json`, the whole CloudEvent as the
value) from other producers. Records it cannot apply go, unchanged, to the dead-letter topic
with the reason in the `x-dlq-reason` header: `<code>: <detail>`, the code one of those listed
on the `artifact.dlq` message.

Every record is signed: `x-ah-signature: sha256=<hex HMAC-SHA256(secret, base)>` with
`base = ce_id \\n ce_type \\n ce_source \\n ce_time \\n key \\n value` (headers empty when absent,
the value as sent). The hub signs its own events with its bus secret; an agent publishing
events itself (message-bus ingestion) signs with its tenant's ingestion secret
(`artifact-hub admin ingestion-secret`), and its events are then checked in full (tenant,
schema, sealed session, blob present with the stated size and sha256) before they touch the
index. A deployment that marks its bus as trusted (`ARTIFACT_HUB_TRUSTED_BUS`) skips the
signature check.

Topic names may carry a deployment prefix (`ARTIFACT_HUB_TOPIC_PREFIX`).
"""


def _doc(obj: object) -> str:
    return inspect.cleandoc(obj.__doc__ or "")


def payload_model(event_type: type[EventBase]) -> type[BaseModel]:
    """The record value of ``event_type``: its fields without the envelope attributes."""
    fields: dict[str, Any] = {}
    for name, info in event_type.model_fields.items():
        if name in ENVELOPE_HEADERS:
            continue
        if name == "metadata":  # the validator's rule, stated in the schema
            keys = {"propertyNames": {"pattern": METADATA_KEY_PATTERN.pattern}}
            info = FieldInfo.merge_field_infos(info, json_schema_extra=keys)
        fields[name] = (info.annotation, info)
    model: type[BaseModel] = create_model(
        event_type.__name__,
        __config__=ConfigDict(frozen=True, extra="forbid"),
        __doc__=_doc(event_type),
        **fields,
    )
    return model


def build_contract_broker(
    prefix: str = "",
    *,
    bootstrap_servers: str = "kafka:9092",
    group_id: str = INDEX_GROUP_ID,
) -> KafkaBroker:
    """A broker that declares the event contract (it is never started).

    Publishers: every artifact topic (the payload model of its event) and the dead-letter
    topic. Subscriber: the index consumer, attached by the same function the consumer
    processes use, so its topics and group are the real ones.
    """
    broker = KafkaBroker(
        bootstrap_servers,
        description="A Kafka cluster (or any Kafka-protocol broker) the hub publishes to.",
        logger=None,
    )
    for topic, event_type in EVENT_TYPES.items():
        broker.publisher(
            prefix + topic,
            title=f"{PUBLISHER_TITLE}:{prefix}{topic}",
            description=_doc(event_type),
            schema=payload_model(event_type),
        )
    broker.publisher(
        prefix + DLQ_TOPIC,
        title=f"{DLQ_TITLE}:{prefix}{DLQ_TOPIC}",
        description=(
            "Records the index consumer could not apply (not a CloudEvent, unknown type, "
            "a payload that breaks its schema, an event whose predecessor never arrived), "
            "published unchanged: the same key, value and headers, plus `x-dlq-reason` and "
            "`x-dlq-topic`."
        ),
        schema=bytes,
    )
    consumer = IndexConsumer(build_database("sqlite:///:memory:"))  # never connects
    subscribe_index_consumer(broker, consumer, group_id=group_id, topic_prefix=prefix)
    return broker


# ------------------------------------------------------------------------------ enrichment


def _headers_schema(event_type: type[EventBase]) -> dict[str, Any]:
    key_is = "session id" if event_type.topic == "session.sealed" else "artifact id"
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes, Kafka binary mode.",
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_subject",
            "ce_partitionkey",
            "content-type",
        ],
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": {
                "type": "string",
                "maxLength": 128,
                "description": "Unique event id; consumers skip ids they already applied.",
            },
            "ce_source": {
                "type": "string",
                "description": "Who produced the event (`artifact-hub` by default).",
            },
            "ce_type": {"type": "string", "const": event_type.topic + TYPE_SUFFIX},
            "ce_time": {
                "type": "string",
                "format": "date-time",
                "description": "When the change happened, in UTC, ending in `Z`.",
            },
            "ce_subject": {"type": "string", "description": f"The {key_is} (the key)."},
            "ce_partitionkey": {"type": "string", "description": f"The {key_is} (the key)."},
            "content-type": {"type": "string", "const": "application/json"},
            "correlation_id": {
                "type": "string",
                "description": "Set by FastStream's producer; carries no meaning here.",
            },
            SIGNATURE_HEADER: {
                "type": "string",
                "pattern": "^sha256=[0-9a-f]{64}$",
                "description": "HMAC-SHA256 of the record (see the description at the top); "
                "required unless the bus is trusted.",
            },
        },
    }


def _structured_schema(payload_ref: str, event_type: type[EventBase]) -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "A whole CloudEvent as the value (structured mode, `content-type: "
            "application/cloudevents+json`), as other CloudEvents producers may send it."
        ),
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"type": "string", "const": SPEC_VERSION},
            "id": {"type": "string", "maxLength": 128},
            "source": {"type": "string"},
            "type": {"type": "string", "const": event_type.topic + TYPE_SUFFIX},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "data": {"$ref": payload_ref},
        },
    }


def _key_binding(event_type: type[EventBase] | None) -> dict[str, Any]:
    if event_type is None:
        description = "The key of the rejected record, unchanged."
    elif event_type.topic == "session.sealed":
        description = "The session id."
    else:
        description = "The artifact id: an artifact's events share a partition."
    key = {"type": "string", "description": description}
    return {"kafka": {"key": key, "bindingVersion": BINDING_VERSION}}


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1].replace("%20", " ")


def contract_document(prefix: str = "", *, group_id: str = INDEX_GROUP_ID) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of the event contract, as plain data."""
    from artifact_hub.core.version import __version__

    broker = build_contract_broker(prefix, group_id=group_id)
    spec = AsyncAPI(
        broker,
        title="artifact-hub events",
        version=__version__,
        description=_DESCRIPTION,
        schema_version=ASYNCAPI_VERSION,
    ).to_specification()
    doc: dict[str, Any] = spec.to_jsonable()
    messages: dict[str, Any] = doc["components"]["messages"]
    schemas: dict[str, Any] = doc["components"]["schemas"]
    by_topic = {prefix + topic: cls for topic, cls in EVENT_TYPES.items()}
    payload_refs = {
        prefix + topic: f"#/components/schemas/{cls.__name__}" for topic, cls in EVENT_TYPES.items()
    }
    dropped_schemas: set[str] = set()

    for channel_name, channel in doc["channels"].items():
        address: str = channel["address"]
        event_type = by_topic.get(address)
        for message_key, ref in list(channel["messages"].items()):
            message = messages[_ref_name(ref["$ref"])]
            message.pop("correlationId", None)
            if address == prefix + DLQ_TOPIC:
                message["summary"] = "A record the index consumer could not apply."
                message["headers"] = {
                    "type": "object",
                    "description": "The rejected record's headers, and these two.",
                    "required": ["x-dlq-reason", "x-dlq-topic"],
                    "properties": {
                        "x-dlq-reason": {
                            "type": "string",
                            "maxLength": 1000,
                            "pattern": "^(" + "|".join(RejectReason) + "): ",
                            "description": "`<code>: <detail>`; the codes: "
                            + ", ".join(f"`{code}`" for code in RejectReason)
                            + ".",
                        },
                        "x-dlq-topic": {
                            "type": "string",
                            "description": "The topic the record came from.",
                        },
                    },
                }
                message["bindings"] = _key_binding(None)
                continue
            if event_type is None:  # pragma: no cover - every channel is a topic of ours
                raise RuntimeError(f"channel {channel_name!r} has an unknown address {address!r}")
            if message_key == "SubscribeMessage":  # the raw decoder: say what it decodes
                dropped_schemas.add(_ref_name(message["payload"]["$ref"]))
                message["payload"] = {"$ref": payload_refs[address]}
            message["name"] = event_type.topic + TYPE_SUFFIX
            message["summary"] = _doc(event_type).splitlines()[0]
            message["contentType"] = "application/json"
            message["headers"] = _headers_schema(event_type)
            message["bindings"] = _key_binding(event_type)
            if message_key == "SubscribeMessage":
                structured_name = f"{_ref_name(ref['$ref'])[: -len('Message')]}StructuredMessage"
                messages[structured_name] = {
                    "title": structured_name,
                    "name": event_type.topic + TYPE_SUFFIX,
                    "summary": "The same event in CloudEvents structured mode.",
                    "contentType": "application/cloudevents+json",
                    "payload": _structured_schema(payload_refs[address], event_type),
                    "bindings": _key_binding(event_type),
                }
                channel["messages"]["StructuredMessage"] = {
                    "$ref": f"#/components/messages/{structured_name.replace(' ', '%20')}"
                }

    for operation in doc["operations"].values():
        if operation["action"] != "receive":
            continue
        channel_ref: str = operation["channel"]["$ref"]
        operation["messages"].append({"$ref": f"{channel_ref}/messages/StructuredMessage"})
        operation["description"] = (
            "The index consumer applies every event to the index, idempotently and in `seq` "
            "order; offsets are committed after the index transaction."
        )
        operation["bindings"] = {
            "kafka": {
                "groupId": {"type": "string", "enum": [group_id]},
                "bindingVersion": BINDING_VERSION,
            }
        }

    for name in dropped_schemas:
        schemas.pop(name, None)
    doc["channels"] = dict(sorted(doc["channels"].items()))
    doc["operations"] = dict(sorted(doc["operations"].items()))
    doc["components"]["messages"] = dict(sorted(messages.items()))
    doc["components"]["schemas"] = dict(sorted(schemas.items()))
    first = ("asyncapi", "info", "defaultContentType", "servers", "channels", "operations")
    return {
        **{key: doc[key] for key in first if key in doc},
        **{key: value for key, value in doc.items() if key not in first},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so descriptions read as written."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def render_asyncapi(prefix: str = "", *, fmt: str = "yaml") -> str:
    """The contract as YAML (``fmt="yaml"``) or JSON (``fmt="json"``) text."""
    doc = contract_document(prefix)
    if fmt == "json":
        import json

        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if fmt != "yaml":
        raise ValueError(f"unknown format {fmt!r}: yaml or json")
    text: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m artifact_hub.consumers.asyncapi [--prefix P] [--json]``: print the document."""
    import argparse

    parser = argparse.ArgumentParser(description=_doc(sys.modules[__name__]).splitlines()[0])
    parser.add_argument("--prefix", default="", help="topic prefix of the deployment")
    parser.add_argument("--json", action="store_true", help="JSON instead of YAML")
    args = parser.parse_args(argv)
    sys.stdout.write(render_asyncapi(args.prefix, fmt="json" if args.json else "yaml"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
