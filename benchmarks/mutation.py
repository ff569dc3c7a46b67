"""Mutation score of the compliance suite: mutants that no one here chose.

mutmut (pinned in the ``mutation`` extra) mutates the simulator's rule logic — PATCH validation and
state change, the tenant, state and suspend/resume checks, and the job that applies a change — and runs
the compliance suite at ``--rec-depth full`` against each mutant. A mutant is caught when the suite
fails (or hangs past mutmut's timeout); it survives when the suite passes.

The simulator is run the way CI runs it, in both refusal styles: every mutant runs against the
immediate style (4xx at once); the survivors in the PATCH logic run again with ``refusals=job`` (202,
then the job ends in Error). A mutant caught by either run is caught.

Every surviving mutant must match an entry of ``benchmarks/mutation-reasons.toml`` saying why it
survives: ``equivalent`` (no behaviour change) or ``outside-reference`` (a behaviour the reference
does not define). A survivor with no reason, or one marked ``gap``, fails this script (exit 1).

    bash rec.sh mutation                          # set up, then run this script
    .venv/bin/python benchmarks/mutation.py       # writes docs/mutation.md and the README table
    .venv/bin/python benchmarks/mutation.py --functions _tenant_may   # a part, for a quick look

Results are cached per configuration under ``.mutation/`` (mutmut's own cache); ``--fresh`` starts
over. Lines of defect and fault injection carry ``# pragma: no mutate``; they are listed in the
report, so the exclusion is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path(os.environ.get("REC_MUTATION_WORK", ROOT / ".mutation"))
# The rule logic of the call under test (issue 6): validation and state change of PATCH, the tenant
# and state checks, suspend and resume, and the job that applies a change. Each function lives in one
# class of one module of the simulator (issue 12 split the array by concern); mutmut mutates the
# modules listed in pyproject.toml [tool.mutmut] only_mutate, which must be exactly SOURCES.
HOMES = {   # module file -> (module, class)
    "pytest_rec/simulator/rules.py": ("pytest_rec.simulator.rules", "PatchRules"),
    "pytest_rec/simulator/tenants.py": ("pytest_rec.simulator.tenants", "Tenants"),
    "pytest_rec/simulator/jobs.py": ("pytest_rec.simulator.jobs", "Jobs"),
    "pytest_rec/simulator/suspend.py": ("pytest_rec.simulator.suspend", "SuspendResume"),
}
SOURCES = tuple(HOMES)
# tick (issue 16): the order in which jobs settle, which REC-SERIAL relies on (no accepted change lost)
CALL_UNDER_TEST = ("patch", "_state_refusal", "_apply_rules", "_finish_patch", "_tenant_may", "_finish", "tick")
SUPPORTING = ("suspend", "resume", "_finish_suspend", "_finish_resume", "_visible",
              "_local_volume")                               # what the suite uses to reach a state
FUNCTIONS = CALL_UNDER_TEST + SUPPORTING
HOME_OF = {   # function -> module file
    **{fn: "pytest_rec/simulator/rules.py" for fn in ("patch", "_state_refusal", "_apply_rules", "_finish_patch")},
    **{fn: "pytest_rec/simulator/tenants.py" for fn in ("_tenant_may", "_visible", "_local_volume")},
    "_finish": "pytest_rec/simulator/jobs.py",
    "tick": "pytest_rec/simulator/jobs.py",
    **{fn: "pytest_rec/simulator/suspend.py" for fn in ("suspend", "resume", "_finish_suspend", "_finish_resume")},
}
CONFIGS = {"immediate": [], "job": ["--rec-sim-option", "refusals=job"]}
# mutmut's words for a mutant's outcome. "check was interrupted by user" is pytest exit 2: the plugin
# stopped the run (preflight refused the target), which a user sees as an inconclusive verdict.
CAUGHT = {"killed": "killed", "timeout": "timeout", "segfault": "crashed",
          "check was interrupted by user": "stopped"}
SURVIVED = {"survived", "no tests"}
REASONS = ("equivalent", "outside-reference", "gap")


def mutmut_bin() -> str:
    exe = Path(sys.executable).with_name("mutmut")
    if not exe.exists():
        sys.exit("mutmut is not installed in this environment: run `bash rec.sh mutation` (it installs the "
                 "`mutation` extra) or `pip install -e '.[mutation]'`")
    return str(exe)


def prepare(name: str, extra_args: list[str], fresh: bool) -> Path:
    """A scratch copy of the tracked sources with the mutmut configuration of one refusal style."""
    where = WORK / name
    if fresh and where.exists():
        shutil.rmtree(where)
    tracked = subprocess.run(["git", "ls-files", "pytest_rec", "specs", "benchmarks", "pyproject.toml"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for rel in tracked:
        src, dst = ROOT / rel, where / rel
        copy = where / "mutants" / rel       # mutmut copies sources once; keep its copy of the suite current
        if rel not in SOURCES and copy.is_file() and not src.is_symlink() and copy.read_bytes() != src.read_bytes():
            shutil.copy2(src, copy)
        if dst.is_symlink() or dst.exists():
            if not src.is_symlink() and dst.is_file() and dst.read_bytes() == src.read_bytes():
                continue
            if dst.is_dir() and not dst.is_symlink():
                shutil.rmtree(dst)
            else:
                dst.unlink()
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            shutil.copy2(src, dst)
    py = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mutmut"]
    args = list(py["pytest_add_cli_args"]) + extra_args
    text = (where / "pyproject.toml").read_text(encoding="utf-8")
    text = re.sub(r"^pytest_add_cli_args = .*$", "pytest_add_cli_args = " + json.dumps(args), text, flags=re.M)
    (where / "pyproject.toml").write_text(text, encoding="utf-8")
    return where


def forget_survivors(where: Path) -> None:
    n = 0
    for source in SOURCES:
        meta = where / "mutants" / (source + ".meta")
        if not meta.exists():
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes = data["exit_code_by_key"]
        for name, code in codes.items():
            if code == 0 or code in (5, 33):
                codes[name] = None
                n += 1
        meta.write_text(json.dumps(data), encoding="utf-8")
    print(f"mutation: {where.name}: {n} surviving mutants will run again", flush=True)


def statuses(where: Path) -> dict[str, str]:
    out = subprocess.run([mutmut_bin(), "results", "--all", "true"], cwd=where, capture_output=True, text=True)
    found = {}
    for line in out.stdout.splitlines():
        m = re.match(r"\s*(\S+__mutmut_\d+): (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def function_of(name: str) -> str | None:
    """The rule-logic function a mutmut mutant name belongs to (None for anything else)."""
    for module, cls in HOMES.values():
        m = re.match(rf"{re.escape(module)}\.xǁ{cls}ǁ(\w+?)__mutmut_\d+$", name)
        if m:
            return m.group(1)
    return None


def pattern_of(function: str) -> str:
    """mutmut's name pattern for every mutant of one rule-logic function."""
    module, cls = HOMES[HOME_OF[function]]
    return f"{module}.xǁ{cls}ǁ{function}__mutmut_*"


