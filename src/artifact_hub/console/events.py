"""The live feed of the tenant's events: a page, and a Server-Sent Events stream.

Events come from the hub's event log (the outbox table every write appends to in its own
transaction), so the feed works alike in embedded and distributed mode and on any replica:
the stream polls the log for rows after the last one it sent. Only events of artifacts the
key may read are shown (:meth:`~artifact_hub.service.console_reads.ConsoleReads.events`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from artifact_hub.console.auth import console_reads, current_session
from artifact_hub.console.render import ConsoleRoute, page
from artifact_hub.service.console_reads import EventRow

__all__ = ["event_view", "router"]

router = APIRouter(prefix="/console/events", route_class=ConsoleRoute, include_in_schema=False)

POLL_SECONDS = 1.0
STREAM_SECONDS = 25.0
"""A stream ends after this long; the browser's EventSource reconnects with Last-Event-ID."""


def event_view(row: EventRow) -> dict[str, Any]:
    """What the feed shows of an event (no payload beyond a few fields)."""
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = {}
    subject = "artifact" if row.event_type.startswith("artifact.") else "session"
    href = (
        f"/console/artifacts/{row.key}" if subject == "artifact" else f"/console/sessions/{row.key}"
    )
    return {
        "id": row.id,
        "type": row.event_type,
        "key": row.key,
        "href": href,
        "at": row.created_at.isoformat(),
        "agent": payload.get("agent_id") or "",
        "name": payload.get("name") or "",
    }


@router.get("")
async def events_page(request: Request) -> Response:
    """The latest events, then new ones as they happen (``/console/events/stream``)."""
    session = await current_session(request)
    rows = await console_reads(request).events(session.caller, limit=50)
    views = [event_view(row) for row in rows]
    return page(request, "events.html", session, events=views, last_id=rows[0].id if rows else 0)


@router.get("/stream")
async def stream(
    request: Request,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
) -> Response:
    """``text/event-stream``: one ``hub-event`` per new event, JSON in ``data``."""
    session = await current_session(request)
    reads = console_reads(request)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after

    async def produce() -> AsyncIterator[bytes]:
        last = start
        deadline = time.monotonic() + STREAM_SECONDS
        yield b"retry: 1000\n\n"
        while time.monotonic() < deadline and not await request.is_disconnected():
            rows = await reads.events(session.caller, after_id=last, limit=100)
            for row in reversed(rows):  # oldest first
                last = max(last, row.id)
                data = json.dumps(event_view(row))
                yield f"id: {row.id}\nevent: hub-event\ndata: {data}\n\n".encode()
            if not rows:
                yield b": keep-alive\n\n"
            await asyncio.sleep(POLL_SECONDS)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(produce(), media_type="text/event-stream", headers=headers)
