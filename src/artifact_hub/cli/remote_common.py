"""Plumbing shared by the artifact commands: options, the client, progress, tables, hints."""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, NoReturn

import httpx
import typer
from pydantic import BaseModel
from rich import box
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from artifact_hub.cli.output import HubUnreachableError, console, errors, fail
from artifact_hub.client import Client
from artifact_hub.client._base import DEFAULT_URL
from artifact_hub.client._base import Progress as ProgressCallback
from artifact_hub.core.errors import (
    ArtifactExpiredError,
    ArtifactHubError,
    ArtifactNotFoundError,
    AuthenticationError,
    ChecksumMismatchError,
    FileTooLargeError,
    InvalidRequestError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    ServerError,
    SessionNotFoundError,
    SessionSealedError,
    TTLExceedsPlanLimitError,
    VersionNotFoundError,
)
from artifact_hub.schemas.artifacts import Access, Artifact
from artifact_hub.schemas.lookup import parse_ref

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]
ArtifactId = Annotated[
    str,
    typer.Argument(
        help="The artifact: its id (art_...), or its name, NAME:latest or NAME:vN.",
        show_default=False,
    ),
]
#: What an artifact id looks like (``art_`` and 16 base32 characters); anything else is a name.
_ARTIFACT_ID = re.compile(r"^art_[a-z2-7]{16}$")
Pairs = list[str] | None


@dataclass(frozen=True)
class HubOptions:
    """The global ``--url`` and ``--api-key``; ``None`` leaves them to the SDK's resolution."""

    url: str | None = None
    api_key: str | None = None


# ---------------------------------------------------------------------------- plumbing


def _hint(error: ArtifactHubError) -> str | None:
    """What the user can do about ``error`` (the most specific class first)."""
    if isinstance(error, AuthenticationError):
        return (
            "set ARTIFACT_HUB_API_KEY or pass --api-key; `artifact-hub admin create-key "
            "--tenant T --agent A` makes one (a new hub saves its first key to "
            "<data-dir>/bootstrap-key.txt)"
        )
    if isinstance(error, QuotaExceededError):
        return "delete artifacts (`artifact-hub rm ID`) or move the tenant to a larger plan"
    if isinstance(error, PermissionDeniedError):
        return (
            "this API key may not do that: ask the artifact's owner to `artifact-hub share` it "
            "with your agent, or use another key (--agent must be the key's own agent)"
        )
    if isinstance(error, VersionNotFoundError):
        return "`artifact-hub versions ID` lists the versions there are"
    if isinstance(error, SessionNotFoundError):
        return "a session exists once something was pushed to it"
    if isinstance(error, ArtifactNotFoundError):
        return (
            "check the id with `artifact-hub ls --session '*'`; another agent's artifacts "
            "show only once they are shared with you"
        )
    if isinstance(error, SessionSealedError):
        return (
            "a sealed session takes no more writes: push to a new one (`artifact-hub session new`)"
        )
    if isinstance(error, ArtifactExpiredError):
        return "it expired; `artifact-hub ttl ID SECONDS|never` extends an artifact in time"
    if isinstance(error, TTLExceedsPlanLimitError):
        return "use a shorter --ttl, or a plan that allows it"
    if isinstance(error, FileTooLargeError):
        return "the tenant's plan limits the size of one file"
    if isinstance(error, RateLimitedError):
        return f"too many requests: retry in {error.retry_after_seconds:g} s"
    if isinstance(error, ChecksumMismatchError):
        return "the bytes were damaged on the way: pull again"
    if isinstance(error, ServerError):
        return "the hub failed: its log (the output of `artifact-hub serve`) says why"
    return None


@contextlib.contextmanager
def _client(ctx: typer.Context, as_json: bool) -> Iterator[Client]:
    """A :class:`Client` for the command; SDK errors become messages and exit codes."""
    options = ctx.find_object(HubOptions) or HubOptions()
    url = options.url or DEFAULT_URL
    try:
        with Client(api_key=options.api_key, base_url=options.url) as client:
            url = client.base_url
            yield client
    except ArtifactHubError as error:
        if isinstance(error.__cause__, httpx.TransportError):
            _unreachable(url, error.__cause__, as_json)
        fail(error, hint=_hint(error), as_json=as_json)
    except httpx.TransportError as error:  # the connection broke while streaming
        _unreachable(url, error, as_json)
    except OSError as error:  # the local side: a folder that cannot be written, ...
        fail(InvalidRequestError(str(error)), as_json=as_json)


