"""The facade's local cache: downloaded files and materialised directories, fetched once.

Layout under the cache root::

    blobs/<sha[:2]>/<sha>/<name>   a verified artifact content (read-only)
    s3/<key>/<name>                an s3:// object, keyed by URI and ETag (read-only)
    dirs/<key>/...                 a materialised directory (files hard-linked to blobs/)
    staging/                       stage_path / stage_dir / writer temporary files

Every entry appears by an atomic rename once complete, so a crashed download leaves only a
``.part-*`` file behind and a later call downloads again. Cached files are read-only because a
directory's files share their inode with ``blobs/``: a write through one would change the other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import shutil
import stat
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from artifact_hub.core.errors import ChecksumMismatchError
from artifact_hub.facade.manifest import hash_file

__all__ = ["DirEntry", "Fetch", "LocalCache", "cache_key", "gather_limited"]

Fetch = Callable[[Path], Awaitable[object]]
"""Writes the content to the given path."""

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


@dataclass(frozen=True)
class DirEntry:
    """One file to place in a materialised directory."""

    path: PurePosixPath
    """Relative, already checked by :func:`~artifact_hub.facade.manifest.safe_relative_path`."""
    cache_key: str
    sha256: str | None
    fetch: Fetch


class LocalCache:
    """Content fetched once into a local folder.

    Args:
        root: The cache folder (created on first use).

    Attributes:
        downloads: How many contents were fetched (cache misses) since creation.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.downloads = 0
        # Weak: a lock lives while someone holds or waits for it, so the map does not grow
        # with every file ever cached.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def staging(self) -> Path:
        """Where staged files and directories go (created)."""
        path = self.root / "staging"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def file(self, key: str, name: str, sha256: str | None, fetch: Fetch) -> Path:
        """The cached file for ``key`` (``blobs/...`` when ``sha256`` is given).

        Args:
            key: What identifies the content (its sha256, or a hash of URI and ETag).
            name: The file name to give it (kept so extensions still mean something).
            sha256: When given, the fetched bytes must hash to it.
            fetch: Writes the content to a path.

        Raises:
            ChecksumMismatchError: The fetched bytes do not hash to ``sha256``.
        """
        folder = (
            self.root / "blobs" / key[:2] / key if sha256 is not None else self.root / "s3" / key
        )
        target = folder / _plain_name(name)
        async with self._lock(str(target)):
            if target.is_file():
                return target
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            if sha256 is not None:
                # The same content cached under another name: link it, do not download.
                for sibling in folder.iterdir():
                    if sibling.is_file() and not sibling.name.startswith(".part-"):
                        await asyncio.to_thread(_link_or_copy, sibling, target)
                        return target
            partial = folder / f".part-{uuid.uuid4().hex}"
            try:
                await fetch(partial)
                if sha256 is not None:
                    actual, _ = await asyncio.to_thread(hash_file, partial)
                    if actual != sha256:
                        raise ChecksumMismatchError(
                            "downloaded content does not match its sha256",
                            expected=sha256,
                            actual=actual,
                        )
                os.chmod(partial, _READ_ONLY)
                os.replace(partial, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
            self.downloads += 1
        return target

    async def directory(self, key: str, entries: Sequence[DirEntry]) -> Path:
        """The materialised directory for ``key``, built from ``entries`` if missing.

        Entry paths must already be checked; each is also confirmed to stay inside the
        directory after joining, so a bad path cannot write elsewhere.
        """
        target = self.root / "dirs" / key
        async with self._lock(str(target)):
            if target.is_dir():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.parent / f".part-{uuid.uuid4().hex}"
            partial.mkdir()
            try:
                base = partial.resolve()
                # Fetch the distinct contents first, several at once, then place them.
                sources: dict[str, Path] = {}

                async def fetch(entry: DirEntry) -> None:
                    sources[entry.cache_key] = await self.file(
                        entry.cache_key, entry.path.name, entry.sha256, entry.fetch
                    )

                distinct = {entry.cache_key: entry for entry in entries}
                await gather_limited([functools.partial(fetch, e) for e in distinct.values()])
                for entry in entries:
                    source = sources[entry.cache_key]
                    destination = (partial / entry.path).resolve()
                    if not destination.is_relative_to(base) or destination == base:
                        raise ValueError(f"{entry.path} leaves the directory")
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    await asyncio.to_thread(_link_or_copy, source, destination)
                try:
                    os.rename(partial, target)
                except OSError:
                    if not target.is_dir():
                        raise
                    # Another process materialised the same content first: use theirs.
                    await asyncio.to_thread(shutil.rmtree, partial, True)
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, partial, True)
                raise
        return target


def _plain_name(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base if base not in ("", ".", "..") and not base.startswith(".part-") else "content"


def _link_or_copy(source: Path, destination: Path) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, destination)
        os.chmod(destination, _READ_ONLY)


def cache_key(*parts: str) -> str:
    """A short stable key for a tuple of strings."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


async def gather_limited(calls: Sequence[Callable[[], Awaitable[object]]], limit: int = 8) -> None:
    """Run the coroutine factories, at most ``limit`` at once.

    The first error is raised as it is (not wrapped in an ``ExceptionGroup``), after the
    other calls were cancelled.
    """
    gate = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[object]]) -> None:
        async with gate:
            await call()

    tasks = [asyncio.create_task(run(call)) for call in calls]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
