"""The one exception tree of artifact-hub.

Every error the hub raises on purpose is an :class:`ArtifactHubError` carrying a stable
``code`` (match on it, never on the message) and the HTTP status the API answers with.
The HTTP mapping lives in one place, :func:`status_for`, and the client maps codes back to
classes with :func:`error_for_code`. It stays one module of over 400 lines on purpose: the tree
is reviewed as a whole, codes and statuses side by side::

    ArtifactHubError
    ├── InvalidRequestError            invalid_request          400
    │   ├── TTLExceedsPlanLimitError   ttl_exceeds_plan_limit   400
    │   ├── StepInputError             step_input_invalid       400 (a workflow step's input)
    │   ├── UnknownAgentError          unknown_agent            400 (no step agent by that name)
    │   ├── WorkflowInvalidError       workflow_invalid         422 (a workflow's JSON or graph)
    │   └── TemplateError              template_error           422 (a step's << >> templates)
    ├── AuthenticationError            unauthorized             401
    ├── PermissionDeniedError          forbidden                403
    │   └── QuotaExceededError         quota_exceeded           403
    ├── NotFoundError                  not_found                404 (no such route)
    │   ├── ArtifactNotFoundError      artifact_not_found
    │   ├── VersionNotFoundError       version_not_found
    │   ├── SessionNotFoundError       session_not_found
    │   ├── LinkNotFoundError          link_not_found
    │   └── UploadNotFoundError        upload_not_found
    ├── SessionSealedError             session_sealed           409
    ├── ConflictError                  conflict                 409
    │   └── IdempotencyInProgressError idempotency_in_progress (the first still runs)
    ├── GoneError                      (abstract)               410
    │   ├── ArtifactExpiredError       artifact_expired
    │   ├── ArtifactDeletedError       artifact_already_deleted
    │   └── LinkExpiredError           link_expired (links and signed URLs used too late)
    ├── FileTooLargeError              file_too_large           413
    ├── ChecksumMismatchError          checksum_mismatch        422
    ├── RateLimitedError               rate_limited             429
    ├── ServerError                    server_error             500
    │   └── StorageUnavailableError    storage_unavailable      503 (S3 failing; Retry-After)
    ├── SearchUnavailableError         search_unavailable       501 (no embedder for
    │                                                            semantic search)
    ├── EventRejectedError             event_rejected           (events only: the reason a
    │                                                            message went to the DLQ)
    ├── StepTimeoutError               step_timeout             504 (a workflow step ran too long)
    └── DependencyFailedError          dependency_failed        424 (a step skipped: its
                                                                 dependency did not succeed)
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ArtifactDeletedError",
    "ArtifactExpiredError",
    "ArtifactHubError",
    "ArtifactNotFoundError",
    "AuthenticationError",
    "ChecksumMismatchError",
    "ConflictError",
    "DependencyFailedError",
    "EventNotReadyError",
    "EventRejectedError",
    "FileTooLargeError",
    "GoneError",
    "IdempotencyInProgressError",
    "InvalidRequestError",
    "LinkExpiredError",
    "LinkNotFoundError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitedError",
    "SearchUnavailableError",
    "ServerError",
    "SessionNotFoundError",
    "SessionSealedError",
    "StepInputError",
    "StepTimeoutError",
    "StorageUnavailableError",
    "TTLExceedsPlanLimitError",
    "TemplateError",
    "UnknownAgentError",
    "UploadNotFoundError",
    "VersionNotFoundError",
    "WorkflowInvalidError",
    "error_for_code",
    "status_for",
]


class ArtifactHubError(Exception):
    """Root of every error artifact-hub raises on purpose.

    Attributes:
        code: The stable, machine-readable error code.
        status: The HTTP status the REST API answers with.
        message: A sentence for people; never parse it.
        context: Identifiers that locate the error (``artifact_id``, ``version``, ...).
    """

    code: ClassVar[str] = "server_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str | None = None, **context: Any) -> None:
        self.message = message or self._default_message(context)
        self.context: dict[str, Any] = context
        super().__init__(self.message)

    def _default_message(self, context: dict[str, Any]) -> str:
        details = ", ".join(f"{k}={v}" for k, v in context.items())
        return f"{self.code}" + (f" ({details})" if details else "")

    def __getattr__(self, name: str) -> Any:
        # Context keys read as attributes (``err.artifact_id``) for convenience.
        context = self.__dict__.get("context", {})
        if name in context:
            return context[name]
        raise AttributeError(name)

    def to_dict(self) -> dict[str, Any]:
        """The API's error body: ``{"error": {"code", "message", "status"}}``."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        return {"error": body}


class InvalidRequestError(ArtifactHubError):
    """The request or event is malformed; do not retry."""

    code = "invalid_request"
    status = 400


class TTLExceedsPlanLimitError(InvalidRequestError):
    """The asked TTL is longer than the tenant's plan allows."""

    code = "ttl_exceeds_plan_limit"
    status = 400


class StepInputError(InvalidRequestError):
    """A workflow step agent was given input it cannot use (missing field, wrong type, ...)."""

    code = "step_input_invalid"
    status = 400


class UnknownAgentError(InvalidRequestError):
    """A workflow step names an agent that no registry knows."""

    code = "unknown_agent"
    status = 400


class WorkflowInvalidError(InvalidRequestError):
    """A workflow cannot run as written: bad JSON, a cycle, an unknown step or agent, ...

    The message names the step at fault.
    """

    code = "workflow_invalid"
    status = 422


class TemplateError(InvalidRequestError):
    """A step's ``<< >>`` (or ``{{ }}``) template is refused or fails to resolve.

    Undefined names, sandbox escapes, statements and oversized results all end here; the
    context carries ``step_id`` and ``expression``.
    """

    code = "template_error"
    status = 422


