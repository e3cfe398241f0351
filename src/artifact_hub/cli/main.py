"""``artifact-hub``: run the hub and its workers, and work with artifacts on a hub.

Two kinds of command live here. ``serve``, ``consumers``, ``relay``, ``db``, ``sweep``,
``health`` and ``admin`` work where the hub runs, on its settings (the embedded mode's data
folder, or the database and store the ``ARTIFACT_HUB_*`` settings name). The artifact
commands (``push``, ``pull``, ``ls``, ... in :mod:`artifact_hub.cli.remote`) talk to a running
hub over HTTP through the SDK's ``Client``, wherever it is (``--url`` / ``ARTIFACT_HUB_URL``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from artifact_hub.cli.admin import admin_app, ensure_bootstrap_key
from artifact_hub.cli.datadir import announce, existing_hub_settings
from artifact_hub.cli.health import health, with_heartbeat
from artifact_hub.cli.output import EXIT_CODES, HUB_UNREACHABLE, console, errors, fail, print_json
from artifact_hub.cli.remote import HubOptions, register
from artifact_hub.cli.workflow_cli import workflow_app
from artifact_hub.core.errors import ArtifactHubError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub
from artifact_hub.plugin.bootstrap import bootstrap, build_database

__all__ = ["EXIT_CODES", "HUB_UNREACHABLE", "app", "main"]

app = typer.Typer(
    name="artifact-hub",
    help="Versioned artifacts for AI agents, with every change as an event on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The index database.", no_args_is_help=True)
app.add_typer(db_app, name="db", rich_help_panel="Hub")
index_app = typer.Typer(
    help="The index: rebuild it from the topics or the event log.", no_args_is_help=True
)
app.add_typer(index_app, name="index", rich_help_panel="Hub")
app.add_typer(admin_app, name="admin", rich_help_panel="Hub")
app.add_typer(workflow_app, name="workflow", rich_help_panel="Workflows")
app.command(rich_help_panel="Hub")(health)
register(app)

T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="ARTIFACT_HUB_DATA_DIR", help="Embedded mode's folder."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def main() -> None:
    """Entry point of the ``artifact-hub`` script."""
    app()


@app.callback()
def _options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="ARTIFACT_HUB_URL",
            help="The hub's URL, for the artifact commands (default http://127.0.0.1:8080).",
            show_default=False,
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="ARTIFACT_HUB_API_KEY",
            help="API key for the artifact commands (`artifact-hub admin create-key`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    # No docstring: typer would show it instead of the app's help.
    ctx.obj = HubOptions(url=url or None, api_key=api_key or None)


def _settings(data_dir: Path | None, **overrides: Any) -> HubSettings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return HubSettings(**values)


def _existing(data_dir: Path | None, **overrides: Any) -> HubSettings:
    """The settings of an existing hub: only ``serve`` makes a new data folder unasked."""
    try:
        return existing_hub_settings(data_dir, **overrides)
    except ArtifactHubError as error:
        _fail(error)


def _fail(error: ArtifactHubError) -> NoReturn:
    fail(error)


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ArtifactHubError as error:
        _fail(error)


@contextlib.asynccontextmanager
async def _hub(settings: HubSettings) -> AsyncIterator[Hub]:
    async with bootstrap(settings) as hub:
        yield hub


# ---------------------------------------------------------------------------- server & workers


@app.command(rich_help_panel="Hub")
def serve(
    host: Annotated[str | None, typer.Option(envvar="ARTIFACT_HUB_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="ARTIFACT_HUB_PORT")] = None,
    data_dir: DataDir = None,
    workers: Annotated[
        int | None,
        typer.Option(
            envvar="ARTIFACT_HUB_WORKERS",
            min=1,
            max=64,
            help="API worker processes (default: one per core, at most 4).",
        ),
    ] = None,
) -> None:
    """Run the hub: HTTP API (several worker processes) and the outbox relay."""
    import uvicorn

    from artifact_hub.api import create_app

    settings = _settings(data_dir, host=host, port=port, workers=workers)
    count = settings.workers or default_workers()
    hub = bootstrap(settings)
    blobs = (
        str(settings.resolved_blob_dir)
        if settings.blob_store == "local"
        else f"s3://{settings.s3_bucket}"
    )
    try:
        key, key_file = ensure_bootstrap_key(settings)
    except ArtifactHubError as error:
        _fail(error)
    if key is not None:
        errors.print(
            f"new hub: tenant {settings.bootstrap_tenant!r}, agent 'agent', API key\n  {key}\n"
            f"  (saved to {key_file}, mode 0600)"
        )
    elif key_file.exists():
        errors.print(f"bootstrap API key in {key_file}")
    errors.print(
        f"artifact-hub on http://{settings.host}:{settings.port}  "
        f"index={settings.resolved_database_url}  blobs={blobs}  events={settings.event_bus}  "
        f"workers={count}"
    )
    errors.print(
        f"web console on http://{settings.host}:{settings.port}/console/ (sign in with a key)"
    )
    # Read timeouts and a connection cap (api/server.py: uvicorn has no header timeout).
    from artifact_hub.api import server

    server.configure(server.ServerLimits.from_settings(settings))
    server.raise_fd_limit()
    limits: dict[str, Any] = {
        "http": server.PROTOCOL,
        "timeout_keep_alive": settings.server_keep_alive_seconds,
    }
    announce(settings, f"http://{settings.host}:{settings.port}")  # for admin, workflow run
    if count == 1:
        uvicorn.run(
            create_app(hub), host=settings.host, port=settings.port, log_level="info", **limits
        )
        return
    # Several processes: everything they would otherwise race for is done here, once: the
    # migrations, the bootstrap key (above) and the embedded signing key. Each worker then
    # builds its hub from the environment, which carries these settings.
    try:
        _ = hub.signer
    except ArtifactHubError as error:
        _fail(error)
    _run(_migrate(hub))
    os.environ.update(settings_environment(settings))
    uvicorn.run(
        "artifact_hub.api.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=count,
        log_level="info",
        **limits,
    )


def default_workers() -> int:
    """One API worker per core, at most 4 (beyond, the index's single writer limits)."""
    return max(1, min(4, os.cpu_count() or 1))


def settings_environment(settings: HubSettings) -> dict[str, str]:
    """The variables that carry ``serve``'s own options to its worker processes.

    Every other setting already comes from the environment, which the workers inherit.
    """
    return {
        "ARTIFACT_HUB_HOST": settings.host,
        "ARTIFACT_HUB_PORT": str(settings.port),
        "ARTIFACT_HUB_DATA_DIR": str(Path(settings.data_dir).resolve()),
    }


async def _migrate(hub: Hub) -> None:
    try:
        await hub.db.migrate()
    finally:
        await hub.db.dispose()


@app.command(rich_help_panel="Hub")
def consumers(
    data_dir: DataDir = None,
    group: Annotated[str | None, typer.Option(help="Consumer group id.")] = None,
) -> None:
    """Run the validating index consumers on Kafka (one member of the consumer group)."""
    from artifact_hub.consumers.runner import run_consumers

    _run(with_heartbeat(run_consumers(_existing(data_dir, consumer_group=group)), "consumers"))


@app.command(rich_help_panel="Hub")
def steps(
    data_dir: DataDir = None,
    group: Annotated[str, typer.Option(help="Consumer group id.")] = "artifact-hub-steps",
    agents: Annotated[
        list[str] | None,
        typer.Option(
            "--agents", help="A module or .py file that registers more agents (repeatable)."
        ),
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="Where data-loader writes files (as: path).")
    ] = None,
) -> None:
    """Run the step agents as a Kafka service: <prefix>steps.requests in, replies out."""
    from artifact_hub.workflow_steps.step_app import run_step_service

    _run(
        run_step_service(
            _existing(data_dir), group_id=group, agent_modules=agents or (), work_dir=work_dir
        )
    )


