"""Issue 16: refusal rules with bodies of every shape, the named active sessions, REC-SERIAL.

The pure parts (body shapes, the orders of two concurrent changes, the plan's job budget) are
checked directly; each new check is shown to fail against the defect profile it is meant to catch
(the run narrowed to the checks of issue 16, so that it takes seconds), and a target naming an
active Stack session runs compliant and leaves that session active and unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import start
from pytest_rec.model.matrix import cases_for
from pytest_rec.model.behaviour import FIELDS, Modes, expect, serial_outcomes
from pytest_rec.model.plan import job_budget, plan_lines
from pytest_rec.model.shapes import REACHABLE, SHAPES, active_bodies, refusal_counts, shaped_bodies, split_bodies
from pytest_rec.simulator.targetfile import passwords, target_file_text

SYNC = Modes("Synchronous", "Automatic", "Automatic")
STACK = Modes("Stack", "Manual", "Automatic")
NEW_CHECKS = ("test_refusals or test_serial or test_non_rec_session_refused or test_unknown_id_is_404 "
              "or test_split_mode_refused_when_asynchronous or test_suspend_first")


# ---------------------------------------------------------------- shapes
def test_seven_shapes():
    assert len(SHAPES) == 7 and len(set(SHAPES)) == 7
    assert {f for s in SHAPES for f in s} == set(FIELDS)


@pytest.mark.parametrize("start", REACHABLE, ids=lambda m: m.label())
def test_shaped_bodies_are_valid_and_change_the_session(start):
    bodies = shaped_bodies(start)
    for body in bodies:
        exp = expect(start, body)
        assert exp.accepted and exp.modes != start, body
    shapes = {tuple(f for f in FIELDS if f in b) for b in bodies}
    if start.transfer_mode == "Synchronous":
        assert shapes == set(SHAPES)
    else:   # split_mode without transfer_mode is refused on an asynchronous session whatever the state
        assert shapes == set(SHAPES) - {("split_mode",), ("split_mode", "recovery_mode")}


def test_every_shape_for_an_active_stack_session_and_sessions_without_modes():
    for modes in (STACK, None):
        bodies = shaped_bodies(modes, valid_only=False)
        assert {tuple(f for f in FIELDS if f in b) for b in bodies} == set(SHAPES)
    assert {"split_mode": "Automatic"} in shaped_bodies(STACK, valid_only=False)


def test_no_consistency_without_a_rec_buffer():
    modes = ("Synchronous", "Stack")
    for modes_before in REACHABLE[:2]:
        for body in shaped_bodies(modes_before, transfer_modes=modes) + split_bodies(modes_before, modes) + \
                active_bodies(modes_before, "full", modes):
            assert body.get("transfer_mode") != "Consistency", body


@pytest.mark.parametrize("start", REACHABLE, ids=lambda m: m.label())
def test_split_bodies_are_all_refused_by_the_split_rule(start):
    bodies = split_bodies(start)
    assert {tuple(f for f in FIELDS if f in b) for b in bodies} >= {s for s in SHAPES if "split_mode" in s
                                                                     and (start.is_async or "transfer_mode" in s)}
    for body in bodies:
        assert expect(start, body).refusal_requirement == "REC-SPLIT-SYNC-ONLY", body


# ---------------------------------------------------------------- REC-SERIAL orders
def test_serial_outcomes():
    r, t = {"recovery_mode": "Manual"}, {"transfer_mode": "Stack"}
    both = Modes("Stack", "Manual", "Manual")
    assert serial_outcomes(SYNC, r, t, (True, True)) == {both}
    assert serial_outcomes(SYNC, r, t, (True, False)) == {Modes("Synchronous", "Automatic", "Manual")}
    assert serial_outcomes(SYNC, r, t, (False, False)) == {SYNC}
    # the same field twice: either order
    a, b = {"recovery_mode": "Automatic"}, {"transfer_mode": "Stack", "recovery_mode": "Manual"}
    sync_manual = Modes("Synchronous", "Automatic", "Manual")
    assert serial_outcomes(sync_manual, a, b, (True, True)) == {Modes("Stack", "Manual", "Manual"),
                                                          Modes("Stack", "Manual", "Automatic")}
    # a body taken although no order accepts it there: no state explains it
    split = {"split_mode": "Manual"}
    assert serial_outcomes(STACK, split, r, (True, True)) == set()


# ---------------------------------------------------------------- the plan
@pytest.mark.parametrize("depth", ["full", "pairwise", "smoke"])
def test_plan_counts_refusal_coverage_within_the_job_budget(depth):
    cases = cases_for(depth)
    lines = plan_lines(cases, [1, 2, 3, 4], 1, depth=depth, active=1)
    text = "\n".join(lines)
    assert "named scenarios:" in text and "REC-SERIAL" in text
    assert "refusal coverage (every refusal rule, bodies of every shape)" in text
    assert "within the job budget" in text, text
    counts = refusal_counts(consistency=True, active=1, depth=depth)
    assert counts["REC-SUSPEND-FIRST (sessions.active)"] == (4 if depth == "smoke" else 7)
    assert job_budget(0) == 60


def test_plan_says_over_budget_when_it_is():
    cases = cases_for("smoke")
    text = "\n".join(plan_lines(cases, [1], 1, depth="full", active=40))
    assert "OVER the job budget" in text


# ---------------------------------------------------------------- each new check can fail
def _run(tmp_path: Path, *args: str, env: dict | None = None) -> tuple[int, dict, str]:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    return proc.returncode, json.loads((out / "compliance.json").read_text()), proc.stdout + proc.stderr


CAUGHT_BY = {
    "active-stack-patch-accepted": {"test_suspend_first_on_named_active_sessions"},
    "tenant-check-skipped-with-transfer": {"test_tenant_refused_on_each_local_side[source-local]",
                                           "test_tenant_refused_on_each_local_side[destination-local]"},
    "tenant-destination-unchecked": {"test_tenant_refused_on_each_local_side[destination-local]"},
    "non-rec-checked-only-for-transfer": {"test_non_rec_session_refused"},
    "split-sync-only-checked-alone": {"test_split_mode_refused_when_asynchronous[Stack + split Automatic and "
                                      "recovery Manual]",
                                      "test_split_mode_refused_when_asynchronous[Consistency + split Automatic "
                                      "and recovery Automatic]"},
}


@pytest.mark.whole_run
@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_new_refusal_checks_fail_on_their_defect(tmp_path, defect):
    from pytest_rec.simulator.defects import DEFECTS

    code, summary, out = _run(tmp_path, "-k", NEW_CHECKS, "--rec-sim-defect", defect)
    assert code == 1, out[-3000:]
    failed = {c["id"] for c in summary["cases"] if c["outcome"] == "failed"}
    assert failed == CAUGHT_BY[defect], out[-3000:]
    bad = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
    assert bad == set(DEFECTS[defect].breaks)


@pytest.mark.whole_run
@pytest.mark.parametrize("options", [[], ["--rec-sim-option", "one_job_per_session=true"],
                                     ["--rec-sim-option", "job_latency=0.2"], ["--rec-strict"]],
                         ids=["serialised", "one job per session", "slow jobs", "strict"])
def test_serial_passes_on_a_correct_array(tmp_path, options):
    code, summary, out = _run(tmp_path, "-k", "serial", *options)
    assert code == 0, out[-3000:]
    v = {r["id"]: r for r in summary["requirements"]}
    assert v["REC-SERIAL"]["verdict"] == "pass" and v["REC-SERIAL"]["tests"] == 5


@pytest.mark.whole_run
def test_serial_catches_a_mix(tmp_path):
    code, summary, out = _run(tmp_path, "-k", "serial", "--rec-sim-defect", "serial-mix")
    assert code == 1, out[-3000:]
    failed = [c for c in summary["cases"] if c["outcome"] == "failed"]
    assert len(failed) >= 4 and all(c["failed_requirements"] == ["REC-SERIAL"] for c in failed)
    assert "an accepted change was lost" in failed[0]["detail"]


# ---------------------------------------------------------------- a named active Stack session
@pytest.mark.whole_run
def test_named_active_stack_session_runs_compliant_and_is_left_as_found(tmp_path):
    """Issue 16, done when: a target with sessions.active naming an active Stack session runs
    compliant, and leaves that session active and unchanged."""
    server = start(tls=True)
    try:
        inv = server.array.inventory
        assert inv.target["sessions"]["active"] == [9]
        target = tmp_path / "target.toml"
        target.write_text(target_file_text(inv, server.base_url, str(server.ca_path)))
        before = server.array.snapshot()[9]
        assert before["phase"] == "Copying" and before["transfer_mode"] == "Stack"
        code, summary, out = _run(tmp_path, "--rec-target", str(target), env=passwords(inv))
        after = server.array.snapshot()[9]
    finally:
        server.stop()
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "compliant", summary.get("verdict_reason")
    case = next(c for c in summary["cases"] if c["id"] == "test_suspend_first_on_named_active_sessions")
    assert case["outcome"] == "passed"
    assert after == before
    assert not [e for e in _transcript(tmp_path) if e["path"].startswith("/api/v1/copysession/9/")]


def _transcript(tmp_path: Path) -> list[dict]:
    out = []
    for path in (tmp_path / "reports").glob("transcript*.jsonl"):
        out += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return out
