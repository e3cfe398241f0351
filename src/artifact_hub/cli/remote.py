"""The artifact commands of ``artifact-hub``: push, pull, ls, ... against a hub over HTTP.

They go through the SDK's :class:`~artifact_hub.client.Client`, so they read the same settings
as the SDK: ``--url`` / ``--api-key`` (the app's global options), then ``ARTIFACT_HUB_URL``,
``ARTIFACT_HUB_API_KEY``, ``ARTIFACT_HUB_SESSION_ID`` and ``ARTIFACT_HUB_AGENT_ID``, then
``~/.config/artifact-hub/config.toml``. ``--json`` prints one JSON document on stdout; errors
go to stderr with an exit code per kind of error (:data:`~artifact_hub.cli.output.EXIT_CODES`,
and :data:`~artifact_hub.cli.output.HUB_UNREACHABLE`, 10, when nothing answers at the URL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Column, Table

from artifact_hub.cli.output import console, errors, fail, pairs, print_json
from artifact_hub.cli.remote_artifacts import (
    get,
    link,
    list_artifacts,
    pull,
    push,
    remove,
    seal,
    set_ttl,
    versions,
    whoami,
)
from artifact_hub.cli.remote_common import (
    ArtifactId,
    AsJson,
    HubOptions,
    Pairs,
    _artifact_id,
    _artifact_line,
    _client,
    _dump,
    _print_access,
    _progress,
    _show_progress,  # noqa: F401  (re-exported: tests read remote._show_progress)
)
from artifact_hub.client._base import session_new
from artifact_hub.core.errors import (
    InvalidRequestError,
)

__all__ = ["HubOptions", "register", "session_app"]

session_app = typer.Typer(
    help="Sessions (ids made locally; `seal` closes one).", no_args_is_help=True
)


@session_app.command("new")
def session_new_command(as_json: AsJson = False) -> None:
    """Print a new session id (made locally, no call to the hub)."""
    session_id = session_new()
    if as_json:
        print_json({"session_id": session_id})
    else:
        typer.echo(session_id)


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
