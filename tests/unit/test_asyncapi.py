"""The AsyncAPI contract (docs/asyncapi.yaml) is generated from the code and kept fresh."""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.test_cloudevents import EVENT_IDS, EVENTS

from artifact_hub.adapters.bus import all_topics, encode
from artifact_hub.consumers.asyncapi import (
    ENVELOPE_HEADERS,
    INDEX_GROUP_ID,
    contract_document,
    payload_model,
    render_asyncapi,
)
from artifact_hub.schemas import cloudevents as ce
from artifact_hub.schemas.events import DLQ_TOPIC, EVENT_TYPES, EventBase

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = "python -m artifact_hub.consumers.asyncapi > docs/asyncapi.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return contract_document()


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("%20", " ")]
    return node


def _messages(doc: dict[str, Any], address: str, action: str) -> list[dict[str, Any]]:
    found = []
    for operation in doc["operations"].values():
        channel = _resolve(doc, operation["channel"]["$ref"])
        if channel["address"] == address and operation["action"] == action:
            for ref in operation["messages"]:
                found.append(_resolve(doc, _resolve(doc, ref["$ref"])["$ref"]))
    return found


def test_committed_document_is_up_to_date() -> None:
    fresh = render_asyncapi()
    committed = COMMITTED.read_text() if COMMITTED.exists() else ""
    if committed != fresh:
        diff = "".join(
            list(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    fresh.splitlines(keepends=True),
                    "docs/asyncapi.yaml (committed)",
                    "generated from the code",
                )
            )[:60]
        )
        pytest.fail(
            f"docs/asyncapi.yaml is stale: the event contract changed in the code.\n"
            f"Regenerate it from the repository root with\n\n    {REGENERATE}\n\n"
            f"and commit it. First lines of the difference:\n{diff}",
            pytrace=False,
        )


def test_generation_is_deterministic_across_processes() -> None:
    outputs = {
        subprocess.run(
            [sys.executable, "-m", "artifact_hub.consumers.asyncapi"],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            timeout=120,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs == {render_asyncapi()}


def test_the_yaml_parses_back_into_the_document(document: dict[str, Any]) -> None:
    assert yaml.safe_load(render_asyncapi()) == document
    assert json.loads(render_asyncapi(fmt="json")) == document
    with pytest.raises(ValueError, match="yaml or json"):
        render_asyncapi(fmt="xml")


def test_envelope_fields_match_the_codec() -> None:
    assert set(ENVELOPE_HEADERS) == ce._ENVELOPE_FIELDS


def test_every_topic_is_a_channel(document: dict[str, Any]) -> None:
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(all_topics())
    assert document["asyncapi"] == "3.0.0"


def test_prefix_reaches_every_address() -> None:
    doc = contract_document("acme.")
    addresses = {channel["address"] for channel in doc["channels"].values()}
    assert addresses == set(all_topics("acme."))


@pytest.mark.parametrize("topic", list(EVENT_TYPES))
def test_each_topic_is_published_and_subscribed_with_its_payload(
    document: dict[str, Any], topic: str
) -> None:
    event_type = EVENT_TYPES[topic]
    (sent,) = _messages(document, topic, "send")
    received = _messages(document, topic, "receive")
    assert len(received) == 2  # binary mode and structured mode
    schema_ref = f"#/components/schemas/{event_type.__name__}"
    assert sent["payload"] == {"$ref": schema_ref}
    binary, structured = received
    assert binary["payload"] == {"$ref": schema_ref}
    assert structured["payload"]["properties"]["data"] == {"$ref": schema_ref}
    assert structured["contentType"] == "application/cloudevents+json"
    for message in (sent, binary):
        assert message["name"] == f"{topic}.v1"
        assert message["headers"]["properties"]["ce_type"]["const"] == f"{topic}.v1"
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
    payload = document["components"]["schemas"][event_type.__name__]
    assert not set(payload["properties"]) & set(ENVELOPE_HEADERS)
    assert "tenant_id" in payload["required"]


def test_the_index_consumer_declares_its_group(document: dict[str, Any]) -> None:
    receives = [op for op in document["operations"].values() if op["action"] == "receive"]
    assert len(receives) == len(EVENT_TYPES)
    for operation in receives:
        assert operation["bindings"]["kafka"]["groupId"]["enum"] == [INDEX_GROUP_ID]


def test_the_dead_letter_topic_is_declared(document: dict[str, Any]) -> None:
    (message,) = _messages(document, DLQ_TOPIC, "send")
    assert set(message["headers"]["required"]) == {"x-dlq-reason", "x-dlq-topic"}
    assert not _messages(document, DLQ_TOPIC, "receive")


@pytest.mark.parametrize("event", EVENTS, ids=EVENT_IDS)
def test_what_the_hub_encodes_matches_the_document(
    document: dict[str, Any], event: EventBase
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    (message,) = _messages(document, event.topic, "send")
    record = encode(event)
    schemas = document["components"]["schemas"]
    payload = {**_resolve(document, message["payload"]["$ref"]), "components": {"schemas": schemas}}
    jsonschema.validate(json.loads(record.value), payload)
    jsonschema.validate(record.headers, message["headers"])


def test_the_payload_schema_states_the_metadata_key_rule(document: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    record = json.loads(encode(EVENTS[0]).value)
    record["metadata"] = {"9lives": 1}
    payload = {
        **document["components"]["schemas"]["ArtifactCreated"],
        "components": {"schemas": document["components"]["schemas"]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, payload)


def test_payload_model_drops_only_the_envelope() -> None:
    for event_type in EVENT_TYPES.values():
        model = payload_model(event_type)
        assert set(model.model_fields) == set(event_type.model_fields) - set(ENVELOPE_HEADERS)
        assert model.__name__ == event_type.__name__
