"""The summary from data (report.py): verdicts, exit codes and counts of CONTRACT section 4, on
hand-made case records, so that each rule of the verdict is shown to be able to fail."""

from __future__ import annotations

import pytest

from pytest_rec.report.summary import build_summary, deviation_groups, exit_code, render_markdown, verdict_line

RUN = {"suite_version": "0", "commit": "abc", "command": "rec-compliance", "started": "t0", "ended": "t1",
       "python": "3.11", "sim_defects": [], "sim_options": {}}


def meta(**kw):
    base = {"target": {"url": "https://a:5665", "kind": "array"}, "depth": "full", "strict": False,
            "dry_run": False, "run": RUN, "collected": 0}
    base.update(kw)
    return base


def case(cid, reqs, outcome="passed", failed=(), **kw):
    return {"id": cid, "requirements": list(reqs), "outcome": outcome, "failed_requirements": list(failed),
            "detail": kw.pop("detail", ""), **kw}


def every_requirement_passes():
    from pytest_rec.model.catalogue import load_catalogue

    return [case(f"t-{r['id']}", [r["id"]]) for r in load_catalogue()]


def summarise(cases, **kw):
    m = meta(collected=len(cases), **kw)
    s = build_summary(cases, m)
    s["restore"] = {"restored": [], "failed": []}
    return s


def test_everything_passed_is_compliant_exit_0():
    s = summarise(every_requirement_passes())
    assert s["verdict"] == "compliant" and exit_code(s, 0) == 0


def test_opt_in_skip_does_not_stop_compliant():
    cases = every_requirement_passes() + [case("test_expired_token", ["REC-AUTH"], "skipped", opt_in=True,
                                               detail="opt-in: 30 minutes")]
    s = summarise(cases)
    assert s["verdict"] == "compliant" and exit_code(s, 0) == 0
    auth = next(r for r in s["requirements"] if r["id"] == "REC-AUTH")
    assert auth["opt_in"] == 1 and auth["verdict"] == "pass"
    assert "## Not run (opt-in)" in render_markdown(s)


def test_required_skip_is_inconclusive_exit_2_and_never_pass():
    cases = every_requirement_passes() + [case("test_x", ["REC-AUTH"], "skipped", detail="no reason")]
    s = summarise(cases)
    auth = next(r for r in s["requirements"] if r["id"] == "REC-AUTH")
    assert s["verdict"] == "inconclusive" and auth["verdict"] == "not-run" and exit_code(s, 0) == 2


def test_new_deviation_exit_1_known_only_exit_0():
    cases = every_requirement_passes()
    new = summarise(cases + [case("c1", ["REC-ACCEPT"], "failed", ["REC-ACCEPT"], detail="[REC-ACCEPT] x")])
    assert new["verdict"] == "non-compliant" and exit_code(new, 1) == 1
    known = summarise(cases + [case("c1", ["REC-ACCEPT"], "known-deviation", ["REC-ACCEPT"], tickets=["T-1"])])
    assert known["verdict"] == "non-compliant" and exit_code(known, 0) == 0
    assert "no new deviations" in verdict_line(known)
    # a known deviation plus a required check that did not run: not "otherwise compliant"
    both = summarise(cases + [case("c1", ["REC-ACCEPT"], "known-deviation", ["REC-ACCEPT"], tickets=["T-1"]),
                              case("c2", ["REC-AUTH"], "error", detail="TargetError")])
    assert exit_code(both, 0) == 2


def test_narrowed_run_that_went_through_exit_0_but_inconclusive():
    s = summarise(every_requirement_passes(), depth="smoke")
    assert s["verdict"] == "inconclusive" and exit_code(s, 0) == 0
    s = summarise(every_requirement_passes(), narrowed=["-k auth"])
    assert s["verdict"] == "inconclusive" and exit_code(s, 0) == 0
    s = summarise(every_requirement_passes() + [case("e", ["REC-AUTH"], "error")], depth="smoke")
    assert exit_code(s, 0) == 2


def test_interrupt_and_restore_failure_exit_2():
    s = summarise(every_requirement_passes(), interrupted="SIGTERM")
    assert s["verdict"] == "inconclusive" and exit_code(s, 2) == 2
    s = summarise(every_requirement_passes())
    s["restore"] = {"restored": [], "failed": [{"session": 1, "journal": "j.json", "note": ""}]}
    assert exit_code(s, 0) == 2


