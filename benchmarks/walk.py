"""Walk benchmark (issue 31): a full run on rec-sim with and without the walk, on instant and on 0.25 s jobs;
for each history-dependent defect the steps to the first finding and to the shrunk sequence, the PATCHes
shrinking spent, and how many of N runs at the default settings caught it, on the built-in simulator and with
lanes (a `rec-sim`-like array and its target file; every named session must read at the end as it started). Writes its table into
docs/benchmarks.md between the walk markers.

    .venv/bin/python benchmarks/walk.py [--runs 10] [--no-slow]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pytest_rec.simulator.defects import DEFECTS  # noqa: E402
from pytest_rec.simulator.history import HISTORY_DEFECTS  # noqa: E402

BEGIN, END = "<!-- walk:begin -->", "<!-- walk:end -->"


def run(*args: str) -> tuple[float, int, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        proc = subprocess.run([str(ROOT / ".venv/bin/rec-compliance"), "--rec-report-dir", tmp, *args],
                              capture_output=True, text=True, env={"REC_HTML": "0", "PATH": "/usr/bin:/bin"},
                              cwd=tmp, timeout=1800)
        took = time.monotonic() - began
        summary = json.loads((Path(tmp) / "compliance.json").read_text())
        transcript = [json.loads(line) for f in Path(tmp).glob("transcript*.jsonl") for line in f.open()]
    summary["_walk_jobs"] = sum(1 for ex in transcript if ex["case"].startswith("test_walk") and ex["method"] == "PATCH"
                                and ex["status"] == 202)
    return took, proc.returncode, summary


def run_lanes(defect: str) -> tuple[int, dict, bool]:
    """A run with lanes (the default for a target file): a `rec-sim`-like array (TLS, its target file) with
    ``defect``; (exit code, summary, every named session as found)."""
    from pytest_rec.simulator import Array, Settings, SimulatorServer, load_inventory

    server = SimulatorServer(Array(load_inventory(), Settings(defects=frozenset({defect}))), tls=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / "target.toml"
            target.write_text(server.target_text())
            before = {sid: vars(cs).copy() for sid, cs in server.array.sessions.items()}
            proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-target", str(target),
                                   "--rec-report-dir", f"{tmp}/reports", "-q"], capture_output=True, text=True,
                                  cwd=tmp, timeout=1800, env={**os.environ, **server.target_env(), "REC_HTML": "0",
                                                              "REC_STATE_DIR": f"{tmp}/state"})
            summary = json.loads((Path(tmp) / "reports" / "compliance.json").read_text())
            keys = ("transfer_mode", "split_mode", "recovery_mode", "phase")
            as_found = all({k: vars(cs).get(k) for k in keys} == {k: before[sid].get(k) for k in keys}
                           for sid, cs in server.array.sessions.items())
        return proc.returncode, summary, as_found
    finally:
        server.stop()


def walk_cells(summary: dict) -> tuple[str, str, str]:
    """(steps to the first finding, steps of the shrunk sequence, PATCHes shrinking spent) of the walks that found it."""
    found = [c["detail"] for c in summary["cases"] if c["id"].startswith("test_walk") and c["outcome"] == "failed"]
    first, shrunk, jobs = [], [], []
    for d in found:
        m = re.search(r"(\d+) step\(s\) until the deviation; (?:shrunk to (\d+) step\(s\) with (\d+) PATCH)?", d)
        if m:
            first.append(m.group(1))
            shrunk.append(m.group(2) or "-")
            jobs.append(m.group(3) or "-")
    return ", ".join(first) or "-", ", ".join(shrunk) or "-", ", ".join(jobs) or "-"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-slow", action="store_true", help="leave out the 0.25 s job runs (about 4 minutes)")
    opts = ap.parse_args()
    began = time.monotonic()
    rows = ["| run | walk | seconds | exit | verdict | walk PATCHes (202) |", "|---|---|---|---|---|---|"]
    for latency in ([] if opts.no_slow else ["0.25"]) + [None]:
        extra = ["--rec-sim-option", f"job_latency={latency}"] if latency else []
        times = {}
        for walk in ("0", None):
            took, code, summary = run(*extra, *(["--rec-walk-steps", walk] if walk else []))
            times[walk] = took
            rows.append(f"| rec-sim{', ' + latency + ' s jobs' if latency else ', instant jobs'} | "
                        f"{'off' if walk else 'default'} | {took:.1f} | {code} | {summary['verdict']} | "
                        f"{summary['_walk_jobs']} |")
        rows.append(f"| | walk adds | {100 * (times[None] / times['0'] - 1):+.0f}% | | | |")
    rows += ["", f"| history defect | rule | steps 0 | caught, default settings | caught with lanes (its target file) | "
                 f"steps to the first finding | shrunk to (steps) | shrinking PATCHes |", "|---|---|---|---|---|---|---|---|"]
    for name in HISTORY_DEFECTS:
        _, code0, s0 = run("--rec-sim-defect", name, "--rec-walk-steps", "0")
        caught, cells = 0, None
        for _ in range(opts.runs):
            _, code, summary = run("--rec-sim-defect", name)
            failed = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
            caught += code == 1 and failed == set(DEFECTS[name].breaks) and not summary["restore"]["failed"]
            cells = cells or walk_cells(summary)
        lanes = 0
        for _ in range(opts.runs):
            code, summary, as_found = run_lanes(name)
            failed = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
            lanes += code == 1 and failed == set(DEFECTS[name].breaks) and not summary["restore"]["failed"] and as_found
        rows.append(f"| `{name}` | {', '.join(sorted(DEFECTS[name].breaks))} | {s0['verdict']} (exit {code0}) | "
                    f"{caught} of {opts.runs} | {lanes} of {opts.runs} | {cells[0]} | {cells[1]} | {cells[2]} |")
    text = "\n".join([f"Walks (`benchmarks/walk.py`, {time.strftime('%Y-%m-%d')}, {time.monotonic() - began:.0f} s "
                      "in all; one run each for the timings, on a shared 2-core machine):", "", *rows, ""])
    doc = ROOT / "docs" / "benchmarks.md"
    body = doc.read_text()
    if BEGIN in body:
        body = body[:body.index(BEGIN) + len(BEGIN)] + "\n\n" + text + "\n" + body[body.index(END):]
    else:
        body += f"\n## Walks\n\n{BEGIN}\n\n{text}\n{END}\n"
    doc.write_text(body)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
