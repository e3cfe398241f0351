"""Which data folder a hub-side command works on, without making an empty hub unasked.

``serve`` creates its data folder and announces itself in a small file per process in the
user's runtime folder (``$XDG_RUNTIME_DIR/artifact-hub``, else
``~/.cache/artifact-hub/run``). Every other command that opens the hub's own database
(``admin``, ``workflow run``, ``sweep``, ``db upgrade``, ...) takes, in this order:

1. ``--data-dir`` / ``ARTIFACT_HUB_DATA_DIR`` (created if missing: it was named);
2. ``ARTIFACT_HUB_DATABASE_URL`` set: the distributed mode, no folder needed;
3. ``./.artifact-hub`` if it exists;
4. the folder of the one ``artifact-hub serve`` running for this user;
5. else it fails with a message that names these options, and creates nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from artifact_hub.cli.output import errors
from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.core.settings import HubSettings

__all__ = ["RunningHub", "announce", "existing_hub_settings", "running_hubs", "runtime_dir"]

_PREFIX = "serve-"


@dataclass(frozen=True)
class RunningHub:
    """An ``artifact-hub serve`` process of this user, as it announced itself."""

    pid: int
    data_dir: Path
    url: str


def runtime_dir() -> Path:
    """Where ``serve`` processes announce themselves (per user)."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base) / "artifact-hub"
    return Path.home() / ".cache" / "artifact-hub" / "run"


def announce(settings: HubSettings, url: str) -> Path:
    """Record this process as a hub serving ``settings.data_dir`` at ``url``.

    The file is removed when the process exits; a file left by a killed process is ignored
    (its pid is gone) and cleaned up by the next :func:`running_hubs`.
    """
    folder = runtime_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{_PREFIX}{os.getpid()}.json"
    record = {
        "pid": os.getpid(),
        "data_dir": str(Path(settings.data_dir).resolve()),
        "url": url,
        "started_at": datetime.now(UTC).isoformat(),
    }
    path.write_text(json.dumps(record))
    pid = os.getpid()

    def remove() -> None:
        if os.getpid() == pid:  # not in forked worker processes
            with contextlib.suppress(OSError):
                path.unlink()

    atexit.register(remove)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process with that pid
        return True
    return True


def running_hubs() -> list[RunningHub]:
    """The live ``serve`` processes of this user (stale records are removed)."""
    folder = runtime_dir()
    found: list[RunningHub] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob(f"{_PREFIX}*.json")):
        try:
            record: dict[str, Any] = json.loads(path.read_text())
            hub = RunningHub(int(record["pid"]), Path(record["data_dir"]), str(record["url"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if not _alive(hub.pid):
            with contextlib.suppress(OSError):
                path.unlink()
            continue
        found.append(hub)
    return found


def existing_hub_settings(data_dir: Path | None, **overrides: Any) -> HubSettings:
    """The settings of an existing hub, found as the module says; never a new empty one.

    Args:
        data_dir: ``--data-dir`` (None: not given).
        **overrides: Other settings from options (None values are left out).

    Raises:
        InvalidRequestError: No data folder was named, none is here and no hub runs.
    """
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        return HubSettings(data_dir=data_dir, **values)
    settings = HubSettings(**values)
    if "ARTIFACT_HUB_DATA_DIR" in os.environ or settings.database_url is not None:
        return settings
    if settings.data_dir.is_dir():
        return settings
    hubs = running_hubs()
    if len(hubs) == 1:
        hub = hubs[0]
        errors.print(f"using the data folder of the hub running at {hub.url}: {hub.data_dir}")
        return settings.model_copy(update={"data_dir": hub.data_dir})
    options = (
        "pass --data-dir (or set ARTIFACT_HUB_DATA_DIR), or run this where the hub's "
        "./.artifact-hub is"
    )
    if hubs:
        listed = "; ".join(f"{h.data_dir} (pid {h.pid}, {h.url})" for h in hubs)
        raise InvalidRequestError(f"several hubs run here: {listed}; {options}")
    raise InvalidRequestError(
        f"no hub data folder: {settings.data_dir.resolve()} does not exist and no "
        f"`artifact-hub serve` runs for this user; {options}, or start one with "
        "`artifact-hub serve`"
    )
