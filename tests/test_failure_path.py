"""The failure path (issue 24; CONTRACT section 3, the way back): broken firmware never traps a session.
Each situation is a whole compliance run against a simulator started like `rec-sim --target-out`
(its full target file, lanes by default), with the defect or fault that makes it: the verdict fails
exactly the one rule (inconclusive for hung jobs), every session the target file names reads at the
end as it started, the exit code is as CONTRACT section 4 says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import start
from pytest_rec.simulator.defects import DEFECTS
from pytest_rec.engine.wayback import WayBack

def run(tmp_path: Path, server, *args: str) -> tuple[int, dict, str]:
    target = tmp_path / "target.toml"
    target.write_text(server.target_text())
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-target", str(target), "--rec-report-dir",
                           str(out), "-q", *args], cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **server.target_env()})
    return proc.returncode, json.loads((out / "compliance.json").read_text()), proc.stdout + proc.stderr


def named(server) -> dict:
    s = server.target()["sessions"]
    sids = set(s["writable"]) | set(s.get("active", [])) | {
        s[k] for k in ("tenant_own", "tenant_foreign", "tenant_own_destination", "non_rec") if isinstance(s.get(k), int)}
    return {sid: (cs.transfer_mode, cs.split_mode, cs.recovery_mode, cs.phase == "Suspend")
            for sid, cs in sorted(server.array.sessions.items()) if sid in sids}


def failed(summary: dict) -> set[str]:
    return {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}


@pytest.mark.whole_run
@pytest.mark.parametrize("defect", ["consistency-never-applied", "active-async-patch-accepted",
                                    "refused-split-applied", "stack-to-sync-keeps-stack"])
def test_a_broken_firmware_traps_no_session(tmp_path, defect):
    """1 (a mode accepted, never applied: a session at home in Consistency is never moved away), 2 (a change
    taken on an active session: undone with a change of its kind, one REC-SUSPEND-FIRST deviation, never an
    error), 5 (a refused change applied anyway: one finding on the refusal's rule), and the setup-path bug."""
    server = start(tls=True, job_latency=0.005, defects=frozenset({defect}))
    try:
        before = named(server)
        code, summary, out = run(tmp_path, server)
        after = named(server)
    finally:
        server.stop()
    assert before == after, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert code == 1, out[-3000:]
    assert failed(summary) == set(DEFECTS[defect].breaks), out[-3000:]
    assert not [c for c in summary["cases"] if c["outcome"] == "error"], \
        [c["detail"] for c in summary["cases"] if c["outcome"] == "error"][:3]
    assert "RESTORE FAILED" not in out and not summary["restore"]["failed"]


@pytest.mark.whole_run
def test_a_late_change_with_lanes_is_caught_every_time(tmp_path):
    """DECISIONS 114: an array that undoes a session's last change once it has been quiet a while. With lanes
    the array was quiet only after the last lane ended, and the sweep read at once: about one run in two came
    out compliant. Now the sweep waits the late window (and the other lanes' log-outs) first. With lanes the
    sweep's finding reads as REC-ISOLATION, and the Why line says so; with -n 0 it is REC-ACCEPT alone."""
    for k in range(3):
        server = start(tls=True, job_latency=0.005, defects=frozenset({"late-change"}))
        try:
            before = named(server)
            (tmp_path / str(k)).mkdir()
            code, summary, out = run(tmp_path / str(k), server, *(["-n", "0"] if k == 2 else []))
            after = named(server)
        finally:
            server.stop()
        assert before == after, {s: (before[s], after[s]) for s in before if before[s] != after[s]}
        assert code == 1 and failed(summary), (k, out[-3000:])
        if k == 2:
            assert failed(summary) == {"REC-ACCEPT"}, out[-3000:]
        else:
            assert failed(summary) <= {"REC-ACCEPT", "REC-ISOLATION"}, failed(summary)
            assert failed(summary) == {"REC-ACCEPT"} or "run again with -n 0" in summary["verdict_reason"]
        assert not summary["restore"]["failed"]


@pytest.mark.whole_run
def test_a_tenant_job_that_never_ends_leaves_its_session_as_found(tmp_path):
    """3: the tenant user's PATCH jobs never end. Its first write is a probe (its own session, suspended by
    the admin, set to the modes it has): the run is inconclusive (exit 2) and that session is resumed."""
    server = start(tls=True, job_latency=0.005, hung_jobs_user="qa_tenant")
    try:
        before = named(server)
        code, summary, out = run(tmp_path, server, "--rec-job-timeout", "5")
        after = named(server)
    finally:
        server.stop()
    assert code == 2, out[-3000:]
    assert summary["verdict"] == "inconclusive"
    assert not failed(summary), failed(summary)
    assert before == after, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert "NOT put back" not in out and not summary["restore"]["failed"], out[-2000:]
    errors = [c["detail"] for c in summary["cases"] if c["outcome"] == "error"]
    assert errors and any("write probe" in d for d in errors), errors[:3]


@pytest.mark.whole_run
def test_a_change_leaking_to_another_lanes_session_is_put_back(tmp_path):
    """An array that copies a recovery_mode change onto the next session: with lanes, that session may be
    another lane's, already put back. The last lane to end its restore reads every lane's sessions again:
    the leaked change is put back too (a REC-ISOLATION finding of its own), and the verdict says that with
    lanes other rules may fail from the same leak. With one lane it is REC-ISOLATION alone."""
    server = start(tls=True, job_latency=0.005, defects=frozenset({"neighbour-recovery-leak"}))
    try:
        before = named(server)
        code, summary, out = run(tmp_path, server)
        after = named(server)
        lanes_failed, reason = failed(summary), summary["verdict_reason"]
        one = tmp_path / "one"
        one.mkdir()
        code_one, summary_one, out_one = run(one, server, "-n", "0")
        after_one = named(server)
    finally:
        server.stop()
    assert before == after, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert before == after_one, {k: (before[k], after_one[k]) for k in before if before[k] != after_one[k]}
    assert code == 1 and "REC-ISOLATION" in lanes_failed, out[-3000:]
    assert lanes_failed == {"REC-ISOLATION"} or "run again with -n 0" in reason, reason
    assert code_one == 1 and failed(summary_one) == {"REC-ISOLATION"}, out_one[-3000:]
    assert not summary["restore"]["failed"] and not summary_one["restore"]["failed"]


def test_the_last_lane_to_end_its_restore_sweeps_once(tmp_path):
    path = tmp_path / "wb.jsonl"
    first, last = WayBack(path, lanes=2), WayBack(path, lanes=2)
    first.start(0)
    last.start(1)
    first.put_back(0)
    assert not first.sweeper(0)                  # lane 1 has not ended its restore
    last.put_back(1)
    assert last.sweeper(1)
    assert not first.sweeper(0) and not last.sweeper(1)     # one sweep for these two lanes
    late = WayBack(path, lanes=3)
    late.start(2)                                # a lane xdist started after the sweep: it sweeps again
    late.put_back(2)
    assert late.sweeper(2) and not first.sweeper(0)
    assert not WayBack(None).sweeper(0)          # one process: its own last read covers every session


def test_lanes_waiting_for_each_other_stop_waiting(tmp_path):
    """Two lanes that each wait for a proof only the other could bring, the other lanes gone (their
    context never came up): neither waits out PATIENCE; the session stays home (the check blocks)."""
    import time

    path = tmp_path / "wayback.jsonl"
    lanes = [WayBack(path, expected=[1, 2, 3], lanes=4) for _ in range(4)]
    for i in (0, 2):
        lanes[i].start(i)
    lanes[0].home(1, "Consistency")
    lanes[2].home(3, "Consistency")
    lanes[0].home(2, "Synchronous")
    for gone in (1, 3):
        lanes[gone].finished(gone)                   # what lane_gone writes
    assert lanes[0].others_at_work()                 # lane 2 is at work
    lanes[2]._share({"wait": 2, "on": True})         # lane 2 waits (for lane 0's proof)
    began = time.monotonic()
    why = lanes[0].departure(1, "Synchronous", wait=True)
    assert "not proven yet" in why and time.monotonic() - began < 5
    lanes[2]._share({"wait": 2, "on": False})
    assert lanes[0].others_at_work()


# ---------------------------------------------------------------- the rule itself (no array)
def test_a_session_leaves_home_only_along_a_proven_way_back():
    wb = WayBack()
    for sid, home in ((1, "Stack"), (2, "Synchronous"), (3, "Consistency")):
        wb.home(sid, home)
    assert wb.departure(2, "Consistency") is None          # a pioneer: Synchronous comes first
    assert wb.departure(1, "Consistency") is None          # Stack comes before Consistency
    assert "not proven yet" in wb.departure(3, "Synchronous")
    wb.learn("Synchronous", "Consistency", "Synchronous", "not applied")      # the pioneer's trip broken
    assert "broke it" in wb.departure(3, "Synchronous")
    assert wb.is_broken("Synchronous", "Consistency") == "not applied"
    wb.learn("Synchronous", "Stack", "Stack")
    assert wb.departure(1, "Synchronous") is None           # Synchronous -> Stack proven: session 1 may go
    assert "broke it" in wb.departure(3, "Synchronous")
    wb.learn("Stack", "Consistency", "Consistency")
    assert wb.departure(3, "Synchronous") is None           # home through Stack: a proven way back
    wb.learn("Synchronous", "Consistency", "Consistency")   # proven later: the broken note is gone
    assert wb.is_broken("Synchronous", "Consistency") is None


def test_lanes_share_what_they_saw(tmp_path):
    """Lanes share homes and proofs through one file; a home not known yet counts as possibly the mode a
    session would go to (no pioneer's trip on a guess)."""
    path = tmp_path / "wayback.jsonl"
    a, b = WayBack(path, expected=[1, 3], lanes=2), WayBack(path, expected=[1, 3], lanes=2)
    b.home(3, "Consistency")
    assert "not proven yet" in b.departure(3, "Stack")       # session 1's home is not known yet
    a.home(1, "Synchronous")
    assert b.departure(3, "Stack") is None                   # no session is at home in Stack: nothing to wait for
    assert "not proven yet" in b.departure(3, "Synchronous")
    a.learn("Synchronous", "Consistency", "Consistency")     # lane a's pioneer trip, read by lane b
    assert b.departure(3, "Synchronous") is None
    a.finished(0)
    b.departure(3, "Synchronous", wait=True)                 # returns at once: every other lane is done
