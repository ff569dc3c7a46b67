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


def compare_markdown(diff: dict) -> str:
    lines = [f"# Compliance comparison: {diff['firmware'][0]} -> {diff['firmware'][1]}", "",
             f"Verdict: {diff['verdict'][0]} -> {diff['verdict'][1]}; depth: {diff['depth'][0]} -> {diff['depth'][1]}", ""]
    if diff["depth"][0] != diff["depth"][1]:
        lines += [f"**Different depths**: {diff['cases_only_old']} case(s) ran only in the old run and "
                  f"{diff['cases_only_new']} only in the new one; those are not compared.", ""]
    for title, key in (("New deviations", "new"), ("Fixed", "fixed"), ("Unchanged deviations", "unchanged"),
                       ("Deviations not compared (case not run in the new run)", "not_compared")):
        lines.append(f"## {title} ({len(diff[key])})")
        lines += [f"- {req}: `{case}`" for req, case in diff[key][:200]] or ["None."]
        lines.append("")
    lines.append(f"## Requirements that went from pass to error or not-run ({len(diff['pass_to_error'])})")
    lines += [f"- {r}" for r in diff["pass_to_error"]] or ["None."]
    if diff["requirements_added"] or diff["requirements_removed"]:
        lines += ["", f"Requirements added: {', '.join(diff['requirements_added']) or 'none'}; "
                      f"removed: {', '.join(diff['requirements_removed']) or 'none'}"]
    return "\n".join(lines) + "\n"


def compare_main(argv: list[str] | None = None) -> int:
    """Exit 1 on any new deviation, 2 when a passing requirement could no longer be checked, else 0."""
    p = argparse.ArgumentParser(prog="rec-compare", description=compare_main.__doc__)
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("-o", "--output", help="also write the Markdown here")
    args = p.parse_args(argv)
    diff = compare(_load(args.old), _load(args.new))
    md = compare_markdown(diff)
    print(md)
    if args.output:
        Path(args.output).write_text(md, encoding="utf-8")
    return 1 if diff["new"] else 2 if diff["pass_to_error"] else 0


# --------------------------------------------------------------------------- fleet
def fleet_table(summaries: list[dict]) -> str:
    reqs: list[str] = []
    for s in summaries:
        for r in s.get("requirements", []):
            if r["id"] not in reqs:
                reqs.append(r["id"])
    head = "| array | firmware | kind | depth | verdict | " + " | ".join(reqs) + " |"
    lines = ["# Fleet compliance", "", head, "|" + "---|" * (5 + len(reqs))]
    for s in sorted(summaries, key=lambda s: (str(s["target"].get("model")), str(s["target"].get("serial")),
                                               str(s["target"].get("firmware")))):
        t = s["target"]
        verdicts = {r["id"]: r["verdict"] for r in s.get("requirements", [])}
        array = f"{t.get('model', 'unknown')} {t.get('serial', '')}".strip()
        lines.append(f"| {array} | {t.get('firmware', 'unknown')} | {t.get('kind')} | {s.get('depth')} | "
                     f"**{s.get('verdict')}** | " + " | ".join(verdicts.get(r, "-") for r in reqs) + " |")
    return "\n".join(lines) + "\n"


def merge_main(argv: list[str] | None = None) -> int:
    """Merge the report folders of several runs (arrays, builds): one fleet table and one Allure report."""
    p = argparse.ArgumentParser(prog="rec-merge", description=merge_main.__doc__)
    p.add_argument("reports", nargs="+", help="report folders (each with compliance.json and allure-results/)")
    p.add_argument("-o", "--output", default="reports-merged")
    p.add_argument("--no-html", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    summaries = [_load(d) for d in args.reports]
    table = fleet_table(summaries)
    (out / "fleet.md").write_text(table, encoding="utf-8")
    (out / "fleet.json").write_text(json.dumps([{"target": s["target"], "depth": s.get("depth"),
                                                  "verdict": s.get("verdict"), "seed_verdict": s.get("seed_verdict"),
                                                  "requirements": {r["id"]: r["verdict"] for r in s["requirements"]}}
                                                 for s in summaries], indent=2), encoding="utf-8")
    merged = out / "allure-results"
    shutil.rmtree(merged, ignore_errors=True)
    merged.mkdir()
    for i, d in enumerate(args.reports):
        src = Path(d) / "allure-results"
        if not src.is_dir():
            continue
        for f in src.iterdir():
            if f.name in ("environment.properties", "categories.json"):
                if not (merged / f.name).exists():
                    shutil.copy(f, merged / f.name)
                continue
            shutil.copy(f, merged / f.name)        # result files are named by UUID: no clashes
    print(table)
    if not args.no_html:
        from .htmlreport import build_html

        print(build_html(out, name="pytest-rec fleet"))
    return 1 if any(s.get("verdict") == "non-compliant" for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(compare_main())
