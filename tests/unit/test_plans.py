"""The plan table and its checks (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from artifact_hub.core.errors import (
    FileTooLargeError,
    InvalidRequestError,
    TTLExceedsPlanLimitError,
)
from artifact_hub.schemas import Caller
from artifact_hub.service.plans import (
    GB,
    MB,
    PLANS,
    TB,
    UNLIMITED_FILE_BYTES,
    PlanLimits,
    check_metadata,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def caller(plan: str) -> Caller:
    return Caller(tenant_id="t", plan=plan)


def test_the_plan_table_is_the_reference() -> None:
    table = {p.name: (p.max_file_bytes, p.max_storage_bytes) for p in PLANS.values()}
    assert table == {
        "free": (10 * MB, 100 * MB),
        "starter": (100 * MB, 10 * GB),
        "pro": (1 * GB, 100 * GB),
        "team": (10 * GB, 1 * TB),
        "enterprise": (100 * GB, None),
        "unlimited": (UNLIMITED_FILE_BYTES, None),
    }


def test_max_size_is_the_smaller_limit() -> None:
    limits = PlanLimits()
    assert limits.max_size(caller("free"), None) == 10 * MB
    assert limits.max_size(caller("free"), 5) == 5
    assert limits.max_size(caller("enterprise"), 500 * MB) == 500 * MB
    with pytest.raises(FileTooLargeError):
        limits.check_size(caller("starter"), 100 * MB + 1, None)
    # An unknown plan gets the free plan's limits, not none.
    assert limits.max_size(caller("platinum"), None) == 10 * MB


def test_ttl_limits() -> None:
    limits = PlanLimits()
    free, pro = caller("free"), caller("pro")
    in_a_week = NOW + timedelta(days=7)
    assert limits.check_expiry(free, in_a_week, NOW, explicit=True) == in_a_week
    assert limits.check_expiry(free, None, NOW, explicit=False) == NOW + timedelta(days=30)
    assert limits.check_expiry(free, NOW + timedelta(days=90), NOW, explicit=False) == NOW + (
        timedelta(days=30)
    )
    with pytest.raises(TTLExceedsPlanLimitError, match="never"):
        limits.check_expiry(free, None, NOW, explicit=True)
    with pytest.raises(TTLExceedsPlanLimitError):
        limits.check_expiry(free, NOW + timedelta(days=31), NOW, explicit=True)
    assert limits.check_expiry(pro, None, NOW, explicit=True) is None


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"": 1}, "must match"),
        ({"9lives": 1}, "must match"),
        ({"a" * 65: 1}, "must match"),
        ({"k": "x" * 8200}, "limit is 8192"),
        ({"k": {1, 2}}, "must be JSON"),
        ("text", "JSON object"),
    ],
)
def test_bad_metadata(metadata: object, message: str) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        check_metadata(metadata)


def test_good_metadata() -> None:
    assert check_metadata(None) is None
    assert check_metadata({"a-b_C9": [1, {"x": None}]}) == {"a-b_C9": [1, {"x": None}]}
    assert check_metadata({"k": "é" * 4000}) is not None  # 8000 UTF-8 bytes + the key
