"""Writable sessions on the target: preflight, reaching a starting state, suspend and
resume (never forced), the restore journal and the restore itself."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .client import RecClient, TargetError
from .errors import Deviation, Violations
from .model import Modes, expect, setup_body
from .target import Target


@dataclass
class SessionState:
    modes: Modes
    phase: str
    suspended: bool


def state_of(body: dict, target: Target) -> SessionState:
    phase = body.get("phase", "")
    return SessionState(Modes.of(body), phase, phase == target.profile.suspended_phase)


def job_error_text(job: dict) -> str:
    parts = []
    for item in job.get("failed_resource_info_list") or []:
        parts.append(json.dumps(item) if not isinstance(item, str) else item)
    for op in job.get("operation_list") or []:
        if isinstance(op, dict) and op.get("result") not in ("Succeeded", None):
            parts.append(f"{op.get('result')}: {op.get('operation')}")
    return "; ".join(parts) or f"job status {job.get('status')}"


def names_environment(job: dict, target: Target) -> bool:
    text = job_error_text(job).lower()
    return any(word in text for word in target.profile.environment_words)


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


def judge_modes(exp, before: SessionState, after: SessionState, body, v: Violations, prefix: str = "") -> None:
    """Each field a GET shows after an accepted change, judged under the rule that governs it."""
    for f, rule in exp.judged_by.items():
        want, got = getattr(exp.modes, f), getattr(after.modes, f)
        if want != got:
            v.add(rule, f"{prefix}{f} reads {got!r} after the change, expected {want!r} "
                        f"(from {before.modes.label()} with {body})")
    if not after.suspended:
        v.add("REC-ACCEPT", f"{prefix}the session reads phase {after.phase!r} after the change; it was suspended")


# --------------------------------------------------------------------------- journal
class Journal:
    """The restore journal: original state of every writable session, written before the
    first write and kept until each session is verified restored."""

    def __init__(self, path: Path, target: Target):
        self.path, self.target = Path(path), target
        self._lock = threading.Lock()
        self.data: dict = {"schema_version": 1, "target_url": target.url, "target_file": target.source,
                           "kind": target.kind, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "pid": os.getpid(), "sessions": {}}

    @classmethod
    def load(cls, path: Path) -> dict:
        return json.loads(Path(path).read_text(encoding="utf-8"))

    def record(self, sid: int, original: dict) -> None:
        with self._lock:
            if str(sid) in self.data["sessions"]:
                return
            self.data["sessions"][str(sid)] = {
                "original": {k: original.get(k) for k in ("transfer_mode", "split_mode", "recovery_mode", "phase")},
                "identity": {k: original.get(k) for k in ("type", "remote_boxid", "source_volume_name",
                                                           "destination_volume_name", "is_local_source_volume")},
                "restored": False}
            self._write()

    def mark(self, sid: int, restored: bool, note: str = "") -> None:
        with self._lock:
            entry = self.data["sessions"].get(str(sid))
            if entry is not None:
                entry["restored"] = restored
                entry["note"] = note
                self._write()

    def pending(self) -> list[int]:
        return [int(k) for k, v in self.data["sessions"].items() if not v["restored"]]

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)


def restore_session(op: Operator, sid: int, original: dict) -> str:
    """Put one session back as the journal says it was; verified by GET. Returns a note."""
    want = Modes(original["transfer_mode"], original["split_mode"], original["recovery_mode"])
    was_suspended = original["phase"] == op.target.profile.suspended_phase
    st = op.read(sid)
    if st.modes != want:
        if not st.suspended:
            st = op.suspend(sid)
        st = op.set_modes(sid, st, want)
    if was_suspended and not st.suspended:
        st = op.suspend(sid)
    elif not was_suspended and st.suspended:
        st = op.resume(sid)
    st = op.read(sid)
    if st.modes != want or st.suspended != was_suspended:
        raise TargetError(f"RESTORE FAILED for session {sid}: reads {st.modes.label()} "
                          f"{'suspended' if st.suspended else st.phase}, should be {want.label()} "
                          f"{'suspended' if was_suspended else 'active'}")
    return f"session {sid} restored to {want.label()} {'suspended' if was_suspended else 'active'}"
