"""Tenants and API keys: the service on both stacks, the admin CLI and serve's bootstrap key."""

from __future__ import annotations

import asyncio
import hashlib
import stat
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.database import Database
from artifact_hub.adapters.index.stores.accounts import SqlAccountStore
from artifact_hub.cli.admin import ensure_bootstrap_key
from artifact_hub.cli.main import app
from artifact_hub.core.errors import AuthenticationError, ConflictError, InvalidRequestError
from artifact_hub.core.settings import HubSettings
from artifact_hub.plugin import Hub
from artifact_hub.service.accounts import AccountService


async def test_keys_store_only_a_hash_and_authenticate(hub: Hub) -> None:
    accounts = hub.accounts
    tenant = await accounts.create_tenant("acme", name="Acme", plan="pro")
    assert (tenant.tenant_id, tenant.name, tenant.plan) == ("acme", "Acme", "pro")
    with pytest.raises(ConflictError):
        await accounts.create_tenant("acme")
    with pytest.raises(InvalidRequestError):
        await accounts.create_tenant("x", plan="gold")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        await accounts.create_key("nobody", "alice")

    key_id, key = await accounts.create_key(
        "acme", "alice", groups=("g1", "g2", "g1"), namespace="ns", admin=True
    )
    assert key.startswith(f"ak_live_{key_id}_") and len(key) > 50
    secret = key.split("_", 3)[3]
    async with hub.db.connect() as conn:
        row = (await conn.execute(select(t.api_keys))).one()
    assert row.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(tuple(row))

    caller = await accounts.authenticate(key)
    assert (caller.tenant_id, caller.agent_id, caller.groups) == ("acme", "alice", ("g1", "g2"))
    assert (caller.namespace, caller.admin, caller.plan, caller.key_id) == (
        "ns",
        True,
        "pro",
        key_id,
    )
    for bad in ("", "ak_live_", key + "x", key[:-1], f"ak_live_{key_id}_", "ak_test_" + key[8:]):
        with pytest.raises(AuthenticationError):
            await accounts.authenticate(bad)

    other_id, _ = await accounts.create_key("acme", "bob")
    keys = await accounts.list_keys("acme")
    assert {k.key_id for k in keys} == {key_id, other_id}
    assert await accounts.revoke_key(key_id) is True
    assert await accounts.revoke_key(key_id) is False
    assert await accounts.revoke_key("nosuchkey") is False
    with pytest.raises(AuthenticationError):
        await accounts.authenticate(key)
    revoked = {k.key_id: k.revoked for k in await accounts.list_keys("acme")}
    assert revoked == {key_id: True, other_id: False}
    assert await accounts.list_keys("other") == []


async def test_bootstrap_only_on_an_empty_hub(hub: Hub) -> None:
    key = await hub.accounts.ensure_bootstrap("default")
    assert key is not None
    caller = await hub.accounts.authenticate(key)
    assert (caller.tenant_id, caller.agent_id, caller.admin) == ("default", "agent", False)
    assert caller.plan == "unlimited"  # a self-hosted hub's default: no plan limits
    assert await hub.accounts.ensure_bootstrap("default") is None
    assert await hub.accounts.ensure_bootstrap("another") is None


def test_serve_bootstrap_key_file(tmp_path: Path) -> None:
    settings = HubSettings(data_dir=tmp_path / "hub", bootstrap_tenant="home")
    key, path = ensure_bootstrap_key(settings)
    assert key is not None and path == tmp_path / "hub" / "bootstrap-key.txt"
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, _ = ensure_bootstrap_key(settings)
    assert again is None and path.read_text().strip() == key


def test_admin_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "hub")]

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, ["admin", *args, *data])
        return result.exit_code, result.stdout

    assert run("create-tenant", "acme", "--name", "Acme", "--plan", "team")[0] == 0
    assert run("create-tenant", "acme")[0] == 6  # conflict
    assert run("create-tenant", "x", "--plan", "gold")[0] == 2
    code, out = run(
        "create-key", "--tenant", "acme", "--agent", "bot", "--group", "g", "--namespace", "ns"
    )
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert key.startswith("ak_live_")
    key_id = key.split("_")[2]
    code, out = run("list-keys", "--tenant", "acme", "--json")
    assert code == 0 and key_id in out and "bot" in out and key not in out
    assert run("create-key", "--tenant", "nope", "--agent", "bot")[0] == 2
    assert run("revoke-key", key_id)[0] == 0
    assert run("revoke-key", key_id)[0] == 4

    async def check() -> None:
        db = Database(HubSettings(data_dir=tmp_path / "hub").resolved_database_url)
        try:
            with pytest.raises(AuthenticationError):
                await AccountService(db, SqlAccountStore()).authenticate(key)
        finally:
            await db.dispose()

    asyncio.run(check())
