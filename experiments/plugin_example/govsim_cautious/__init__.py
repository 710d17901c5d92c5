"""An example govsim agent plugin.

``Cautious`` keeps a safety margin: it asks for ``params.margin`` (default 0.5) of the
sustainable share f(h), never more than an agreed limit, and it proposes that share in
the discussion. It builds on the public agent API only: ``agents.base.Agent`` (here via
the scripted base class, which brings the templated discussion), and it is found by
govsim through the entry point in this package's pyproject.toml, so no govsim code
changes. Seat it with ``govsim run --agents cautious*5`` or a config
``agents: [{name: Ada, type: cautious, params: {margin: 0.3}}]``.
"""

from __future__ import annotations

import math
from typing import Any

from agents.scripted import ScriptedAgent
from govsim.phases import NO_LIMIT


class Cautious(ScriptedAgent):
    def amount(self, observation: dict[str, Any]) -> int:
        margin = float(self.ctx.seat.params.get("margin", 0.5))
        if not 0 <= margin <= 1:
            raise ValueError(f"cautious agent {self.name}: params.margin must be within [0, 1], got {margin}")
        wanted = math.floor(margin * self.fair_share(observation))
        limit = int(observation["agreed_limit"][0])
        return wanted if limit == NO_LIMIT else min(wanted, limit)