@app.command(rich_help_panel="Hub")
def asyncapi(
    prefix: Annotated[str, typer.Option(help="Topic prefix of the deployment.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
) -> None:
    """Print the event contract (AsyncAPI) of the topics the hub publishes and consumes."""
    from artifact_hub.consumers.asyncapi import render_asyncapi

    sys.stdout.write(render_asyncapi(prefix, fmt="json" if as_json else "yaml"))


@app.command(rich_help_panel="Hub")
def relay(data_dir: DataDir = None) -> None:
    """Run the outbox relay alone (for deployments that do not relay in the API process)."""
    settings = _existing(data_dir)

    async def run() -> None:
        hub = bootstrap(settings.model_copy(update={"run_relay": False}))
        await hub.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        hub.relay.start()
        errors.print(f"relaying the outbox of {settings.resolved_database_url}")
        await with_heartbeat(stop.wait(), "relay", lambda: {"active": hub.relay.active})
        await hub.relay.stop()
        await hub.stop()

    _run(run())


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, revision: str = "head") -> None:
    """Apply the index migrations (the hub also does this when it starts)."""
    settings = _existing(data_dir)

    async def run() -> None:
        db = build_database(settings.resolved_database_url)
        try:
            await db.migrate(revision)
        finally:
            await db.dispose()

    _run(run())
    errors.print(f"migrated {settings.resolved_database_url} to {revision}")


@index_app.command("rebuild")
def index_rebuild(
    data_dir: DataDir = None,
    from_log: Annotated[
        bool,
        typer.Option("--from-log", help="Replay the database's own event log (trimmed topics)."),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(help="Database URL to rebuild into (default: the hub's own; needs --force)."),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="With --from-log: the database whose log is replayed.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Empty a non-empty target's index first.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Rebuild the index and access lists from the topics, or from the event log."""
    from artifact_hub.consumers.rebuild import RebuildReport, rebuild_index

    def show(report: RebuildReport) -> None:
        if not as_json:
            errors.print(f"  {report.read} read, {report.applied} applied", end="\r")

    report = _run(
        rebuild_index(
            _existing(data_dir),
            from_log=from_log,
            target=target,
            source=source,
            force=force,
            progress=show,
        )
    )
    if as_json:
        print_json(
            {
                "source": report.source,
                "target": report.target,
                "read": report.read,
                "applied": report.applied,
                "parked": report.parked,
                "duplicates": report.duplicates,
                "waiting": report.waiting,
                "rejected": [dataclasses.asdict(r) for r in report.rejected],
                "seconds": round(report.seconds, 3),
            }
        )
    else:
        console.print(report.summary())


@app.command(rich_help_panel="Hub")
def sweep(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Run one sweeper pass: expire, purge, collect blobs and what crashes left, drop old keys."""
    settings = _existing(data_dir).model_copy(update={"sweep_enabled": False})

    async def run() -> Any:
        async with _hub(settings) as hub:
            return await hub.sweeper.run_once(orphans=True)

    report = _run(run())
    if as_json:
        print_json(dataclasses.asdict(report))
    else:
        console.print(
            f"expired {report.expired}  purged {report.purged}  "
            f"blobs removed {report.blobs_removed}  "
            f"idempotency keys dropped {report.idempotency_keys_dropped}  "
            f"uploads removed {report.uploads_removed}  "
            f"spool files removed {report.spool_files_removed}  "
            f"staging removed {report.staging_removed}  "
            f"orphan blobs removed {report.orphan_blobs_removed}  "
            f"orphan bytes removed {report.orphan_bytes_removed}"
        )


if __name__ == "__main__":  # pragma: no cover
    main()
