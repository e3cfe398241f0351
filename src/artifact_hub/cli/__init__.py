"""The ``artifact-hub`` command line (typer + rich)."""

from artifact_hub.cli.main import app, main

__all__ = ["app", "main"]
