"""Allure decorations of the suite's checks and the run's own results.

A case is labelled for a requirement view: epic = the basis of each of its requirements (seed
page, verified fact, ...), feature = each requirement ("REC-X: title"), story = its family
(the matrix starting state, or the scenario); the tree of the HTML report is requirement >
family (see ``TREE``). One step per HTTP exchange (already redacted). After the run,
``tidy_results`` drops the fixture set-up and tear-down records that never talked to the array,
and ``allure_run`` adds the verdict and the restore outcome as results of their own.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

import allure
from allure_commons._allure import StepContext      # a step with parameters (allure.step takes none)

from ..model.catalogue import load_catalogue
from ..client.transcript import Exchange, Secrets

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
    {"name": "Known deviations (ticketed: the array still breaks the rule, the gate accepts it)",
     "statuses": ["failed"], "message": r"^KNOWN DEVIATION"},
    {"name": "Array deviations (the array broke a rule of the reference)", "statuses": ["failed"],
     "message": r"\[REC-[A-Z0-9-]+"},
    {"name": "Inconclusive run (a required check did not run)", "statuses": ["broken"],
     "labels": {"tag": f"^{RUN_TAG}$"}},
    {"name": "Environment errors (the check could not run)", "statuses": ["broken"],
     "trace": r"TargetError|RequestBlocked"},
    {"name": "Suite errors (a defect of the suite)", "statuses": ["broken"]},
    {"name": "Blocked (a setup step failed on another requirement)", "statuses": ["skipped"],
     "message": r"^blocked"},
    {"name": "Skipped with a reason", "statuses": ["skipped"]},
]


CASE_LABEL = "rec_case"                          # the compliance.json case id of a result


def _case_id(item) -> str:
    """The case id compliance.json gives the check (plugin._outcomes.case_id)."""
    callspec = getattr(item, "callspec", None)
    base = getattr(item, "originalname", None) or item.name
    return f"{base}[{callspec.id}]" if callspec else base


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
    allure.dynamic.label(CASE_LABEL, _case_id(item))     # ties the result to its compliance.json case
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


class _StepListener:
    """One Allure step per exchange of the running check, grouped under the check's phases
    (``Transcript.phase``). Safe after the check has ended (an interrupt's restore): with no Allure
    test open, it records nothing instead of failing."""

    def __init__(self, secrets: Secrets) -> None:
        self.secrets = secrets

    def __call__(self, ex: Exchange) -> None:
        title = f"{ex.method} {ex.path} -> {ex.status if ex.status is not None else ex.error}"
        # the request and the answer as the step's parameters, not an attachment file each: a full run
        # makes about 1,800 exchanges, and writing a file per exchange was a third of the run's time
        secrets = self.secrets
        params = {"request headers": _short(secrets.redact(json.dumps(ex.request_headers))),
                  "request body": _short(secrets.redact(json.dumps(ex.request_body))),
                  "response": _short(secrets.redact(json.dumps(ex.response_body))),
                  "elapsed ms": f"{ex.elapsed * 1000:.1f}"}
        try:
            with StepContext(secrets.redact(title), params):
                pass
        except Exception:  # noqa: BLE001 - no test open (an interrupt's restore): a report step is not worth a session
            pass

    @contextmanager
    def phase(self, title: str):
        step = StepContext(self.secrets.redact(title), {})
        try:
            step.__enter__()
        except Exception:  # noqa: BLE001 - no test open: the exchanges are recorded without the group
            yield
            return
        try:
            yield
        finally:
            try:
                step.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - as above
                pass


def step_listener(secrets: Secrets) -> _StepListener:
    return _StepListener(secrets)


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


_MODES_REPR = re.compile(r"^Modes\(transfer_mode='([^']*)', split_mode='([^']*)', recovery_mode='([^']*)'\)$")


def plain(value) -> str:
    """A value as a reader of the report writes it, not as Python prints it: yes/no for a flag, a
    string without quotes, a body as JSON, modes as transfer/split/recovery."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "none"}[value]
    if not isinstance(value, str):
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)
    m = _MODES_REPR.match(value)
    if m:
        return "/".join(m.groups())
    if value[:1] in "'\"{[":
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return value
        return parsed if isinstance(parsed, str) else plain(parsed)
    return value


