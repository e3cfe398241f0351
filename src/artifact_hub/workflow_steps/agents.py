"""The built-in step agents: ``data-loader`` and ``artifact-saver``.

Both are registered on :data:`~artifact_hub.workflow_steps.registry.default_registry` when this
module is imported (``import artifact_hub.workflow_steps`` does it). They act only through the
hub's service as the run's caller, so a step can read exactly what that caller can read and
write where it may write; the service's errors (``artifact_not_found``, ``forbidden``,
``session_sealed``, ...) come out unchanged. Input they cannot use fails with
``step_input_invalid`` (:class:`~artifact_hub.core.errors.StepInputError`), naming the field.

``data-loader`` input::

    {"artifact_id": "art_...", "version": 2,            # version: default the latest
     "as": "json" | "text" | "bytes" | "path",          # default: path when a path is
     "path": "inputs/data.csv"}                         # given, else by content type

and output ``{"data": ..., "artifact": {...}}``: the content (parsed JSON, text, bytes, or the
local file's path) and the artifact's metadata at the loaded version (``id``, ``name``,
``version``, ``content_type``, ``size_bytes``, ``sha256``, ``labels``, ``metadata``, ...). The
``path`` form writes below the step's work folder (``StepContext.work_dir``, default a folder
per run under the system's temporary directory) and refuses absolute paths and paths that
leave it; the bytes are verified against the version's sha256 before the file appears.

``artifact-saver`` input::

    {"result": ...,                       # JSON value, text or bytes
     "name": "processed-art_x.json",      # templates already resolved
     "content_type": "application/json",  # default: from the result and the name
     "metadata": {...}, "labels": {...}, "tags": [...], "kind": "dataset",
     "session_id": "run_42",              # default: the run's session, if any
     "new_version_if_exists": false}

and output ``{"artifact_id", "version", "name"}``. With ``new_version_if_exists``, a result
whose name the caller already used in that session (or, without a session, among its own
artifacts of the namespace) becomes that artifact's next version instead of a new artifact.
Every save records its lineage: the run, the workflow, the step, and the artifact versions the
step's upstream steps loaded.
"""

from __future__ import annotations

import json
import mimetypes
import tempfile
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from artifact_hub.core.errors import FileTooLargeError, StepInputError
from artifact_hub.ports.index import ArtifactFilter
from artifact_hub.schemas.artifacts import Artifact, ArtifactVersion
from artifact_hub.schemas.commands import AddVersion, PushArtifact
from artifact_hub.schemas.lineage import MAX_LINEAGE_INPUTS, Lineage, LineageInput
from artifact_hub.workflow_steps.registry import StepContext, default_registry

__all__ = [
    "MAX_IN_MEMORY_BYTES",
    "artifact_saver",
    "data_loader",
    "default_form",
    "step_work_dir",
]

MAX_IN_MEMORY_BYTES = 64 * 1024 * 1024
"""The largest artifact ``data-loader`` returns in memory; larger ones need ``as: path``."""

Form = Literal["json", "text", "bytes", "path"]

_TEXT_TYPES = frozenset(
    {
        "application/xml",
        "application/yaml",
        "application/x-yaml",
        "application/javascript",
        "application/x-ndjson",
        "application/csv",
        "application/sql",
        "application/toml",
    }
)


