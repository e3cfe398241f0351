"""Read models (aliases, frozen) and event payloads (validation, dispatch, topics, keys)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from artifact_hub.schemas import (
    DLQ_TOPIC,
    EVENT_TYPES,
    Access,
    AccessEntry,
    Artifact,
    ArtifactCreated,
    ArtifactDeleted,
    ArtifactExpired,
    ArtifactShared,
    ArtifactUpdated,
    ArtifactVersion,
    ArtifactVersioned,
    Caller,
    EventBase,
    ExpiryChange,
    Principal,
    Session,
    SessionSealed,
    parse_event,
    topic_for,
)

SHA = "ab" * 32
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ART = "art_0123456789abcdef"


def _artifact(**overrides: Any) -> Artifact:
    fields: dict[str, Any] = {
        "artifact_id": ART,
        "tenant_id": "t1",
        "name": "report.csv",
        "created_at": NOW,
    }
    fields.update(overrides)
    return Artifact(**fields)


def _event_kwargs() -> dict[type[EventBase], dict[str, Any]]:
    common = {"tenant_id": "t1", "actor": "agent-a", "occurred_at": NOW}
    return {
        ArtifactCreated: {
            **common,
            "artifact_id": ART,
            "name": "report.csv",
            "sha256": SHA,
            "size_bytes": 10,
            "metadata": {"k": 1},
        },
        ArtifactVersioned: {
            **common,
            "artifact_id": ART,
            "seq": 2,
            "version": 2,
            "sha256": SHA,
            "size_bytes": 11,
        },
        ArtifactShared: {
            **common,
            "artifact_id": ART,
            "seq": 3,
            "grants": [{"type": "agent", "id": "agent-b"}],
            "revokes": [{"type": "group", "id": "g1"}],
        },
        ArtifactUpdated: {
            **common,
            "artifact_id": ART,
            "seq": 4,
            "pinned": True,
            "expiry": {"expires_at": None},
            "metadata": {"note": "x"},
        },
        ArtifactDeleted: {**common, "artifact_id": ART, "seq": 5, "version": 1},
        ArtifactExpired: {**common, "artifact_id": ART, "seq": 6},
        SessionSealed: {**common, "session_id": "ses_1"},
    }


EVENT_KWARGS = _event_kwargs()
EVENT_CLASSES = list(EVENT_KWARGS)
EVENT_IDS = [cls.__name__ for cls in EVENT_CLASSES]


def _event(cls: type[EventBase], **overrides: Any) -> EventBase:
    return cls(**{**EVENT_KWARGS[cls], **overrides})


# --- read models -----------------------------------------------------------------------


def test_artifact_read_aliases() -> None:
    artifact = _artifact(content_type="text/csv", size_bytes=42, agent_id="agent-a")
    assert artifact.id == ART
    assert artifact.filename == "report.csv"
    assert artifact.mime == "text/csv"
    assert artifact.mimetype == "text/csv"
    assert artifact.owner == "agent-a"
    assert artifact.bytes == 42
    assert artifact.deleted is False


def test_artifact_deleted_follows_deleted_at() -> None:
    assert _artifact(deleted_at=NOW).deleted is True
    assert _artifact(deleted_at=None).deleted is False


@pytest.mark.parametrize("alias", ["content_type", "mime", "mimetype"])
def test_artifact_accepts_content_type_aliases(alias: str) -> None:
    assert _artifact(**{alias: "image/png"}).content_type == "image/png"


@pytest.mark.parametrize("alias", ["size_bytes", "bytes"])
def test_artifact_accepts_size_aliases(alias: str) -> None:
    assert _artifact(**{alias: 7}).size_bytes == 7


def test_artifact_validates_from_dict_with_aliases() -> None:
    artifact = Artifact.model_validate(
        {
            "artifact_id": ART,
            "tenant_id": "t1",
            "name": "n",
            "created_at": "2024-05-01T12:00:00Z",
            "mimetype": "text/plain",
            "bytes": 3,
            "unknown_field": "ignored",
        }
    )
    assert (artifact.content_type, artifact.size_bytes) == ("text/plain", 3)
    assert not hasattr(artifact, "unknown_field")
    assert "mimetype" not in artifact.model_dump()


def test_artifact_defaults() -> None:
    artifact = _artifact()
    assert artifact.namespace == "default"
    assert artifact.version == 1
    assert artifact.metadata == {} and artifact.tags == [] and artifact.pinned is False
    assert artifact.content_type is None and artifact.bytes is None


def test_artifact_requires_identity_fields() -> None:
    with pytest.raises(ValidationError):
        Artifact(tenant_id="t1", name="n", created_at=NOW)  # type: ignore[call-arg]


def test_artifact_version_bytes_alias() -> None:
    version = ArtifactVersion(artifact_id=ART, version=2, sha256=SHA, size_bytes=9, created_at=NOW)
    assert version.bytes == 9


def test_session_sealed_property() -> None:
    assert Session(tenant_id="t", session_id="s", created_at=NOW).sealed is False
    assert Session(tenant_id="t", session_id="s", created_at=NOW, sealed_at=NOW).sealed is True


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (_artifact(), "name", "other"),
        (
            ArtifactVersion(artifact_id=ART, version=1, sha256=SHA, size_bytes=1, created_at=NOW),
            "version",
            9,
        ),
        (
            AccessEntry(artifact_id=ART, principal_type="agent", principal_id="a", granted_at=NOW),
            "principal_id",
            "b",
        ),
        (Access(artifact_id=ART), "owner", "x"),
        (Session(tenant_id="t", session_id="s", created_at=NOW), "sealed_at", NOW),
        (Principal(type="agent", id="a"), "id", "b"),
        (Caller(tenant_id="t"), "admin", True),
        (_event(ArtifactCreated), "name", "other"),
        (_event(SessionSealed), "session_id", "other"),
        (ExpiryChange(expires_at=None), "expires_at", NOW),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str | bool | datetime | int) else None,
)
def test_models_are_frozen(model: Any, field: str, value: Any) -> None:
    with pytest.raises(ValidationError):
        setattr(model, field, value)


def test_principal_type_is_agent_or_group() -> None:
    with pytest.raises(ValidationError):
        Principal(type="user", id="a")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Principal(type="agent", id="")


# --- events: metadata keys ------------------------------------------------------------

GOOD_KEYS = ["a", "Z", "key", "my-key", "my_key", "k1", "a" + "b" * 63, "A_-9"]
BAD_KEYS = ["", "1key", "_key", "-key", "a" + "b" * 64, "with space", "dot.ted", "ümlaut", "a/b"]


@pytest.mark.parametrize("key", GOOD_KEYS)
@pytest.mark.parametrize("cls", [ArtifactCreated, ArtifactVersioned, ArtifactUpdated])
def test_metadata_good_keys_accepted(cls: type[EventBase], key: str) -> None:
    event = _event(cls, metadata={key: "v"})
    assert event.metadata == {key: "v"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("cls", [ArtifactCreated, ArtifactVersioned, ArtifactUpdated])
def test_metadata_bad_keys_rejected(cls: type[EventBase], key: str) -> None:
    with pytest.raises(ValidationError, match="metadata"):
        _event(cls, metadata={key: "v"})


def test_metadata_key_length_boundary() -> None:
    assert len("a" + "b" * 63) == 64
    _event(ArtifactCreated, metadata={"a" + "b" * 63: 1})
    with pytest.raises(ValidationError):
        _event(ArtifactCreated, metadata={"a" + "b" * 64: 1})


def test_metadata_key_with_trailing_newline_rejected() -> None:
    with pytest.raises(ValidationError):
        _event(ArtifactCreated, metadata={"key\n": 1})


def test_metadata_none_keeps_previous_on_versioned_and_updated() -> None:
    assert _event(ArtifactVersioned, metadata=None).metadata is None  # type: ignore[attr-defined]
    assert _event(ArtifactUpdated, metadata=None).metadata is None  # type: ignore[attr-defined]


# --- events: field rules --------------------------------------------------------------


@pytest.mark.parametrize("sha", [SHA, "0" * 64, "0123456789abcdef" * 4])
def test_sha256_pattern_accepts_lower_hex_64(sha: str) -> None:
    assert _event(ArtifactCreated, sha256=sha).sha256 == sha  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "sha", ["", "ab" * 31, "ab" * 33, "AB" * 32, "g" * 64, SHA + "\n", " " + SHA[1:]]
)
@pytest.mark.parametrize("cls", [ArtifactCreated, ArtifactVersioned])
def test_sha256_pattern_rejects(cls: type[EventBase], sha: str) -> None:
    with pytest.raises(ValidationError, match="sha256"):
        _event(cls, sha256=sha)


def test_created_seq_must_be_one() -> None:
    assert _event(ArtifactCreated).seq == 1  # type: ignore[attr-defined]
    assert _event(ArtifactCreated, seq=1).seq == 1  # type: ignore[attr-defined]
    for seq in (0, 2, 5):
        with pytest.raises(ValidationError, match="seq"):
            _event(ArtifactCreated, seq=seq)


def test_versioned_version_at_least_two() -> None:
    assert _event(ArtifactVersioned, version=2).version == 2  # type: ignore[attr-defined]
    for version in (0, 1):
        with pytest.raises(ValidationError, match="version"):
            _event(ArtifactVersioned, version=version)


@pytest.mark.parametrize("cls", [c for c in EVENT_CLASSES if c is not SessionSealed])
def test_artifact_events_require_positive_seq(cls: type[EventBase]) -> None:
    with pytest.raises(ValidationError):
        _event(cls, seq=0)


def test_negative_size_rejected() -> None:
    with pytest.raises(ValidationError):
        _event(ArtifactCreated, size_bytes=-1)


def test_naive_occurred_at_becomes_utc() -> None:
    event = _event(ArtifactCreated, occurred_at=datetime(2024, 1, 2, 3, 4, 5))
    assert event.occurred_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_aware_occurred_at_keeps_instant() -> None:
    plus_two = timezone(timedelta(hours=2))
    event = _event(ArtifactCreated, occurred_at=datetime(2024, 1, 1, 14, tzinfo=plus_two))
    assert event.occurred_at == datetime(2024, 1, 1, 12, tzinfo=UTC)


def test_default_occurred_at_is_aware_now() -> None:
    kwargs = dict(EVENT_KWARGS[ArtifactExpired])
    del kwargs["occurred_at"]
    before = datetime.now(UTC)
    event = ArtifactExpired(**kwargs)
    assert event.occurred_at.tzinfo is not None
    assert before <= event.occurred_at <= datetime.now(UTC)


def test_event_ids_are_unique_by_default() -> None:
    ids = {_event(ArtifactExpired).event_id for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=EVENT_IDS)
def test_extra_fields_forbidden(cls: type[EventBase]) -> None:
    with pytest.raises(ValidationError, match="surprise"):
        _event(cls, surprise=1)


def test_expiry_change_forbids_extra() -> None:
    with pytest.raises(ValidationError):
        ExpiryChange(expires_at=None, extra=1)  # type: ignore[call-arg]


def test_tenant_id_required_and_non_empty() -> None:
    with pytest.raises(ValidationError, match="tenant_id"):
        _event(ArtifactExpired, tenant_id="")


def test_wrong_type_literal_rejected() -> None:
    with pytest.raises(ValidationError):
        _event(ArtifactExpired, type="artifact.created")


# --- dispatch, topics, keys -----------------------------------------------------------


def test_event_types_cover_every_class() -> None:
    assert set(EVENT_TYPES.values()) == set(EVENT_CLASSES)
    assert set(EVENT_TYPES) == {
        "artifact.created",
        "artifact.versioned",
        "artifact.shared",
        "artifact.updated",
        "artifact.deleted",
        "artifact.expired",
        "session.sealed",
    }
    for type_name, cls in EVENT_TYPES.items():
        assert cls.topic == type_name
        assert cls.model_fields["type"].default == type_name
    assert DLQ_TOPIC == "artifact.dlq"


@pytest.mark.parametrize("cls", EVENT_CLASSES, ids=EVENT_IDS)
def test_parse_event_dispatches_on_type(cls: type[EventBase]) -> None:
    event = _event(cls)
    as_dict = event.model_dump(mode="json")
    parsed = parse_event(as_dict)
    assert type(parsed) is cls
    assert parsed == event
    assert parse_event(event.model_dump_json()) == event
    assert parse_event(event.model_dump_json().encode()) == event


def test_parse_event_unknown_or_missing_type() -> None:
    with pytest.raises(ValidationError):
        parse_event({"type": "artifact.exploded", "tenant_id": "t"})
    with pytest.raises(ValidationError):
        parse_event({"tenant_id": "t", "artifact_id": ART, "seq": 1})


def test_parse_event_validates_payload() -> None:
    data = _event(ArtifactCreated).model_dump(mode="json")
    data["sha256"] = "nope"
    with pytest.raises(ValidationError, match="sha256"):
        parse_event(data)


@pytest.mark.parametrize("type_name", sorted(EVENT_TYPES))
def test_topic_for_with_and_without_prefix(type_name: str) -> None:
    assert topic_for(type_name) == type_name
    assert topic_for(type_name, prefix="prod.") == f"prod.{type_name}"


def test_topic_for_unknown_type() -> None:
    with pytest.raises(KeyError):
        topic_for("artifact.exploded")


@pytest.mark.parametrize("cls", [c for c in EVENT_CLASSES if c is not SessionSealed])
def test_key_and_subject_are_the_artifact_id(cls: type[EventBase]) -> None:
    event = _event(cls)
    assert event.key == ART
    assert event.subject == ART


def test_session_sealed_key_is_the_session_id() -> None:
    event = _event(SessionSealed)
    assert event.key == "ses_1"
    assert event.subject == "ses_1"


def test_shared_principals_are_parsed() -> None:
    event = _event(ArtifactShared)
    assert event.grants == [Principal(type="agent", id="agent-b")]  # type: ignore[attr-defined]
    assert event.revokes == [Principal(type="group", id="g1")]  # type: ignore[attr-defined]


def test_updated_expiry_never_vs_unchanged() -> None:
    never = _event(ArtifactUpdated, expiry={"expires_at": None})
    unchanged = _event(ArtifactUpdated, expiry=None)
    assert never.expiry == ExpiryChange(expires_at=None)  # type: ignore[attr-defined]
    assert unchanged.expiry is None  # type: ignore[attr-defined]
