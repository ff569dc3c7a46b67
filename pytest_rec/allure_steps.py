"""Allure decorations of the suite's checks and the run's own results.

A case is labelled for a requirement view: epic = the basis of each of its requirements (seed
page, verified fact, ...), feature = each requirement ("REC-X: title"), story = its family
(the matrix starting state, or the scenario); the tree of the HTML report is requirement >
family (see ``TREE``). One step per HTTP exchange (already redacted). After the run,
``tidy_results`` drops the fixture set-up and tear-down records that never talked to the array,
and ``write_run_result`` adds the verdict and the restore outcome as results of their own.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from hashlib import md5
from pathlib import Path

import allure
from allure_commons._allure import StepContext      # a step with parameters (allure.step takes none)

from .catalogue import load_catalogue
from .client import Exchange, Secrets

BASIS = {"seed": "seed page", "V": "verified fact", "I": "inference", "assumption": "assumption",
         "silent": "recorded only"}
# The tree of the HTML report: requirement, then case family. Not epic (basis) first: Allure 3 puts
# a test with several epics and features under every epic x feature pair, so a case of a seed rule
# and an assumption would show each requirement under both bases; the basis is in the node's name.
TREE = ["feature", "story"]
RUN = "pytest-rec run: verdict and restore"     # the feature of the run's own results
RUN_TAG = "pytest-rec run"                         # the tag of every result the run writes itself
# Where the array deviated, where the check could not run, ...; the first match wins. `message` is a
# search pattern valid in JavaScript (Allure 3) and Java (Allure 2, which needs a full match: see below);
# `labels` (label name -> pattern) is Allure 3's only.
CATEGORIES = [
    {"name": "Sessions not put back (run rec-restore)", "statuses": ["failed"], "message": r"RESTORE FAILED"},
    {"name": "Array deviations (the array broke a rule of the reference)", "statuses": ["failed"],
     "message": r"\[REC-[A-Z0-9-]+"},
    {"name": "Inconclusive run (a required check did not run)", "statuses": ["broken"],
     "labels": {"tag": f"^{RUN_TAG}$"}},
    {"name": "Environment errors (the check could not run)", "statuses": ["broken"],
     "trace": r"TargetError|RequestBlocked"},
    {"name": "Suite errors (a defect of the suite)", "statuses": ["broken"]},
    {"name": "Known deviations (ticketed)", "statuses": ["skipped"], "message": r"known deviation"},
    {"name": "Skipped with a reason", "statuses": ["skipped"]},
]


def requirement_name(rid: str) -> str:
    """The feature label (and tree node) of a requirement: id, title and basis."""
    req = {r["id"]: r for r in load_catalogue()}.get(rid)
    if req is None:
        return rid
    return f"{rid}: {req['title']} ({BASIS.get(str(req['basis']), req['basis'])})"


def family(item) -> str:
    """The case family: the matrix starting state, or the check (scenario) the case belongs to."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("rec_case") if callspec else None
    if case is not None:
        return f"matrix: from {case.start.label()}"
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    return name.removeprefix("test_").replace("_", " ")


def label_case(item, requirement_ids: list[str]) -> None:
    reqs = {r["id"]: r for r in load_catalogue()}
    for basis in dict.fromkeys(BASIS.get(str(reqs[r]["basis"]), str(reqs[r]["basis"]))
                               for r in requirement_ids if r in reqs):
        allure.dynamic.epic(basis)
    allure.dynamic.feature(*[requirement_name(r) for r in requirement_ids])
    allure.dynamic.story(family(item))
    for rid in requirement_ids:
        allure.dynamic.tag(rid)
        if rid in reqs and str(reqs[rid].get("source", "")).startswith("http"):
            allure.dynamic.link(reqs[rid]["source"], name=f"{rid} reference")
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        # some parameters (bytes) are shown by allure-pytest as their type alone; the case id keeps
        # every case its own history id, so Allure does not fold distinct cases into "retries"
        allure.dynamic.parameter("case", callspec.id)
    case = callspec.params.get("rec_case") if callspec else None
    if case is not None:
        exp = case.expectation
        allure.dynamic.title(case.id)
        allure.dynamic.parameter("rec_case", repr(case), excluded=True, mode=allure.parameter_mode.HIDDEN)
        allure.dynamic.parameter("starting state", case.start.label())
        allure.dynamic.parameter("body", json.dumps(case.body_dict))
        allure.dynamic.parameter("expected", exp.modes.label() if exp.accepted and exp.modes else
                                 ("recorded only" if exp.recorded else f"refused ({exp.refusal_requirement})"))
    else:
        doc = (item.function.__doc__ or "").strip().splitlines()
        title = item.name.replace("_", " ")
        allure.dynamic.title(title)
        if doc:
            allure.dynamic.description(" ".join(line.strip() for line in doc))


