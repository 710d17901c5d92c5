"""Batched generation with Hugging Face transformers: any causal LM folder, GGUF file or hub name.

Concurrent ``complete`` calls are micro-batched (see ``batcher.py``): one left-padded
batch per LoRA adapter runs in a worker thread through a small decoding loop of our own
rather than ``generate``, because each row needs its own temperature, top-p, least
length, stop strings, output constraint and random generator. Finished rows leave the KV cache, so
long replies do not make short ones pay.

Threads: on a CPU, loading the model sets torch (process-wide) to ``threads`` intra-op
threads, 1 by default. Two threads stall at every barrier whenever anything else runs
on the cores; measured on this 2-core machine under the usual shared load, a batch of 8
decoded at 66-76 tokens/s with 1 thread and 2.1 with 2 (and this module's tests took
15 s instead of 248 s). Pass ``threads=None`` to keep torch's own setting.

Determinism: each request samples with its own ``torch.Generator`` seeded from the
backend seed, the request (messages, sampling, constraint, adapter, tags) and how many
identical requests came before it, so its reply does not depend on which other requests
share its batch. (Padding can still move bf16 logits by a rounding error, so a near-tie
may rarely flip.)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from govsim.llm.base import LLM, Completion, LLMError, Request, continues, first_line
from govsim.llm.batcher import MicroBatcher
from govsim.llm.constrain import RegexConstraint, TokenTable, sample


@dataclass
class _Job:
    request: Request
    adapter: str | None
    seed: int


@dataclass
class _Row:
    job: _Job
    generator: torch.Generator
    constraint: RegexConstraint | None
    tokens: list[int] = field(default_factory=list)
    text: str = ""  # the reply so far, as the constraint sees it
    finish: str | None = None


@dataclass
class _Result:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    constrained: bool
    batch_size: int


class TransformersLLM(LLM):
    name = "transformers"
    supports_constraints = True
    supports_adapters = True

    def __init__(
        self,
        model: str,
        *,
        seed: int = 0,
        adapter: str | None = None,
        dtype: str = "auto",
        device: str | None = None,
        window_s: float = 0.05,
        max_batch: int = 32,
        threads: int | None = 1,
    ) -> None:
        """``model``: a folder, GGUF file or hub name; ``adapter``: the LoRA used when a
        request names none; ``threads``: torch threads on a CPU (see the module doc)."""
        self.model = model
        self._seed = seed
        self.default_adapter = adapter
        self._dtype = dtype
        self._device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._threads = threads
        self._lm: Any = None
        self._tok: Any = None
        self._table: TokenTable | None = None
        self._eos: set[int] = set()
        self._adapters: dict[str, str] = {}  # adapter path -> PEFT adapter name
        self._seen: Counter[str] = Counter()
        self._batcher: MicroBatcher[_Job, _Result] = MicroBatcher(
            self._run, window_s=window_s, max_batch=max_batch, key=lambda job: job.adapter
        )

    @property
    def batch_sizes(self) -> list[int]:
        """Sizes of the batches run so far (evidence of batching)."""
        return self._batcher.batch_sizes

    async def complete(self, request: Request) -> Completion:
        key = _fingerprint(request)
        self._seen[key] += 1
        job = _Job(request, request.adapter or self.default_adapter, _derive_seed(self._seed, key, self._seen[key]))
        t0 = time.monotonic()
        try:
            result = await self._batcher.submit(job)
        except LLMError:
            raise
        except Exception as exc:
            raise LLMError(f"transformers backend ({self.model}): {type(exc).__name__}: {first_line(exc)}") from exc
        return Completion(
            text=result.text,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_s=time.monotonic() - t0,
            backend=self.name,
            model=self.model,
            finish_reason=result.finish_reason,
            constrained=result.constrained,
            batch_size=result.batch_size,
        )

    async def aclose(self) -> None:
        self._batcher.close()
        self._lm = self._tok = self._table = None

    # --- worker thread ---------------------------------------------------------------

    def _run(self, jobs: list[_Job]) -> list[_Result]:
        if self._lm is None:
            self._load()
        with self._adapter_scope(jobs[0].adapter), torch.inference_mode():
            rows, prompt_lens = self._decode(jobs)
        return [self._result(row, n, len(jobs)) for row, n in zip(rows, prompt_lens)]

    def _load(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(self.model)
        if path.suffix == ".gguf":  # transformers computes packed GGUF weights in float32
            source, extra, dtype = str(path.parent), {"gguf_file": path.name}, torch.float32
        else:
            source, extra, dtype = self.model, {}, self._dtype
        try:
            tokenizer = AutoTokenizer.from_pretrained(source, **extra)
            lm = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **extra)
        except OSError as exc:
            raise LLMError(f"transformers backend: cannot load model {self.model!r}: {first_line(exc)}") from exc
        lm = lm.to(self._device)
        if self._threads and lm.device.type == "cpu":
            torch.set_num_threads(self._threads)
        self._lm, self._tok = lm.eval(), _prepare_tokenizer(tokenizer)
        configured = getattr(lm.generation_config, "eos_token_id", None)
        ids = {tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])}
        self._eos = {i for i in ids if i is not None}

    def _adapter_scope(self, adapter: str | None):
        from peft import PeftModel

        if adapter is None:
            return self._lm.disable_adapter() if isinstance(self._lm, PeftModel) else nullcontext()
        if adapter not in self._adapters:
            name = f"adapter{len(self._adapters)}"
            if isinstance(self._lm, PeftModel):
                self._lm.load_adapter(adapter, adapter_name=name)
            else:
                self._lm = PeftModel.from_pretrained(self._lm, adapter, adapter_name=name).eval()
            self._adapters[adapter] = name
        self._lm.set_adapter(self._adapters[adapter])
        return nullcontext()

    def _decode(self, jobs: list[_Job]) -> tuple[list[_Row], list[int]]:
        from transformers import DynamicCache

        tok, device = self._tok, self._lm.device
        prompts = [_render(tok, job.request.messages) for job in jobs]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        rows = [self._row(job) for job in jobs]
        ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
        prompt_lens = mask.sum(dim=1).tolist()
        positions = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        cache = DynamicCache()
        live = list(range(len(rows)))  # batch position -> row index
        while live:
            out = self._lm(
                input_ids=ids, attention_mask=mask, position_ids=positions,
                past_key_values=cache, use_cache=True, logits_to_keep=1,
            )
            logits = out.logits[:, -1, : len(tok)].float().cpu()
            keep, next_tokens = [], []
            for b, r in enumerate(live):
                token = self._step(rows[r], logits[b])
                if rows[r].finish is None:
                    keep.append(b)
                    next_tokens.append(token)
            if len(keep) < len(live):
                if not keep:
                    break
                index = torch.tensor(keep, device=device)
                cache.batch_select_indices(index)
                mask, positions = mask[index], positions[index]
            live = [live[b] for b in keep]
            ids = torch.tensor(next_tokens, device=device)[:, None]
            mask = torch.cat([mask, mask.new_ones(len(live), 1)], dim=1)
            positions = positions[:, -1:] + 1
        return rows, prompt_lens

    def _row(self, job: _Job) -> _Row:
        generator = torch.Generator().manual_seed(job.seed)
        constraint = None
        if job.request.constraint is not None:
            if self._table is None:
                self._table = TokenTable(self._tok)
            constraint = RegexConstraint(job.request.constraint.pattern, self._table, self._eos)
        return _Row(job, generator, constraint)

    def _step(self, row: _Row, logits: torch.Tensor) -> int:
        """Choose the row's next token and update its state; sets ``row.finish`` when done."""
        sampling = row.job.request.sampling
        may_end = len(row.tokens) >= sampling.min_tokens  # else end-of-sequence is held back
        if row.constraint is not None:
            token = row.constraint.pick(row.text, logits, sampling.temperature, sampling.top_p, row.generator, may_end)
            if token is None:  # nothing allowed: the pattern cannot be met (or not end) from here
                row.finish = "stop"
                return 0
        else:
            if not may_end:
                logits = logits.clone()
                logits[list(self._eos)] = float("-inf")
            token = sample(logits, sampling.temperature, sampling.top_p, row.generator)
        row.tokens.append(token)
        if token in self._eos:
            row.finish = "stop"
            return token
        if row.constraint is not None:
            row.text += row.constraint.table.strings[token]
        if sampling.stop and any(s in self._tok.decode(row.tokens, skip_special_tokens=True) for s in sampling.stop):
            row.finish = "stop"
        elif len(row.tokens) >= sampling.max_tokens:
            row.finish = "length"
        return token

    def _result(self, row: _Row, prompt_tokens: int, batch_size: int) -> _Result:
        request = row.job.request
        if row.constraint is not None:
            text = row.text
            constrained = row.constraint.matches(text)
        else:
            text = self._tok.decode(row.tokens, skip_special_tokens=True)
            constrained = False
        for stop in request.sampling.stop:
            text = text.split(stop, 1)[0]
        return _Result(text, prompt_tokens, len(row.tokens), row.finish or "length", constrained, batch_size)


def _prepare_tokenizer(tokenizer: Any) -> Any:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _render(tokenizer: Any, messages: tuple[dict[str, str], ...]) -> str:
    """The chat template's prompt; a plain transcript for base models that have none."""
    open_turn = continues(messages)
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=not open_turn, continue_final_message=open_turn
        )
    transcript = "".join(f"{m['role']}: {m['content']}\n\n" for m in messages)
    return transcript[:-2] if open_turn else transcript + "assistant:"


def _fingerprint(request: Request) -> str:
    data = [request.messages, request.sampling.as_dict(), request.constraint, request.adapter, request.tags]
    return hashlib.blake2b(json.dumps(data, default=str, sort_keys=True).encode(), digest_size=16).hexdigest()


def _derive_seed(seed: int, fingerprint: str, occurrence: int) -> int:
    digest = hashlib.blake2b(f"{seed}:{fingerprint}:{occurrence}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1  # torch seeds must fit in a signed 64-bit int
