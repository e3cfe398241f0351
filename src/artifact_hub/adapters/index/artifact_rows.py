"""The read model of an ``artifacts`` row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from artifact_hub.schemas.artifacts import Artifact

__all__ = ["artifact_from_row"]


def artifact_from_row(row: Row[Any]) -> Artifact:
    """Build the read model from an ``artifacts`` row."""
    data = dict(row._mapping)
    data.pop("revision", None)
    data.pop("expired_at", None)
    data.pop("purged_at", None)
    return Artifact.model_validate(data)
