"""The compliance summary (CONTRACT section 4), written from data: case records and run
metadata in, ``compliance.json`` / ``compliance.md`` / the manifest and the verdict line out.
Nothing of the pytest wiring is imported here."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from .catalogue import load_catalogue

__all__ = ["build_summary", "requirement_verdicts", "overall", "exit_code", "verdict_line", "render_markdown",
           "write_summary", "manifest"]

SCHEMA_VERSION = 1
ALWAYS_CHECKED = "REC-NO-5XX"


def requirement_verdicts(cases: list[dict], catalogue: list[dict]) -> list[dict]:
    rows = []
    for req in catalogue:
        rid = req["id"]
        listed = [c for c in cases if rid in c["requirements"] or rid in c.get("failed_requirements", [])
                  or (rid == ALWAYS_CHECKED and c["outcome"] in ("passed", "failed", "known-deviation"))]
        failed = [c for c in listed if rid in c.get("failed_requirements", [])]
        passed = [c for c in listed if c["outcome"] == "passed"]
        # a known deviation is still a failure of its requirement: a buyer must see it
        errors = [c for c in listed if c["outcome"] == "error"]
        skipped = [c for c in listed if c["outcome"] == "skipped"]
        if not req.get("judged", True):
            verdict = "info" if passed or failed else "not-run"
        elif failed:
            verdict = "fail"
        elif errors:
            verdict = "error"
        elif passed:
            verdict = "pass"
        else:
            verdict = "not-run"
        rows.append({"id": rid, "title": req.get("title", ""), "basis": req["basis"],
                     "judged": req.get("judged", True), "verdict": verdict, "tests": len(listed),
                     "passed": len(passed), "failed": len(failed), "errors": len(errors),
                     "skipped": len(skipped), "source": req.get("source", "")})
    return rows


def overall(rows: list[dict], cases: list[dict], depth: str, dry_run: bool, only_seed: bool = False) -> tuple[str, str]:
    judged = [r for r in rows if r["judged"] and (r["basis"] == "seed" or not only_seed)]
    ids = {r["id"] for r in judged}
    if any(r["verdict"] == "fail" for r in judged):
        broken = ", ".join(r["id"] for r in judged if r["verdict"] == "fail")
        return "non-compliant", f"the array deviates from: {broken}"
    reasons = []
    if depth != "full":
        reasons.append(f"depth {depth} (only full can establish compliance)")
    if dry_run:
        reasons.append("dry run: nothing was sent")
    errs = [r["id"] for r in judged if r["verdict"] == "error"]
    if errs:
        reasons.append(f"checks could not run for {', '.join(errs)}")
    notrun = [r["id"] for r in judged if r["verdict"] == "not-run"]
    if notrun:
        reasons.append(f"no check ran for {', '.join(notrun)}")
    skipped = [c for c in cases if c["outcome"] == "skipped" and set(c["requirements"]) & ids]
    if skipped:
        reasons.append(f"{len(skipped)} check(s) skipped")
    errored = [c for c in cases if c["outcome"] == "error" and set(c["requirements"]) & ids]
    if errored and not errs:
        reasons.append(f"{len(errored)} check(s) errored")
    if reasons:
        return "inconclusive", "; ".join(reasons)
    return "compliant", "every judged requirement passed at depth full"


def build_summary(cases: list[dict], meta: dict) -> dict:
    catalogue = load_catalogue()
    rows = requirement_verdicts(cases, catalogue)
    verdict, why = overall(rows, cases, meta["depth"], meta["dry_run"])
    seed, seed_why = overall(rows, cases, meta["depth"], meta["dry_run"], only_seed=True)
    seed_verdict = {"compliant": "pass", "non-compliant": "fail"}.get(seed, "inconclusive")
    return {
        "schema_version": SCHEMA_VERSION,
        "target": meta["target"],
        "depth": meta["depth"], "strict": meta["strict"], "dry_run": meta["dry_run"],
        "pairwise_seed": meta.get("pairwise_seed"),
        "verdict": verdict, "verdict_reason": why,
        "seed_verdict": seed_verdict, "seed_verdict_reason": seed_why,
        "requirements": rows,
        "cases": [{"id": c["id"], "requirements": c["requirements"], "outcome": c["outcome"],
                   "failed_requirements": c.get("failed_requirements", []), "detail": c.get("detail", ""),
                   **({"tickets": c["tickets"]} if c.get("tickets") else {}),
                   **({"fixed_tickets": c["fixed_tickets"]} if c.get("fixed_tickets") else {})}
                  for c in cases],
        "known_deviations": sorted({t for c in cases for t in c.get("tickets", [])}),
        "fixed_known_deviations": sorted({t for c in cases for t in c.get("fixed_tickets", [])}
                                         - {t for c in cases for t in c.get("tickets", [])}),
        "counts": dict(Counter(c["outcome"] for c in cases)),
        "run": meta["run"],
    }


def exit_code(summary: dict, pytest_status: int) -> int:
    outcomes = Counter(c["outcome"] for c in summary["cases"])
    if outcomes.get("failed"):
        return 1
    if outcomes.get("error") or not summary["cases"] or pytest_status not in (0, 1):
        return 2
    return 0


def render_markdown(summary: dict) -> str:
    t = summary["target"]
    sim = t.get("kind") == "sim"
    stamp = " — SIMULATOR (not a real array)" if sim else ""
    lines = [f"# REC compliance: **{summary['verdict'].upper()}**{stamp}", "",
             f"Why: {summary['verdict_reason']}.", "",
             f"Seed page sign-off (PATCH /copysession/{{copysession_id}} as published): "
             f"**{summary['seed_verdict']}** — {summary['seed_verdict_reason']}.", "",
             "| | |", "|---|---|",
             f"| Target | {t.get('url')} ({'built-in simulator' if sim else 'array'}) |",
             f"| Model / serial / firmware | {t.get('model', 'unknown')} / {t.get('serial', 'unknown')} / "
             f"{t.get('firmware', 'unknown')} |",
             f"| Depth / strict | {summary['depth']} / {summary['strict']} |",
             f"| Pairwise seed | {summary.get('pairwise_seed')} |",
             f"| Suite | pytest-rec {summary['run']['suite_version']} ({summary['run']['commit'][:12]}) |",
             f"| Started / ended | {summary['run']['started']} / {summary['run']['ended']} |",
             f"| Command | `{summary['run']['command']}` |"]
    if summary["run"].get("sim_defects"):
        lines.append(f"| Simulator defect profiles | {', '.join(summary['run']['sim_defects'])} |")
    lines += ["", "## Requirements", "",
              "| ID | basis | verdict | tests | passed | failed | errors | skipped | rule |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in summary["requirements"]:
        verdict = r["verdict"] if r["tests"] or not r["judged"] else "not-run (NO TEST: a defect of the suite)"
        lines.append(f"| {r['id']} | {r['basis']} | {verdict} | {r['tests']} | {r['passed']} | {r['failed']} | "
                     f"{r['errors']} | {r['skipped']} | {r['title']} |")
    bad = [c for c in summary["cases"] if c["outcome"] == "failed"]
    known = [c for c in summary["cases"] if c["outcome"] == "known-deviation"]
    lines += ["", "## Deviations", ""]
    if not bad:
        lines.append("None found.")
    by_rule: dict[str, list[dict]] = {}
    for c in bad:
        for rid in c["failed_requirements"] or ["(unattributed)"]:
            by_rule.setdefault(rid, []).append(c)
    for rid, cs in sorted(by_rule.items()):
        lines.append(f"- **{rid}**: {len(cs)} case(s), e.g. `{cs[0]['id']}` — {cs[0]['detail'][:400]}")
    if known or summary.get("fixed_known_deviations"):
        lines += ["", "## Known deviations (ticketed; they do not fail the run, they still fail their requirement)", ""]
        for c in known[:100]:
            lines.append(f"- `{c['id']}` — {', '.join(c.get('tickets', []))}: {c['detail'][:300]}")
        for t in summary.get("fixed_known_deviations", []):
            lines.append(f"- **FIXED**: {t} no longer deviates in any case it names (good news)")
    lines += ["", "## Sessions put back", ""]
    rs = summary.get("restore", {"restored": [], "failed": []})
    for f in rs["failed"]:
        lines.append(f"- **RESTORE FAILED** session {f['session']}: {f['note'] or 'not restored (run interrupted?)'}. "
                     f"Run `rec-restore reports/{f['journal']}`.")
    for r in rs["restored"]:
        lines.append(f"- {r['note']}")
    if not rs["failed"] and not rs["restored"]:
        lines.append("No session was written.")
    lines += ["", "## Not run or errored", ""]
    other = [c for c in summary["cases"] if c["outcome"] in ("skipped", "error")]
    if not other:
        lines.append("Everything ran.")
    for c in other[:200]:
        lines.append(f"- {c['outcome']}: `{c['id']}` — {c['detail'][:300]}")
    if len(other) > 200:
        lines.append(f"- … and {len(other) - 200} more (see compliance.json)")
    lines.append("")
    return "\n".join(lines)


def manifest(report_dir: Path) -> str:
    rows = []
    for p in sorted(report_dir.rglob("*")):
        if p.is_file() and p.name != "MANIFEST.sha256":
            rows.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(report_dir).as_posix()}")
    return "\n".join(rows) + "\n"


def verdict_line(summary: dict) -> str:
    """The run's last line, the same from the plugin and from ``rec-compliance``."""
    sim = " [SIMULATOR]" if summary["target"].get("kind") == "sim" else ""
    failed = [r["id"] for r in summary["requirements"] if r["verdict"] == "fail"]
    extra = f" ({', '.join(failed)})" if failed else ""
    if failed and not any(c["outcome"] == "failed" for c in summary["cases"]):
        extra += ", no new deviations"
    if summary.get("fixed_known_deviations"):
        extra += f"; fixed: {', '.join(summary['fixed_known_deviations'])}"
    return f"VERDICT: {summary['verdict']}{extra}{sim}; seed rules: {summary['seed_verdict']}"


def write_summary(report_dir: Path, summary: dict, extra_files: dict | None = None) -> None:
    """compliance.json, compliance.md, any extra JSON files (the target as used), and the manifest."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "compliance.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (report_dir / "compliance.md").write_text(render_markdown(summary), encoding="utf-8")
    for name, data in (extra_files or {}).items():
        (report_dir / name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    (report_dir / "MANIFEST.sha256").write_text(manifest(report_dir), encoding="utf-8")
