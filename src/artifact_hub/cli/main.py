"""``artifact-hub``: run the hub and its workers, and work with artifacts on the local hub.

Artifact commands here talk to the hub's service layer directly (the embedded mode's data
folder, or the database and store the settings name); the remote client arrives with the
REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from artifact_hub.cli.admin import admin_app, ensure_bootstrap_key
from artifact_hub.errors import (
    ArtifactHubError,
    AuthenticationError,
    ChecksumMismatchError,
    ConflictError,
    FileTooLargeError,
    GoneError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    SessionSealedError,
)
from artifact_hub.index import ArtifactFilter
from artifact_hub.plugin import Hub
from artifact_hub.schemas import Artifact, Caller
from artifact_hub.settings import HubSettings

__all__ = ["EXIT_CODES", "app", "main"]

app = typer.Typer(
    name="artifact-hub",
    help="Versioned artifacts for AI agents, with every change as an event on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The index database.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")

console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

#: Exit codes that tell errors apart (scripts match on them); 1 is anything unexpected.
EXIT_CODES: dict[type[ArtifactHubError], int] = {
    InvalidRequestError: 2,
    AuthenticationError: 3,
    PermissionDeniedError: 3,
    NotFoundError: 4,
    GoneError: 5,
    SessionSealedError: 6,
    ConflictError: 6,
    ChecksumMismatchError: 7,
    FileTooLargeError: 8,
    RateLimitedError: 9,
}

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="ARTIFACT_HUB_DATA_DIR", help="Embedded mode's folder."),
]
Tenant = Annotated[str, typer.Option("--tenant", envvar="ARTIFACT_HUB_TENANT", help="Tenant id.")]
Agent = Annotated[
    str | None, typer.Option("--agent", envvar="ARTIFACT_HUB_AGENT_ID", help="Acting agent id.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def main() -> None:
    """Entry point of the ``artifact-hub`` script."""
    app()


def _settings(data_dir: Path | None, **overrides: Any) -> HubSettings:
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    return HubSettings(**values)


def _fail(error: ArtifactHubError) -> NoReturn:
    code = next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), 1)
    errors.print(f"[red]error[/red] [bold]{error.code}[/bold]: {error.message}")
    raise typer.Exit(code)


def _run(coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ArtifactHubError as error:
        _fail(error)


@contextlib.asynccontextmanager
async def _hub(settings: HubSettings) -> AsyncIterator[Hub]:
    async with Hub(settings) as hub:
        yield hub


def _caller(tenant: str, agent: str | None) -> Caller:
    # Local commands act as the tenant's administrator unless an agent is named.
    return Caller(tenant_id=tenant, agent_id=agent, admin=agent is None)


def _pairs(values: list[str] | None, what: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(InvalidRequestError(f"{what} must look like key=value, got {item!r}"))
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result


def _print_artifacts(items: list[Artifact], as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps([a.model_dump(mode="json") for a in items]))
        return
    table = Table("id", "name", "v", "bytes", "session", "agent", "created")
    for a in items:
        table.add_row(
            a.id,
            a.name,
            str(a.version),
            str(a.size_bytes),
            a.session_id or "",
            a.agent_id or "",
            a.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


# ---------------------------------------------------------------------------- server & workers


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(envvar="ARTIFACT_HUB_HOST")] = None,
    port: Annotated[int | None, typer.Option(envvar="ARTIFACT_HUB_PORT")] = None,
    data_dir: DataDir = None,
) -> None:
    """Run the hub: HTTP API, outbox relay and (embedded mode) in-process consumers."""
    import uvicorn

    from artifact_hub.api import create_app

    settings = _settings(data_dir, host=host, port=port)
    hub = Hub(settings)
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
        f"index={settings.resolved_database_url}  blobs={blobs}  events={settings.event_bus}"
    )
    uvicorn.run(create_app(hub), host=settings.host, port=settings.port, log_level="info")


@app.command()
def consumers(
    data_dir: DataDir = None,
    group: Annotated[str | None, typer.Option(help="Consumer group id.")] = None,
) -> None:
    """Run the index consumers on Kafka (one member of the consumer group)."""
    from artifact_hub.consumers import IndexConsumer, build_consumer_app
    from artifact_hub.index import Database

    settings = _settings(data_dir, consumer_group=group)

    async def run() -> None:
        db = Database(settings.resolved_database_url)
        await db.migrate()
        consumer = IndexConsumer(db)
        stream, _ = build_consumer_app(
            settings.kafka_bootstrap_servers,
            consumer,
            group_id=settings.consumer_group,
            topic_prefix=settings.topic_prefix,
        )

        async def maintain() -> None:
            while True:
                await asyncio.sleep(5)
                await consumer.expire_deferred()

        task = asyncio.create_task(maintain())
        try:
            await stream.run()
        finally:
            task.cancel()
            await db.dispose()

    _run(run())


@app.command()
def relay(data_dir: DataDir = None) -> None:
    """Run the outbox relay alone (for deployments that do not relay in the API process)."""
    settings = _settings(data_dir)

    async def run() -> None:
        hub = Hub(settings.model_copy(update={"run_relay": False}))
        await hub.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        hub.relay.start()
        errors.print(f"relaying the outbox of {settings.resolved_database_url}")
        await stop.wait()
        await hub.relay.stop()
        await hub.stop()

    _run(run())


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, revision: str = "head") -> None:
    """Apply the index migrations (the hub also does this when it starts)."""
    from artifact_hub.index import Database

    settings = _settings(data_dir)

    async def run() -> None:
        db = Database(settings.resolved_database_url)
        try:
            await db.migrate(revision)
        finally:
            await db.dispose()

    _run(run())
    errors.print(f"migrated {settings.resolved_database_url} to {revision}")


@app.command()
def sweep(data_dir: DataDir = None, as_json: AsJson = False) -> None:
    """Run one sweeper pass: expire, purge after retention, collect blobs, drop old keys."""
    settings = _settings(data_dir).model_copy(update={"sweep_enabled": False})

    async def run() -> Any:
        async with _hub(settings) as hub:
            return await hub.sweeper.run_once()

    report = _run(run())
    if as_json:
        console.print_json(json.dumps(dataclasses.asdict(report)))
    else:
        console.print(
            f"expired {report.expired}  purged {report.purged}  "
            f"blobs removed {report.blobs_removed}  "
            f"idempotency keys dropped {report.idempotency_keys_dropped}"
        )


# ---------------------------------------------------------------------------- artifacts


@app.command()
def push(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="File to push.")],
    name: Annotated[str | None, typer.Option(help="Name (default: the file's).")] = None,
    session: Annotated[str | None, typer.Option(envvar="ARTIFACT_HUB_SESSION_ID")] = None,
    content_type: Annotated[str | None, typer.Option("--type", help="MIME type.")] = None,
    meta: Annotated[list[str] | None, typer.Option(help="Metadata key=value.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="Label key=value.")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="Tag.")] = None,
    ttl: Annotated[str | None, typer.Option(help="Seconds, or 'never'.")] = None,
    tenant: Tenant = "default",
    agent: Agent = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """Push a file as a new artifact."""
    ttl_value: Any = None if ttl is None else ("never" if ttl == "never" else float(ttl))

    async def run() -> Artifact:
        async with _hub(_settings(data_dir)) as hub:
            return await hub.service.push(
                _caller(tenant, agent),
                path,
                name=name,
                session_id=session,
                content_type=content_type,
                metadata=_pairs(meta, "--meta"),
                labels=_pairs(label, "--label"),
                tags=tag or [],
                ttl=ttl_value,
            )

    artifact = _run(run())
    if as_json:
        console.print_json(artifact.model_dump_json())
    else:
        typer.echo(
            f"{artifact.id}  {artifact.name}  {artifact.size_bytes} bytes  sha256 {artifact.sha256}"
        )


@app.command()
def pull(
    artifact_id: str,
    output: Annotated[Path, typer.Option("-o", "--output", help="File or folder.")] = Path("."),
    version: Annotated[int | None, typer.Option(help="Version (default: latest).")] = None,
    tenant: Tenant = "default",
    agent: Agent = None,
    data_dir: DataDir = None,
) -> None:
    """Download an artifact, verified against its sha256."""

    async def run() -> Path:
        async with _hub(_settings(data_dir)) as hub:
            return await hub.service.pull_to(
                _caller(tenant, agent), artifact_id, output, version=version
            )

    console.print(str(_run(run())))


@app.command("ls")
def list_artifacts(
    session: Annotated[str | None, typer.Option(envvar="ARTIFACT_HUB_SESSION_ID")] = None,
    kind: str | None = None,
    tag: Annotated[list[str] | None, typer.Option()] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value")] = None,
    meta: Annotated[list[str] | None, typer.Option(help="key=value")] = None,
    limit: int = 50,
    cursor: str | None = None,
    tenant: Tenant = "default",
    agent: Agent = None,
    data_dir: DataDir = None,
    as_json: AsJson = False,
) -> None:
    """List artifacts, newest first."""
    filters = ArtifactFilter(
        session_id=session,
        kind=kind,
        tags=tag or (),
        labels=_pairs(label, "--label"),
        metadata=_pairs(meta, "--meta"),
    )

    async def run() -> Any:
        async with _hub(_settings(data_dir)) as hub:
            return await hub.service.list(
                _caller(tenant, agent), filters, limit=limit, cursor=cursor
            )

    page = _run(run())
    _print_artifacts(page.items, as_json)
    if page.next_cursor and not as_json:
        errors.print(f"more: --cursor {page.next_cursor}")


def _one(
    action: Callable[[Hub, Caller], Awaitable[T]],
    tenant: str,
    agent: str | None,
    data_dir: Path | None,
) -> T:
    async def run() -> T:
        async with _hub(_settings(data_dir)) as hub:
            return await action(hub, _caller(tenant, agent))

    return _run(run())


@app.command()
def get(
    artifact_id: str, tenant: Tenant = "default", agent: Agent = None, data_dir: DataDir = None
) -> None:
    """Show an artifact's metadata as JSON."""
    artifact = _one(lambda h, c: h.service.get(c, artifact_id), tenant, agent, data_dir)
    console.print_json(artifact.model_dump_json())


