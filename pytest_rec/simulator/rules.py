"""The rules of the call under test, ``PATCH /copysession/{id}`` (seed page, CONTRACT section 2):
validation of the body, the state refusals (tenant, non-REC, error status, not suspended, split
on an asynchronous session), and the change itself when the job runs.

A state refusal comes at once as a 4xx (``refusals = "immediate"``) or as 202 then a job that
ends ``Error`` (``refusals = "job"``); the job re-checks the state when it runs either way.

Concurrent changes to one session (REC-SERIAL): by default they are accepted and serialised.
Jobs end in the order they were registered, and each applies its fields to the session as it is
when the job runs, never to a copy read earlier, so no accepted change is lost whatever the job
latency. With ``one_job_per_session`` a change to a session that still has a job Queued or
Running is refused at once with 409 ("previous command in process"), as a real array may do
(CONTRACT section 1), or with 503 (busy, with Retry-After) when ``concurrent_refusal`` is 503. The ``serial-mix`` defect applies a job's fields to the modes its request
found (a stale read), so the second of two concurrent changes undoes the first.

Every defect switch is a line ``if self.defect("name")`` carrying the no-mutate pragma: the
mutation run (benchmarks/mutation.py) mutates this module's rule logic (with tenants.py, jobs.py and
suspend.py), not the switches.
"""

from __future__ import annotations

import time

from typing import Any

from .inventory import CopySession, User
from .replies import PATCH_FIELDS, Reply, error


