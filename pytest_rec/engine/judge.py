"""Judging one PATCH against the model: the 202 contract, the job, the GET after, refusals.

The one home of judging: ``patch_and_judge`` for a case, ``judge_modes`` for the fields a GET
shows after an accepted change (also used by setup steps), and the reading of job errors.
Every finding names the requirement it breaks; an answer that stops the check from being
judged (environment) is a TargetError, never a deviation and never a pass.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..client.rest import RecClient
from ..errors import TRANSFER_NOT_APPLIED, Deviation, TargetError, Violations
from ..model.behaviour import Expectation, judge_refusal
from ..client.progress import waiting
from ..model.state import SessionState, state_of
from ..model.target import Target

JOB_HREF = re.compile(r"^/api/v1/job/(\d+)$")


@dataclass
class Outcome:
    """What the array did with one PATCH (kept for the report)."""
    status: int
    job_status: str | None = None
    job: dict | None = None
    after: SessionState | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"HTTP {self.status}"]
        if self.job_status:
            parts.append(f"job {self.job_status}")
        if self.after:
            parts.append(f"after {self.after.modes.label()} ({self.after.phase})")
        return ", ".join(parts)


def job_error_text(job: dict) -> str:
    """What a job that did not succeed says about why (its failed resources and operations)."""
    parts = []
    for item in job.get("failed_resource_info_list") or []:
        parts.append(json.dumps(item) if not isinstance(item, str) else item)
    for op in job.get("operation_list") or []:
        if isinstance(op, dict) and op.get("result") not in ("Succeeded", None):
            parts.append(f"{op.get('result')}: {op.get('operation')}")
    return "; ".join(parts) or f"job status {job.get('status')}"


def job_messages(job: dict) -> list[str]:
    """Each thing a job that did not succeed says, one at a time: the message of each failed resource
    (its message-like fields; the whole entry when it has none) and each failed operation."""
    out = []
    for item in job.get("failed_resource_info_list") or []:
        if isinstance(item, dict):
            said = [v for k, v in item.items() if isinstance(v, str) and re.search(r"message|reason|detail", k, re.I)]
            out += said or [json.dumps(item)]
        else:
            out.append(str(item))
    for op in job.get("operation_list") or []:
        if isinstance(op, dict) and op.get("result") not in ("Succeeded", None):
            out.append(f"{op.get('result')}: {op.get('operation')}")
    return out


def names_environment(job: dict, target: Target) -> bool:
    """Whether a job's error names the environment: one of its messages matches a pattern of the
    profile (each message on its own, so that words of two messages never make one match)."""
    return any(re.search(p, m, re.IGNORECASE) for m in job_messages(job) for p in target.profile.environment_patterns)


def judge_modes(exp: Expectation, before: SessionState, after: SessionState, body, v: Violations,
                prefix: str = "") -> None:
    """Each field a GET shows after an accepted change, judged under the requirement that governs it.

    Attribution (CONTRACT section 2): a change of transfer mode that was not applied at all (the GET
    shows the session exactly as before) is one REC-ACCEPT finding, not one per field; and when the transfer
    mode sent was not applied, the split mode that depends on it (forced or sticky Manual) is not judged."""
    __tracebackhide__ = True
    transfer_change = isinstance(body, dict) and body.get("transfer_mode") not in (None, before.modes.transfer_mode)
    if transfer_change and exp.modes is not None and after.modes == before.modes:
        v.add("REC-ACCEPT", f"{prefix}{TRANSFER_NOT_APPLIED}: the change was accepted but nothing of it was "
                            f"applied: the session still reads {after.modes.label()}, expected {exp.modes.label()} "
                            f"(from {before.modes.label()} with {show(body)})")
    else:
        transfer_missed = isinstance(body, dict) and "transfer_mode" in body and \
            after.modes.transfer_mode != exp.modes.transfer_mode
        for f, requirement in exp.judged_by.items():
            if transfer_missed and f == "split_mode" and requirement in ("REC-FORCED-MANUAL", "REC-STICKY-MANUAL"):
                continue
            want, got = getattr(exp.modes, f), getattr(after.modes, f)
            if want != got:
                # the same headline as a change not applied at all: one firmware bug, one finding
                head = f"{TRANSFER_NOT_APPLIED}: " if f == "transfer_mode" and transfer_change else ""
                v.add(requirement, f"{prefix}{head}{f} reads {got!r} after the change, expected {want!r} "
                                   f"(from {before.modes.label()} with {show(body)})")
    if not after.suspended:
        v.add("REC-ACCEPT", f"{prefix}the session reads phase {after.phase!r} after the change; it was suspended")


LAG_SAMPLES = 3          # reads that settled before the window adapts to the run's own lags
LAG_MARGIN = 1.0         # seconds beyond the longest lag seen that a change of a new kind is given
FAST_MARGIN = 0.1        # ... and a change of a kind that once showed nothing in its whole window
UNSAMPLED_FAST = 1.0     # seconds at least for such a kind while this process has too few lags to adapt to


def settle_window(target: Target, transcript, patient: bool = True) -> float:
    """The settle window in force (CONTRACT section 1; issue 24, fail fast): the profile's, until the run
    has seen ``LAG_SAMPLES`` reads that showed a job's change; then it adapts to the longest lag the run
    has seen: three times it, at least that lag and ``LAG_MARGIN``, for a change of a kind not yet seen
    failing (``patient``); twice it, at least that lag and ``FAST_MARGIN``, for a kind that once showed
    nothing in its whole window. Never above the profile's. A kind seen failing (not ``patient``: here,
    or by another lane through the way-back file) gets the short window also before this process has its
    samples, at least ``UNSAMPLED_FAST`` then: a lane's first changes are often the kinds another lane has
    just seen broken, and each waited out the whole window again (DECISIONS 113)."""
    profile = target.profile.settle_window
    if getattr(transcript, "settled_reads", 0) < LAG_SAMPLES:
        return profile if patient else min(profile, max(fast_window(transcript), UNSAMPLED_FAST))
    longest = getattr(transcript, "longest_settle", 0.0)
    if patient:
        return min(profile, max(3 * longest, longest + LAG_MARGIN))
    return min(profile, fast_window(transcript))


def fast_window(transcript) -> float:
    """Twice the longest lag the run has seen, at least that lag and ``FAST_MARGIN``."""
    longest = getattr(transcript, "longest_settle", 0.0)
    return max(2 * longest, longest + FAST_MARGIN)


def settled_read(reader: RecClient, target: Target, sid: int, want, before=None, patient: bool = True) -> SessionState:
    """Read a session after a job's Success; a GET may lag the job (CONTRACT section 1), so re-read
    with back-off while it still shows the state ``before`` the change (a lag), until ``want`` (a
    ``Modes``, or a set of them: any one will do) shows or the settle window (``settle_window``)
    passes, then return what shows. A read that shows neither the old state nor the new one gets only
    the short window of the run's own lags (``fast_window``): a lag of an earlier change may still show,
    but waiting longer would not make it right. Without ``before`` any read other than ``want`` is
    waited on for the whole window. The longest lag seen is kept on the transcript for the summary and the window."""
    start = time.monotonic()
    transcript = reader.transcript
    wanted = set(want) if isinstance(want, (set, frozenset)) else ({want} if want is not None else set())
    kind = change_kind(before, wanted)
    unapplied = transcript.__dict__.setdefault("unapplied_kinds", set())
    window = settle_window(target, transcript, patient and kind not in unapplied)
    # one read where several were made (issue 29): on an array whose reads lag, the first read waits for
    # the lag the run has learned, instead of reading at once and again every few milliseconds
    slept = learned_lag(transcript) if before is not None and wanted and before not in wanted else 0.0
    if slept:
        time.sleep(min(slept, window))
    st = state_of(reader.get_copysession(sid), target)
    reads, delay = 1, 0.02

    # a read that shows neither the state before nor the one wanted (an older state, a change half shown)
    # is given only the short window of the run's own lags, never the profile's whole one
    brief = min(window, fast_window(transcript))

    def limit(state: SessionState) -> float:
        return window if before is None or state.modes == before else brief

    while wanted and st.modes not in wanted and time.monotonic() - start < limit(st):
        time.sleep(min(delay, max(0.0, limit(st) - (time.monotonic() - start))))
        delay = min(delay * 1.6, 1.0)
        st = state_of(reader.get_copysession(sid), target)
        reads += 1
        waiting(f"session {sid} to read {' or '.join(sorted(m.label() for m in wanted))} after its job "
                f"(it still reads {st.modes.label()})", start)
    if st.modes in wanted:
        lag = time.monotonic() - start
        transcript.longest_settle = max(getattr(transcript, "longest_settle", 0.0), lag)
        transcript.settled_reads = getattr(transcript, "settled_reads", 0) + 1
        if before is not None and before not in wanted:     # a first read that showed it teaches a shorter lag
            learn_lag(transcript, lag if reads > 1 else slept * 0.9)
    elif kind is not None and st.modes == before:
        unapplied.add(kind)          # nothing of it showed in the whole window: its kind fails fast from now on
    return st


LAG_MIN = 0.02        # seconds: a learned lag below this is no lag (read at once)


def learned_lag(transcript) -> float:
    """The lag the run's reads showed after a change, lately (a moving estimate; 0 when they do not lag)."""
    lag = getattr(transcript, "typical_lag", 0.0)
    return lag * 0.95 if lag >= LAG_MIN else 0.0


