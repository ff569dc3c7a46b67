"""Shrinking a walk's finding (issue 31): the shortest tail of the walk that still shows the deviation,
replayed on the same session after putting it in the tail's starting state, then each step left out in
turn while it still shows; within a budget of PATCHes (the report says how many it spent).

The starting state is reached by ``start_path`` (the same bodies a reproducer sends, so that the
history a reproducer makes is the one shrinking made, whatever the session read): Synchronous with the
split and recovery given, then the asynchronous mode wanted. Every step is judged by the
matrix's judge (``judge.patch_and_judge``) against the model."""

from __future__ import annotations

from ..errors import Blocked, Deviation, TargetError
from .judge import patch_and_judge, settled_read
from ..model.behaviour import Modes, expect
from .walk import Step, Walk, expected_text, look

BUDGET = 40             # PATCHes shrinking may spend on one finding

__all__ = ["BUDGET", "start_path", "shrink"]


def start_path(current: Modes, wanted: Modes) -> list[dict]:
    """The bodies that bring a suspended session from ``current`` to ``wanted`` (at most two, each legal from
    any state), sent also when it is there already: the history they make (a trip begun, say) is then the
    same whatever the session read, in a replay and in a reproducer."""
    sync = {"transfer_mode": "Synchronous", "split_mode": wanted.split_mode if wanted.transfer_mode == "Synchronous"
            else "Manual", "recovery_mode": wanted.recovery_mode}
    if wanted.transfer_mode == "Synchronous":
        return [sync]
    return [sync, {"transfer_mode": wanted.transfer_mode, "recovery_mode": wanted.recovery_mode}]


class _Replay:
    def __init__(self, ctx, clients: dict, requirements: set[str]):
        self.ctx, self.clients, self.requirements = ctx, clients, requirements
        self.jobs = 0

    def bring(self, sid: int, wanted: Modes) -> bool:
        op = self.ctx.operator
        st = op.read(sid)
        for body in start_path(st.modes, wanted):
            for mode in (body.get("transfer_mode"),):
                if op.wayback.departure(sid, mode):
                    return False
            self.jobs += 1
            resp = self.ctx.admin.patch(sid, body)
            if resp.status_code != 202:
                return False
            try:
                self.ctx.admin.run_job(resp, f"shrinking: bring session {sid} to {wanted.label()}",
                                       self.ctx.options.job_timeout)
            except TargetError:
                return False
            st = settled_read(self.ctx.admin, self.ctx.target, sid, expect(st.modes, body).modes, st.modes)
        return st.modes == wanted

    def shows(self, seq: list[Step], starts: dict[int, Modes]) -> tuple[bool, list[Step]]:
        """Replay ``seq`` from ``starts`` (each session's starting state); whether a step deviates on one of
        the finding's requirements, and the steps as replayed."""
        for sid, modes in starts.items():
            if not self.bring(sid, modes):
                return False, []
        out: list[Step] = []
        for step in seq:
            if step.user != "admin":
                look(self.clients[step.user], step.sid)
            before = self.ctx.operator.read(step.sid)
            allowed = step.expected.startswith("->") or "TENANT-DENY" not in step.expected
            exp = expect(before.modes, step.body, tenant_allowed=allowed)
            again = Step(step.sid, step.user, before.modes, step.body, expected_text(exp))
            out.append(again)
            self.jobs += 1
            try:
                res = patch_and_judge(self.clients[step.user], self.ctx.admin, self.ctx.target, step.sid, before,
                                      step.body, exp, strict=self.ctx.strict, job_timeout=self.ctx.options.job_timeout)
                again.did = res.summary()
            except Deviation as exc:
                reqs = set(exc.requirements) | ({"REC-TENANT-ALLOW"} if step.user != "admin" and exc.refused else set())
                again.deviation = str(exc)
                return bool(reqs & self.requirements), out
        return False, out


def shrink(ctx, walk: Walk, clients: dict, budget: int = BUDGET) -> Walk:
    """Cut ``walk``'s steps to the shortest sequence that still shows its finding (see the module)."""
    if walk.finding is None or not walk.steps:
        return walk
    requirements = set(walk.finding.requirements) | ({"REC-TENANT-ALLOW"} if "REC-ACCEPT" in walk.finding.requirements
                                                     and walk.steps[-1].user != "admin" else set())
    replay = _Replay(ctx, clients, requirements)
    steps = walk.steps
    ctx.pool.forget(steps[-1].sid)

    def starts_of(seq: list[Step]) -> dict[int, Modes]:
        out: dict[int, Modes] = {}
        for s in seq:            # a session the steps may change (not one the tenant user must be refused on)
            if s.user == "admin" or s.expected.startswith("->"):
                out.setdefault(s.sid, s.before)
        return out

    def cost(seq):
        return len(seq) + 2 * len(starts_of(seq))

    best: list[Step] | None = None
    try:
        for n in range(1, len(steps) + 1):          # the shortest tail first: history bugs are mostly local
            tail = steps[-n:]
            if replay.jobs + cost(tail) > budget:
                break
            ok, seen = replay.shows(tail, starts_of(tail))
            if ok:
                best = seen
                break
        if best is not None:
            k = 0
            while k < len(best) - 1:                  # then each step left out in turn (never the failing one)
                trial = [Step(s.sid, s.user, s.before, s.body, s.expected) for s in best[:k] + best[k + 1:]]
                trial[0].before = best[k + 1].before if k == 0 else trial[0].before
                if replay.jobs + cost(trial) > budget:
                    break
                ok, seen = replay.shows(trial, starts_of(trial))
                if ok:
                    best = seen
                else:
                    k += 1
    except (Blocked, TargetError) as exc:
        walk.shrink_note = f"replay stopped: {str(exc)[:200]}"
    walk.shrink_jobs = replay.jobs
    if best is not None:
        walk.minimal = best
    elif not walk.shrink_note:
        walk.shrink_note = f"no tail of the walk showed it again within {budget} PATCHes"
    return walk