def _short(text: str, limit: int = 600) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters; the transcript has all)"


def step_listener(secrets: Secrets):
    """One Allure step per exchange of the running check. Safe after the check has ended (an
    interrupt's restore): with no Allure test open, it records nothing instead of failing."""
    def on_exchange(ex: Exchange) -> None:
        title = f"{ex.method} {ex.path} -> {ex.status if ex.status is not None else ex.error}"
        # the request and the answer as the step's parameters, not an attachment file each: a full run
        # makes about 1,800 exchanges, and writing a file per exchange was a third of the run's time
        params = {"request headers": _short(secrets.redact(json.dumps(ex.request_headers))),
                  "request body": _short(secrets.redact(json.dumps(ex.request_body))),
                  "response": _short(secrets.redact(json.dumps(ex.response_body))),
                  "elapsed ms": f"{ex.elapsed * 1000:.1f}"}
        try:
            with StepContext(secrets.redact(title), params):
                pass
        except Exception:  # noqa: BLE001 - no test open (an interrupt's restore): a report step is not worth a session
            pass
    return on_exchange


def categories_allure2() -> list[dict]:
    """CATEGORIES for Allure 2 (categories.json in the results; Java regexes match the whole text)."""
    out = []
    for c in CATEGORIES:
        if "labels" in c:               # Allure 2 matches on status, message and trace only
            continue
        entry = {"name": c["name"], "matchedStatuses": c["statuses"]}
        for key, field in (("message", "messageRegex"), ("trace", "traceRegex")):
            if key in c:
                entry[field] = rf"[\s\S]*({c[key]})[\s\S]*"
        out.append(entry)
    return out


def categories_allure3() -> list[dict]:
    """CATEGORIES for Allure 3: its `categories` configuration (it ignores categories.json)."""
    return [{"name": c["name"], "matchers": {k: v for k, v in c.items() if k != "name"}} for c in CATEGORIES]


def write_environment(results_dir: Path, env: dict[str, str], secrets: Secrets) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}={secrets.redact(str(v)).replace(chr(10), ' ')}" for k, v in env.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (results_dir / "categories.json").write_text(json.dumps(categories_allure2(), indent=2), encoding="utf-8")


# --------------------------------------------------------------------------- after the run
def _fixture_label(name: str) -> str:
    fixture, _, part = name.partition("::")
    return f"{fixture} ({'tear-down' if part else 'set-up'})"


def _merge_repeats(steps: list[dict]) -> list[dict]:
    """Consecutive identical passed exchanges (a settle loop's GETs) as one step with every attachment."""
    out: list[dict] = []
    for step in steps:
        prev = out[-1] if out else None
        if prev is not None and prev.get("_base", prev["name"]) == step["name"] and not step.get("steps") \
                and prev.get("status") == step.get("status") == "passed":
            prev["_count"] = prev.get("_count", 1) + 1
            prev["_base"] = step["name"] if "_base" not in prev else prev["_base"]
            prev["name"] = f"{prev['_base']} ({prev['_count']} times)"
            prev.setdefault("attachments", []).extend(step.get("attachments", []))
            prev["stop"] = step.get("stop", prev.get("stop"))
            continue
        out.append(dict(step))
    for step in out:
        step.pop("_count", None)
        step.pop("_base", None)
    return out


def lean_result_files() -> None:
    """Two changes to how allure-commons writes result files (each file's content stays the same
    but for the dropped records). First, allure-pytest writes a container file for every fixture of every check (about 1,400 in a full
    run), nearly all of them set-up and tear-down records that never talked to the array, which
    ``tidy_results`` deletes after the run anyway. Drop those records before they are written: the
    same results, a thousand files fewer. Second, each file in one piece (below). Call before
allure-pytest registers its file logger."""
    import os

    from allure_commons import hookimpl
    from allure_commons.logger import AllureFileLogger
    from attr import asdict

    original = AllureFileLogger.report_container
    if getattr(original, "_rec_quiet", False):
        return

    def _kept(fixtures) -> list:
        return [fx for fx in fixtures or [] if fx.steps or fx.attachments or fx.status not in (None, "passed")]

    @hookimpl
    def report_container(self, container):
        container.befores, container.afters = _kept(container.befores), _kept(container.afters)
        if container.befores or container.afters:
            original(self, container)

    report_container._rec_quiet = True
    AllureFileLogger.report_container = report_container

    def _report_item(self, item):
        # allure-commons writes with json.dump, which always takes the pure-Python encoder and writes
        # in hundreds of small pieces; json.dumps takes the C encoder (when not indenting) and one
        # write: the same file, about 0.3 s less per full run
        indent = 4 if os.environ.get("ALLURE_INDENT_OUTPUT") else None
        name = item.file_pattern.format(prefix=uuid.uuid4())
        text = json.dumps(asdict(item, filter=lambda _, v: v or v is False), indent=indent, ensure_ascii=False)
        tmp = self._report_dir / f"{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self._report_dir / name)

    AllureFileLogger._report_item = _report_item


