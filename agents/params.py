"""An agent type's seat parameters: a typed model, validated before the agent is built.

Every agent class declares ``Params``, a subclass of ``AgentParams`` (an empty one when the
type takes none). A seat's ``params`` mapping (``agents: [{name: Ada, type: fixed, params:
{amount: 3}}]``) is parsed through it by ``parse_params``: ``govsim run`` and ``govsim sweep``
do it for every seat before anything runs (``govsim.preflight``), and ``Agent.__init__`` does
it again, so the agent reads ``self.params``, the parsed object, never the raw dict.

A typo or a bad value is one line naming the type, the key and what the type takes::

    unknown params.amout; type 'fixed' takes amount; fix the seat's params
    params.amount: Input should be a valid integer (got 'lots'); type 'fixed' takes amount; fix the seat's params

(the preflight puts ``agent <seat>: `` in front).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, ValidationError

from govsim.strict import Strict


class AgentParams(Strict, frozen=True):
    """The base of every agent type's params: unknown keys are refused (``Strict``), the parsed object is read-only."""


class AnyParams(AgentParams):
    """What a class that declares no ``Params`` takes: any keys, unchecked here (it reads them itself)."""

    model_config = ConfigDict(extra="allow")


def parse_params(agent_type: str, model: type[AgentParams], params: Mapping[str, Any]) -> AgentParams:
    """``params`` as ``model``; a ValueError of one line names the bad key or value and the keys ``model`` knows."""
    known = sorted(model.model_fields)
    takes = f"takes {', '.join(known)}" if known else "takes no params"
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        errors = exc.errors()
        err = errors[0]
        key = ".".join(str(part) for part in err["loc"]) or "(all)"
        if err["type"] == "extra_forbidden":
            problem = f"unknown params.{key}"
        elif err["type"] == "missing":
            problem = f"params.{key} is required"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            problem = f"params.{key}: {message} (got {err.get('input')!r:.40})"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"{problem}{more}; type {agent_type!r} {takes}; fix the seat's params") from None
