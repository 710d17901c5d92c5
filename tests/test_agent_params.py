"""Seat params parsed through an agent type's ``Params``: one line for a typo or a bad value."""

import pytest
from pydantic import Field, field_validator

from agents.params import AgentParams, AnyParams, parse_params


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
