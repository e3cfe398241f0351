"""A :class:`~artifact_hub.ports.search.SearchScope` as SQL conditions on ``artifacts``.

Visibility and the plain filters are :meth:`IndexReader.conditions`, the very ones
``ArtifactService.list`` applies, so every read path sees the same artifacts; the scope labels
are added here.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, or_

from artifact_hub.adapters.index import tables as t
from artifact_hub.adapters.index.projector import label_value
from artifact_hub.adapters.index.queries import IndexReader
from artifact_hub.ports.search import SCOPE_KEYS, SearchScope

__all__ = ["scope_conditions"]


def scope_conditions(reader: IndexReader, scope: SearchScope) -> list[ColumnElement[bool]]:
    """The WHERE conditions (on ``artifacts``) of the artifacts in scope."""
    conditions = reader.conditions(scope.caller, scope.filter, now=scope.now)
    a = t.artifacts.c
    lbl = t.artifact_labels.c
    for key, value in scope.scope_labels.items():
        # A scope id matches the artifact's own field, or a label of that name (the facade
        # and agents may record scope either way).
        as_label = exists().where(
            and_(
                lbl.artifact_id == a.artifact_id,
                lbl.source == "label",
                lbl.key == key,
                lbl.value == label_value(value),
            )
        )
        if isinstance(value, str):
            conditions.append(or_(getattr(a, SCOPE_KEYS[key]) == value, as_label))
        else:
            conditions.append(as_label)
    return conditions
