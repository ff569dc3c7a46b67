"""Named scenarios: the seed page's cautions as readable examples, plus the refusals around them."""

import pytest

from pytest_rec.errors import Deviation, TargetError
from pytest_rec.model.behaviour import Modes, expect
from pytest_rec.plugin import opt_in
from pytest_rec.model.shapes import (SPLIT_STARTS, active_bodies, shaped_bodies, split_bodies, transfer_modes,
                                     undoable_first)
from pytest_rec.engine.judge import raise_all

SYNC_AUTO = Modes("Synchronous", "Automatic", "Automatic")


def _async_modes(rec_ctx):
    modes = ["Stack"]
    if rec_ctx.target.has("consistency"):
        modes.append("Consistency")
    return modes


def _need_consistency(rec_ctx, mode):
    if mode == "Consistency" and not rec_ctx.target.has("consistency"):
        opt_in("the target file declares no REC buffer (capabilities.consistency = false), so no request "
               "carries Consistency", "set capabilities.consistency = true once the array has a REC buffer")


# ---------------------------------------------------------------- seed caution 2
@pytest.mark.rec("REC-FORCED-MANUAL", "REC-ACCEPT", "REC-RESPONSE")
@pytest.mark.parametrize("to", ["Stack", "Consistency"])
def test_forced_manual_split(rec_ctx, to):
    """Synchronous with Automatic split, changed to an asynchronous mode, reads split Manual."""
    _need_consistency(rec_ctx, to)
    sid, before = rec_ctx.pool.acquire(SYNC_AUTO)
    body = {"transfer_mode": to}
    out = rec_ctx.judge(sid, before, body, expect(before.modes, body))
    assert out.after.modes.split_mode == "Manual"


@pytest.mark.rec("REC-STICKY-MANUAL", "REC-FORCED-MANUAL", "REC-ACCEPT", "REC-RESPONSE")
@pytest.mark.parametrize("split", [None, "Automatic", "Manual"], ids=["without split_mode", "split Automatic",
                                                                        "split Manual"])
@pytest.mark.parametrize("via", ["Stack", "Consistency"])
def test_sticky_manual_round_trip(rec_ctx, via, split):
    """Synchronous/Automatic -> asynchronous -> Synchronous: Manual unless split_mode is given again."""
    _need_consistency(rec_ctx, via)
    sid, st = rec_ctx.pool.acquire(SYNC_AUTO)
    body = {"transfer_mode": via}
    st = rec_ctx.judge(sid, st, body, expect(st.modes, body), then=("REC-STICKY-MANUAL",)).after
    back = {"transfer_mode": "Synchronous", **({"split_mode": split} if split else {})}
    out = rec_ctx.judge(sid, st, back, expect(st.modes, back))
    assert out.after.modes.split_mode == (split or "Manual")


# ---------------------------------------------------------------- seed input criteria
def _split_cases():
    """Every shape that carries split_mode and leaves the session asynchronous (``shapes.split_bodies``),
    from each transfer mode: split alone, with transfer_mode, with recovery_mode, with both."""
    for start in SPLIT_STARTS:
        for body in split_bodies(start):
            what = " and ".join(f"{k.split('_')[0]} {v}" for k, v in body.items())
            yield pytest.param(start, body, id=f"{start.transfer_mode} + {what}")


@pytest.mark.rec("REC-SPLIT-SYNC-ONLY")
@pytest.mark.parametrize("start, body", list(_split_cases()))
def test_split_mode_refused_when_asynchronous(rec_ctx, start, body):
    """split_mode cannot be given when the session ends up asynchronous; nothing changes."""
    _need_consistency(rec_ctx, start.transfer_mode)
    _need_consistency(rec_ctx, body.get("transfer_mode"))
    sid, before = rec_ctx.pool.acquire(start)
    rec_ctx.judge(sid, before, body, expect(before.modes, body))


# ---------------------------------------------------------------- seed caution 1
@pytest.mark.rec("REC-SUSPEND-FIRST")
@pytest.mark.parametrize("start", [Modes("Synchronous", "Automatic", "Automatic"),
                                   Modes("Consistency", "Manual", "Manual")], ids=lambda m: f"{m.label()} active")
