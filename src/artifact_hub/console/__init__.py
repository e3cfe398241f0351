"""The web console: browse, preview, compare versions, lineage, sharing, links, live events.

Served by the API app at ``/console/`` (docs/console.md), server-rendered with Jinja2; the
browser needs no build step (htmx, cytoscape.js and dagre are vendored under ``static/``).
Every page calls the services the REST API calls, as the caller of the signed-in API key.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]


def _router() -> APIRouter:
    from artifact_hub.console import actions, artifact_pages, events, pages

    combined = APIRouter()
    for part in (pages.router, events.router, artifact_pages.router, actions.router):
        combined.include_router(part)
    return combined


router = _router()
