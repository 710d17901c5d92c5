"""The one check of govsim's text templates: the fields a ``str.format`` template uses.

Every template (a scenario's sentences, scripted lines, prompts and personas, Re-ReST's
feedback and reflection texts, the subskill tests' wording) is a plain ``{field}``
template: no positional ``{}``, attribute, index, conversion or format spec, so filling
one in can only fail on a field it is not given. ``fields`` reads the names a template
uses and refuses anything else; ``check`` also refuses names outside those it may use.
Both raise ``TemplateError`` with one line that starts with where the template is
(``sentences.harvest_report``, ``templates file x.yaml: feedback.zero``).
"""

from __future__ import annotations

import string
from collections.abc import Collection


class TemplateError(ValueError):
    """A template that cannot be filled in; the message is one line naming it and the problem."""


def fields(template: str, where: str) -> set[str]:
    """The field names ``template`` uses; ``TemplateError`` for one that is not a plain ``{field}``."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"{where}: bad template ({exc}; write a literal brace as {{{{ or }}}})") from None
    names = set()
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise TemplateError(f"{where}: placeholder {shown!r} is not a plain {{field}} (a name, no !conversion or :format)")
        names.add(name)
    return names


def check(template: str, where: str, allowed: Collection[str], vocabulary: Collection[str] = ()) -> set[str]:
    """The fields ``template`` uses, each one of ``allowed`` or of the scenario's ``vocabulary``
    (listed apart in the message: the vocabulary is the same for every template)."""
    used = fields(template, where)
    unknown = used - set(allowed) - set(vocabulary)
    if unknown:
        also = " and the scenario's vocabulary" if vocabulary else ""
        raise TemplateError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}{also}")
    return used
