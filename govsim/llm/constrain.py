"""Token sampling and output constraints for the transformers backend, with no grammar library.

A constraint is a regex the whole reply must match; a choice is the regex of its
alternatives. At each decoding step a row may only take a token after which its text is
still a prefix of some match (partial matching of the ``regex`` package), and may only
end (EOS) when the text matches in full. The logits of the allowed tokens are then
sampled as usual, so greedy decoding takes the best allowed token and sampling draws
from the allowed tokens renormalized. Tokens are grouped by their first character, so
one check rules out a whole group (all the words when a digit is due).

Limit: tokens are judged by the text they add on their own, so tokens that decode to a
partial UTF-8 character are never allowed (fine for the ASCII formats agents ask for).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import regex
import torch


def sample(logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator) -> int:
    """An index into ``logits``: the argmax at temperature 0, else a top-p sample."""
    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    if top_p >= 1.0:
        return int(torch.multinomial(probs, 1, generator=generator))
    sorted_probs, order = probs.sort(descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass ahead of each token
    kept = torch.where(before < top_p, sorted_probs, torch.zeros_like(sorted_probs))
    return int(order[torch.multinomial(kept, 1, generator=generator)])


class TokenTable:
    """The text each token id adds to a reply, grouped by first character (special ids left out)."""

    def __init__(self, tokenizer) -> None:
        # Decoding each id after an anchor keeps leading spaces that some tokenizers
        # (SentencePiece) drop when a token is decoded on its own.
        anchor = tokenizer.encode("a", add_special_tokens=False)
        base = tokenizer.decode(anchor)
        decoded = tokenizer.batch_decode([anchor + [i] for i in range(len(tokenizer))])
        self.strings = [d[len(base):] if d.startswith(base) else d for d in decoded]
        special = set(tokenizer.all_special_ids)
        groups: dict[str, list[int]] = defaultdict(list)
        for token, piece in enumerate(self.strings):
            if piece and "\ufffd" not in piece and token not in special:
                groups[piece[0]].append(token)
        self.groups = dict(groups)


class RegexConstraint:
    def __init__(self, pattern: str, table: TokenTable, eos_ids: Iterable[int]) -> None:
        self.pattern = regex.compile(pattern)
        self.table = table
        self.eos_ids = sorted(eos_ids)

    def matches(self, text: str) -> bool:
        return self.pattern.fullmatch(text) is not None

    def allowed(self, text: str, may_end: bool = True) -> list[int]:
        """The token ids that may follow ``text`` (EOS only once it matches in full, and ``may_end``)."""
        ids = list(self.eos_ids) if may_end and self.matches(text) else []
        strings = self.table.strings
        for first, group in self.table.groups.items():
            if self._viable(text + first):
                ids.extend(t for t in group if len(strings[t]) == 1 or self._viable(text + strings[t]))
        return ids

    def pick(
        self, text: str, logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator, may_end: bool = True
    ) -> int | None:
        """The next token for a row whose reply so far is ``text``; None if no token is allowed."""
        ids = self.allowed(text, may_end)
        if not ids:
            return None
        return ids[sample(logits[ids], temperature, top_p, generator)]

    def _viable(self, text: str) -> bool:
        return self.pattern.fullmatch(text, partial=True) is not None
