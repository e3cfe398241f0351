"""``artifact-hub workflow run``: the seed's three-step workflow on an embedded hub.

The seed (seeds/artifact-hub-file-sharing-guide.txt) loads an artifact with ``data-loader``,
hands its data to a ``processor`` agent (registered here from a ``.py`` file with
``--agents``) and saves the result with ``artifact-saver``. The saved artifact's lineage must
name the run, the step and the artifact that was loaded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from artifact_hub.cli.admin import ensure_bootstrap_key
from artifact_hub.cli.main import app
from artifact_hub.cli.workflow_cli import RUN_FAILED
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import bootstrap
from artifact_hub.schemas import Caller
from artifact_hub.workflow_steps.registry import default_registry

SEED_WORKFLOW: dict[str, Any] = {
    "id": "seed",
    "steps": [
        {"id": "download_data", "type": "agent", "agent": "data-loader",
         "input": {"artifact_id": "{{ input.artifact_id }}"}},
        {"id": "process", "type": "agent", "agent": "processor",
         "depends_on": ["download_data"],
         "input": {"data": "{{ steps.download_data.output.data }}"}},
        {"id": "save_result", "type": "agent", "agent": "artifact-saver",
         "depends_on": ["process"],
         "input": {"result": "{{ steps.process.output }}",
                   "name": "processed-{{ input.artifact_id }}.json"}},
    ],
}  # fmt: skip

PROCESSOR = """
from typing import Any
from artifact_hub.workflow_steps.registry import StepContext, default_registry

@default_registry.agent("processor")
async def processor(step_input: dict[str, Any], ctx: StepContext) -> Any:
    rows = step_input["data"]["rows"]
    return {"count": len(rows), "doubled": [r * 2 for r in rows]}
"""

CALLER = Caller(tenant_id="default", agent_id="agent")


@pytest.fixture(autouse=True)
def _restore_default_registry() -> Iterator[None]:
    # --agents registers "processor" on the process-wide registry: undo it after each test.
    saved = dict(default_registry._agents)
    yield
    default_registry._agents.clear()
    default_registry._agents.update(saved)


@pytest.fixture(scope="module")
def hub_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An embedded hub's folder (bootstrap tenant) holding one JSON artifact (shared)."""
    data_dir = tmp_path_factory.mktemp("workflow-cli") / "hub"
    settings = HubSettings(data_dir=data_dir)
    ensure_bootstrap_key(settings)

    async def push() -> str:
        async with bootstrap(settings) as hub:
            body = json.dumps({"rows": [1, 2, 3]}).encode()
            artifact = await hub.service.push(
                CALLER, body, name="rows.json", content_type="application/json"
            )
            return artifact.artifact_id

    return data_dir, asyncio.run(push())


def _files(tmp_path: Path, workflow: dict[str, Any]) -> tuple[Path, Path]:
    wf_path = tmp_path / "wf.json"
    wf_path.write_text(json.dumps(workflow))
    agents = tmp_path / "processor_agent.py"
    agents.write_text(PROCESSOR)
    return wf_path, agents


