"""Seat params parsed through an agent type's ``Params``: one line for a typo or a bad value."""

import numpy as np
import pytest
import yaml
from pydantic import Field, field_validator
from typer.testing import CliRunner

import agents
from agents.base import AgentContext, seat_params
from agents.params import AgentParams, AnyParams, parse_params
from govsim import scenarios
from govsim.cli import app
from govsim.config import resolve


class Margin(AgentParams):
    margin: float = Field(0.5, ge=0, le=1)
    label: str = "x"

    @field_validator("label")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > 3:
            raise ValueError("at most 3 characters")
        return value


class Needs(AgentParams):
    folder: str


def test_good_params_are_parsed_with_their_defaults():
    parsed = parse_params("cautious", Margin, {"margin": 0.2})
    assert isinstance(parsed, Margin) and parsed.margin == 0.2 and parsed.label == "x"
    with pytest.raises(ValueError):  # frozen: the agent cannot change its seat's params
        parsed.margin = 0.3


def test_an_unknown_key_names_the_type_the_key_and_the_known_keys():
    with pytest.raises(ValueError) as got:
        parse_params("cautious", Margin, {"margn": 0.2})
    line = str(got.value)
    assert line == "unknown params.margn; type 'cautious' takes label, margin; fix the seat's params"


def test_a_type_without_params_says_so():
    with pytest.raises(ValueError, match=r"^unknown params.amount; type 'greedy' takes no params; fix"):
        parse_params("greedy", AgentParams, {"amount": 3})


def test_a_bad_value_names_the_key_the_reason_and_the_value():
    with pytest.raises(ValueError) as got:
        parse_params("cautious", Margin, {"margin": 3})
    line = str(got.value)
    assert "\n" not in line
    assert line.startswith("params.margin: Input should be less than or equal to 1 (got 3); type 'cautious' takes")


def test_a_validator_message_is_kept_without_pydantic_prefix():
    with pytest.raises(ValueError, match=r"^params.label: at most 3 characters \(got 'long'\);"):
        parse_params("cautious", Margin, {"label": "long"})


def test_a_missing_required_key_and_several_errors():
    with pytest.raises(ValueError, match=r"^params.folder is required; type 'files' takes folder"):
        parse_params("files", Needs, {})
    with pytest.raises(ValueError, match=r"^unknown params.a \(and 1 more\); "):
        parse_params("cautious", Margin, {"a": 1, "b": 2})


def test_any_params_take_whatever_the_seat_gives():
    parsed = parse_params("old-plugin", AnyParams, {"whatever": [1, 2]})
    assert parsed.model_extra == {"whatever": [1, 2]}


# ------------------------------------------------------------------ before the run: one line, exit 2


def run_error(args):
    """The one line of a ``govsim run`` refused before anything runs (asserting exit code 2)."""
    result = CliRunner().invoke(app, ["run", "--no-progress", *args])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def test_a_typo_in_a_seats_params_ends_govsim_run_with_one_line(tmp_path):
    line = run_error(["--set", "agents=[{name: A, type: fixed, params: {amout: 3}}, {name: B, type: greedy}]",
                      "--out", str(tmp_path)])
    assert line == "error: agent A: unknown params.amout; type 'fixed' takes amount; fix the seat's params"
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_a_bad_param_in_a_config_file_is_the_same_line(tmp_path):
    file = tmp_path / "run.yaml"
    file.write_text(yaml.safe_dump({"agents": [{"name": "A", "type": "sustainable"},
                                               {"name": "B", "type": "conditional", "params": {"default": "ten"}}]}))
    line = run_error(["--config", str(file), "--out", str(tmp_path / "out")])
    assert line == ("error: agent B: params.default: Input should be a valid integer (got 'ten'); "
                    "type 'conditional' takes default; fix the seat's params")


def test_the_human_seats_params_are_checked_the_same_way(tmp_path):
    line = run_error(["--agents", "human,sustainable", "--set", "agents.0.params={chanel: files}", "--out", str(tmp_path)])
    assert line == "error: agent John: unknown params.chanel; type 'human' takes channel, folder; fix the seat's params"


def test_every_seat_is_built_with_its_parsed_params():
    cfg = resolve(overrides={"agents": "fixed,conditional,greedy", "agents.0.params": {"amount": 3}})
    seats = {seat.name: seat for seat in cfg.agents}
    fixed = agents.get("fixed")
    ctx = AgentContext(seat=seats["John"], config=cfg, scenario=scenarios.load(cfg.scenario), rng=np.random.default_rng(0))
    agent = fixed(ctx)
    assert isinstance(agent.params, fixed.Params) and agent.params.amount == 3
    assert seat_params(agents.get("conditional"), seats["Kate"]).default is None
