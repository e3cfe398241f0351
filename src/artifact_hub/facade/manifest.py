"""Directory artifacts: a JSON manifest of content-addressed files.

A directory is stored as one artifact whose content is a :class:`Manifest`: for every file its
relative path, size and sha256, and the artifact that holds its bytes (a ``dir_entry``
artifact). The blob store keeps each distinct content once, and the facade reuses the entry
artifact of a content it has stored before, so a file unchanged between two ingests is neither
uploaded nor stored twice.

Manifest paths come from whoever wrote the manifest, so :func:`safe_relative_path` checks
every one before a file is written under a local directory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from artifact_hub.core.errors import InvalidRequestError

__all__ = [
    "DIR_ENTRY_KIND",
    "MANIFEST_CONTENT_TYPE",
    "LocalFile",
    "Manifest",
    "ManifestEntry",
    "hash_file",
    "safe_relative_path",
    "scan_directory",
]

MANIFEST_CONTENT_TYPE = "application/vnd.artifact-hub.dir-manifest+json"
"""The content type that marks an artifact as a directory manifest."""

DIR_ENTRY_KIND = "dir_entry"
"""The kind of the artifacts holding a directory's file contents."""

_HASH_CHUNK = 1024 * 1024


class ManifestEntry(BaseModel):
    """One file of a directory artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(min_length=1, max_length=4096)
    """The file's path inside the directory, ``/``-separated, relative."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    artifact_id: str = Field(min_length=1, max_length=200)
    """The artifact holding the bytes."""
    version: int = Field(default=1, ge=1)
    """Its version holding these bytes."""


class Manifest(BaseModel):
    """The content of a directory artifact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["artifact-hub.dir-manifest/1"] = "artifact-hub.dir-manifest/1"
    files: list[ManifestEntry] = Field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """The directory's size (each file counted, duplicates too)."""
        return sum(entry.size for entry in self.files)

    def checked(self) -> Manifest:
        """The manifest after checking every path (safe, unique, no file under a file).

        Raises:
            InvalidRequestError: A path is unsafe or collides with another.
        """
        seen: set[PurePosixPath] = set()
        for entry in self.files:
            path = safe_relative_path(entry.path)
            if path in seen:
                raise InvalidRequestError("manifest lists a path twice", path=entry.path)
            seen.add(path)
        for path in seen:
            for parent in path.parents:
                if parent in seen:
                    raise InvalidRequestError(
                        "manifest puts a file under another file", path=str(path)
                    )
        return self


def safe_relative_path(raw: str) -> PurePosixPath:
    """``raw`` as a relative path that cannot leave the directory it is joined to.

    Refused: absolute paths, ``..``, ``.`` and empty segments, backslashes, NUL, and Windows
    drive letters, so neither POSIX nor Windows reads it as pointing elsewhere.

    Raises:
        InvalidRequestError: The path is not safe.
    """
    bad = (
        not raw
        or raw.startswith("/")
        or "\\" in raw
        or "\x00" in raw
        or (len(raw) >= 2 and raw[1] == ":")
        or any(part in ("", ".", "..") for part in raw.split("/"))
    )
    if bad:
        raise InvalidRequestError("unsafe path in a directory manifest", path=raw)
    return PurePosixPath(raw)


class LocalFile(BaseModel):
    """A file found under a directory being ingested."""

    model_config = ConfigDict(frozen=True)

    path: str
    absolute: Path
    sha256: str
    size: int


def hash_file(path: Path) -> tuple[str, int]:
    """The sha256 and size of a file (blocking; run it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def scan_directory(root: Path) -> list[LocalFile]:
    """Every regular file under ``root``, sorted by relative path, hashed (blocking).

    Symbolic links are skipped: following them could pull in files from outside ``root``.

    Raises:
        FileNotFoundError: ``root`` is not a directory.
    """
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    found: list[LocalFile] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in files:
            absolute = Path(folder, name)
            if absolute.is_symlink() or not absolute.is_file():
                continue
            relative = absolute.relative_to(root).as_posix()
            sha256, size = hash_file(absolute)
            found.append(LocalFile(path=relative, absolute=absolute, sha256=sha256, size=size))
    found.sort(key=lambda item: item.path)
    return found