def test_the_seed_workflow_runs_and_records_lineage(
    tmp_path: Path, hub_dir: tuple[Path, str]
) -> None:
    data_dir, artifact_id = hub_dir
    wf_path, agents = _files(tmp_path, SEED_WORKFLOW)
    result = CliRunner().invoke(
        app,
        ["workflow", "run", str(wf_path), "--input", f"artifact_id={artifact_id}",
         "--agents", str(agents), "--data-dir", str(data_dir), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "succeeded"
    assert [s["status"] for s in report["steps"].values()] == ["succeeded"] * 3
    assert report["steps"]["process"]["output"] == {"count": 3, "doubled": [2, 4, 6]}
    saved = report["steps"]["save_result"]["output"]
    assert saved["name"] == f"processed-{artifact_id}.json"

    async def check() -> None:
        async with bootstrap(HubSettings(data_dir=data_dir)) as hub:
            content = await hub.service.pull_bytes(CALLER, saved["artifact_id"])
            assert json.loads(content) == {"count": 3, "doubled": [2, 4, 6]}
            graph = await hub.service.lineage(CALLER, saved["artifact_id"])
            dumped = json.dumps(graph.model_dump(mode="json"))
            assert artifact_id in dumped
            assert report["run_id"] in dumped

    asyncio.run(check())


def test_a_failed_step_gives_a_failing_exit_status(
    tmp_path: Path, hub_dir: tuple[Path, str]
) -> None:
    data_dir, _ = hub_dir
    wf_path, agents = _files(tmp_path, SEED_WORKFLOW)
    result = CliRunner().invoke(
        app,
        ["workflow", "run", str(wf_path), "-i", "artifact_id=art_doesnotexist0000",
         "--agents", str(agents), "--data-dir", str(data_dir), "--json"],
    )  # fmt: skip
    assert result.exit_code == RUN_FAILED != 0
    report = json.loads(result.stdout)
    steps = report["steps"]
    assert steps["download_data"]["status"] == "failed"
    assert steps["download_data"]["error"]["code"] == "artifact_not_found"
    assert steps["process"]["status"] == "skipped"
    assert steps["save_result"]["error"]["code"] == "dependency_failed"


def test_an_invalid_workflow_is_refused_before_it_runs(
    tmp_path: Path, hub_dir: tuple[Path, str]
) -> None:
    data_dir, artifact_id = hub_dir
    wf_path, _ = _files(tmp_path, SEED_WORKFLOW)  # no --agents: "processor" is unknown
    result = CliRunner().invoke(
        app,
        ["workflow", "run", str(wf_path), "-i", f"artifact_id={artifact_id}",
         "--data-dir", str(data_dir), "--json"],
    )  # fmt: skip
    assert result.exit_code == 2
    body = json.loads(result.stderr)
    assert body["error"]["code"] == "workflow_invalid"
    assert "step 'process' names the unknown agent 'processor'" in body["error"]["message"]


def test_table_output_acting_as_an_api_key(tmp_path: Path, hub_dir: tuple[Path, str]) -> None:
    data_dir, artifact_id = hub_dir
    wf_path, agents = _files(tmp_path, SEED_WORKFLOW)
    key = (data_dir / "bootstrap-key.txt").read_text().strip()
    result = CliRunner().invoke(
        app,
        ["--api-key", key, "workflow", "run", str(wf_path), "-i", f"artifact_id={artifact_id}",
         "--agents", str(agents), "--data-dir", str(data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for word in ("download_data", "process", "save_result", "succeeded", "run succeeded"):
        assert word in result.stdout


def test_an_unknown_api_key_is_refused(tmp_path: Path, hub_dir: tuple[Path, str]) -> None:
    data_dir, artifact_id = hub_dir
    wf_path, agents = _files(tmp_path, SEED_WORKFLOW)
    result = CliRunner().invoke(
        app,
        ["--api-key", "ah_nope_nope", "workflow", "run", str(wf_path),
         "-i", f"artifact_id={artifact_id}", "--agents", str(agents),
         "--data-dir", str(data_dir), "--json"],
    )  # fmt: skip
    assert result.exit_code == 3
    assert json.loads(result.stderr)["error"]["code"] == "unauthorized"


def test_check_validates_without_a_hub(tmp_path: Path) -> None:
    wf_path, agents = _files(tmp_path, SEED_WORKFLOW)
    ok = CliRunner().invoke(
        app, ["workflow", "check", str(wf_path), "--agents", str(agents), "--json"]
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {
        "ok": True,
        "workflow_id": "seed",
        "steps": ["download_data", "process", "save_result"],
    }
    evil = {
        **SEED_WORKFLOW,
        "steps": [{"id": "x", "agent": "data-loader", "input": {"a": "<< input.__class__ >>"}}],
    }
    wf_path.write_text(json.dumps(evil))
    refused = CliRunner().invoke(app, ["workflow", "check", str(wf_path), "--json"])
    assert refused.exit_code == 2
    error = json.loads(refused.stderr)["error"]
    assert error["code"] == "template_error"
    assert "step 'x', input.a" in error["message"]
