"""The operator reaching a starting state with the call under test, and the failure-path rules that
decide which setup paths may be taken (DECISIONS 66-67: fail fast, the way back)."""

from __future__ import annotations

from ..errors import Blocked, Deviation, TargetError, Violations
from ..model.behaviour import Modes, expect, setup_path
from ..model.state import SessionState
from .judge import judge_modes, settled_read, show, valid_change_answer

__all__ = ["Reaching"]


class Reaching:
    """Mixin of ``sessions.Operator``: uses ``self.target``, ``self.admin``, ``self.job_timeout``,
    ``self.wayback``, ``self.counts``, ``self.failed_steps``, ``self.read``, ``self._restore_modes``."""

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
        # a change of transfer mode another lane has just seen broken: the short window (fail fast)
        patient = not self.wayback.is_broken(current.modes.transfer_mode, body.get("transfer_mode"))
        after = settled_read(self.admin, self.target, sid, exp.modes, current.modes, patient) if problem is None else None
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
