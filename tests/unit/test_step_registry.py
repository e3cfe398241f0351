"""The step agent registry, the run's load log, the bytes codec of step messages, and lineage
in events."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from artifact_hub.adapters.bus import decode, encode
from artifact_hub.core.errors import EventRejectedError, UnknownAgentError
from artifact_hub.schemas import (
    ArtifactCreated,
    ArtifactVersioned,
    Caller,
    Lineage,
    LineageInput,
)
from artifact_hub.schemas.steps import decode_bytes, encode_bytes
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.workflow_steps import AgentRegistry, LoadLog, StepContext, default_registry

ALICE = Caller(tenant_id="t1", agent_id="alice")


def ctx(step_id: str, loads: LoadLog, upstream: frozenset[str] | None = None) -> StepContext:
    # These agents never touch the service.
    return StepContext(
        service=cast(ArtifactService, None),
        caller=ALICE,
        run_id="r",
        workflow_id="w",
        step_id=step_id,
        loads=loads,
        upstream=upstream,
    )


async def test_decorator_registers_on_a_copy_only() -> None:
    registry = default_registry.copy()

    @registry.agent("shout")
    async def shout(step_input: dict[str, Any], context: StepContext) -> str:
        return str(step_input["text"]).upper()

    assert {"data-loader", "artifact-saver", "shout"} <= registry.names()
    assert "shout" in registry and "shout" not in default_registry
    assert await registry.get("shout")({"text": "hi"}, ctx("s", LoadLog())) == "HI"
    with pytest.raises(UnknownAgentError) as caught:
        default_registry.get("shout")
    assert caught.value.code == "unknown_agent" and "shout" in caught.value.message
    with pytest.raises(ValueError):
        AgentRegistry().agent(" ")


def test_upstream_loads_follow_depends_on_transitively() -> None:
    loads = LoadLog({"d": ["c"], "c": ["a", "b"], "b": [], "a": [], "x": []})
    for step, artifact in (("a", "art_a"), ("b", "art_b"), ("x", "art_x"), ("a", "art_a")):
        ctx(step, loads).record_load(artifact, 1)
    ctx("c", loads).record_load("art_c", 2)
    assert ctx("d", loads).upstream_loads() == [("art_a", 1), ("art_b", 1), ("art_c", 2)]
    assert ctx("c", loads).upstream_loads() == [("art_a", 1), ("art_b", 1)]
    assert ctx("a", loads).upstream_loads() == []
    assert ctx("z", loads, upstream=frozenset({"x"})).upstream_loads() == [("art_x", 1)]
    assert len(loads.records()) == 4  # the repeated load is kept once


def test_bytes_travel_as_base64_markers_and_come_back() -> None:
    value = {"data": b"\x00\xff", "list": [b"a", {"n": 1}], "text": "t"}
    encoded = encode_bytes(value)
    assert encoded["data"] == {"__bytes__": "AP8="}
    assert decode_bytes(encoded) == value
    assert decode_bytes({"__bytes__": "not base64!"}) == {"__bytes__": "not base64!"}
    assert decode_bytes({"__bytes__": "AA==", "other": 1}) == {"__bytes__": "AA==", "other": 1}


def test_lineage_travels_in_cloudevents_and_is_absent_when_unset() -> None:
    lineage = Lineage(
        run_id="run-1", workflow_id="wf", step_id="save",
        inputs=[LineageInput(artifact_id="art_aaaaaaaaaaaaaaaa", version=2)],
    )  # fmt: skip
    fields = {"tenant_id": "t1", "artifact_id": "art_bbbbbbbbbbbbbbbb", "sha256": "0" * 64}
    created = ArtifactCreated(name="out.json", size_bytes=1, lineage=lineage, **fields)
    versioned = ArtifactVersioned(version=2, seq=2, size_bytes=1, lineage=lineage, **fields)
    for event in (created, versioned):
        record = encode(event)
        assert json.loads(record.value)["lineage"]["inputs"] == [
            {"artifact_id": "art_aaaaaaaaaaaaaaaa", "version": 2}
        ]
        assert decode(record.value, record.headers) == event
    plain = ArtifactCreated(name="out.json", size_bytes=1, **fields)
    assert "lineage" not in json.loads(encode(plain).value)  # unchanged for older consumers
    assert "lineage" not in plain.model_dump(mode="json")  # so its digest is unchanged too
    bad = encode(created)
    document = json.loads(bad.value)
    document["lineage"]["inputs"][0]["surprise"] = 1
    with pytest.raises(EventRejectedError):
        decode(json.dumps(document).encode(), bad.headers)
    with pytest.raises(ValueError):
        Lineage(run_id="r", inputs=[LineageInput(artifact_id="a", version=1)] * 1001)
