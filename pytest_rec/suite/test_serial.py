"""REC-SERIAL (assumption, CONTRACT section 2): two PATCHes sent at the same moment to one suspended
session, with different bodies, end in the state that one of the two orders would give, or one of
them is refused ("previous command in process": 409, 400 or a job that ends Error); never a mix in
which an accepted change is lost.

Both requests leave together (two threads released by one barrier, on the admin's client, whose
connection pool sends them on two connections), so that the second arrives while the first one's job
is still queued or running. Each pair is chosen so that both orders give the same or a known state,
both bodies are valid in either order, and a job that applied its fields to the state its request
found (a stale read) would lose the other body's change. A state that neither of the model's orders
gives is compared with what this array itself gives when the same bodies come one after the other, in
each order (a replay from the same starting state): only a state that no order gives on this array
is a REC-SERIAL deviation; a defect of another rule is that rule's, caught by its own checks."""

from __future__ import annotations

import threading

import pytest

from pytest_rec.errors import Deviation, TargetError
from pytest_rec.engine.judge import job_error_text, names_environment, settled_read
from pytest_rec.model.behaviour import Modes, body_label, expect, judge_refusal, serial_outcomes
from pytest_rec.plugin import opt_in

PAIRS = [
    pytest.param(Modes("Synchronous", "Automatic", "Automatic"), {"recovery_mode": "Manual"},
                 {"transfer_mode": "Stack"}, id="Synchronous: recovery and transfer"),
    pytest.param(Modes("Synchronous", "Automatic", "Automatic"), {"split_mode": "Manual"},
                 {"recovery_mode": "Manual"}, id="Synchronous: split and recovery"),
    pytest.param(Modes("Stack", "Manual", "Automatic"), {"transfer_mode": "Synchronous", "split_mode": "Automatic"},
                 {"recovery_mode": "Manual"}, id="Stack: back to Synchronous and recovery"),
    pytest.param(Modes("Consistency", "Manual", "Manual"), {"transfer_mode": "Stack"},
                 {"recovery_mode": "Automatic"}, id="Consistency: transfer and recovery"),
    pytest.param(Modes("Synchronous", "Automatic", "Manual"), {"recovery_mode": "Automatic"},
                 {"transfer_mode": "Stack", "recovery_mode": "Manual"}, id="Synchronous: the same field twice"),
]


def _moves(bodies: list[dict]) -> str | None:
    """The transfer mode the bodies move a session to (the session picked must be free to go there)."""
    return next((b["transfer_mode"] for b in bodies if "transfer_mode" in b), None)


def _send_together(client, sid: int, bodies: list[dict]) -> list:
    """PATCH both bodies at the same moment; the answers in the order of ``bodies``."""
    gate = threading.Barrier(len(bodies))
    answers: list = [None] * len(bodies)

    def send(i: int) -> None:
        try:
            gate.wait(timeout=30)
            answers[i] = client.patch(sid, bodies[i])
        except BaseException as exc:  # noqa: BLE001 - handed to the check's thread below
            answers[i] = exc

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for a in answers:
        if isinstance(a, BaseException):
            raise a
        if a is None:
            raise TargetError("a concurrent PATCH got no answer within 120 s")
    return answers


def _outcome(rec_ctx, resp, body: dict, forms: tuple) -> tuple[bool, str | None]:
    """(taken, problem): taken when 202 and the job ended Success; a refusal in one of ``forms`` is fine."""
    target = rec_ctx.target
    if resp.status_code >= 500 and resp.status_code != 503:
        return False, None                     # REC-NO-5XX, noted by the plugin from the transcript
    job_status = None
    if 200 <= resp.status_code < 300 and resp.status_code != 202:
        return True, None      # taken at once: its answer form is REC-ACCEPT's finding (the matrix), not a mix
    if resp.status_code == 202:
        result = rec_ctx.admin.wait_job(int(resp.json()["job_id"]), rec_ctx.options.job_timeout)
        job_status = result.status
        if job_status == "Success":
            return True, None
        if names_environment(result.job, target):
            raise TargetError(f"the job of {body_label(body)} ended {job_status} for a reason of the environment: "
                              f"{job_error_text(result.job)}")
    if judge_refusal(resp.status_code, job_status, forms, target.profile.refusal_job_statuses):
        return False, None
    what = f"202 and job {job_status}" if resp.status_code == 202 else f"{resp.status_code}: {resp.text[:160]}"
    return False, f"{body_label(body)} was refused in a form REC-SERIAL does not accept ({what})"


