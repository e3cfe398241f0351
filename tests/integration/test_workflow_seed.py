"""The file-sharing guide's workflow (download_data -> process -> save_result), end to end.

In-process under the runner, and through the Kafka step service on the real broker (as our
runner's remote agents, and as an external Coordination Hub that sends ``<< >>`` templates);
the saved artifact's lineage names the artifact it was loaded from, through the service, the
REST API and the SDK, and again after the index is rebuilt from the event log. Malformed step
requests are answered with an error and dead-lettered with a reason.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from tests.integration.test_kafka_events import FAST_GROUP, read_topics

import artifact_hub.workflow_steps
from artifact_hub.adapters.bus import ensure_topics, step_topics
from artifact_hub.adapters.index import Database, IndexReader
from artifact_hub.api import create_app
from artifact_hub.client import AsyncClient
from artifact_hub.consumers.rebuild import rebuild_from_log
from artifact_hub.plugin import Hub
from artifact_hub.schemas import Caller, LineageGraph
from artifact_hub.workflow_steps import AgentRegistry, import_agents
from artifact_hub.workflow_steps.runner import Runner
from artifact_hub.workflow_steps.service import StepService
from artifact_hub.workflow_steps.step_app import subscribe_step_service
from artifact_hub.workflow_steps.step_client import KafkaStepClient, remote_registry

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "examples" / "workflows" / "file_sharing.json"
AGENTS = ROOT / "examples" / "workflows" / "file_sharing_agents.py"
RECORDS = [{"region": "eu", "amount": 120}, {"region": "us", "amount": 80.5}, {"region": "eu"}]
SUMMARY = {"records": 3, "totals": {"amount": 200.5}, "processed_by": "process"}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> AgentRegistry:
    """The built-ins and the example's ``processor``, loaded as ``--agents`` would load it.

    The example registers on the default registry; here that is a copy, so no other test
    sees ``processor``.
    """
    copy = artifact_hub.workflow_steps.default_registry.copy()
    monkeypatch.setattr(artifact_hub.workflow_steps, "default_registry", copy)
    import_agents(str(AGENTS))
    assert "processor" in copy.names()
    return copy


async def tenant(hub: Hub, name: str = "acme") -> tuple[str, Caller]:
    await hub.accounts.create_tenant(name, plan="enterprise")
    _, key = await hub.accounts.create_key(name, "alice")
    return key, await hub.accounts.authenticate(key)


async def push_source(hub: Hub, caller: Caller) -> str:
    source = await hub.service.push(
        caller, json.dumps(RECORDS).encode(), name="sales.json", content_type="application/json"
    )
    return source.artifact_id


def assert_names_source(graph: LineageGraph, source_id: str, run_id: str) -> None:
    assert graph.upstream == [source_id]
    (edge,) = graph.edges
    assert (edge.source, edge.source_version, edge.target_version) == (source_id, 1, 1)
    assert (edge.run_id, edge.workflow_id, edge.step_id) == (run_id, "file-sharing", "save_result")
    source_node = next(n for n in graph.nodes if n.artifact_id == source_id)
    assert source_node.name == "sales.json" and not source_node.hidden


# Both stacks run the seed in-process in test_workflow_runner.py; here what lineage adds.
@pytest.mark.parametrize("hub", ["sqlite-local"], indirect=True)
async def test_seed_workflow_runs_in_process_with_lineage_everywhere(
    hub: Hub, registry: AgentRegistry, tmp_path: Path
) -> None:
    key, alice = await tenant(hub)
    stranger_key, _ = await tenant(hub, "globex")
    source_id = await push_source(hub, alice)

    runner = Runner.for_service(hub.service, alice, registry)
    report = await runner.run(WORKFLOW, {"artifact_id": source_id})
    assert report.status == "succeeded", report
    assert report.steps["process"].output == SUMMARY
    saved = report.steps["save_result"].output
    assert saved["name"] == f"processed-{source_id}.json" and saved["version"] == 1
    artifact = await hub.service.get(alice, saved["artifact_id"])
    assert artifact.run_id == report.run_id and artifact.content_type == "application/json"
    assert json.loads(await hub.service.pull_bytes(alice, saved["artifact_id"])) == SUMMARY

    graph = await hub.service.lineage(alice, saved["artifact_id"])
    assert_names_source(graph, source_id, report.run_id)
    assert (await hub.service.lineage(alice, source_id)).downstream == [saved["artifact_id"]]

    transport = httpx.ASGITransport(app=create_app(hub))
    url = f"/v1/artifacts/{saved['artifact_id']}/lineage"
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        response = await http.get(url, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        assert LineageGraph.model_validate(response.json()) == graph
        other = await http.get(url, headers={"Authorization": f"Bearer {stranger_key}"})
        assert other.status_code == 404 and other.json()["error"]["code"] == "artifact_not_found"
    async with AsyncClient(api_key=key, base_url="http://hub", transport=transport) as client:
        assert await client.lineage(saved["artifact_id"]) == graph
        assert await client.artifact.lineage(saved["artifact_id"]) == graph

    # The lineage travels in the events: an index rebuilt from the event log has it too.
    target = f"sqlite:///{tmp_path / 'rebuilt.db'}"
    await rebuild_from_log(hub.settings.resolved_database_url, target)
    rebuilt = Database(target)
    try:
        async with rebuilt.connect() as conn:
            again = await IndexReader().lineage(conn, alice, saved["artifact_id"])
            snapshot = await IndexReader().snapshot(conn)
        async with hub.db.connect() as conn:
            original = await IndexReader().snapshot(conn)
    finally:
        await rebuilt.dispose()
    assert again == graph
    for table in ("artifact_lineage", "lineage_inputs"):
        assert snapshot[table] == original[table] and snapshot[table]


@pytest.mark.parametrize("hub", ["sqlite-local"], indirect=True)
async def test_seed_workflow_through_the_kafka_step_service(
    hub: Hub, registry: AgentRegistry, kafka_bootstrap_servers: str
) -> None:
    bootstrap = kafka_bootstrap_servers
    prefix = f"s{uuid.uuid4().hex[:8]}."
    key, alice = await tenant(hub)
    stranger_key, stranger = await tenant(hub, "globex")
    source_id = await push_source(hub, alice)
    foreign = await hub.service.push(stranger, b"{}", name="x.json")

    await ensure_topics(bootstrap, step_topics(prefix), partitions=1)
    broker = KafkaBroker(bootstrap, logger=None)
    steps = StepService(hub.service, hub.accounts, registry=registry, topic_prefix=prefix)
    # Tansu answers a fetch only when fetch_max_wait_ms runs out: keep it short on both ends.
    subscribe_step_service(
        broker, steps, group_id=f"{prefix}steps", fetch_max_wait_ms=10, **FAST_GROUP
    )
    fast = {"consumer_options": {"fetch_max_wait_ms": 10}}
    await broker.start()
    try:
        # Our runner, with every agent on the step service.
        names = ["data-loader", "processor", "artifact-saver"]
        options: dict[str, Any] = {"api_key": key, "topic_prefix": prefix, "timeout": 60, **fast}
        async with remote_registry(bootstrap, names, **options) as remote:
            report = await Runner.for_service(hub.service, alice, remote).run(
                WORKFLOW, {"artifact_id": source_id}
            )
        assert report.status == "succeeded", report
        assert report.steps["process"].output == SUMMARY
        saved = report.steps["save_result"].output
        graph = await hub.service.lineage(alice, saved["artifact_id"])
        assert_names_source(graph, source_id, report.run_id)

        # An external Coordination Hub: << >> resolved by the service against the context,
        # upstream loads taken from the data-loader output in context.steps.
        async with KafkaStepClient(bootstrap, api_key=key, topic_prefix=prefix, **fast) as client:
            hub_input = {"artifact_id": source_id}
            run = {"run_id": "hub-run-1", "workflow_id": "file-sharing"}
            loaded = await client.call(
                "data-loader",
                {"artifact_id": "<< input.artifact_id >>"},
                context={"input": hub_input},
                step_id="download_data",
                **run,
            )
            assert loaded.ok and loaded.output["data"] == RECORDS  # type: ignore[index, call-overload]
            assert [(x.artifact_id, x.version) for x in loaded.loads] == [(source_id, 1)]
            done = {"download_data": {"output": loaded.output}}
            processed = await client.call(
                "processor",
                {"data": "<< steps.download_data.output.data >>"},
                context={"input": hub_input, "steps": done},
                step_id="process",
                **run,
            )
            assert processed.ok and processed.output == SUMMARY
            done["process"] = {"output": processed.output}
            save_input = {
                "result": "<< steps.process.output >>",
                "name": "processed-<< input.artifact_id >>.json",
                "new_version_if_exists": True,
            }
            again = await client.call(
                "artifact-saver",
                save_input,
                context={"input": hub_input, "steps": done},
                step_id="save_result",
                **run,
            )
            assert again.ok and again.correlation_id
            assert again.output == {
                "artifact_id": saved["artifact_id"],
                "version": 2,
                "name": saved["name"],
            }
            hub_graph = await hub.service.lineage(alice, saved["artifact_id"])
            v2 = next(e for e in hub_graph.edges if e.target_version == 2)
            assert (v2.source, v2.run_id, v2.step_id) == (source_id, "hub-run-1", "save_result")

            # Errors come back with the hub's codes; nothing is dead-lettered for them.
            async def code(agent: str, step_input: dict[str, Any], **kw: Any) -> str | None:
                reply = await client.call(agent, step_input, step_id="s", **run, **kw)
                assert not reply.ok and reply.error is not None
                return reply.error.code

            assert await code("data-loader", {"artifact_id": foreign.artifact_id}) == (
                "artifact_not_found"
            )
            assert await code("nope", {}) == "unknown_agent"
            assert await code("data-loader", {"artifact_id": 5}) == "step_input_invalid"
            escape = {"artifact_id": "<< input.__class__.__mro__ >>"}
            assert await code("data-loader", escape, context={"input": {}}) == "template_error"
        async with KafkaStepClient(
            bootstrap, api_key="ak_live_bad_key", topic_prefix=prefix
        ) as bad:
            reply = await bad.call("data-loader", {"artifact_id": source_id}, step_id="s", **run)
            assert not reply.ok and reply.error and reply.error.code == "unauthorized"
        async with KafkaStepClient(
            bootstrap, api_key=stranger_key, topic_prefix=prefix, **fast
        ) as eve:
            reply = await eve.call("data-loader", {"artifact_id": source_id}, step_id="s", **run)
            assert reply.error and reply.error.code == "artifact_not_found"

        # Malformed requests: an error reply when we know where and to whom, and the DLQ.
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            reply_topic = f"{prefix}steps.replies"
            for value, headers in (
                (b"{not json", [("correlation_id", b"bad-1"), ("reply_to", reply_topic.encode())]),
                (json.dumps({"agent": "data-loader", "correlation_id": "bad-2"}).encode(), []),
                (b"[1, 2]", [("authorization", f"Bearer {key}".encode())]),
            ):
                await producer.send_and_wait(f"{prefix}steps.requests", value, headers=headers)
        finally:
            await producer.stop()
        dead = await read_topics(bootstrap, [f"{prefix}steps.dlq"], expected=3)
        reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in dead)
        assert len(reasons) == 3 and all(r.startswith("invalid_request: ") for r in reasons)
        assert any("not JSON" in r for r in reasons)
        assert any("run_id: Field required" in r for r in reasons)
        assert all("authorization" not in dict(r.headers) for r in dead)  # the key is not kept
        replies = await read_topics(bootstrap, [reply_topic], expected=0, timeout=1)
        errors = {
            json.loads(r.value)["correlation_id"]: json.loads(r.value)
            for r in replies
            if json.loads(r.value)["correlation_id"] in {"bad-1", "bad-2"}
        }
        assert set(errors) == {"bad-1", "bad-2"}
        assert {e["error"]["code"] for e in errors.values()} == {"invalid_request"}
        assert all(not e["ok"] for e in errors.values())
        headers_of = {dict(r.headers).get("correlation_id") for r in replies}
        assert {b"bad-1", b"bad-2"} <= headers_of
    finally:
        await broker.stop()
