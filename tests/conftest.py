import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


import pytest  # noqa: E402  (after the environment above: imports below may read it)


@pytest.fixture(scope="session")
def fixture_root(tmp_path_factory):
    """The web tests' fixture runs (``web_runs.build_root``), built once per session."""
    from web_runs import build_root

    home = tmp_path_factory.mktemp("web")
    (home / "runs").mkdir()
    (home / "outside").mkdir()
    return build_root(home / "runs", home / "outside")