def tidy_results(results_dir: Path) -> dict[str, int]:
    """Drop fixture set-up/tear-down records that made no step, attachment or error (allure-pytest
    records every fixture, named `<lambda>` on tear-down); name the rest for the fixture and its
    phase; merge repeated identical exchanges. Idempotent. Returns what was dropped and kept."""
    dropped = kept = 0
    for path in Path(results_dir).glob("*-container.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for phase in ("befores", "afters"):
            fixtures = []
            for fx in data.get(phase, []):
                if not fx.get("steps") and not fx.get("attachments") and fx.get("status") in (None, "passed"):
                    dropped += 1
                    continue
                if "(set-up)" not in fx["name"] and "(tear-down)" not in fx["name"]:
                    fx["name"] = _fixture_label(fx["name"])
                kept += 1
                fixtures.append(fx)
            data[phase] = fixtures
        if not data["befores"] and not data["afters"]:
            path.unlink()
        else:
            path.write_text(json.dumps(data), encoding="utf-8")
    for path in Path(results_dir).glob("*-result.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        before = json.dumps(data)
        data["steps"] = _merge_repeats(data.get("steps", []))
        _narrow_to_failed(data)
        if json.dumps(data) != before:
            path.write_text(json.dumps(data), encoding="utf-8")
    return {"dropped": dropped, "kept": kept}


def _narrow_to_failed(data: dict) -> None:
    """A failed case sits in the tree under the requirements its error names (as compliance.json
    counts it), not under the others it checked (still its tags): those passed, and a setup step or
    a generated body may break a rule outside the case's own."""
    if data.get("status") != "failed" or _is_run_result(data):
        return
    message = (data.get("statusDetails") or {}).get("message", "")
    reqs = {r["id"]: r for r in load_catalogue()}
    named = sorted({rid for group in re.findall(r"\[(REC-[A-Z0-9-]+(?:, REC-[A-Z0-9-]+)*)\]", message)
                    for rid in group.split(", ")} & set(reqs))
    if not named:
        return
    data["labels"] = [lb for lb in data.get("labels", []) if lb.get("name") not in ("feature", "epic")] + \
        [{"name": "feature", "value": requirement_name(rid)} for rid in named] + \
        [{"name": "epic", "value": e} for e in sorted({BASIS.get(str(reqs[rid]["basis"]), "") for rid in named})]


# --------------------------------------------------------------------------- the run's own results
_STATUS = {"compliant": "passed", "non-compliant": "failed"}          # inconclusive: broken


def _run_uuid(kind: str, summary: dict) -> str:
    """The same uuid each time for one run: writing a result twice replaces it, never doubles it."""
    t, run = summary.get("target") or {}, summary.get("run") or {}
    key = "|".join(str(x) for x in (kind, t.get("url"), t.get("serial"), t.get("firmware"), run.get("started")))
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "pytest-rec:" + key))


def result_id(uuid_: str) -> str:
    """The id Allure 3 gives the result (md5 of its uuid): the report's address of it is ``#/<id>``."""
    return md5(uuid_.encode()).hexdigest()


def _is_run_result(data: dict) -> bool:
    return any(lb.get("name") == "tag" and lb.get("value") == RUN_TAG for lb in data.get("labels", []))


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
    first = min(found, key=lambda d: (len(d.get("steps", [])), d.get("start") or 0, d.get("name", "")))
    return first.get("name", ""), first.get("steps", [])


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
    if failing:
        name += "; fails: " + ", ".join(r["id"] for r in failing)
    lines = [f"VERDICT: {verdict}: {summary.get('verdict_reason', '')}",
             f"seed rules: {summary.get('seed_verdict', 'unknown')}"]
    steps, uuid_ = [], _run_uuid("verdict", summary)
    for r in failing:
        count = r.get("failed", 0) + r.get("known", 0)
        what = f"{count} of {r.get('tests', 0)} case(s) failed" if r["verdict"] == "fail" else \
            f"{r.get('errors', 0)} of {r.get('tests', 0)} case(s) could not run"
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
    """The verdict and (from ``summary["restore"]``) the restore results; returns the verdict's id."""
    if summary.get("restore") is not None:
        write_restore_result(results_dir, summary["restore"], summary)
    return write_verdict_result(results_dir, summary)
