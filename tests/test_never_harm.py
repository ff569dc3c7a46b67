"""Never harm an array (issue 13), against a separately started ``rec-sim`` process, the way a
user runs the suite against a real array: ``rec-compliance --rec-target FILE``.

- Chaos: a run is interrupted with SIGINT, SIGTERM, SIGHUP or SIGKILL at a point of its own
  progress (the Nth HTTP exchange, the Nth job poll, inside the fuzzing checks, during collection,
  as the summary is written: ``tests/chaos/rec_chaos.py``), and every time every named session
  must read, over HTTP, as it did before the run: after the run's own restore (exit 2) or, after a
  SIGKILL, after ``rec-restore`` of its journal (exit 0).
- A killed run, then a run from another folder against a target that pins a baseline: refused.
- ``-n 2`` and ``-n 4`` against one shared, correct simulator: compliant, three times each.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
CHAOS = Path(__file__).with_name("chaos")


class RecSim:
    """A ``rec-sim`` process with TLS, slow jobs, and the target file it wrote."""

    def __init__(self, folder: Path, *options: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.target = folder / "target.toml"
        self.proc = subprocess.Popen([str(BIN / "rec-sim"), "--port", str(port), "--tls", "--target-out",
                                      str(self.target), *options], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.env: dict[str, str] = {}
        for line in self.proc.stdout:
            found = re.match(r"\s*export (\w+)='(.*)'", line)
            if found:
                self.env[found.group(1)] = found.group(2)
            if "target file written" in line:
                break
        else:
            raise RuntimeError("rec-sim did not start")
        data = tomllib.loads(self.target.read_text())
        self.data, self.url = data, data["url"]
        s = data["sessions"]
        self.named = sorted(set(s["writable"]) | set(s.get("active", [])) |
                            {s[k] for k in ("tenant_own", "tenant_foreign", "non_rec", "tenant_own_destination")
                             if k in s})
        admin = data["users"]["admin"]
        self.admin = (admin["name"], self.env[admin["password_env"]])
        self.verify = ssl.create_default_context(cafile=data["verify"])

    def states(self) -> dict[int, tuple]:
        """(transfer, split, recovery, suspended) of every named session, read over HTTP."""
        with httpx.Client(base_url=self.url + "/api/v1", verify=self.verify, timeout=10) as http:
            token = http.post("/session", json={"user_name": self.admin[0], "password": self.admin[1]}).json()
            headers = {"Authorization": f"Bearer {token['token']}"}
            out = {}
            for sid in self.named:
                s = http.get(f"/copysession/{sid}", headers=headers).json()
                out[sid] = (s.get("transfer_mode"), s.get("split_mode"), s.get("recovery_mode"),
                            s.get("phase") == "Suspend")
            http.delete(f"/session/{token['session_id']}", headers=headers)
            return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def compliance(sim: RecSim, cwd: Path, *args: str, chaos: dict | None = None, timeout: float = 600):
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **sim.env, "PYTHONPATH": os.pathsep.join([str(CHAOS), os.environ.get("PYTHONPATH", "")])}
    env.update({f"REC_CHAOS_{k.upper()}": str(v) for k, v in (chaos or {}).items()})
    env["REC_CHAOS_LOG"] = str(cwd / "chaos.log")
    return subprocess.run([str(BIN / "rec-compliance"), "--rec-target", str(sim.target), "-p", "rec_chaos", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def rec_restore(sim: RecSim, journal: Path, cwd: Path):
    return subprocess.run([str(BIN / "rec-restore"), str(journal)], cwd=cwd, env={**os.environ, **sim.env},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def chaos_sim(tmp_path_factory):
    sim = RecSim(tmp_path_factory.mktemp("chaos-sim"), "--job-latency", "0.05")
    sim.original = sim.states()
    yield sim
    sim.stop()


# (signal, where): spread over the whole run of a smoke depth (about 500 exchanges; the fuzzing
# checks come second, after the authentication checks)
POINTS = [
    ("SIGINT", "collection"), ("SIGINT", "exchange:3"), ("SIGINT", "exchange:45"), ("SIGINT", "test:test_fuzz:5"),
    ("SIGINT", "job:30"), ("SIGINT", "exchange:260"), ("SIGINT", "finish"),
    ("SIGTERM", "exchange:12"), ("SIGTERM", "test:test_fuzz:25"), ("SIGTERM", "job:10"), ("SIGTERM", "exchange:150"),
    ("SIGTERM", "exchange:420"), ("SIGTERM", "finish"),
    ("SIGHUP", "collection"), ("SIGHUP", "exchange:70"), ("SIGHUP", "test:test_fuzz:45"), ("SIGHUP", "job:55"),
    ("SIGHUP", "exchange:330"),
    ("SIGKILL", "exchange:30"), ("SIGKILL", "test:test_fuzz:12"), ("SIGKILL", "job:20"), ("SIGKILL", "exchange:200"),
    ("SIGKILL", "exchange:380"),
]


@pytest.mark.parametrize("sig, where", POINTS, ids=[f"{s}@{w}" for s, w in POINTS])
def test_interrupt_leaves_every_session_as_found(chaos_sim, tmp_path, sig, where):
    result = compliance(chaos_sim, tmp_path, "--rec-depth", "smoke", chaos={"signal": sig, "at": where})
    out = result.stdout + result.stderr
    fired = (tmp_path / "chaos.log").read_text() if (tmp_path / "chaos.log").exists() else ""
    assert fired, f"the interrupt point {where} was never reached:\n{out[-2000:]}"
    journals = sorted((tmp_path / "reports").glob("restore-journal*.json"))
    if sig == "SIGKILL":
        assert result.returncode == -signal.SIGKILL, out[-2000:]
        for journal in journals:
            restored = rec_restore(chaos_sim, journal, tmp_path)
            assert restored.returncode == 0, restored.stdout + restored.stderr
    else:
        assert result.returncode == 2, f"{fired}exit {result.returncode}\n{out[-3000:]}"
        for journal in journals:
            assert not [k for k, v in json.loads(journal.read_text())["sessions"].items() if not v["restored"]]
        summary = tmp_path / "reports" / "compliance.json"
        if summary.exists() and where != "finish":
            assert json.loads(summary.read_text())["interrupted"] == sig, out[-2000:]
    assert chaos_sim.states() == chaos_sim.original, f"{fired}{out[-3000:]}"


def test_second_signal_during_the_restore_leaves_the_journal(chaos_sim, tmp_path):
    """A second SIGTERM while the sessions are being put back: the run stops there, keeps the journal,
    and its last line is the rec-restore command, which then puts the array back."""
    result = compliance(chaos_sim, tmp_path, "--rec-depth", "smoke",
                        chaos={"signal": "SIGTERM", "at": "test:test_matrix:40", "again": 1})
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-2000:]
    assert lines[-1].startswith("rec-restore "), lines[-5:]
    assert "NOT put back" in lines[-2]
    journal = Path(lines[-1].split()[1])
    assert [k for k, v in json.loads(journal.read_text())["sessions"].items() if not v["restored"]]
    assert chaos_sim.states() != chaos_sim.original     # the check can fail: the run really left a change
    restored = rec_restore(chaos_sim, journal, tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert chaos_sim.states() == chaos_sim.original
