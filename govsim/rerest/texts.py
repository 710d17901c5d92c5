"""The wording of Re-ReST: feedback texts and the reflector's prompt, from a YAML file.

The default file is ``templates.yaml`` beside this module. Templates are format strings
filled with the scenario's vocabulary plus the fields listed in ``FIELDS``; a file is
checked once when loaded, so a typo fails with the key's name before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import yaml

from govsim import templating
from govsim.llm.base import Message
from govsim.scenarios import Scenario

DEFAULT_TEMPLATES = Path(__file__).with_name("templates.yaml")

_VOCABULARY = set(Scenario.model_fields["vocabulary"].annotation.model_fields)
_STATE = {"threshold", "stock", "n"}
_PROJECTION = _STATE | {"amount", "total", "left"}
FIELDS: dict[str, dict[str, set[str]]] = {
    "feedback": {
        "unparsed": _STATE | {"limit_clause"},
        "over_budget": _STATE | {"budget", "limit_clause"},
        "zero": _STATE | {"amount", "limit_clause"},
        "collapse": _PROJECTION,
        "shrink": _PROJECTION | {"next_stock"},
        "over_limit": {"amount", "threshold", "limit"},
        "passed": _PROJECTION | {"next_stock", "limit_clause"},
        "limit_clause": {"limit"},
    },
    "reflection": {"system": set(), "user": {"situation", "reply", "feedback", "upper"}},
}


@cache
def load_templates(path: str | None = None) -> dict[str, dict[str, str]]:
    """The templates of ``path`` (default: the shipped file), checked against ``FIELDS``."""
    file = Path(path) if path else DEFAULT_TEMPLATES
    try:
        data = yaml.safe_load(file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise templating.TemplateError(f"templates file {file}: cannot be read ({str(exc).splitlines()[0]})") from None
    for section, keys in FIELDS.items():
        for key, allowed in keys.items():
            text = (data or {}).get(section, {}).get(key)
            if not isinstance(text, str):
                raise templating.TemplateError(f"templates file {file}: {section}.{key} is missing")
            templating.check(text, f"templates file {file}: {section}.{key}", allowed, _VOCABULARY)
    return data


class Texts:
    """Templates bound to one scenario's vocabulary."""

    def __init__(self, scenario: Scenario, path: str | None = None) -> None:
        self.templates = load_templates(str(path) if path else None)
        self.vocabulary = scenario.vocabulary.model_dump()

    def feedback(self, key: str, **fields: object) -> str:
        return self._render("feedback", key, **fields)

    def limit_clause(self, limit: int | None) -> str:
        return "" if limit is None else self._render("feedback", "limit_clause", limit=limit)

    def reflection_messages(self, situation: Sequence[Message], reply: str, feedback: str, upper: int) -> list[Message]:
        """The reflector's chat: the original prompt's text, the failed reply, the feedback and
        ``upper``, the decision's own most that passes (f(h), lowered to an agreed limit)."""
        shown = "\n\n".join(m["content"] for m in situation)
        user = self._render("reflection", "user", situation=shown, reply=reply, feedback=feedback, upper=upper)
        return [{"role": "system", "content": self._render("reflection", "system")}, {"role": "user", "content": user}]

    def _render(self, section: str, key: str, **fields: object) -> str:
        return self.templates[section][key].format(**self.vocabulary, **fields).strip()
