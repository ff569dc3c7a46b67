"""The compliance summary (CONTRACT section 4), written from data: case records and run
metadata in, ``compliance.json`` / ``compliance.md`` / the manifest and the verdict line out.
Nothing of the pytest wiring is imported here."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path

from ..model.catalogue import load_catalogue
from ..errors import TRANSFER_NOT_APPLIED
from .reasons import deviation_md, known_line, message_for, reproducer_lines, stop_cause, walk_line
from .signoff import basis_table, signoff, signoff_lines
from ..client.transcript import jobs_line, jobs_summary

__all__ = ["build_summary", "requirement_verdicts", "overall", "exit_code", "verdict_line", "render_markdown",
           "deviation_groups", "write_summary", "manifest"]

SCHEMA_VERSION = 1
ALWAYS_CHECKED = "REC-NO-5XX"


def _role(case: dict, rid: str) -> str:
    """What one case is for one requirement: passed, failed, known, error, skipped, opt-in or blocked."""
    outcome = case["outcome"]
    if rid in case.get("failed_requirements", []):
        return "known" if outcome == "known-deviation" else "failed"
    if rid == ALWAYS_CHECKED and rid not in case["requirements"]:
        return "passed"                  # every answer of a case that ran was checked for a 5xx
    if outcome in ("failed", "known-deviation"):
        # the case broke another requirement: this one was judged and held, unless the case never got
        # past its setup step (a starting state it could not reach), when this one was not judged
        return "blocked" if case.get("setup_failed") or rid in case.get("cut_short", []) else "passed"
    if outcome == "skipped":
        return "opt-in" if case.get("opt_in") else "skipped"
    if outcome == "error":
        return "error"
    return outcome                       # passed, blocked


def requirement_verdicts(cases: list[dict], catalogue: list[dict]) -> list[dict]:
    """Per requirement: its verdict and counts that add up
    (tests = passed + failed + errors + skipped + blocked + known; skipped includes opt_in)."""
    rows = []
    for req in catalogue:
        rid = req["id"]
        listed = [c for c in cases if rid in c["requirements"] or rid in c.get("failed_requirements", [])
                  or (rid == ALWAYS_CHECKED and c["outcome"] in ("passed", "failed", "known-deviation"))]
        roles = Counter(_role(c, rid) for c in listed)
        n = {k: roles.get(k, 0) for k in ("passed", "failed", "known", "error", "skipped", "opt-in", "blocked")}
        judged = req.get("judged", True)
        if not judged:
            verdict = "info" if n["passed"] or n["failed"] else "not-run"
        elif n["failed"] or n["known"]:
            verdict = "fail"                 # a known deviation still fails its requirement: a buyer must see it
        elif n["error"] or n["blocked"]:
            verdict = "error"
        elif n["skipped"]:
            verdict = "not-run"              # a required check did not run: never "pass"
        elif n["passed"]:
            verdict = "pass"
        else:
            verdict = "not-run"
        rows.append({"id": rid, "title": req.get("title", ""), "basis": req["basis"], "judged": judged,
                     "verdict": verdict, "tests": len(listed), "passed": n["passed"],
                     "failed": n["failed"] + n["known"], "known": n["known"], "errors": n["error"],
                     "skipped": n["skipped"] + n["opt-in"], "opt_in": n["opt-in"], "blocked": n["blocked"],
                     "source": req.get("source", "")})
    return rows


def _inconclusive_reasons(rows: list[dict], cases: list[dict], meta: dict, ids: set[str]) -> list[str]:
    reasons = []
    if meta.get("interrupted"):
        reasons.append(f"the run was interrupted ({meta['interrupted']})")
    if meta.get("stopped"):
        # the whole reason on one line (a dry run lists its problems on lines of their own)
        stopped = " ".join(part.strip() for part in meta["stopped"].removeprefix("pytest-rec: ").splitlines())
        reasons.append("the suite stopped the run: " + stopped.replace(": - ", ": ")[:600])
    if meta["depth"] != "full":
        reasons.append(f"depth {meta['depth']} (only full can establish compliance)")
    if meta["dry_run"]:
        reasons.append("dry run: nothing was written")
    if meta.get("narrowed"):
        reasons.append("narrowed by the user (" + "; ".join(meta["narrowed"]) + ")")
    judged = [r for r in rows if r["id"] in ids]
    errs = [r["id"] for r in judged if r["verdict"] == "error" and r["errors"]]
    if errs:
        reasons.append(f"checks could not run for {', '.join(errs)}")
    cut = [r["id"] for r in judged if r["verdict"] == "error" and not r["errors"]]
    if cut:
        reasons.append(f"not judged to the end for {', '.join(cut)} (a check stopped at another deviation or at a "
                       "failed setup step before the step that judges it)")
    notrun = [r["id"] for r in judged if r["verdict"] == "not-run"]
    if not cases and (meta.get("stopped") or meta.get("interrupted")):
        return reasons + ["nothing ran"]     # the cause once, not followed by every requirement id
    if notrun:
        reasons.append(f"required checks did not run for {', '.join(notrun)}")
    mine = [c for c in cases if set(c["requirements"]) & ids]
    for outcome, what in (("skipped", "required check(s) skipped"), ("blocked", "check(s) blocked by a failed "
                                                                               "setup step"),
                          ("error", "check(s) errored")):
        k = [c for c in mine if c["outcome"] == outcome and not c.get("opt_in")]
        if k:
            reasons.append(f"{len(k)} {what}")
    missing = meta.get("collected", 0) - len(cases)
    if missing > 0:
        reasons.append(f"{missing} collected check(s) never ran (the run stopped early)")
    if not cases:
        reasons.append("nothing ran")
    return reasons


def overall(rows: list[dict], cases: list[dict], meta: dict, only_seed: bool = False) -> tuple[str, str]:
    judged = [r for r in rows if r["judged"] and (r["basis"] == "seed" or not only_seed)]
    ids = {r["id"] for r in judged}
    if any(r["verdict"] == "fail" for r in judged):
        broken = ", ".join(r["id"] for r in judged if r["verdict"] == "fail")
        unjudged = [r["id"] for r in judged if r["verdict"] == "error"]
        return "non-compliant", f"the array deviates from: {broken}" + (
            f"; not judged to the end: {', '.join(unjudged)}" if unjudged else "")
    reasons = _inconclusive_reasons(rows, cases, meta, ids)
    if reasons:
        return "inconclusive", "; ".join(reasons)
    return "compliant", "every required check ran and every judged requirement passed at depth full"


def _phases_covered(rows: list[dict], meta: dict) -> None:
    """REC-SUSPEND-FIRST's row says which active phases it was judged from (issue 26): an array that refuses
    a change only from one phase passes a run that never sent one from the other."""
    phases = list(meta.get("suspend_first_phases") or [])
    for r in rows:
        if r["id"] != "REC-SUSPEND-FIRST" or not (phases or r["tests"]):
            continue
        if not phases:
            r["covered"] = "no active phase (no change was sent to an active session)"
        elif "Copying" in phases:
            r["covered"] = ", ".join(phases)
        else:
            why = "sessions.active names no session in Copying" if meta.get("active_named") \
                else "the target names no session under sessions.active"
            r["covered"] = f"{', '.join(phases)} only ({why})"
        r["phases"] = phases


def build_summary(cases: list[dict], meta: dict) -> dict:
    catalogue = load_catalogue()
    rows = requirement_verdicts(cases, catalogue)
    verdict, why = overall(rows, cases, meta)
    seed, seed_why = overall(rows, cases, meta, only_seed=True)
    seed_verdict = {"compliant": "pass", "non-compliant": "fail"}.get(seed, "inconclusive")
    judged_ids = {r["id"] for r in rows if r["judged"]}
    jobs = meta.get("jobs_by_case") or {}
    _phases_covered(rows, meta)
    return {
        "schema_version": SCHEMA_VERSION,
        "target": meta["target"],
        "depth": meta["depth"], "strict": meta["strict"], "dry_run": meta["dry_run"],
        "pairwise_seed": meta.get("pairwise_seed"), "fuzz_seed": meta.get("fuzz_seed"),
        "interrupted": meta.get("interrupted"), "stopped": meta.get("stopped"), "narrowed": meta.get("narrowed", []),
        "verdict": verdict, "verdict_reason": why,
        "seed_verdict": seed_verdict, "seed_verdict_reason": seed_why,
        # the page's own words apart from the readings, each rule's basis and refusals, the profile
        "signoff": signoff(rows, cases, meta, catalogue, overall),
        # what stops "compliant" apart from failures; empty when only known deviations stand in its way
        "blockers": _inconclusive_reasons(rows, cases, meta, judged_ids),
        "requirements": rows,
        "cases": [{"id": c["id"], "requirements": c["requirements"], "outcome": c["outcome"],
                   "failed_requirements": c.get("failed_requirements", []), "detail": c.get("detail", ""),
                   **({"opt_in": True, "enable": c.get("enable", "")} if c.get("opt_in") else {}),
                   **({"setup_failed": True} if c.get("setup_failed") else {}),
                   **({"cut_short": c["cut_short"]} if c.get("cut_short") else {}),
                   **({"tickets": c["tickets"]} if c.get("tickets") else {}),
                   **({"known_reasons": c["known_reasons"]} if c.get("known_reasons") else {}),
                   **({"fixed_tickets": c["fixed_tickets"]} if c.get("fixed_tickets") else {}),
                   **({"jobs": jobs[c["id"]]} if c["id"] in jobs else {})}
                  for c in cases],
        "collected": meta.get("collected", len(cases)),
        # the longest a GET lagged a job's Success before showing the change (seconds; CONTRACT section 1)
        "longest_read_lag": meta.get("longest_read_lag"),
        # every answer of the run checked for a 5xx (REC-NO-5XX), and how many were 5xx other than 503
        "exchanges_checked": (meta.get("exchanges") or [0, 0])[0],
        "server_errors": (meta.get("exchanges") or [0, 0])[1],
        "known_deviations": sorted({t for c in cases for t in c.get("tickets", [])}),
        "fixed_known_deviations": sorted({t for c in cases for t in c.get("fixed_tickets", [])}
                                         - {t for c in cases for t in c.get("tickets", [])}),
        "counts": dict(Counter(c["outcome"] for c in cases)),
        "jobs": jobs_summary(meta.get("jobs_by_case") or {}, [c["id"] for c in cases]),
        "provenance": meta.get("provenance", {}),
        "run": meta["run"],
    }


def exit_code(summary: dict, pytest_status: int) -> int:
    """CONTRACT section 4: 0 compliant (or only known deviations in an otherwise compliant run, or a run
    the user narrowed on purpose that went through); 1 a new deviation; 2 everything else."""
    outcomes = Counter(c["outcome"] for c in summary["cases"])
    if summary.get("interrupted") or summary.get("stopped") or summary.get("restore", {}).get("failed"):
        return 2                                     # someone must act: never green, never "the array"
    if outcomes.get("failed"):
        return 1
    if summary["dry_run"] and not outcomes and pytest_status in (0, 5):
        return 0                                     # the plan, and the read-only preflight went through
    if not summary["cases"] or outcomes.get("error") or pytest_status not in (0, 1, 5):
        return 2
    if summary["verdict"] == "compliant":
        return 0
    blockers = summary.get("blockers", [])
    if summary["verdict"] == "non-compliant" and not blockers:
        return 0                                     # every deviation is known; "no new deviations"
    narrowed = summary["depth"] != "full" or summary["dry_run"] or summary.get("narrowed")
    structural = [b for b in blockers if not b.startswith(("depth ", "dry run", "narrowed by the user"))]
    if narrowed and not outcomes.get("blocked") and not [b for b in structural if "errored" in b
                                                          or "could not run" in b or "never ran" in b]:
        return 0                                     # a narrowed run that went through, still "inconclusive"
    return 2


def render_markdown(summary: dict) -> str:
    t = summary["target"]
    sim = is_simulator(summary)
    stamp = " — SIMULATOR (not a real array)" if sim else ""
    lines = [f"# REC compliance: **{summary['verdict'].upper()}**{stamp}", "",
             f"Why: {summary['verdict_reason']}.", "",
             *([known_line(summary), ""] if known_line(summary) else []),
             f"Seed page sign-off (PATCH /copysession/{{copysession_id}} as published): "
             f"**{summary['seed_verdict']}** — {summary['seed_verdict_reason']}.", "",
             *signoff_lines(summary),
             "| | |", "|---|---|",
             f"| Target | {t.get('url')} ({'built-in simulator' if t.get('kind') == 'sim' else 'a simulator started by hand' if sim else 'array'}) |",
             f"| Model / serial / firmware (as the target file, or the built-in simulator, declares them; not read from the array) | "
             f"{t.get('model', 'unknown')} / {t.get('serial', 'unknown')} / {t.get('firmware', 'unknown')} |",
             f"| Depth / strict | {summary['depth']} / {'yes' if summary['strict'] else 'no'} |",
             f"| Pairwise seed / fuzzing seed | {summary.get('pairwise_seed') or 'not used (depth is not pairwise)'} / "
             f"{summary.get('fuzz_seed') or 'not recorded'} |",
             f"| Walk seed / steps per session | {walk_line(summary)} |",
             f"| Suite | pytest-rec {summary['run']['suite_version']} ({summary['run']['commit'][:12]}) |",
             f"| Started / ended | {summary['run']['started']} / {summary['run']['ended']} |",
             f"| Command | `{summary['run']['command']}` |"]
    prov = summary.get("provenance") or {}
    if prov:
        lines.append(f"| Run by / on | {prov.get('operator', 'unknown')} / {prov.get('host', 'unknown')} |")
    if prov.get("target_file"):
        lines.append(f"| Target file | `{prov['target_file']}` (SHA-256 {prov.get('target_file_sha256', '')}) |")
    if prov.get("tls_certificate_sha256"):
        lines.append(f"| Array TLS certificate (SHA-256) | {prov['tls_certificate_sha256']} |")
    if prov.get("transcript_sha256"):
        lines.append(f"| Evidence: every HTTP exchange (transcript*.jsonl, SHA-256) | {prov['transcript_sha256']} |")
    lines.append("| Evidence: every file | MANIFEST.sha256 (SHA-256 of each report file) |")
    if summary["run"].get("sim_defects"):
        lines.append(f"| Simulator defect profiles | {', '.join(summary['run']['sim_defects'])} |")
    if summary.get("interrupted"):
        lines.append(f"| Interrupted | {summary['interrupted']} |")
    if summary.get("longest_read_lag") is not None:
        lines.append(f"| Longest read lag after a job | {summary['longest_read_lag']} s |")
    lines += [jobs_line(summary.get("jobs"))] if jobs_line(summary.get("jobs")) else []
    if summary.get("exchanges_checked"):
        lines.append(f"| REC-NO-5XX: answers checked | {summary['exchanges_checked']} HTTP exchanges, "
                     f"{summary.get('server_errors', 0)} answered 5xx other than 503 |")
    lines += ["", "## Requirements", "",
              "Basis: **seed** = the published reference page itself; **V** = a verified fact of the public "
              "reference; **I** = an inference from it; **assumption** = assumed where the reference is silent "
              "(CONTRACT section 2); **silent** = recorded only, never judged. Modes are written transfer/split/recovery "
              "(Stack/Manual/Automatic: transfer mode Stack, split mode Manual, recovery mode Automatic).", "",
              "| ID | basis | verdict | tests | passed | failed | known | errors | blocked | skipped (opt-in) | requirement |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in summary["requirements"]:
        if r["tests"] or not r["judged"]:
            verdict = r["verdict"]
        elif summary.get("narrowed") or summary.get("dry_run") or summary.get("stopped") \
                or summary.get("interrupted") or summary["depth"] != "full":
            verdict = "not-run (not in this run: see Why above)"       # left out on purpose, or stopped early
        else:
            verdict = "not-run (NO TEST: a defect of the suite)"
        lines.append(f"| {r['id']} | {r['basis']} | {verdict} | {r['tests']} | {r['passed']} | {r['failed']} | "
                     f"{r.get('known', 0)} | {r['errors']} | {r.get('blocked', 0)} | {r['skipped']} "
                     f"({r.get('opt_in', 0)}) | {r['title']}{_covered_note(r)} |")
    lines += basis_table(summary)
    known = [c for c in summary["cases"] if c["outcome"] == "known-deviation"]
    lines += ["", "## Deviations (one line per distinct failure)", ""]
    groups = deviation_groups(summary["cases"])
    if not groups:
        lines.append("No deviation found.")
    lines += deviation_md(groups)
    if known or summary.get("fixed_known_deviations"):
        lines += ["", "## Known deviations (ticketed; they do not fail the run, they still fail their requirement)", ""]
        for c in known[:100]:
            lines.append(f"- `{c['id']}` — {', '.join(c.get('tickets', []))}: {c['detail'][:300]}")
        for t in summary.get("fixed_known_deviations", []):
            lines.append(f"- **FIXED**: {t} no longer deviates in any case it names (good news)")
    lines += ["", "## Sessions put back", ""]
    rs = summary.get("restore", {"restored": [], "failed": []})
    for f in rs["failed"]:
        note = re.sub(rf"^session {f['session']}:\s*", "", f.get("note") or "") or "not restored (run interrupted?)"
        lines.append(f"- **RESTORE FAILED** session {f['session']}: {note.rstrip('.')}. "
                     f"Run `rec-restore {f.get('path') or f['journal']}`.")
    for r in rs["restored"]:
        lines.append(f"- {r['note']}")
    if not rs["failed"] and not rs["restored"]:
        lines.append("No session was written.")
    leaked = [c for c in summary["cases"] if "REC-ISOLATION" in c.get("failed_requirements", [])]
    if leaked:
        lines.append(f"- **The array changed copy sessions the suite never writes** (REC-ISOLATION, {len(leaked)} "
                     "case(s), see Deviations): the suite does not write to a session the target file does not "
                     "name, so they were left as the array left them. Check them by hand.")
    seen = [c for c in summary["cases"] if "REC-UNSPECIFIED" in c["requirements"]]
    if seen:
        lines += ["", "## What the array did where the reference is silent (REC-UNSPECIFIED: recorded, not judged)",
                  "", "| check | what the array did |", "|---|---|"]
        for c in seen:
            what = c["detail"] or ("ran" if c["outcome"] == "passed" else c["outcome"])
            lines.append(f"| `{c['id']}` | {what[:300].replace('|', '/')} |")
    opt = [c for c in summary["cases"] if c.get("opt_in")]
    if opt:
        lines += ["", "## Not run (opt-in)", "",
                  "These checks need something the target file leaves out, or cost what a user may decline; "
                  "they do not stop a compliant verdict.", ""]
        for c in opt:
            lines.append(f"- `{c['id']}` — {c['detail'][:300]}")
    lines += ["", "## Not run, blocked or errored", ""]
    other = [c for c in summary["cases"] if c["outcome"] in ("skipped", "error", "blocked") and not c.get("opt_in")]
    missing = summary.get("collected", 0) - len(summary["cases"])
    if not summary["cases"]:
        lines.append("**Nothing ran.** See the console output for the reason (login refused, target unreachable, "
                     "target file wrong, ...).")
    elif not other and missing <= 0:
        lines.append("Every required check ran.")
    if missing > 0:
        lines.append(f"- {missing} collected check(s) never ran (the run stopped early)")
    for c in other[:200]:
        lines.append(f"- {c['outcome']}: `{c['id']}` — {c['detail'][:300]}")
    if len(other) > 200:
        lines.append(f"- … and {len(other) - 200} more (see compliance.json)")
    lines.append("")
    return "\n".join(lines)


def _covered_note(row: dict) -> str:
    return f" (covered: {row['covered']})" if row.get("covered") else ""


_STATE = r"\b(Synchronous|Stack|Consistency)/(Automatic|Manual)/(Automatic|Manual)\b"


def _root(message: str) -> str:
    """A failure's shape, without what changes from case to case (ids, bodies, starting states, the
    setup step or generated body it came through): one firmware bug reads as one finding."""
    text = re.sub(r"^(generated body .*? -> (\[[A-Z0-9, -]+\] )?|setup step .*? on session \d+: )+", "", message)
    if text.startswith(TRANSFER_NOT_APPLIED):      # whether the other fields changed or not: the same bug
        return TRANSFER_NOT_APPLIED
    text = re.sub(r"\(from [^)]*\)", "", text)
    text = re.sub(r"\{[^{}]*\}", "{…}", text)
    text = re.sub(_STATE, "<state>", text)
    text = re.sub(r"b?'[^']*'", "'…'", text)
    text = re.sub(r"\d+", "#", text)
    return re.sub(r"\s+", " ", text).strip()


def deviation_groups(cases: list[dict]) -> list[dict]:
    """New deviations grouped by distinct failure: one root failure reads as one finding."""
    groups: dict[tuple[str, str], dict] = {}
    for c in cases:
        if c["outcome"] != "failed":
            continue
        for rid in c.get("failed_requirements") or ["(unattributed)"]:
            msg = message_for(c.get("detail", ""), rid)
            key = (rid, _root(msg))
            g = groups.setdefault(key, {"requirement": rid, "count": 0, "example": c["id"], "message": msg})
            g["count"] += 1
            if g["message"].startswith(("generated body", "setup step", "setup:")) and \
                    not msg.startswith(("generated body", "setup step", "setup:")):
                g.update(example=c["id"], message=msg)        # the plainest case as the example
    return sorted(groups.values(), key=lambda g: (g["requirement"], -g["count"]))


def manifest(report_dir: Path) -> str:
    return "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(report_dir).as_posix()}\n"
                   for p in sorted(report_dir.rglob("*")) if p.is_file() and p.name != "MANIFEST.sha256")


def is_simulator(summary: dict) -> bool:
    """A run against the built-in simulator, or against a simulator started by hand (``rec-sim``),
    whose target file names it in ``[array] model`` (CONTRACT section 3): every report says so."""
    t = summary["target"]
    return t.get("kind") == "sim" or "SIMULATOR" in str(t.get("model", "")).upper()


def verdict_line(summary: dict) -> str:
    """The run's last line, the same from the plugin and from ``rec-compliance``."""
    sim = " [SIMULATOR]" if is_simulator(summary) else ""
    t = summary.get("target") or {}
    if t.get("kind") != "sim":        # a target file: which array and firmware the verdict is about
        named = " ".join(str(t[k]) for k in ("model", "serial") if t.get(k) and t[k] != "unknown")
        sim = f" [{'SIMULATOR: ' if sim else ''}{named or 'array not named ([array] of the target file)'}, " \
              f"firmware {t.get('firmware', 'unknown')}]"
    cause = stop_cause(summary) if summary.get("verdict") == "inconclusive" else ""
    if cause:        # a CI log's tail says why the run proved nothing
        return f"VERDICT: inconclusive ({cause}){sim}; seed rules: {summary['seed_verdict']}"
    failed = [r["id"] for r in summary["requirements"] if r["verdict"] == "fail"]
    extra = f" ({', '.join(failed)})" if failed else ""
    if failed and not any(c["outcome"] == "failed" for c in summary["cases"]):
        extra += ", no new deviations"
    unjudged = [r["id"] for r in summary["requirements"] if r["verdict"] == "error"]
    if failed and unjudged:       # why such a run exits 2: said on the line a CI log shows last
        extra += f"; not judged to the end: {', '.join(unjudged)}"
    if summary.get("fixed_known_deviations"):
        extra += f"; fixed: {', '.join(summary['fixed_known_deviations'])}"
    return f"VERDICT: {summary['verdict']}{extra}{sim}; seed rules: {summary['seed_verdict']}"