def _unreachable(url: str, cause: Exception, as_json: bool) -> NoReturn:
    fail(
        HubUnreachableError(f"cannot reach the hub at {url} ({type(cause).__name__}: {cause})"),
        hint="check ARTIFACT_HUB_URL (or --url), and that `artifact-hub serve` runs there",
        as_json=as_json,
    )


def _show_progress(as_json: bool) -> bool:
    """Progress bars go to stderr, and only when it is a terminal and not with ``--json``."""
    return not as_json and sys.stderr.isatty()


@contextlib.contextmanager
def _progress(label: str, as_json: bool) -> Iterator[ProgressCallback | None]:
    """A rich progress bar on stderr, only on a terminal and without ``--json``."""
    if not _show_progress(as_json):
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=False,
    )
    with bar:
        task = bar.add_task(escape(label), total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _short_time(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _artifact_line(artifact: Artifact) -> str:
    return (
        f"{artifact.id}  {artifact.name}  v{artifact.version}  {artifact.size_bytes} bytes  "
        f"sha256 {artifact.sha256}"
    )


_GAP = 2  # characters between two columns of the listing (the divider and its padding)
_NAME_ROOM = 40  # the listing keeps names up to this long on one line


def _print_table(items: list[Artifact]) -> None:
    """The listing as a table that keeps ids and names whole on an 80-column terminal.

    Ids, versions, sizes and times never wrap; the name gets the rest of the width, up to its
    length (names over 40 characters fold onto more lines, never cut). Session and agent
    columns show only when the rows differ in them and the names still fit; the time drops
    its year when that makes a name fit.
    """
    if not items:
        errors.print("no artifacts match")
        return
    longest = max(len(a.name) for a in items)
    fixed = {
        "id": max(len(a.id) for a in items),
        "v": max(len(str(a.version)) for a in items),
        "bytes": max(5, *(len(str(a.size_bytes)) for a in items)),
    }
    wanted = min(max(longest, 4), _NAME_ROOM)

    def room(widths: list[int]) -> int:
        return console.width - sum(widths) - _GAP * len(widths)

    time_format = "%Y-%m-%d %H:%M"
    if room([*fixed.values(), 16]) < wanted:
        time_format = "%m-%d %H:%M"
    base = [*fixed.values(), len(datetime.now().strftime(time_format))]
    optional: list[tuple[str, int]] = []
    for label, values in (
        ("session", {a.session_id or "" for a in items}),
        ("agent", {a.agent_id or "" for a in items}),
    ):
        if len(values) > 1:
            width = min(max(len(v) for v in values), 24)
            if room([*base, *(w for _, w in optional), width]) >= wanted:
                optional.append((label, width))
    shown = {label for label, _ in optional}
    # What the name may take: all it wants when that fits, else what is left (it folds).
    name_width = max(4, min(wanted, room([*base, *(w for _, w in optional)])))
    table = Table(
        Column("id", no_wrap=True),
        Column("name", overflow="fold", min_width=name_width),
        Column("v", justify="right", no_wrap=True),
        Column("bytes", justify="right", no_wrap=True),
        *(Column(label, overflow="ellipsis", no_wrap=True, max_width=w) for label, w in optional),
        Column("created", no_wrap=True),
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
    )
    for a in items:
        row = [a.id, escape(a.name), str(a.version), str(a.size_bytes)]
        if "session" in shown:
            row.append(escape(a.session_id or ""))
        if "agent" in shown:
            row.append(escape(a.agent_id or ""))
        row.append(a.created_at.strftime(time_format) if a.created_at is not None else "")
        table.add_row(*row)
    console.print(table)


def _print_access(access: Access) -> None:
    agents = ", ".join(access.agents) or "-"
    groups = ", ".join(access.groups) or "-"
    typer.echo(f"{access.artifact_id}  agents: {agents}  groups: {groups}")


def _expiry(artifact: Artifact) -> str:
    if artifact.expires_at is None:
        return f"{artifact.id} never expires"
    return f"{artifact.id} expires at {_when(artifact.expires_at)}"


def _resolve(client: Client, ref: str) -> tuple[str, int | None]:
    """The artifact id ``ref`` names, and the version its alias names (None: none given).

    An id is used as it is; a name (``NAME``, ``NAME:latest``, ``NAME:vN``) is looked up on
    the hub (``GET /v1/lookup``) in the key's namespace, the newest artifact of that name.
    """
    if _ARTIFACT_ID.fullmatch(ref):
        return ref, None
    _, version = parse_ref(ref)
    found = client.lookup(ref)
    return found.artifact_id, version


def _artifact_id(client: Client, ref: str) -> str:
    return _resolve(client, ref)[0]
