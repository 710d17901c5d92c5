"""commons_v0's docstring is its manual: its tables name exactly the keys of the real spaces and infos."""

import re

import pytest

from envs import commons_v0, fuzz

INSTITUTIONS = ["election", "sanctions"]
KEY = re.compile(r"^`(\w+)`$")


def section(title: str) -> str:
    doc = commons_v0.__doc__
    start = doc.index(f"### {title}\n")
    end = doc.find("\n### ", start + 1)
    return doc[start : end if end != -1 else None]


def rows(title: str) -> list[list[str]]:
    """The table rows of a section, as cells (the header and the rule left out)."""
    lines = [line for line in section(title).splitlines() if line.startswith("|") and not line.startswith("|--")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def keyed(title: str) -> dict[str, list[str]]:
    """Each row by the key it documents (the cell that is one `key`)."""
    table: dict[str, list[str]] = {}
    for cells in rows(title):
        (key,) = [m.group(1) for cell in cells if (m := KEY.match(cell))]
        assert key not in table, f"{key} documented twice in {title}"
        table[key] = cells
    return table


def full_env(**overrides):
    return commons_v0.parallel_env(institutions=INSTITUTIONS, **overrides)


def test_the_observation_table_is_the_observation_space():
    space = full_env().observation_space("John")
    table = keyed("Observation keys")
    assert set(table) == set(space.keys())
    kinds = {key: cells[1].split("(")[0] for key, cells in table.items()}
    assert kinds == {key: type(sub).__name__ for key, sub in space.items()}


def test_the_action_table_is_the_action_space_and_the_keys_each_phase_reads():
    env = full_env()
    space = env.action_space("John")
    table = keyed("Action keys")
    assert set(table) == set(space.keys())
    seats = ", ".join(env.possible_agents)
    for key, (_, _, declared, _) in table.items():
        assert declared.replace("capacity", str(env.config.capacity)).replace("seats", seats) == repr(space[key]), key
    by_phase = {(cells[0], key) for key, cells in table.items()}
    assert by_phase == {(phase.label, key) for phase, keys in fuzz.KEYS.items() for key in keys}


def test_the_info_table_is_every_info_key_of_an_episode():
    env = full_env(experiment="universalization", months=3, election={"term": 1})
    _, infos = env.reset(seed=0)
    seen = set()
    while env.agents:
        seen |= {key for info in infos.values() for key in info}
        actions = {a: env.action_space(a).sample() for a in env.agents}
        _, _, _, _, infos = env.step(actions)
    assert seen == set(keyed("Info keys"))


@pytest.mark.parametrize("kind", ["Action", "Observation"])
def test_the_summary_counts_the_keys(kind):
    (line,) = [line for line in commons_v0.__doc__.splitlines() if line.startswith(f"| {kind} Shape")]
    said = re.search(r"Dict of (\d+) keys, \+(\d+) with the election, \+(\d+) with sanctions", line)
    size = {name: len(getattr(commons_v0.parallel_env(institutions=on), f"{kind.lower()}_space")("John"))
            for name, on in [("base", []), ("election", ["election"]), ("sanctions", ["sanctions"])]}
    assert tuple(map(int, said.groups())) == (size["base"], size["election"] - size["base"], size["sanctions"] - size["base"])
