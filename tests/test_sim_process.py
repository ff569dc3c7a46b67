"""The built-in simulator in a process of its own: it serves what the in-thread one serves, survives
the signals that stop a run (the run's restore still needs it), and never outlives its run."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import textwrap
import time

import httpx

from pytest_rec.simulator.process import simulator_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _gone(pid: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        try:                                  # a child of this process: reap it
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def _login(sim) -> int:
    ctx = ssl.create_default_context(cafile=str(sim.ca_path))
    admin = sim.array.inventory.users["admin"]
    with httpx.Client(base_url=sim.base_url, verify=ctx, timeout=10) as http:
        return http.post("/api/v1/session", json={"user_name": admin.name, "password": admin.password}).status_code


def test_serves_with_the_run_s_passwords_and_outlives_a_ctrl_c(tmp_path):
    sim = simulator_for({"job_latency": "0.05"}).start()
    pid = sim._proc.pid
    try:
        assert sim.target()["url"] == sim.base_url and sim.array.settings.job_latency == 0.05
        assert _login(sim) == 200                            # the passwords the parent made
        os.kill(pid, signal.SIGINT)                          # what a Ctrl-C in the terminal would send it
        os.kill(pid, signal.SIGTERM)
        time.sleep(0.3)
        assert _alive(pid) and _login(sim) == 200            # still serving the run's restore
    finally:
        sim.stop()
    assert _gone(pid)


def test_a_killed_run_leaves_no_simulator_behind(tmp_path):
    code = textwrap.dedent("""
        import sys
        from pytest_rec.simulator.process import simulator_for
        sim = simulator_for({}).start()
        print(sim._proc.pid, flush=True)
        sys.stdin.read()
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _alive(child)
    parent.kill()                                            # SIGKILL: no clean-up code runs in the parent
    parent.wait(timeout=10)
    assert _gone(child), "the simulator process outlived its killed run"
