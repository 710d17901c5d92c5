"""Token-level output constraints for the transformers backend, with no grammar library.

A constraint is a regex the whole reply must match; a choice is the regex of its
alternatives. At each decoding step a row may only take a token after which its text is
still a prefix of some match (partial matching of the ``regex`` package), and may only
end (EOS) when the text matches in full. Candidates are tried in the model's order of
preference, so greedy decoding takes the best allowed token, and sampling draws from the
allowed tokens that hold all but ~1% of the allowed probability mass.

Limits: tokens are judged by the text they add on their own, so tokens that decode to a
partial UTF-8 character are never allowed (fine for the ASCII formats agents ask for);
a pattern that the length limit cuts short is reported as unmet by the backend.
"""

from __future__ import annotations

from typing import Iterable

import regex
import torch

# Stop scanning candidates once the unchecked probability mass is this small
# relative to the allowed mass found so far.
_MASS_TOLERANCE = 0.01


class TokenTable:
    """The text each token id adds to a reply, and which ids are special (never allowed)."""

    def __init__(self, tokenizer) -> None:
        # Decoding each id after an anchor keeps leading spaces that some tokenizers
        # (SentencePiece) drop when a token is decoded on its own.
        anchor = tokenizer.encode("a", add_special_tokens=False)
        base = tokenizer.decode(anchor)
        size = len(tokenizer)
        decoded = tokenizer.batch_decode([anchor + [i] for i in range(size)])
        self.strings = [d[len(base):] if d.startswith(base) else d for d in decoded]
        self.special = set(tokenizer.all_special_ids)


class RegexConstraint:
    def __init__(self, pattern: str, table: TokenTable, eos_ids: Iterable[int]) -> None:
        self.pattern = regex.compile(pattern)
        self.table = table
        self.eos_ids = frozenset(eos_ids)

    def matches(self, text: str) -> bool:
        return self.pattern.fullmatch(text) is not None

    def allowed(self, text: str, token: int) -> bool:
        if token in self.eos_ids:
            return self.matches(text)
        if token in self.table.special:
            return False
        piece = self.table.strings[token]
        if not piece or "\ufffd" in piece:
            return False
        return self.pattern.fullmatch(text + piece, partial=True) is not None

    def pick(
        self, text: str, logits: torch.Tensor, temperature: float, top_p: float, generator: torch.Generator
    ) -> int | None:
        """The next token for a row whose reply so far is ``text``; None if no token is allowed."""
        if temperature <= 0:
            for token in torch.argsort(logits, descending=True).tolist():
                if self.allowed(text, token):
                    return token
            return None
        probs, order = torch.softmax(logits / temperature, dim=-1).sort(descending=True)
        tokens: list[int] = []
        masses: list[float] = []
        checked = allowed_mass = 0.0
        for p, token in zip(probs.tolist(), order.tolist()):
            if tokens and 1.0 - checked < _MASS_TOLERANCE * allowed_mass:
                break
            checked += p
            if self.allowed(text, token):
                tokens.append(token)
                masses.append(p)
                allowed_mass += p
        if not tokens:
            return None
        kept = top_p_filter(torch.tensor(masses) / allowed_mass, top_p)
        return tokens[int(torch.multinomial(kept, 1, generator=generator))]


def top_p_filter(sorted_probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero the tail of a descending distribution beyond cumulative mass ``top_p`` (keeps >= 1)."""
    if top_p >= 1.0:
        return sorted_probs
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
    return torch.where(before < top_p, sorted_probs, torch.zeros_like(sorted_probs))
