"""The ``artifact-hub`` command line as the image runs it: parsed by click, never run.

Shared by ``test_compose.py`` and ``test_helm_chart.py``: every command a container runs
(compose services, the Dockerfile's ``CMD`` and ``HEALTHCHECK``, the chart's containers and
probes) goes through :func:`parse_cli`, and every variable they set must be one the hub reads.
"""

from __future__ import annotations

from typing import Any

import typer

from artifact_hub.cli import app
from artifact_hub.core.settings import HubSettings

__all__ = ["CliRefused", "cli_envvars", "parse_cli", "setting_envvars"]


def cli_envvars() -> set[str]:
    """Every ``envvar`` an option of the ``artifact-hub`` command line reads."""
    found: set[str] = set()

    def walk(command: Any) -> None:
        for param in command.params:
            names = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
            found.update(n for n in names if n)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    return found


def setting_envvars() -> set[str]:
    return {f"ARTIFACT_HUB_{name.upper()}" for name in HubSettings.model_fields}


class CliRefused(Exception):
    """``artifact-hub ARGS`` would stop with a usage error."""


def parse_cli(args: list[str]) -> Any:
    """Parse ``artifact-hub ARGS`` down to its command, as click would, without running it.

    Typer ships its own copy of click, so its classes are reached by duck typing: a group is
    a command with ``resolve_command``; a usage error is an exception with ``format_message``.

    Raises:
        CliRefused: click refused the arguments (the message is click's).
    """
    try:
        return _parse(args)
    except Exception as error:
        if hasattr(error, "format_message"):
            raise CliRefused(error.format_message()) from error
        raise


def _parse(args: list[str]) -> Any:
    command: Any = typer.main.get_command(app)
    ctx = command.make_context("artifact-hub", list(args))
    while hasattr(command, "resolve_command"):
        # click keeps the subcommand's name apart from its arguments (8.2+: privately).
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", [])
        rest = [*protected, *ctx.args]
        name, sub, remaining = command.resolve_command(ctx, rest)
        assert sub is not None, f"no command {name!r} in {args}"
        command, ctx = sub, sub.make_context(name or "", remaining, parent=ctx)
    return ctx
