"""Institutions as pluggable phases of the month (issue 14)."""

import importlib.util
import json
from collections import defaultdict
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
_spec = importlib.util.spec_from_file_location("make_baseline_events", DATA / "make_baseline_events.py")
baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baseline)


def recorded() -> dict[str, list[dict]]:
    cases = defaultdict(list)
    for line in baseline.FILE.read_text().splitlines():
        row = json.loads(line)
        cases[row["case"]].append(row["event"])
    return cases


RECORDED = recorded()


def test_the_baseline_covers_every_case():
    assert set(RECORDED) == set(baseline.CASES)


@pytest.mark.parametrize("name", list(baseline.CASES))
def test_configs_without_institutions_give_the_recorded_events(name, tmp_path):
    assert baseline.run_case(name, tmp_path / name) == RECORDED[name]