def write_summary(report_dir: Path, summary: dict, extra_files: dict | None = None) -> None:
    """compliance.json, compliance.md, any extra JSON files (the target as used), and the manifest."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "compliance.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    (report_dir / "compliance.md").write_text(render_markdown(summary) + reproducer_lines(summary), encoding="utf-8")
    for name, data in (extra_files or {}).items():
        (report_dir / name).write_text(json.dumps(data, indent=2), encoding="utf-8")
    (report_dir / "MANIFEST.sha256").write_text(manifest(report_dir), encoding="utf-8")


def write_plan(report_dir: Path, summary: dict, plan: list[str]) -> None:
    """A dry run's only output: plan.md (the plan as printed, and why it is not a verdict) and plan.json
    (the same summary fields a real run writes, for the exit code). Nothing else in the folder is touched,
    so an earlier run's reports and their manifest stay one run's evidence."""
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "plan.json").write_text(json.dumps({**summary, "plan": list(plan)}, indent=2), encoding="utf-8")
    t = summary["target"]
    lines = ["# pytest-rec dry run: the plan", "",
             f"- Target: {t.get('url')} ({t.get('kind')})",
             f"- Depth: {summary['depth']}",
             f"- Written: {summary['run']['ended']}",
             "- Nothing was written to the array; no check of the suite ran, so this is no verdict.", "",
             "```", *plan, "```", ""]
    (report_dir / "plan.md").write_text("\n".join(lines), encoding="utf-8")
