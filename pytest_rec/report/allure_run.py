"""The run's own Allure results: the verdict (the front page of the HTML report: why, and each
failing requirement with one failing case's HTTP steps) and the restore outcome, each a result of
its own, written after the run from compliance.json's summary."""

from __future__ import annotations

import json
import time
import uuid
from hashlib import md5
from pathlib import Path

from .allure_steps import RUN, RUN_TAG, _exchange_steps, _is_run_result, apply_case_records, requirement_name

__all__ = ["result_id", "write_verdict_result", "write_restore_result", "write_run_results"]

_STATUS = {"compliant": "passed", "non-compliant": "failed"}          # inconclusive: broken


def _run_uuid(kind: str, summary: dict) -> str:
    """The same uuid each time for one run: writing a result twice replaces it, never doubles it."""
    t, run = summary.get("target") or {}, summary.get("run") or {}
    key = "|".join(str(x) for x in (kind, t.get("url"), t.get("serial"), t.get("firmware"), run.get("started")))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "pytest-rec:" + key))


def result_id(uuid_: str) -> str:
    """The id Allure 3 gives the result (md5 of its uuid): the report's address of it is ``#/<id>``."""
    return md5(uuid_.encode()).hexdigest()


def _run_result(uuid_: str, name: str, status: str, message: str, steps: list[dict], story: str,
                description: str, at: int | None = None, feature: str = RUN) -> dict:
    now = int(time.time() * 1000) if at is None else at
    return {"uuid": uuid_, "historyId": md5(uuid_.encode()).hexdigest(), "testCaseId": md5(name.encode()).hexdigest(),
            "name": name, "fullName": f"pytest-rec#{story}", "status": status, "stage": "finished",
            "statusDetails": {"message": message}, "description": description, "steps": steps,
            "start": now, "stop": now, "parameters": [],
            "labels": [{"name": "feature", "value": feature}, {"name": "story", "value": story},
                       {"name": "tag", "value": RUN_TAG}], "titlePath": [feature]}


def _results(results_dir: Path) -> list[dict]:
    out = []
    for path in Path(results_dir).glob("*-result.json"):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def _example_steps(results: list[dict], requirement: str, skip: str) -> tuple[str, list[dict]]:
    """The name and HTTP steps of the failed case with the fewest steps whose error names ``requirement``
    (never a result of the run itself, nor the one of uuid ``skip``)."""
    found = []
    for data in results:
        if data.get("status") == "failed" and f"[{requirement}]" in (data.get("statusDetails") or {}).get("message", "") \
                and not _is_run_result(data) and data.get("uuid") != skip and not data.get("name", "").startswith("VERDICT"):
            found.append(data)
    if not found:
        return "", []
    first = min(found, key=lambda d: (len(_exchange_steps(d.get("steps", []))), d.get("start") or 0, d.get("name", "")))
    return first.get("name", ""), _exchange_steps(first.get("steps", []))


