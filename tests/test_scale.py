"""A sweep on a real two-node Ray cluster on this machine (docs/scale.md).

The cluster is what ``ray start`` builds on two machines: a head (``ray start --head``)
and a second node joining it (``ray start --address``), both with token authentication
as Ray 2.60 sets it up. Both run on the loopback address 127.0.0.2 (Ray rewrites
127.0.0.1 to the machine's routable address), each with one CPU, so a sweep of four
one-CPU cells must use both. The driver runs in a subprocess from another folder than
the nodes, with a relative output folder, as a user's would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from govsim import sweep
from govsim.runlog import read_run, strip_timing

pytest.importorskip("ray")
pytestmark = pytest.mark.slow

RAY = str(Path(sys.executable).with_name("ray"))
GOVSIM = str(Path(sys.executable).with_name("govsim"))
HOST = "127.0.0.2"
CELLS = {"name": "scale", "base": {"agent": "conditional", "months": 3}, "grid": {"seed": [0, 1, 2, 3]}}
DRIVER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from govsim import sweep
    from govsim.sweep_ray import run_ray
    cells = sweep.expand(sweep.load(Path(sys.argv[1])), Path("runs"))
    print(json.dumps(run_ray(cells, address=sys.argv[2], progress=False)))
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def events(run: Path) -> list[dict]:
    return [strip_timing(e) for e in read_run(run).events]


def listening(address: str) -> bool:
    host, port = address.split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) == 0


class Node:
    """One ``ray start --block`` process: the node lives as long as it does."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.args, self.log = args, log
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                [RAY, "start", "--block", *args], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait(self, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 90
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start {' '.join(self.args)} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def started(self) -> bool:
        return "Ray runtime started" in self.log.read_text()

    def stop(self) -> None:
        """SIGTERM lets ``ray start --block`` stop the node's processes; its own group is killed if it hangs."""
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture(scope="module")
def cluster():
    temp = Path(tempfile.mkdtemp(prefix="govsim-ray-", dir="/tmp"))  # Ray's socket paths must stay short
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_USAGE_STATS_ENABLED": "0"}
    address = f"{HOST}:{free_port()}"
    each = ["--node-ip-address", HOST, "--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
    head = [
        "--head", "--port", address.split(":")[1], "--temp-dir", str(temp), "--include-dashboard", "false",
        "--dashboard-port", str(free_port()), "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()),
    ]
    joining = ["--address", address, "--dashboard-agent-listen-port", str(free_port())]
    nodes: list[Node] = []
    try:
        nodes.append(Node([*head, *each], env, temp / "head.log"))
        nodes[0].wait(lambda: listening(address))  # the head's GCS is up: the second node can join while the head finishes
        nodes.append(Node([*joining, *each], env, temp / "joining.log"))
        for node in nodes:
            node.wait(node.started)
        yield address, env
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(temp, ignore_errors=True)


def test_a_sweep_runs_on_both_nodes_of_a_two_node_cluster(cluster, tmp_path):
    address, env = cluster
    spec = tmp_path / "scale.yaml"
    spec.write_text(yaml.safe_dump(CELLS))
    driver = tmp_path / "driver"
    driver.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, str(spec), address], cwd=driver, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcomes = json.loads(run.stdout.strip().splitlines()[-1])
    assert [o.get("error") for o in outcomes] == [None] * 4
    assert len({o["node"] for o in outcomes}) == 2  # both nodes ran cells

    remote = sweep.expand(sweep.load(spec), driver / "runs")  # the relative --out, as the driver sees it
    local = sweep.expand(sweep.load(spec), tmp_path / "local")
    sweep.run_local(local, max_cells=None, resume=True, progress=False)
    for there, here in zip(remote, local):  # every cell complete, event for event as in this process
        assert there.status == "done"
        assert events(there.directory) == events(here.directory)


def test_a_driver_without_the_token_is_told_what_to_set(cluster, tmp_path):
    address, env = cluster
    spec = tmp_path / "scale.yaml"
    spec.write_text(yaml.safe_dump(CELLS))
    bare = {k: v for k, v in env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    bare["RAY_gcs_server_port_wait_time_s"] = "1"  # Ray retries a refused connection for 20 s by default
    run = subprocess.run(
        [GOVSIM, "sweep", str(spec), "--executor", "ray", "--address", address, "--out", "runs", "--no-progress"],
        cwd=tmp_path, env=bare, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
    said = " ".join((run.stdout + run.stderr).split())  # typer may wrap the line
    assert f"the Ray cluster at {address} wants token authentication: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN" in said
