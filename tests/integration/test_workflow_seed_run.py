"""The runner with the real step agents, on both stacks (sqlite-local and postgres-s3).

The seed's workflow (download_data -> process -> save_result) runs in-process; the saved
artifact's lineage names the run, the step and the artifact that was loaded. A run acting for
a caller who may not read the input fails at the loader with the hub's code, and the steps
after it are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from artifact_hub.plugin import Hub
from artifact_hub.schemas import Caller
from artifact_hub.workflow_steps import StepContext, default_registry
from artifact_hub.workflow_steps.runner import Runner

ALICE = Caller(tenant_id="t1", agent_id="alice")
BOB = Caller(tenant_id="t1", agent_id="bob")

SEED: dict[str, Any] = {
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

AGENTS = default_registry.copy()


@AGENTS.agent("processor")
async def processor(step_input: dict[str, Any], ctx: StepContext) -> Any:
    rows = step_input["data"]["rows"]
    return {"total": sum(rows), "rows": len(rows)}


async def test_the_seed_workflow_saves_with_lineage_and_enforces_access(
    hub: Hub, tmp_path: Path
) -> None:
    source = await hub.service.push(
        ALICE, json.dumps({"rows": [1, 2, 3]}).encode(), name="rows.json",
        content_type="application/json",
    )  # fmt: skip
    runner = Runner.for_service(
        hub.service, ALICE, AGENTS, session_id="ses_wf", work_dir=tmp_path / "work"
    )
    local_copy = {
        "id": "local_copy", "agent": "data-loader",
        "input": {"artifact_id": "<< input.artifact_id >>", "as": "path"},
    }  # fmt: skip
    workflow = {**SEED, "steps": [*SEED["steps"], local_copy]}
    report = await runner.run(workflow, {"artifact_id": source.artifact_id})
    assert report.status == "succeeded", report.model_dump_json(indent=1)
    saved = report.steps["save_result"].output
    assert saved["name"] == f"processed-{source.artifact_id}.json"

    content = await hub.service.pull_bytes(ALICE, saved["artifact_id"])
    assert json.loads(content) == {"total": 6, "rows": 3}
    artifact = await hub.service.get(ALICE, saved["artifact_id"])
    assert artifact.session_id == "ses_wf"
    graph = (await hub.service.lineage(ALICE, saved["artifact_id"])).model_dump_json()
    for needle in (source.artifact_id, report.run_id, "save_result"):
        assert needle in graph
    copied = Path(report.steps["local_copy"].output["data"])
    assert copied.is_relative_to(tmp_path / "work")
    assert json.loads(copied.read_bytes()) == {"rows": [1, 2, 3]}

    # Bob may not read Alice's artifact: the loader fails with the hub's code.
    report = await Runner.for_service(hub.service, BOB, AGENTS).run(
        SEED, {"artifact_id": source.artifact_id}
    )
    steps = report.steps
    assert report.status == "failed"
    assert steps["download_data"].status == "failed"
    assert steps["download_data"].error is not None
    assert steps["download_data"].error.code == "artifact_not_found"
    assert [steps[s].status for s in ("process", "save_result")] == ["skipped", "skipped"]