def write_verdict_result(results_dir: Path, summary: dict) -> str:
    """Write the run's verdict as an Allure result of its own (compliance.json's ``summary``): the
    verdict, why, every failing requirement with one failing case's HTTP steps. Returns the id of
    the result in the HTML report (its address there is ``index.html#/<id>``)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    results = _results(results_dir)          # read once: a run has hundreds of result files
    verdict = summary.get("verdict", "inconclusive")
    target = summary.get("target") or {}
    failing = [r for r in summary.get("requirements", []) if r.get("verdict") in ("fail", "error")]
    where = f"{target.get('model', 'unknown')} {target.get('serial', '')}".strip() + \
        f", firmware {target.get('firmware', 'unknown')}"
    name = f"VERDICT: {verdict} ({where})"
    failed = [r["id"] for r in failing if r["verdict"] == "fail"]
    errored = [r["id"] for r in failing if r["verdict"] == "error"]
    if failed:
        name += "; fails: " + ", ".join(failed)
    if errored:
        name += "; could not check: " + ", ".join(errored)
    from .reasons import known_line

    known = known_line(summary)
    if known:                  # the gate's outcome, as on the console: the tickets, and no new deviation
        name += "; no new deviations (known: " + ", ".join(summary.get("known_deviations") or []) + ")"
    lines = [f"VERDICT: {verdict}: {summary.get('verdict_reason', '')}",
             f"seed rules: {summary.get('seed_verdict', 'unknown')}", *([known] if known else [])]
    steps, uuid_ = [], _run_uuid("verdict", summary)
    for r in failing:
        count = r.get("failed", 0)           # known deviations included (compliance.json counts them there)
        what = f"{count} of {r.get('tests', 0)} case(s) failed" if r["verdict"] == "fail" else \
            f"{r.get('errors', 0) + r.get('blocked', 0)} of {r.get('tests', 0)} case(s) could not run or were not " \
            "judged to the end"
        tickets = sorted({t for c in summary.get("cases", []) if c.get("outcome") == "known-deviation"
                          and r["id"] in (c.get("failed_requirements") or []) for t in c.get("tickets", [])})
        if r.get("known"):
            what += f" ({r['known']} of them known: {', '.join(tickets)})"
        lines.append(f"[{r['id']}] {r.get('title', '')}: {what}")
        case, http = _example_steps(results, r["id"], uuid_)
        steps.append({"name": f"{r['id']}: {r.get('title', '')}: {what}" + (f"; e.g. {case}" if case else ""),
                      "status": "failed" if r["verdict"] == "fail" else "broken", "stage": "finished",
                      "steps": http, "start": 0, "stop": 0})
    starts = [d.get("start") for d in results if d.get("uuid") != uuid_ and d.get("start")]
    # first in time, so that the report's tree (sorted by status, then order) shows it first
    data = _run_result(uuid_, name, _STATUS.get(verdict, "broken"), "\n".join(lines), steps, "verdict",
                       "The requirement table is the tree: requirement, then case family; compliance.md has "
                       "the same verdict on one page.", at=min(starts) - 1 if starts else None)
    (results_dir / f"{uuid_}-result.json").write_text(json.dumps(data), encoding="utf-8")
    _write_bare_requirements(results_dir, summary, results)
    return result_id(uuid_)


def _write_bare_requirements(results_dir: Path, summary: dict, results: list[dict]) -> None:
    """A result for each requirement that ran but has no case under it in the tree (REC-NO-5XX is
    judged on every exchange; a case that failed on another rule sits under that rule), with its
    verdict and counts from the summary: so that the tree has one node for every requirement."""
    shown = {lb["value"].split(":")[0] for d in results if not _is_run_result(d)
             for lb in d.get("labels", []) if lb.get("name") == "feature"}
    for r in summary.get("requirements", []):
        if not r.get("tests") or r["id"] in shown:
            continue
        uuid_ = _run_uuid(f"requirement {r['id']}", summary)
        what = f"{r['id']}: {r.get('verdict')} ({r.get('passed', 0)} of {r.get('tests', 0)} case(s) passed)"
        status = {"pass": "passed", "info": "passed", "fail": "failed"}.get(str(r.get("verdict")), "broken")
        data = _run_result(uuid_, what, status, what, [], "requirement verdict",
                           "Judged in cases listed under other requirements (or on every exchange); "
                           "the counts are compliance.json's.", feature=requirement_name(r["id"]))
        (results_dir / f"{uuid_}-result.json").write_text(json.dumps(data), encoding="utf-8")


def write_restore_result(results_dir: Path, status: dict, summary: dict | None = None) -> str:
    """Write the restore outcome as an Allure result of its own: ``status`` is
    ``{"restored": [{"session", "note"}, ...], "failed": [{"session", "note", "path"?}, ...]}``
    (restore.restore_status); ``summary`` (compliance.json, optional) names the run. Failed when a
    session was not put back. Returns the id of the result in the HTML report."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    restored, failed = status.get("restored") or [], status.get("failed") or []
    steps = [{"name": f"session {s.get('session')} put back: {s.get('note', '')}", "status": "passed",
              "stage": "finished", "start": 0, "stop": 0} for s in restored]
    steps += [{"name": f"session {s.get('session')} NOT put back: {s.get('note', '')}", "status": "failed",
               "stage": "finished", "start": 0, "stop": 0} for s in failed]
    if failed:
        journals = sorted({str(s.get("path") or s.get("journal") or "") for s in failed} - {""})
        name = f"RESTORE FAILED: {len(failed)} session(s) not put back"
        message = name + "; put them back with: " + "; ".join(f"rec-restore {j}" for j in journals or ["<journal>"])
    else:
        name = f"Restore: {len(restored)} session(s) put back as found" if restored else \
            "Restore: no session was written, nothing to put back"
        message = name
    uuid_ = _run_uuid("restore", summary or {"run": {"started": str(sorted(str(s) for s in restored + failed))}})
    data = _run_result(uuid_, name, "failed" if failed else "passed", message, steps, "restore",
                       "Every session the run wrote to, and whether it reads as before the run.")
    (results_dir / f"{uuid_}-result.json").write_text(json.dumps(data), encoding="utf-8")
    return result_id(uuid_)


def write_run_results(results_dir: Path, summary: dict) -> str:
    """The verdict and (from ``summary["restore"]``) the restore results; returns the verdict's id.
    First every check's result is made to say what compliance.json says of its case."""
    apply_case_records(results_dir, summary.get("cases") or [])
    if summary.get("restore") is not None:
        write_restore_result(results_dir, summary["restore"], summary)
    return write_verdict_result(results_dir, summary)