def test_suspend_first(rec_ctx, start):
    """Every change to an active (not suspended) session is refused and leaves it unchanged.

    Only Synchronous and Consistency sessions are used: they become equivalent again, so the
    suite can suspend them afterwards without force. On a real array bodies that would move the
    session to Stack are left out: if the array wrongly took one, the session could not be
    suspended again without force. The bodies whose wrongful acceptance the same kind of body
    undoes come first (``shapes.undoable_first``); at the first body the array takes, the change is
    undone at once and no more bodies are sent: one REC-SUSPEND-FIRST deviation (CONTRACT section 3)."""
    _need_consistency(rec_ctx, start.transfer_mode)
    sid, st = rec_ctx.pool.acquire(start)
    op = rec_ctx.operator
    rec_ctx.pool.forget(sid)
    st = op.resume(sid, wait_equivalent=True)
    first, sent, found = st, 0, []
    bodies = [b for b in active_bodies(st.modes, rec_ctx.options.depth, transfer_modes(rec_ctx.target, active=True))
              if expect(st.modes, b).accepted]   # refused on a suspended session too: its refusal would prove nothing
    try:
        for body in undoable_first(st.modes, bodies):
            sent += 1
            try:
                st = rec_ctx.judge(sid, st, body, expect(st.modes, body, suspended=False)).after
            except Deviation as exc:
                now = op.patch_back(sid, op.read(sid), first.modes)
                note = "put back at once" if now.modes == first.modes else \
                    f"it now reads {now.modes.label()}; the restore puts it back"
                found.append(Deviation(exc.requirements, f"{exc} ({note}; no more bodies sent to this session)"))
                break
    finally:
        rec_ctx.pool.forget(sid)
        op.suspend(sid)
    raise_all(found)
    assert sent > 0


# ---------------------------------------------------------------- seed caution 3
# REC-TENANT-DENY, with bodies of every shape on both local sides: suite/test_refusals.py
def _tenant_allow(rec_ctx, sid):
    """The tenant user sends, one after the other, bodies of every shape (``shapes.allow_bodies``: at depth
    full until every positive rule has had every body shape the matrix gives it), each judged in full; the
    other sessions are compared after each body; the admin puts the session back at the end."""
    from pytest_rec.engine.judge import show
    from pytest_rec.model.shapes import allow_bodies

    before = rec_ctx.ensure_suspended(sid)
    first = before
    others = rec_ctx.fingerprints(exclude={sid})
    found: list[Deviation] = []
    try:
        planned = before.modes
        for body in allow_bodies(before.modes, transfer_modes=transfer_modes(rec_ctx.target),
                                 depth=rec_ctx.options.depth):
            if before.modes != planned:     # a body before was not taken: the admin brings the session where
                before = rec_ctx.operator.set_modes(sid, before, planned)     # the next body was planned from
            planned = expect(planned, body).modes
            try:
                before = rec_ctx.judge(sid, before, body, expect(before.modes, body), client=rec_ctx.tenant).after
            except Deviation as exc:
                # a refusal of the tenant user (REC-ACCEPT in the generic judgement) breaks the tenant rule; a
                # change taken in a wrong form (200 at once, say) is REC-ACCEPT's finding, as for any user
                requirements = {"REC-TENANT-ALLOW" if r == "REC-ACCEPT" and exc.refused else r
                                for r in exc.requirements}
                found.append(Deviation(requirements, f"the tenant user on session {sid} of its own tenant, "
                                                     f"{show(body)}: {exc}"))
                before = rec_ctx.operator.read(sid)
            # compared after each body, before the session is set back: a later body or setting it back
            # could repeat or undo a leak and hide it
            now = rec_ctx.fingerprints(exclude={sid})
            changed = [f"session {k}: {v} -> {now.get(k)}" for k, v in others.items() if now.get(k) != v]
            if changed:
                found.append(Deviation({"REC-ISOLATION"}, f"changing session {sid} with {show(body)} also "
                                                          f"changed: {'; '.join(changed)}"))
                break       # the witnesses changed: what follows could not tell one leak from another
    finally:
        after = rec_ctx.operator.read(sid)
        if after.modes != first.modes:
            rec_ctx.operator.set_modes(sid, after, first.modes, restoring=True)
    raise_all(found)


@pytest.mark.rec_shared_sessions
@pytest.mark.rec("REC-TENANT-ALLOW", "REC-ISOLATION")
def test_tenant_allowed_on_own_session(rec_ctx):
    """Positive control: the same tenant user may change a session whose local (source) volume is in its tenant."""
    _tenant_allow(rec_ctx, rec_ctx.target.tenant_own)


@pytest.mark.rec_shared_sessions
@pytest.mark.rec("REC-TENANT-ALLOW", "REC-ISOLATION")
def test_tenant_allowed_on_own_destination_session(rec_ctx):
    """The local volume decides: a session whose local destination volume is in the tenant is the tenant's."""
    if rec_ctx.target.tenant_own_destination is None:
        opt_in("the target file names no tenant_own_destination session",
               "name a REC session of the tenant whose local volume is the destination as "
               "[sessions] tenant_own_destination")
    _tenant_allow(rec_ctx, rec_ctx.target.tenant_own_destination)


