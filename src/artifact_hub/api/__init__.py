"""The HTTP API (FastAPI). Errors map to HTTP in one module, :mod:`artifact_hub.api.errors`."""

from artifact_hub.api.app import create_app
from artifact_hub.api.errors import error_response, install_error_handlers

__all__ = ["create_app", "error_response", "install_error_handlers"]
