"""ArtifactWriter: the file handle that ``ArtifactFacade.writer()`` yields."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from artifact_hub.core.errors import (
    InvalidRequestError,
)
from artifact_hub.schemas.artifacts import Artifact


class ArtifactWriter:
    """What ``async with facade.writer(...) as w`` yields: stream bytes, add labels/metrics.

    Attributes:
        path: The staged file the bytes go to.
        labels: Labels given so far (``"tags"`` among them become the artifact's tags).
        metrics: Metrics given so far.
        artifact: The saved artifact, once the ``async with`` block has exited cleanly.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.labels: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.artifact: Artifact | None = None
        self._handle = path.open("wb")
        self.bytes_written = 0

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes to the staged file (written off the event loop)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidRequestError(f"write() takes bytes, not {type(data).__name__}")
        await asyncio.to_thread(self._handle.write, data)
        self.bytes_written += len(data)

    def add_labels(self, labels: dict[str, Any]) -> None:
        """Add labels (later keys win); ``{"tags": [...]}`` sets tags."""
        self.labels.update(labels)

    def add_metrics(self, metrics: dict[str, Any]) -> None:
        """Add metrics (later keys win)."""
        self.metrics.update(metrics)

    def _close(self) -> None:
        self._handle.close()