def learn_lag(transcript, lag: float) -> None:
    old = getattr(transcript, "typical_lag", None)
    transcript.typical_lag = lag if old is None else 0.7 * old + 0.3 * lag


def change_kind(before, wanted: set) -> tuple | None:
    """The kind of a change, for failing fast (DECISIONS 67): the transfer mode before and after, and the
    fields that were to change. A change of a kind that once showed nothing within the whole settle window
    gets the window adapted to the run's lags from then on."""
    if before is None or len(wanted) != 1:
        return None
    after = next(iter(wanted))
    fields = tuple(f for f in ("transfer_mode", "split_mode", "recovery_mode")
                   if getattr(after, f) != getattr(before, f))
    return (before.transfer_mode, after.transfer_mode, fields) if fields else None


def check_no_5xx(resp: httpx.Response, v: Violations, what: str) -> None:
    if resp.status_code >= 500 and resp.status_code != 503:
        v.add("REC-NO-5XX", f"{what} answered {resp.status_code}: {resp.text[:200]}")


def check_job_reference(client: RecClient, resp: httpx.Response, v: Violations) -> int | None:
    """REC-RESPONSE: JSON body, integer job_id, job_href /api/v1/job/<job_id>, job readable."""
    try:
        body: Any = resp.json()
    except ValueError:
        v.add("REC-RESPONSE", f"202 body is not JSON: {resp.text[:200]!r}")
        return None
    if not isinstance(body, dict):
        v.add("REC-RESPONSE", f"202 body is not an object: {body!r}")
        return None
    job_id = body.get("job_id")
    if isinstance(job_id, bool) or not isinstance(job_id, int):
        v.add("REC-RESPONSE", f"job_id is not an integer: {job_id!r}")
        m = JOB_HREF.match(str(body.get("job_href", "")))
        return int(m.group(1)) if m else None
    if body.get("job_href") != f"/api/v1/job/{job_id}":
        v.add("REC-RESPONSE", f"job_href is {body.get('job_href')!r}, expected '/api/v1/job/{job_id}'")
    return job_id


