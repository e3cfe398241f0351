"""Coordination Hub workflows and the report of one run.

A workflow is JSON::

    {"id": "etl", "input": {"artifact_id": "art_..."},
     "steps": [{"id": "load", "type": "agent", "agent": "data-loader",
                "input": {"artifact_id": "<< input.artifact_id >>"}},
               {"id": "save", "agent": "artifact-saver", "depends_on": ["load"],
                "input": {"result": "<< steps.load.output.data >>"},
                "timeout": 30, "retry": {"max_attempts": 3, "backoff": 0.5}}]}

The models check what JSON alone can say: field types, positive timeouts, sane retry
policies, unique step ids, ``depends_on`` naming existing steps and no cycles. Every message
names the step at fault. What needs the rest of the package (which agents exist, which steps a
template refers to) is checked by :func:`artifact_hub.workflow_steps.check_workflow`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "BACKOFF_STRATEGIES",
    "RUNNABLE_STEP_TYPES",
    "STEP_TYPES",
    "RetryPolicy",
    "RunReport",
    "RunStatus",
    "Step",
    "StepError",
    "StepReport",
    "StepStatus",
    "StepType",
    "Workflow",
    "find_cycle",
    "transitive_upstream",
]

StepType = Literal["agent", "human_approval", "human_input", "condition"]
#: Every step type the Coordination Hub knows.
STEP_TYPES: frozenset[str] = frozenset({"agent", "human_approval", "human_input", "condition"})
#: The step types artifact-hub's own runner can execute.
RUNNABLE_STEP_TYPES: frozenset[str] = frozenset({"agent"})

#: Step ids are used as ``steps.<id>`` in templates, so they look like names.
STEP_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$"
#: Upper bounds that catch typos (a timeout in milliseconds, a retry loop without end).
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0
MAX_ATTEMPTS = 100
MAX_BACKOFF_SECONDS = 3600.0


BackoffStrategy = Literal["exponential", "linear", "fixed", "constant", "none"]
#: The strategy names the Coordination Hub's workflow guide writes (``"backoff":
#: "exponential"``); ``constant`` is another name for ``fixed``.
BACKOFF_STRATEGIES: frozenset[str] = frozenset(get_args(BackoffStrategy))
BackoffSeconds = Annotated[float, Field(ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)]


class RetryPolicy(BaseModel):
    """How often a failed step is tried and how long to wait in between.

    ``backoff`` is either a number, the first delay in seconds of an exponential backoff
    (attempt ``n``, from 2, starts ``backoff * 2 ** (n - 2)`` seconds after attempt ``n - 1``
    failed), or a strategy name as the Coordination Hub writes it, with ``delay`` as the base:

    - ``exponential``: ``delay * 2 ** (n - 2)``;
    - ``linear``: ``delay * (n - 1)``;
    - ``fixed`` (or ``constant``): ``delay`` every time;
    - ``none``: no wait.

    ``max_delay`` caps every wait.

    Attributes:
        max_attempts: Tries in all, the first included (1: no retry).
        backoff: The first delay in seconds (each further delay doubles), or a strategy name.
        delay: The base delay in seconds of a named strategy.
        max_delay: The longest wait in seconds (None: no cap).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_attempts: int = Field(default=3, ge=1, le=MAX_ATTEMPTS, strict=True)
    backoff: BackoffSeconds | BackoffStrategy = 1.0
    delay: float = Field(default=1.0, ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)
    max_delay: float | None = Field(default=None, ge=0, le=MAX_BACKOFF_SECONDS, allow_inf_nan=False)

    @field_validator("backoff", mode="before")
    @classmethod
    def _seconds_or_strategy(cls, value: Any) -> Any:
        # One clear message instead of one per member of the union.
        if isinstance(value, str):
            name = value.strip().lower()  # "Exponential" in hand-written JSON
            if name in BACKOFF_STRATEGIES:
                return name
            try:
                value = float(name)
            except ValueError:
                raise PydanticCustomError(
                    "backoff",
                    "Input should be seconds (a number >= 0) or one of {names}",
                    {"names": ", ".join(sorted(BACKOFF_STRATEGIES))},
                ) from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError(
                "backoff",
                "Input should be seconds (a number >= 0) or one of {names}",
                {"names": ", ".join(sorted(BACKOFF_STRATEGIES))},
            )
        if not math.isfinite(value):
            raise PydanticCustomError("finite_number", "Input should be a finite number")
        if value < 0:
            raise PydanticCustomError(
                "greater_than_equal", "Input should be greater than or equal to 0"
            )
        if value > MAX_BACKOFF_SECONDS:
            raise PydanticCustomError(
                "less_than_equal",
                "Input should be less than or equal to {le}",
                {"le": MAX_BACKOFF_SECONDS},
            )
        return float(value)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (2 for the first retry); 0 for the first."""
        if attempt <= 1:
            return 0.0
        wait: float
        match self.backoff:
            case "exponential":
                wait = self.delay * 2 ** (attempt - 2)
            case "linear":
                wait = self.delay * (attempt - 1)
            case "fixed" | "constant":
                wait = self.delay
            case "none":
                wait = 0.0
            case _:
                wait = float(self.backoff * 2 ** (attempt - 2))
        return wait if self.max_delay is None else min(wait, self.max_delay)


class Step(BaseModel):
    """One step of a workflow.

    Attributes:
        id: Unique in the workflow; templates refer to it as ``steps.<id>``.
        type: ``agent`` (the one artifact-hub runs); the hub's ``human_approval``,
            ``human_input`` and ``condition`` are accepted here but refused by the runner.
        agent: The step agent's registered name (required for ``agent`` steps).
        depends_on: Steps that must succeed before this one starts.
        input: The agent's input; strings may hold ``<< >>`` (and the hub's ``{{ }}``)
            templates.
        timeout: Seconds one attempt may take (None: no limit).
        retry: Retries after a failure or timeout (None: one attempt).
    """

    # Other step types carry fields of the hub's own (prompts, conditions), so only agent
    # steps are held to the known fields (see _agent_fields).
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=STEP_ID_PATTERN)
    type: StepType = "agent"
    agent: str | None = Field(default=None, min_length=1, max_length=128)
    name: str | None = None
    description: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    input: dict[str, Any] = Field(default_factory=dict)
    timeout: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS, allow_inf_nan=False)
    retry: RetryPolicy | None = None

    @field_validator("depends_on")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        repeated = sorted({d for d in value if value.count(d) > 1})
        if repeated:
            raise ValueError(f"depends_on lists {', '.join(map(repr, repeated))} more than once")
        return value

    @model_validator(mode="after")
    def _agent_fields(self) -> Step:
        if self.type == "agent":
            if self.agent is None:
                raise ValueError(f"step {self.id!r} is an agent step without an 'agent'")
            if self.model_extra:
                unknown = ", ".join(sorted(self.model_extra))
                raise ValueError(f"step {self.id!r} has unknown field(s): {unknown}")
        if self.id in self.depends_on:
            raise ValueError(f"step {self.id!r} depends on itself")
        return self

    @property
    def attempts_allowed(self) -> int:
        """How many times the runner may try this step."""
        return self.retry.max_attempts if self.retry is not None else 1


class Workflow(BaseModel):
    """A Coordination Hub workflow.

    Attributes:
        id: The workflow's name.
        input: Default inputs; ``--input`` values given to a run override them.
        steps: The steps, in any order; ``depends_on`` decides the order they run in.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=256)
    name: str | None = None
    description: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _graph(self) -> Workflow:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} is used by more than one step")
            seen.add(step.id)
        for step in self.steps:
            unknown = [d for d in step.depends_on if d not in seen]
            if unknown:
                names = ", ".join(map(repr, unknown))
                raise ValueError(f"step {step.id!r} depends on unknown step(s) {names}")
        cycle = find_cycle({s.id: s.depends_on for s in self.steps})
        if cycle:
            path = " -> ".join(cycle)
            raise ValueError(f"steps form a cycle: {path} (each depends on the next)")
        return self

    def step(self, step_id: str) -> Step:
        """The step with id ``step_id`` (KeyError when there is none)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def upstream(self) -> dict[str, frozenset[str]]:
        """Every step's transitive dependencies (``step id -> ids``)."""
        return transitive_upstream({s.id: s.depends_on for s in self.steps})


