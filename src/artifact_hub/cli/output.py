"""What every ``artifact-hub`` command shares: its consoles, exit codes and error output.

Results go to stdout (JSON with ``--json``); messages, progress bars and errors go to stderr,
so ``artifact-hub ls --json | jq`` sees nothing but JSON.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from artifact_hub.core.errors import (
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
    ServerError,
    SessionSealedError,
)

__all__ = [
    "EXIT_CODES",
    "HUB_UNREACHABLE",
    "HubUnreachableError",
    "console",
    "errors",
    "exit_code",
    "fail",
    "pairs",
    "print_json",
]

console = Console()
errors = Console(stderr=True)

#: Exit code when the hub cannot be reached at all (nothing listens at the URL, DNS, ...).
HUB_UNREACHABLE = 10


class HubUnreachableError(ServerError):
    """The CLI could not reach the hub (connection refused, DNS, a broken connection)."""

    code = "hub_unreachable"


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
    HubUnreachableError: HUB_UNREACHABLE,
    ServerError: 11,
}


def exit_code(error: ArtifactHubError) -> int:
    """The exit code of ``error``: the first matching class of :data:`EXIT_CODES`, else 1."""
    return next((c for cls, c in EXIT_CODES.items() if isinstance(error, cls)), 1)


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout, one document, never wrapped."""
    console.print_json(json.dumps(value, default=str))


def fail(
    error: ArtifactHubError,
    *,
    hint: str | None = None,
    as_json: bool = False,
) -> NoReturn:
    """Report ``error`` on stderr and exit with its code.

    Args:
        error: The error.
        hint: What the user can do about it, printed under the message.
        as_json: Print ``{"error": {"code", "message", "exit_code", "hint"}}`` instead.
    """
    status = exit_code(error)
    if as_json:
        body = {"code": error.code, "message": error.message, "exit_code": status, "hint": hint}
        typer.echo(json.dumps({"error": body}), err=True)
    else:
        errors.print(
            f"[red]error[/red] [bold]{error.code}[/bold]: {escape(error.message)}",
            soft_wrap=True,
        )
        if hint:
            errors.print(f"  hint: {escape(hint)}", soft_wrap=True)
    raise typer.Exit(status)


def pairs(values: list[str] | None, what: str, *, as_json: bool = False) -> dict[str, Any]:
    """``["k=v", ...]`` as a dict; values that parse as JSON keep their type (``n=3`` is 3)."""
    result: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            fail(
                InvalidRequestError(f"{what} must look like key=value, got {item!r}"),
                as_json=as_json,
            )
        try:
            result[key] = json.loads(value)
        except ValueError:
            result[key] = value
    return result
