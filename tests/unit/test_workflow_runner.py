"""The in-process workflow runner with toy agents: order, parallelism, timeouts, retries."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any, cast

import pytest

from artifact_hub.core.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    WorkflowInvalidError,
)
from artifact_hub.schemas import Caller
from artifact_hub.schemas.workflow import RunReport
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.workflow_steps.registry import AgentRegistry, StepContext
from artifact_hub.workflow_steps.runner import Runner

CALLER = Caller(tenant_id="t1", agent_id="runner-test")


class Toys:
    """Toy agents that record what happened to them."""

    def __init__(self) -> None:
        self.registry = AgentRegistry()
        self.calls: list[tuple[str, int]] = []
        self.starts: dict[tuple[str, int], float] = {}
        self.ends: dict[tuple[str, int], float] = {}
        self.contexts: dict[str, StepContext] = {}
        self.inputs: dict[str, dict[str, Any]] = {}
        self.barrier = asyncio.Barrier(2)
        reg = self.registry

        def track(ctx: StepContext, step_input: dict[str, Any]) -> tuple[str, int]:
            key = (ctx.step_id, ctx.attempt)
            self.calls.append(key)
            self.starts[key] = time.monotonic()
            self.contexts[ctx.step_id] = ctx
            self.inputs[ctx.step_id] = step_input
            return key

        @reg.agent("echo")
        async def echo(step_input: dict[str, Any], ctx: StepContext) -> Any:
            key = track(ctx, step_input)
            self.ends[key] = time.monotonic()
            return step_input

        @reg.agent("meet")
        async def meet(step_input: dict[str, Any], ctx: StepContext) -> Any:
            # Both "meet" steps must be running at once to pass the barrier.
            key = track(ctx, step_input)
            await asyncio.wait_for(self.barrier.wait(), 5)
            self.ends[key] = time.monotonic()
            return {"met": ctx.step_id}

        @reg.agent("sleep")
        async def sleep(step_input: dict[str, Any], ctx: StepContext) -> Any:
            track(ctx, step_input)
            await asyncio.sleep(float(step_input.get("seconds", 30)))
            return "woke"

        @reg.agent("flaky")
        async def flaky(step_input: dict[str, Any], ctx: StepContext) -> Any:
            key = track(ctx, step_input)
            self.ends[key] = time.monotonic()
            if ctx.attempt < int(step_input.get("succeed_on", 2)):
                raise ConnectionError(f"attempt {ctx.attempt} lost the connection")
            return {"attempt": ctx.attempt}

        @reg.agent("own-timeout")
        async def own_timeout(step_input: dict[str, Any], ctx: StepContext) -> Any:
            track(ctx, step_input)
            raise TimeoutError("the upstream API did not answer")

        @reg.agent("forbidden")
        async def forbidden(step_input: dict[str, Any], ctx: StepContext) -> Any:
            track(ctx, step_input)
            raise PermissionDeniedError("not yours", artifact_id="art_x")

        @reg.agent("load")
        async def load(step_input: dict[str, Any], ctx: StepContext) -> Any:
            track(ctx, step_input)
            ctx.record_load(step_input["artifact_id"], 1)
            return {"data": [1, 2, 3], "blob": b"\x00\x01"}

        @reg.agent("lineage")
        async def lineage(step_input: dict[str, Any], ctx: StepContext) -> Any:
            track(ctx, step_input)
            return [list(pair) for pair in ctx.upstream_loads()]

        @reg.agent("opaque")
        async def opaque(step_input: dict[str, Any], ctx: StepContext) -> Any:
            track(ctx, step_input)
            return object()

    def runner(self) -> Runner:
        return Runner.for_service(cast(ArtifactService, None), CALLER, self.registry)

    def steps_called(self) -> list[str]:
        return [s for s, _ in self.calls]


@pytest.fixture
def toys() -> Toys:
    return Toys()


def wf(*steps: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "test", "steps": list(steps), **extra}


async def test_independent_steps_overlap(toys: Toys) -> None:
    report = await toys.runner().run(
        wf({"id": "a", "agent": "meet"}, {"id": "b", "agent": "meet", "timeout": 10})
    )
    assert report.status == "succeeded"
    a, b = report.steps["a"], report.steps["b"]
    assert a.started_at and b.started_at and a.finished_at and b.finished_at
    assert a.started_at < b.finished_at and b.started_at < a.finished_at  # overlapping


async def test_dependencies_run_in_topological_order_with_native_templates(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {
                "id": "last",
                "agent": "echo",
                "depends_on": ["mid"],
                "input": {
                    "rows": "<< steps.first.output.data >>",
                    "name": "{{ input.prefix }}-<< steps.mid.output.n >>.json",
                },
            },
            {"id": "first", "agent": "load", "input": {"artifact_id": "<< input.art >>"}},
            {
                "id": "mid",
                "agent": "echo",
                "depends_on": ["first"],
                "input": {"n": "<< steps.first.output.data|length >>"},
            },
            input={"prefix": "default", "art": "art_1"},
        ),
        {"prefix": "out"},
    )
    assert report.status == "succeeded"
    assert toys.steps_called() == ["first", "mid", "last"]
    assert toys.inputs["mid"] == {"n": 3}
    assert toys.inputs["last"] == {"rows": [1, 2, 3], "name": "out-3.json"}
    assert report.steps["first"].output == {"data": [1, 2, 3], "blob": b"\x00\x01"}


async def test_a_step_sees_only_its_upstream_and_lineage(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {"id": "l1", "agent": "load", "input": {"artifact_id": "art_1"}},
            {"id": "l2", "agent": "load", "input": {"artifact_id": "art_2"}},
            {"id": "use", "agent": "lineage", "depends_on": ["l1"]},
        )
    )
    assert report.steps["use"].output == [["art_1", 1]]
    ctx = toys.contexts["use"]
    assert ctx.loads.upstream_of("use") == frozenset({"l1"})
    assert ctx.run_id == report.run_id and ctx.workflow_id == "test"
    assert ctx.caller == CALLER
    assert ctx.loads is toys.contexts["l2"].loads  # one load log per run


async def test_a_step_that_times_out(toys: Toys) -> None:
    started = time.monotonic()
    report = await toys.runner().run(
        wf({"id": "slow", "agent": "sleep", "timeout": 0.05, "input": {"seconds": 30}})
    )
    slow = report.steps["slow"]
    assert slow.status == "timed_out"
    assert slow.error is not None and slow.error.code == "step_timeout"
    assert "within 0.05 s" in slow.error.message
    assert slow.attempts == 1
    assert report.status == "failed"
    assert time.monotonic() - started < 5


async def test_timeouts_are_retried_then_reported(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {
                "id": "slow",
                "agent": "sleep",
                "timeout": 0.02,
                "retry": {"max_attempts": 2, "backoff": 0},
            }
        )
    )
    assert report.steps["slow"].status == "timed_out"
    assert report.steps["slow"].attempts == 2


async def test_fails_then_succeeds_on_retry_after_backoff(toys: Toys) -> None:
    report = await toys.runner().run(
        wf({"id": "f", "agent": "flaky", "retry": {"max_attempts": 3, "backoff": 0.1}})
    )
    f = report.steps["f"]
    assert f.status == "succeeded"
    assert f.attempts == 2
    assert f.output == {"attempt": 2}
    assert f.error is None
    gap = toys.starts[("f", 2)] - toys.ends[("f", 1)]
    assert gap >= 0.1  # the backoff was waited


async def test_backoff_doubles_and_the_last_error_is_reported(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {
                "id": "f",
                "agent": "flaky",
                "input": {"succeed_on": 9},
                "retry": {"max_attempts": 3, "backoff": 0.05},
            }
        )
    )
    f = report.steps["f"]
    assert f.status == "failed" and f.attempts == 3
    assert f.error is not None
    assert f.error.code == "server_error"
    assert f.error.message == "ConnectionError: attempt 3 lost the connection"
    first_gap = toys.starts[("f", 2)] - toys.ends[("f", 1)]
    second_gap = toys.starts[("f", 3)] - toys.ends[("f", 2)]
    assert first_gap >= 0.05 and second_gap >= 0.1


async def test_hub_errors_that_say_do_not_retry_are_not_retried(toys: Toys) -> None:
    report = await toys.runner().run(
        wf({"id": "x", "agent": "forbidden", "retry": {"max_attempts": 5, "backoff": 0}})
    )
    x = report.steps["x"]
    assert (x.status, x.attempts) == ("failed", 1)
    assert x.error is not None and x.error.code == "forbidden"


async def test_a_step_whose_dependency_failed_is_skipped_with_the_reason(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {"id": "bad", "agent": "forbidden"},
            {"id": "next", "agent": "echo", "depends_on": ["bad"]},
            {"id": "after", "agent": "echo", "depends_on": ["next", "other"]},
            {"id": "other", "agent": "echo"},
            {"id": "tail", "agent": "echo", "depends_on": ["other"]},
        )
    )
    statuses = {k: v.status for k, v in report.steps.items()}
    assert statuses == {
        "bad": "failed",
        "next": "skipped",
        "after": "skipped",
        "other": "succeeded",
        "tail": "succeeded",
    }
    skipped = report.steps["next"]
    assert skipped.error is not None
    assert skipped.error.code == "dependency_failed"
    assert skipped.error.message == "skipped: dependency 'bad' failed"
    assert skipped.attempts == 0
    after = report.steps["after"].error
    assert after is not None
    assert after.message == "skipped: dependency 'next' was skipped (after 'bad' failed)"
    assert "next" not in toys.steps_called() and "after" not in toys.steps_called()


async def test_a_timed_out_dependency_skips_too(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {"id": "slow", "agent": "sleep", "timeout": 0.02},
            {"id": "next", "agent": "echo", "depends_on": ["slow"]},
        )
    )
    error = report.steps["next"].error
    assert error is not None and error.message == "skipped: dependency 'slow' timed out"


async def test_a_runtime_template_error_fails_the_step_without_retry(toys: Toys) -> None:
    report = await toys.runner().run(
        wf(
            {
                "id": "t",
                "agent": "echo",
                "input": {"x": "<< input.absent >>"},
                "retry": {"max_attempts": 3, "backoff": 0},
            }
        )
    )
    t = report.steps["t"]
    assert (t.status, t.attempts) == ("failed", 1)
    assert t.error is not None and t.error.code == "template_error"
    assert "step 't', input.x" in t.error.message
    assert toys.calls == []


async def test_an_output_that_is_not_data_fails_the_step(toys: Toys) -> None:
    report = await toys.runner().run(wf({"id": "o", "agent": "opaque"}))
    o = report.steps["o"]
    assert o.status == "failed"
    assert o.error is not None and o.error.code == "server_error"
    assert "a value of type object is not template data" in o.error.message


async def test_invalid_workflows_and_inputs_run_nothing(toys: Toys) -> None:
    runner = toys.runner()
    with pytest.raises(WorkflowInvalidError, match="unknown agent 'nope'"):
        await runner.run(wf({"id": "a", "agent": "echo"}, {"id": "b", "agent": "nope"}))
    with pytest.raises(
        InvalidRequestError, match=r"input\.x: a value of type object is not template data"
    ):
        await runner.run(wf({"id": "a", "agent": "echo"}), {"x": object()})
    assert toys.calls == []


async def test_report_json_and_updates(toys: Toys) -> None:
    seen: list[tuple[str, str]] = []

    def on_update(report: RunReport) -> None:
        seen.append((report.status, report.steps["a"].status))

    report = await toys.runner().run(
        wf({"id": "a", "agent": "load", "input": {"artifact_id": "art_1"}}), on_update=on_update
    )
    body = json.loads(report.model_dump_json())
    assert uuid.UUID(body["run_id"])
    assert body["workflow_id"] == "test" and body["status"] == "succeeded"
    step = body["steps"]["a"]
    assert step["status"] == "succeeded" and step["attempts"] == 1
    assert step["output"] == {"data": [1, 2, 3], "blob": "AAE="}
    assert step["duration_seconds"] >= 0
    again = RunReport.model_validate_json(report.model_dump_json())
    assert again.steps["a"].status == "succeeded" and again.run_id == report.run_id
    assert seen[0] == ("running", "pending")
    assert ("running", "running") in seen
    assert seen[-1] == ("succeeded", "succeeded")


async def test_given_run_id_and_a_long_chain(toys: Toys) -> None:
    steps = [{"id": "s0", "agent": "echo", "input": {"n": 0}}] + [
        {
            "id": f"s{i}",
            "agent": "echo",
            "depends_on": [f"s{i - 1}"],
            "input": {"n": f"<< steps.s{i - 1}.output.n + 1 >>"},
        }
        for i in range(1, 100)
    ]
    report = await toys.runner().run(wf(*steps), run_id="run-fixed")
    assert report.run_id == "run-fixed"
    assert report.steps["s99"].output == {"n": 99}


async def test_a_broken_context_factory_fails_the_step_not_the_run(toys: Toys) -> None:
    def broken(**_: Any) -> StepContext:
        raise RuntimeError("no service today")

    runner = Runner(toys.registry, context_factory=broken)
    report = await asyncio.wait_for(
        runner.run(
            wf({"id": "a", "agent": "echo"}, {"id": "b", "agent": "echo", "depends_on": ["a"]})
        ),
        5,
    )
    assert report.steps["a"].status == "failed"
    assert report.steps["a"].error is not None
    assert report.steps["a"].error.message == "RuntimeError: no service today"
    assert report.steps["b"].status == "skipped"


async def test_cancelling_the_run_cancels_its_steps(toys: Toys) -> None:
    running = asyncio.Event()

    def on_update(report: RunReport) -> None:
        if report.steps["slow"].attempts:
            running.set()

    run = asyncio.create_task(
        toys.runner().run(
            wf({"id": "slow", "agent": "sleep", "input": {"seconds": 30}}), on_update=on_update
        )
    )
    await asyncio.wait_for(running.wait(), 5)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t.get_name() == "step:slow"] == []


async def test_a_wide_fan_out_joins(toys: Toys) -> None:
    width = 300
    steps = [{"id": f"w{i}", "agent": "echo", "input": {"i": i}} for i in range(width)]
    join = {
        "id": "join",
        "agent": "echo",
        "depends_on": [f"w{i}" for i in range(width)],
        "input": {"first": "<< steps.w0.output.i >>", "last": f"<< steps.w{width - 1}.output.i >>"},
    }
    report = await toys.runner().run(wf(*steps, join))
    assert report.status == "succeeded"
    assert report.steps["join"].output == {"first": 0, "last": width - 1}
    assert toys.steps_called()[-1] == "join"


async def test_an_agents_own_timeout_error_is_a_failure_not_a_step_timeout(toys: Toys) -> None:
    report = await toys.runner().run(wf({"id": "a", "agent": "own-timeout", "timeout": 30}))
    a = report.steps["a"]
    assert a.status == "failed"
    assert a.error is not None and a.error.code == "server_error"
    assert a.error.message == "TimeoutError: the upstream API did not answer"
