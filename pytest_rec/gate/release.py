"""Release gating over compliance summaries: `rec-compare OLD NEW` and `rec-merge DIR...`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

DEVIATING = ("failed", "known-deviation")


def _load(path: str | Path) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "compliance.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"cannot read compliance summary {p}: {exc}") from None


def deviations(summary: dict) -> set[tuple[str, str]]:
    """(requirement, case id) for every case that deviated, known or not."""
    out = set()
    for c in summary.get("cases", []):
        if c.get("outcome") in DEVIATING:
            for requirement in c.get("failed_requirements") or ["(unattributed)"]:
                out.add((requirement, c["id"]))
    return out


def compare(old: dict, new: dict) -> dict:
    a, b = deviations(old), deviations(new)
    old_req = {r["id"]: r["verdict"] for r in old.get("requirements", [])}
    new_req = {r["id"]: r["verdict"] for r in new.get("requirements", [])}
    new_cases = {c["id"] for c in new.get("cases", [])}
    old_cases = {c["id"] for c in old.get("cases", [])}
    return {
        "new": sorted(b - a),
        # a deviation is fixed only where the new run ran that case
        "fixed": sorted(d for d in a - b if d[1] in new_cases),
        "not_compared": sorted(d for d in a - b if d[1] not in new_cases),
        "unchanged": sorted(a & b),
        "pass_to_error": sorted(r for r, v in new_req.items()
                                if old_req.get(r) == "pass" and v in ("error", "not-run")),
        "requirements_added": sorted(set(new_req) - set(old_req)),
        "requirements_removed": sorted(set(old_req) - set(new_req)),
        "cases_only_old": len(old_cases - new_cases), "cases_only_new": len(new_cases - old_cases),
        "depth": (old.get("depth"), new.get("depth")),
        "verdict": (old.get("verdict"), new.get("verdict")),
        "firmware": (old.get("target", {}).get("firmware"), new.get("target", {}).get("firmware")),
    }


def load_known_file(path: str | None):
    """The known-deviations file of ``--rec-known`` (the same file ``rec-compliance --rec-known-deviations``
    takes), or an empty list; a broken file is a usage error (exit 2, naming the entry)."""
    if not path:
        return []
    from ..errors import KnownDeviationsError
    from .known import load_known

    try:
        return load_known(path)
    except KnownDeviationsError as exc:
        raise SystemExit(f"known-deviations file: {exc}") from None


def known_apart(pairs: list, known: list, summary: dict) -> tuple[list, list]:
    """Split (requirement, case id) pairs into those no entry of ``known`` covers and the known ones,
    each known one with its ticket: (requirement, case id, ticket)."""
    firmware = (summary.get("target") or {}).get("firmware")
    new, covered = [], []
    for req, case in pairs:
        hit = next((k for k in known if k.applies(req, case, firmware)), None)
        if hit is None:
            new.append((req, case))
        else:
            covered.append((req, case, hit.ticket))
    return new, covered


def compare_markdown(diff: dict) -> str:
    lines = [f"# Compliance comparison: {diff['firmware'][0]} -> {diff['firmware'][1]}", "",
             f"Verdict: {diff['verdict'][0]} -> {diff['verdict'][1]}; depth: {diff['depth'][0]} -> {diff['depth'][1]}", ""]
    if diff["depth"][0] != diff["depth"][1]:
        lines += [f"**Different depths**: {diff['cases_only_old']} case(s) ran only in the old run and "
                  f"{diff['cases_only_new']} only in the new one; those are not compared.", ""]
    for title, key in (("New deviations", "new"), ("Known deviations (ticketed, in the known-deviations file)",
                                                    "known"), ("Fixed", "fixed"), ("Unchanged deviations", "unchanged"),
                       ("Deviations not compared (case not run in the new run)", "not_compared")):
        if key not in diff:
            continue
        lines.append(f"## {title} ({len(diff[key])})")
        lines += [f"- {d[0]}: `{d[1]}`" + (f" ({d[2]})" if len(d) > 2 else "") for d in diff[key][:200]] or ["None."]
        lines.append("")
    lines.append(f"## Requirements that went from pass to error or not-run ({len(diff['pass_to_error'])})")
    lines += [f"- {r}" for r in diff["pass_to_error"]] or ["None."]
    if diff["requirements_added"] or diff["requirements_removed"]:
        lines += ["", f"Requirements added: {', '.join(diff['requirements_added']) or 'none'}; "
                      f"removed: {', '.join(diff['requirements_removed']) or 'none'}"]
    return "\n".join(lines) + "\n"


def _quiet_on_closed_pipe() -> None:
    """`rec-compare ... | head`: end quietly when the reader closes the pipe, as other command-line
    tools do (the default SIGPIPE action), instead of a BrokenPipeError traceback."""
    import signal

    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def compare_main(argv: list[str] | None = None) -> int:
    """Exit 1 on any new deviation; 2 when a passing requirement could no longer be checked, or the new
    run checked less than the old one (a narrower depth, a dry run, narrowed by the user); else 0."""
    _quiet_on_closed_pipe()
    p = argparse.ArgumentParser(prog="rec-compare", description=compare_main.__doc__)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("-o", "--output", help="also write the Markdown here")
    _known_option(p)
    args = p.parse_args(argv)
    try:
        known = load_known_file(args.known)
    except SystemExit as exc:
        print(f"rec-compare: {exc}", file=sys.stderr)
        return 2
    old, new = _load(args.old), _load(args.new)
    diff = compare(old, new)
    if args.known:               # a ticketed deviation is reported apart and does not fail the gate
        diff["new"], diff["known"] = known_apart(diff["new"], known, new)
    md = compare_markdown(diff)
    less = checked_less(old, new)
    if less:
        md += f"\nThe new run checked less than the old one ({less}): no new deviation here does not mean none.\n"
    print(md)
    if args.output:
        Path(args.output).write_text(md, encoding="utf-8")
    return 1 if diff["new"] else 2 if diff["pass_to_error"] or less else 0


def _known_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rec-known", "--rec-known-deviations", dest="known", metavar="FILE",
                   help="a known-deviations file (as rec-compliance --rec-known-deviations takes): the deviations "
                        "it lists are reported apart as known and do not make the exit code 1")


def checked_less(old: dict, new: dict) -> str:
    """Why the new run cannot stand for the old one's scope (a narrower depth, a dry run, a run the
    user narrowed), or "": a gate must not go green on a smoke run compared with a full one."""
    order = {"smoke": 0, "pairwise": 1, "full": 2}
    why = []
    if order.get(new.get("depth"), 0) < order.get(old.get("depth"), 0):
        why.append(f"depth {new.get('depth')} against {old.get('depth')}")
    if new.get("dry_run"):
        why.append("a dry run")
    if new.get("narrowed") and not old.get("narrowed"):
        why.append("narrowed by the user: " + "; ".join(new["narrowed"]))
    return ", ".join(why)


# --------------------------------------------------------------------------- fleet
MERGE_CODES = {0: "every array compliant (or, with --rec-known, deviating only as that file lists)",
               1: "an array deviated (a non-compliant run; known deviations included unless --rec-known lists them)",
               2: "none deviated, but a run was inconclusive or a report folder could not be read"}
MERGE_EXIT = "exit codes: " + "; ".join(f"{k} {v}" for k, v in MERGE_CODES.items())


def identity(summary: dict) -> str:
    """The array a run was against: model, serial and firmware (the same array on two firmware
    builds is two rows, and two cases of the same name on them are two cases, not retries)."""
    t, defects = summary.get("target") or {}, (summary.get("run") or {}).get("sim_defects")
    return f"{t.get('model', 'unknown')} {t.get('serial', '')}".strip() + f", firmware {t.get('firmware', 'unknown')}" \
        + (f" (simulator defect {', '.join(defects)})" if defects else "")


def run_label(summary: dict) -> str:
    """One run as a row and a tree node names it: array, firmware, when it ran, and its verdict."""
    return f"{identity(summary)}, run {(summary.get('run') or {}).get('started', 'unknown')}: {summary.get('verdict')}"


def fleet_table(summaries: list[dict]) -> str:
    reqs: list[str] = []
    for s in summaries:
        for r in s.get("requirements", []):
            if r["id"] not in reqs:
                reqs.append(r["id"])
    head = "| array | firmware | run (UTC) | kind | depth | verdict | " + " | ".join(reqs) + " |"
    lines = ["# Fleet compliance", "", head, "|" + "---|" * (6 + len(reqs))]
    for s in sorted(summaries, key=lambda s: (str(s["target"].get("model")), str(s["target"].get("serial")),
                                               str(s["target"].get("firmware")), str((s.get("run") or {}).get("started")))):
        t, run = s["target"], s.get("run") or {}
        verdicts = {r["id"]: r["verdict"] for r in s.get("requirements", [])}
        array = f"{t.get('model', 'unknown')} {t.get('serial', '')}".strip()
        when = f"{run.get('started', 'unknown')} to {run.get('ended', 'unknown')}"
        lines.append(f"| {array} | {t.get('firmware', 'unknown')} | {when} | {t.get('kind')} | {s.get('depth')} | "
                     f"**{s.get('verdict')}** | " + " | ".join(verdicts.get(r, "-") for r in reqs) + " |")
    return "\n".join(lines) + "\n"


def relabel(results: Path, summary: dict) -> None:
    """Make every result of one run its own: the history id and test case id include the array's
    identity and the run's start (else Allure folds the same case of two arrays, or of two runs of
    one array, into "retries" of one and shows only the last), and an ``array`` label (the first
    level of the fleet tree) and parameter name the run."""
    import hashlib

    label = run_label(summary)
    ident = f"{identity(summary)} {(summary.get('run') or {}).get('started')}"
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("historyId", "testCaseId"):
            data[key] = hashlib.md5(f"{ident}|{data.get(key) or data.get('fullName') or data['uuid']}".encode()).hexdigest()
        data["labels"] = [lb for lb in data.get("labels", []) if lb.get("name") != "array"] + \
            [{"name": "array", "value": label}]
        data["parameters"] = [p for p in data.get("parameters", []) if p.get("name") != "array"] + \
            [{"name": "array", "value": label}]
        path.write_text(json.dumps(data), encoding="utf-8")


def merge_results(dirs: list[Path], summaries: list[dict], merged: Path) -> str | None:
    """Copy each run's Allure results into ``merged``, its verdict and restore results added and
    every result relabelled for its array; return the result id of the first failing run's verdict."""
    import tempfile

    from ..report.allure_run import write_run_results
    from ..report.allure_steps import tidy_results

    shutil.rmtree(merged, ignore_errors=True)
    merged.mkdir(parents=True)
    focus = None
    for d, summary in zip(dirs, summaries):
        src = d / "allure-results"
        with tempfile.TemporaryDirectory(dir=merged.parent) as tmp:
            stage = Path(tmp)
            if src.is_dir():
                for f in src.iterdir():
                    shutil.copy(f, stage / f.name)
            tidy_results(stage)
            verdict_id = write_run_results(stage, summary)
            if focus is None or (summary.get("verdict") == "non-compliant" and not focus[1]):
                focus = (verdict_id, summary.get("verdict") == "non-compliant")
            relabel(stage, summary)
            for f in stage.iterdir():
                if f.name in ("environment.properties", "categories.json") and (merged / f.name).exists():
                    continue
                shutil.move(str(f), merged / f.name)      # result files are named by UUID: no clashes
    # the report's environment is the fleet's, not the first run's: each run, its array and verdict
    lines = [f"runs={len(summaries)}",
             f"non_compliant={sum(1 for s in summaries if s.get('verdict') == 'non-compliant')}"]
    for i, s in enumerate(summaries, 1):
        t, r = s.get("target") or {}, s.get("run") or {}
        lines.append(f"run_{i}={t.get('model', 'unknown')} {t.get('serial', '')} firmware {t.get('firmware', 'unknown')}"
                     f" ({t.get('url', '')}), {r.get('started', '')}: {s.get('verdict')}")
    (merged / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return focus[0] if focus else None


def _same_run_twice(dirs: list[str], summaries: list[dict]) -> str:
    """Why two of the folders are one run (the same array and start), or ""."""
    seen: dict[str, str] = {}
    for d, s in zip(dirs, summaries):
        key = f"{identity(s)} {(s.get('run') or {}).get('started')}"
        if key in seen:
            return f"{seen[key]} and {d} are the same run ({identity(s)}, started {(s.get('run') or {}).get('started')})"
        seen[key] = d
    return ""


def merge_main(argv: list[str] | None = None) -> int:
    """Merge the report folders of several runs (arrays, builds): one fleet table (fleet.md,
    fleet.json) and one Allure report, array > requirement > case family, each array's cases its own."""
    _quiet_on_closed_pipe()
    p = argparse.ArgumentParser(prog="rec-merge", description=merge_main.__doc__, epilog=MERGE_EXIT,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reports", nargs="+", help="report folders (each with compliance.json and allure-results/)")
    p.add_argument("-o", "--output", default="reports-merged")
    p.add_argument("--no-html", action="store_true")
    _known_option(p)
    args = p.parse_args(argv)
    try:
        known = load_known_file(args.known)
        summaries = [_load(d) for d in args.reports]
    except SystemExit as exc:
        print(f"rec-merge: {exc}", file=sys.stderr)
        return 2
    twice = _same_run_twice(args.reports, summaries)
    if twice:
        print(f"rec-merge: {twice}; nothing was written (a run given twice would count twice in the fleet)",
              file=sys.stderr)
        return 2
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    new_in = {id(s): known_apart(sorted(deviations(s)), known, s) for s in summaries}
    only_known = [s for s in summaries if s.get("verdict") == "non-compliant" and not new_in[id(s)][0]
                  and not s.get("blockers")]
    table = fleet_table(summaries)
    if known:                # the known ones apart from the new ones, per run
        table += "\n## Deviations against the known-deviations file\n\n" + "".join(
            f"- {identity(s)}: {len(new_in[id(s)][0])} new, {len(new_in[id(s)][1])} known"
            + (f" ({', '.join(sorted({t for _, _, t in new_in[id(s)][1]}))})" if new_in[id(s)][1] else "") + "\n"
            for s in summaries)
    (out / "fleet.md").write_text(table, encoding="utf-8")
    (out / "fleet.json").write_text(json.dumps([{"target": s["target"], "run": s.get("run"), "depth": s.get("depth"),
                                                  "verdict": s.get("verdict"), "seed_verdict": s.get("seed_verdict"),
                                                  "requirements": {r["id"]: r["verdict"] for r in s["requirements"]}}
                                                 for s in summaries], indent=2), encoding="utf-8")
    focus = merge_results([Path(d) for d in args.reports], summaries, out / "allure-results")
    print(table)
    for s in only_known:
        tickets = sorted({t for _, _, t in new_in[id(s)][1]})
        print(f"rec-merge: {identity(s)}: no new deviations (known: {', '.join(tickets)})")
    bad = [s for s in summaries if s.get("verdict") == "non-compliant" and s not in only_known]
    if not args.no_html:
        from ..report.html import build_html

        name = f"FLEET: {len(bad)} of {len(summaries)} run(s) non-compliant" + \
            ("".join(f"; {identity(s)} fails " + ", ".join(r["id"] for r in s["requirements"] if r["verdict"] == "fail")
                     for s in bad))
        print(build_html(out, name=name, group_by=["array", "feature", "story"], focus=focus))
    code = 1 if bad else 0 if all(s.get("verdict") == "compliant" or s in only_known for s in summaries) else 2
    print(f"rec-merge: exit {code}: {MERGE_CODES[code]}")
    return code


if __name__ == "__main__":
    sys.exit(compare_main())
