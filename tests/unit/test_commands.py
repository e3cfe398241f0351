"""The write commands (schemas/commands.py): one definition of each command's fields."""

from __future__ import annotations

import pytest

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.schemas.api import CreateArtifact
from artifact_hub.schemas.commands import (
    PUSH_FIELDS,
    SCOPE_FIELDS,
    PushArtifact,
    Scope,
    body_ttl,
)
from artifact_hub.schemas.events import ArtifactCreated
from artifact_hub.schemas.lineage import Lineage


def test_the_scope_is_what_the_create_body_and_the_event_carry() -> None:
    assert set(SCOPE_FIELDS) <= set(CreateArtifact.model_fields)
    assert set(SCOPE_FIELDS) <= set(ArtifactCreated.model_fields)
    assert PUSH_FIELDS[-1] == "scope"


def test_keyword_fields_become_a_command_with_its_scope() -> None:
    command = PushArtifact.from_fields(name="a.txt", tags=["x"], run_id="r1", uri="s3://b/k")
    assert command == PushArtifact(
        name="a.txt", tags=["x"], scope=Scope(run_id="r1", uri="s3://b/k")
    )
    with pytest.raises(InvalidRequestError, match="unknown artifact fields: colour"):
        PushArtifact.from_fields(name="a.txt", colour="red")


def test_a_scope_from_any_object_and_its_lineage() -> None:
    body = CreateArtifact(run_id="r1", node_id="", tool_name="t")
    assert Scope.of(body).fields() == {"run_id": "r1", "node_id": "", "tool_name": "t"}
    assert Scope.of(body, skip_empty=True).fields() == {"run_id": "r1", "tool_name": "t"}
    lineage = Lineage(run_id="r2", workflow_id="w", step_id="s")
    assert Scope(run_id="r1").with_lineage(lineage) == Scope(run_id="r1", graph_id="w", node_id="s")
    assert Scope().with_lineage(None) == Scope()


def test_a_body_asks_for_one_ttl() -> None:
    assert body_ttl(CreateArtifact()) is None
    assert body_ttl(CreateArtifact(never_expires=True)) == "never"
    assert body_ttl(CreateArtifact(ttl_seconds=60)) == 60
    with pytest.raises(InvalidRequestError, match="not both"):
        body_ttl(CreateArtifact(ttl_seconds=60, never_expires=True))
