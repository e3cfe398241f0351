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
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from pydantic import BaseModel
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

__all__ = ["HubOptions", "register", "session_app"]

session_app = typer.Typer(
    help="Sessions (ids made locally; `seal` closes one).", no_args_is_help=True
)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]
ArtifactId = Annotated[str, typer.Argument(help="The artifact's id (art_...).", show_default=False)]
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


def _print_table(items: list[Artifact]) -> None:
    table = Table(
        Column("id", no_wrap=True, min_width=20),
        "name",
        "v",
        "bytes",
        "session",
        "agent",
        Column("created", no_wrap=True),
    )
    for a in items:
        table.add_row(
            a.id,
            escape(a.name),
            str(a.version),
            str(a.size_bytes),
            a.session_id or "",
            a.agent_id or "",
            _short_time(a.created_at),
        )
    console.print(table)


def _print_access(access: Access) -> None:
    agents = ", ".join(access.agents) or "-"
    groups = ", ".join(access.groups) or "-"
    typer.echo(f"{access.artifact_id}  agents: {agents}  groups: {groups}")


def _expiry(artifact: Artifact) -> str:
    if artifact.expires_at is None:
        return f"{artifact.id} never expires"
    return f"{artifact.id} expires at {_when(artifact.expires_at)}"


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
            data = client.pull_bytes(artifact_id, version=version, progress=progress)
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with _client(ctx, as_json) as client, _progress(artifact_id, as_json) as progress:
        target = client.pull(artifact_id, output, version=version, progress=progress)
    if as_json:
        print_json(
            {
                "artifact_id": artifact_id,
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
    all_: Annotated[bool, typer.Option("--all", help="Every match (no --limit).")] = False,
    as_json: AsJson = False,
) -> None:
    """List artifacts you own or that are shared with you, newest first."""
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
    with _client(ctx, as_json) as client:
        if all_:
            items = list(client.list(page_size=200, **filters))
        else:
            # one more than asked, to tell whether there are more
            items = list(client.list(limit=limit + 1, page_size=min(limit + 1, 200), **filters))
    more = not all_ and len(items) > limit
    items = items if all_ else items[:limit]
    if as_json:
        print_json([_dump(a) for a in items])
        return
    _print_table(items)
    if more:
        errors.print(f"more than {limit}: raise --limit, or pass --all")


def get(ctx: typer.Context, artifact_id: ArtifactId, as_json: AsJson = False) -> None:
    """Show an artifact's metadata."""
    with _client(ctx, as_json) as client:
        artifact = client.get(artifact_id)
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
        artifact = client.delete(artifact_id)
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
        made = client.create_link(artifact_id, expires_in=expires_in, version=version)
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
        artifact = client.extend_ttl(artifact_id, seconds)
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
        rows = client.versions(artifact_id)
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
        access = client.share(artifact_id, agents=agents, groups=groups)
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
        access = client.unshare(artifact_id, agents=agents, groups=groups)
    if as_json:
        print_json(_dump(access))
    else:
        _print_access(access)


def register(app: typer.Typer) -> None:
    """Add the artifact commands, and the ``session`` group, to ``app``."""
    app.command(rich_help_panel="Artifacts")(push)
    app.command(rich_help_panel="Artifacts")(pull)
    app.command("ls", rich_help_panel="Artifacts")(list_artifacts)
    app.command(rich_help_panel="Artifacts")(get)
    app.command("rm", rich_help_panel="Artifacts")(remove)
    app.command(rich_help_panel="Artifacts")(versions)
    app.command(rich_help_panel="Artifacts")(link)
    app.command("ttl", rich_help_panel="Artifacts")(set_ttl)
    app.command(rich_help_panel="Artifacts")(share)
    app.command(rich_help_panel="Artifacts")(unshare)
    app.command(rich_help_panel="Artifacts")(seal)
    app.command(rich_help_panel="Artifacts")(whoami)
    app.add_typer(session_app, name="session", rich_help_panel="Artifacts")
