"""Reading a workflow and checking it against the agents and templates before it runs.

:func:`load_workflow` turns JSON (text, bytes, a path or parsed data) into a
:class:`~artifact_hub.schemas.workflow.Workflow`, with pydantic's errors rewritten to name the
step at fault. :func:`check_workflow` adds what the schema cannot know: which agents exist,
which step types this runner can execute, and whether each template refers only to steps
upstream of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from artifact_hub.core.errors import WorkflowInvalidError
from artifact_hub.schemas.workflow import RUNNABLE_STEP_TYPES, Workflow
from artifact_hub.workflow_steps.templates import TemplateResolver

__all__ = ["check_workflow", "load_workflow"]


def load_workflow(source: str | bytes | Path | dict[str, Any] | Workflow) -> Workflow:
    """A workflow from JSON text, bytes, a file path, parsed JSON or a model.

    Raises:
        WorkflowInvalidError: Not JSON, or not a valid workflow; the message names the step.
    """
    if isinstance(source, Workflow):
        return source
    data: Any = source
    if isinstance(source, Path):
        try:
            data = source.read_bytes()
        except OSError as error:
            raise WorkflowInvalidError(f"cannot read {source}: {error.strerror}") from None
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise WorkflowInvalidError(f"the workflow is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise WorkflowInvalidError("a workflow is a JSON object with 'id' and 'steps'")
    try:
        return Workflow.model_validate(data)
    except ValidationError as error:
        raise WorkflowInvalidError(_describe(error, data)) from None


def _describe(error: ValidationError, data: dict[str, Any]) -> str:
    """Pydantic's errors as sentences that name the step (``steps[2]`` -> ``step 'save'``)."""
    steps = data.get("steps")
    lines = []
    for item in error.errors(include_url=False):
        loc = list(item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        where = "workflow"
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            index = loc[1]
            step_id = None
            if isinstance(steps, list) and index < len(steps) and isinstance(steps[index], dict):
                step_id = steps[index].get("id")
            where = f"step {step_id!r}" if isinstance(step_id, str) else f"step #{index + 1}"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc)
        lines.append(f"{where}{': ' + field if field else ''}: {message}")
    return "; ".join(lines)


def check_workflow(
    workflow: Workflow,
    known_agents: Iterable[str],
    *,
    resolver: TemplateResolver | None = None,
    runnable_only: bool = True,
) -> None:
    """Check what the schema cannot: agents, step types and template references.

    Args:
        workflow: A workflow that passed the schema.
        known_agents: The names the agent registry knows.
        resolver: Parses the templates (default: one that also reads ``{{ }}``, as the
            runner does).
        runnable_only: Refuse step types the runner cannot execute (``human_approval``,
            ``human_input``, ``condition``).

    Raises:
        WorkflowInvalidError: An unknown agent, a step type the runner cannot run, or a
            template that refers to a step that is not upstream of its own.
        TemplateError: A template that is refused outright (syntax, names, attributes).
    """
    agents = set(known_agents)
    resolver = resolver or TemplateResolver(hub_syntax=True)
    ids = {s.id for s in workflow.steps}
    depends_on = {s.id: s.depends_on for s in workflow.steps}
    for step in workflow.steps:
        if runnable_only and step.type not in RUNNABLE_STEP_TYPES:
            raise WorkflowInvalidError(
                f"step {step.id!r} is a {step.type!r} step, which artifact-hub's runner cannot "
                f"run (it runs {', '.join(sorted(RUNNABLE_STEP_TYPES))} steps only)",
                step_id=step.id,
            )
        if step.type == "agent" and step.agent not in agents:
            known = ", ".join(sorted(agents)) or "none"
            raise WorkflowInvalidError(
                f"step {step.id!r} names the unknown agent {step.agent!r} (known: {known})",
                step_id=step.id,
            )
        refs = resolver.references(step.input, step_id=step.id)  # TemplateError if refused
        for ref in sorted(refs):
            if ref not in ids:
                raise WorkflowInvalidError(
                    f"step {step.id!r} refers to steps.{ref}, but there is no step {ref!r}",
                    step_id=step.id,
                )
            if ref == step.id:
                raise WorkflowInvalidError(
                    f"step {step.id!r} refers to its own output (steps.{ref})", step_id=step.id
                )
            if not _is_upstream(depends_on, step.id, ref):
                raise WorkflowInvalidError(
                    f"step {step.id!r} refers to steps.{ref}, which is not upstream of it "
                    f"(add {ref!r} to its depends_on)",
                    step_id=step.id,
                )


def _is_upstream(depends_on: dict[str, list[str]], step_id: str, target: str) -> bool:
    """Whether ``target`` is among ``step_id``'s dependencies, direct or transitive.

    A depth-first walk that stops at ``target``: a reference to the step just before is
    found at once, so a long templated chain is checked in linear time overall.
    """
    seen: set[str] = set()
    stack = list(depends_on.get(step_id, ()))
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(depends_on.get(current, ()))
    return False