def _replayed(rec_ctx, start: Modes, bodies: list[dict]) -> Modes:
    """What this array does with ``bodies`` sent one after the other (each job waited for) from ``start``:
    the state an order gives on this array, whatever its other rules do (a defect of another rule, a
    forced split not applied say, is that rule's deviation, caught by its own checks, not a mix)."""
    sid, before = rec_ctx.pool.acquire(start, then=_moves(bodies))
    rec_ctx.may_move(sid, *(b.get("transfer_mode") for b in bodies))
    rec_ctx.pool.forget(sid)
    want = before.modes
    for body in bodies:
        exp = expect(want, body)
        want = exp.modes if exp.accepted and exp.modes else want
        resp = rec_ctx.admin.patch(sid, body)
        if resp.status_code == 202:
            rec_ctx.admin.wait_job(int(resp.json()["job_id"]), rec_ctx.options.job_timeout)
    return _settled(rec_ctx, sid, {want}).modes          # a GET may lag: wait for the model's state, or the window


MIXED = ("REC-SERIAL", "a state no order explains")     # the kind of read a mixing array never settles


def _settled(rec_ctx, sid: int, candidates: set[Modes]):
    """Read until the session shows one of ``candidates``, within the settle window (``judge.settled_read``).
    Any other read is waited on: two jobs on one session may show the state between them for a while. Once
    a read has shown no candidate for its whole window, later ones get the window of the run's own lags
    (fail fast: an array that mixes does it every time)."""
    seen = rec_ctx.admin.transcript.unapplied_kinds
    st = settled_read(rec_ctx.admin, rec_ctx.target, sid, set(candidates), patient=MIXED not in seen)
    if st.modes not in candidates:
        seen.add(MIXED)
    return st


@pytest.mark.rec("REC-SERIAL")
@pytest.mark.parametrize("start, first, second", PAIRS)
def test_concurrent_changes_do_not_mix(rec_ctx, start, first, second):
    """Two PATCHes at the same moment to one suspended session: the state one of the two orders gives,
    or one of them refused; never a mix that loses an accepted change."""
    for modes in (start.transfer_mode, first.get("transfer_mode"), second.get("transfer_mode")):
        if modes == "Consistency" and not rec_ctx.target.has("consistency"):
            opt_in("the target file declares no REC buffer (capabilities.consistency = false), so no request "
                   "carries Consistency", "set capabilities.consistency = true once the array has a REC buffer")
    sid, before = rec_ctx.pool.acquire(start, then=_moves([first, second]))
    rec_ctx.may_move(sid, first.get("transfer_mode"), second.get("transfer_mode"))
    rec_ctx.pool.forget(sid)
    forms = ((409,) if rec_ctx.strict else (409, 400, "job-error"))
    answers = _send_together(rec_ctx.admin, sid, [first, second])
    outcomes = [_outcome(rec_ctx, resp, body, forms) for resp, body in zip(answers, (first, second))]
    taken = (outcomes[0][0], outcomes[1][0])
    problems = [p for _, p in outcomes if p]
    candidates = serial_outcomes(before.modes, first, second, taken)
    after = _settled(rec_ctx, sid, candidates)
    rec_ctx.pool.forget(sid)          # the next check starts from a fresh read, never from this one
    sent = f"{body_label(first)} and {body_label(second)} at once on {before.modes.label()}"
    server_error = any(r.status_code >= 500 and r.status_code != 503 for r in answers)
    if not any(taken) and not problems and not server_error:
        problems.append(f"{sent}: both were refused ({answers[0].status_code}, {answers[1].status_code}); one of "
                        "two valid changes must be taken when nothing else runs on the session")
    elif after.modes not in candidates and any(taken):
        # not a state the model's orders give: compare with what this array gives for each order when the
        # same bodies come one after the other (its other rules may differ from the model: their checks say so)
        taken_bodies = [b for b, t in zip((first, second), taken) if t]
        orders = [taken_bodies, taken_bodies[::-1]] if len(taken_bodies) == 2 else [taken_bodies]
        candidates = {_replayed(rec_ctx, start, order) for order in orders}
    if any(taken) and after.modes not in candidates:
        want = " or ".join(sorted(m.label() for m in candidates)) or "no state (no order explains what was taken)"
        took = " and ".join(body_label(b) for b, t in zip((first, second), taken) if t) or "neither"
        problems.append(f"{sent}: the array took {took} and the session reads {after.modes.label()}; the orders "
                        f"that agree with that give {want}: an accepted change was lost")
    if not after.suspended:
        problems.append(f"{sent}: the session reads phase {after.phase!r} after; it was suspended")
    if problems:
        raise Deviation({"REC-SERIAL"}, "; ".join(problems))
