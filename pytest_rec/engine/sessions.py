"""Writable copy sessions on the target: reaching a starting state with the call under test,
suspend and resume (never forced), and the pool of sessions one process of a run owns."""

from __future__ import annotations

import time

from ..client.rest import RecClient
from ..errors import Blocked, Deviation, TargetError, Violations
from .judge import job_error_text, judge_modes, settled_read, show, valid_change_answer
from ..model.behaviour import Modes, expect, one_field_path, setup_path, undo_body
from ..client.progress import waiting
from ..model.state import SessionState, state_of
from ..model.target import Target
from .wayback import WayBack

__all__ = ["Operator", "SessionPool"]


class Operator:
    """Admin-side operations on writable sessions, with the safety rules of CONTRACT section 1."""

    def __init__(self, target: Target, admin: RecClient, job_timeout: float, wayback: WayBack | None = None):
        self.target, self.admin, self.job_timeout = target, admin, job_timeout
        self.wayback = wayback or WayBack()
        self.counts = {"setup_jobs": 0, "suspends": 0, "resumes": 0}
        # setup steps (start modes, body) the array answered wrongly, with what it did: never sent again
        self.failed_steps: dict[tuple, str] = {}

    def read(self, sid: int) -> SessionState:
        return state_of(self.admin.get_copysession(sid), self.target)

    def write_probe(self, sids: list[int], client: RecClient | None = None) -> tuple[bool, str | None]:
        """The first write of a process: a PATCH that sets a suspended writable session to the modes it
        already has, its job waited for. When that job never ends, the array does not finish jobs and
        the suite writes nothing more: no session has been moved yet, so every one stays as found
        (DECISIONS 50). Returns (whether a probe job ran, why writes stop or None). Its answer is not
        judged (the checks do that). ``client``: the user whose first write it is (the admin by default;
        the tenant user on its own session: CONTRACT section 3, every user's first write)."""
        client = client or self.admin
        for sid in sids:
            st = self.read(sid)
            if st.suspended and st.modes.transfer_mode and \
                    (st.modes.transfer_mode != "Consistency" or self.target.has("consistency")):
                break
        else:
            return False, None   # none suspended: another lane's probe, or the first check's own job, shows a hang
        body = {"transfer_mode": st.modes.transfer_mode, "recovery_mode": st.modes.recovery_mode}
        if st.modes.transfer_mode == "Synchronous":     # split mode only for a synchronous session
            body["split_mode"] = st.modes.split_mode
        resp = client.patch(sid, body)
        if resp.status_code != 202:
            return False, None
        try:
            client.run_job(resp, f"the write probe on session {sid}", self.job_timeout)
        except TargetError as exc:
            if "--rec-job-timeout" not in str(exc):
                return True, None
            guard = getattr(client, "guard", None)
            if guard is not None:     # its job sets the modes the session has: if it ever ends, nothing moves
                guard.held.pop(sid, None)
                try:
                    guard.forget_job(int(resp.json()["job_id"]))    # nor does the restore wait for it
                except (ValueError, KeyError, TypeError):
                    pass
            return True, (f"the write probe's job (session {sid} set to the modes it has) never ended: {exc}; "
                          "no session was changed, and the suite writes nothing more")
        return True, None

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

    def patch_back(self, sid: int, current: SessionState, wanted: Modes) -> SessionState:
        """PATCH a session back to ``wanted`` as it is (a named active session: never suspended), with the
        fields that differ only (``model.undo_body``); its job waited for, then a fresh read."""
        body = undo_body(current.modes, wanted)
        if body:
            resp = self.admin.patch(sid, body)
            if resp.status_code == 202:
                try:
                    self.admin.run_job(resp, f"put session {sid} back", self.job_timeout)
                except TargetError:
                    pass                          # the read below decides
        return self.read(sid)

    def set_modes(self, sid: int, current: SessionState, wanted: Modes, *, restoring: bool = False) -> SessionState:
        """Reach ``wanted`` on a suspended session with the call under test (``model.setup_path``: one
        job usually, along a path that needs neither the forced nor the sticky split). A wrong answer
        from the array to a setup step is ONE deviation of that step (REC-ACCEPT when the change was
        refused or not applied, else the requirement of the field that came out wrong; CONTRACT
        section 2, attribution); a later case that would need the same step again takes a detour
        through another transfer mode, or is blocked (``Blocked``), never failed. A restore
        (``restoring``) tries every path, the direct one first, whatever failed before: putting a
        session back matters more than not repeating a wrong answer."""
        __tracebackhide__ = True
        paths = [setup_path(current.modes, wanted)]
        paths += [setup_path(current.modes, wanted, via=v) for v in ("Stack", "Consistency", "Synchronous")
                  if v not in (current.modes.transfer_mode, wanted.transfer_mode)
                  and (v != "Consistency" or self.target.has("consistency"))]
        if restoring:     # the direct path always; a detour only through changes not seen broken
            return self._restore_modes(sid, current, wanted, [p for k, p in enumerate(paths) if p and (
                k == 0 or not self._broken_on(current.modes, p))])
        known_bad = None
        for path in paths:
            if not path and current.modes != wanted:
                continue
            bad = self._known_bad(current.modes, path, sid)
            if bad is None:
                break
            known_bad = known_bad or bad
        else:
            raise Blocked(f"session {sid} cannot reach {wanted.label()} from {current.modes.label()}: "
                          f"{known_bad}")
        st = current
        for body in path:
            if not st.suspended:
                raise TargetError(f"session {sid} must be suspended to change its modes (it reads {st.phase!r})")
            st = self._setup_step(sid, st, body)
        return st

    def _restore_modes(self, sid: int, current: SessionState, wanted: Modes, paths: list) -> SessionState:
        """Each path in turn from a fresh read; last, one field per body from where the session is then
        (an array that refuses one combined body every time may take its fields one by one)."""
        last: Exception | None = None
        paths = list(paths or [[]]) + [None]
        for path in paths:
            if path is None:
                path = one_field_path(current.modes, wanted)
                if not path:
                    break
            st = current
            try:
                for body in path:
                    st = self._setup_step(sid, st, body)
                if st.modes == wanted:
                    return st
            except (Deviation, TargetError) as exc:
                last = exc
            current = self.read(sid)
            if current.modes == wanted:
                return current
        raise TargetError(f"session {sid} could not be put back to {wanted.label()}: {last}")

    def _broken_on(self, start: Modes, path: list[dict]) -> str | None:
        """A change of transfer mode on ``path`` that the array was seen to break, or None."""
        modes = start
        for body in path:
            broken = self.wayback.is_broken(modes.transfer_mode, body.get("transfer_mode"))
            if broken:
                return broken
            modes = expect(modes, body).modes or modes
        return None

    def _known_bad(self, start: Modes, path: list[dict], sid: int | None = None) -> str | None:
        """Why a path cannot be taken: a step the array answered wrongly before, a change of transfer mode
        it was seen to break (fail fast: never tried again, whatever the other fields), or a mode the
        session may not go to before its way back is proven (``wayback.WayBack.departure``)."""
        modes = start
        for body in path:
            key = (modes, tuple(sorted(body.items())))
            if key in self.failed_steps:
                return self.failed_steps[key]
            broken = self._broken_on(modes, [body])
            if broken:
                return f"{broken} (seen once; not tried again)"
            why = self.wayback.departure(sid, body.get("transfer_mode"), wait=True) if sid is not None else None
            if why:
                return why
            modes = expect(modes, body).modes or modes
        return None

    def _setup_step(self, sid: int, current: SessionState, body: dict) -> SessionState:
        __tracebackhide__ = True
        exp = expect(current.modes, body)
        key = (current.modes, tuple(sorted(body.items())))
        what = f"setup step {show(body)} from {current.modes.label()} on session {sid}"
        resp = self.admin.patch(sid, body)
        self.counts["setup_jobs"] += 1
        problem = None
        if resp.status_code >= 500 and resp.status_code != 503:
            problem = ("REC-NO-5XX", f"{what} answered {resp.status_code}")
        else:
            job = self.admin.run_job(resp, what, self.job_timeout).job if resp.status_code == 202 else None
            try:
                wrong, applied, _ = valid_change_answer(resp.status_code, resp.text, job, self.target)
            except TargetError as exc:
                raise TargetError(f"{what}: {exc}") from None
            # taken at once, without a job: the GET below judges the step; the answer's form is
            # REC-ACCEPT's finding in the cases that send this change, not a reason to block them
            if wrong and not applied:
                problem = ("REC-ACCEPT", f"{what}: {wrong}")
        after = settled_read(self.admin, self.target, sid, exp.modes, current.modes) if problem is None else None
        if after is not None:
            self.wayback.learn(current.modes.transfer_mode, body.get("transfer_mode"), after.modes.transfer_mode,
                               f"{what} read {after.modes.label()}")
            v = Violations()
            judge_modes(exp, current, after, body, v, f"{what}: ")
            if v:       # blamed on the requirement the array broke (judge_modes), and on no other
                self.failed_steps[key] = f"{'; '.join(m for _, m in v.items)} (reported once, on that step)"
                raise Deviation({r for r, _ in v.items}, "; ".join(f"[{r}] {m}" for r, m in v.items),
                                setup_step=True)
        if problem is not None:
            self.failed_steps[key] = f"{problem[1]} (reported once, on that step)"
            raise Deviation({problem[0]}, problem[1], setup_step=True)
        return after


