"""The compliance suite, run whole against the built-in simulator: clean, in every refusal
style and depth, with every defect profile, with a broken environment, and with the target
going away. This is the proof that the suite tells a good array from a broken one, on the
right rule."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import start
from pytest_rec.simulator.defects import DEFECTS
from pytest_rec.simulator.targetfile import passwords, target_file_text

JUDGED = {"REC-ACCEPT", "REC-RESPONSE", "REC-SUSPEND-FIRST", "REC-FORCED-MANUAL", "REC-STICKY-MANUAL",
          "REC-SPLIT-SYNC-ONLY", "REC-RECOVERY", "REC-KEEP-OMITTED", "REC-TENANT-DENY", "REC-TENANT-ALLOW",
          "REC-NON-REC", "REC-NOT-FOUND", "REC-BAD-INPUT", "REC-CONTENT-TYPE", "REC-AUTH", "REC-ISOLATION",
          "REC-JOB-PRIVACY", "REC-SERIAL", "REC-NO-5XX"}


def run_suite(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[int, dict, str]:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env or os.environ.copy())
    summary = json.loads((out / "compliance.json").read_text())
    return proc.returncode, summary, proc.stdout + proc.stderr


def verdicts(summary: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in summary["requirements"]}


@pytest.mark.parametrize("args", [pytest.param([], id="immediate refusals"),
                                  pytest.param(["--rec-sim-option", "refusals=job"], id="refusals as job errors",
                                               marks=pytest.mark.whole_run),
                                  pytest.param(["--rec-strict"], id="strict", marks=pytest.mark.whole_run)])
def test_clean_simulator_is_compliant(tmp_path, args):
    code, summary, out = run_suite(tmp_path, *args)
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "compliant" and summary["seed_verdict"] == "pass"
    assert summary["target"]["kind"] == "sim"
    v = verdicts(summary)
    assert all(v[r] == "pass" for r in JUDGED), v
    assert v["REC-UNSPECIFIED"] == "info"
    matrix = [c for c in summary["cases"] if c["id"].startswith("test_patch[")]
    assert len(matrix) == 288
    md = (tmp_path / "reports" / "compliance.md").read_text()
    assert "SIMULATOR" in md
    # the page's own words apart from the readings, each rule's basis and refusals, the profile (issue 27)
    assert "Sign-off, the page's own words (REC-ACCEPT, REC-FORCED-MANUAL" in md
    assert "Sign-off, the contract's readings of the page (REC-RESPONSE, REC-SUSPEND-FIRST" in md
    assert summary["signoff"]["words"]["verdict"] == summary["signoff"]["readings"]["verdict"] == "pass"
    strict = "--rec-strict" in args
    assert ("| `REC-TENANT-DENY` | seed | words | 403 |" if strict else
            "| `REC-TENANT-DENY` | seed | words | 403, 404, job-error |") in md
    assert "| `REC-NON-REC` | I |  | " + ("400 |" if strict else "400, 409, 404, job-error |") in md
    assert "## Target profile values in force" in md and "| readable_transfer_modes | `[]` |" in md
    assert out.strip().splitlines()[-1].startswith("VERDICT: compliant")
    from jsonschema import validate

    from pytest_rec.model.catalogue import SPECS

    validate(summary, json.loads((SPECS / "compliance.schema.json").read_text()))


@pytest.mark.whole_run
@pytest.mark.parametrize("depth", ["pairwise", "smoke"])
def test_reduced_depths_check_every_judged_rule(tmp_path, depth):
    code, summary, out = run_suite(tmp_path, "--rec-depth", depth)
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "inconclusive"
    v = verdicts(summary)
    assert all(v[r] == "pass" for r in JUDGED), v
    assert len(summary["cases"]) < 340


@pytest.mark.whole_run
@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_defect_profile_is_caught_on_its_rule(tmp_path, name):
    code, summary, out = run_suite(tmp_path, "--rec-sim-defect", name)
    assert code == 1, out[-3000:]
    assert summary["verdict"] == "non-compliant"
    failed = {r for r, verdict in verdicts(summary).items() if verdict == "fail"}
    assert failed == set(DEFECTS[name].breaks)
    assert not [c for c in summary["cases"] if c["outcome"] == "error"]
    md = (tmp_path / "reports" / "compliance.md").read_text()
    assert "NON-COMPLIANT" in md and all(r in md for r in DEFECTS[name].breaks)


def test_broken_copy_path_is_an_error_not_a_deviation(tmp_path):
    code, summary, out = run_suite(tmp_path, "--rec-depth", "smoke", "--rec-sim-option", "copy_path_down=1,2,3,4")
    assert code == 2, out[-3000:]
    assert summary["verdict"] == "inconclusive"
    assert not [c for c in summary["cases"] if c["outcome"] == "failed"]
    errors = [c for c in summary["cases"] if c["outcome"] == "error"]
    assert errors and any("REC path" in c["detail"] for c in errors)


@pytest.mark.whole_run
def test_target_gone_mid_run_gives_errors_not_failures(tmp_path, monkeypatch):
    server = start(tls=True, job_latency=0.005)
    inv = server.array.inventory
    target = tmp_path / "target.toml"
    target.write_text(target_file_text(inv, server.base_url, str(server.ca_path)))
    env = {**os.environ, **passwords(inv)}
    journal = tmp_path / "reports" / "restore-journal.json"

    def stop_when_running():
        deadline = time.monotonic() + 120
        while not journal.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.5)
        server.stop()

    stopper = threading.Thread(target=stop_when_running, daemon=True)
    stopper.start()
    try:
        code, summary, out = run_suite(tmp_path, "--rec-target", str(target), "--rec-lanes", "1", env=env)
    finally:
        stopper.join()
        server.stop()
    assert code == 2, out[-3000:]
    assert not [c for c in summary["cases"] if c["outcome"] == "failed"], out[-3000:]
    assert [c for c in summary["cases"] if c["outcome"] == "error"]
    assert summary["verdict"] == "inconclusive"
