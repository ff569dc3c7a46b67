"""Session lanes (issue 18): on an array, rec-compliance runs one lane (an xdist worker owning its
writable sessions) per writable session, so that jobs overlap; the checks outside the matrix are
spread over the lanes, those that write tenant, active or non-REC sessions together in one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import start
from pytest_rec.cli import _with_lanes
from pytest_rec.model.matrix import chunk, full_cases, order, setup_jobs
from pytest_rec.model.plan import matrix_jobs


def _target(tmp_path: Path, writable: int, **settings) -> tuple[object, Path, dict]:
    server = start(tls=True, writable_sessions=writable, job_latency=0.01, **settings)
    target = tmp_path / "t.toml"
    target.write_text(server.target_text())
    return server, target, {**os.environ, **server.target_env()}


def test_one_lane_per_writable_session_on_an_array(tmp_path, monkeypatch):
    server, target, env = _target(tmp_path, 3)
    for k, v in server.target_env().items():
        monkeypatch.setenv(k, v)
    try:
        _lanes_chosen(target)
        # a wrong password: the check before the lanes start fails, so one lane, which stops with the reason
        monkeypatch.setenv("REC_SIM_ADMIN_PASSWORD", "wrong")
        out = tmp_path / "r"
        proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-target", str(target),
                               "--rec-report-dir", str(out), "-q"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=os.environ.copy())
    finally:
        server.stop()
    assert proc.returncode == 2, (proc.stdout + proc.stderr)[-2000:]
    # the cause once (not first as "one lane instead of 3: ...", which reads as if the run went on), and
    # the last line names it
    assert "one lane instead of" not in proc.stdout and proc.stdout.count("answered 401") == 1, proc.stdout
    assert proc.stdout.strip().splitlines()[-1].startswith("VERDICT: inconclusive (cannot log in as admin")
    summary = json.loads((out / "compliance.json").read_text())
    assert "cannot log in" in summary["verdict_reason"] and summary["verdict"] == "inconclusive"


def _lanes_chosen(target):
    args = _with_lanes(["--rec-target", str(target)])
    assert args[args.index("-n") + 1] == "3" and args[args.index("--rec-lanes") + 1] == "3"
    capped = _with_lanes(["--rec-target", str(target), "--rec-lanes", "2"])
    assert capped[capped.index("-n") + 1] == "2" and capped.count("--rec-lanes") == 1
    assert "-n" not in _with_lanes(["--rec-target", str(target), "--rec-lanes", "1"])
    assert _with_lanes(["--rec-target", str(target), "-n", "1"]) == ["--rec-target", str(target), "-n", "1"]
    assert "-n" not in _with_lanes([])                          # the built-in simulator: one lane
    assert "-n" in _with_lanes(["--rec-lanes", "2"])            # unless asked
    dry = _with_lanes(["--rec-target", str(target), "--rec-dry-run"])
    assert "-n" not in dry and dry[dry.index("--rec-lanes") + 1] == "3"       # a dry run only plans them


def test_matrix_lanes_are_balanced_by_jobs_not_cases():
    ordered = order(full_cases())
    runs = chunk(ordered, 3)
    jobs = [matrix_jobs(r) + setup_jobs(r) for r in runs]
    assert sum(len(r) for r in runs) == 288
    assert max(jobs) - min(jobs) <= 8, jobs               # equal case counts would give 97 / 46 / 40


PROBE = """
import pytest
from pytest_rec.plugin._xdist import check_weight

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        print("LANE", marker.args[0] if marker else None, item.nodeid.split("::")[-1].split("[")[0], check_weight(item))
"""


def test_shared_session_checks_stay_in_one_lane_and_the_rest_is_handed_out_heaviest_first(pytester, monkeypatch):
    """The matrix: one group per lane; the shared-session checks: one group of their own; every other
    check ungrouped (xdist hands it to the next lane short of work), the heaviest first, the
    expired-token check last; fuzzing cut into small checks (six parts per mode) handed out like the rest."""
    pytester.makepyfile(lane_probe=PROBE)
    monkeypatch.setenv("PYTHONPATH", str(pytester.path))
    out = pytester.runpytest_subprocess("--pyargs", "pytest_rec.suite", "-p", "no:cacheprovider", "--co", "-q", "-s",
                                        "--rec-lanes", "3", "-p", "lane_probe")
    lanes: dict[str, set[str]] = {}
    order, weights = [], []
    for line in out.stdout.lines:
        if line.startswith("LANE "):
            _, lane, name, weight = line.split()
            lanes.setdefault(lane, set()).add(name)
            if lane == "None":
                order.append(name)
                weights.append(float(weight))
    assert set(lanes) == {"rec-lane-0", "rec-lane-1", "rec-lane-2", "rec-lane-shared", "None"}, out.stdout.lines[-20:]
    shared = {"test_tenant_refused_on_each_local_side", "test_tenant_allowed_on_own_session",
              "test_tenant_allowed_on_own_destination_session", "test_suspend_first_on_named_active_sessions",
              "test_non_rec_session_refused", "test_walk_tenant"}
    assert lanes["rec-lane-shared"] == shared, lanes
    for k in range(3):
        assert lanes[f"rec-lane-{k}"] == {"test_patch"}, lanes
    assert not lanes["None"] & (shared | {"test_patch"})
    assert order.count("test_generated_bodies") == 12, order
    last = {"test_expired_token", "test_unwritten_sessions_unchanged_over_the_run"}      # rec_last: at the end
    assert weights[:-2] == sorted(weights[:-2], reverse=True), list(zip(order, weights))     # heaviest first
    assert set(order[-2:]) == last and order.index("test_sticky_manual_round_trip") < order.index(
        "test_unknown_id_is_404"), order


@pytest.mark.whole_run
def test_default_command_overlaps_lanes_and_is_compliant(tmp_path):
    """The default command against an array with three writable sessions: three lanes, each talking
    to the array at the same time as the others, every session its own lane's; compliant, exit 0. The
    array's reads lag its jobs a little: the summary gives the longest lag any lane saw."""
    server, target, env = _target(tmp_path, 3, read_lag=0.05)
    try:
        out = tmp_path / "r"
        proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-target", str(target),
                               "--rec-report-dir", str(out), "-q"], cwd=tmp_path, capture_output=True, text=True,
                              timeout=900, env=env)
        plan = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-target", str(target),
                               "--rec-report-dir", str(tmp_path / "plan"), "--rec-dry-run"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, env=env)
    finally:
        server.stop()
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    summary = json.loads((out / "compliance.json").read_text())
    assert summary["verdict"] == "compliant"
    sent = sum(len(f.read_text().splitlines()) for f in out.glob("transcript*.jsonl"))
    assert summary["exchanges_checked"] == sent and summary["server_errors"] == 0     # every lane's answers
    # the evidence a one-lane run has: the target as used, and the array's TLS certificate
    assert (out / "target.json").exists() and summary["provenance"].get("tls_certificate_sha256", "").count(":") == 31
    assert summary["longest_read_lag"] and summary["longest_read_lag"] >= 0.04, summary["longest_read_lag"]
    spans, writers = [], {}
    for f in sorted(out.glob("transcript.gw*.jsonl")):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        spans.append((min(r["started"] for r in rows), max(r["started"] for r in rows)))
        for r in rows:
            if r["method"] == "PATCH" and r["status"] == 202 and r["case"].startswith("test_patch["):
                writers.setdefault(r["path"], set()).add(f.name)
    assert len(spans) == 3
    assert max(s for s, _ in spans) < min(e for _, e in spans), spans       # the lanes overlap in time
    assert len(writers) == 3 and all(len(w) == 1 for w in writers.values()), writers   # one lane per session
    shared = {"test_tenant_refused_on_each_local_side", "test_tenant_allowed_on_own_session",
              "test_non_rec_session_refused", "test_walk_tenant"}
    lanes_of_shared = set()
    for f in out.glob("transcript.gw*.jsonl"):
        if any(json.loads(line)["case"].split("[")[0] in shared for line in f.read_text().splitlines()):
            lanes_of_shared.add(f.name)
    assert len(lanes_of_shared) == 1, lanes_of_shared          # the tenant / non-REC checks in one hand
    assert plan.returncode == 0 and "lanes: 3" in plan.stdout and "at 10 s/job" in plan.stdout, plan.stdout[-2000:]
