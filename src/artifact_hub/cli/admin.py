"""``artifact-hub admin``: tenants and API keys, straight in the hub's database.

These commands run where the hub's settings point at its database (the embedded data folder,
or ``ARTIFACT_HUB_DATABASE_URL``); there is no HTTP endpoint for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from artifact_hub.cli.datadir import existing_hub_settings
from artifact_hub.core.errors import ArtifactHubError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin.bootstrap import build_accounts, build_database
from artifact_hub.service.accounts import PLANS, AccountService, Plan

__all__ = ["BOOTSTRAP_KEY_FILE", "admin_app", "ensure_bootstrap_key"]

BOOTSTRAP_KEY_FILE = "bootstrap-key.txt"

admin_app = typer.Typer(
    help="Tenants and API keys (on the hub's own database).", no_args_is_help=True
)
console = Console()
errors = Console(stderr=True)
T = TypeVar("T")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="ARTIFACT_HUB_DATA_DIR", help="Embedded mode's folder."),
]


def _settings(data_dir: Path | None) -> HubSettings:
    # The running hub's folder, never a new empty one (see artifact_hub.cli.datadir).
    return existing_hub_settings(data_dir)


@contextlib.asynccontextmanager
async def _accounts(settings: HubSettings) -> AsyncIterator[AccountService]:
    db = build_database(settings.resolved_database_url)
    try:
        await db.migrate()
        yield build_accounts(db, settings)
    finally:
        await db.dispose()


def _with_accounts(data_dir: Path | None, action: Callable[[AccountService], Awaitable[T]]) -> T:
    from artifact_hub.cli.output import fail as _fail

    async def run() -> T:
        async with _accounts(_settings(data_dir)) as accounts:
            return await action(accounts)

    try:
        return asyncio.run(run())
    except ArtifactHubError as error:
        _fail(error)


def ensure_bootstrap_key(settings: HubSettings) -> tuple[str | None, Path]:
    """On a hub without tenants, create the bootstrap tenant and a key, and save the key.

    The key goes to ``data_dir/bootstrap-key.txt`` (mode 0600).

    Returns:
        The new key (None when the hub already had tenants) and the key file's path.
    """
    path = settings.data_dir / BOOTSTRAP_KEY_FILE

    async def run() -> str | None:
        async with _accounts(settings) as accounts:
            return await accounts.ensure_bootstrap(settings.bootstrap_tenant)

    key = asyncio.run(run())
    if key is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        os.chmod(path, 0o600)
    return key, path


@admin_app.command("bootstrap")
def bootstrap_key(
    data_dir: DataDir = None,
    show: Annotated[
        bool, typer.Option("--print/--no-print", help="Print the key on stdout.")
    ] = True,
) -> None:
    """Create the first tenant and API key on a hub without tenants, and save the key.

    The key goes to DATA_DIR/bootstrap-key.txt (mode 0600), as `serve` does on an empty hub.
    Safe to run again: a hub with tenants keeps them, and the saved key is printed again.
    """
    from artifact_hub.cli.output import fail as _fail

    settings = _settings(data_dir)
    try:
        key, path = ensure_bootstrap_key(settings)
    except ArtifactHubError as error:
        _fail(error)
    if key is None and not path.exists():
        errors.print(f"the hub has tenants already and {path} does not exist: no key to print")
        return
    if key is None:
        key = path.read_text(encoding="utf-8").strip()
        errors.print(f"the hub had tenants already; the first API key, saved in {path}:")
    else:
        errors.print(
            f"new hub: tenant {settings.bootstrap_tenant!r}, agent 'agent'; API key saved "
            f"to {path} (mode 0600):"
        )
    if show:
        typer.echo(key)


@admin_app.command("create-tenant")
def create_tenant(
    tenant_id: Annotated[str, typer.Argument(help="The tenant's id.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
    plan: Annotated[
        str | None,
        typer.Option(
            help=f"One of {', '.join(PLANS)} (default: the hub's default_plan, unlimited).",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a tenant."""
    tenant = _with_accounts(data_dir, lambda a: a.create_tenant(tenant_id, name, _plan(plan)))
    console.print(f"created tenant {tenant.tenant_id} ({tenant.name}, plan {tenant.plan})")


