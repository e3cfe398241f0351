"""The artifact commands of ``artifact-hub``: push, pull, ls, ... against a hub over HTTP.

They go through the SDK's :class:`~artifact_hub.client.Client`, so they read the same settings
as the SDK: ``--url`` / ``--api-key`` (the app's global options), then ``ARTIFACT_HUB_URL``,
``ARTIFACT_HUB_API_KEY``, ``ARTIFACT_HUB_SESSION_ID`` and ``ARTIFACT_HUB_AGENT_ID``, then
``~/.config/artifact-hub/config.toml``. ``--json`` prints one JSON document on stdout; errors
go to stderr with an exit code per kind of error (:data:`~artifact_hub.cli.output.EXIT_CODES`,
and :data:`~artifact_hub.cli.output.HUB_UNREACHABLE`, 10, when nothing answers at the URL).
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
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

from artifact_hub.cli.output import HubUnreachableError, console, errors, fail, pairs, print_json
from artifact_hub.client import Client, ListFilters
from artifact_hub.client._base import DEFAULT_URL, session_new
from artifact_hub.client._base import Progress as ProgressCallback
from artifact_hub.errors import (
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

__all__ = ["HubOptions", "register", "session_app"]

session_app = typer.Typer(
    help="Sessions (ids made locally; `seal` closes one).", no_args_is_help=True
)

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


# ---------------------------------------------------------------------------- commands


def push(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="File to push.", show_default=False)
    ],
    name: Annotated[str | None, typer.Option(help="Name (default: the file's).")] = None,
    session: Annotated[
        str | None, typer.Option(help="Session (default: ARTIFACT_HUB_SESSION_ID).")
    ] = None,
    agent: Annotated[
        str | None, typer.Option(help="Agent; must be the key's (default: ARTIFACT_HUB_AGENT_ID).")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option("--type", help="MIME type (default: guessed from the name).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Kind: report, model, dataset, ...")] = None,
    meta: Annotated[Pairs, typer.Option(help="Metadata key=value (repeat).")] = None,
    label: Annotated[Pairs, typer.Option(help="Label key=value (repeat).")] = None,
    tag: Annotated[Pairs, typer.Option(help="Tag (repeat).")] = None,
    ttl: Annotated[
        str | None, typer.Option(help="Seconds (or 7d, 12h), or 'never' (default: 30 days).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Push a file as a new artifact (with a progress bar on a terminal)."""
    metadata = pairs(meta, "--meta", as_json=as_json)
    labels = pairs(label, "--label", as_json=as_json)
    with _client(ctx, as_json) as client, _progress(name or path.name, as_json) as progress:
        artifact = client.push(
            path,
            filename=name,
            session_id=session,
            agent_id=agent,
            content_type=content_type,
            kind=kind,
            metadata=metadata or None,
            labels=labels or None,
            tags=tag or None,
            ttl=ttl,
            progress=progress,
        )
    if as_json:
        print_json(_dump(artifact))
    else:
        typer.echo(_artifact_line(artifact))


def pull(
    ctx: typer.Context,
    artifact_id: ArtifactId,
    output: Annotated[
        str, typer.Option("-o", "--output", help="File or folder ('-': stdout).")
    ] = ".",
    version: Annotated[int | None, typer.Option(min=1, help="Version (default: latest).")] = None,
    as_json: AsJson = False,
) -> None:
    """Download an artifact, verified against its sha256, and print where it went."""
    if output == "-":
        if as_json:
            fail(InvalidRequestError("--json prints to stdout: give -o a path"), as_json=True)
        with _client(ctx, as_json) as client, _progress(artifact_id, as_json) as progress:
            ref, alias_version = _resolve(client, artifact_id)
            data = client.pull_bytes(ref, version=version or alias_version, progress=progress)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with _client(ctx, as_json) as client, _progress(artifact_id, as_json) as progress:
        ref, alias_version = _resolve(client, artifact_id)
        version = version or alias_version
        target = client.pull(ref, output, version=version, progress=progress)
    if as_json:
        print_json(
            {
                "artifact_id": ref,
                "version": version,
                "path": str(target),
                "size_bytes": target.stat().st_size,
            }
        )
    else:
        typer.echo(str(target))


