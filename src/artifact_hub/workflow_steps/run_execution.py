"""One run of a workflow: the step tasks, their attempts and timeouts, skips and the report.

:class:`~artifact_hub.workflow_steps.runner.Runner` checks the workflow and hands it here;
:class:`RunExecution` starts each step once its dependencies succeeded, retries failed
attempts while the step allows and the error is worth retrying, and skips the steps after a
failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from artifact_hub.core.errors import (
    ArtifactHubError,
    DependencyFailedError,
    RateLimitedError,
    ServerError,
    StepTimeoutError,
    TemplateError,
)
from artifact_hub.schemas.workflow import RunReport, Step, StepError, StepReport, Workflow
from artifact_hub.workflow_steps.registry import AgentRegistry, LoadLog, StepContext
from artifact_hub.workflow_steps.templates import TemplateResolver, to_template_data

__all__ = ["ContextFactory", "OnUpdate", "RunExecution"]


class ContextFactory(Protocol):
    """Builds the :class:`StepContext` of one attempt of one step."""

    def __call__(
        self,
        *,
        run_id: str,
        workflow_id: str,
        step_id: str,
        attempt: int,
        loads: LoadLog,
        upstream: frozenset[str] | None,
    ) -> StepContext:
        """The context for ``step_id``'s attempt ``attempt`` in run ``run_id``.

        ``upstream`` is None when the runner leaves the step's transitive dependencies to
        ``loads`` (which knows the workflow's ``depends_on`` and works them out only when an
        agent asks for :meth:`StepContext.upstream_loads`).
        """
        ...


OnUpdate = Callable[[RunReport], None]

_DONE_BAD = frozenset({"failed", "timed_out", "skipped"})
_PHRASE = {"failed": "failed", "timed_out": "timed out", "skipped": "was skipped"}


def _now() -> datetime:
    return datetime.now(UTC)


def _retryable(error: BaseException) -> bool:
    """Whether another attempt can help: not for the hub's "do not retry" codes."""
    if isinstance(error, RateLimitedError | ServerError | StepTimeoutError):
        return True
    # The hub's 4xx errors: the same input fails the same way.
    return not isinstance(error, ArtifactHubError)


def _step_error(error: BaseException) -> StepError:
    if isinstance(error, ArtifactHubError):
        return StepError(code=error.code, message=error.message)
    text = str(error) or "no message"
    return StepError(code="server_error", message=f"{type(error).__name__}: {text}")