def run_mutmut(where: Path, names: list[str], log: Path) -> None:
    started = time.time()
    print(f"mutation: {where.name}: {len(names)} name patterns or mutants (log: {log})", flush=True)
    with log.open("a", encoding="utf-8") as fh:
        proc = subprocess.run([mutmut_bin(), "run", *names], cwd=where, stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    took = time.time() - started
    print(f"mutation: {where.name}: mutmut exit {proc.returncode} after {took:.0f} s", flush=True)
    run_file = WORK / "run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else {}
    run = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "seconds": run.get("seconds", 0) + took}
    run_file.write_text(json.dumps(run))
    if proc.returncode != 0:
        sys.exit(f"mutmut failed in {where}; see {log}")


def diff_of(where: Path, name: str) -> tuple[str, str]:
    """(original line(s), mutated line(s)) of one mutant, from ``mutmut show``."""
    out = subprocess.run([mutmut_bin(), "show", name], cwd=where, capture_output=True, text=True).stdout
    minus = [ln[1:].strip() for ln in out.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    plus = [ln[1:].strip() for ln in out.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    return " / ".join(minus), " / ".join(plus)


@dataclass
class Reason:
    kind: str
    why: str
    function: str
    original: str
    mutated: str | None = None
    used: int = 0


def load_reasons() -> list[Reason]:
    data = tomllib.loads((ROOT / "benchmarks" / "mutation-reasons.toml").read_text(encoding="utf-8"))
    reasons = []
    for entry in data.get("survivor", []):
        if entry["reason"] not in REASONS:
            sys.exit(f"mutation-reasons.toml: reason {entry['reason']!r} is not one of {REASONS}")
        reasons.append(Reason(entry["reason"], entry["why"], entry["function"], entry["original"],
                              entry.get("mutated")))
    return reasons


def reason_for(reasons: list[Reason], function: str, original: str, mutated: str) -> Reason | None:
    for r in reasons:
        if r.function == function and r.original in original and (r.mutated is None or r.mutated in mutated):
            r.used += 1
            return r
    return None


def excluded_lines() -> list[tuple[str, int, str]]:
    out = []
    for source in SOURCES:
        lines = (ROOT / source).read_text(encoding="utf-8").splitlines()
        out += [(source, i + 1, ln.strip()) for i, ln in enumerate(lines) if "# pragma: no mutate" in ln]
    return out


@dataclass
class Outcome:
    name: str
    function: str
    status: str
    caught_by: str = ""
    original: str = ""
    mutated: str = ""
    reason: Reason | None = field(default=None, repr=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--functions", nargs="*", default=list(FUNCTIONS), help="rule-logic functions to mutate")
    ap.add_argument("--fresh", action="store_true", help="discard cached results and start over")
    ap.add_argument("--no-write", action="store_true", help="print the report, write no file")
    ap.add_argument("--report-only", action="store_true",
                    help="run no mutant: write the report from the results cached under .mutation/")
    ap.add_argument("--rerun-survivors", action="store_true",
                    help="forget the cached result of every surviving mutant (after the suite changed)")
    opts = ap.parse_args()
    functions = tuple(opts.functions)
    started = time.time()
    WORK.mkdir(exist_ok=True)
    if opts.fresh:
        (WORK / "run.json").unlink(missing_ok=True)     # the time of all mutmut runs since the last --fresh

    outcomes: dict[str, Outcome] = {}
    pending: list[str] | None = None
    first: Path | None = None
    for config, extra in CONFIGS.items():
        where = prepare(config, extra, opts.fresh)
        if opts.rerun_survivors:
            forget_survivors(where)
        if pending is None:
            patterns = [pattern_of(fn) for fn in functions]
            if not opts.report_only:
                run_mutmut(where, patterns, WORK / f"{config}.log")
            for name, status in statuses(where).items():
                fn = function_of(name)
                if fn in functions:
                    outcomes[name] = Outcome(name, fn, status, config if status in CAUGHT else "")
        elif pending:
            # the refusal style changes only how PATCH refuses: rerun the PATCH logic's survivors
            rerun = [n for n in pending if outcomes[n].function in CALL_UNDER_TEST]
            if rerun and not opts.report_only:
                run_mutmut(where, rerun, WORK / f"{config}.log")
            for name, status in statuses(where).items() if rerun else ():
                if name in rerun:
                    if status in CAUGHT:
                        outcomes[name].status, outcomes[name].caught_by = status, config
                    elif status != outcomes[name].status:
                        outcomes[name].status = f"{outcomes[name].status} / {status}"
        pending = sorted(n for n, o in outcomes.items() if o.status not in CAUGHT)
        first = first or where
    if not outcomes:
        sys.exit("mutation: mutmut reported no mutant in scope")
    unrun = sorted(n for n, o in outcomes.items() if o.status not in CAUGHT and o.status not in SURVIVED)
    if unrun:
        sys.exit(f"mutation: {len(unrun)} mutants have no result ({outcomes[unrun[0]].status}: {unrun[0]}, ...); "
                 "run again to finish (results so far are cached)")

    reasons = load_reasons()
    unexplained, gaps = [], []
    for name in pending or []:
        o = outcomes[name]
        o.original, o.mutated = diff_of(first, name)
        o.reason = reason_for(reasons, o.function, o.original, o.mutated)
        if o.reason is None:
            unexplained.append(o)
        elif o.reason.kind == "gap":
            gaps.append(o)

    doc = render(outcomes, functions, time.time() - started)
    print(doc)
    if not opts.no_write and set(functions) == set(FUNCTIONS):
        sys.path.insert(0, str(ROOT))
        from benchmarks.publish import publish

        publish("mutation", doc, summary_table(outcomes))
    stale = [r for r in reasons if not r.used and r.function in functions]
    for r in stale:
        print(f"mutation: note: reason entry for {r.function}: {r.original!r} matched no survivor", file=sys.stderr)
    if unexplained or gaps:
        for o in unexplained:
            print(f"mutation: UNEXPLAINED survivor {o.name}: {o.original!r} -> {o.mutated!r}", file=sys.stderr)
        for o in gaps:
            print(f"mutation: GAP {o.name}: {o.original!r} -> {o.mutated!r}: {o.reason.why}", file=sys.stderr)
        return 1
    return 0


def counts(outcomes: dict[str, Outcome]) -> dict[str, int]:
    c = {"total": len(outcomes), "killed": 0, "timeout": 0, "crashed": 0, "stopped": 0, "equivalent": 0,
         "outside-reference": 0, "gap": 0, "unexplained": 0}
    for o in outcomes.values():
        if o.status in CAUGHT:
            c[CAUGHT[o.status]] += 1
        elif o.reason is None:
            c["unexplained"] += 1
        else:
            c[o.reason.kind] += 1
    return c


def caught_of(c: dict[str, int]) -> int:
    return c["killed"] + c["timeout"] + c["crashed"] + c["stopped"]


def score(c: dict[str, int]) -> str:
    caught = caught_of(c)
    killable = c["total"] - c["equivalent"]
    judged = caught + c["gap"] + c["unexplained"]      # mutants that change a behaviour the rules define

    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}%" if b else "n/a"

    return (f"{caught}/{c['total']} of all ({pct(caught, c['total'])}); {caught}/{killable} of the non-equivalent "
            f"({pct(caught, killable)}); {caught}/{judged} of those that change a judged behaviour "
            f"({pct(caught, judged)})")


def summary_table(outcomes: dict[str, Outcome]) -> str:
    rows = []
    for label, fns in (("PATCH: validation, state and tenant checks, the job that applies it", CALL_UNDER_TEST),
                       ("supporting calls: suspend, resume, visibility", SUPPORTING),
                       ("**all**", FUNCTIONS)):
        c = counts({n: o for n, o in outcomes.items() if o.function in fns})
        if not c["total"]:
            continue
        rows.append(f"| {label} | {c['total']} | {c['killed']} | {c['timeout'] + c['crashed']} | {c['stopped']} | "
                    f"{c['equivalent']} | {c['outside-reference']} | {c['gap']} | {c['unexplained']} | {score(c)} |")
    return "\n".join([
        "| rule logic mutated | mutants | killed (a check failed) | timed out or crashed | stopped (run refused, "
        "inconclusive) | survived: equivalent | survived: outside the reference | survived: gap "
        "| survived: unexplained | score |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows,
        "",
        "Reproduce: `bash rec.sh mutation` (mutmut over the simulator's rule logic, compliance suite at "
        "`--rec-depth full`); every survivor and its reason: [docs/mutation.md](docs/mutation.md)."])


def render(outcomes: dict[str, Outcome], functions: tuple[str, ...], seconds: float) -> str:
    rows = []
    for fn in functions:
        mine = [o for o in outcomes.values() if o.function == fn]
        c = counts({o.name: o for o in mine})
        rows.append(f"| `{fn}` | {c['total']} | {c['killed']} | {c['timeout'] + c['crashed']} | {c['stopped']} | "
                    f"{c['equivalent']} | {c['outside-reference']} | {c['gap']} | {c['unexplained']} |")
    by_config = {cfg: sum(1 for o in outcomes.values() if o.caught_by == cfg) for cfg in CONFIGS}
    survivors = sorted((o for o in outcomes.values() if o.status not in CAUGHT),
                       key=lambda o: (o.function, int(o.name.rsplit("_", 1)[1])))
    surv = [f"| `{o.name.split('ǁ')[-1]}` | {o.status} | `{o.original}` | `{o.mutated}` | "
            f"{o.reason.kind if o.reason else '**unexplained**'} | {o.reason.why if o.reason else ''} |"
            for o in survivors]
    excl = [f"| `{source.rsplit('/', 1)[-1]}`:{n} | `{text}` |" for source, n, text in excluded_lines()]
    run_file = WORK / "run.json"
    run = json.loads(run_file.read_text()) if run_file.exists() else {"date": "?", "seconds": seconds}
    import importlib.metadata as md

    return "\n".join([
        "# Mutation score", "",
        f"Produced by `.venv/bin/python benchmarks/mutation.py` ({run['date']}; mutmut ran for "
        f"{run['seconds'] / 60:.0f} min in all on {os.cpu_count()} cores, mutmut {md.version('mutmut')}). mutmut mutated the functions below of "
        f"{', '.join(f'`{s}`' for s in SOURCES)}; each mutant ran the compliance suite at `--rec-depth full` against the simulator, first "
        "with immediate refusals, then (survivors in the PATCH logic only) with `refusals=job`. Caught: the suite failed (killed) or "
        "ran past mutmut's timeout or crashed it; stopped: the plugin refused to go on (pytest exit 2, an "
        "inconclusive verdict), which no user would mistake for a pass. Score: caught over all mutants, over the "
        "mutants that are not equivalent, and over the mutants that change a behaviour a rule of CONTRACT section 2 "
        "judges (every mutant but the equivalent and outside-the-reference survivors).", "",
        summary_table(outcomes), "",
        f"Caught in the immediate style: {by_config['immediate']}; caught only in the job style: {by_config['job']}.",
        "", "## Per function", "",
        "| function | mutants | killed | timed out or crashed | stopped | equivalent | outside the reference | gap "
        "| unexplained |",
        "|---|---|---|---|---|---|---|---|---|", *rows, "",
        "## Every surviving mutant", "",
        "Reasons come from `benchmarks/mutation-reasons.toml` (matched on function and line text). "
        "*equivalent*: no behaviour a client can observe changes; *outside-reference*: the change is in a "
        "behaviour the reference (seed page and fact sheet) does not define, so no compliance check may "
        "judge it.", "",
        "| mutant | status | original | mutated | reason | why |", "|---|---|---|---|---|---|",
        *(surv or ["| (none) | | | | | |"]), "",
        "## Lines not mutated", "",
        "These lines of defect injection (the `--rec-sim-defect` profiles) and fault injection (simulator knobs "
        "that are off in a compliance run) carry `# pragma: no mutate`: in a clean run they are either never "
        "reached or only decide whether a defect is on, so every mutant of them would be equivalent.", "",
        "| line | code |", "|---|---|", *excl, ""])


if __name__ == "__main__":
    sys.exit(main())