def write_environment(results_dir: Path, env: dict[str, str], secrets: Secrets) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}={secrets.redact(plain(v)).replace(chr(10), ' ')}" for k, v in env.items()]
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
        if step.get("steps"):              # a phase ("set-up: ...", "check: ..."): its own exchanges
            step["steps"] = _merge_repeats(step["steps"])
    return out


def _exchange_steps(steps: list[dict]) -> list[dict]:
    """The HTTP steps to show for a failed case without a click: the judged exchanges (the "check:"
    phase) when the case has one, else every exchange with the phases flattened."""
    checked = [s for s in steps if s.get("name", "").startswith("check:")]
    if checked:
        return [x for s in checked for x in s.get("steps", [])]
    out: list[dict] = []
    for s in steps:
        out.extend(_exchange_steps(s["steps"]) if s.get("steps") else [s])
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
        for param in data.get("parameters", []):
            param["value"] = plain(param.get("value"))
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


def _is_run_result(data: dict) -> bool:
    return any(lb.get("name") == "tag" and lb.get("value") == RUN_TAG for lb in data.get("labels", []))


def apply_case_records(results_dir: Path, cases: list[dict]) -> int:
    """Give each check's result what compliance.json says of its case, so that the HTML tree and
    compliance.md agree case by case: a failed case sits under exactly its ``failed_requirements`` and
    carries the failure as its message (a setup step's deviation raises nothing pytest sees); a known
    deviation is red in a category of its own, named by its ticket; a blocked case is skipped with the
    reason (the blocking step's requirement); an error is broken. Idempotent. Returns results changed."""
    by_id = {c["id"]: c for c in cases}
    reqs = {r["id"]: r for r in load_catalogue()}
    changed = 0
    for path in Path(results_dir).glob("*-result.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        case = next((by_id.get(lb.get("value")) for lb in data.get("labels", []) if lb.get("name") == CASE_LABEL), None)
        if case is None or _is_run_result(data):
            continue
        before = json.dumps(data)
        outcome, detail = case.get("outcome"), case.get("detail") or ""
        failed = [r for r in case.get("failed_requirements") or [] if r in reqs]
        details = data.setdefault("statusDetails", {}) or {}
        data["statusDetails"] = details
        message = details.get("message") or ""
        if outcome in ("failed", "known-deviation"):
            data["status"] = "failed"
            if outcome == "known-deviation":
                tickets = ", ".join(case.get("tickets") or [])
                reasons = case.get("known_reasons") or {}
                why = "; ".join(f"{t}: {r}" for t, r in reasons.items())
                details["message"] = f"KNOWN DEVIATION {tickets} (ticketed; no new deviation)" + \
                    (f": {why}" if why else "") + f"\n{detail}"
                if not data.get("name", "").startswith("[known "):
                    data["name"] = f"[known {tickets}] {data.get('name', '')}"
            elif not message or not any(f"[{r}" in message or f", {r}" in message for r in failed):
                details["message"] = detail
            if failed:
                data["labels"] = [lb for lb in data.get("labels", []) if lb.get("name") not in ("feature", "epic")] + \
                    [{"name": "feature", "value": requirement_name(rid)} for rid in failed] + \
                    [{"name": "epic", "value": e} for e in sorted({BASIS.get(str(reqs[rid]["basis"]), "")
                                                                   for rid in failed})]
        elif outcome == "blocked":
            data["status"] = "skipped"
            details["message"] = detail if detail.startswith("blocked") else f"blocked: {detail}"
        elif outcome == "error":
            data["status"] = "broken"
            details["message"] = message or detail
        if json.dumps(data) != before:
            path.write_text(json.dumps(data), encoding="utf-8")
            changed += 1
    return changed