class RunExecution:
    """The state of one run: reports, outputs and the tasks of running steps.

    Args:
        registry: Where the steps' agents are looked up.
        resolver: Resolves each attempt's input templates.
        context_factory: Builds each attempt's :class:`StepContext`.
        workflow: The checked workflow.
        inputs: The run's input, as template data.
        run_id: The run's id.
        on_update: Called with the report whenever a step changes status.
    """

    def __init__(
        self,
        registry: AgentRegistry,
        resolver: TemplateResolver,
        context_factory: ContextFactory,
        workflow: Workflow,
        inputs: dict[str, Any],
        run_id: str,
        on_update: OnUpdate | None,
    ) -> None:
        self.registry = registry
        self.resolver = resolver
        self.context_factory = context_factory
        self.workflow = workflow
        self.inputs = inputs
        self.on_update = on_update
        self.loads = LoadLog({s.id: s.depends_on for s in workflow.steps})
        self.outputs: dict[str, Any] = {}
        self.references = {s.id: resolver.references(s.input, step_id=s.id) for s in workflow.steps}
        self.steps = {s.id: s for s in workflow.steps}
        self.dependents: dict[str, list[str]] = {s.id: [] for s in workflow.steps}
        for step in workflow.steps:
            for dep in step.depends_on:
                self.dependents[dep].append(step.id)
        self.waiting = {s.id: len(s.depends_on) for s in workflow.steps}
        self.report = RunReport(
            run_id=run_id,
            workflow_id=workflow.id,
            steps={s.id: StepReport(step_id=s.id, agent=s.agent) for s in workflow.steps},
        )
        self.tasks: set[asyncio.Task[None]] = set()
        # Steps not yet in a final status; the run ends when it reaches zero. (Waiting on the
        # task set with asyncio.wait would cost O(running steps) per completion.)
        self.unsettled = len(workflow.steps)
        self.all_settled = asyncio.Event()

    def _notify(self) -> None:
        if self.on_update is not None:
            self.on_update(self.report)

    def _settle(self, count: int = 1) -> None:
        self.unsettled -= count
        if self.unsettled <= 0:
            self.all_settled.set()

    async def execute(self) -> RunReport:
        """Run every step to a final status and return the report."""
        report = self.report
        report.status = "running"
        report.started_at = _now()
        started = time.perf_counter()
        self._notify()
        try:
            for step in self.workflow.steps:
                if not step.depends_on:
                    self._start(step)
            await self.all_settled.wait()
        finally:
            # Only when the run itself is cancelled are steps still running here.
            for task in list(self.tasks):
                task.cancel()
            if self.tasks:
                await asyncio.gather(*self.tasks, return_exceptions=True)
        succeeded = all(s.status == "succeeded" for s in report.steps.values())
        report.status = "succeeded" if succeeded else "failed"
        report.finished_at = _now()
        report.duration_seconds = time.perf_counter() - started
        self._notify()
        return report

    def _start(self, step: Step) -> None:
        task = asyncio.create_task(self._step(step), name=f"step:{step.id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _step(self, step: Step) -> None:
        entry = self.report.steps[step.id]
        entry.status = "running"
        entry.started_at = _now()
        started = time.perf_counter()
        self._notify()
        try:
            await self._attempts(step, entry)
        except Exception as bug:  # a broken context factory or agent registry: fail the step
            self._fail(entry, "failed", bug)
        finally:
            entry.finished_at = _now()
            entry.duration_seconds = time.perf_counter() - started
        self._finished(step.id)
        self._settle()
        self._notify()

    async def _attempts(self, step: Step, entry: StepReport) -> None:
        try:
            agent = self.registry.get(step.agent or "")
        except ArtifactHubError as unknown:  # the registry changed since the run was checked
            self._fail(entry, "failed", unknown)
            return
        # Only the steps its templates name (all upstream, as checked): O(references), not
        # O(upstream), so a long chain does not rebuild its whole history for every step.
        context = {
            "input": self.inputs,
            "steps": {u: {"output": self.outputs[u]} for u in self.references[step.id]},
        }
        last = step.attempts_allowed
        for attempt in range(1, last + 1):
            if attempt > 1:
                assert step.retry is not None
                await asyncio.sleep(step.retry.delay_before(attempt))
            entry.attempts = attempt
            self._notify()
            try:
                # Resolved on every attempt: an agent may have changed the dicts it was given.
                resolved = self.resolver.resolve_data(step.input, context, step_id=step.id)
            except TemplateError as refused:
                self._fail(entry, "failed", refused)
                return
            ctx = self.context_factory(
                run_id=self.report.run_id,
                workflow_id=self.workflow.id,
                step_id=step.id,
                attempt=attempt,
                loads=self.loads,
                # Worked out by the load log when an agent asks: a long chain's closures
                # would cost O(steps ** 2) to build up front.
                upstream=None,
            )
            failure: BaseException
            deadline = asyncio.timeout(step.timeout)
            try:
                async with deadline:
                    raw = await agent(resolved, ctx)
            except TimeoutError as exc:
                if not deadline.expired():  # the agent's own timeout (an HTTP call, ...)
                    failure, status = exc, "failed"
                else:
                    failure = StepTimeoutError(
                        f"step {step.id!r} did not finish within {step.timeout:g} s "
                        f"(attempt {attempt} of {last})",
                        step_id=step.id,
                    )
                    status = "timed_out"
            except Exception as exc:  # an agent's failure is the step's, never the run's
                failure, status = exc, "failed"
            else:
                try:
                    output = to_template_data(raw, where=f"steps.{step.id}.output")
                except TypeError as exc:
                    self._fail(entry, "failed", ServerError(f"step {step.id!r} returned {exc}"))
                    return
                self.outputs[step.id] = output
                entry.output = output
                entry.status = "succeeded"
                entry.error = None
                return
            if attempt == last or not _retryable(failure):
                self._fail(entry, status, failure)
                return
            # Another attempt follows: the step stays running, with the last error shown.
            entry.error = _step_error(failure)
            self._notify()

    def _fail(self, entry: StepReport, status: str, error: BaseException) -> None:
        entry.status = status  # type: ignore[assignment]
        entry.error = _step_error(error)
        self._notify()

    def _finished(self, step_id: str) -> None:
        status = self.report.steps[step_id].status
        for child in self.dependents[step_id]:
            child_entry = self.report.steps[child]
            if child_entry.status != "pending":
                continue  # already skipped because of another dependency
            if status in _DONE_BAD:
                self._skip(child, step_id)
                continue
            self.waiting[child] -= 1
            if self.waiting[child] == 0:
                self._start(self.steps[child])

    def _skip(self, step_id: str, because: str) -> None:
        # Iterative: a long chain after a failure must not hit the recursion limit.
        stack = [(step_id, because, because)]
        while stack:
            current, cause, root = stack.pop()
            entry = self.report.steps[current]
            if entry.status != "pending":
                continue
            cause_status = self.report.steps[cause].status
            message = f"skipped: dependency {cause!r} {_PHRASE.get(cause_status, cause_status)}"
            if root != cause:
                root_status = self.report.steps[root].status
                message += f" (after {root!r} {_PHRASE.get(root_status, root_status)})"
            error = DependencyFailedError(message, step_id=current, dependency=cause)
            entry.status = "skipped"
            entry.error = StepError(code=error.code, message=error.message)
            entry.finished_at = _now()
            self._settle()
            stack.extend((child, current, root) for child in self.dependents[current])
        self._notify()
