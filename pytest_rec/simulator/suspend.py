"""Suspend and resume (fact sheet 7.2, 7.4): how the suite reaches the precondition of the call
under test and puts a session back. A suspend is normal only from ``Equivalent`` (never forced
here); a Stack session that is not equivalent cannot be suspended. A Synchronous or Consistency
suspend may complete ``suspend_lag`` seconds after its job's Success; a resumed session reads
``Copying``, then ``Equivalent`` after ``copy_time``. A resumed Stack session stays ``Copying``:
the design guide's transfer-mode table gives Stack no equivalent state. ``stack_equivalent`` is for
an array that behaves otherwise (a resumed Stack session then reaches ``Equivalent`` after
``copy_time`` too); the fact sheet does not decide it (7.2 refuses to suspend a Stack session "whose
phase is not equivalent", 7.4 says a resume returns the pair to equivalent)."""

from __future__ import annotations

import time

from .inventory import CopySession
from .replies import Reply, error


class SuspendResume:
    """Mixin of ``Array``: uses ``self.sessions``, ``self._phase_due``, ``self.settings``, ``self.lock``,
    ``self._visible``, ``self._tenant_may``, ``self._new_job``, ``self.job_ref``."""

    def suspend(self, caller, sid: int, description: str) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            why = None
            if not self._tenant_may(caller.user, cs):
                why = (403, "tenant")
            elif cs.type != "REC":
                why = (400, "copysession_id")
            elif cs.status == "Error":
                why = (409, "status")
            elif cs.transfer_mode not in ("Synchronous", "Stack", "Consistency"):
                why = (409, "transfer_mode")   # "through" mode cannot be suspended (odd_neighbours only)
            elif cs.phase == "Suspend" or sid in self._phase_due:
                why = (409, "phase")
            elif cs.phase != "Equivalent":
                why = (409, "phase")   # not equivalent: only a forced suspend would do, never offered here
            if why:
                return error(*why)
            job = self._new_job(caller, sid, "suspend", {}, description)
            return Reply(202, self.job_ref(job))

    def resume(self, caller, sid: int, description: str) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            if not self._tenant_may(caller.user, cs):
                return error(403, "tenant")
            if cs.type != "REC":
                return error(400, "copysession_id")
            if cs.phase != "Suspend" or cs.status == "Error":
                return error(409, "phase")
            job = self._new_job(caller, sid, "resume", {}, description)
            return Reply(202, self.job_ref(job))

    def _finish_suspend(self, cs: CopySession) -> None:
        lag = self.settings.suspend_lag if cs.transfer_mode in ("Synchronous", "Consistency") else 0
        if lag:  # pragma: no mutate block, fault injection
            self._phase_due[cs.copysession_id] = (time.monotonic() + lag, "Suspend")
        else:
            cs.phase = "Suspend"

    def _finish_resume(self, cs: CopySession) -> None:
        if cs.transfer_mode == "Stack":
            if not self.settings.stack_equivalent:  # pragma: no mutate, fault injection
                cs.phase = "Copying"           # a Stack session never reads Equivalent
                return
        if self.settings.copy_time:  # pragma: no mutate block, fault injection
            cs.phase = "Copying"
            self._phase_due[cs.copysession_id] = (time.monotonic() + self.settings.copy_time, "Equivalent")
        else:
            cs.phase = "Equivalent"