def wait(client: RecClient, job_id: int, timeout: float, v: Violations, refusal: bool = False) -> dict | None:
    """Wait for the job of a 202; its first read must find it. The first read comes after the
    expected job time; for a change the reference says is refused, at once (an array that refuses by
    job usually ends that job at once), and that job's time does not teach the waiter."""
    def first(resp) -> bool:
        if resp.status_code == 404:
            v.add("REC-RESPONSE", f"job {job_id} from the 202 body reads 404")
            return False
        check_no_5xx(resp, v, f"GET /job/{job_id}")
        return True

    result = client.wait_job(job_id, timeout, first=first, at_once=refusal)
    return result.job if result is not None else None


def valid_change_answer(status: int, text: str, job: dict | None, target: Target) -> tuple[str | None, bool, bool]:
    """How the array answered a change the rules accept, for a check and for a setup step alike:
    (what is wrong with the answer, or None; whether the change was taken, so that a GET judges it;
    whether it was refused). A 2xx other than 202 is the change taken in another form (at once, no
    job): the session is still judged, so that one wrong answer form reads as that, not as a refusal
    of every rule. A job error that names the environment raises TargetError (CONTRACT section 1)."""
    if 200 <= status < 300 and status != 202:
        return f"a valid change answered {status}, not 202 with a job: {text[:200]}", True, False
    if status != 202:
        return f"a valid change was refused with {status}: {text[:200]}", False, True
    if job is not None and job.get("status") != "Success":
        if names_environment(job, target):
            raise TargetError(f"the job ended {job.get('status')} for a reason of the environment, so the "
                              f"change could not be judged: {job_error_text(job)}")
        return f"the job of a valid change ended {job.get('status')}: {job_error_text(job)}", False, True
    return None, True, False


