"""Step 5: LoRA fine-tuning with PEFT and TRL, loss on completions only.

``sft`` (SFTTrainer) trains on prompt-completion rows (the reflector, Re-ReST, the
self-training baseline); ``dpo`` (DPOTrainer, the paper's preference variant) on
prompt/chosen/rejected rows, the reference being the base model (the adapter switched
off). Examples longer than ``max_seq_len`` tokens are left out and counted, not truncated:
TRL truncates the end, which would cut the very answer the loss is on. ``init`` continues
an adapter trained before (iteration i+1 starts from iteration i's adapter, as the method
defines) instead of a fresh LoRA. ``heldout`` rows (the same kind, from the held-out
seeds; a seeded sample of ``heldout_rows`` of them) give a held-out loss before training
and after every epoch (and at the end when the last epoch is partial); the record holds
those and the mean training loss of every epoch. Training writes checkpoints to
``<adapter>.work`` (resumed if a run was killed) and the finished adapter to
``<adapter>.tmp``, renamed into place at the end, so an adapter folder is always complete;
a training asked to ``stop`` saves the step it is in, so none is lost. ``<adapter>.work``
also keeps the held-out loss before training and the training time up to the last
checkpoint (``progress.json``): a resumed training does not evaluate again, and its
``train_s`` is that of every part. A finished adapter holds its record
(``training.json``), returned again if its stage was not recorded.
The model is loaded in bf16 when ``bf16`` is set (the fast path on CPUs with AVX512-BF16;
see docs/models.md) and trained with gradient checkpointing off (a 135M model does not
need it, and it costs a second forward pass).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from govsim.rerest.config import TrainingSpec
from govsim.rerest.stages import read_jsonl

Objective = Literal["sft", "dpo"]
RECORD = "training.json"  # in a finished adapter's folder: what train_lora returned
PROGRESS = "progress.json"  # in <adapter>.work: the held-out loss before training, the time up to the last checkpoint
REPLIES = {"sft": ("completion",), "dpo": ("chosen", "rejected")}


class Stopped(Exception):
    """A training stopped on request, its last step saved as a checkpoint to resume from."""


def train_lora(
    model: str, data: Path, adapter: Path, spec: TrainingSpec, progress: bool = True, objective: Objective = "sft",
    init: str | None = None, heldout: Path | None = None, stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Train one adapter on a JSONL of training rows; returns what happened. Once ``stop``
    is set, the step under way ends, is saved as a checkpoint, and ``Stopped`` is raised."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (adapter / RECORD).is_file():  # trained before; its stage was not recorded (stopped after the last step)
        return json.loads((adapter / RECORD).read_text())
    tokenizer = AutoTokenizer.from_pretrained(model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kept, too_long, tokens = _fitting(tokenizer, data, objective, spec.max_seq_len)
    held, held_too_long, _ = _fitting(tokenizer, heldout, objective, spec.max_seq_len) if heldout else ([], 0, 0)
    held_fitting = len(held)
    if spec.heldout_rows and len(held) > spec.heldout_rows:
        held = random.Random(spec.seed).sample(held, spec.heldout_rows)
    result: dict[str, Any] = {
        "examples": len(kept), "too_long": too_long, "tokens": tokens, "adapter": None, "init": init,
        "heldout_examples": len(held), "heldout_fitting": held_fitting, "heldout_too_long": held_too_long,
    }
    if not kept:
        return result
    work = adapter.with_name(adapter.name + ".work")
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.bfloat16 if spec.bf16 else torch.float32)
    if init:
        lm, peft_config = PeftModel.from_pretrained(lm, init, is_trainable=True), None
    else:
        peft_config = LoraConfig(
            r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
            target_modules=list(spec.target_modules), task_type="CAUSAL_LM",
        )
    args = _arguments(spec, work, progress, evaluate=bool(held)) | ({"beta": spec.dpo_beta} if objective == "dpo" else {})
    trainer = _trainer(
        objective, lm, tokenizer, Dataset.from_list(kept), Dataset.from_list(held) if held else None, peft_config, args
    )
    progress_file = work / PROGRESS
    earlier = json.loads(progress_file.read_text()) if progress_file.is_file() else {"train_s": 0.0}
    started = time.perf_counter()

    def spent() -> float:
        return round(earlier["train_s"] + time.perf_counter() - started, 1)

    if "before" not in earlier:
        earlier["before"] = _num(trainer.evaluate()["eval_loss"]) if held else None
        work.mkdir(parents=True, exist_ok=True)
        progress_file.write_text(json.dumps(earlier))
    before = earlier["before"]
    trainer.add_callback(_progress_callback(progress_file, lambda: {"before": before, "train_s": spent()}))
    if stop is not None:
        trainer.add_callback(_stop_callback(stop))
    resume = last_checkpoint(work)
    if stop is not None and stop.is_set():
        raise Stopped(f"training of {adapter.name} stopped before its first step")
    output = trainer.train(resume_from_checkpoint=resume)
    state = trainer.state
    if stop is not None and stop.is_set() and state.global_step < state.max_steps:
        raise Stopped(f"training of {adapter.name} stopped at step {state.global_step}; it resumes from {work}")
    history = state.log_history
    if held and not any(e.get("step") == state.global_step and "eval_loss" in e for e in history):
        trainer.evaluate()  # the last epoch was partial (max_steps): the adapter as saved
    losses = [e["loss"] for e in history if "loss" in e]
    result.update(
        adapter=str(adapter.resolve()),
        steps=state.global_step,
        epochs=round(float(state.epoch or 0), 2),
        first_loss=_num(losses[0]) if losses else None,
        last_loss=_num(losses[-1]) if losses else None,
        train_loss=_num(output.training_loss),
        epoch_losses=epoch_losses(history),
        heldout_losses=([{"epoch": 0.0, "loss": before}] if held else []) + [
            {"epoch": round(float(e["epoch"]), 2), "loss": _num(e["eval_loss"])} for e in history if "eval_loss" in e
        ],
        train_s=spent(),
    )
    tmp = adapter.with_name(adapter.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.model.save_pretrained(str(tmp))
    (tmp / RECORD).write_text(json.dumps(result))
    shutil.rmtree(adapter, ignore_errors=True)
    os.replace(tmp, adapter)
    shutil.rmtree(work, ignore_errors=True)
    return result


def last_checkpoint(work: Path) -> str | None:
    """The newest complete checkpoint in ``work``: one with its trainer state, which the
    trainer writes last (a process killed while saving leaves a newer, partial one)."""
    done = [p for p in work.glob("checkpoint-*") if p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").is_file()]
    return str(max(done, key=lambda p: int(p.name.split("-")[-1]))) if done else None


def _progress_callback(path: Path, progress: Callable[[], dict[str, Any]]) -> Any:
    """Writes ``progress()`` to ``path`` after every checkpoint, so a resumed training knows it."""
    from transformers import TrainerCallback

    class KeepProgress(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            path.write_text(json.dumps(progress()))
            return control

    return KeepProgress()


def _stop_callback(stop: threading.Event) -> Any:
    """Once ``stop`` is set, the step under way is the last: the epoch ends there and is saved
    as a checkpoint, after its held-out loss when it was the epoch's last step (none mid-epoch)."""
    from transformers import TrainerCallback

    class StopOnRequest(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if stop.is_set():
                control.should_training_stop = True
            return control

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if stop.is_set():  # after DefaultFlowCallback's, which asks for the epoch's held-out loss
                control.should_save = True
                control.should_evaluate = control.should_evaluate and float(state.epoch).is_integer()
            return control

    return StopOnRequest()


def epoch_losses(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mean logged training loss of each epoch (1, 2, ...; the last may be partial)."""
    by_epoch: dict[int, list[float]] = {}
    for entry in history:
        if "loss" in entry and "epoch" in entry:
            by_epoch.setdefault(max(1, math.ceil(float(entry["epoch"]) - 1e-6)), []).append(float(entry["loss"]))
    return [{"epoch": e, "loss": _num(sum(v) / len(v)), "steps": len(v)} for e, v in sorted(by_epoch.items())]


def _fitting(tokenizer: Any, data: Path, objective: Objective, max_seq_len: int) -> tuple[list[dict[str, Any]], int, int]:
    """The rows of ``data`` of at most ``max_seq_len`` tokens, how many were longer, and their tokens."""
    keys = ("prompt", *REPLIES[objective])
    rows = [{k: r[k] for k in keys} for r in read_jsonl(data)]
    lengths = token_lengths(tokenizer, rows)
    kept = [r for r, n in zip(rows, lengths) if n <= max_seq_len]
    return kept, len(rows) - len(kept), sum(n for n in lengths if n <= max_seq_len)


def _arguments(spec: TrainingSpec, work: Path, progress: bool, evaluate: bool) -> dict[str, Any]:
    """The TrainingArguments both objectives share."""
    import torch

    return dict(
        output_dir=str(work),
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps or -1,
        per_device_train_batch_size=spec.batch_size,
        per_device_eval_batch_size=spec.batch_size,
        eval_strategy="epoch" if evaluate else "no",
        gradient_accumulation_steps=spec.grad_accum,
        learning_rate=spec.learning_rate,
        bf16=spec.bf16,
        gradient_checkpointing=False,
        max_length=spec.max_seq_len,
        logging_steps=1,
        save_strategy="steps",
        save_steps=spec.save_steps,
        save_total_limit=1,
        report_to=[],
        seed=spec.seed,
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=not progress,
    )


def _trainer(
    objective: Objective, lm: Any, tokenizer: Any, dataset: Any, heldout: Any, peft_config: Any, args: dict[str, Any]
) -> Any:
    data = {"train_dataset": dataset, "eval_dataset": heldout, "processing_class": tokenizer, "peft_config": peft_config}
    if objective == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer(model=lm, args=DPOConfig(**args), **data)
    from trl import SFTConfig, SFTTrainer

    return SFTTrainer(model=lm, args=SFTConfig(**args), **data)


def token_lengths(tokenizer: Any, rows: list[dict[str, Any]]) -> list[int]:
    """Tokens of each example as a trainer sees it: prompt and reply in the chat template
    (for a preference pair, the longer of its two replies)."""

    def length(messages: list[dict[str, str]]) -> int:
        return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])

    return [max(length(r["prompt"] + r[key]) for key in ("completion", "chosen", "rejected") if key in r) for r in rows]


def _num(value: Any) -> float | None:
    value = float(value)
    return None if math.isnan(value) else round(value, 4)
