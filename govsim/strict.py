"""The base of govsim's settings models: an unknown key is an error, never ignored.

Run configs, Re-ReST configs, subskill templates, scenario files and the regeneration
rule all derive from ``Strict``, so a typo in any of them fails with the key's name
(``govsim.config.describe_error`` turns that into one line). Models that are cached or
shared declare ``frozen=True`` as a class keyword: ``class Vocabulary(Strict, frozen=True)``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """A pydantic model that refuses keys it does not declare."""

    model_config = ConfigDict(extra="forbid")
