"""Refusals with bodies of every shape (CONTRACT section 2, issue 16): a rule checked with one body only
proves that the array refuses that body. Here: REC-TENANT-DENY on both local sides (source-local and
destination-local) from each transfer mode the suite can reach, and REC-SUSPEND-FIRST on every
session the target file names under ``sessions.active`` (an active Stack session, which the suite
cannot make itself). The other refusal rules get every shape in suite/test_scenarios.py."""

from __future__ import annotations

import pytest

from pytest_rec.errors import Deviation, TargetError
from pytest_rec.engine.judge import show
from pytest_rec.model.behaviour import expect, undo_body
from pytest_rec.plugin import opt_in
from pytest_rec.model.shapes import REACHABLE, shaped_bodies, transfer_modes, undoable_first
from pytest_rec.engine.judge import raise_all


OUTSIDE = (403, 404)     # a tenant user's GET of a session outside its tenant: refused, or absent to that user


def _local_source(rec_ctx, sid: int) -> bool:
    return rec_ctx.admin.get_copysession(sid).get("is_local_source_volume", True) is not False


def _foreign_writable(rec_ctx, source_side: bool) -> int | None:
    """A writable session of this process whose local volume is on ``source_side`` and outside the tenant
    user's tenant: the tenant user's GET refuses it (403, or 404: absent to that user; DECISIONS 8, 21 and
    78). None if there is none."""
    for sid in rec_ctx.pool.sids:
        if _local_source(rec_ctx, sid) != source_side:
            continue
        if rec_ctx.tenant.request("GET", f"/copysession/{sid}").status_code in OUTSIDE:
            return sid
    return None


def _deny_all(rec_ctx, sid: int, before, bodies, put_back) -> list[Deviation]:
    """Send each body as the tenant user; every one must be refused and leave the session as it was.
    Every other body comes right after the tenant user's own GET of the session, as a user who looks
    before changing would send it: an array whose check trusts an earlier read (or a cached
    permission) is caught too, whatever that GET answered (the GET itself is not judged here)."""
    found = []
    for k, body in enumerate(bodies):
        before = put_back(before)
        if k % 2:
            rec_ctx.tenant.request("GET", f"/copysession/{sid}")
        try:
            rec_ctx.judge(sid, before, body, expect(before.modes, body, tenant_allowed=False), client=rec_ctx.tenant)
        except Deviation as exc:
            found.append(exc)
    return found


@pytest.mark.rec_shared_sessions
@pytest.mark.rec("REC-TENANT-DENY")
@pytest.mark.parametrize("side", ["source", "destination"], ids=["source-local", "destination-local"])
def test_tenant_refused_on_each_local_side(rec_ctx, side):
    """A tenant user cannot change a session whose local volume (the source or the destination, by
    ``is_local_source_volume``) is in another tenant: bodies of every shape, each of which would change
    the session if taken; on a writable session outside the tenant, from every transfer mode."""
    source_side = side == "source"
    target, op = rec_ctx.target, rec_ctx.operator
    modes, depth = transfer_modes(rec_ctx.target), rec_ctx.options.depth
    found, tried = [], []
    foreign = target.tenant_foreign
    if _local_source(rec_ctx, foreign) == source_side:
        first = rec_ctx.ensure_suspended(foreign)

        def restore_foreign(st):
            now = op.read(foreign)
            return now if now.modes == first.modes else op.set_modes(foreign, now, first.modes)

        found += _deny_all(rec_ctx, foreign, first, shaped_bodies(first.modes, transfer_modes=modes, depth=depth),
                           restore_foreign)
        tried.append(f"tenant_foreign {foreign}")
    sid = _foreign_writable(rec_ctx, source_side)
    if sid is not None:
        starts = [m for m in REACHABLE if m.transfer_mode in modes]
        if depth == "smoke":
            starts = starts[:1]
        for start in starts:
            found += _deny_all(rec_ctx, sid, None, shaped_bodies(start, transfer_modes=modes, depth=depth),
                               lambda _st, start=start: rec_ctx.pool.acquire(start, sid=sid)[1])
        tried.append(f"writable {sid}")
    if sid is None and rec_ctx.workers > 1:
        elsewhere = [w for w in target.writable if w not in rec_ctx.pool.sids
                     and _local_source(rec_ctx, w) == source_side
                     and rec_ctx.tenant.request("GET", f"/copysession/{w}").status_code in OUTSIDE]
        if elsewhere:       # a one-lane run would try it here: never a silent narrowing
            from pytest_rec.errors import Blocked

            raise Blocked(f"writable session {elsewhere[0]} would serve the {side}-local check, but another lane "
                          "owns it; run with --rec-lanes 1, or name such a session as tenant_foreign")
    if not tried:
        opt_in(f"no named session is {side}-local and outside the tenant user's tenant",
               f"name such a session as tenant_foreign, or make the local ({side}) volume of a writable "
               "session one outside the tenant (the tenant user's GET must answer 403 or 404)")
    raise_all(found)


