"""The operator's reads: a session's state, and waiting on it; suspend and resume, never forced
(CONTRACT section 1: a suspend only from Equivalent)."""

from __future__ import annotations

import time

from ..client.progress import waiting
from ..errors import TargetError
from ..model.state import SessionState, state_of
from .judge import job_error_text

__all__ = ["Reading"]


class Reading:
    """Mixin of ``sessions.Operator``: uses ``self.target``, ``self.admin``, ``self.job_timeout``,
    ``self.counts``."""

    def read(self, sid: int) -> SessionState:
        return state_of(self.admin.get_copysession(sid), self.target)

    def _poll_until(self, sid: int, predicate, what: str) -> SessionState:
        began = time.monotonic()
        deadline = began + self.target.profile.suspend_timeout
        delay = 0.0
        while True:
            st = self.read(sid)
            if predicate(st):
                return st
            waiting(f"session {sid} to {what} (phase {st.phase!r})", began)
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