class _StepInput(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class LoaderInput(_StepInput):
    """What ``data-loader`` takes."""

    artifact_id: str = Field(min_length=1, max_length=64)
    version: int | None = Field(default=None, ge=1)
    form: Form | None = Field(default=None, alias="as")
    path: str | None = Field(default=None, min_length=1, max_length=4096)


class SaverInput(_StepInput):
    """What ``artifact-saver`` takes."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    result: JsonValue | bytes
    name: str = Field(min_length=1, max_length=1024)
    content_type: str | None = Field(default=None, min_length=1, max_length=255)
    metadata: dict[str, Any] | None = None
    labels: dict[str, Any] | None = None
    tags: list[str] = Field(default_factory=list)
    kind: str | None = Field(default=None, max_length=128)
    session_id: str | None = Field(default=None, min_length=1, max_length=200)
    new_version_if_exists: bool = False


M = TypeVar("M", bound=_StepInput)


def _parse(model: type[M], agent: str, value: Any) -> M:
    """Validate a step's input, or fail with ``step_input_invalid`` naming the fields."""
    if not isinstance(value, dict):
        raise StepInputError(
            f"{agent} takes an object as input, not {type(value).__name__}", agent=agent
        )
    try:
        return model.model_validate(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
        )
        raise StepInputError(f"{agent} input: {problems}", agent=agent) from None


def default_form(content_type: str | None) -> Form:
    """The form ``data-loader`` returns content of this type in when the step names none."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base == "application/json" or base.endswith("+json"):
        return "json"
    if base.startswith("text/") or base in _TEXT_TYPES or base.endswith("+xml"):
        return "text"
    return "bytes"


def step_work_dir(ctx: StepContext) -> Path:
    """The folder ``data-loader``'s ``path`` form writes below, for this run."""
    if ctx.work_dir is not None:
        return Path(ctx.work_dir)
    return Path(tempfile.gettempdir()) / "artifact-hub-steps" / _segment(ctx.run_id)


def _segment(value: str) -> str:
    """A single, harmless path segment made of ``value``."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in value).strip(".")
    return cleaned or "run"


def _safe_target(base: Path, requested: str | None, default_name: str) -> Path:
    """``requested`` (relative) below ``base``, refusing anything that would leave it."""
    relative = requested if requested is not None else default_name
    if "\x00" in relative:
        raise StepInputError("path must not contain NUL bytes", path=relative)
    posix, windows = PurePosixPath(relative), PureWindowsPath(relative)
    if posix.is_absolute() or windows.is_absolute() or windows.drive:
        raise StepInputError(
            f"path must be relative to the step's work folder, not {relative!r}", path=relative
        )
    if ".." in posix.parts or ".." in windows.parts:
        raise StepInputError(f"path must not go up with '..': {relative!r}", path=relative)
    root = base.resolve()
    target = (root / posix).resolve()  # resolves symlinks already inside the folder
    if target == root or not target.is_relative_to(root):
        raise StepInputError(f"path {relative!r} leaves the step's work folder", path=relative)
    return target


def _metadata_at(artifact: Artifact, row: ArtifactVersion) -> dict[str, Any]:
    """The artifact's metadata as of the loaded version."""
    described = artifact.model_dump(mode="json")
    described.update(
        version=row.version,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        content_type=row.content_type,
        metadata=row.metadata,
    )
    return described


@default_registry.agent("data-loader")
async def data_loader(input: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Load an artifact the caller may read, as JSON, text, bytes or a local file.

    Raises:
        StepInputError: Bad input, content that is not in the asked form, or a bad path.
        FileTooLargeError: In-memory forms of content over :data:`MAX_IN_MEMORY_BYTES`.
        ArtifactHubError: The service's errors (not found, deleted, expired, ...).
    """
    params = _parse(LoaderInput, "data-loader", input)
    service, caller = ctx.service, ctx.caller
    # One access check and one version lookup; the stream reads nothing until iterated.
    artifact, row, stream = await service.open(caller, params.artifact_id, params.version)
    version = row.version
    form = params.form or ("path" if params.path is not None else default_form(row.content_type))
    if params.path is not None and form != "path":
        raise StepInputError('path is only used with "as": "path"', path=params.path)
    data: Any
    if form == "path":
        target = _safe_target(step_work_dir(ctx), params.path, _default_file(ctx, artifact.name))
        # pull_to streams the bytes through the sha256 check; the file only appears verified.
        written = await service.pull_to(caller, params.artifact_id, target, version=version)
        data = str(written)
    else:
        if row.size_bytes > MAX_IN_MEMORY_BYTES:
            raise FileTooLargeError(
                f"{params.artifact_id} v{version} has {row.size_bytes} bytes, more than "
                f'{MAX_IN_MEMORY_BYTES} to load in memory; load it with "as": "path"',
                artifact_id=params.artifact_id,
                version=version,
            )
        # The stream verifies the sha256 at its end (checksum_mismatch if the bytes changed).
        content = b"".join([chunk async for chunk in stream])
        data = _decode(content, form, params.artifact_id, version)
    ctx.record_load(params.artifact_id, version)
    return {"data": data, "artifact": _metadata_at(artifact, row)}


def _default_file(ctx: StepContext, name: str) -> str:
    base = Path(name.replace("\\", "/")).name
    return f"{_segment(ctx.step_id)}/{base if base not in {'', '.', '..'} else 'artifact'}"


def _decode(content: bytes, form: Form, artifact_id: str, version: int) -> Any:
    if form == "bytes":
        return content
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise StepInputError(
            f'{artifact_id} v{version} is not UTF-8 text; load it "as": "bytes"',
            artifact_id=artifact_id,
        ) from None
    if form == "text":
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise StepInputError(
            f'{artifact_id} v{version} is not JSON ({error.msg}); load it "as": "text"',
            artifact_id=artifact_id,
        ) from None


@default_registry.agent("artifact-saver")
async def artifact_saver(input: dict[str, Any], ctx: StepContext) -> dict[str, Any]:
    """Save a step's result as an artifact (or a new version of one), with its lineage.

    Raises:
        StepInputError: Bad input.
        ArtifactHubError: The service's errors (session sealed, quota, forbidden, ...).
    """
    params = _parse(SaverInput, "artifact-saver", input)
    content, content_type = _encode(params.result, params.content_type, params.name)
    session_id = params.session_id or ctx.session_id
    lineage = Lineage(
        run_id=ctx.run_id,
        workflow_id=ctx.workflow_id,
        step_id=ctx.step_id,
        inputs=[
            LineageInput(artifact_id=a, version=v)
            # The event carries at most MAX_LINEAGE_INPUTS: the first ones loaded.
            for a, v in ctx.upstream_loads()[:MAX_LINEAGE_INPUTS]
        ],
    )
    service, caller = ctx.service, ctx.caller
    existing = None
    if params.new_version_if_exists:
        page = await service.list(
            caller,
            ArtifactFilter(
                name=params.name,
                session_id=session_id,
                agent_id=caller.agent_id,
                namespace=caller.namespace,
            ),
            limit=1,
        )
        existing = page.items[0] if page.items else None
    if existing is not None:
        version = AddVersion(
            # A new version keeps the artifact's type unless the step names one.
            content_type=params.content_type,
            metadata=params.metadata,
            lineage=lineage,
        )
        saved = await service.add_version(caller, existing.artifact_id, content, version)
        if params.labels is not None or params.tags:
            saved = await service.update(
                caller,
                saved.artifact_id,
                labels=params.labels,
                tags=params.tags or None,
            )
    else:
        push = PushArtifact(
            name=params.name,
            session_id=session_id,
            content_type=content_type,
            kind=params.kind,
            metadata=params.metadata,
            labels=params.labels,
            tags=params.tags,
            lineage=lineage,
        )
        saved = await service.push(caller, content, push)
    return {"artifact_id": saved.artifact_id, "version": saved.version, "name": saved.name}


def _encode(result: Any, content_type: str | None, name: str) -> tuple[bytes, str]:
    """The bytes to store and their content type.

    Bytes are stored as they are, text as UTF-8, anything else as JSON.
    """
    guessed = mimetypes.guess_type(name)[0]
    if isinstance(result, bytes):
        return result, content_type or guessed or "application/octet-stream"
    if isinstance(result, str):
        return result.encode("utf-8"), content_type or guessed or "text/plain"
    try:
        document = json.dumps(result, ensure_ascii=False, allow_nan=False)
    except ValueError as error:
        raise StepInputError(f"result cannot be saved as JSON: {error}") from None
    return document.encode("utf-8"), content_type or "application/json"
