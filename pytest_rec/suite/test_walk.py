"""Walks (issue 31): seeded sequences of changes, each step judged by the matrix's model and judge, to
catch firmware whose hidden state only a history of changes shows; a finding is shrunk to the shortest
sequence that still shows it and written as a reproducer (``reports/reproducers/``)."""

import random

import pytest

from pytest_rec.errors import Deviation
from pytest_rec.model.shapes import transfer_modes
from pytest_rec.engine.walk import SLOTS, TENANT_STEPS, Generator, Walk, run_walk, walk_steps
from pytest_rec.engine.walk_shrink import shrink

POSITIVE = ("REC-ACCEPT", "REC-RESPONSE", "REC-FORCED-MANUAL", "REC-STICKY-MANUAL", "REC-RECOVERY", "REC-KEEP-OMITTED")


def _attach(walk: Walk) -> None:
    try:
        import allure
    except ImportError:
        return
    allure.attach(walk.block(), name="minimal sequence" if walk.minimal else "walk",
                  attachment_type=allure.attachment_type.TEXT)


def _finish(rec_ctx, walk: Walk, clients: dict) -> None:
    """Shrink a finding, write its reproducer, and raise it with the (shrunk) sequence as evidence."""
    if walk.finding is None:
        return
    shrink(rec_ctx, walk, clients)
    from pytest_rec.engine.reproducer import write_walk

    path = write_walk(rec_ctx, walk)
    rec_ctx.walks.append(walk)
    _attach(walk)
    raise Deviation(walk.finding.requirements, f"{walk.finding}\n{walk.block()}"
                    + (f"\nreproducer: {path}" if path else ""), refused=walk.finding.refused)


def _generator(rec_ctx, seed) -> Generator:
    """The process's one generator for its writable sessions' walks: the second walk goes on from the kinds
    of step the first one chained (it starts a sequence anew, not the record of what was covered)."""
    gen = rec_ctx.walk_generator
    if gen is None:
        gen = rec_ctx.walk_generator = Generator(random.Random(f"{seed}:writable"), transfer_modes(rec_ctx.target))
    gen.prev, gen.trip = "start", None      # a new session: no trip of the previous one goes on
    return gen


@pytest.mark.rec_late
@pytest.mark.rec("REC-SPLIT-SYNC-ONLY", *POSITIVE)
@pytest.mark.parametrize("slot", range(SLOTS), ids=[f"writable session {k + 1}" for k in range(SLOTS)])
def test_walk(rec_ctx, slot):
    """A seeded walk of changes on one writable session (slot k: the k-th of this process, round the
    list), every body shape of the reference, each step judged after a fresh read; every session put back."""
    sids = rec_ctx.pool.sids
    sid = sids[slot % len(sids)]
    seed = rec_ctx.options.walk_seed
    walk = Walk(seed, f"session {sid}")
    gen = _generator(rec_ctx, seed)
    rec_ctx.pool.forget(sid)
    sid, first = rec_ctx.pool.acquire_any() if len(sids) == 1 else rec_ctx.pool.acquire(rec_ctx.pool.state(sid).modes,
                                                                                          sid=sid)
    try:
        run_walk(rec_ctx, walk, [sid], walk_steps(rec_ctx.options), gen)
        _finish(rec_ctx, walk, {"admin": rec_ctx.admin})
    finally:
        rec_ctx.pool.forget(sid)
    assert walk.steps, "the walk took no step"


@pytest.mark.rec_late
@pytest.mark.rec_shared_sessions
@pytest.mark.rec("REC-TENANT-ALLOW", "REC-TENANT-DENY")
def test_walk_tenant(rec_ctx):
    """The tenant user's walk: each step on its own session or on a foreign one (where every body must be
    refused), so that a refusal the array remembers wrongly shows on the next change; the admin puts both back."""
    own, foreign = rec_ctx.target.tenant_own, rec_ctx.target.tenant_foreign
    seed = rec_ctx.options.walk_seed
    walk = Walk(seed, f"tenant user, sessions {own} and {foreign}")
    gen = {sid: Generator(random.Random(f"{seed}:tenant:{k}"), transfer_modes(rec_ctx.target))
           for k, sid in enumerate((own, foreign))}
    first = {sid: rec_ctx.ensure_suspended(sid) for sid in (own, foreign)}
    steps = min(TENANT_STEPS, max(2, walk_steps(rec_ctx.options) // 2))
    try:
        run_walk(rec_ctx, walk, [own, foreign], steps, gen, client=rec_ctx.tenant, user="tenant",
                 allow={own: True, foreign: False})
        _finish(rec_ctx, walk, {"admin": rec_ctx.admin, "tenant": rec_ctx.tenant})
    finally:
        for sid, st in first.items():
            now = rec_ctx.operator.read(sid)
            if now.modes != st.modes:
                rec_ctx.operator.set_modes(sid, now, st.modes, restoring=True)
    assert walk.steps, "the walk took no step"
