"""The run's own Allure results and the tidying after a run, on result files written here (no
suite run, no browser): fixture records without a step go, a failed case moves under the
requirements its error names, the verdict and the restore are results that replace themselves."""

from __future__ import annotations

import json

from pytest_rec.report.allure_run import write_restore_result, write_run_results
from pytest_rec.report.allure_steps import (RUN_TAG, categories_allure2, categories_allure3, requirement_name,
                                            tidy_results)

SUMMARY = {"verdict": "non-compliant", "verdict_reason": "the array deviates from: REC-FORCED-MANUAL",
           "seed_verdict": "fail", "target": {"url": "u", "model": "M", "serial": "S", "firmware": "F"},
           "run": {"started": "2026-11-29T19:00:00Z"},
           "requirements": [{"id": "REC-FORCED-MANUAL", "title": "t", "basis": "seed", "verdict": "fail", "tests": 2,
                             "passed": 1, "failed": 1},
                            {"id": "REC-ACCEPT", "title": "t", "basis": "seed", "verdict": "pass", "tests": 2,
                             "passed": 2, "failed": 0},
                            {"id": "REC-NO-5XX", "title": "t", "basis": "assumption", "verdict": "pass", "tests": 2,
                             "passed": 2, "failed": 0}],
           "restore": {"restored": [{"session": 1, "note": "back"}], "failed": []}}


def _case(tmp_path, name, status, message, features, steps=()):
    data = {"uuid": name, "name": name, "status": status, "start": 10, "statusDetails": {"message": message},
            "steps": [{"name": s, "status": "passed"} for s in steps],
            "labels": [{"name": "feature", "value": requirement_name(f)} for f in features]}
    (tmp_path / f"{name}-result.json").write_text(json.dumps(data))


def _load(tmp_path):
    return {d["name"]: d for d in (json.loads(f.read_text()) for f in tmp_path.glob("*-result.json"))}


def test_tidy_drops_silent_fixtures_names_the_rest_and_moves_a_failed_case(tmp_path):
    (tmp_path / "c-container.json").write_text(json.dumps({"befores": [{"name": "rec_case", "status": "passed"}],
                                                           "afters": [{"name": "rec_case::<lambda>"}]}))
    (tmp_path / "d-container.json").write_text(json.dumps({"befores": [{"name": "rec_ctx", "status": "passed",
                                                                        "steps": [{"name": "GET /x -> 200"}]}],
                                                           "afters": [{"name": "rec_ctx::1", "status": "broken"}]}))
    _case(tmp_path, "a", "failed", "Deviation: [REC-FORCED-MANUAL] split", ["REC-ACCEPT", "REC-FORCED-MANUAL"],
          ["PATCH /c/1 -> 202", "GET /c/1 -> 200", "GET /c/1 -> 200", "GET /c/1 -> 200"])
    _case(tmp_path, "b", "passed", "", ["REC-ACCEPT", "REC-FORCED-MANUAL"])
    assert tidy_results(tmp_path) == {"dropped": 2, "kept": 2}
    assert not (tmp_path / "c-container.json").exists()
    kept = json.loads((tmp_path / "d-container.json").read_text())
    assert [f["name"] for f in kept["befores"] + kept["afters"]] == ["rec_ctx (set-up)", "rec_ctx (tear-down)"]
    cases = _load(tmp_path)
    assert [lb["value"] for lb in cases["a"]["labels"] if lb["name"] == "feature"] == \
        [requirement_name("REC-FORCED-MANUAL")]
    assert [s["name"] for s in cases["a"]["steps"]] == ["PATCH /c/1 -> 202", "GET /c/1 -> 200 (3 times)"]
    assert len([lb for lb in cases["b"]["labels"] if lb["name"] == "feature"]) == 2     # a passed case: under each
    assert tidy_results(tmp_path) == {"dropped": 0, "kept": 2}                         # idempotent


def test_verdict_and_restore_results(tmp_path):
    _case(tmp_path, "a", "failed", "Deviation: [REC-FORCED-MANUAL] split", ["REC-FORCED-MANUAL"],
          ["PATCH /c/1 -> 202", "GET /job/1 -> 200", "GET /c/1 -> 200"])
    _case(tmp_path, "b", "passed", "", ["REC-ACCEPT", "REC-FORCED-MANUAL"])
    first = write_run_results(tmp_path, SUMMARY)
    assert write_run_results(tmp_path, SUMMARY) == first            # written again: replaced, not doubled
    results = _load(tmp_path)
    verdict = next(r for n, r in results.items() if n.startswith("VERDICT: non-compliant"))
    assert verdict["status"] == "failed" and "fails: REC-FORCED-MANUAL" in verdict["name"]
    assert [s["name"] for s in verdict["steps"][0]["steps"]] == ["PATCH /c/1 -> 202", "GET /job/1 -> 200",
                                                                 "GET /c/1 -> 200"]
    assert {"name": "tag", "value": RUN_TAG} in verdict["labels"]
    assert results["Restore: 1 session(s) put back as found"]["status"] == "passed"
    # REC-NO-5XX has no case under it: a result of its own keeps one tree node per requirement
    assert [n for n in results if n.startswith("REC-NO-5XX: pass")]
    assert len(results) == 5
    write_restore_result(tmp_path, {"restored": [], "failed": [{"session": 3, "note": "busy", "path": "/j.json"}]},
                         SUMMARY)
    failed = next(r for n, r in _load(tmp_path).items() if n.startswith("RESTORE FAILED"))
    assert failed["status"] == "failed" and "rec-restore /j.json" in failed["statusDetails"]["message"]


def test_categories_for_both_allure_versions():
    three = categories_allure3()
    names = [c["name"].split(" (")[0] for c in three]
    # the first match wins: a known deviation (its message also names the rule) before the array deviations
    assert names.index("Known deviations") < names.index("Array deviations")
    arr = three[names.index("Array deviations")]
    assert arr["matchers"]["message"] == r"\[REC-[A-Z0-9-]+"
    two = categories_allure2()
    assert all("labels" not in c for c in two)
    assert two[1]["messageRegex"].startswith(r"[\s\S]*(") and "(?s)" not in json.dumps(two)
