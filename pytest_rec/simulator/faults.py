"""Fault injection, in one place: busy (503), dropped connections, a copy path that is down, and
jobs that never finish (all jobs, or the PATCH jobs of one user). All off by default (``Settings``).

The HTTP front asks ``fault_for_request`` before it routes anything, so busy and drop faults hit
every request alike: log in and refresh (``POST /session``), reads, job polls, logout. The added
``latency`` is slept there too.
"""

from __future__ import annotations

import email.utils
import time

from .replies import Reply, error


class Faults:
    """Mixin of ``Array``: uses ``self.settings``, ``self.lock``, ``self._rng`` (and, for the late-change
    defect, ``self.sessions``, ``self._late``, ``self._late_done``, ``self._last_request``, ``self._apply_patch``)."""

    def fault_for_request(self) -> str | None:
        """'busy', 'drop' or None for the next request (fault injection)."""
        s = self.settings
        with self.lock:
            self._request_count += 1
            n = self._request_count
            if s.change_at:       # a session changes by itself (a leak, or someone else): nobody's request did it
                at, sid, change = s.change_at.split(":", 2)
                if n == int(at) and int(sid) in self.sessions:
                    field, value = change.split("=", 1)
                    setattr(self.sessions[int(sid)], field, value)
            if s.drop_every and n % s.drop_every == 0:
                return "drop"
            if s.busy_every and n % s.busy_every == 0:
                return "busy"
            if s.busy_rate and self._rng.random() < s.busy_rate:
                return "busy"
        return None

    def reply_lost(self, method: str) -> bool:
        """drop_reply_every: every Nth PATCH is taken as usual (its job runs and changes the session),
        and then its connection is cut before the reply: the client cannot tell whether it was taken."""
        n = self.settings.drop_reply_every
        if not n or method != "PATCH":
            return False
        with self.lock:
            self._patch_count = getattr(self, "_patch_count", 0) + 1
            return self._patch_count % n == 0

    def server_error_for(self, method: str, path: str) -> bool:
        """get_500_every: every Nth GET of one copy session answers 500 (a fault of the array, which
        the suite must report as a REC-NO-5XX deviation, never as an error of the run)."""
        n = self.settings.get_500_every
        if not n or method != "GET" or not path.rstrip("/").split("/")[-1].isdigit() or "/copysession/" not in path:
            return False
        with self.lock:
            self._get_count = getattr(self, "_get_count", 0) + 1
            return self._get_count % n == 0

    def body_fails(self, body) -> bool:
        """patch_500_body (when set): a PATCH with exactly these fields and values answers 500, every time
        (a body the firmware cannot take, whatever the state: the restore must find another way)."""
        return isinstance(body, dict) and body == dict(
            part.split("=", 1) for part in self.settings.patch_500_body.strip().split(";") if "=" in part)

    def busy(self) -> Reply:
        ra = self.settings.busy_retry_after      # 0: a plain 503 (the reference documents no Retry-After)
        if ra > 0 and self.settings.busy_retry_after_date:      # the other form RFC 9110 allows
            value = email.utils.formatdate(time.time() + ra, usegmt=True)
        else:
            value = str(ra)
        return error(503, "system busy", headers={"Retry-After": value} if ra > 0 else None)

    def _path_down(self, sid: int) -> bool:
        spec = self.settings.copy_path_down.strip()
        if not spec:
            return False
        return spec == "all" or str(sid) in {p.strip() for p in spec.split(",")}

    def _job_hangs(self, user: str, action: str, payload: dict | None = None) -> bool:
        """hung_jobs: every job hangs; hung_jobs_user: the PATCH jobs of that user do; hung_jobs_to:
        the PATCH jobs whose body sets that transfer mode do (one transition that never completes)."""
        s = self.settings
        body = (payload or {}).get("body") or {}
        return s.hung_jobs or (action == "patch" and bool(s.hung_jobs_user) and user == s.hung_jobs_user) \
            or (action == "patch" and bool(s.hung_jobs_to) and body.get("transfer_mode") == s.hung_jobs_to)

    def _late_writes(self, now: float) -> None:
        """Defect late-change: once the array has been idle for ``late_change_delay`` seconds, its change
        log writes back the modes each session had before its last change (unless the session was changed,
        suspended or resumed since), once per session: a change that lands after the job ended and after
        any settle window."""
        idle = now - self._last_request >= self.settings.late_change_delay
        self._last_request = now
        if not idle or not self._late:
            return
        for sid, modes in list(self._late.items()):
            cs = self.sessions.get(sid)
            if cs is not None and cs.phase == "Suspend":
                cs.transfer_mode, cs.split_mode, cs.recovery_mode = modes
                self._late_done.add(sid)                     # one stale entry per session
        self._late.clear()

    def _apply_noting_late(self, cs, body: dict) -> None:
        """Defect late-change: apply a PATCH job's body and keep the modes the session had before it: the
        change log's stale entry, which ``_late_writes`` writes back (once per session)."""
        before = (cs.transfer_mode, cs.split_mode, cs.recovery_mode)
        self._apply_patch(cs, body)
        if cs.copysession_id not in self._late_done and before != (cs.transfer_mode, cs.split_mode, cs.recovery_mode):
            self._late[cs.copysession_id] = before