def test_nothing_ran_never_says_everything_ran():
    s = summarise([])
    assert s["verdict"] == "inconclusive" and exit_code(s, 0) == 2
    md = render_markdown(s)
    assert "Nothing ran" in md and "Every required check ran" not in md


def test_cut_short_run_is_inconclusive():
    s = build_summary(every_requirement_passes(), meta(collected=len(every_requirement_passes()) + 5))
    s["restore"] = {"restored": [], "failed": []}
    assert s["verdict"] == "inconclusive" and "never ran" in s["verdict_reason"] and exit_code(s, 0) == 2


def test_setup_failure_blocks_not_fails_the_cases_own_requirements():
    cases = every_requirement_passes() + [
        case("sticky", ["REC-ACCEPT", "REC-STICKY-MANUAL"], "failed", ["REC-ACCEPT"], setup_failed=True,
             detail="[REC-ACCEPT] setup step {} from Consistency/Manual/Manual on session 1: not applied"),
        case("later", ["REC-ACCEPT", "REC-STICKY-MANUAL"], "blocked", detail="blocked: ...")]
    s = summarise(cases)
    rows = {r["id"]: r for r in s["requirements"]}
    assert rows["REC-ACCEPT"]["verdict"] == "fail"
    assert rows["REC-STICKY-MANUAL"]["failed"] == 0 and rows["REC-STICKY-MANUAL"]["blocked"] == 2
    for r in s["requirements"]:
        assert r["tests"] == r["passed"] + r["failed"] + r["errors"] + r["skipped"] + r["blocked"]


@pytest.mark.parametrize("n", [1, 5])
def test_one_root_failure_reads_as_one_finding(n):
    cases = [case(f"c{i}", ["REC-ACCEPT"], "failed", ["REC-ACCEPT"],
                  detail=f"[REC-ACCEPT] the transfer mode sent was not applied: the change was accepted but nothing "
                         f"of it was applied: the session still reads "
                         f"Consistency/Manual/Manual, expected Synchronous/Manual/Manual (from Consistency/Manual/"
                         f"Manual with {{'transfer_mode': 'Synchronous', 'n': {i}}})") for i in range(n)]
    cases.append(case("partly", ["REC-ACCEPT"], "failed", ["REC-ACCEPT"],    # the recovery mode took, the transfer not
                      detail="[REC-ACCEPT] the transfer mode sent was not applied: transfer_mode reads 'Stack' after "
                             "the change, expected 'Synchronous' (from Stack/Manual/Manual with {...})"))
    cases.append(case("other", ["REC-RECOVERY"], "failed", ["REC-RECOVERY"],
                      detail="[REC-RECOVERY] recovery_mode reads 'Automatic' after the change, expected 'Manual'"))
    groups = deviation_groups(cases)
    assert [(g["requirement"], g["count"]) for g in groups] == [("REC-ACCEPT", n + 1), ("REC-RECOVERY", 1)]


def test_a_check_cut_short_never_passes_the_requirements_it_did_not_reach():
    """A round trip whose first step broke REC-FORCED-MANUAL never reached the step that judges
    REC-STICKY-MANUAL: that requirement is blocked there (never passed), and the Why line says so,
    while the requirements the first step did judge still count as passed."""
    reqs = ["REC-STICKY-MANUAL", "REC-FORCED-MANUAL", "REC-ACCEPT", "REC-RESPONSE"]
    cases = every_requirement_passes() + [
        case("round-trip", reqs, "failed", ["REC-FORCED-MANUAL"], cut_short=["REC-STICKY-MANUAL"],
             detail="[REC-FORCED-MANUAL] split_mode reads 'Automatic' after the change, expected 'Manual'")]
    s = summarise(cases)
    rows = {r["id"]: r for r in s["requirements"]}
    assert rows["REC-STICKY-MANUAL"]["blocked"] == 1 and rows["REC-STICKY-MANUAL"]["verdict"] == "error"
    assert rows["REC-ACCEPT"]["passed"] == 2 and rows["REC-ACCEPT"]["verdict"] == "pass"
    assert s["verdict"] == "non-compliant" and "not judged to the end: REC-STICKY-MANUAL" in s["verdict_reason"]
    from pytest_rec.report.summary import verdict_line

    assert "not judged to the end: REC-STICKY-MANUAL" in verdict_line(s)     # the last line says why exit 2
    for r in s["requirements"]:
        assert r["tests"] == r["passed"] + r["failed"] + r["errors"] + r["skipped"] + r["blocked"]


