"""Agent types found by name: built-in ones and installed packages' through the same entry points."""

import subprocess
import sys
import textwrap

import pytest

import agents
from agents import base
from agents.params import AgentParams
from agents.scripted import Greedy

BUILTIN_NAMES = {"greedy", "sustainable", "fixed", "random", "conditional", "human", "generative"}


@pytest.fixture(autouse=True)
def fresh_scan():
    """Each test scans the entry points anew (sys.path may change), and leaves no scan of its own behind."""
    base._entry_points.cache_clear()
    yield
    base._entry_points.cache_clear()


def install(tmp_path, monkeypatch, module, source, entry):
    """A package on sys.path as pip would leave it: its module and a dist-info with one agent entry point."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{base.ENTRY_POINT_GROUP}]\n{entry}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_every_builtin_is_an_entry_point_of_an_agent_with_params():
    assert {ep.name for ep in base.BUILTIN} == BUILTIN_NAMES
    assert all(ep.group == base.ENTRY_POINT_GROUP for ep in base.BUILTIN)
    for name in BUILTIN_NAMES:
        cls = agents.get(name)
        assert issubclass(cls, base.Agent) and issubclass(cls.Params, AgentParams), name
    assert agents.get("greedy") is Greedy and set(agents.registered()) >= BUILTIN_NAMES


def test_listing_the_types_imports_none_of_them():
    code = "import sys, agents; print(sorted(agents.names())); print([m for m in sys.modules if m.startswith('agents.')])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert set(eval(out[0])) >= BUILTIN_NAMES
    assert set(eval(out[1])) == {"agents.params", "agents.base"}  # no agents.scripted, agents.generative, ...


def test_an_unknown_type_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown agent type 'greedyy'; known: .*conditional, fixed, generative, greedy, human"):
        agents.get("greedyy")


def test_an_import_error_inside_a_plugin_is_raised_as_itself(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "broken_plugin", "raise ImportError('broken_plugin needs numpyy')\n",
            "broken = broken_plugin:Broken")
    assert "broken" in agents.names()
    with pytest.raises(ImportError, match="broken_plugin needs numpyy"):
        agents.get("broken")


def test_an_import_error_inside_a_builtin_is_raised_as_itself(tmp_path, monkeypatch):
    """What a bug in agents/generative once showed as "unknown agent type 'generative'"."""
    (tmp_path / "broken_builtin.py").write_text("import module_that_is_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(base, "BUILTIN", (*base.BUILTIN, base._builtin("shaky", "broken_builtin:Shaky")))
    with pytest.raises(ModuleNotFoundError, match="module_that_is_not_there"):
        agents.get("shaky")
    assert agents.get("greedy") is Greedy  # the other types are unaffected


def test_a_plugin_cannot_take_a_builtin_name(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "impostor", """
        from agents.scripted import Greedy
        class Impostor(Greedy):
            pass
    """, "greedy = impostor:Impostor")
    assert agents.get("greedy") is Greedy


def test_an_entry_point_that_is_not_an_agent_is_one_line(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "notagent", "class Thing:\n    pass\n", "thing = notagent:Thing")
    with pytest.raises(TypeError, match=r"agent type 'thing': entry point 'notagent:Thing' is not a subclass of agents.base"):
        agents.get("thing")


def test_register_adds_a_type_at_run_time_ahead_of_the_entry_points(monkeypatch):
    monkeypatch.setattr(base, "_REGISTRY", {})

    @agents.register("greedy")
    class Mine(Greedy):
        pass

    @agents.register("notebook")
    class Other(Greedy):
        pass

    assert agents.get("greedy") is Mine and agents.get("notebook") is Other and "notebook" in agents.names()