# ---------------------------------------------------------------- sessions.active
def _put_back(rec_ctx, sid: int, first) -> str:
    """PATCH the old modes back onto an active session the array wrongly changed (it took a change while
    active, so the same call is the only way back: the suite never suspends or resumes such a session).
    The body carries only the fields that differ (the same kind of change as the one taken). Returns a
    note; when the session cannot be put back the journal keeps it pending (the run exits 2)."""
    now = rec_ctx.operator.read(sid)
    if now.modes == first.modes:
        rec_ctx.journal.mark(sid, True, f"session {sid} reads as found")
        return ""
    body = undo_body(now.modes, first.modes)
    again = rec_ctx.operator.patch_back(sid, now, first.modes)
    if again.modes != first.modes:
        text = (f"active session {sid} was changed to {now.modes.label()} and could not be put back to "
                f"{first.modes.label()} (PATCH {show(body)}; it now reads {again.modes.label()}): the "
                "restore tries once more, else put it back by hand")
        rec_ctx.journal.mark(sid, False, text)
        return f"; NOT PUT BACK: {text}"
    rec_ctx.journal.mark(sid, True, f"session {sid} put back to {first.modes.label()} active")
    return f"; put back to {first.modes.label()} with {show(body)}"


@pytest.mark.rec_shared_sessions
@pytest.mark.rec("REC-SUSPEND-FIRST")
def test_suspend_first_on_named_active_sessions(rec_ctx):
    """Every session named under ``sessions.active`` refuses a body of every shape, each of which would
    change it if taken, and is left as it was. It is never suspended or resumed. The bodies whose wrongful
    acceptance the same kind of body undoes come first (``shapes.undoable_first``); at the first body the
    array takes, the old modes are PATCHed back at once, nothing more is sent to that session, and the
    finding is a REC-SUSPEND-FIRST deviation whether or not the session could be put back (CONTRACT
    section 3; a session not put back also makes the run exit 2)."""
    target, op = rec_ctx.target, rec_ctx.operator
    if not target.active:
        opt_in("the target file names no active REC session (sessions.active)",
               "name REC sessions that are not suspended (an active Stack session, say) as [sessions] active = "
               "[...]; the suite only sends them PATCHes that must be refused, and never suspends or resumes them")
    found, sent = [], 0
    for sid in target.active:
        first = op.read(sid)
        if first.suspended:
            raise TargetError(f"session {sid} is listed under sessions.active but reads suspended")
        rec_ctx.journal.record(sid, rec_ctx.admin.get_copysession(sid))
        bodies = undoable_first(first.modes, shaped_bodies(first.modes, transfer_modes=transfer_modes(rec_ctx.target),
                                                           valid_only=False, depth=rec_ctx.options.depth))
        for body in bodies:
            before = op.read(sid)
            if before.suspended:
                raise TargetError(f"active session {sid} reads suspended now; nothing more sent to it")
            sent += 1
            try:
                rec_ctx.judge(sid, before, body, expect(before.modes, body, suspended=False))
            except Deviation as exc:
                note = _put_back(rec_ctx, sid, first)
                found.append(Deviation(exc.requirements, f"{exc} (active session {sid}{note}; no more bodies "
                                                         "sent to it)"))
                break
        else:
            rec_ctx.journal.mark(sid, True, f"session {sid} refused every change and reads as found")
    raise_all(found)
    assert sent > 0