def test_signoff_keeps_the_pages_words_apart_from_the_readings():
    from pytest_rec.report.signoff import profile_values
    from pytest_rec.model.target import Profile

    cases = every_requirement_passes()
    cases = [c if c["id"] != "t-REC-SUSPEND-FIRST" else
             case("t-REC-SUSPEND-FIRST", ["REC-SUSPEND-FIRST"], "failed", ["REC-SUSPEND-FIRST"]) for c in cases]
    s = summarise(cases, profile=profile_values(Profile(readable_transfer_modes=("Through",))))
    words, readings = s["signoff"]["words"], s["signoff"]["readings"]
    assert "REC-FORCED-MANUAL" in words["requirements"] and "REC-SUSPEND-FIRST" not in words["requirements"]
    assert readings["requirements"] == ["REC-RESPONSE", "REC-SUSPEND-FIRST", "REC-KEEP-OMITTED", "REC-TENANT-ALLOW"]
    assert (words["verdict"], readings["verdict"], s["seed_verdict"]) == ("pass", "fail", "fail")
    basis = {b["id"]: b for b in s["signoff"]["basis"]}
    assert basis["REC-NON-REC"]["refusals_accepted"] == ["400", "409", "404", "job-error"]
    assert basis["REC-SUSPEND-FIRST"]["page"] == "reading" and basis["REC-SUSPEND-FIRST"]["reading"]
    md = render_markdown(s)
    assert "Sign-off, the page's own words (REC-ACCEPT" in md and "**pass**" in md
    assert "Sign-off, the contract's readings of the page (REC-RESPONSE" in md
    assert "| `REC-TENANT-DENY` | seed | words | 403, 404, job-error |" in md
    assert '| readable_transfer_modes | `["Through"]` |' in md
    strict = summarise(every_requirement_passes(), strict=True)
    assert {b["id"]: b for b in strict["signoff"]["basis"]}["REC-NON-REC"]["refusals_accepted"] == ["400"]


def test_known_only_run_names_each_ticket_and_no_new_deviations():
    cases = every_requirement_passes() + [
        case("c1", ["REC-RECOVERY"], "known-deviation", ["REC-RECOVERY"], tickets=["ETERNUS-42"],
             known_reasons={"ETERNUS-42": "recovery ignored"})]
    md = render_markdown(summarise(cases))
    assert "No new deviations: every deviation is a known one: ETERNUS-42 (REC-RECOVERY, 1 case(s)): recovery " \
           "ignored" in md
    # a new deviation beside it: no such line
    new = cases + [case("c2", ["REC-ACCEPT"], "failed", ["REC-ACCEPT"], detail="[REC-ACCEPT] x")]
    assert "No new deviations" not in render_markdown(summarise(new))


def test_verdict_line_names_the_array_and_firmware_of_a_target_file_run():
    s = summarise(every_requirement_passes(),
                  target={"url": "https://a:5665", "kind": "array", "model": "ETERNUS AF650 S3", "serial": "4601",
                          "firmware": "V11L40-0000"})
    assert verdict_line(s).startswith("VERDICT: compliant [ETERNUS AF650 S3 4601, firmware V11L40-0000]")
    sim = summarise(every_requirement_passes(), target={"url": "sim", "kind": "sim", "model": "pytest-rec SIMULATOR"})
    assert "firmware" not in verdict_line(sim) and "[SIMULATOR]" in verdict_line(sim)


@pytest.mark.parametrize("stopped, words", [
    ("pytest-rec: cannot log in to https://a:5665 as admin: login for user 'qa' answered 401: {...} (check ...)",
     "cannot log in as admin: wrong user name or password"),
    ("pytest-rec: cannot log in to https://a:5665 as admin: ConnectError: [Errno 111] Connection refused",
     "cannot connect to the target (url, port)"),
    ("pytest-rec: cannot log in to https://a:5665 as admin: ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] x",
     "TLS: the array's certificate is not trusted (verify)"),
    ("pytest-rec: target file error: t.toml: unknown key 'writeable' in [sessions]", "target file error"),
])
def test_a_run_that_never_started_says_why_on_its_last_line_once(stopped, words):
    s = summarise([], stopped=stopped)
    assert verdict_line(s).startswith(f"VERDICT: inconclusive ({words}) [")
    assert s["verdict_reason"].count("answered 401") <= 1 and "REC-SERIAL" not in s["verdict_reason"]
    interrupted = summarise([], interrupted="SIGINT")
    assert verdict_line(interrupted).startswith("VERDICT: inconclusive (interrupted before any check ran: SIGINT)")