def transitive_upstream(depends_on: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    """Each node's transitive dependencies in an acyclic ``node -> dependencies`` graph."""
    result: dict[str, frozenset[str]] = {}

    def visit(node: str) -> frozenset[str]:
        if node in result:
            return result[node]
        found: set[str] = set()
        # Iterative depth-first walk: a 10,000-step chain must not hit the recursion limit.
        stack = list(depends_on.get(node, ()))
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            if current in result:
                found |= result[current]
            else:
                stack.extend(depends_on.get(current, ()))
        result[node] = frozenset(found)
        return result[node]

    for node in depends_on:
        visit(node)
    return result


def find_cycle(depends_on: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle of ``node -> dependencies`` as ``[a, b, ..., a]``, or None when acyclic."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(depends_on, white)
    for root in depends_on:
        if colour[root] != white:
            continue
        # Iterative DFS keeping the path, so the cycle can be named.
        path: list[str] = [root]
        iters = [iter(depends_on.get(root, ()))]
        colour[root] = grey
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                colour[path.pop()] = black
                iters.pop()
                continue
            state = colour.get(nxt, black)  # unknown nodes are reported elsewhere
            if state == grey:
                return [*path[path.index(nxt) :], nxt]
            if state == white:
                colour[nxt] = grey
                path.append(nxt)
                iters.append(iter(depends_on.get(nxt, ())))
    return None


# ------------------------------------------------------------------------------------ reports

StepStatus = Literal["pending", "running", "succeeded", "failed", "timed_out", "skipped"]
RunStatus = Literal["pending", "running", "succeeded", "failed"]


class StepError(BaseModel):
    """Why a step did not succeed: a stable code (match on it) and a message."""

    code: str
    message: str


class StepReport(BaseModel):
    """What happened to one step of a run.

    Attributes:
        step_id: The step.
        agent: The agent it called.
        status: ``pending``, ``running``, ``succeeded``, ``failed``, ``timed_out`` or
            ``skipped``.
        attempts: Attempts started so far.
        started_at: When the first attempt started.
        finished_at: When the step reached its final status.
        duration_seconds: Wall time from the first attempt's start to the end.
        output: The agent's output (when it succeeded).
        error: Code and message of the last failure, or why the step was skipped.
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    step_id: str
    agent: str | None = None
    status: StepStatus = "pending"
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    output: Any = None
    error: StepError | None = None


class RunReport(BaseModel):
    """The report of one workflow run.

    Attributes:
        run_id: The run's id; every artifact a step saves is recorded under it.
        workflow_id: The workflow.
        status: ``succeeded`` when every step did, ``failed`` otherwise.
        started_at: When the run started.
        finished_at: When the last step ended.
        duration_seconds: Wall time of the run.
        steps: Each step's report, in the workflow's order.
    """

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    run_id: str
    workflow_id: str
    status: RunStatus = "pending"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    steps: dict[str, StepReport] = Field(default_factory=dict)

    @property
    def failed_steps(self) -> list[str]:
        """Ids of the steps that did not succeed."""
        return [k for k, v in self.steps.items() if v.status != "succeeded"]
