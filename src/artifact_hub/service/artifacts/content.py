"""What can be pushed (bytes, paths, files, streams, staged uploads) and how it is read.

Also where a pulled file lands (:func:`_prepare_target`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from artifact_hub.core.errors import InvalidRequestError
from artifact_hub.ports.blobs import CHUNK_SIZE
from artifact_hub.schemas.commands import TTL

__all__ = ["TTL", "Content", "StagedUpload", "iter_content"]


@dataclass(frozen=True, slots=True)
class StagedUpload:
    """Bytes already in the blob store's staging area (a presigned upload's PUT).

    Pushed as content, they are adopted under their hash (``BlobStore.adopt``: a rename or a
    store-side copy), never read and written again.

    Attributes:
        name: The staging slot (the upload's id).
        size: The size the upload declared (the store checks it).
    """

    name: str
    size: int


Content = (
    bytes
    | bytearray
    | memoryview
    | str
    | os.PathLike[str]
    | IO[bytes]
    | AsyncIterable[bytes]
    | StagedUpload
)
"""What can be pushed: bytes, a file path, a binary file object, an async byte stream, or a
staged upload."""


_SMALL = 1024 * 1024


def _small(content: Content) -> bool:
    """In memory and at most 1 MiB: cheaper to store and check once, in the write."""
    return isinstance(content, (bytes, bytearray, memoryview)) and len(content) <= _SMALL


def _known_size(content: Content) -> int | None:
    """The content's size when it is known before reading it (bytes, paths, regular files)."""
    if isinstance(content, StagedUpload):
        return content.size
    if isinstance(content, (bytes, bytearray)):
        return len(content)
    if isinstance(content, memoryview):
        return content.nbytes
    if isinstance(content, (str, os.PathLike)):
        try:
            return os.stat(content).st_size
        except OSError:
            return None  # iter_content reports the unreadable path
    seekable = getattr(content, "seekable", None)
    if seekable is not None and hasattr(content, "tell") and hasattr(content, "seek"):
        # Measured by seeking, not fstat: a spooled upload's fileno() would write it to disk.
        try:
            if not seekable():
                return None
            position = content.tell()
            end = content.seek(0, os.SEEK_END)
            content.seek(position)
            return max(0, end - position)
        except (OSError, ValueError):
            return None
    return None


def _default_name(content: Content) -> str:
    if isinstance(content, (str, os.PathLike)):
        return Path(content).name
    name = getattr(content, "name", None)
    if isinstance(name, str) and name:
        return Path(name).name
    return "artifact"


def _prepare_target(target: Path, name: str) -> Path:
    """The file to write: ``target``, or the artifact's name inside it when it is a folder."""
    if target.is_dir() or str(target).endswith(os.sep):
        target = target / _safe_filename(name)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _safe_filename(name: str) -> str:
    """A name that cannot leave the target directory."""
    base = Path(name.replace("\\", "/")).name
    return base if base not in {"", ".", ".."} else "artifact"


async def iter_content(content: Content, chunk_size: int = CHUNK_SIZE) -> AsyncIterator[bytes]:
    """Any pushable content as an async stream of chunks (files are read off the loop)."""
    if isinstance(content, (bytes, bytearray, memoryview)):
        view = memoryview(content)
        for start in range(0, len(view), chunk_size):
            yield bytes(view[start : start + chunk_size])
        return
    if isinstance(content, (str, os.PathLike)):
        path = Path(content)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError, PermissionError) as error:
            raise InvalidRequestError(f"{path} is not a readable file", path=str(path)) from error
        try:
            while chunk := await asyncio.to_thread(handle.read, chunk_size):
                yield chunk
        finally:
            handle.close()
        return
    if isinstance(content, AsyncIterable):
        async for chunk in content:
            yield bytes(chunk)
        return
    if hasattr(content, "read"):
        while chunk := await asyncio.to_thread(content.read, chunk_size):
            yield chunk
        return
    raise InvalidRequestError(f"cannot push content of type {type(content).__name__}")
