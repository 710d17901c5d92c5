"""An example govsim agent plugin.

``Cautious`` keeps a safety margin: it asks for ``params.margin`` (default 0.5) of the
sustainable share f(h), never more than an agreed limit, and it proposes that share in
the discussion. It builds on the public agent API only: ``agents.base.Agent`` (here via
the scripted base class, which brings the templated discussion) and ``agents.params``
(its ``Params``: the keys a seat may set, checked before a run starts, so a typo or a
margin out of range is one line and exit status 2). It is found by govsim through the
entry point in this package's pyproject.toml, so no govsim code changes. Seat it with
``govsim run --agents cautious*5`` or a config
``agents: [{name: Ada, type: cautious, params: {margin: 0.3}}]``.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from agents.params import AgentParams
from agents.scripted import ScriptedAgent
from govsim.phases import NO_LIMIT


class CautiousParams(AgentParams):
    margin: float = Field(0.5, ge=0, le=1)  # the share of f(h) it asks for


class Cautious(ScriptedAgent):
    Params = CautiousParams
    params: CautiousParams  # parsed from the seat's params by agents.base.Agent

    def amount(self, observation: dict[str, Any]) -> int:
        wanted = math.floor(self.params.margin * self.fair_share(observation))
        limit = int(observation["agreed_limit"][0])
        return wanted if limit == NO_LIMIT else min(wanted, limit)
