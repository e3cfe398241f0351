"""The HTTP application: ``/health`` and the ``/v1`` REST API (docs/rest-api.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI

from artifact_hub.api.errors import check_request_text, errors, install_error_handlers
from artifact_hub.api.middleware import RateLimiter, install_middleware
from artifact_hub.core.version import __version__
from artifact_hub.plugin import Hub

__all__ = ["app_from_environment", "create_app"]


def create_app(hub: Hub) -> FastAPI:
    """An app that starts and stops ``hub`` with its own lifespan."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Refuse to serve without a usable signing secret (SigningSecretMissingError): in
        # distributed mode, replicas that each made up a key would reject each other's links.
        _signer = hub.signer
        await hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = FastAPI(
        title="artifact-hub",
        version=__version__,
        lifespan=lifespan,
        dependencies=[Depends(check_request_text)],
    )
    app.state.hub = hub
    install_error_handlers(app)
    settings = hub.settings
    install_middleware(
        app,
        limiter=RateLimiter(
            per_second=settings.rate_limit_per_second,
            burst=settings.rate_limit_burst,
            redis_url=settings.redis_url,
            key_prefix=settings.rate_limit_key_prefix,
        ),
        authenticate=hub.accounts.authenticate,
        store=hub.idempotency,
    )

    @app.get("/health", tags=["account"], responses=errors(public=True))
    async def health() -> dict[str, Any]:
        """Liveness and what this hub runs on (no authentication)."""
        async with hub.db.connect() as conn:
            pending = await hub.outbox.count_pending(conn)
        return {
            "status": "ok",
            "version": __version__,
            "index": hub.db.dialect,
            "blob_store": hub.settings.blob_store,
            "event_bus": hub.settings.event_bus,
            "outbox_pending": pending,
        }

    # Each router module registers its own endpoints; see docs/rest-api.md for the table.
    for router in _routers():
        app.include_router(router)
    app.include_router(_console_router())  # the web console at /console/ (docs/console.md)
    return app


def app_from_environment() -> FastAPI:
    """An app over a hub configured by the ``ARTIFACT_HUB_*`` environment.

    The factory that ``artifact-hub serve --workers N`` gives uvicorn: each worker process
    builds its own hub from the settings that ``serve`` put in the environment.
    """
    from artifact_hub.core.settings import HubSettings
    from artifact_hub.plugin.bootstrap import bootstrap

    return create_app(bootstrap(HubSettings()))


def _console_router() -> Any:
    from artifact_hub.console import router

    return router


def _routers() -> list[Any]:
    from artifact_hub.api.routes import ROUTERS

    return list(ROUTERS)
