"""Walks (issue 31): seeded sequences of changes on one session, each step judged by the same model and
judge the matrix uses, to find firmware bugs that only a history of changes shows.

The generator is our own ``random.Random(seed)``, not Hypothesis's stateful testing: Hypothesis re-runs
examples and shrinks with no job budget, which a real array's job time cannot afford (DECISIONS 93). Each
step picks, from every body shape of the reference (each field alone, pairs, all three; the refused ones
too, split_mode on an asynchronous result), the body whose kind (refused, leaving Synchronous, back to
Synchronous, between asynchronous modes, keeping the transfer mode; with or without split_mode, with or
without recovery_mode) has followed the previous step's kind least often, then one that does not send the
transfer mode the session has, then the shape least used, then one that changes every field it sends,
then at random: the pairs of kinds the matrix's fixed order never chains come early. Before all of these,
each trip away from Synchronous has a planned length (how many changes while asynchronous: 1 to 4, each
once in a shuffled round, DECISIONS 112): a return is not chosen before the trip has had that many
changes, and is chosen first once it has, so that firmware that counts a trip's changes meets short and
longer trips alike. A step that would move a session where its way back is not proven is never chosen
(``wayback.WayBack.departure``).

No pytest import; the checks that run walks are ``suite/test_walk.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from .context import RecContext, moved_to
from ..errors import Deviation
from .judge import show
from ..model.behaviour import FIELDS, Modes, bodies, expect

WALK_SEED = 20261204
DEFAULT_STEPS = 22          # per writable session walked, at depth full
SLOTS = 2                   # writable sessions walked per process (one Allure result each)
TENANT_STEPS = 8            # the tenant user's walk over its own and a foreign session
TRIP_LENGTHS = (1, 2, 3, 4)  # changes while asynchronous before a return: each once per shuffled round

__all__ = ["WALK_SEED", "DEFAULT_STEPS", "SLOTS", "TENANT_STEPS", "Step", "Walk", "Generator", "walk_steps", "look",
           "kind", "run_walk", "plan_lines"]


def walk_steps(options) -> int:
    """Steps per session walked: the option, else the default at depth full and none at other depths (the
    dry run counts them too)."""
    if options.walk_steps is not None:
        return max(0, int(options.walk_steps))
    return DEFAULT_STEPS if options.depth == "full" else 0


def kind(before: Modes, body: dict) -> str:
    """What a body does from ``before`` by the model: refused, depart (Synchronous to asynchronous),
    return (back to Synchronous), leg (between asynchronous modes) or stay (the transfer mode kept)."""
    exp = expect(before, body)
    if not exp.accepted or exp.modes is None:
        return "refused"
    after = exp.modes.transfer_mode
    if before.transfer_mode == "Synchronous" and after != "Synchronous":
        return "depart"
    if before.transfer_mode != "Synchronous" and after == "Synchronous":
        return "return"
    return "leg" if after != before.transfer_mode else "stay"


class Generator:
    """The seeded choice of each next body (see the module's docstring)."""

    def __init__(self, rng: random.Random, transfer_modes=("Synchronous", "Stack", "Consistency")):
        self.rng = rng
        self.bodies = [b for b in bodies() if b and b.get("transfer_mode", "Synchronous") in transfer_modes]
        self.pairs: dict[tuple, int] = {}
        self.shapes: dict[tuple, int] = {}
        self.prev = "start"
        self.trip: list[int] | None = None      # [changes so far, planned] while the session is asynchronous
        self.lengths: list[int] = []

    def _trip_length(self) -> int:
        if not self.lengths:
            self.lengths = list(TRIP_LENGTHS)
            self.rng.shuffle(self.lengths)
        return self.lengths.pop()

    def next(self, modes: Modes, allowed=lambda body: True) -> dict | None:
        if modes.transfer_mode == "Synchronous":
            self.trip = None
        elif self.trip is None:
            self.trip = [0, self._trip_length()]
        trip = self.trip

        def key(body):          # the step's kind and which of the fields it sends beside the transfer mode
            return kind(modes, body), "split_mode" in body, "recovery_mode" in body

        def off_plan(k) -> bool:      # a return before the trip's planned length, or anything else after it
            return trip is not None and (k == "return") != (trip[0] >= trip[1])

        def score(body):
            k = key(body)
            changes = sum(1 for f, v in body.items() if getattr(modes, f) != v)
            same_transfer = k[0] == "stay" and "transfer_mode" in body      # sends the mode it has
            return (off_plan(k[0]), self.pairs.get((self.prev, k), 0), same_transfer,
                    self.shapes.get((k, tuple(sorted(body))), 0), changes < len(body), self.rng.random())
        candidates = [b for b in self.bodies if allowed(b)]
        if not candidates:
            return None
        body = min(candidates, key=score)
        k = key(body)
        self.pairs[(self.prev, k)] = self.pairs.get((self.prev, k), 0) + 1
        self.shapes[(k, tuple(sorted(body)))] = self.shapes.get((k, tuple(sorted(body))), 0) + 1
        self.prev = k
        exp = expect(modes, body)
        if trip is not None and exp.accepted and exp.modes not in (None, modes) and exp.modes.transfer_mode != "Synchronous":
            trip[0] += 1
        return {f: body[f] for f in FIELDS if f in body}


@dataclass
class Step:
    sid: int
    user: str                     # "admin" or "tenant"
    before: Modes
    body: dict
    expected: str                 # what the model said: "-> T/S/R" or "refused (REC-X)"
    did: str = ""                 # what the array did (the judge's summary)
    deviation: str | None = None

    def line(self, n: int) -> str:
        said = f"{self.did}" + (f"  DEVIATION: {self.deviation}" if self.deviation else "")
        return (f"{n:>2}. {self.user} session {self.sid} {self.before.label()} PATCH {show(self.body)}: "
                f"expected {self.expected}; {said}")

    def as_dict(self) -> dict:
        return {"sid": self.sid, "user": self.user, "before": self.before.as_dict(), "body": self.body,
                "expected": self.expected, "did": self.did, "deviation": self.deviation}


@dataclass
class Walk:
    seed: int
    label: str
    steps: list[Step] = field(default_factory=list)
    finding: Deviation | None = None
    minimal: list[Step] | None = None        # the shrunk sequence, when the finding was replayed
    shrink_jobs: int = 0
    shrink_note: str = ""

    def block(self) -> str:
        """The finding in one block, for the console and the Allure attachment."""
        seq = self.minimal or self.steps
        head = (f"walk {self.label} (seed {self.seed}): {len(self.steps)} step(s) until the deviation; "
                + (f"shrunk to {len(seq)} step(s) with {self.shrink_jobs} PATCH(es)" if self.minimal
                   else f"not shrunk ({self.shrink_note or 'no replay'})"))
        return "\n".join([head] + [s.line(n) for n, s in enumerate(seq, 1)])


def expected_text(exp) -> str:
    if exp.accepted and exp.modes is not None:
        return f"-> {exp.modes.label()}"
    return f"refused ({exp.refusal_requirement})"


def look(client, sid: int) -> None:
    """A user other than the admin reads the session before it changes it, as a user of the array does (and
    as a reproducer does): what it is answered (200, or 403/404 for a session outside its tenant) is in the
    transcript, not judged; firmware that lets that read decide the later change shows on the change."""
    client.request("GET", f"/copysession/{sid}")


def run_walk(ctx: RecContext, walk: Walk, sids: list[int], steps: int, gen: Generator | dict, *, client=None,
             user: str = "admin", allow: dict | None = None) -> Walk:
    """Walk ``steps`` steps, each on one of ``sids`` (picked at random by the walk's generator), judged by
    ``ctx.judge`` (the matrix's model and judge); stop at the first deviation. ``gen``: one generator, or one
    per session (sid -> Generator; the first one's random numbers pick the session). ``allow``: sid ->
    whether the model says this user may change it (the tenant user's foreign session: False)."""
    gens = gen if isinstance(gen, dict) else {sid: gen for sid in sids}
    gen = gens[sids[0]]
    op = ctx.operator
    wb = op.wayback
    for _ in range(steps):
        # more than one session (the tenant user's own and foreign one): mostly the other one than last time,
        # so that what one answer leaves behind meets the next change of the other session
        last = walk.steps[-1].sid if walk.steps else None
        sid = sids[0] if len(sids) == 1 else (gen.rng.choice([s for s in sids if s != last])
                                             if last is not None and gen.rng.random() < 0.75 else gen.rng.choice(sids))
        allowed_here = True if allow is None else allow[sid]
        if user != "admin" and client is not None:
            look(client, sid)
        before = op.read(sid)
        ctx.pool.forget(sid)

        def may(body, sid=sid, before=before, allowed_here=allowed_here):
            if not allowed_here and not expect(before.modes, body).accepted:
                return False        # refused for another reason too (split on an asynchronous result): proves nothing
            to = moved_to(body)
            if to is None or to == before.modes.transfer_mode:
                return True
            return wb.departure(sid, to) is None and not wb.is_broken(before.modes.transfer_mode, to)
        body = gens[sid].next(before.modes, may)
        if body is None:
            break
        exp = expect(before.modes, body, tenant_allowed=allowed_here)
        step = Step(sid, user, before.modes, body, expected_text(exp))
        walk.steps.append(step)
        try:
            out = ctx.judge(sid, before, body, exp, client=client)
            step.did = out.summary()
        except Deviation as exc:
            if user != "admin" and allowed_here and exc.refused:
                exc = Deviation({"REC-TENANT-ALLOW" if r == "REC-ACCEPT" else r for r in exc.requirements},
                                f"the tenant user on session {sid} of its own tenant: {exc}", refused=True)
            step.deviation = str(exc)
            step.did = f"reads {op.read(sid).modes.label()} after"
            walk.finding = exc
            break
    return walk


def plan_lines(options, writable: int, lanes: int, latencies=(2.0, 10.0)) -> list[str]:
    """The dry run's lines for the walks: steps, at most that many jobs (a refusal answered at once costs
    none), and what shrinking may add per finding."""
    steps = walk_steps(options)
    if steps == 0:
        return [f"  walks: off ({'--rec-walk-steps 0' if options.walk_steps == 0 else 'depth ' + options.depth}); "
                f"seed {options.walk_seed}"]
    processes = max(1, min(lanes, writable))
    tenant = min(TENANT_STEPS, max(2, steps // 2))
    jobs = processes * SLOTS * steps + tenant + processes * SLOTS + 2      # + putting each walked session back
    times = ", ".join(f"~{jobs * lat / 60:.1f} min at {lat:g} s/job" for lat in latencies)
    return [f"  walks (seed {options.walk_seed}): {processes * SLOTS} of {steps} steps on writable sessions "
            f"({SLOTS} per process), the tenant user's of {tenant} steps: at most {jobs} jobs ({times}); "
            f"shrinking a finding adds at most 40 PATCHes"]