def patch_and_judge(client: RecClient, reader: RecClient, target: Target, sid: int,
                    before: SessionState, body: Any, exp: Expectation, *, strict: bool,
                    job_timeout: float, raw: bytes | None = None, patient: bool = True) -> Outcome:
    """Send one PATCH (``body`` as JSON, or ``raw`` bytes as is) and judge it against ``exp``.
    ``reader`` is the user who reads the session afterwards (the admin). ``patient``: a lagging read is
    given the profile's whole settle window (else the window adapted to the run's lags)."""
    __tracebackhide__ = True
    v = Violations()
    if raw is not None:
        resp = client.request("PATCH", f"/copysession/{sid}", content=raw,
                              headers={"Content-Type": "application/json"})
    else:
        resp = client.patch(sid, body)
    out = Outcome(resp.status_code)
    if body is None and raw is not None:          # judge (and show) raw bytes as the JSON they carry
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
    check_no_5xx(resp, v, f"PATCH {show(body)}")

    job: dict | None = None
    if resp.status_code == 202:
        job_id = check_job_reference(client, resp, v)
        if job_id is not None:
            job = wait(client, job_id, job_timeout, v, refusal=not exp.accepted)
            out.job = job
            out.job_status = job.get("status") if job else None

    if exp.recorded:
        out.after = state_of(reader.get_copysession(sid), target)
        out.notes.append("recorded, not judged (the reference is silent)")
        v.raise_if_any()
        return out

    if exp.accepted:
        wrong, applied, refused = valid_change_answer(resp.status_code, resp.text, job, target)
        if wrong:
            v.add("REC-ACCEPT", wrong, refused=refused)
        after = settled_read(reader, target, sid, exp.modes, before.modes, patient) if applied else state_of(reader.get_copysession(sid),
                                                                                       target)
        out.after = after
        if applied:
            judge_modes(exp, before, after, body, v)
        v.raise_if_any()
        return out

    # a refusal is expected
    forms = exp.refusal_forms(strict)
    requirement = exp.refusal_requirement
    if not judge_refusal(resp.status_code, out.job_status, forms, target.profile.refusal_job_statuses):
        if resp.status_code == 202:
            v.add(requirement, f"expected a refusal ({_forms(forms)}), got 202 and job {out.job_status}")
        else:                # a 5xx also fails REC-NO-5XX above; it is not the refusal the requirement asks for
            v.add(requirement, f"expected a refusal ({_forms(forms)}), got {resp.status_code}: {resp.text[:200]}")
    after = state_of(reader.get_copysession(sid), target)
    out.after = after
    if after.modes != before.modes or after.suspended != before.suspended:
        v.add(requirement, f"the session changed although the change had to be refused: "
                    f"{before.modes.label()} -> {after.modes.label()} ({before.phase} -> {after.phase})")
    v.raise_if_any()
    return out


def _forms(forms: tuple) -> str:
    return " or ".join(str(f) for f in forms)


def fingerprint(session: dict, target: Target) -> str:
    """What REC-ISOLATION compares of a session: its modes and whether it is suspended, as a reader says it."""
    st = state_of(session, target)
    return f"{st.modes.label()} {'suspended' if st.suspended else st.phase or 'active'}"


def show(body: Any) -> str:
    """A body as JSON (what was sent), for messages a buyer reads; not Python notation."""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body).decode("utf-8", "replace")
    try:
        return json.dumps(body)
    except (TypeError, ValueError):
        return str(body)


__all__ = ["Outcome", "patch_and_judge", "judge_modes", "job_error_text", "names_environment", "check_no_5xx",
           "check_job_reference", "fingerprint", "raise_all"]


def raise_all(found: list[Deviation]) -> None:
    """One deviation for every body of a check that the array answered wrongly (each names its rule)."""
    __tracebackhide__ = True
    if found:
        raise Deviation({r for exc in found for r in exc.requirements}, "; ".join(str(exc) for exc in found))