class SessionPool:
    """The writable sessions this process may use, with their last verified state."""

    DETOURS = 3         # further paths tried after a setup step the array answered wrongly

    def __init__(self, operator: Operator, sids: list[int]):
        self.operator, self.sids = operator, list(sids)
        self.known: dict[int, SessionState | None] = {sid: None for sid in sids}
        self.last: int | None = None
        self.findings: list[Deviation] = []     # setup steps answered wrongly, that a detour got around

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

    def _may(self, sid: int, start: Modes, then: str | None) -> bool:
        wb = self.operator.wayback
        return wb.departure(sid, start.transfer_mode) is None and wb.departure(sid, then) is None

    def pick(self, start: Modes, then: str | None = None) -> int:
        if not self.sids:
            raise TargetError("this process has no writable session (more workers than writable sessions)")
        guard = getattr(self.operator.admin, "guard", None)
        held = guard.held if guard is not None else {}
        lost = guard.lost if guard is not None else {}
        usable = [sid for sid in self.sids if sid not in held and sid not in lost]
        if not usable:
            why = [f"session {sid}: {text}" for sid, text in held.items()] + \
                [f"session {sid}: a change to it lost its reply (it may have been taken)" for sid in lost]
            raise TargetError("not tried: every writable session of this process is set aside (" + "; ".join(why) + ")")
        allowed = [sid for sid in usable if self._may(sid, start, then)] or usable
        for sid in allowed:
            st = self.known.get(sid)
            if st is not None and st.suspended and st.modes == start:
                return sid
        return self.last if self.last in allowed else allowed[0]

    def acquire_any(self, then: str | None = None) -> tuple[int, SessionState]:
        """A writable session, suspended, in whatever modes it has now (no setup job); ``then`` as for
        ``acquire``: one free to go to that transfer mode, when there is one."""
        sid = self.pick(Modes("", "", ""), then)
        st = self.state(sid)
        return self.acquire(st.modes) if st.modes.transfer_mode else self.acquire(
            Modes("Synchronous", "Automatic", "Automatic"))

    def acquire(self, start: Modes, sid: int | None = None, then: str | None = None) -> tuple[int, SessionState]:
        """A writable session (``sid``, or the best placed one), suspended, in ``start`` (verified by GET).
        ``then``: the transfer mode the check will move it to (a session whose way back to its home from
        there is not proven is not picked when another one may go)."""
        sid = self.pick(start, then) if sid is None else sid
        self.last = sid
        with self.operator.admin.transcript.phase(f"set-up: session {sid} suspended in {start.label()} "
                                                  "(transfer/split/recovery), verified by GET"):
            return self._acquire(start, sid)

    def _acquire(self, start: Modes, sid: int) -> tuple[int, SessionState]:
        __tracebackhide__ = True
        op = self.operator
        st = self.state(sid)
        try:
            if not st.suspended:
                st = op.suspend(sid)
            try:
                try:
                    st = op.set_modes(sid, st, start)
                except Blocked as why:
                    if "not proven yet" not in str(why) or not self.prove(sid, start.transfer_mode):
                        raise
                    st = op.set_modes(sid, self.state(sid), start)     # once more, with the proof in
            except Deviation as exc:
                if not exc.setup_step:
                    raise
                # the array answered a setup step wrongly: that is a finding of its own; the case
                # still runs if a detour reaches its starting state, else it is not judged. Each
                # wrong step is remembered (failed_steps), so every retry takes another path.
                found = [exc]
                for _ in range(self.DETOURS):
                    self.forget(sid)
                    try:
                        st = op.set_modes(sid, self.state(sid), start)
                        break
                    except Deviation as again:
                        if not again.setup_step:
                            raise exc from None
                        found.append(again)
                    except (TargetError, Blocked):
                        raise exc from None
                else:
                    raise exc from None
                self.findings.extend(found)
        except BaseException:
            self.forget(sid)
            raise
        self.note(sid, st)
        return sid, st

    def prove(self, sid: int, to: str) -> bool:
        """Make the proof session ``sid`` waits for (its way back from ``to`` home, DECISIONS 66) with another
        session of this process that may go to ``to`` and then to ``sid``'s home: that second change, read
        back, is the proof (the plan's proofs first, for a check bound to one session, such as the tenant
        refusals, that comes before the matrix made them). Returns whether the proof is in; a wrong answer
        on the way is that setup step's deviation, reported by the next case."""
        wb = self.operator.wayback
        home = wb.homes.get(sid)
        if home is None:
            return False
        for other in self.sids:
            if other == sid or wb.departure(other, to) or wb.departure(other, home):
                continue
            st = self.state(other)
            if not st.suspended or not st.modes.transfer_mode:
                continue
            try:
                via = Modes(to, "Manual", st.modes.recovery_mode)
                back = Modes(home, "Manual" if home != "Synchronous" else st.modes.split_mode, st.modes.recovery_mode)
                with self.operator.admin.transcript.phase(f"set-up: session {other} proves the way back from {to} "
                                                          f"to {home} for session {sid}"):
                    self.forget(other)
                    self.note(other, self.operator.set_modes(other, st, via))
                    self.note(other, self.operator.set_modes(other, self.state(other), back))
            except Deviation as exc:
                self.forget(other)
                self.findings.append(exc)
                return False
            except (Blocked, TargetError):
                self.forget(other)
                continue
            return wb.departure(sid, to) is None
        return False

    def take_findings(self) -> list[Deviation]:
        """The setup-step deviations met since the last call (each case reports its own)."""
        out, self.findings = self.findings, []
        return out