@app.command("rm")
def remove(
    artifact_id: str, tenant: Tenant = "default", agent: Agent = None, data_dir: DataDir = None
) -> None:
    """Soft-delete an artifact."""
    _one(lambda h, c: h.service.delete(c, artifact_id), tenant, agent, data_dir)
    console.print(f"deleted {artifact_id}")


@app.command()
def seal(
    session_id: str, tenant: Tenant = "default", agent: Agent = None, data_dir: DataDir = None
) -> None:
    """Seal a session: no more writes to it."""
    session = _one(lambda h, c: h.service.seal_session(c, session_id), tenant, agent, data_dir)
    console.print(f"sealed {session.session_id} at {session.sealed_at}")


@app.command()
def versions(
    artifact_id: str, tenant: Tenant = "default", agent: Agent = None, data_dir: DataDir = None
) -> None:
    """List an artifact's versions."""
    rows = _one(lambda h, c: h.service.versions(c, artifact_id), tenant, agent, data_dir)
    table = Table("version", "bytes", "sha256", "created")
    for row in rows:
        table.add_row(
            str(row.version),
            str(row.size_bytes),
            row.sha256,
            row.created_at.isoformat(timespec="seconds"),
        )
    console.print(table)


if __name__ == "__main__":  # pragma: no cover
    main()
