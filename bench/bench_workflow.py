"""Workflow runner overhead: steps through the runner beside the same agents called directly.

Run from the repository root::

    PYTHONPATH=src python bench/bench_workflow.py [--steps 100] [--repeat 5] [--json]

Three shapes, each run by :class:`~artifact_hub.workflow_steps.runner.Runner` and, in the
same process and round, by plain ``await`` of the same agent functions with inputs already
resolved:

1. ``chain``: ``--steps`` steps, each depending on the previous one, no templates.
   Baseline: one ``await`` after the other.
2. ``chain_templated``: the same chain, each step's input a template on the previous step's
   output (``<< steps.s41.output.n + 1 >>``). Baseline: the value passed in Python.
3. ``fanout``: ``--steps`` independent steps. Baseline: ``asyncio.gather`` of the same calls.

The agent is trivial (``{"n": n + 1}``, no I/O), so the figures are the runner's own cost per
step: scheduling a task, resolving templates, building the step context, timing and the report.
Each shape takes the best of ``--repeat`` rounds (runner and baseline alternate who goes
first); the runner keeps its compiled templates between rounds, and the first (cold) round of
each shape is printed in the notes.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import Row, machine_facts, print_facts, print_json, print_table, progress

from artifact_hub.schemas import Caller
from artifact_hub.service.artifacts import ArtifactService
from artifact_hub.workflow_steps.registry import AgentRegistry, LoadLog, StepContext
from artifact_hub.workflow_steps.runner import Runner

ROW_KEYS = ("chain", "chain_templated", "fanout")
CALLER = Caller(tenant_id="bench", agent_id="bench")


async def work(step_input: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """The agent every step calls: trivial, so the runner's own cost shows."""
    return {"n": int(step_input.get("n", 0)) + 1}


def _registry() -> AgentRegistry:
    registry = AgentRegistry()
    registry.register("work", work)
    return registry


def _context(step_id: str, loads: LoadLog) -> StepContext:
    return StepContext(
        service=cast(ArtifactService, None),
        caller=CALLER,
        run_id="direct",
        workflow_id="direct",
        step_id=step_id,
        loads=loads,
    )


def workflow(shape: str, steps: int) -> dict[str, Any]:
    """The workflow JSON of one shape."""
    items: list[dict[str, Any]] = []
    for i in range(steps):
        step: dict[str, Any] = {"id": f"s{i}", "agent": "work", "input": {"n": i}}
        if shape != "fanout" and i > 0:
            step["depends_on"] = [f"s{i - 1}"]
        if shape == "chain_templated" and i > 0:
            step["input"] = {"n": f"<< steps.s{i - 1}.output.n >>"}
        items.append(step)
    return {"id": shape, "steps": items}


async def direct(shape: str, steps: int) -> float:
    """Seconds to call ``work`` for every step without the runner."""
    loads = LoadLog()
    contexts = [_context(f"s{i}", loads) for i in range(steps)]
    started = time.perf_counter()
    if shape == "fanout":
        await asyncio.gather(*(work({"n": i}, contexts[i]) for i in range(steps)))
    else:
        out: dict[str, Any] = {"n": 0}
        for i in range(steps):
            value = out["n"] if shape == "chain_templated" and i > 0 else i
            out = await work({"n": value}, contexts[i])
    return time.perf_counter() - started


async def through_runner(runner: Runner, shape: str, steps: int) -> float:
    """Seconds for ``runner`` to run the shape's workflow (checked to succeed)."""
    wf = workflow(shape, steps)
    started = time.perf_counter()
    report = await runner.run(wf)
    seconds = time.perf_counter() - started
    if report.status != "succeeded":
        raise RuntimeError(f"{shape}: the run failed: {report.failed_steps}")
    last = report.steps[f"s{steps - 1}"].output
    if shape != "fanout" and last != {"n": steps}:
        raise RuntimeError(f"{shape}: unexpected last output {last}")
    return seconds


async def measure(steps: int, repeat: int, notes: list[str]) -> list[Row]:
    runner = Runner.for_service(cast(ArtifactService, None), CALLER, _registry())
    labels = {
        "chain": ("await one after the other", f"{steps}-step chain"),
        "chain_templated": ("await, value passed in Python", f"{steps}-step chain, templated"),
        "fanout": ("asyncio.gather", f"{steps}-wide fan-out"),
    }
    rows = []
    for shape in ROW_KEYS:
        progress(f"{shape}: {repeat} rounds of {steps} steps")
        hub_times: list[float] = []
        raw_times: list[float] = []
        for round_no in range(repeat):
            sides: list[tuple[list[float], Callable[[], Awaitable[float]]]] = [
                (hub_times, lambda s=shape: through_runner(runner, s, steps)),  # type: ignore[misc]
                (raw_times, lambda s=shape: direct(s, steps)),  # type: ignore[misc]
            ]
            if round_no % 2:
                sides.reverse()
            for times, fn in sides:
                times.append(await fn())
        best_hub, best_raw = min(hub_times), min(raw_times)
        baseline_label, metric = labels[shape]
        rows.append(
            Row(
                key=shape,
                metric=f"{metric}: steps/s",
                unit="steps/s",
                hub=steps / best_hub,
                baseline_label=baseline_label,
                baseline=steps / best_raw,
                hub_samples=tuple(steps / t for t in hub_times),
                baseline_samples=tuple(steps / t for t in raw_times),
            )
        )
        per_step = (best_hub - best_raw) / steps * 1e6
        notes.append(
            f"{metric}: runner overhead {per_step:,.0f} us per step (best round); cold first "
            f"round {hub_times[0] * 1e3:,.1f} ms, best {best_hub * 1e3:,.1f} ms, direct "
            f"{best_raw * 1e3:,.2f} ms"
        )
    return rows


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="artifact-hub workflow runner overhead beside direct agent calls, one run."
    )
    parser.add_argument("--steps", type=int, default=100, help="chain length and fan-out width")
    parser.add_argument("--repeat", type=int, default=5, help="rounds per shape (best counts)")
    parser.add_argument("--json", action="store_true", help="also print one JSON line")
    args = parser.parse_args(argv)
    for name in ("steps", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    notes: list[str] = []
    rows = asyncio.run(measure(args.steps, args.repeat, notes))
    if tuple(row.key for row in rows) != ROW_KEYS:
        raise RuntimeError(f"rows {[row.key for row in rows]} differ from ROW_KEYS")
    facts = machine_facts(Path(tempfile.gettempdir()))
    print("artifact-hub workflow runner benchmark: the runner beside the same agent functions")
    print("called directly, in this same run on this same machine. Best of --repeat rounds.")
    print_facts(facts)
    print(f"sizes:   {args.steps} steps per workflow, {args.repeat} rounds per shape")
    print("ratio = artifact-hub / baseline (all figures are rates; 1.00x = as fast as direct).")
    print()
    print_table(rows)
    print()
    print("notes:")
    for note in notes:
        print(f"  - {note}")
    if args.json:
        print_json(
            {
                "bench": "workflow",
                "machine": facts,
                "params": {"steps": args.steps, "repeat": args.repeat},
                "rows": [row.as_dict() for row in rows],
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