class AuthenticationError(ArtifactHubError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthorized"
    status = 401


class PermissionDeniedError(ArtifactHubError):
    """The caller is known but may not do this."""

    code = "forbidden"
    status = 403


class QuotaExceededError(PermissionDeniedError):
    """The tenant's storage or request quota is used up."""

    code = "quota_exceeded"
    status = 403


class NotFoundError(ArtifactHubError):
    """Base of the 404 errors."""

    code = "not_found"
    status = 404


class ArtifactNotFoundError(NotFoundError):
    """No artifact with that id is visible to the caller."""

    code = "artifact_not_found"


class VersionNotFoundError(NotFoundError):
    """The artifact exists but has no such version."""

    code = "version_not_found"


class SessionNotFoundError(NotFoundError):
    """No session with that id in the caller's tenant."""

    code = "session_not_found"


class LinkNotFoundError(NotFoundError):
    """No such link, or it was revoked."""

    code = "link_not_found"


class UploadNotFoundError(NotFoundError):
    """No pending presigned upload with that id."""

    code = "upload_not_found"


class SessionSealedError(ArtifactHubError):
    """The session is sealed: nothing more can be written to it."""

    code = "session_sealed"
    status = 409


class ConflictError(ArtifactHubError):
    """An idempotency key reused with another body, or a lost version race."""

    code = "conflict"
    status = 409


class GoneError(ArtifactHubError):
    """Base of the 410 errors."""

    code = "gone"
    status = 410


class ArtifactExpiredError(GoneError):
    """The artifact's TTL has passed."""

    code = "artifact_expired"


class ArtifactDeletedError(GoneError):
    """The artifact (or the asked version) was soft-deleted."""

    code = "artifact_already_deleted"


class LinkExpiredError(GoneError):
    """A link or signed URL was used after it expired."""

    code = "link_expired"


class FileTooLargeError(ArtifactHubError):
    """The content is larger than the upload path or plan allows."""

    code = "file_too_large"
    status = 413


class ChecksumMismatchError(ArtifactHubError):
    """The bytes do not hash to the sha256 they were stored or announced under."""

    code = "checksum_mismatch"
    status = 422


class _RetryAfter(ArtifactHubError):
    """An error that says when to try again: ``retry_after_seconds`` (the API's Retry-After)."""

    def __init__(
        self, message: str | None = None, *, retry_after_seconds: float = 1.0, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.retry_after_seconds = retry_after_seconds

    def to_dict(self) -> dict[str, Any]:
        """The error body, with ``retry_after_seconds``."""
        body = super().to_dict()
        body["error"]["retry_after_seconds"] = self.retry_after_seconds
        return body


class RateLimitedError(_RetryAfter):
    """Too many requests for the tenant; retry after ``retry_after_seconds``."""

    code = "rate_limited"
    status = 429


class ServerError(ArtifactHubError):
    """Something failed on the hub's side; idempotent calls may retry with backoff."""

    code = "server_error"
    status = 500


class IdempotencyInProgressError(ConflictError, _RetryAfter):
    """The first request with this ``Idempotency-Key`` still runs: retry after a while.

    Its body carries ``retry_after_seconds``, as a rate limit's does: a 409 that says when to
    come back is one a client may retry (the SDK does).
    """

    code = "idempotency_in_progress"


class StorageUnavailableError(ServerError, _RetryAfter):
    """The blob store kept failing after its retries; nothing was written. Retry later."""

    code = "storage_unavailable"
    status = 503


class SearchUnavailableError(ArtifactHubError):
    """Semantic search was asked for but this hub has no embedder (see the message's hint)."""

    code = "search_unavailable"
    status = 501


class EventRejectedError(ArtifactHubError):
    """An event cannot be applied and must go to the dead-letter topic with this reason."""

    code = "event_rejected"
    status = 422


class EventNotReadyError(ArtifactHubError):
    """An event arrived before the one it follows (per-artifact sequence); apply it later."""

    code = "event_not_ready"
    status = 409


class StepTimeoutError(ArtifactHubError):
    """A workflow step did not finish within its ``timeout``."""

    code = "step_timeout"
    status = 504


class DependencyFailedError(ArtifactHubError):
    """A workflow step was skipped because a step it depends on did not succeed."""

    code = "dependency_failed"
    status = 424


_ALL: tuple[type[ArtifactHubError], ...] = (
    InvalidRequestError,
    TTLExceedsPlanLimitError,
    StepInputError,
    UnknownAgentError,
    WorkflowInvalidError,
    TemplateError,
    AuthenticationError,
    PermissionDeniedError,
    QuotaExceededError,
    NotFoundError,
    ArtifactNotFoundError,
    VersionNotFoundError,
    SessionNotFoundError,
    LinkNotFoundError,
    UploadNotFoundError,
    SessionSealedError,
    ConflictError,
    IdempotencyInProgressError,
    GoneError,
    ArtifactExpiredError,
    ArtifactDeletedError,
    LinkExpiredError,
    FileTooLargeError,
    ChecksumMismatchError,
    RateLimitedError,
    ServerError,
    StorageUnavailableError,
    SearchUnavailableError,
    EventRejectedError,
    EventNotReadyError,
    StepTimeoutError,
    DependencyFailedError,
)
_BY_CODE: dict[str, type[ArtifactHubError]] = {cls.code: cls for cls in _ALL}


def error_for_code(code: str) -> type[ArtifactHubError]:
    """The exception class for a stable error code (``ServerError`` when unknown)."""
    return _BY_CODE.get(code, ServerError)


def status_for(error: BaseException) -> int:
    """The HTTP status for any exception: the hub's own, or 500 for the unexpected."""
    if isinstance(error, ArtifactHubError):
        return error.status
    return 500
