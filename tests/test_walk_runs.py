"""Walks as whole runs (issue 31): each history-dependent defect of the simulator is missed with
``--rec-walk-steps 0`` and caught on its rule alone by the default walk, with the default seed and five
others, every session put back; each reproducer a run writes exits 1 against a fresh rec-sim with that
defect and 0 against a correct one, and leaves every session as it found it."""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import start
from pytest_rec.simulator.defects import DEFECTS
from pytest_rec.simulator.history import HISTORY_DEFECTS
from test_compliance_runs import run_suite, verdicts

pytestmark = pytest.mark.whole_run


def _failed(summary) -> set[str]:
    return {r for r, v in verdicts(summary).items() if v == "fail"}


@pytest.mark.parametrize("defect", HISTORY_DEFECTS)
def test_a_history_defect_is_missed_without_the_walk(tmp_path, defect):
    code, summary, out = run_suite(tmp_path, "--rec-sim-defect", defect, "--rec-walk-steps", "0")
    assert code == 0 and summary["verdict"] == "compliant", out[-3000:]
    assert summary["walk"]["steps"] == 0


# every walk of these 24 catches its defect (DECISIONS 112: each trip away from Synchronous has a planned length,
# so that a trip-counting defect meets short trips whatever the seed; seed 5 missed before it)
CASES = [pytest.param(d, s, id=f"{d}, seed {s or 'default'}") for d in HISTORY_DEFECTS for s in (None, "1", "2", "3", "4", "5")]


@pytest.mark.parametrize("defect, seed", CASES)
def test_a_history_defect_is_caught_by_the_walk(tmp_path, defect, seed):
    code, summary, out = run_suite(tmp_path, "--rec-sim-defect", defect, *(["--rec-walk-seed", seed] if seed else []))
    assert code == 1, out[-3000:]
    assert _failed(summary) == set(DEFECTS[defect].breaks), out[-3000:]
    assert not summary["restore"]["failed"]
    assert not [c for c in summary["cases"] if c["outcome"] == "error"]
    assert summary["walk"]["seed"] == int(seed or 20261204)
    walks = [c for c in summary["cases"] if c["id"].startswith("test_walk") and c["outcome"] == "failed"]
    assert walks and all("shrunk to" in c["detail"] or "not shrunk" in c["detail"] for c in walks)
    md = (tmp_path / "reports" / "compliance.md").read_text()
    assert "## Reproducers" in md and "reproducers/" in md


def _run_reproducer(path, defects=()):
    server = start(defects=set(defects), tls=True)
    try:
        before = server.array.snapshot()
        env = {**os.environ, **server.target_env(), "REC_CACERT": str(server.ca_path)}
        proc = subprocess.run(["sh", str(path), server.base_url], capture_output=True, text=True, timeout=300, env=env)
        return proc.returncode, proc.stdout + proc.stderr, before, server.array.snapshot(), server.target_env()
    finally:
        server.stop()


def _modes(snapshot):
    return {sid: (s.get("transfer_mode"), s.get("split_mode"), s.get("recovery_mode"), s.get("phase") == "Suspend")
            for sid, s in snapshot.items()}


@pytest.mark.parametrize("defect", HISTORY_DEFECTS + ("no-forced-manual", "sticky-auto-restored", "job-href-v2",
                                                      "tenant-read-then-write"))
def test_every_reproducer_shows_its_defect_and_passes_on_a_correct_array(tmp_path, defect):
    code, summary, out = run_suite(tmp_path, "--rec-sim-defect", defect)
    assert code == 1, out[-3000:]
    scripts = sorted((tmp_path / "reports" / "reproducers").glob("*.sh"))
    assert scripts and len(scripts) == len(summary["reproducers"])
    for script in scripts[:3]:
        rc, text, before, after, env = _run_reproducer(script, {defect})
        assert rc == 1 and "DEVIATION" in text, text[-3000:]
        assert _modes(after) == _modes(before), text[-3000:]
        assert not [v for v in env.values() if v in text]           # no password in the output
        rc, text, before, after, _ = _run_reproducer(script)
        assert rc == 0 and "RESULT: the array behaves" in text, text[-3000:]
        assert _modes(after) == _modes(before), text[-3000:]
