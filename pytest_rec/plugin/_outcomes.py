"""Outcomes: each check of the suite becomes one case record (CONTRACT section 4) that the
summary is written from; known deviations, and a target that stopped answering."""

from __future__ import annotations

import json

import pytest

from ..errors import Blocked, Deviation, TargetError
from ..model.target import TargetFileError, load_target
from ._state import CASE_INFO, RECORDED, run_of

__all__ = ["pytest_runtest_makereport", "pytest_runtest_setup", "pytest_runtest_call", "case_id", "opt_in"]


def opt_in(reason: str, enable: str) -> None:
    """Skip an opt-in check that the target does not enable (CONTRACT section 4): listed under
    "not run (opt-in)" with how to enable it; it does not stop a compliant verdict."""
    __tracebackhide__ = True
    pytest.skip(f"opt-in: {reason}; enable: {enable}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    rep = yield
    marker = item.get_closest_marker("rec")
    if marker is None:
        return rep
    info = item.stash.get(CASE_INFO, None)
    if info is None:
        info = {"id": case_id(item), "nodeid": item.nodeid, "requirements": list(marker.args),
                "outcome": "passed", "failed_requirements": [], "detail": ""}
        item.stash[CASE_INFO] = info
    exc = call.excinfo.value if call.excinfo else None
    five = _new_server_errors(item) if call.when == "call" and not rep.skipped else []   # a skip claims none
    if five:
        # any 5xx but 503, on any request of the check (reads and job polls included), is a deviation of
        # REC-NO-5XX, never an error of the run (CONTRACT section 1); the exchanges are the evidence
        evidence = "; ".join(f"{e.method} {e.path} answered {e.status}: {json.dumps(e.response_body)[:160]}"
                             for e in five[:3])
        failed = sorted(set(info.get("failed_requirements") or []) | {"REC-NO-5XX"})
        if isinstance(exc, Deviation):
            failed = sorted(set(exc.requirements) | {"REC-NO-5XX"})
        info.update(outcome="failed", failed_requirements=failed,
                    detail=f"[REC-NO-5XX] {evidence}" + (f"; {exc}" if exc else ""))
        rep.outcome = "failed"
        if not rep.longrepr:
            rep.longrepr = f"[REC-NO-5XX] {evidence}"
    elif rep.failed and isinstance(exc, Blocked):
        # the starting state could not be reached because the array answered a setup step wrongly
        # (that step is its own REC-ACCEPT deviation): not run, with the reason, never a failure
        rep.outcome = "skipped"
        rep.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"blocked: {exc}")
        info.update(outcome="blocked", detail=f"blocked: {exc}")
    elif rep.skipped and call.when in ("setup", "call"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        if reason.startswith(("opt-in:", "Skipped: opt-in:")):
            text = reason.split("opt-in:", 1)[1].strip()
            info.update(outcome="skipped", opt_in=True, detail=f"opt-in: {text}",
                        enable=text.split("enable:", 1)[-1].strip() if "enable:" in text else "")
        else:
            info.update(outcome="skipped", detail=reason)
    elif rep.failed and info["outcome"] in ("failed", "known-deviation") and call.when == "teardown":
        info["detail"] += f" (and in teardown: {type(exc).__name__ if exc else 'error'}: {str(exc)[:300]})"
    elif rep.failed:
        if isinstance(exc, Deviation):
            info.update(outcome="failed", failed_requirements=list(exc.requirements), detail=str(exc),
                        setup_failed=bool(getattr(exc, "setup_step", False)))
            hits = _known_hits(item.config, exc.requirements, info["id"])
            if hits:
                tickets = ", ".join(sorted({h.ticket for h in hits}))
                info.update(outcome="known-deviation", tickets=sorted({h.ticket for h in hits}),
                            known_reasons={h.ticket: h.reason for h in hits},
                            detail=f"known deviation ({tickets}): {exc}")
                rep.outcome = "skipped"
                rep.wasxfail = f"known deviation {tickets}"
        elif isinstance(exc, AssertionError) and call.when == "call":
            info.update(outcome="failed", failed_requirements=list(marker.args), detail=str(exc)[:2000])
        else:
            kind = type(exc).__name__ if exc else "error"
            info.update(outcome="error", detail=f"{kind}: {str(exc)[:2000]}" if exc else str(rep.longrepr)[:2000])
            _note_unreachable(item.config, exc)
            if call.when == "call":
                # the check could not run (the target, not the array's answer): an error for pytest's
                # count and JUnit too, as in compliance.json; pytest files an error only outside "call"
                rep.when = "setup"
    elif rep.passed and call.when == "call" and info["outcome"] == "passed":
        run_of(item.config).unreachable.clear()     # the target answered a whole check: not consecutive
        fixed = _known_hits(item.config, list(marker.args), info["id"], any_requirement=True)
        if fixed:
            info["fixed_tickets"] = sorted({h.ticket for h in fixed})
        obs = item.stash.get(RECORDED, None)
        if obs:
            info["detail"] = obs
    ctx = run_of(item.config).ctx
    if call.when == "call" and ctx is not None and ctx.cut_short and ctx.cut_short[0] == info["id"] and \
            info["outcome"] in ("failed", "known-deviation"):
        # the requirements only its later steps judge were never reached: not judged, not passed
        info["cut_short"] = sorted(set(ctx.cut_short[1]) - set(info.get("failed_requirements") or []))
    _merge_setup_findings(item, call, rep, info)
    _redact_longrepr(item, rep)
    if call.when == "teardown":
        rep.user_properties.append(("rec_case", json.dumps(info)))
    return rep


def _redact_longrepr(item: pytest.Item, rep: pytest.TestReport) -> None:
    """pytest's long tracebacks show the arguments of every frame (a token passed to a helper, a
    fixture's value): no password or token of the run reaches JUnit, Allure or the console."""
    if rep.longrepr is None or isinstance(rep.longrepr, tuple):
        return
    ctx = run_of(item.config).ctx
    secrets = getattr(getattr(ctx, "transcript", None), "secrets", None)
    if secrets is None:
        return
    text = str(rep.longrepr)
    clean = secrets.redact(text)
    if clean != text:
        rep.longrepr = clean


def _known_hits(config: pytest.Config, requirements, case_id: str, any_requirement: bool = False):
    known = run_of(config).known
    if not known:
        return []
    from ..gate.known import match

    firmware = _firmware(config)
    if any_requirement:
        return [k for k in known for r in requirements if k.applies(r, case_id, firmware)]
    return match(known, requirements, case_id, firmware)


def _firmware(config: pytest.Config) -> str | None:
    opts = run_of(config).options
    if opts.target == "sim":
        from ..simulator.inventory import load_inventory

        return load_inventory().target.get("array", {}).get("firmware")
    try:
        return load_target(opts.target).array.get("firmware")
    except TargetFileError:
        return None


_CONNECTION_WORDS = ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError", "ReadError")
_JOB_TIMEOUT = "(--rec-job-timeout)"
_MAX_JOB_TIMEOUTS = 3


def _note_unreachable(config: pytest.Config, exc: BaseException | None) -> None:
    """Count consecutive connection failures, and jobs that never ended (in the whole run): after three,
    the rest of the run is not tried (each check errors with the reason), so an array that stopped
    answering or finishing jobs is not written to any further and the run is inconclusive."""
    run = run_of(config)
    text = str(exc) if exc is not None else ""
    if text.startswith("not tried"):
        return                      # a check this very rule stopped: no evidence of its own
    if isinstance(exc, TargetError) and _JOB_TIMEOUT in text:
        run.job_timeouts.append(text)
    if isinstance(exc, TargetError) and any(w in text for w in _CONNECTION_WORDS):
        run.unreachable.append(text)
    else:
        run.unreachable.clear()


def _merge_setup_findings(item: pytest.Item, call: pytest.CallInfo, rep, info: dict) -> None:
    """A setup step answered wrongly, then got around by a detour: the case reports that deviation
    (on the requirement the step broke) beside its own judgement, which did run."""
    ctx = run_of(item.config).ctx
    if call.when != "call" or ctx is None or getattr(ctx, "pool", None) is None:
        return
    found = ctx.pool.take_findings()
    if not found or info["outcome"] in ("skipped", "blocked", "error"):
        return
    extra = sorted({r for d in found for r in d.requirements})
    note = "; ".join(str(d) for d in found)
    hits = _known_hits(item.config, extra, info["id"])
    if info["outcome"] == "passed" and hits:
        tickets = sorted({h.ticket for h in hits})
        info.update(outcome="known-deviation", failed_requirements=extra, tickets=tickets,
                    known_reasons={h.ticket: h.reason for h in hits}, detail=f"known deviation ({', '.join(tickets)}): setup step: {note}")
        rep.outcome = "skipped"
        rep.wasxfail = f"known deviation {', '.join(tickets)}"
        return
    if info["outcome"] == "known-deviation" and not hits:
        info["outcome"] = "failed"
    if info["outcome"] == "passed":
        info["outcome"] = "failed"
        rep.outcome = "failed"
        rep.longrepr = f"setup step: {note}"
    info["failed_requirements"] = sorted(set(info.get("failed_requirements") or []) | set(extra))
    info["detail"] = (info["detail"] + "; " if info["detail"] else "") + f"setup step: {note}"


def _new_server_errors(item: pytest.Item) -> list:
    """The 5xx answers (not 503) no earlier check claimed: this check's own, and any met between
    checks (preflight, the context's set-up, a pool read): each is claimed once."""
    run = run_of(item.config)
    if run.ctx is None:
        return []
    errors = run.ctx.transcript.server_errors
    start = run.claimed_5xx
    run.claimed_5xx = len(errors)
    return list(errors[start:])


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    """The run's first check creates the run's context in its own setup, after pytest_runtest_setup:
    name it here, so that its exchanges are not filed under "setup"."""
    run = run_of(item.config)
    if run.ctx is not None:
        run.ctx.transcript.case = case_id(item)
    if run.writes_stopped and item.get_closest_marker("rec") is not None:
        raise TargetError(f"not tried: {run.writes_stopped}")    # the check whose set-up ran the probe


def pytest_runtest_setup(item: pytest.Item) -> None:
    run = run_of(item.config)
    ctx = run.ctx
    if ctx is not None:
        ctx.transcript.case = case_id(item)        # every transcript line names its check
    if item.get_closest_marker("rec") is None:
        return
    if ctx is not None and run.tls_fingerprint is None:
        from ._meta import note_tls_fingerprint

        note_tls_fingerprint(run)
    if run.writes_stopped:
        raise TargetError(f"not tried: {run.writes_stopped}")
    if len(run.unreachable) >= 3:
        raise TargetError(f"not tried: the target stopped answering ({run.unreachable[-1][:300]})")
    if len(run.job_timeouts) >= _MAX_JOB_TIMEOUTS:
        raise TargetError(f"not tried: {len(run.job_timeouts)} jobs never ended within --rec-job-timeout, so the "
                          f"suite writes nothing more ({run.job_timeouts[-1][:200]})")


def case_id(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    base = item.originalname if hasattr(item, "originalname") else item.name
    return f"{base}[{callspec.id}]" if callspec else base
