"""The core artifact commands: push, pull, ls, get, rm, versions, link, ttl, seal, whoami."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from artifact_hub.cli.output import console, errors, fail, pairs, print_json
from artifact_hub.cli.remote_common import (
    ArtifactId,
    AsJson,
    Pairs,
    _artifact_id,
    _artifact_line,
    _client,
    _dump,
    _expiry,
    _print_table,
    _progress,
    _resolve,
    _short_time,
    _when,
)
from artifact_hub.client import ListFilters
from artifact_hub.core.errors import (
    InvalidRequestError,
)


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
