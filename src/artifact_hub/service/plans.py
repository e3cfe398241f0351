"""Plans and the limits they set: file size, total storage, TTL; and metadata limits.

The plan table is in docs/rest-api.md (Limits). ``PlanLimits`` is the collaborator the service
consults on every write; the API passes the upload path's own limit (multipart, base64,
presigned) and the smaller of the two applies.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from artifact_hub.core.errors import (
    FileTooLargeError,
    InvalidRequestError,
    QuotaExceededError,
    TTLExceedsPlanLimitError,
)
from artifact_hub.schemas.events import METADATA_KEY_PATTERN
from artifact_hub.schemas.fields import check_json
from artifact_hub.schemas.identity import Caller

__all__ = [
    "MAX_METADATA_BYTES",
    "PLANS",
    "UNLIMITED",
    "UNLIMITED_FILE_BYTES",
    "Plan",
    "PlanLimits",
    "check_metadata",
]

log = logging.getLogger(__name__)

# Binary units, like the upload paths' limits (10 MB is 10 MiB).
KB = 1024
MB = 1024 * KB
GB = 1024 * MB
TB = 1024 * GB

MAX_METADATA_BYTES = 8 * 1024
"""Metadata is a JSON object of at most this many bytes (compact UTF-8 JSON)."""


@dataclass(frozen=True)
class Plan:
    """What a plan allows.

    Attributes:
        name: The plan's name (``Caller.plan``).
        max_file_bytes: Largest single artifact version.
        max_storage_bytes: Total bytes of the tenant's live versions (None: unlimited).
        max_ttl: Longest TTL (None: any). The hub's default TTL is shortened to it.
        allow_never: Whether artifacts may be kept forever (``ttl="never"``).
    """

    name: str
    max_file_bytes: int
    max_storage_bytes: int | None
    max_ttl: timedelta | None = None
    allow_never: bool = True


UNLIMITED = "unlimited"
"""The plan without limits, the default for new tenants unless ``default_plan`` says else."""
UNLIMITED_FILE_BYTES = 2**62
"""``max_file_bytes`` of the unlimited plan: no upload comes near it."""

# The free plan keeps artifacts at most 30 days (the default TTL) and never forever: it is
# the plan where forgotten artifacts would otherwise pile up. Paid plans set no TTL limit.
PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        Plan("free", 10 * MB, 100 * MB, max_ttl=timedelta(days=30), allow_never=False),
        Plan("starter", 100 * MB, 10 * GB),
        Plan("pro", 1 * GB, 100 * GB),
        Plan("team", 10 * GB, 1 * TB),
        Plan("enterprise", 100 * GB, None),
        # A self-hosted hub's default (settings.default_plan): plans are opt-in, and what the
        # upload paths allow is the only limit.
        Plan(UNLIMITED, UNLIMITED_FILE_BYTES, None),
    )
}


def check_metadata(metadata: Any) -> dict[str, Any] | None:
    """Validate metadata at the service boundary and return it.

    Raises:
        InvalidRequestError: Not a JSON object, a key that does not match the pattern, a value
            that is not JSON, or more than ``MAX_METADATA_BYTES`` serialized.
    """
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidRequestError(f"metadata must be a JSON object, not {type(metadata).__name__}")
    try:
        check_json(dict(metadata))  # depth, NaN, NUL: before json.dumps walks it
    except ValueError as error:
        raise InvalidRequestError(f"metadata must be JSON: {error}") from None
    for key in metadata:
        if not isinstance(key, str) or not METADATA_KEY_PATTERN.fullmatch(key):
            raise InvalidRequestError(
                f"metadata key {key!r} must match {METADATA_KEY_PATTERN.pattern}", key=str(key)
            )
    try:
        encoded = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as error:
        raise InvalidRequestError(f"metadata must be JSON: {error}") from error
    if len(encoded) > MAX_METADATA_BYTES:
        raise InvalidRequestError(
            f"metadata is {len(encoded)} bytes as JSON; the limit is {MAX_METADATA_BYTES}",
            size=len(encoded),
            max_bytes=MAX_METADATA_BYTES,
        )
    return dict(metadata)


class PlanLimits:
    """Looks up the caller's plan and checks writes against it.

    Args:
        plans: The plan table (default: ``PLANS``). An unknown plan name gets the most
            restrictive plan, ``free``: a typo in an account must not lift every limit.
    """

    def __init__(self, plans: Mapping[str, Plan] | None = None) -> None:
        self.plans = dict(plans or PLANS)

    def plan(self, caller: Caller) -> Plan:
        """The caller's plan."""
        found = self.plans.get(caller.plan)
        if found is None:
            log.warning("unknown plan %r of tenant %s; using free", caller.plan, caller.tenant_id)
            return self.plans.get("free") or PLANS["free"]
        return found

    def max_size(self, caller: Caller, path_limit: int | None) -> int:
        """The largest content the caller may write: the plan's limit, or the path's if lower."""
        plan_limit = self.plan(caller).max_file_bytes
        return plan_limit if path_limit is None else min(plan_limit, path_limit)

    def check_size(self, caller: Caller, size: int, path_limit: int | None) -> None:
        """Fail early when a size known before the upload is already too large.

        Raises:
            FileTooLargeError: ``size`` is over ``max_size``.
        """
        limit = self.max_size(caller, path_limit)
        if size > limit:
            raise FileTooLargeError(
                f"content is {size} bytes; the limit is {limit} bytes", max_bytes=limit
            )

    def check_expiry(
        self, caller: Caller, expires_at: datetime | None, now: datetime, *, explicit: bool
    ) -> datetime | None:
        """The expiry to store, within the plan.

        Args:
            caller: Whose plan applies.
            expires_at: The asked expiry (None: never).
            now: The write's time.
            explicit: The caller asked for this TTL. The hub's default TTL is silently
                shortened to the plan's maximum instead of failing.

        Raises:
            TTLExceedsPlanLimitError: An explicit TTL is longer than the plan allows, or
                ``never`` on a plan that does not allow it.
        """
        plan = self.plan(caller)
        if plan.max_ttl is None or (expires_at is None and plan.allow_never):
            return expires_at
        longest = now + plan.max_ttl
        if expires_at is not None and expires_at <= longest:
            return expires_at
        if not explicit:
            return longest
        asked = "never" if expires_at is None else f"{(expires_at - now).total_seconds():.0f} s"
        raise TTLExceedsPlanLimitError(
            f"a TTL of {asked} exceeds the {plan.name} plan's limit of "
            f"{plan.max_ttl.total_seconds():.0f} s",
            max_ttl_seconds=int(plan.max_ttl.total_seconds()),
        )

    def locks_tenant(self, caller: Caller) -> bool:
        """Whether writes must be serialized per tenant (only to enforce a storage quota)."""
        return self.plan(caller).max_storage_bytes is not None

    def check_quota(self, caller: Caller, used_bytes: int, new_bytes: int) -> None:
        """Fail when ``new_bytes`` more would take the tenant past its storage quota.

        ``used_bytes`` is what the tenant stores now (``ArtifactStore.storage_used``: the
        versions of its live artifacts; soft-deleted and expired ones do not count, nor do
        soft-deleted versions; identical content in two versions counts twice, although the
        store keeps it once).

        Raises:
            QuotaExceededError: The quota would be exceeded.
        """
        quota = self.plan(caller).max_storage_bytes
        if quota is None:
            return
        if used_bytes + new_bytes > quota:
            raise QuotaExceededError(
                f"storing {new_bytes} more bytes would use {used_bytes + new_bytes} of the "
                f"{self.plan(caller).name} plan's {quota} bytes",
                used_bytes=used_bytes,
                quota_bytes=quota,
            )
