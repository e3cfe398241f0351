"""Workflow JSON (reference.md section 6): every validation error names the step at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from artifact_hub.core.errors import TemplateError, WorkflowInvalidError
from artifact_hub.schemas.workflow import RetryPolicy, RunReport, StepReport, find_cycle
from artifact_hub.workflow_steps.validation import check_workflow, load_workflow

AGENTS = {"data-loader", "processor", "artifact-saver"}

# The seed's three steps (seeds/artifact-hub-file-sharing-guide.txt), wrapped in a workflow.
SEED: dict[str, Any] = {
    "id": "seed",
    "steps": [
        {
            "id": "download_data",
            "type": "agent",
            "agent": "data-loader",
            "input": {"artifact_id": "{{ input.artifact_id }}"},
        },
        {
            "id": "process",
            "type": "agent",
            "agent": "processor",
            "depends_on": ["download_data"],
            "input": {"data": "{{ steps.download_data.output.data }}"},
        },
        {
            "id": "save_result",
            "type": "agent",
            "agent": "artifact-saver",
            "depends_on": ["process"],
            "input": {
                "result": "{{ steps.process.output }}",
                "name": "processed-{{ input.artifact_id }}.json",
            },
        },
    ],
}


def step(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "agent": "processor", **fields}


def invalid(data: Any) -> str:
    with pytest.raises(WorkflowInvalidError) as caught:
        workflow = load_workflow(data)
        check_workflow(workflow, AGENTS)
    assert caught.value.code == "workflow_invalid"
    assert caught.value.status == 422
    return caught.value.message


def test_the_seed_workflow_is_valid() -> None:
    workflow = load_workflow(json.dumps(SEED))
    check_workflow(workflow, AGENTS)
    assert [s.id for s in workflow.steps] == ["download_data", "process", "save_result"]
    assert workflow.upstream()["save_result"] == {"process", "download_data"}
    assert workflow.step("process").attempts_allowed == 1


def test_loads_from_a_path_and_bytes(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(SEED))
    assert load_workflow(path).id == "seed"
    assert load_workflow(path.read_bytes()).id == "seed"
    assert "cannot read" in invalid(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "a JSON object with 'id' and 'steps'"),
        ({"steps": [step("a")]}, "workflow: id: Field required"),
        ({"id": "w", "steps": []}, "workflow: steps: List should have at least 1 item"),
        ({"id": "w", "steps": [step("a")], "extra": 1}, "workflow: extra: Extra inputs"),
    ],
)
def test_malformed_documents(data: Any, expected: str) -> None:
    assert expected in invalid(data)


@pytest.mark.parametrize(
    ("bad_step", "expected"),
    [
        (step("a", timeout=0), "step 'a': timeout: Input should be greater than 0"),
        (step("a", timeout=-5), "step 'a': timeout: Input should be greater than 0"),
        (step("a", timeout="soon"), "step 'a': timeout: Input should be a valid number"),
        (step("a", timeout=float("inf")), "step 'a': timeout: Input should be a finite number"),
        (step("a", timeout=10**9), "step 'a': timeout: Input should be less than or equal"),
        (step("a", retry={"max_attempts": 0}), "step 'a': retry.max_attempts: Input should be"),
        (step("a", retry={"max_attempts": 2.5}), "step 'a': retry.max_attempts: Input should"),
        (step("a", retry={"max_attempts": 1000}), "step 'a': retry.max_attempts: Input should"),
        (step("a", retry={"backoff": -1}), "step 'a': retry.backoff: Input should be greater"),
        (step("a", retry={"backoff": 1e9}), "step 'a': retry.backoff: Input should be less"),
        (step("a", retry={"tries": 3}), "step 'a': retry.tries: Extra inputs are not permitted"),
        (step("a", retry=3), "step 'a': retry: Input should be a valid dictionary"),
        ({"id": "a", "type": "agent"}, "step 'a' is an agent step without an 'agent'"),
        (step("a", type="loop"), "step 'a': type: Input should be 'agent', 'human_approval'"),
        (step("a", depends_on="b"), "step 'a': depends_on: Input should be a valid list"),
        (step("a", input=[1]), "step 'a': input: Input should be a valid dictionary"),
        (step("a", dependson=["b"]), "step 'a' has unknown field(s): dependson"),
        (step("bad id"), "step 'bad id': id: String should match pattern"),
        ({"agent": "processor"}, "step #1: id: Field required"),
    ],
)
def test_bad_step_fields_name_the_step(bad_step: dict[str, Any], expected: str) -> None:
    assert expected in invalid({"id": "w", "steps": [bad_step]})


def test_duplicate_step_ids() -> None:
    message = invalid({"id": "w", "steps": [step("a"), step("b"), step("a")]})
    assert "step id 'a' is used by more than one step" in message


def test_unknown_depends_on() -> None:
    message = invalid({"id": "w", "steps": [step("a", depends_on=["ghost"])]})
    assert "step 'a' depends on unknown step(s) 'ghost'" in message


def test_repeated_and_self_dependencies() -> None:
    repeated = invalid({"id": "w", "steps": [step("a"), step("b", depends_on=["a", "a"])]})
    assert "step 'b': depends_on: depends_on lists 'a' more than once" in repeated
    assert "step 'a' depends on itself" in invalid(
        {"id": "w", "steps": [step("a", depends_on=["a"])]}
    )


def test_cycles_are_named() -> None:
    message = invalid(
        {
            "id": "w",
            "steps": [
                step("start"),
                step("a", depends_on=["start", "c"]),
                step("b", depends_on=["a"]),
                step("c", depends_on=["b"]),
            ],
        }
    )
    assert "steps form a cycle: a -> c -> b -> a" in message


def test_find_cycle_on_long_chains_does_not_recurse() -> None:
    chain = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(5000)}
    assert find_cycle(chain) is None
    chain["s0"] = ["s4999"]
    cycle = find_cycle(chain)
    assert cycle is not None and cycle[0] == cycle[-1] and len(cycle) == 5001


def test_unknown_agent_names_the_step_and_the_known_ones() -> None:
    message = invalid({"id": "w", "steps": [{"id": "a", "agent": "nope"}]})
    assert "step 'a' names the unknown agent 'nope'" in message
    assert "artifact-saver, data-loader, processor" in message


@pytest.mark.parametrize("kind", ["human_approval", "human_input", "condition"])
def test_hub_only_step_types_parse_but_the_runner_refuses_them(kind: str) -> None:
    data = {"id": "w", "steps": [{"id": "ask", "type": kind, "prompt": "ok?"}]}
    workflow = load_workflow(data)
    assert workflow.steps[0].type == kind
    check_workflow(workflow, AGENTS, runnable_only=False)
    message = invalid(data)
    assert f"step 'ask' is a {kind!r} step, which artifact-hub's runner cannot run" in message


def test_template_referring_to_a_step_that_is_not_upstream() -> None:
    message = invalid(
        {
            "id": "w",
            "steps": [
                step("a"),
                step("b"),
                step("c", depends_on=["a"], input={"x": "<< steps.b.output >>"}),
            ],
        }
    )
    assert "step 'c' refers to steps.b, which is not upstream of it" in message
    assert "add 'b' to its depends_on" in message


def test_template_referring_transitively_upstream_is_fine() -> None:
    workflow = load_workflow(
        {
            "id": "w",
            "steps": [
                step("a"),
                step("b", depends_on=["a"]),
                step("c", depends_on=["b"], input={"x": {"y": ["<< steps.a.output >>"]}}),
            ],
        }
    )
    check_workflow(workflow, AGENTS)


def test_template_referring_to_an_unknown_or_own_step() -> None:
    unknown = invalid({"id": "w", "steps": [step("a", input={"x": "<< steps.zz.output >>"})]})
    assert "step 'a' refers to steps.zz, but there is no step 'zz'" in unknown
    own = invalid({"id": "w", "steps": [step("a", input={"x": "{{ steps.a.output }}"})]})
    assert "step 'a' refers to its own output" in own


def test_refused_templates_fail_validation_with_template_error() -> None:
    workflow = load_workflow(
        {"id": "w", "steps": [step("a", input={"x": "<< input.__class__ >>"})]}
    )
    with pytest.raises(TemplateError) as caught:
        check_workflow(workflow, AGENTS)
    assert caught.value.step_id == "a"
    assert caught.value.field == "input.x"


def test_retry_backoff_is_exponential() -> None:
    policy = RetryPolicy(max_attempts=4, backoff=0.5)
    assert [policy.delay_before(n) for n in (1, 2, 3, 4)] == [0.0, 0.5, 1.0, 2.0]
    assert RetryPolicy().max_attempts == 3


def test_report_serialises_bytes_as_base64() -> None:
    report = RunReport(
        run_id="r",
        workflow_id="w",
        steps={"a": StepReport(step_id="a", status="succeeded", output={"b": b"\x00\xff"})},
    )
    body = json.loads(report.model_dump_json())
    assert body["steps"]["a"]["output"] == {"b": "AP8="}
    assert report.failed_steps == []
