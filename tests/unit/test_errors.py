"""The error taxonomy of reference.md section 2: codes, classes, HTTP statuses, error bodies."""

from __future__ import annotations

import pytest

import artifact_hub.core.errors as errors
from artifact_hub.core.errors import (
    ArtifactHubError,
    ArtifactNotFoundError,
    RateLimitedError,
    ServerError,
    error_for_code,
    status_for,
)

# Copied from reference.md section 2: (code, allowed HTTP statuses, exception class name).
SERVER_STATUSES = frozenset(range(500, 600))
REFERENCE_TABLE: list[tuple[str, frozenset[int], str]] = [
    ("invalid_request", frozenset({400, 422}), "InvalidRequestError"),
    ("unauthorized", frozenset({401}), "AuthenticationError"),
    ("forbidden", frozenset({403}), "PermissionDeniedError"),
    ("artifact_not_found", frozenset({404}), "ArtifactNotFoundError"),
    ("version_not_found", frozenset({404}), "VersionNotFoundError"),
    ("session_not_found", frozenset({404}), "SessionNotFoundError"),
    ("link_not_found", frozenset({404}), "LinkNotFoundError"),
    ("upload_not_found", frozenset({404}), "UploadNotFoundError"),
    ("session_sealed", frozenset({409}), "SessionSealedError"),
    ("conflict", frozenset({409}), "ConflictError"),
    ("artifact_expired", frozenset({410}), "ArtifactExpiredError"),
    ("artifact_already_deleted", frozenset({410}), "ArtifactDeletedError"),
    ("file_too_large", frozenset({413}), "FileTooLargeError"),
    ("checksum_mismatch", frozenset({422}), "ChecksumMismatchError"),
    ("quota_exceeded", frozenset({403}), "QuotaExceededError"),
    ("ttl_exceeds_plan_limit", frozenset({400}), "TTLExceedsPlanLimitError"),
    ("rate_limited", frozenset({429}), "RateLimitedError"),
    ("server_error", SERVER_STATUSES, "ServerError"),
]
TABLE_IDS = [row[0] for row in REFERENCE_TABLE]


def _error_classes() -> list[type[ArtifactHubError]]:
    found = []
    for name in errors.__all__:
        value = getattr(errors, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            found.append(value)
    return found


def test_reference_table_has_eighteen_distinct_rows() -> None:
    assert len(REFERENCE_TABLE) == 18
    assert len(set(TABLE_IDS)) == 18
    assert len({row[2] for row in REFERENCE_TABLE}) == 18


@pytest.mark.parametrize(("code", "statuses", "class_name"), REFERENCE_TABLE, ids=TABLE_IDS)
def test_table_row_maps_to_class_code_and_status(
    code: str, statuses: frozenset[int], class_name: str
) -> None:
    cls = getattr(errors, class_name)
    assert issubclass(cls, ArtifactHubError)
    assert cls.code == code
    assert cls.status in statuses
    error = cls("boom")
    assert error.code == code
    assert status_for(error) == cls.status
    assert error_for_code(code) is cls


@pytest.mark.parametrize(("code", "statuses", "class_name"), REFERENCE_TABLE, ids=TABLE_IDS)
def test_to_dict_has_documented_shape(code: str, statuses: frozenset[int], class_name: str) -> None:
    error = getattr(errors, class_name)("something went wrong")
    body = error.to_dict()
    assert list(body) == ["error"]
    expected_keys = {"code", "message", "status"}
    if class_name == "RateLimitedError":
        expected_keys.add("retry_after_seconds")
    assert set(body["error"]) == expected_keys
    assert body["error"]["code"] == code
    assert body["error"]["message"] == "something went wrong"
    assert body["error"]["status"] in statuses
    assert body["error"]["status"] == error.status


def test_error_for_code_round_trips_every_declared_code() -> None:
    abstract = {ArtifactHubError, errors.NotFoundError, errors.GoneError}
    concrete = [cls for cls in _error_classes() if cls not in abstract]
    assert len({cls.code for cls in concrete}) == len(concrete)  # no code used twice
    for cls in concrete:
        assert error_for_code(cls.code) is cls, cls.__name__


@pytest.mark.parametrize("code", ["", "no_such_code", "NOT_FOUND", "artifact-not-found"])
def test_unknown_codes_give_server_error(code: str) -> None:
    assert error_for_code(code) is ServerError


def test_every_public_error_subclasses_the_root() -> None:
    classes = _error_classes()
    assert len(classes) >= 18
    for cls in classes:
        assert issubclass(cls, ArtifactHubError), cls.__name__
        assert issubclass(cls, Exception)


def test_class_hierarchy_of_the_refinements() -> None:
    assert issubclass(errors.TTLExceedsPlanLimitError, errors.InvalidRequestError)
    assert issubclass(errors.QuotaExceededError, errors.PermissionDeniedError)
    for name in (
        "ArtifactNotFoundError",
        "VersionNotFoundError",
        "SessionNotFoundError",
        "LinkNotFoundError",
        "UploadNotFoundError",
    ):
        assert issubclass(getattr(errors, name), errors.NotFoundError)
    assert issubclass(errors.ArtifactExpiredError, errors.GoneError)
    assert issubclass(errors.ArtifactDeletedError, errors.GoneError)


def test_rate_limited_body_carries_retry_after() -> None:
    error = RateLimitedError("slow down", retry_after_seconds=2.5)
    assert error.retry_after_seconds == 2.5
    assert error.to_dict() == {
        "error": {
            "code": "rate_limited",
            "message": "slow down",
            "status": 429,
            "retry_after_seconds": 2.5,
        }
    }


def test_rate_limited_default_retry_after_is_positive() -> None:
    body = RateLimitedError().to_dict()["error"]
    assert body["retry_after_seconds"] > 0


def test_other_errors_have_no_retry_after() -> None:
    assert "retry_after_seconds" not in ServerError("x").to_dict()["error"]


def test_context_keys_read_as_attributes() -> None:
    error = ArtifactNotFoundError(artifact_id="art_0123456789abcdef", version=3)
    assert error.artifact_id == "art_0123456789abcdef"
    assert error.version == 3
    assert error.context == {"artifact_id": "art_0123456789abcdef", "version": 3}


def test_unknown_attribute_raises_attribute_error() -> None:
    error = ArtifactNotFoundError(artifact_id="art_x")
    with pytest.raises(AttributeError):
        _ = error.session_id
    assert not hasattr(error, "nothing_here")
    assert getattr(error, "nothing_here", "fallback") == "fallback"


def test_default_message_names_code_and_context() -> None:
    error = ArtifactNotFoundError(artifact_id="art_x")
    assert "artifact_not_found" in error.message
    assert "art_x" in error.message
    assert str(error) == error.message
    assert ServerError().message == "server_error"


def test_explicit_message_is_kept() -> None:
    error = errors.ConflictError("idempotency key reused", key="k1")
    assert str(error) == "idempotency key reused"
    assert error.key == "k1"


@pytest.mark.parametrize(
    "exception", [ValueError("x"), RuntimeError(), KeyError("k"), OSError(5, "io")]
)
def test_status_for_foreign_exception_is_500(exception: BaseException) -> None:
    assert status_for(exception) == 500


def test_errors_are_catchable_by_root_and_by_base() -> None:
    with pytest.raises(errors.NotFoundError):
        raise errors.LinkNotFoundError(link_id="lnk_1")
    with pytest.raises(ArtifactHubError):
        raise errors.QuotaExceededError()
