"""The ``/v1`` routers, in the order they are mounted."""

from __future__ import annotations

from fastapi import APIRouter

from artifact_hub.api.routes import (
    account,
    artifacts,
    lineage,
    links,
    lookup,
    search,
    sessions,
    uploads,
    versions,
)

# links and uploads come first: their fixed paths (POST /v1/artifacts/upload-url) must be
# matched before any /v1/artifacts/{artifact_id}... pattern can capture them.
ROUTERS: list[APIRouter] = [
    links.router,
    uploads.router,
    account.router,
    artifacts.router,
    versions.router,
    sessions.router,
    lineage.router,
    search.router,
    lookup.router,
]
