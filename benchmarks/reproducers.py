"""Reproducers for every defect profile (issue 31): each profile of the simulator is run whole at the default
settings (the built-in simulator); every reproducer the run writes (`reports/reproducers/<REQ>-<n>.sh`) is then
run with `sh FILE URL` against a fresh `rec-sim`-like array (TLS) with that defect, where it must exit 1 and
print the deviation, and against a correct one, where it must exit 0; each time every session must read at
the end as it started, and no password may show in its output. Prints a table (profiles whose deviations come
from no matrix or walk case write no reproducer: CONTRACT/issue 31, "walk or matrix"); with --write, the table
goes into docs/benchmarks.md between its reproducer markers.

    .venv/bin/python benchmarks/reproducers.py [--only NAME ...] [--per-profile N] [--write]
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

from pytest_rec.simulator import Array, Settings, SimulatorServer, load_inventory  # noqa: E402
from pytest_rec.simulator.defects import DEFECTS  # noqa: E402
from failure_path import write_section  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

MARK = ("<!-- reproducers:begin -->", "<!-- reproducers:end -->")


def modes(server: SimulatorServer) -> dict:
    return {sid: (cs.transfer_mode, cs.split_mode, cs.recovery_mode, cs.phase == "Suspend")
            for sid, cs in server.array.sessions.items()}


def replay(script: Path, defect: str | None) -> tuple[int, bool, bool, str]:
    """(exit code, every session as found, no secret in the output, the output's last line)."""
    server = SimulatorServer(Array(load_inventory(), Settings(defects=frozenset({defect} if defect else ()))),
                             tls=True).start()
    try:
        before = modes(server)
        env = {**os.environ, **server.target_env(), "REC_CACERT": str(server.ca_path)}
        proc = subprocess.run(["sh", str(script), server.base_url], capture_output=True, text=True, timeout=600,
                              env=env)
        time.sleep(0.1)
        text = proc.stdout + proc.stderr
        secret_free = not [v for v in server.target_env().values() if v and v in text]
        return proc.returncode, modes(server) == before, secret_free, (text.strip().splitlines() or [""])[-1]
    finally:
        server.stop()


def spread(scripts: list, n: int) -> list:
    """``n`` of ``scripts`` spread evenly over the list (the first, the last, and between: a walk's and the
    matrix's alike); all of them when ``n`` is 0 or at least their number."""
    if not n or n >= len(scripts):
        return scripts
    if n == 1:
        return scripts[:1]
    return [scripts[round(k * (len(scripts) - 1) / (n - 1))] for k in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None, help="these defect profiles only")
    ap.add_argument("--write", action="store_true", help="write the table into docs/benchmarks.md")
    ap.add_argument("--per-profile", type=int, default=3, metavar="N",
                    help="replay N reproducers of each profile, spread over its list (default 3; 0: all)")
    args = ap.parse_args()
    names = args.only or sorted(DEFECTS)
    began = time.monotonic()
    rows, bad = [], 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix="rec-repro-") as tmp:
            proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", f"{tmp}/reports", "-q",
                                   "--rec-sim-defect", name], cwd=tmp, capture_output=True, text=True, timeout=1800,
                                  env={**os.environ, "REC_HTML": "0"})
            summary = json.loads(Path(tmp, "reports", "compliance.json").read_text())
            scripts = sorted(Path(tmp, "reports", "reproducers").glob("*.sh"),
                             key=lambda p: (p.stem.rsplit("-", 1)[0], int(p.stem.rsplit("-", 1)[1])))
            shown = ok = as_found = secret_free = 0
            written = len(scripts)
            scripts = spread(scripts, args.per_profile)
            for script in scripts:
                code_d, found_d, clean_d, _ = replay(script, name)
                code_c, found_c, clean_c, _ = replay(script, None)
                shown += code_d == 1
                ok += code_c == 0
                as_found += found_d and found_c
                secret_free += clean_d and clean_c
            n = len(scripts)
            good = shown == ok == as_found == secret_free == n
            bad += not good
            rows.append((name, proc.returncode, n, shown, ok, as_found, secret_free, written))
            print(f"{name:<36} exit {proc.returncode}  reproducers {written:2d}, replayed {n:2d}  exit 1 with the defect {shown}/{n}  "
                  f"exit 0 correct {ok}/{n}  as found {as_found}/{n}  no secret {secret_free}/{n}  "
                  f"{'ok' if good else 'CHECK'}", flush=True)
    took = time.monotonic() - began
    with_any = [r for r in rows if r[7]]
    lines = [MARK[0], "",
             f"Reproducers (`benchmarks/reproducers.py`, {time.strftime('%Y-%m-%d')}, {took:.0f} s): every defect "
             f"profile run whole on the built-in simulator; each reproducer it wrote run as `sh FILE URL` against a "
             f"fresh `rec-sim` (TLS) with that defect and against a correct one. {len(with_any)} of {len(rows)} "
             f"profiles wrote reproducers (the others deviate only in checks that are neither matrix nor walk cases); "
             f"{sum(r[7] for r in rows)} scripts written, {sum(r[2] for r in rows)} replayed ("
             f"{f'{args.per_profile} of each profile, spread over its list' if args.per_profile else 'all of them'}).", "",
             "| defect profile | run exit | reproducers written | replayed | exit 1 with the defect | exit 0 on a correct array | every session as found (both) | no secret in the output |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{r[0]}` | {r[1]} | {r[7]} | {r[2]} | {r[3]} | {r[4]} | {r[5]} | {r[6]} |" for r in with_any]
    lines += ["", f"Profiles without a reproducer: {', '.join(f'`{r[0]}`' for r in rows if not r[7]) or 'none'}.",
              "", MARK[1]]
    if args.write:
        write_section(lines, MARK, "Reproducers")
    print(f"{len(with_any)} of {len(rows)} profiles wrote reproducers; {bad} profile(s) to CHECK; {took:.0f} s")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
