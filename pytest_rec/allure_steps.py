"""Allure decorations of the suite's checks: labels from the requirement catalogue, a title
per case, parameters, links to the reference, and a step per HTTP exchange (already redacted)."""

from __future__ import annotations

import json
from pathlib import Path

import allure

from .catalogue import load_catalogue
from .client import Exchange, Secrets

EPIC = "ETERNUS REST: PATCH /copysession/{copysession_id} (REC session configuration)"


def label_case(item, requirement_ids: list[str]) -> None:
    reqs = {r["id"]: r for r in load_catalogue()}
    first = reqs.get(requirement_ids[0]) if requirement_ids else None
    allure.dynamic.epic(EPIC)
    if first:
        allure.dynamic.feature(f"{first['id']}: {first['title']}")
        allure.dynamic.story(f"basis: {first['basis']}")
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


def step_listener(secrets: Secrets):
    """One Allure step per exchange of the running check. Safe after the check has ended (an
    interrupt's restore): with no Allure test open, it records nothing instead of failing."""
    def on_exchange(ex: Exchange) -> None:
        title = f"{ex.method} {ex.path} -> {ex.status if ex.status is not None else ex.error}"
        try:
            with allure.step(secrets.redact(title)):
                # one attachment per exchange (request and response together): half the files to write
                allure.attach(secrets.redact(json.dumps({"request": {"headers": ex.request_headers,
                                                                     "body": ex.request_body},
                                                         "response": ex.response_body,
                                                         "elapsed_ms": round(ex.elapsed * 1000, 2)}, indent=1)),
                              name="request and response", attachment_type=allure.attachment_type.JSON)
        except Exception:  # noqa: BLE001 - no test open (an interrupt's restore): a report step is not worth a session
            pass
    return on_exchange


def write_environment(results_dir: Path, env: dict[str, str], secrets: Secrets) -> None:
    results_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"{k}={secrets.redact(str(v)).replace(chr(10), ' ')}" for k, v in env.items()]
    (results_dir / "environment.properties").write_text("\n".join(lines) + "\n", encoding="utf-8")
    categories = [
        {"name": "Array deviations (the array broke a rule of the reference)", "matchedStatuses": ["failed"],
         "messageRegex": r"(?s).*\[REC-[A-Z0-9-]+.*"},
        {"name": "Environment errors (the check could not run)", "matchedStatuses": ["broken"],
         "traceRegex": r"(?s).*(TargetError|RequestBlocked).*"},
        {"name": "Suite errors (a defect of the suite)", "matchedStatuses": ["broken"]},
        {"name": "Skipped with a reason", "matchedStatuses": ["skipped"]},
    ]
    (results_dir / "categories.json").write_text(json.dumps(categories, indent=2), encoding="utf-8")
