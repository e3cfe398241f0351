"""The step agents (data-loader, artifact-saver) and lineage on both real stacks."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest

from artifact_hub.core.errors import (
    ArtifactDeletedError,
    ArtifactHubError,
    ArtifactNotFoundError,
    FileTooLargeError,
    SessionSealedError,
    StepInputError,
    VersionNotFoundError,
)
from artifact_hub.plugin import Hub
from artifact_hub.schemas import Caller, Lineage, LineageInput
from artifact_hub.workflow_steps import LoadLog, StepContext, default_registry
from artifact_hub.workflow_steps import agents as agents_module
from artifact_hub.workflow_steps.service import StepService

ALICE = Caller(tenant_id="t1", agent_id="alice", groups=("ml",))
BOB = Caller(tenant_id="t1", agent_id="bob")
EVE = Caller(tenant_id="t2", agent_id="alice", groups=("ml",))

LOAD = default_registry.get("data-loader")
SAVE = default_registry.get("artifact-saver")


def context(
    hub: Hub,
    caller: Caller,
    step_id: str = "load",
    *,
    loads: LoadLog | None = None,
    work_dir: Path | None = None,
    session_id: str | None = None,
) -> StepContext:
    return StepContext(
        service=hub.service,
        caller=caller,
        run_id="run_1",
        workflow_id="wf",
        step_id=step_id,
        attempt=1,
        loads=loads or LoadLog({"save": ["process"], "process": ["load"]}),
        work_dir=work_dir,
        session_id=session_id,
    )


async def code_of(coro: Any) -> str:
    with pytest.raises(ArtifactHubError) as caught:
        await coro
    return caught.value.code


async def test_loader_returns_each_form_enforces_access_and_gives_the_hubs_codes(
    hub: Hub, tmp_path: Path
) -> None:
    doc = {"rows": [1, 2, 3], "name": "q4"}
    js = await hub.service.push(
        ALICE, json.dumps(doc).encode(), name="d.json", content_type="application/json",
        labels={"team": "ml"}, metadata={"source": "crm"},
    )  # fmt: skip
    txt = await hub.service.push(ALICE, "héllo\n".encode(), name="n.txt", content_type="text/plain")
    raw = os.urandom(2048)
    binary = await hub.service.push(ALICE, raw, name="b.bin", content_type="application/x-bin")
    await hub.service.add_version(ALICE, js.artifact_id, b'{"rows": []}', metadata={"v": 2})
    ctx = context(hub, ALICE, work_dir=tmp_path / "work")

    latest = await LOAD({"artifact_id": js.artifact_id}, ctx)
    assert latest["data"] == {"rows": []}
    assert latest["artifact"]["version"] == 2 and latest["artifact"]["metadata"] == {"v": 2}
    first = await LOAD({"artifact_id": js.artifact_id, "version": 1}, ctx)
    assert first["data"] == doc
    meta = first["artifact"]
    assert meta["id"] == js.artifact_id and meta["version"] == 1 and meta["name"] == "d.json"
    assert meta["sha256"] == js.sha256 and meta["size_bytes"] == js.size_bytes
    assert meta["labels"] == {"team": "ml"} and meta["metadata"] == {"source": "crm"}
    assert meta["content_type"] == "application/json"
    as_text = await LOAD({"artifact_id": js.artifact_id, "version": 1, "as": "text"}, ctx)
    assert as_text["data"] == json.dumps(doc)
    assert (await LOAD({"artifact_id": txt.artifact_id}, ctx))["data"] == "héllo\n"
    assert (await LOAD({"artifact_id": binary.artifact_id}, ctx))["data"] == raw
    assert (await LOAD({"artifact_id": txt.artifact_id, "as": "bytes"}, ctx))["data"] == (
        "héllo\n".encode()
    )

    to_file = await LOAD({"artifact_id": binary.artifact_id, "as": "path", "path": "in/b.bin"}, ctx)
    written = Path(to_file["data"])
    assert written == (tmp_path / "work" / "in" / "b.bin").resolve()
    assert written.read_bytes() == raw
    default_file = await LOAD({"artifact_id": txt.artifact_id, "as": "path"}, ctx)
    assert Path(default_file["data"]) == (tmp_path / "work" / "load" / "n.txt").resolve()
    # Every load is in the run's log, once per (artifact, version).
    assert ctx.loads.loads_of({"load"}) == [
        (js.artifact_id, 2),
        (js.artifact_id, 1),
        (txt.artifact_id, 1),
        (binary.artifact_id, 1),
    ]
    await check_loader_access_and_codes(hub)  # on the same hub: one stack start less


@pytest.mark.parametrize("hub", ["sqlite-local"], indirect=True)  # paths are local either way
async def test_loader_path_form_never_leaves_the_work_folder(hub: Hub, tmp_path: Path) -> None:
    art = await hub.service.push(ALICE, b"secret", name="s.txt", content_type="text/plain")
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (work / "sub" / "link").symlink_to(outside, target_is_directory=True)
    ctx = context(hub, ALICE, work_dir=work)
    for bad in ("/etc/passwd", "../x.txt", "sub/../../x.txt", "sub/link/x.txt", "C:\\x", ".", ""):
        request = {"artifact_id": art.artifact_id, "as": "path", "path": bad}
        assert await code_of(LOAD(request, ctx)) == "step_input_invalid", bad
    assert list(outside.iterdir()) == [] and not (tmp_path / "x.txt").exists()
    text_with_path = {"artifact_id": art.artifact_id, "as": "text", "path": "a.txt"}
    assert await code_of(LOAD(text_with_path, ctx)) == "step_input_invalid"
    assert ctx.loads.records() == []  # nothing loaded, nothing recorded


async def check_loader_access_and_codes(hub: Hub) -> None:
    art = await hub.service.push(ALICE, b"{}", name="x.json", content_type="application/json")
    request = {"artifact_id": art.artifact_id}
    # Another tenant (same agent name and groups) and an agent it was not shared with.
    assert await code_of(LOAD(request, context(hub, EVE))) == "artifact_not_found"
    assert await code_of(LOAD(request, context(hub, BOB))) == "artifact_not_found"
    await hub.service.share(ALICE, art.artifact_id, agents=["bob"])
    assert (await LOAD(request, context(hub, BOB)))["data"] == {}
    with pytest.raises(VersionNotFoundError):
        await LOAD({"artifact_id": art.artifact_id, "version": 9}, context(hub, ALICE))
    for bad in (
        {},
        {"artifact_id": art.artifact_id, "as": "xml"},
        {"artifact_id": art.artifact_id, "version": 0},
        {"artifact_id": art.artifact_id, "surprise": 1},
    ):
        with pytest.raises(StepInputError) as caught:
            await LOAD(bad, context(hub, ALICE))
        assert caught.value.code == "step_input_invalid" and "data-loader input" in str(
            caught.value
        )
    not_json = await hub.service.push(ALICE, b"{nope", name="y.json", content_type="text/plain")
    bad_json = {"artifact_id": not_json.artifact_id, "as": "json"}
    assert await code_of(LOAD(bad_json, context(hub, ALICE))) == "step_input_invalid"
    await hub.service.delete(ALICE, art.artifact_id)
    with pytest.raises(ArtifactDeletedError):
        await LOAD(request, context(hub, ALICE))


@pytest.mark.parametrize("hub", ["sqlite-local"], indirect=True)
async def test_loader_refuses_big_content_in_memory(
    hub: Hub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(agents_module, "MAX_IN_MEMORY_BYTES", 10)
    art = await hub.service.push(ALICE, b"x" * 11, name="big.bin")
    with pytest.raises(FileTooLargeError):
        await LOAD({"artifact_id": art.artifact_id}, context(hub, ALICE))
    ctx = context(hub, ALICE, work_dir=tmp_path)
    as_path = await LOAD({"artifact_id": art.artifact_id, "as": "path"}, ctx)
    assert Path(as_path["data"]).read_bytes() == b"x" * 11


async def test_saver_saves_versions_and_records_lineage(hub: Hub) -> None:
    source = await hub.service.push(
        ALICE, b'{"n": 1}', name="in.json", content_type="application/json"
    )
    loads = LoadLog({"save": ["process"], "process": ["load"], "other": []})
    await LOAD({"artifact_id": source.artifact_id}, context(hub, ALICE, "load", loads=loads))
    unrelated = await hub.service.push(ALICE, b"u", name="u.txt")
    await LOAD({"artifact_id": unrelated.artifact_id}, context(hub, ALICE, "other", loads=loads))
    ctx = context(hub, ALICE, "save", loads=loads, session_id="sess-1")
    assert ctx.upstream_loads() == [(source.artifact_id, 1)]  # "other" is not upstream of save

    first = await SAVE({"result": {"total": 1}, "name": "out.json"}, ctx)
    assert first["version"] == 1 and first["name"] == "out.json"
    saved = await hub.service.get(ALICE, first["artifact_id"])
    assert saved.content_type == "application/json" and saved.session_id == "sess-1"
    assert (saved.run_id, saved.graph_id, saved.node_id) == ("run_1", "wf", "save")
    assert json.loads(await hub.service.pull_bytes(ALICE, saved.artifact_id)) == {"total": 1}

    again = {"result": "two", "name": "out.json", "new_version_if_exists": True,
             "metadata": {"round": 2}, "labels": {"stage": "final"}}  # fmt: skip
    second = await SAVE(again, ctx)
    assert second["artifact_id"] == first["artifact_id"] and second["version"] == 2
    now = await hub.service.get(ALICE, first["artifact_id"])
    assert now.labels == {"stage": "final"} and now.metadata == {"round": 2}
    assert await hub.service.pull_bytes(ALICE, now.artifact_id) == b"two"
    # Without the flag, or in another session, the same name makes a new artifact.
    separate = await SAVE({"result": b"\x00\x01", "name": "out.json"}, ctx)
    assert separate["artifact_id"] != first["artifact_id"] and separate["version"] == 1
    other_session = {**again, "session_id": "sess-2"}
    assert (await SAVE(other_session, ctx))["artifact_id"] != first["artifact_id"]
    bin_saved = await hub.service.get(ALICE, separate["artifact_id"])
    assert bin_saved.content_type == "application/json"  # guessed from the name

    graph = await hub.service.lineage(ALICE, first["artifact_id"])
    assert graph.upstream == [source.artifact_id] and graph.downstream == []
    versions = {(e.source, e.source_version, e.target_version, e.step_id) for e in graph.edges}
    assert versions == {
        (source.artifact_id, 1, 1, "save"),
        (source.artifact_id, 1, 2, "save"),
    }
    down = await hub.service.lineage(ALICE, source.artifact_id)
    assert set(down.downstream) >= {first["artifact_id"], separate["artifact_id"]}
    assert unrelated.artifact_id not in down.downstream

    await hub.service.seal_session(ALICE, "sess-1")
    assert await code_of(SAVE({"result": 1, "name": "late.json"}, ctx)) == "session_sealed"
    with pytest.raises(SessionSealedError):
        await SAVE({**again, "session_id": "sess-1"}, ctx)
    for bad in (
        {"name": "x"},
        {"result": 1},
        {"result": 1, "name": ""},
        {"result": 1, "name": "x", "tags": "t"},
        {"result": float("nan"), "name": "x"},
    ):
        assert await code_of(SAVE(bad, context(hub, ALICE, "save"))) == "step_input_invalid", bad


async def test_lineage_hides_what_the_caller_cannot_read_and_never_crosses_tenants(
    hub: Hub,
) -> None:
    secret = await hub.service.push(ALICE, b"1", name="secret.txt")
    loads = LoadLog({"save": ["load"]})
    await LOAD({"artifact_id": secret.artifact_id}, context(hub, ALICE, "load", loads=loads))
    middle = await SAVE(
        {"result": "m", "name": "middle.txt"}, context(hub, ALICE, "save", loads=loads)
    )
    await hub.service.share(ALICE, middle["artifact_id"], agents=["bob"])
    # Bob builds on the middle artifact (shared with him) in a run of his own.
    bob_loads = LoadLog({"save": ["load"]})
    await LOAD({"artifact_id": middle["artifact_id"]}, context(hub, BOB, "load", loads=bob_loads))
    bobs = await SAVE(
        {"result": "b", "name": "bob.txt"}, context(hub, BOB, "save", loads=bob_loads)
    )

    for_bob = await hub.service.lineage(BOB, bobs["artifact_id"])
    assert for_bob.upstream == [middle["artifact_id"], secret.artifact_id]
    nodes = {n.artifact_id: n for n in for_bob.nodes}
    assert nodes[secret.artifact_id].hidden and nodes[secret.artifact_id].name is None
    assert not nodes[middle["artifact_id"]].hidden
    assert nodes[middle["artifact_id"]].name == "middle.txt"
    hidden_edge = next(e for e in for_bob.edges if e.source == secret.artifact_id)
    # The edge from the hidden source into a visible target names the run that made the target.
    assert hidden_edge.target == middle["artifact_id"] and hidden_edge.run_id == "run_1"
    for_alice = await hub.service.lineage(ALICE, secret.artifact_id)
    assert for_alice.downstream == [middle["artifact_id"], bobs["artifact_id"]]
    alice_nodes = {n.artifact_id: n for n in for_alice.nodes}
    assert alice_nodes[bobs["artifact_id"]].hidden  # Bob's result was not shared with Alice
    made_bobs = next(e for e in for_alice.edges if e.target == bobs["artifact_id"])
    assert made_bobs.run_id is None and made_bobs.step_id is None

    # Another tenant sees nothing, not even with the same agent name.
    with pytest.raises(ArtifactNotFoundError):
        await hub.service.lineage(EVE, secret.artifact_id)
    # Nobody can hang an artifact below one they cannot read, nor another tenant's.
    for who, target in ((BOB, secret.artifact_id), (EVE, middle["artifact_id"])):
        lineage = Lineage(run_id="r", inputs=[LineageInput(artifact_id=target, version=1)])
        with pytest.raises(ArtifactNotFoundError):
            await hub.service.push(who, b"x", name="sneaky.txt", lineage=lineage)
    own = Lineage(run_id="r", inputs=[LineageInput(artifact_id=secret.artifact_id, version=5)])
    with pytest.raises(VersionNotFoundError):
        await hub.service.push(ALICE, b"x", name="v.txt", lineage=own)
    assert (await hub.service.lineage(ALICE, secret.artifact_id)).downstream == [
        middle["artifact_id"],
        bobs["artifact_id"],
    ]


@pytest.mark.parametrize(
    "hub", ["sqlite-local"], indirect=True
)  # the bus part: see test_workflow_seed
async def test_step_service_answers_every_request_without_a_broker(hub: Hub) -> None:
    await hub.accounts.create_tenant("acme", plan="enterprise")
    _, key = await hub.accounts.create_key("acme", "alice")
    alice = await hub.accounts.authenticate(key)
    art = await hub.service.push(alice, b"\x00\x01", name="b.bin")
    registry = default_registry.copy()

    @registry.agent("echo")
    async def echo(step_input: dict[str, Any], ctx: StepContext) -> Any:
        return {"input": step_input, "attempt": ctx.attempt, "session": ctx.session_id}

    @registry.agent("slow")
    async def slow(step_input: dict[str, Any], ctx: StepContext) -> Any:
        await asyncio.sleep(5)

    @registry.agent("crash")
    async def crash(step_input: dict[str, Any], ctx: StepContext) -> Any:
        raise RuntimeError("secret internals")

    steps = StepService(hub.service, hub.accounts, registry=registry, topic_prefix="p.")
    auth = {"authorization": f"Bearer {key}", "correlation_id": "h-1"}

    async def ask(headers: dict[str, str] | None = None, **body: Any) -> Any:
        request = {"run_id": "r", "step_id": "s", **body}
        return await steps.handle(
            json.dumps(request).encode(), auth if headers is None else headers
        )

    loaded = await ask(agent="data-loader", input={"artifact_id": art.artifact_id})
    assert loaded.reply.ok and loaded.reply_topic == "p.steps.replies" and loaded.dlq_reason is None
    assert loaded.reply.correlation_id == "h-1"  # from the header when the body has none
    assert loaded.reply.output["data"] == {"__bytes__": "AAE="}  # bytes travel as base64
    assert [(x.artifact_id, x.version) for x in loaded.reply.loads] == [(art.artifact_id, 1)]

    kept = await ask(
        agent="echo", input={"t": "<< input.x >>"}, resolve_templates=False, attempt=2,
        session_id="ses", correlation_id="b-1", reply_to="my.replies",
    )  # fmt: skip
    assert kept.reply.output == {"input": {"t": "<< input.x >>"}, "attempt": 2, "session": "ses"}
    assert (kept.reply.correlation_id, kept.reply_topic) == ("b-1", "my.replies")
    resolved = await ask(agent="echo", input={"t": "x=<< input.x >>"}, context={"input": {"x": 1}})
    assert resolved.reply.output["input"] == {"t": "x=1"}
    by_body_key = await ask({}, agent="echo", input={}, api_key=key)
    assert by_body_key.reply.ok

    async def code(headers: dict[str, str] | None = None, **body: Any) -> str:
        handled = await ask(headers, **body)
        assert not handled.reply.ok and handled.dlq_reason is None
        return str(handled.reply.error.code)

    assert await code({}, agent="echo", input={}) == "unauthorized"
    assert await code({"authorization": "Bearer ak_live_nope_nope"}, agent="echo") == "unauthorized"
    assert await code(agent="slow", input={}, timeout=0.05) == "step_timeout"
    crashed = await ask(agent="crash", input={})
    assert crashed.reply.error.code == "server_error"
    assert "secret internals" not in crashed.reply.error.message
    assert await code(agent="echo", input=[1]) == "invalid_request"  # input must be an object
    for topic in ("p.steps.requests", "p.steps.dlq", "p.artifact.created"):
        looped = await ask(agent="echo", input={}, reply_to=topic)
        assert looped.reply.error.code == "invalid_request" and looped.reply_topic == (
            "p.steps.replies"
        )
    # Upstream loads come from the request, else from data-loader outputs in the context.
    context = {"steps": {"load": {"output": loaded.reply.output}, "other": {"output": [1]}}}
    saved = await ask(
        agent="artifact-saver", input={"result": 1, "name": "r.json"}, context=context
    )
    graph = await hub.service.lineage(alice, saved.reply.output["artifact_id"])
    assert graph.upstream == [art.artifact_id]
    explicit = await ask(
        agent="artifact-saver", input={"result": 1, "name": "r.json"}, context=context,
        upstream_loads=[],
    )  # fmt: skip
    assert (await hub.service.lineage(alice, explicit.reply.output["artifact_id"])).upstream == []

    # Malformed: dead-lettered; answered only when a correlation id says to whom.
    garbage = await steps.handle(b"\xff\xfe", {})
    assert garbage.reply is None and garbage.dlq_reason.startswith("invalid_request: ")
    invalid = await steps.handle(b'{"agent": "echo", "correlation_id": "m-1", "bogus": 1}', {})
    assert invalid.reply.correlation_id == "m-1" and invalid.reply.error.code == "invalid_request"
    assert "bogus" in invalid.dlq_reason and "run_id" in invalid.dlq_reason
    sneaky = await steps.handle(b"[]", {"correlation_id": "m-2", "reply_to": "p.artifact.created"})
    assert sneaky.reply_topic == "p.steps.replies" and sneaky.dlq_reason is not None


@pytest.mark.parametrize("hub", ["sqlite-local"], indirect=True)  # the walk's SQL runs on both
async def test_lineage_walks_diamonds_cycles_and_stops_at_its_limit(hub: Hub) -> None:
    async def made_from(name: str, *inputs: tuple[str, int]) -> str:
        lineage = Lineage(
            run_id="r",
            step_id=name,
            inputs=[LineageInput(artifact_id=a, version=v) for a, v in inputs],
        )
        return (
            await hub.service.push(ALICE, name.encode(), name=name, lineage=lineage)
        ).artifact_id

    root = (await hub.service.push(ALICE, b"root", name="root")).artifact_id
    left, right = await made_from("left", (root, 1)), await made_from("right", (root, 1))
    bottom = await made_from("bottom", (left, 1), (right, 1))
    # A new version of root made from its own first version: a cycle in the link graph.
    await hub.service.add_version(
        ALICE,
        root,
        b"root 2",
        lineage=Lineage(run_id="r2", inputs=[LineageInput(artifact_id=root, version=1)]),
    )
    graph = await hub.service.lineage(ALICE, bottom)
    assert graph.upstream == [*sorted([left, right]), root] and not graph.truncated
    assert len(graph.edges) == 5  # bottom<-left, bottom<-right, left<-root, right<-root, root<-root
    assert (root, 1, root, 2) in {
        (e.source, e.source_version, e.target, e.target_version) for e in graph.edges
    }
    down = await hub.service.lineage(ALICE, root)
    assert (
        down.upstream == []
        and down.downstream[-1] == bottom
        and set(down.downstream) == {left, right, bottom}
    )
    async with hub.db.connect() as conn:
        small = await hub.service.reader.lineage(conn, ALICE, bottom, max_nodes=2)
    assert small.truncated and len(small.nodes) == 2
    shown = {n.artifact_id for n in small.nodes}
    assert all(e.source in shown and e.target in shown for e in small.edges)


async def test_saver_new_version_keeps_the_content_type_unless_given_one(hub: Hub) -> None:
    ctx = context(hub, ALICE, "save", session_id="sess-types")
    first = await SAVE(
        {"result": b"\x00", "name": "weights.dat", "content_type": "application/x-weights"}, ctx
    )
    again = {"result": b"\x01", "name": "weights.dat", "new_version_if_exists": True}
    second = await SAVE(again, ctx)
    assert (second["artifact_id"], second["version"]) == (first["artifact_id"], 2)
    kept = await hub.service.get(ALICE, first["artifact_id"])
    assert kept.content_type == "application/x-weights"  # issue 12: was octet-stream
    third = await SAVE({**again, "result": "text now", "content_type": "text/plain"}, ctx)
    assert third["version"] == 3
    assert (await hub.service.get(ALICE, first["artifact_id"])).content_type == "text/plain"
