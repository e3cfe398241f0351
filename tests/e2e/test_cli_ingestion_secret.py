"""``artifact-hub admin ingestion-secret``: what an operator hands to a tenant's agents."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from artifact_hub.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout.strip()


def test_print_create_rotate_and_revoke(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "hub")]
    assert run("admin", "create-tenant", "acme", *data)[0] == 0
    code, first = run("admin", "ingestion-secret", "acme", *data)
    assert code == 0 and first.startswith("ahis_")
    assert run("admin", "ingestion-secret", "acme", *data) == (0, first)  # printed, not remade
    code, rotated = run("admin", "ingestion-secret", "acme", "--rotate", "--grace", "0", *data)
    assert code == 0 and rotated.startswith("ahis_") and rotated != first
    assert run("admin", "ingestion-secret", "acme", *data) == (0, rotated)
    assert run("admin", "ingestion-secret", "acme", "--revoke", *data)[0] == 0
    assert run("admin", "ingestion-secret", "acme", "--revoke", *data)[0] == 4
    assert run("admin", "ingestion-secret", "acme", "--rotate", "--revoke", *data)[0] == 2
    result = runner.invoke(app, ["admin", "ingestion-secret", "nobody", *data])
    assert result.exit_code == 2 and "unknown tenant nobody" in result.output