class PatchRules:
    """Mixin of ``Array``: uses ``self.sessions``, ``self.volumes``, ``self.settings``, ``self.lock``,
    ``self.defect``, ``self._new_job``, ``self.job_ref``, ``self.busy``, ``self._transfer_set``,
    ``self._tenant_may``."""

    # ------------------------------------------------------------- the request
    def patch(self, caller, sid: int, body: Any, description: str) -> Reply:
        """Validate a PATCH body and register its job (or refuse at once)."""
        with self.lock:
            if self.defect("late-change"):  # pragma: no mutate block, defect injection
                self._late.pop(sid, None)                    # a new change overtakes the late write
            cs = self.sessions.get(sid)
            if cs is None:
                if self.defect("unknown-id-400"):  # pragma: no mutate block, defect injection
                    return error(400, "copysession_id")
                return error(404, "copysession_id")
            if not isinstance(body, dict):
                return error(400, "body")
            for key, value in body.items():
                if key not in PATCH_FIELDS:
                    return error(400, key)
                if value is None and self.defect("null-500"):  # pragma: no mutate block, defect injection
                    raise RuntimeError("null value")           # an unhandled firmware exception
                if not isinstance(value, str) or value not in PATCH_FIELDS[key]:
                    return error(400, key)
            if "split_mode" in body and body.get("transfer_mode") in ("Stack", "Consistency"):
                if not (self.defect("split-accepted-when-async") or self.defect("refused-split-applied")):  # pragma: no mutate, defect injection
                    if self.defect("refused-recovery-carried") or self.defect("refused-split-latched") or self.defect("tenant-refusal-remembered"):  # pragma: no mutate block, defect injection
                        self._history_refused(caller.user, cs, body, "split_mode")
                    return error(400, "split_mode")
            if self.settings.refusals == "immediate" and not self._refused_split_applied(cs, body):
                refusal = self._state_refusal(caller.user, cs, body)
                if refusal:
                    if self.defect("refused-recovery-carried") or self.defect("refused-split-latched") or self.defect("tenant-refusal-remembered"):  # pragma: no mutate block, defect injection
                        self._history_refused(caller.user, cs, body, refusal[1])
                    return error(refusal[0], refusal[1])
            if self.settings.patch_500_body and self.body_fails(body):  # pragma: no mutate block, fault injection
                return error(500, "injected fault")
            if self.settings.one_job_per_session and self._job_running_on(sid):  # pragma: no mutate block, fault injection
                if self.settings.concurrent_refusal == 503:
                    return self.busy()                  # busy, with Retry-After: the client tries again
                return error(409, "previous command in process")
            payload = {"body": dict(body), "user": caller.user}
            if self.defect("serial-mix"):  # pragma: no mutate block, defect injection
                payload["seen"] = (cs.transfer_mode, cs.split_mode, cs.recovery_mode)   # as this request found them
            job = self._new_job(caller, sid, "patch", payload, description)
            if self.defect("patch-200-at-once"):  # pragma: no mutate block, defect injection
                self._finish(job, time.monotonic())
                if job.status == "Success":
                    return Reply(200, self._view(cs))
            return Reply(202, self.job_ref(job))

    def _state_refusal(self, user: User, cs: CopySession, body: dict):
        """(status, factor, message) when the session's state forbids the change, else None."""
        if user.tenant is not None and "split_mode" in body and self.defect("tenant-split-refused"):  # pragma: no mutate block, defect injection
            return 403, "split_mode", "split_mode can be changed by an administrator only"
        if user.tenant is not None and self.defect("tenant-refusal-remembered") and self._history_tenant_refusal(user):  # pragma: no mutate block, defect injection
            return 403, "tenant-remembered", "The local volume does not belong to the tenant of the user"
        if not self._tenant_may(user, cs):
            if not (self.defect("tenant-check-skipped-with-transfer") and "transfer_mode" in body):  # pragma: no mutate, defect injection
                return 403, "tenant", "The local volume does not belong to the tenant of the user"
        if cs.type != "REC":
            if self.defect("non-rec-accepted"):  # pragma: no mutate block, defect injection
                return None
            if self.defect("non-rec-checked-only-for-transfer") and "transfer_mode" not in body:  # pragma: no mutate block, defect injection
                return None
            return 400, "copysession_id", "The copy session is not a REC session"
        if cs.status == "Error":
            return 409, "status", "The REC session is in error status"
        if cs.phase != "Suspend":
            if not self.defect("active-patch-accepted"):  # pragma: no mutate, defect injection
                if not (self.defect("active-stack-patch-accepted") and cs.phase != "Equivalent"):  # pragma: no mutate, defect injection
                    if not (self.defect("active-async-patch-accepted") and cs.transfer_mode != "Synchronous"):  # pragma: no mutate, defect injection
                        if not (self.defect("active-equivalent-patch-accepted") and cs.phase == "Equivalent"):  # pragma: no mutate, defect injection
                            return 409, "phase", "The REC session is not suspended"
        if "split_mode" in body and "transfer_mode" not in body and cs.transfer_mode != "Synchronous":
            if not self.defect("split-accepted-when-async"):  # pragma: no mutate, defect injection
                if not (self.defect("split-sync-only-checked-alone") and len(body) > 1):  # pragma: no mutate, defect injection
                    return 400, "split_mode", "split_mode can be given for synchronous transfer mode only"
        return None

    # ------------------------------------------------------------- the job
    def _finish_patch(self, job, cs: CopySession):
        """Apply a PATCH job: the refusal (status, factor, message) if the state forbids it now."""
        refusal = self._state_refusal(job.payload["user"], cs, job.payload["body"])
        if self.defect("refused-split-applied") and self._refused_split_applied(cs, job.payload["body"]):  # pragma: no mutate block, defect injection
            self._apply_patch(cs, job.payload["body"])
            cs.split_mode = job.payload["body"]["split_mode"]          # the refused field is taken too
            return 400, "split_mode", "split_mode can be given for synchronous transfer mode only"
        if refusal:
            if self.defect("refused-recovery-carried") or self.defect("refused-split-latched") or self.defect("tenant-refusal-remembered"):  # pragma: no mutate block, defect injection
                self._history_refused(job.payload["user"], cs, job.payload["body"], refusal[1])
            return refusal
        if self.settings.read_lag:  # pragma: no mutate block, fault injection
            self._remember_old_modes(cs)
        if self.defect("serial-mix"):  # pragma: no mutate block, defect injection
            cs.transfer_mode, cs.split_mode, cs.recovery_mode = job.payload["seen"]   # a stale read
        if self.defect("late-change"):  # pragma: no mutate block, defect injection
            self._apply_noting_late(cs, job.payload["body"])
            return None
        self._apply_patch(cs, job.payload["body"])
        return None

    def _refused_split_applied(self, cs: CopySession, body: dict) -> bool:
        """The ``refused-split-applied`` defect's case: split_mode sent to a session that stays asynchronous."""
        if not self.defect("refused-split-applied") or "split_mode" not in body:  # pragma: no mutate, defect injection
            return False
        return body.get("transfer_mode", cs.transfer_mode) in ("Stack", "Consistency") and cs.phase == "Suspend"

    def _apply_rules(self, cs: CopySession, body: dict) -> None:
        before = cs.transfer_mode
        after = body.get("transfer_mode", before)
        if self.defect("consistency-never-applied") and after == "Consistency" != before:  # pragma: no mutate block, defect injection
            return                                         # nothing applied; the job still succeeds
        if self.defect("consistency-to-sync-noop") and (before, after) == ("Consistency", "Synchronous"):  # pragma: no mutate block, defect injection
            return                                         # the whole body is dropped; the job still succeeds
        if self.defect("stack-to-consistency-keeps-stack"):  # pragma: no mutate block, defect injection
            if before == "Stack" and after == "Consistency":
                after = "Stack"
        if self.defect("stack-to-sync-keeps-stack") and (before, after) == ("Stack", "Synchronous"):  # pragma: no mutate block, defect injection
            after = "Stack"
        if self.defect("consistency-exit-resets-recovery") and before == "Consistency" != after:  # pragma: no mutate block, defect injection
            if "recovery_mode" not in body:
                cs.recovery_mode = "Automatic"
        if self.defect("sticky-auto-restored"):  # pragma: no mutate block, defect injection
            if before == "Synchronous" and after != "Synchronous":
                self._resume_split[cs.copysession_id] = cs.split_mode
        cs.transfer_mode = after
        if "transfer_mode" in body:
            self._transfer_set.add(cs.copysession_id)
        if after != "Synchronous":
            if not self.defect("no-forced-manual"):  # pragma: no mutate, defect injection
                cs.split_mode = "Manual"
        elif "split_mode" in body:
            cs.split_mode = body["split_mode"]
        elif self.defect("sticky-auto-restored") and before != "Synchronous":  # pragma: no mutate block, defect injection
            cs.split_mode = self._resume_split.get(cs.copysession_id, cs.split_mode)
        if "recovery_mode" in body:
            keep = self.defect("recovery-ignored-consistency") and after == "Consistency"  # pragma: no mutate, defect injection
            if not keep:
                cs.recovery_mode = body["recovery_mode"]
                if self.defect("neighbour-recovery-leak"):  # pragma: no mutate block, defect injection
                    nxt = self.sessions.get(cs.copysession_id + 1)
                    if nxt is not None and nxt.type == "REC":
                        nxt.recovery_mode = body["recovery_mode"]
        elif self.defect("omitted-recovery-reset") and body:  # pragma: no mutate block, defect injection
            cs.recovery_mode = "Automatic"
