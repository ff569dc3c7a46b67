"""Writable copy sessions on the target: reaching a starting state with the call under test,
suspend and resume (never forced), and the pool of sessions one process of a run owns."""

from __future__ import annotations

from ..client.rest import RecClient
from ..errors import Blocked, Deviation, TargetError
from ..model.behaviour import Modes
from ..model.state import SessionState
from ..model.target import Target
from .putting_back import PuttingBack
from .reaching import Reaching
from .reading import Reading
from .wayback import WayBack

__all__ = ["Operator", "SessionPool"]


class Operator(Reading, Reaching, PuttingBack):
    """Admin-side operations on writable sessions, with the safety rules of CONTRACT section 1: reading
    and waiting (``reading.Reading``), reaching a state (``reaching.Reaching``, the failure-path rules),
    putting back (``putting_back.PuttingBack``)."""

    def __init__(self, target: Target, admin: RecClient, job_timeout: float, wayback: WayBack | None = None):
        self.target, self.admin, self.job_timeout = target, admin, job_timeout
        self.wayback = wayback or WayBack()
        self.counts = {"setup_jobs": 0, "suspends": 0, "resumes": 0}
        # setup steps (start modes, body) the array answered wrongly, with what it did: never sent again
        self.failed_steps: dict[tuple, str] = {}

class SessionPool:
    """The writable sessions this process may use, with their last verified state."""

    DETOURS = 3         # further paths tried after a setup step the array answered wrongly

    def __init__(self, operator: Operator, sids: list[int]):
        self.operator, self.sids = operator, list(sids)
        self.known: dict[int, SessionState | None] = {sid: None for sid in sids}
        self.marks: dict[int, int] = {}         # changes to other sessions when each state was known
        self.last: int | None = None
        self.findings: list[Deviation] = []     # setup steps answered wrongly, that a detour got around

    def _elsewhere(self, sid: int) -> int:
        return getattr(self.operator.admin, "guard", None) and self.operator.admin.guard.writes_elsewhere(sid) or 0

    def state(self, sid: int) -> SessionState:
        """The session's last verified state; read again once this process has changed another session
        since (an array that leaks a change from one session to another: judge from a fresh read)."""
        st = self.known.get(sid)
        if st is None or self.marks.get(sid) != self._elsewhere(sid):
            st = self.operator.read(sid)
            self.note(sid, st)
        return st

    def forget(self, sid: int) -> None:
        self.known[sid] = None

    def note(self, sid: int, st: SessionState | None) -> None:
        self.known[sid] = st
        self.marks[sid] = self._elsewhere(sid)

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