# ---------------------------------------------------------------- other refusals
@pytest.mark.rec_shared_sessions
@pytest.mark.rec("REC-NON-REC")
def test_non_rec_session_refused(rec_ctx):
    """A copy session of another type (OPC, EC, ...) cannot be given to this call."""
    sid = rec_ctx.target.non_rec
    found = []
    for body in shaped_bodies(None, transfer_modes=transfer_modes(rec_ctx.target), valid_only=False,
                              depth=rec_ctx.options.depth):
        before = rec_ctx.operator.read(sid)
        try:
            rec_ctx.judge(sid, before, body, expect(before.modes, body, is_rec=False))
        except Deviation as exc:
            found.append(exc)
    raise_all(found)


def _absent_id(rec_ctx) -> int:
    """The target's ``absent`` id, or one the suite picks: above every id listed and named, shown
    absent by a GET before anything is sent to it (the only write outside the named sessions)."""
    if rec_ctx.target.absent is not None:
        return rec_ctx.target.absent
    listed = [s.get("copysession_id") for s in rec_ctx.admin.list_copysessions()]
    top = max([i for i in listed if isinstance(i, int)] + rec_ctx.target.named + [0])
    for candidate in (top + 1000, top + 100_003, 2**31 - 17):
        rec_ctx.admin.guard.allow_absent(candidate)
        if rec_ctx.admin.request("GET", f"/copysession/{candidate}").status_code == 404:
            return candidate
    raise TargetError("could not find a copy session id that GET shows absent; name one as `absent`")


@pytest.mark.rec("REC-NOT-FOUND")
def test_unknown_id_is_404(rec_ctx):
    """A PATCH to an id that a GET has just shown absent answers 404, whatever the body's shape."""
    sid = _absent_id(rec_ctx)
    wrong = []
    for body in shaped_bodies(None, transfer_modes=transfer_modes(rec_ctx.target), valid_only=False,
                              depth=rec_ctx.options.depth):
        probe = rec_ctx.admin.request("GET", f"/copysession/{sid}")
        if probe.status_code != 404:
            raise TargetError(f"session {sid} is meant to be absent but GET answered {probe.status_code}; "
                              f"not sent: {body}")
        resp = rec_ctx.admin.patch(sid, body)
        if resp.status_code != 404:
            wrong.append(f"{body} answered {resp.status_code}")
    if wrong:
        raise Deviation({"REC-NOT-FOUND"}, f"PATCH to absent session {sid}, expected 404: {'; '.join(wrong)}")


@pytest.mark.rec("REC-ISOLATION")
def test_isolation(rec_ctx):
    """Changes to one session leave every other session (that nothing else is changing) as it was."""
    checked, found = 0, []
    for sid in list(rec_ctx.pool.sids):
        sid, before = rec_ctx.pool.acquire(SYNC_AUTO, sid=sid)
        others = rec_ctx.fingerprints(exclude={sid})
        bodies = [{"recovery_mode": "Manual"}, {"transfer_mode": "Stack"},
                  {"transfer_mode": "Synchronous", "split_mode": "Automatic"}]
        if rec_ctx.target.has("consistency"):       # a group change: the likeliest to reach another session
            bodies += [{"transfer_mode": "Consistency"}, {"transfer_mode": "Synchronous", "split_mode": "Automatic"}]
        for body in bodies:
            try:
                before = rec_ctx.judge(sid, before, body, expect(before.modes, body)).after
            except Deviation as exc:        # another requirement's finding: isolation is still judged
                found.append(exc)
                rec_ctx.pool.forget(sid)
                before = rec_ctx.operator.read(sid)
            now = rec_ctx.fingerprints(exclude={sid})
            changed = [f"session {k}: {v} -> {now.get(k)}" for k, v in others.items() if now.get(k) != v]
            if changed:
                found.append(Deviation({"REC-ISOLATION"}, f"{body} on session {sid} also changed: "
                                                          f"{'; '.join(changed)}"))
                raise_all(found)      # the witnesses changed: what follows could not tell one leak from another
            checked += 1
    raise_all(found)
    assert checked, "no writable session to check isolation on"


@pytest.mark.rec_last
@pytest.mark.rec("REC-ISOLATION")
def test_unwritten_sessions_unchanged_over_the_run(rec_ctx):
    """Every REC session that no check of the run writes has, at the end of the run, the modes it had
    at its start (and is still suspended, or still active): a leak from any change of the run, not only
    from the bodies of test_isolation, and with lanes from any lane's."""
    if rec_ctx.start_witnesses is None:
        from pytest_rec.errors import Blocked

        raise Blocked(rec_ctx.start_witnesses_error or "no REC session that the run never writes")
    now = rec_ctx.unwritten_modes()
    changed = [f"session {k}: {v} -> {now.get(k, 'gone')}" for k, v in rec_ctx.start_witnesses.items()
               if now.get(k) != v]
    if changed:
        raise Deviation({"REC-ISOLATION"}, "over the run, sessions the suite never writes changed: "
                                           + "; ".join(changed))
