"""Issue 26: checks that were narrower than the rule they sign off. The positive rules get every body
shape for the tenant user too, REC-AUTH tries every credential a login hands out, REC-SUSPEND-FIRST
says which active phases it was judged from, and the restore reads every session once more after the
longest settle window the run used. The pure parts are checked directly; each check against the defect
profile it is meant to catch (narrowed runs, seconds each); the whole-run detection is
test_compliance_runs.py::test_defect_profile_is_caught_on_its_rule."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import start
from pytest_rec.model.behaviour import TRANSFER_MODES, Modes, expect
from pytest_rec.report.summary import _phases_covered
from pytest_rec.engine.restore import LATE_MARGIN, late_wait
from pytest_rec.model.shapes import REACHABLE, allow_bodies, full_matrix, matrix_pairs, positive_counts, positive_pairs
from pytest_rec.simulator.targetfile import passwords, target_file_text


# ---------------------------------------------------------------- positive rules, every shape
@pytest.mark.parametrize("modes", [TRANSFER_MODES, ("Synchronous", "Stack")], ids=["with Consistency", "without"])
@pytest.mark.parametrize("start_modes", REACHABLE, ids=lambda m: m.label())
def test_tenant_bodies_give_every_positive_rule_every_shape_of_the_matrix(start_modes, modes):
    if start_modes.transfer_mode not in modes:
        pytest.skip("a start the target cannot have")
    bodies = allow_bodies(start_modes, transfer_modes=modes)
    here, judged = start_modes, set()
    for body in bodies:
        exp = expect(here, body)
        assert exp.accepted and not exp.recorded, (here, body)
        assert body.get("transfer_mode", modes[0]) in modes
        judged |= positive_pairs(here, body)
        here = exp.modes
    wanted = matrix_pairs(full_matrix(), modes)
    assert judged == wanted and len(wanted) >= 20
    assert {r for r, _ in wanted} == {"REC-ACCEPT", "REC-FORCED-MANUAL", "REC-STICKY-MANUAL", "REC-RECOVERY",
                                      "REC-KEEP-OMITTED"}
    assert ("REC-STICKY-MANUAL", ("transfer_mode", "split_mode")) in judged     # split given on the way back
    assert len(bodies) <= 16


def test_tenant_bodies_at_smoke_are_one_per_shape_and_change_the_session():
    start_modes = Modes("Synchronous", "Automatic", "Automatic")
    bodies = allow_bodies(start_modes, depth="smoke")
    assert {len(b) for b in bodies} >= {1, 3}
    here = start_modes
    for body in bodies:
        assert expect(here, body).modes != here
        here = expect(here, body).modes


def test_positive_counts_per_user():
    counts = positive_counts(Modes("Synchronous", "Automatic", "Automatic"), full_matrix(), sessions=2)
    assert set(counts) == {"admin", "tenant"}
    for user, rules in counts.items():
        for rule, (bodies, shapes, of) in rules.items():
            assert bodies >= shapes == of > 0, (user, rule)
    assert counts["tenant"]["REC-TENANT-ALLOW"][0] == counts["tenant"]["REC-ACCEPT"][0]
    assert counts["admin"]["REC-ACCEPT"][0] == sum(1 for s, b in full_matrix() if b and expect(s, b).accepted)


# ---------------------------------------------------------------- the phases of REC-SUSPEND-FIRST
@pytest.mark.parametrize("phases, named, says", [
    (["Copying", "Equivalent"], 1, "Copying, Equivalent"),
    (["Equivalent"], 1, "Equivalent only (sessions.active names no session in Copying)"),
    (["Equivalent"], 0, "Equivalent only (the target names no session under sessions.active)"),
])
def test_suspend_first_row_says_which_phases_it_covered(phases, named, says):
    rows = [{"id": "REC-SUSPEND-FIRST", "tests": 3}, {"id": "REC-ACCEPT", "tests": 9}]
    _phases_covered(rows, {"suspend_first_phases": phases, "active_named": named})
    assert rows[0]["covered"] == says and rows[0]["phases"] == phases
    assert "covered" not in rows[1]


def _run(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[int, dict, str, Path]:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "REC_HTML": "0", **(env or {})})
    summary = json.loads((out / "compliance.json").read_text()) if (out / "compliance.json").exists() else {}
    return proc.returncode, summary, proc.stdout + proc.stderr, out


def test_a_target_without_active_sessions_says_equivalent_only(tmp_path):
    server = start(tls=True)
    try:
        inv = server.array.inventory
        target = tmp_path / "target.toml"
        text = target_file_text(inv, server.base_url, str(server.ca_path)).replace("active = [9]\n", "")
        target.write_text(re.sub(r"\[sessions\.\w+\.9\]\n(?:[^\[\n][^\n]*\n)*", "", text))
        assert "active" not in target.read_text().split("[sessions]")[1].split("[")[0]
        code, summary, out, reports = _run(tmp_path, "--rec-target", str(target), "--rec-lanes", "1",
                                           "-k", "test_suspend_first", env=passwords(inv))
    finally:
        server.stop()
    assert code == 0, out[-3000:]
    row = next(r for r in summary["requirements"] if r["id"] == "REC-SUSPEND-FIRST")
    assert row["phases"] == ["Equivalent"]
    assert "covered: Equivalent only (the target names no session under sessions.active)" in \
        (reports / "compliance.md").read_text()


def test_dry_run_shows_positive_bodies_per_user_and_the_phases(tmp_path):
    code, _, out, _ = _run(tmp_path, "--rec-dry-run")
    assert code == 0, out[-3000:]
    admin = next(line for line in out.splitlines() if line.strip().startswith("admin (the matrix)"))
    tenant = next(line for line in out.splitlines() if line.strip().startswith("tenant ("))
    assert "REC-RECOVERY 112 (4/4 shapes)" in admin
    assert "REC-TENANT-ALLOW" in tenant and "REC-STICKY-MANUAL" in tenant and "(4/4 shapes)" in tenant
    assert "REC-SUSPEND-FIRST from: Equivalent" in out
    assert "sessions.active: 9 Copying: covered: Copying, Equivalent" in out


# ---------------------------------------------------------------- the restore's last read
def test_the_last_read_waits_for_the_lag_the_run_saw_not_a_fixed_window():
    def op(lag):
        return SimpleNamespace(admin=SimpleNamespace(transcript=SimpleNamespace(longest_settle=lag)),
                               target=SimpleNamespace(profile=SimpleNamespace(settle_window=10.0)))

    assert late_wait(op(0.0)) == LATE_MARGIN <= 0.5
    assert late_wait(op(2.0)) == 2.0 + LATE_MARGIN
    assert late_wait(op(60.0)) == 10.0 + LATE_MARGIN


# ---------------------------------------------------------------- each check against its defect
def test_refresh_token_after_logout_is_caught_and_never_shown(tmp_path):
    server = start(tls=True, defects={"logout-keeps-refresh"})
    try:
        inv = server.array.inventory
        target = tmp_path / "target.toml"
        target.write_text(target_file_text(inv, server.base_url, str(server.ca_path)))
        code, summary, out, reports = _run(tmp_path, "--rec-target", str(target), "--rec-lanes", "1",
                                           "-k", "test_auth", env=passwords(inv))
        issued = list(server.array.issued_secrets)
    finally:
        server.stop()
    assert code == 1, out[-3000:]
    failed = [c for c in summary["cases"] if c["outcome"] == "failed"]
    assert [c["id"] for c in failed] == ["test_token_after_logout"]
    assert "refresh token of a session that logged out answered 200" in failed[0]["detail"]
    assert "the token it minted then answered 202" in failed[0]["detail"]
    texts = [p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file()] + [out]
    assert len(issued) >= 4 and not [s for s in issued if any(s in t for t in texts)]


@pytest.mark.parametrize("defect, check", [("tenant-split-refused", "tenant_allowed"),
                                           ("active-equivalent-patch-accepted", "test_suspend_first")])
def test_new_checks_fail_on_their_defect(tmp_path, defect, check):
    from pytest_rec.simulator.defects import DEFECTS

    code, summary, out, _ = _run(tmp_path, "-k", check, "--rec-sim-defect", defect)
    assert code == 1, out[-3000:]
    bad = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
    assert bad == set(DEFECTS[defect].breaks)
    assert not [c for c in summary["cases"] if c["outcome"] == "error"]
    assert not summary["restore"]["failed"]


def test_a_late_change_is_found_by_the_last_read_and_put_back(tmp_path):
    code, summary, out, reports = _run(tmp_path, "-k", "test_matrix", "--rec-sim-defect", "late-change")
    assert code == 1, out[-3000:]
    late = [c for c in summary["cases"] if c["id"].startswith("restore: last read of session")]
    assert late and all(c["failed_requirements"] == ["REC-ACCEPT"] for c in late)
    assert all("applied after the job ended and the settle window; put back again" in c["detail"] for c in late)
    assert {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"} == {"REC-ACCEPT"}
    assert not summary["restore"]["failed"] and summary["restore"]["late_changes"]
    assert "applied after the job ended" in (reports / "compliance.md").read_text()


