"""The default command on arrays with slow jobs (issues 18 and 29): lanes, jobs per case, overlap.

    .venv/bin/python benchmarks/lanes.py [--array lanes|unlike] [--runs N] [--baseline]

Two arrays, both built from the simulator's options, both with 0.25 s jobs, three writable sessions
and a 503 on every 37th request without Retry-After:
- ``lanes``: the project's own lanes array (nothing else);
- ``unlike``: an array unlike the project's simulator (issue 29): reads that lag 300 ms after a job,
  ``GET /copysession`` in 2 pages, and the active Stack session the target names in ``sessions.active``.

``benchmarks/bench.py`` calls ``lanes()`` for docs/benchmarks.md; run alone, this prints one line a run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_rec.client.rest import Credentials, RecClient  # noqa: E402
from pytest_rec.simulator import Array, Settings, SimulatorServer, load_inventory  # noqa: E402

PY = sys.executable
LANE_LATENCY, LANE_SESSIONS, LANE_BUSY = 0.25, 3, 37
ARRAYS = {
    "lanes": {},
    # 12 sessions in the built-in inventory: 6 a page gives 2 pages; its target names session 9 (an
    # active Stack session, Copying) under sessions.active
    "unlike": {"read_lag": 0.3, "page_size": 6},
}


def transcript(out: Path) -> list[dict]:
    rows = []
    for f in sorted(out.glob("transcript*.jsonl")):
        rows += [json.loads(line) for line in f.read_text().splitlines()]
    return rows


def lane_array(tmp: Path, retry_after: int = 0, kind: str = "lanes"):
    """A simulator started like `rec-sim --tls --job-latency 0.25 --fault writable_sessions=3
    --fault busy_every=37 --fault busy_retry_after=0` (a plain 503: the reference documents no
    Retry-After) plus the options of ``ARRAYS[kind]``, and a target file for it."""
    tmp.mkdir(parents=True, exist_ok=True)
    settings = Settings(job_latency=LANE_LATENCY, busy_every=LANE_BUSY, busy_retry_after=retry_after,
                        writable_sessions=LANE_SESSIONS, **ARRAYS[kind])
    server = SimulatorServer(Array(load_inventory(), settings), tls=True).start()
    target = tmp / "target.toml"
    target.write_text(server.target_text())
    return server, target, {**os.environ, **server.target_env(), "REC_STATE_DIR": str(tmp / "state"),
                            "REC_HTML": "0"}


def compliance(tmp: Path, target: Path, env: dict, *args: str) -> tuple[float, dict, int]:
    """The default command (`rec-compliance`), timed from outside."""
    tmp.mkdir(parents=True, exist_ok=True)
    out = tmp / "reports"
    t = time.perf_counter()
    proc = subprocess.run([PY, "-m", "pytest_rec.cli", "--rec-target", str(target), "--rec-report-dir", str(out),
                           "-q", *args], cwd=tmp, capture_output=True, text=True, timeout=3600, env=env)
    wall = time.perf_counter() - t
    return wall, json.loads((out / "compliance.json").read_text()), proc.returncode


def naive_matrix(target: Path, env: dict) -> tuple[float, int]:
    """The sequential baseline's matrix: one session, every case's starting state set from scratch
    (from a fixed base state, through the suite's own legal setup path), then the PATCH under test,
    its job and a GET. Returns (seconds, jobs)."""
    from pytest_rec.engine.context import make_guard
    from pytest_rec.model.matrix import full_cases
    from pytest_rec.model.behaviour import Modes, setup_path
    from pytest_rec.engine.sessions import Operator
    from pytest_rec.model.target import load_target

    old = dict(os.environ)
    os.environ.update(env)
    try:
        t_ = load_target(str(target))
        u = t_.users["admin"]
        admin = RecClient(t_.url, Credentials("admin", u.name, u.password(t_.source)), verify=t_.verify,
                          guard=make_guard(t_)).login()
    finally:
        os.environ.clear()
        os.environ.update(old)
    op = Operator(t_, admin, 60)
    sid, base = t_.writable[0], Modes("Synchronous", "Automatic", "Automatic")
    original = op.read(sid)
    jobs = 0
    start = time.perf_counter()
    st = op.suspend(sid) if not original.suspended else original
    for case in full_cases():
        for body in setup_path(st.modes, base) + setup_path(base, case.start):   # from scratch, every time
            admin.run_job(admin.patch(sid, body), "naive setup", 60)
            jobs += 1
        resp = admin.patch(sid, case.body_dict)
        if resp.status_code == 202:
            admin.run_job(resp, "naive case", 60)
            jobs += 1
        st = op.read(sid)
    seconds = time.perf_counter() - start
    for body in setup_path(st.modes, original.modes):
        admin.run_job(admin.patch(sid, body), "put back", 60)
    if not original.suspended:
        op.resume(sid)
    admin.close()
    return seconds, jobs


def jobs_per_case(summary: dict) -> dict:
    """The summary's jobs per case (issue 29), or what the transcript gives when it has none."""
    return summary.get("jobs") or {}


def jobs_text(jobs: dict) -> str:
    """The summary's jobs per check as the benchmark table says them."""
    if not jobs:
        return "n/a (no jobs in the summary)"
    m = jobs["matrix"]
    return (f"{jobs['per_check']} per check ({jobs['total']} jobs / {jobs['checks']} checks, setup and restore "
            f"included); matrix {m['per_case']} per case ({m['jobs']} / {m['cases']})")


def lanes(tmp: Path, repeats: int = 5, retry_after: int = 0, baseline: bool = True, kind: str = "lanes") -> dict:
    """The default command against an array of ``ARRAYS[kind]``, `repeats` times; and (``baseline``) a
    sequential baseline that sets each starting state from scratch (the naive matrix, plus the same
    checks outside the matrix in one lane)."""
    server, target, env = lane_array(tmp, retry_after, kind)
    naive_s = naive_jobs = rest_wall = float("nan")
    try:
        runs = []
        for k in range(repeats):
            wall, summary, code = compliance(tmp / f"default-{k}", target, env)
            ex = transcript(tmp / f"default-{k}" / "reports")
            jobs = sum(1 for e in ex if e["status"] == 202)
            span = max(e["started"] + e["elapsed_ms"] / 1000 for e in ex) - min(e["started"] for e in ex)
            lanes_of = per_lane(tmp / f"default-{k}" / "reports")
            runs.append({"wall": wall, "span": span, "jobs": jobs, "verdict": summary["verdict"], "code": code,
                         "lanes": len(lanes_of), "per_lane": lanes_of, "per_case": jobs_per_case(summary)})
        if baseline:
            naive_s, naive_jobs = naive_matrix(target, env)
            rest_wall, _, _ = compliance(tmp / "baseline-rest", target, env, "--rec-lanes", "1", "-k", "not test_patch")
    finally:
        server.stop()
    good = [r for r in runs if r["code"] == 0] or runs
    best = min(good, key=lambda r: r["wall"])          # the fastest run that went through
    n_lanes = best["lanes"]
    ideal = best["jobs"] * LANE_LATENCY / n_lanes
    base = naive_s + rest_wall
    lanes_ = best["per_lane"]
    # each lane: its jobs x latency over the time it talked to the array less its waits after a 503:
    # how busy a lane keeps its session
    util = sum(lane["jobs"] * LANE_LATENCY for lane in lanes_) / sum(lane["span"] - lane["busy_wait"] for lane in lanes_)
    # the floor an array whose reads lag sets: each lane's jobs, and the lag of each change it judges
    lag = ARRAYS[kind].get("read_lag", 0.0)
    floor = max(lane["jobs"] * LANE_LATENCY + lane["lagged"] * lag for lane in lanes_)
    return {"kind": kind, "floor": floor, "eff_floor": floor / best["span"], "lagged": sum(l_["lagged"] for l_ in lanes_), "runs": runs, "best": best, "lanes": n_lanes, "ideal": ideal, "baseline": base,
            "naive_s": naive_s, "naive_jobs": naive_jobs, "rest_wall": rest_wall,
            "ratio": base / best["wall"], "eff_span": ideal / best["span"], "eff_wall": ideal / best["wall"],
            "busy_wait": max(lane["busy_wait"] for lane in lanes_), "busy": sum(lane["busy"] for lane in lanes_),
            "util": util, "lane_spans": [round(lane["span"], 1) for lane in lanes_],
            "compliant": sum(1 for r in runs if r["verdict"] == "compliant" and r["code"] == 0)}


def lagged_changes(rows: list[dict]) -> int:
    """Changes whose judging read must wait out a read lag: a PATCH taken (202) whose body sets a field
    to another value than the session's last read showed."""
    last: dict[str, dict] = {}
    n = 0
    for r in rows:
        path = r["path"]
        if r["method"] == "GET" and "/copysession/" in path and r["status"] == 200 and isinstance(r["response_body"], dict):
            last[path] = r["response_body"]
        elif r["method"] == "PATCH" and r["status"] == 202 and isinstance(r["request_body"], dict):
            seen = last.get(path, {})
            if any(seen.get(k) != v for k, v in r["request_body"].items()):
                n += 1
    return n


def per_lane(reports: Path) -> list[dict]:
    out = []
    for f in sorted(reports.glob("transcript*.jsonl")):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        if not rows:
            continue
        span = max(r["started"] + r["elapsed_ms"] / 1000 for r in rows) - min(r["started"] for r in rows)
        waits = sum(b["started"] - a["started"] for a, b in zip(rows, rows[1:]) if a["status"] == 503)
        out.append({"jobs": sum(1 for r in rows if r["status"] == 202), "span": span, "busy_wait": waits,
                    "busy": sum(1 for r in rows if r["status"] == 503), "lagged": lagged_changes(rows)})
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--array", choices=sorted(ARRAYS), default="lanes")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--baseline", action="store_true", help="also the sequential from-scratch baseline")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix=f"rec-lanes-{args.array}-"))
    r = lanes(tmp, repeats=args.runs, baseline=args.baseline, kind=args.array)
    for run in r["runs"]:
        print(json.dumps({k: run[k] for k in ("wall", "span", "jobs", "verdict", "code", "per_case")}))
    print(json.dumps({"array": args.array, "jobs": r["best"]["jobs"], "ideal": round(r["ideal"], 1),
                      "span": round(r["best"]["span"], 1), "wall": round(r["best"]["wall"], 1),
                      "efficiency_span": round(r["eff_span"], 3), "efficiency_wall": round(r["eff_wall"], 3),
                      "lag_floor": round(r["floor"], 1), "efficiency_floor": round(r["eff_floor"], 3),
                      "lane_spans": r["lane_spans"], "busy": r["busy"], "util": round(r["util"], 3),
                      "baseline": round(r["baseline"], 1), "ratio": round(r["ratio"], 2), "folder": str(tmp)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
