"""Run a workflow the way the Coordination Hub would, in this process.

Each step starts as soon as every step it depends on has succeeded, so independent steps run
in parallel (one asyncio task each). A step's templates are resolved just before it starts,
against the run's input and the outputs of its upstream steps. Each attempt may last
``timeout`` seconds; a failed or timed-out attempt is retried while ``retry.max_attempts``
allows (the n-th retry starts ``backoff * 2 ** (n - 1)`` seconds after the failure), unless the
error says retrying cannot help (the hub's 4xx codes, template errors). A step whose
dependency did not succeed is ``skipped`` with the reason, and so are the steps after it.

Example:
    >>> runner = Runner.for_service(hub.service, caller)          # doctest: +SKIP
    >>> report = await runner.run(workflow, {"artifact_id": "art_..."})  # doctest: +SKIP
    >>> report.status, report.steps["save_result"].output             # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.workflow import RunReport, Workflow
from artifact_hub.workflow_steps.registry import (
    AgentRegistry,
    LoadLog,
    StepContext,
    default_registry,
)
from artifact_hub.workflow_steps.run_execution import ContextFactory, OnUpdate, RunExecution
from artifact_hub.workflow_steps.templates import TemplateResolver, to_template_data
from artifact_hub.workflow_steps.validation import check_workflow, load_workflow

if TYPE_CHECKING:
    from artifact_hub.schemas.identity import Caller
    from artifact_hub.service.artifacts import ArtifactService

__all__ = ["ContextFactory", "OnUpdate", "Runner"]


class Runner:
    """Runs workflows with agents from a registry.

    Args:
        registry: Where step agents are looked up by name.
        context_factory: Builds each attempt's :class:`StepContext` (service and caller);
            see :meth:`for_service`.
        resolver: Resolves the step inputs' templates; by default one that plays the hub
            and also resolves ``{{ }}``.
    """

    def __init__(
        self,
        registry: AgentRegistry | None = None,
        *,
        context_factory: ContextFactory,
        resolver: TemplateResolver | None = None,
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.context_factory = context_factory
        self.resolver = resolver or TemplateResolver(hub_syntax=True)

    @classmethod
    def for_service(
        cls,
        service: ArtifactService,
        caller: Caller,
        registry: AgentRegistry | None = None,
        *,
        session_id: str | None = None,
        work_dir: Path | None = None,
        resolver: TemplateResolver | None = None,
    ) -> Runner:
        """A runner whose steps act as ``caller`` on ``service`` (the in-process hub).

        Args:
            service: The hub's service.
            caller: Who every step acts as.
            registry: The agents (default: :data:`default_registry`).
            session_id: Where steps save artifacts when they name no session.
            work_dir: Where ``data-loader`` writes local files (default: a temporary folder
                per run).
            resolver: The template resolver (default: one that plays the hub).
        """

        def factory(
            *,
            run_id: str,
            workflow_id: str,
            step_id: str,
            attempt: int,
            loads: LoadLog,
            upstream: frozenset[str] | None,
        ) -> StepContext:
            return StepContext(
                service=service,
                caller=caller,
                run_id=run_id,
                workflow_id=workflow_id,
                step_id=step_id,
                attempt=attempt,
                loads=loads,
                upstream=upstream,
                session_id=session_id,
                work_dir=work_dir,
            )

        return cls(registry, context_factory=factory, resolver=resolver)

    def prepare(self, workflow: Workflow | dict[str, Any] | str | bytes | Path) -> Workflow:
        """Load and check ``workflow`` without running it.

        Raises:
            WorkflowInvalidError: The workflow cannot run (the message names the step).
            TemplateError: A template is refused.
        """
        loaded = load_workflow(workflow)
        check_workflow(loaded, self.registry.names(), resolver=self.resolver)
        return loaded

    async def run(
        self,
        workflow: Workflow | dict[str, Any] | str | bytes | Path,
        inputs: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        on_update: OnUpdate | None = None,
    ) -> RunReport:
        """Run ``workflow`` with ``inputs`` (over the workflow's own ``input`` defaults).

        Nothing runs unless the whole workflow passes :meth:`prepare`.

        Args:
            workflow: The workflow (model, parsed JSON, JSON text or a path).
            inputs: The run's input; templates read it as ``input.<key>``.
            run_id: The run's id (default: a new UUID).
            on_update: Called with the report whenever a step changes status.

        Returns:
            The report; ``status`` is ``failed`` when any step did not succeed.

        Raises:
            WorkflowInvalidError: The workflow cannot run; no step started.
            TemplateError: A template is refused outright; no step started.
            InvalidRequestError: ``inputs`` holds something that is not JSON-like data.
        """
        loaded = self.prepare(workflow)
        try:
            data_inputs = to_template_data({**loaded.input, **(inputs or {})}, where="input")
        except TypeError as error:
            raise InvalidRequestError(f"workflow input: {error}") from None
        run = RunExecution(
            self.registry,
            self.resolver,
            self.context_factory,
            loaded,
            data_inputs,
            run_id or str(uuid4()),
            on_update,
        )
        return await run.execute()
