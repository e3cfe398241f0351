"""Issue 12's newcomer stumbles that need no hub: retry strategy names and name references."""

from __future__ import annotations

import json

import pytest

from artifact_hub.core.errors import InvalidRequestError, WorkflowInvalidError
from artifact_hub.schemas.lookup import parse_ref
from artifact_hub.schemas.workflow import RetryPolicy
from artifact_hub.workflow_steps.validation import load_workflow

# The Coordination Hub guide's form: a strategy name where artifact-hub took seconds.
GUIDE_WORKFLOW = {
    "id": "guide",
    "steps": [
        {
            "id": "download_data",
            "type": "agent",
            "agent": "data-loader",
            "input": {"artifact_id": "{{ input.artifact_id }}"},
            "retry": {"max_attempts": 3, "backoff": "exponential"},
        }
    ],
}


def test_the_guides_retry_form_is_accepted() -> None:
    workflow = load_workflow(json.dumps(GUIDE_WORKFLOW))
    retry = workflow.steps[0].retry
    assert retry is not None and retry.backoff == "exponential"
    assert [retry.delay_before(n) for n in (1, 2, 3)] == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("backoff", "delays"),
    [
        ("exponential", [0.0, 2.0, 4.0, 8.0]),
        ("Exponential", [0.0, 2.0, 4.0, 8.0]),
        ("linear", [0.0, 2.0, 4.0, 6.0]),
        ("fixed", [0.0, 2.0, 2.0, 2.0]),
        ("constant", [0.0, 2.0, 2.0, 2.0]),
        ("none", [0.0, 0.0, 0.0, 0.0]),
        (0.5, [0.0, 0.5, 1.0, 2.0]),  # seconds, as before: exponential from 0.5 s
    ],
)
def test_every_strategy_name_waits_as_documented(backoff: object, delays: list[float]) -> None:
    policy = RetryPolicy.model_validate({"max_attempts": 4, "backoff": backoff, "delay": 2})
    assert [policy.delay_before(n) for n in (1, 2, 3, 4)] == delays


def test_max_delay_caps_the_wait() -> None:
    policy = RetryPolicy(max_attempts=10, backoff="exponential", delay=1, max_delay=5)
    assert policy.delay_before(10) == 5


@pytest.mark.parametrize("backoff", ["wild", "", -1, float("inf")])
def test_unknown_strategies_and_bad_numbers_are_refused(backoff: object) -> None:
    step = {**GUIDE_WORKFLOW["steps"][0], "retry": {"max_attempts": 3, "backoff": backoff}}  # type: ignore[dict-item]
    with pytest.raises(WorkflowInvalidError, match="download_data"):
        load_workflow({"id": "guide", "steps": [step]})


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [
        ("report.txt", ("report.txt", None)),
        ("report.txt:latest", ("report.txt", None)),
        ("report.txt:v3", ("report.txt", 3)),
        ("run:7", ("run:7", None)),  # not an alias: part of the name
        ("a:b:v12", ("a:b", 12)),
        ("x:v0", ("x:v0", None)),  # versions start at 1
    ],
)
def test_parse_ref(ref: str, parsed: tuple[str, int | None]) -> None:
    assert parse_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", ":latest", ":v2"])
def test_a_reference_needs_a_name(ref: str) -> None:
    with pytest.raises(InvalidRequestError):
        parse_ref(ref)