def list_artifacts(
    ctx: typer.Context,
    session: Annotated[
        str | None,
        typer.Option(help="Session (default: ARTIFACT_HUB_SESSION_ID; '*': every session)."),
    ] = None,
    agent: Annotated[str | None, typer.Option(help="Pushed by this agent.")] = None,
    content_type: Annotated[str | None, typer.Option("--type", help="MIME type.")] = None,
    kind: Annotated[str | None, typer.Option(help="Kind.")] = None,
    meta: Annotated[Pairs, typer.Option(help="Metadata key=value (repeat; all match).")] = None,
    label: Annotated[Pairs, typer.Option(help="Label key=value (repeat; all match).")] = None,
    tag: Annotated[Pairs, typer.Option(help="Tag (repeat; all present).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    cursor: Annotated[
        str | None,
        typer.Option(help="Continue after a page: the next_cursor a listing printed."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every match (no --limit).")] = False,
    as_json: AsJson = False,
) -> None:
    """List artifacts you own or that are shared with you, newest first.

    ``--json`` prints ``{"data": [...], "next_cursor": ...}`` like ``GET /v1/artifacts``;
    pass the cursor to ``--cursor`` for the next page.
    """
    filters: ListFilters = {}
    if session is not None:
        filters["session_id"] = session
    if agent is not None:
        filters["agent_id"] = agent
    if content_type is not None:
        filters["content_type"] = content_type
    if kind is not None:
        filters["kind"] = kind
    if tag:
        filters["tags"] = tag
    if label:
        filters["labels"] = pairs(label, "--label", as_json=as_json)
    if meta:
        filters["metadata"] = pairs(meta, "--meta", as_json=as_json)
    if all_ and cursor is not None:
        fail(InvalidRequestError("--all lists from the start: drop --cursor"), as_json=as_json)
    next_cursor: str | None = None
    with _client(ctx, as_json) as client:
        if all_:
            items = list(client.list(page_size=200, **filters))
        else:
            items, next_cursor = [], cursor
            while True:  # pages of at most 200 (the API's limit) until --limit is reached
                page = client.list_page(
                    limit=min(limit - len(items), 200), cursor=next_cursor, **filters
                )
                items += page.data
                next_cursor = page.next_cursor
                if next_cursor is None or len(items) >= limit:
                    break
    if as_json:
        print_json({"data": [_dump(a) for a in items], "next_cursor": next_cursor})
        return
    _print_table(items)
    if next_cursor is not None:
        errors.print(f"more: --cursor {next_cursor}  (or raise --limit, or pass --all)")


def get(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """Show an artifact's metadata."""
    with _client(ctx, as_json) as client:
        artifact = client.get(_artifact_id(client, artifact_id))
    if as_json:
        print_json(_dump(artifact))
        return
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    rows: dict[str, Any] = {
        "id": artifact.id,
        "name": artifact.name,
        "version": artifact.version,
        "bytes": artifact.size_bytes,
        "type": artifact.content_type,
        "sha256": artifact.sha256,
        "namespace": artifact.namespace,
        "session": artifact.session_id,
        "agent": artifact.agent_id,
        "kind": artifact.kind,
        "metadata": artifact.metadata or None,
        "labels": artifact.labels or None,
        "tags": ", ".join(artifact.tags) or None,
        "pinned": artifact.pinned or None,
        "created": _when(artifact.created_at),
        "updated": _when(artifact.updated_at) or None,
        "expires": _when(artifact.expires_at) or "never",
    }
    for key, value in rows.items():
        if value is not None:
            table.add_row(key, escape(str(value)))
    console.print(table)


def remove(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """Soft-delete an artifact (every version)."""
    with _client(ctx, as_json) as client:
        artifact = client.delete(_artifact_id(client, artifact_id))
    if as_json:
        print_json(_dump(artifact))
    else:
        typer.echo(f"deleted {artifact.id}")


def link(
    ctx: typer.Context,
    artifact_id: ArtifactId,
    expires_in: Annotated[
        int | None,
        typer.Option(min=1, help="Seconds the link works (default 7 days, at most 30)."),
    ] = None,
    version: Annotated[int | None, typer.Option(min=1, help="Pin a version.")] = None,
    as_json: AsJson = False,
) -> None:
    """Make a download link that works without an API key until it expires."""
    with _client(ctx, as_json) as client:
        ref, alias_version = _resolve(client, artifact_id)
        made = client.create_link(ref, expires_in=expires_in, version=version or alias_version)
    if as_json:
        print_json(made.model_dump(mode="json"))
    else:
        typer.echo(made.url)
        errors.print(f"{made.id}, expires at {_when(made.expires_at)}")


def set_ttl(
    ctx: typer.Context,
    artifact_id: ArtifactId,
    seconds: Annotated[
        str,
        typer.Argument(help="Seconds from now (or 7d, 12h), or 'never'.", show_default=False),
    ],
    as_json: AsJson = False,
) -> None:
    """Set when an artifact expires: SECONDS from now, or never."""
    with _client(ctx, as_json) as client:
        artifact = client.extend_ttl(_artifact_id(client, artifact_id), seconds)
    if as_json:
        print_json(_dump(artifact))
    else:
        typer.echo(_expiry(artifact))


def seal(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session.", show_default=False)],
    as_json: AsJson = False,
) -> None:
    """Seal a session: it takes no more writes."""
    with _client(ctx, as_json) as client:
        session = client.seal_session(session_id)
    if as_json:
        print_json(session.model_dump(mode="json"))
    else:
        typer.echo(f"sealed {session.session_id} at {_when(session.sealed_at)}")


def whoami(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Check the API key and show whom it speaks for."""
    with _client(ctx, as_json) as client:
        me = client.whoami()
        url = client.base_url
    if as_json:
        print_json({**me.model_dump(mode="json"), "url": url})
        return
    groups = ", ".join(me.groups) or "-"
    typer.echo(
        f"agent {me.agent_id} of tenant {me.tenant_id} (plan {me.plan})"
        f"{'  admin' if me.admin else ''}\n"
        f"groups {groups}  namespace {me.namespace}  key {me.key_id}  hub {url}"
    )


@session_app.command("new")
def session_new_command(as_json: AsJson = False) -> None:
    """Print a new session id (made locally, no call to the hub)."""
    session_id = session_new()
    if as_json:
        print_json({"session_id": session_id})
    else:
        typer.echo(session_id)


def versions(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """List an artifact's versions, oldest first."""
    with _client(ctx, as_json) as client:
        rows = client.versions(_artifact_id(client, artifact_id))
    if as_json:
        print_json([row.model_dump(mode="json") for row in rows])
        return
    table = Table("version", "bytes", "type", "sha256 (start)", "agent", "created")
    for row in rows:
        table.add_row(
            str(row.version),
            str(row.size_bytes),
            row.content_type or "",
            row.sha256[:12],
            row.agent_id or "",
            _short_time(row.created_at),
        )
    console.print(table)


Agents = Annotated[Pairs, typer.Option("--agent", help="An agent (repeat).")]
Groups = Annotated[Pairs, typer.Option("--group", help="A group (repeat).")]


def _grants(agents: Pairs, groups: Pairs, as_json: bool) -> tuple[list[str], list[str]]:
    if not agents and not groups:
        fail(InvalidRequestError("name at least one --agent or --group"), as_json=as_json)
    return list(agents or ()), list(groups or ())


def share(
    ctx: typer.Context,
    artifact_id: ArtifactId,
    agent: Agents = None,
    group: Groups = None,
    as_json: AsJson = False,
) -> None:
    """Let agents and groups of your tenant read an artifact."""
    agents, groups = _grants(agent, group, as_json)
    with _client(ctx, as_json) as client:
        access = client.share(_artifact_id(client, artifact_id), agents=agents, groups=groups)
    if as_json:
        print_json(_dump(access))
    else:
        _print_access(access)


def unshare(
    ctx: typer.Context,
    artifact_id: ArtifactId,
    agent: Agents = None,
    group: Groups = None,
    as_json: AsJson = False,
) -> None:
    """Take read access to an artifact back from agents and groups."""
    agents, groups = _grants(agent, group, as_json)
    with _client(ctx, as_json) as client:
        access = client.unshare(_artifact_id(client, artifact_id), agents=agents, groups=groups)
    if as_json:
        print_json(_dump(access))
    else:
        _print_access(access)


def push_version(
    ctx: typer.Context,
    artifact_id: ArtifactId,
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="File to push.", show_default=False)
    ],
    content_type: Annotated[
        str | None,
        typer.Option(
            "--type", help="MIME type (default: the artifact's stays).", show_default=False
        ),
    ] = None,
    meta: Annotated[
        Pairs, typer.Option(help="Metadata key=value (repeat; default: the previous stays).")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Push a file as the next version of an artifact (by id or by name)."""
    metadata = pairs(meta, "--meta", as_json=as_json)
    with _client(ctx, as_json) as client, _progress(path.name, as_json) as progress:
        artifact = client.push_version(
            _artifact_id(client, artifact_id),
            path,
            content_type=content_type,
            metadata=metadata or None,
            progress=progress,
        )
    if as_json:
        print_json(_dump(artifact))
    else:
        typer.echo(_artifact_line(artifact))


def lookup(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME, NAME:latest or NAME:vN.", show_default=False)],
    session: Annotated[str | None, typer.Option(help="Look in this session only.")] = None,
    namespace: Annotated[str | None, typer.Option(help="Default: the key's.")] = None,
    as_json: AsJson = False,
) -> None:
    """Find an artifact by name (the newest of that name) and print its id and version."""
    with _client(ctx, as_json) as client:
        found = client.lookup(ref, session_id=session, namespace=namespace)
    if as_json:
        print_json(found.model_dump(mode="json"))
    else:
        typer.echo(f"{found.artifact_id}  {found.name}  v{found.version}")


def search(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Argument(help="Free text (none: filters only).", show_default=False)
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="structured, lexical, semantic or hybrid.")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Kind.")] = None,
    tag: Annotated[Pairs, typer.Option(help="Tag (repeat; all present).")] = None,
    label: Annotated[Pairs, typer.Option(help="Label key=value (repeat; all match).")] = None,
    within: Annotated[
        str | None, typer.Option("--within", help="Created within: 24h, 7d, ...")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many hits.")] = 10,
    as_json: AsJson = False,
) -> None:
    """Search what you may read (full text, semantic, or by filters), best first."""
    labels = pairs(label, "--label", as_json=as_json)
    with _client(ctx, as_json) as client:
        hits = client.search(
            query,
            mode=mode,
            kind=kind,
            tags=tag or None,
            labels=labels or None,
            time_window=within,
            limit=limit,
        )
    if as_json:
        print_json({"data": [hit.model_dump(mode="json") for hit in hits]})
        return
    table = Table(
        Column("id", no_wrap=True, min_width=20),
        Column("name", overflow="fold", ratio=3),
        Column("score", justify="right", no_wrap=True),
        Column("mode", no_wrap=True),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for hit in hits:
        score = "" if hit.score is None else f"{hit.score:.4g}"
        table.add_row(hit.artifact.id, escape(hit.artifact.name), score, hit.mode)
    console.print(table)


def lineage(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """Show where an artifact came from and what was made from it (workflow lineage)."""
    with _client(ctx, as_json) as client:
        graph = client.lineage(_artifact_id(client, artifact_id))
    if as_json:
        print_json(graph.model_dump(mode="json"))
        return
    names = {node.artifact_id: node.name or "(hidden)" for node in graph.nodes}

    def label(node_id: str) -> str:
        return f"{node_id} {escape(names.get(node_id, ''))}".rstrip()

    console.print(f"[bold]{label(graph.artifact_id)}[/bold]")
    console.print("made from: " + (", ".join(map(label, graph.upstream)) or "-"))
    console.print("used by:   " + (", ".join(map(label, graph.downstream)) or "-"))
    for edge in graph.edges:
        step = f"  ({edge.step_id} of run {edge.run_id})" if edge.step_id else ""
        console.print(
            f"  {edge.source} v{edge.source_version} -> {edge.target} v{edge.target_version}"
            f"{escape(step)}"
        )
    if graph.truncated:
        errors.print("the graph is truncated (too many nodes)")


def pin(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """Pin an artifact: retention sweeps keep it."""
    _set_pin(ctx, artifact_id, True, as_json)


def unpin(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """Unpin an artifact: it expires by its TTL again."""
    _set_pin(ctx, artifact_id, False, as_json)


def _set_pin(ctx: typer.Context, ref: str, pinned: bool, as_json: bool) -> None:
    with _client(ctx, as_json) as client:
        artifact = client.update(_artifact_id(client, ref), pinned=pinned)
    if as_json:
        print_json(_dump(artifact))
    else:
        typer.echo(f"{'pinned' if artifact.pinned else 'unpinned'} {artifact.id}")


def revoke_link(
    ctx: typer.Context,
    link_id: Annotated[
        str, typer.Argument(help="The link's id (printed by `link`).", show_default=False)
    ],
    as_json: AsJson = False,
) -> None:
    """Revoke a download link: its URL stops working at once."""
    with _client(ctx, as_json) as client:
        client.revoke_link(link_id)
    if as_json:
        print_json({"link_id": link_id, "revoked": True})
    else:
        typer.echo(f"revoked {link_id}")


def register(app: typer.Typer) -> None:
    """Add the artifact commands, and the ``session`` group, to ``app``."""
    app.command(rich_help_panel="Artifacts")(push)
    app.command("push-version", rich_help_panel="Artifacts")(push_version)
    app.command(rich_help_panel="Artifacts")(pull)
    app.command(rich_help_panel="Artifacts")(lookup)
    app.command(rich_help_panel="Artifacts")(search)
    app.command(rich_help_panel="Artifacts")(lineage)
    app.command(rich_help_panel="Artifacts")(pin)
    app.command(rich_help_panel="Artifacts")(unpin)
    app.command("ls", rich_help_panel="Artifacts")(list_artifacts)
    app.command(rich_help_panel="Artifacts")(get)
    app.command("rm", rich_help_panel="Artifacts")(remove)
    app.command(rich_help_panel="Artifacts")(versions)
    app.command(rich_help_panel="Artifacts")(link)
    app.command("revoke-link", rich_help_panel="Artifacts")(revoke_link)
    app.command("ttl", rich_help_panel="Artifacts")(set_ttl)
    app.command(rich_help_panel="Artifacts")(share)
    app.command(rich_help_panel="Artifacts")(unshare)
    app.command(rich_help_panel="Artifacts")(seal)
    app.command(rich_help_panel="Artifacts")(whoami)
    app.add_typer(session_app, name="session", rich_help_panel="Artifacts")
