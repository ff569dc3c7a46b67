"""Writable copy sessions on the target: reaching a starting state with the call under test,
suspend and resume (never forced), and the pool of sessions one process of a run owns."""

from __future__ import annotations

import time

from .client import RecClient
from .errors import Deviation, TargetError, Violations
from .judge import job_error_text, judge_modes, names_environment
from .model import Modes, expect, setup_body
from .state import SessionState, state_of
from .target import Target

__all__ = ["Operator", "SessionPool"]


class Operator:
    """Admin-side operations on writable sessions, with the safety rules of CONTRACT section 1."""

    def __init__(self, target: Target, admin: RecClient, job_timeout: float):
        self.target, self.admin, self.job_timeout = target, admin, job_timeout
        self.counts = {"setup_jobs": 0, "suspends": 0, "resumes": 0}

    def read(self, sid: int) -> SessionState:
        return state_of(self.admin.get_copysession(sid), self.target)

    def _poll_until(self, sid: int, predicate, what: str) -> SessionState:
        deadline = time.monotonic() + self.target.profile.suspend_timeout
        delay = 0.0
        while True:
            st = self.read(sid)
            if predicate(st):
                return st
            if time.monotonic() > deadline:
                raise TargetError(f"session {sid} did not {what} within {self.target.profile.suspend_timeout:.0f} s "
                                  f"(phase {st.phase!r})")
            delay = min(max(delay * 1.6, 0.01), 2.0)
            time.sleep(delay)

    def suspend(self, sid: int) -> SessionState:
        """Normal (never forced) suspend of an equivalent session; waits until GET shows it."""
        st = self.read(sid)
        if st.suspended:
            return st
        if st.phase != self.target.profile.equivalent_phase and \
                st.modes.transfer_mode in ("Synchronous", "Consistency"):
            st = self._poll_until(sid, lambda s: s.phase == self.target.profile.equivalent_phase,
                                  "become equivalent before its suspend")
        if st.phase != self.target.profile.equivalent_phase:
            raise TargetError(f"session {sid} is {st.phase!r}, not equivalent: the suite never forces a "
                              "suspend, so it cannot suspend this session now")
        resp = self.admin.request("POST", f"/copysession/{sid}/suspend")
        result = self.admin.run_job(resp, f"suspend session {sid}", self.job_timeout)
        self.counts["suspends"] += 1
        if result.status != "Success":
            raise TargetError(f"suspend of session {sid} ended {result.status}: {job_error_text(result.job)}")
        return self._poll_until(sid, lambda s: s.suspended, "read suspended")

    def resume(self, sid: int, wait_equivalent: bool = False) -> SessionState:
        resp = self.admin.request("POST", f"/copysession/{sid}/resume")
        result = self.admin.run_job(resp, f"resume session {sid}", self.job_timeout)
        self.counts["resumes"] += 1
        if result.status != "Success":
            raise TargetError(f"resume of session {sid} ended {result.status}: {job_error_text(result.job)}")
        if wait_equivalent:
            return self._poll_until(sid, lambda s: s.phase == self.target.profile.equivalent_phase,
                                    "become equivalent")
        return self._poll_until(sid, lambda s: not s.suspended, "read active")

    def set_modes(self, sid: int, current: SessionState, wanted: Modes) -> SessionState:
        """Reach ``wanted`` on a suspended session with the call under test (one job at most).
        A wrong answer from the array here is a deviation, judged field by field."""
        __tracebackhide__ = True
        body = setup_body(current.modes, wanted)
        if body is None:
            return current
        if not current.suspended:
            raise TargetError(f"session {sid} must be suspended to change its modes (it reads {current.phase!r})")
        exp = expect(current.modes, body)
        resp = self.admin.patch(sid, body)
        self.counts["setup_jobs"] += 1
        if resp.status_code >= 500 and resp.status_code != 503:
            raise Deviation({"REC-NO-5XX"}, f"setup PATCH {body} on session {sid} answered {resp.status_code}")
        if resp.status_code != 202:
            raise Deviation({"REC-ACCEPT"}, f"setup PATCH {body} on session {sid} from {current.modes.label()} "
                                            f"was refused with {resp.status_code}: {resp.text[:200]}")
        result = self.admin.run_job(resp, f"setup PATCH on session {sid}", self.job_timeout)
        if result.status != "Success":
            if names_environment(result.job, self.target):
                raise TargetError(f"setup PATCH on session {sid}: job ended {result.status} for a reason of the "
                                  f"environment: {job_error_text(result.job)}")
            raise Deviation({"REC-ACCEPT"}, f"setup PATCH {body} on session {sid} from {current.modes.label()}: "
                                            f"job ended {result.status}: {job_error_text(result.job)}")
        after = self.read(sid)
        v = Violations()
        judge_modes(exp, current, after, body, v, f"setup PATCH on session {sid}: ")
        v.raise_if_any()
        return after


class SessionPool:
    """The writable sessions this process may use, with their last verified state."""

    def __init__(self, operator: Operator, sids: list[int]):
        self.operator, self.sids = operator, list(sids)
        self.known: dict[int, SessionState | None] = {sid: None for sid in sids}
        self.last: int | None = None

    def state(self, sid: int) -> SessionState:
        st = self.known.get(sid)
        if st is None:
            st = self.operator.read(sid)
            self.known[sid] = st
        return st

    def forget(self, sid: int) -> None:
        self.known[sid] = None

    def note(self, sid: int, st: SessionState | None) -> None:
        self.known[sid] = st

    def pick(self, start: Modes) -> int:
        if not self.sids:
            raise TargetError("this process has no writable session (more workers than writable sessions)")
        for sid in self.sids:
            st = self.known.get(sid)
            if st is not None and st.suspended and st.modes == start:
                return sid
        return self.last if self.last is not None else self.sids[0]

    def acquire_any(self) -> tuple[int, SessionState]:
        """A writable session, suspended, in whatever modes it has now (no setup job)."""
        sid = self.pick(Modes("", "", ""))
        st = self.state(sid)
        return self.acquire(st.modes) if st.modes.transfer_mode else self.acquire(
            Modes("Synchronous", "Automatic", "Automatic"))

    def acquire(self, start: Modes, sid: int | None = None) -> tuple[int, SessionState]:
        """A writable session (``sid``, or the best placed one), suspended, in ``start`` (verified by GET)."""
        sid = self.pick(start) if sid is None else sid
        self.last = sid
        op = self.operator
        st = self.state(sid)
        try:
            if not st.suspended:
                st = op.suspend(sid)
            st = op.set_modes(sid, st, start)
        except BaseException:
            self.forget(sid)
            raise
        self.note(sid, st)
        return sid, st
