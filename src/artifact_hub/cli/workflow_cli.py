"""``artifact-hub workflow run``: run a Coordination Hub workflow against an embedded hub.

The command plays the Coordination Hub: it reads the workflow JSON, resolves ``{{ }}`` and
``<< >>`` templates, runs the steps in dependency order (independent ones in parallel) with
their timeouts and retries, and reports each step. The steps' agents work on the hub that the
settings point at (``--data-dir`` for the embedded mode), as the caller the API key names
(``--api-key`` / ``ARTIFACT_HUB_API_KEY``), or else as ``--agent`` of ``--tenant`` (default:
the hub's bootstrap tenant and its agent ``agent``), like the other commands that work where
the hub runs.

On a terminal a live table shows the steps; ``--json`` prints the run report instead. The exit
status is 0 when every step succeeded, :data:`RUN_FAILED` when one did not, and the usual error
codes when the workflow is refused before it starts (2 for an invalid workflow or template).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from artifact_hub.cli.output import console, errors, fail, pairs
from artifact_hub.core.errors import ArtifactHubError, InvalidRequestError
from artifact_hub.schemas.identity import Caller
from artifact_hub.schemas.workflow import RunReport

__all__ = ["RUN_FAILED", "workflow_app"]

#: Exit status of a run in which some step did not succeed.
RUN_FAILED = 1

workflow_app = typer.Typer(
    help="Run Coordination Hub workflows with the step agents, in this process.",
    no_args_is_help=True,
)

_STYLE = {
    "pending": "dim",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "skipped": "magenta",
}


def _load_agents(modules: list[str]) -> None:
    """Import modules (dotted names or ``.py`` files) that register more agents."""
    for item in modules:
        path = Path(item)
        try:
            if item.endswith(".py"):
                spec = importlib.util.spec_from_file_location(f"_agents_{path.stem}", path)
                if spec is None or spec.loader is None or not path.is_file():
                    raise FileNotFoundError(item)
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(item)
        except (ImportError, OSError) as error:
            fail(InvalidRequestError(f"--agents {item}: cannot import it ({error})"))


def _short_bytes(value: Any) -> str:
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else str(value)


def _table(report: RunReport) -> Table:
    table = Table(title=f"workflow {report.workflow_id}  run {report.run_id}", title_justify="left")
    table.add_column("step")
    table.add_column("agent")
    table.add_column("status")
    table.add_column("tries", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("output / error", overflow="fold", max_width=70)
    for entry in report.steps.values():
        if entry.error is not None:
            detail = Text(f"{entry.error.code}: {entry.error.message}", style="red")
        elif entry.status == "succeeded":
            text = json.dumps(entry.output, default=_short_bytes)
            detail = Text(text if len(text) <= 120 else text[:117] + "...")
        else:
            detail = Text("")
        seconds = f"{entry.duration_seconds:.3f}" if entry.duration_seconds is not None else ""
        table.add_row(
            escape(entry.step_id),
            escape(entry.agent or ""),
            Text(entry.status, style=_STYLE.get(entry.status, "")),
            str(entry.attempts),
            seconds,
            detail,
        )
    return table


def _summary(report: RunReport) -> Text:
    style = {"succeeded": "green", "failed": "red"}.get(report.status, "yellow")
    seconds = f"{report.duration_seconds:.3f} s" if report.duration_seconds is not None else ""
    return Text(f"run {report.status} {seconds}", style=style)


async def _caller(hub: Any, api_key: str | None, tenant: str, agent: str) -> Caller:
    if api_key:
        caller: Caller = await hub.accounts.authenticate(api_key)
        return caller
    found = await hub.accounts.get_tenant(tenant)
    if found is None:
        raise InvalidRequestError(
            f"no tenant {tenant!r} on this hub (`artifact-hub admin create-tenant {tenant}`)"
        )
    return Caller(tenant_id=tenant, agent_id=agent, plan=found.plan)


@workflow_app.command("run")
def run(
    ctx: typer.Context,
    workflow: Annotated[
        Path, typer.Argument(help="The workflow JSON file.", exists=True, dir_okay=False)
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            "-i",
            help="key=value for input.<key> (repeat); values that parse as JSON keep their type.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run report as JSON.")] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", envvar="ARTIFACT_HUB_DATA_DIR", help="Embedded mode's folder."),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option(help="Tenant to act in without an API key (default: the bootstrap one)."),
    ] = None,
    agent: Annotated[str, typer.Option(help="Agent to act as without an API key.")] = "agent",
    session: Annotated[
        str | None, typer.Option(help="Session the steps save into when they name none.")
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(help="Folder data-loader writes local files to (as: path)."),
    ] = None,
    agents: Annotated[
        list[str] | None,
        typer.Option(
            "--agents",
            help="A module or .py file that registers more step agents (repeat).",
        ),
    ] = None,
) -> None:
    """Run a workflow: steps in dependency order, in parallel where they can be."""
    import asyncio

    import artifact_hub.workflow_steps  # noqa: F401  (registers the built-in agents)
    from artifact_hub.cli.admin import ensure_bootstrap_key
    from artifact_hub.cli.datadir import existing_hub_settings
    from artifact_hub.cli.remote import HubOptions
    from artifact_hub.plugin.bootstrap import bootstrap
    from artifact_hub.workflow_steps.registry import default_registry
    from artifact_hub.workflow_steps.runner import Runner

    values = pairs(inputs, "--input", as_json=as_json)
    _load_agents(agents or [])
    try:
        # The running hub's folder, never a new empty one (see artifact_hub.cli.datadir).
        settings = existing_hub_settings(data_dir)
    except ArtifactHubError as error:
        fail(error, as_json=as_json)
    options = ctx.find_object(HubOptions) or HubOptions()
    live_view = not as_json and errors.is_terminal

    async def execute() -> RunReport:
        async with bootstrap(settings) as hub:
            caller = await _caller(hub, options.api_key, tenant or settings.bootstrap_tenant, agent)
            runner = Runner.for_service(
                hub.service, caller, default_registry, session_id=session, work_dir=work_dir
            )
            prepared = runner.prepare(workflow)
            if not live_view:
                return await runner.run(prepared, values)
            with Live(console=errors, refresh_per_second=8, transient=False) as live:

                def update(report: RunReport) -> None:
                    live.update(Group(_table(report), _summary(report)))

                return await runner.run(prepared, values, on_update=update)

    try:
        ensure_bootstrap_key(settings)  # a fresh data folder gets its tenant, as `serve` does
        report = asyncio.run(execute())
    except ArtifactHubError as error:
        fail(error, as_json=as_json)
    if as_json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
    elif not live_view:
        console.print(_table(report))
        console.print(_summary(report))
    if report.status != "succeeded":
        raise typer.Exit(RUN_FAILED)


@workflow_app.command("check")
def check(
    workflow: Annotated[
        Path, typer.Argument(help="The workflow JSON file.", exists=True, dir_okay=False)
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    agents: Annotated[
        list[str] | None,
        typer.Option("--agents", help="A module or .py file that registers more agents (repeat)."),
    ] = None,
) -> None:
    """Check a workflow (schema, graph, agents, templates) without running it or a hub."""
    import artifact_hub.workflow_steps  # noqa: F401  (registers the built-in agents)
    from artifact_hub.workflow_steps.registry import default_registry
    from artifact_hub.workflow_steps.templates import TemplateResolver
    from artifact_hub.workflow_steps.validation import check_workflow, load_workflow

    _load_agents(agents or [])
    try:
        loaded = load_workflow(workflow)
        check_workflow(loaded, default_registry.names(), resolver=TemplateResolver(hub_syntax=True))
    except ArtifactHubError as error:
        fail(error, as_json=as_json)
    order = [s.id for s in loaded.steps]
    if as_json:
        sys.stdout.write(json.dumps({"ok": True, "workflow_id": loaded.id, "steps": order}) + "\n")
    else:
        console.print(f"workflow {escape(loaded.id)}: {len(order)} steps, ready to run")
