"""The artifact page: metadata, versions, preview, access, links; its diff and lineage pages.

Reads go through ``hub.service`` (get, versions, access, lineage, open) and ``hub.links``
exactly as the REST routes call them, with the session's caller.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from artifact_hub.console import previews
from artifact_hub.console.auth import current_session
from artifact_hub.console.diffs import DIFF_HEAD_BYTES, json_changes, side_by_side, unified
from artifact_hub.console.pages import hub_of
from artifact_hub.console.render import ConsoleRoute, page, with_headers
from artifact_hub.core.errors import InvalidRequestError, PermissionDeniedError
from artifact_hub.plugin import Hub
from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.fields import MAX_INT32
from artifact_hub.schemas.identity import Caller

__all__ = ["build_preview", "local_url", "router"]

router = APIRouter(prefix="/console/artifacts", route_class=ConsoleRoute, include_in_schema=False)

VersionQuery = Annotated[int | None, Query(ge=1, le=MAX_INT32)]
PageQuery = Annotated[int, Query(ge=1, le=1_000_000)]
GRID_PAGE = 50


def local_url(hub: Hub, url: str) -> str:
    """A hub URL as a path on this site (the browser may reach the hub by another name)."""
    base = hub.settings.resolved_public_url
    return url[len(base) :] if url.startswith(base + "/") else url


async def build_preview(
    hub: Hub, caller: Caller, artifact: Artifact, row: ArtifactVersion, grid_page: int = 1
) -> dict[str, Any]:
    """What the preview shows for one version, reading only the head of its bytes."""
    kind = previews.preview_kind(row.content_type or artifact.content_type, artifact.name)
    preview: dict[str, Any] = {"kind": kind, "version": row.version, "size": row.size_bytes}
    raw = f"/console/artifacts/{artifact.artifact_id}/raw?version={row.version}"
    if kind in ("image", "pdf"):
        preview["src"] = raw
        return preview
    if kind == "none":
        return preview
    whole = kind in ("notebook", "parquet")
    if whole and row.size_bytes > previews.WHOLE_FILE_LIMIT:
        return {**preview, "kind": "none", "reason": "too big to preview; download it"}
    limit = {
        "csv": previews.GRID_HEAD_BYTES,
        "tsv": previews.GRID_HEAD_BYTES,
        "json": previews.HEAD_BYTES * 4,
    }.get(kind, previews.WHOLE_FILE_LIMIT if whole else previews.HEAD_BYTES)
    _, _, stream = await hub.service.open(caller, artifact.artifact_id, row.version)
    data, truncated = await previews.read_head(stream, limit)
    preview["truncated"] = truncated
    preview["head_bytes"] = len(data)
    if kind in ("csv", "tsv"):
        delimiter = "\t" if kind == "tsv" else ","
        preview["grid"] = previews.csv_grid(
            data, delimiter=delimiter, page=grid_page, page_size=GRID_PAGE, truncated=truncated
        )
    elif kind == "parquet":
        try:
            preview["grid"] = previews.parquet_grid(data, page=grid_page, page_size=GRID_PAGE)
        except Exception as error:  # a damaged file is shown as such, not as a 500
            return {**preview, "kind": "none", "reason": f"not a readable Parquet file: {error}"}
        if preview["grid"] is None:
            return {**preview, "kind": "none", "reason": "install pyarrow to preview Parquet"}
    elif kind == "notebook":
        try:
            preview["cells"] = previews.notebook_cells(data)
        except ValueError as error:
            return {
                **preview,
                "kind": "text",
                "text": previews.decode_text(data, truncated),
                "reason": str(error),
            }
    elif kind == "json":
        text = previews.decode_text(data, truncated)
        try:
            preview["tree"] = json.loads(text)
        except ValueError:
            preview["kind"] = "text"
            preview["reason"] = "the head is not a whole JSON document; shown as text"
        preview["text"] = text
    elif kind == "markdown":
        preview["html"] = previews.render_markdown(previews.decode_text(data, truncated))
    else:
        preview["text"] = previews.decode_text(data, truncated)
    return preview


async def _links(hub: Hub, caller: Caller, artifact_id: str) -> Any:
    try:
        return await hub.links.list_links(caller, artifact_id, include_inactive=True)
    except PermissionDeniedError:
        return None  # only the owner (or an admin) lists and revokes links


@router.get("/{artifact_id}")
async def artifact_page(
    request: Request, artifact_id: str, version: VersionQuery = None, page_no: PageQuery = 1
) -> Response:
    """Metadata, versions, a preview of one version, access, links, TTL and pin."""
    return await render_artifact(request, artifact_id, version, page_no)


async def render_artifact(
    request: Request,
    artifact_id: str,
    version: int | None = None,
    page_no: int = 1,
    **extra: Any,
) -> Response:
    """The artifact page (also shown after creating a link, with its URL)."""
    session = await current_session(request)
    hub = hub_of(request)
    caller = session.caller
    artifact = await hub.service.get(caller, artifact_id)
    versions = await hub.service.versions(caller, artifact_id)
    chosen = next((row for row in versions if row.version == (version or artifact.version)), None)
    if chosen is None:
        raise InvalidRequestError(f"artifact {artifact_id} has no live version {version}")
    access = await hub.service.access(caller, artifact_id)
    is_owner = caller.admin or caller.agent_id == artifact.agent_id
    return page(
        request,
        "artifact.html",
        session,
        artifact=artifact,
        versions=list(reversed(versions)),
        chosen=chosen,
        preview=await build_preview(hub, caller, artifact, chosen, page_no),
        access=access,
        links=await _links(hub, caller, artifact_id) if is_owner else None,
        is_owner=is_owner,
        **extra,
    )


@router.get("/{artifact_id}/preview")
async def preview_fragment(
    request: Request, artifact_id: str, version: VersionQuery = None, page_no: PageQuery = 1
) -> Response:
    """Just the preview (htmx swaps it in when paging a grid); a whole page without htmx."""
    if not request.headers.get("hx-request"):
        target = f"/console/artifacts/{artifact_id}?version={version or ''}&page_no={page_no}"
        return with_headers(RedirectResponse(target, status_code=303))
    session = await current_session(request)
    hub = hub_of(request)
    artifact = await hub.service.get(session.caller, artifact_id)
    rows = await hub.service.versions(session.caller, artifact_id)
    row = next((r for r in rows if r.version == (version or artifact.version)), None)
    if row is None:
        raise InvalidRequestError(f"artifact {artifact_id} has no live version {version}")
    preview = await build_preview(hub, session.caller, artifact, row, page_no)
    return page(request, "preview.html", session, artifact=artifact, preview=preview)


@router.get("/{artifact_id}/raw")
async def raw(request: Request, artifact_id: str, version: VersionQuery = None) -> Response:
    """Images and PDFs inline for the preview; any other type is refused (no HTML runs)."""
    session = await current_session(request)
    artifact, row, stream = await hub_of(request).service.open(session.caller, artifact_id, version)
    media = (row.content_type or artifact.content_type or "").split(";")[0].strip().lower()
    if media not in previews.INLINE_TYPES:
        await stream.aclose()  # type: ignore[attr-defined]
        raise InvalidRequestError("only images and PDF are shown inline; download the rest")
    headers = {
        "Content-Length": str(row.size_bytes),
        "Content-Disposition": "inline",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return StreamingResponse(stream, media_type=media, headers=headers)


@router.get("/{artifact_id}/download")
async def download(request: Request, artifact_id: str, version: VersionQuery = None) -> Response:
    """A redirect to a signed download URL of the version (``hub.links.download_url``)."""
    session = await current_session(request)
    hub = hub_of(request)
    signed = await hub.links.download_url(
        session.caller, artifact_id, version=version, expires_in=300
    )
    return with_headers(RedirectResponse(local_url(hub, signed.url), status_code=303))


@router.get("/{artifact_id}/diff")
async def diff(
    request: Request,
    artifact_id: str,
    a: VersionQuery = None,
    b: VersionQuery = None,
    unified_format: Annotated[bool, Query(alias="unified")] = False,
) -> Response:
    """The difference between two versions (default: the latest and the one before).

    ``?unified=true`` answers the unified diff as plain text (what ``diff -u`` prints).
    """
    session = await current_session(request)
    hub = hub_of(request)
    artifact = await hub.service.get(session.caller, artifact_id)
    versions = await hub.service.versions(session.caller, artifact_id)
    numbers = [row.version for row in versions]
    new = b or numbers[-1]
    old = a or (numbers[-2] if len(numbers) > 1 else numbers[-1])
    sides: list[tuple[str, bool]] = []
    for number in (old, new):
        _, _, stream = await hub.service.open(session.caller, artifact_id, number)
        data, cut = await previews.read_head(stream, DIFF_HEAD_BYTES)
        sides.append((previews.decode_text(data, cut), cut))
    if unified_format:
        text = unified(
            sides[0][0], sides[1][0], f"{artifact.name}@v{old}", f"{artifact.name}@v{new}"
        )
        return with_headers(Response(text, media_type="text/plain; charset=utf-8"))
    kind = previews.preview_kind(artifact.content_type, artifact.name)
    changes = None
    texts = [sides[0][0], sides[1][0]]
    if kind in ("json", "notebook") and not (sides[0][1] or sides[1][1]):
        try:
            documents = [json.loads(text) for text in texts]
        except ValueError:
            documents = []
        if documents:
            changes = json_changes(documents[0], documents[1])
            # Line by line on the documents laid out alike (a one-line JSON is one line).
            texts = [
                json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) for doc in documents
            ]
    return page(
        request,
        "diff.html",
        session,
        artifact=artifact,
        numbers=numbers,
        old=old,
        new=new,
        rows=side_by_side(texts[0], texts[1]),
        changes=changes,
        truncated=sides[0][1] or sides[1][1],
    )


@router.get("/{artifact_id}/lineage")
async def lineage(request: Request, artifact_id: str) -> Response:
    """The lineage graph (cytoscape.js + dagre lay it out from ``lineage.json``)."""
    session = await current_session(request)
    hub = hub_of(request)
    artifact = await hub.service.get(session.caller, artifact_id)
    graph = await hub.service.lineage(session.caller, artifact_id)
    return page(request, "lineage.html", session, artifact=artifact, graph=graph)


@router.get("/{artifact_id}/lineage.json")
async def lineage_json(request: Request, artifact_id: str) -> Response:
    """The lineage as cytoscape elements: nodes link to their artifact pages."""
    session = await current_session(request)
    graph = await hub_of(request).service.lineage(session.caller, artifact_id)
    elements: list[dict[str, Any]] = []
    for node in graph.nodes:
        label = "(hidden)" if node.hidden else f"{node.name} v{node.version}"
        elements.append(
            {
                "data": {
                    "id": node.artifact_id,
                    "label": label,
                    "hidden": node.hidden,
                    "root": node.artifact_id == artifact_id,
                    "href": None if node.hidden else f"/console/artifacts/{node.artifact_id}",
                }
            }
        )
    for index, edge in enumerate(graph.edges):
        step = " / ".join(part for part in (edge.workflow_id, edge.step_id) if part)
        elements.append(
            {
                "data": {
                    "id": f"e{index}",
                    "source": edge.source,
                    "target": edge.target,
                    "label": step or (edge.run_id or ""),
                    "run": edge.run_id,
                }
            }
        )
    body = json.dumps({"elements": elements, "truncated": graph.truncated})
    return with_headers(Response(body, media_type="application/json"))
