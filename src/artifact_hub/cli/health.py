"""``artifact-hub health``: liveness of the hub's processes, for container healthchecks.

The API answers ``GET /health``. The consumers and the relay serve nothing, so while they run
they rewrite a small heartbeat file from their event loop (:func:`with_heartbeat`); ``health
--role consumers|relay`` checks that the file is fresh. A loop that hangs stops the beats, so
the check fails although the process still exists, which is what a liveness probe is for. A
standby relay (another one holds the relay lease) is alive: the heartbeat says which it is.

The file is ``ARTIFACT_HUB_HEARTBEAT_FILE``, else ``<temp dir>/artifact-hub-<role>.heartbeat``
(one per container, so the default needs no setting there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = [
    "HEARTBEAT_ENV",
    "Role",
    "check_heartbeat",
    "health",
    "heartbeat_path",
    "with_heartbeat",
    "write_heartbeat",
]

HEARTBEAT_ENV = "ARTIFACT_HUB_HEARTBEAT_FILE"
# Beats every few seconds; a check allows several missed ones (a long GC pause, a slow disk).
BEAT_SECONDS = 5.0
MAX_AGE_SECONDS = 30.0
T = TypeVar("T")


class Role(StrEnum):
    """The hub's long-running processes."""

    api = "api"
    consumers = "consumers"
    relay = "relay"


def heartbeat_path(role: str, path: Path | None = None) -> Path:
    """The heartbeat file of ``role``: ``path``, the environment's, or the temp folder's."""
    if path is not None:
        return path
    configured = os.environ.get(HEARTBEAT_ENV)
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"artifact-hub-{role}.heartbeat"


def write_heartbeat(path: Path, role: str, status: dict[str, Any] | None = None) -> None:
    """Write one beat, atomically (a check never reads half a file)."""
    beat = {"role": role, "pid": os.getpid(), "at": time.time(), **(status or {})}
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(beat), encoding="utf-8")
    os.replace(tmp, path)


async def with_heartbeat(
    work: Awaitable[T],
    role: str,
    status: Callable[[], dict[str, Any]] | None = None,
    *,
    path: Path | None = None,
    interval: float = BEAT_SECONDS,
) -> T:
    """Await ``work`` while beating every ``interval`` seconds; the file goes when it ends."""
    target = heartbeat_path(role, path)
    target.parent.mkdir(parents=True, exist_ok=True)

    async def beat() -> None:
        while True:
            write_heartbeat(target, role, status() if status else None)
            await asyncio.sleep(interval)

    task = asyncio.create_task(beat())
    try:
        return await work
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # A stopped process must not look alive to the next check.
        target.unlink(missing_ok=True)


def check_heartbeat(path: Path, role: str, max_age: float) -> tuple[bool, str]:
    """Whether ``path`` holds a beat of ``role`` younger than ``max_age`` seconds, and why."""
    try:
        beat = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False, f"no heartbeat file {path} (is `artifact-hub {role}` running here?)"
    except (OSError, ValueError) as error:
        return False, f"unreadable heartbeat {path}: {error}"
    if not isinstance(beat, dict) or beat.get("role") != role:
        return False, f"{path} is not a heartbeat of {role}"
    age = time.time() - float(beat.get("at", 0))
    if age > max_age:
        return False, f"{role} last beat {age:.0f}s ago (more than {max_age:g}s)"
    extra = "".join(
        f" {key}={value}" for key, value in beat.items() if key not in {"role", "at", "pid"}
    )
    return True, f"{role} alive: pid {beat.get('pid')}, beat {age:.1f}s ago{extra}"


def _check_api(port: int, timeout: float) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200, f"GET {url}: {response.status}"
    except (urllib.error.URLError, OSError) as error:
        return False, f"GET {url}: {error}"


def health(
    role: Annotated[Role, typer.Option("--role", help="Which process runs here.")],
    heartbeat_file: Annotated[
        Path | None,
        typer.Option(
            envvar=HEARTBEAT_ENV,
            help="consumers, relay: the heartbeat file (default: temp dir/artifact-hub-ROLE).",
            show_default=False,
        ),
    ] = None,
    max_age: Annotated[
        float, typer.Option(min=1.0, help="consumers, relay: the oldest beat that passes.")
    ] = MAX_AGE_SECONDS,
    port: Annotated[
        int, typer.Option(envvar="ARTIFACT_HUB_PORT", help="api: the port serve listens on.")
    ] = 8080,
    timeout: Annotated[float, typer.Option(help="api: seconds to wait for /health.")] = 5.0,
) -> None:
    """Exit 0 when the process of ROLE in this container is alive (container healthchecks)."""
    if role is Role.api:
        ok, detail = _check_api(port, timeout)
    else:
        path = heartbeat_path(role.value, heartbeat_file)
        ok, detail = check_heartbeat(path, role.value, max_age)
    typer.echo(detail, err=not ok)
    raise typer.Exit(0 if ok else 1)
