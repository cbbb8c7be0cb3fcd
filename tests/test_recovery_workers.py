"""Parallel `recover`: worker processes exit when their driver is killed (SIGKILL runs no cleanup)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds processes through /proc")

# Enough baseline tasks that the grid is still running when the test kills the driver.
DRIVER = """
import sys
from basis_compiler.apps.recovery.config import GridConfig
from basis_compiler.apps.recovery.grid import run_grid
config = GridConfig(samplings=("BG",), covariances=("identity",), methods=("baseline",), trials=200,
                    n=12, d=3, eps=0.25, n_train=100, n_val=20, n_test=20, max_epochs=5)
run_grid(config, sys.argv[1], workers=2, progress=False, write_reports=False)
"""


def _children(pid: int) -> dict[int, str]:
    """pid -> command line of every live process whose parent is pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, ...
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent has not collected it yet


def _wait_for(condition, seconds: float, step: float = 0.05) -> bool:
    for _ in range(int(seconds / step)):
        if condition():
            return True
        time.sleep(step)
    return condition()


def test_workers_exit_when_the_driver_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path / "driver.log"
    with open(log, "wb") as fh:
        driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tmp_path / "out")], env=env,
                                  stdout=fh, stderr=subprocess.STDOUT)
    children: dict[int, str] = {}
    try:
        # Both workers started and at least one task saved: the workers are mid-grid.
        def started():
            children.update(_children(driver.pid))
            results = tmp_path / "out" / "results.jsonl"
            return driver.poll() is not None or (results.exists() and results.read_text().count("\n") >= 1)
        assert _wait_for(started, 120) and driver.poll() is None, log.read_text()
        workers = [pid for pid, cmd in children.items() if "spawn_main" in cmd]
        assert len(workers) == 2, children
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        assert _wait_for(lambda: not any(_alive(pid) for pid in children), 10), {
            pid: children[pid] for pid in children if _alive(pid)}
        assert (tmp_path / "out" / "results.jsonl").read_text().count("\n") < 200  # the grid was cut short
    finally:
        driver.kill()
        driver.wait()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