def _plan(plan: str | None) -> Plan | None:
    if plan is not None and plan not in PLANS:
        errors.print(f"[red]error[/red]: --plan must be one of {', '.join(PLANS)}")
        raise typer.Exit(2)
    return plan  # type: ignore[return-value]


@admin_app.command("create-key")
def create_key(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant.")],
    agent: Annotated[str, typer.Option("--agent", help="The agent the key acts as.")],
    group: Annotated[list[str] | None, typer.Option("--group", help="A group (repeat).")] = None,
    namespace: Annotated[str, typer.Option(help="Namespace of new artifacts.")] = "default",
    admin: Annotated[bool, typer.Option("--admin", help="See every artifact of the tenant.")] = (
        False
    ),
    data_dir: DataDir = None,
) -> None:
    """Create an API key and print it (it is shown only once)."""
    key_id, key = _with_accounts(
        data_dir, lambda a: a.create_key(tenant, agent, tuple(group or ()), namespace, admin)
    )
    errors.print(f"key {key_id} for agent {agent} of tenant {tenant} (shown once):")
    typer.echo(key)


@admin_app.command("revoke-key")
def revoke_key(key_id: str, data_dir: DataDir = None) -> None:
    """Revoke an API key at once."""
    if not _with_accounts(data_dir, lambda a: a.revoke_key(key_id)):
        errors.print(f"[red]error[/red]: no live key {key_id}")
        raise typer.Exit(4)
    console.print(f"revoked {key_id}")


@admin_app.command("list-keys")
def list_keys(
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    data_dir: DataDir = None,
) -> None:
    """List a tenant's keys (ids and identities, never secrets)."""
    keys = _with_accounts(data_dir, lambda a: a.list_keys(tenant))
    if as_json:
        console.print_json(json.dumps([k.model_dump(mode="json") for k in keys]))
        return
    table = Table("key_id", "agent", "groups", "namespace", "admin", "created", "revoked")
    for k in keys:
        table.add_row(
            k.key_id,
            k.agent_id,
            ",".join(k.groups),
            k.namespace,
            "yes" if k.admin else "",
            k.created_at.isoformat(timespec="seconds"),
            k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "",
        )
    console.print(table)


@admin_app.command("ingestion-secret")
def ingestion_secret(
    tenant: Annotated[str, typer.Argument(help="The tenant whose agents publish events.")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace it (the old one verifies during --grace).")
    ] = False,
    grace: Annotated[
        float, typer.Option(help="With --rotate: seconds the old secret keeps verifying.")
    ] = 3600.0,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="Delete it: the tenant's events are refused.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Print the tenant's ingestion secret (what its agents sign bus events with).

    Creates it when the tenant has none. See docs/ingestion.md.
    """
    from datetime import timedelta

    if rotate and revoke:
        errors.print("[red]error[/red]: --rotate and --revoke exclude each other")
        raise typer.Exit(2)

    async def action(accounts: AccountService) -> str | None:
        if revoke:
            return "revoked" if await accounts.revoke_ingestion_secret(tenant) else None
        if rotate:
            return await accounts.rotate_ingestion_secret(tenant, grace=timedelta(seconds=grace))
        current = await accounts.ingestion_secret(tenant)
        return current or await accounts.create_ingestion_secret(tenant)

    result = _with_accounts(data_dir, action)
    if revoke:
        if result is None:
            errors.print(f"[red]error[/red]: tenant {tenant} has no ingestion secret")
            raise typer.Exit(4)
        console.print(f"revoked the ingestion secret of {tenant}")
        return
    typer.echo(result)
