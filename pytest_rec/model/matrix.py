"""The matrix of PATCH cases (starting state x body) at each depth, and its job-frugal order."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

from .behaviour import FIELDS, Expectation, Modes, bodies, body_label, expect, setup_path, starting_states

DEPTHS = ("smoke", "pairwise", "full")
PAIRWISE_SEED = 20261127


@dataclass(frozen=True)
class Case:
    start: Modes
    body: tuple[tuple[str, str], ...]        # sorted (field, value) pairs: hashable

    @property
    def body_dict(self) -> dict[str, str]:
        return dict(self.body)

    @cached_property          # a frozen dataclass keeps a __dict__: computed once per case, not at every use
    def id(self) -> str:
        return f"{self.start.label()} + {body_label(self.body_dict)}"

    @cached_property
    def expectation(self) -> Expectation:
        return expect(self.start, self.body_dict)

    @cached_property
    def end(self) -> Modes:
        e = self.expectation
        return e.modes if e.accepted and e.modes else self.start


def make_case(start: Modes, body: dict) -> Case:
    return Case(start, tuple((k, body[k]) for k in FIELDS if k in body))


def full_cases() -> list[Case]:
    return [make_case(s, b) for s in starting_states() for b in bodies()]


def pairwise_cases(seed: int = PAIRWISE_SEED) -> list[Case]:
    """Every triple of (starting transfer mode, transfer mode sent, split mode sent) and every
    pair of the remaining factors, generated with allpairspy over a compound factor."""
    from allpairspy import AllPairs

    rng = random.Random(seed)
    triples = [(t, ts, ss) for t in ("Synchronous", "Stack", "Consistency")
               for ts in (None, "Synchronous", "Stack", "Consistency")
               for ss in (None, "Automatic", "Manual")]
    rng.shuffle(triples)
    start_split = ["Automatic", "Manual"]
    start_recovery = ["Automatic", "Manual"]
    sent_recovery = [None, "Automatic", "Manual"]
    cases: dict[Case, None] = {}
    for triple, ssplit, srec, rsent in AllPairs([triples, start_split, start_recovery, sent_recovery]):
        t, ts, ss = triple
        start = Modes(t, ssplit if t == "Synchronous" else "Manual", srec)
        body = {k: v for k, v in (("transfer_mode", ts), ("split_mode", ss), ("recovery_mode", rsent))
                if v is not None}
        cases[make_case(start, body)] = None
    return list(cases)


def smoke_cases() -> list[Case]:
    """A handful that still touches every judged rule the matrix carries."""
    S = Modes
    picks = [
        (S("Stack", "Manual", "Automatic"), {"transfer_mode": "Synchronous"}),                 # seed example, sticky
        (S("Synchronous", "Automatic", "Automatic"), {"transfer_mode": "Stack"}),              # forced manual
        (S("Synchronous", "Automatic", "Manual"), {"transfer_mode": "Consistency", "recovery_mode": "Automatic"}),
        (S("Consistency", "Manual", "Automatic"), {"transfer_mode": "Synchronous", "split_mode": "Automatic"}),
        (S("Stack", "Manual", "Manual"), {"split_mode": "Automatic"}),                         # split refused
        (S("Synchronous", "Manual", "Automatic"), {"transfer_mode": "Stack", "split_mode": "Manual"}),
        (S("Synchronous", "Manual", "Manual"), {"recovery_mode": "Automatic"}),                 # keep omitted
        (S("Stack", "Manual", "Automatic"), {"transfer_mode": "Consistency"}),
    ]
    return [make_case(s, b) for s, b in picks]


def cases_for(depth: str, seed: int = PAIRWISE_SEED) -> list[Case]:
    if depth == "full":
        return full_cases()
    if depth == "pairwise":
        return pairwise_cases(seed)
    if depth == "smoke":
        return smoke_cases()
    raise ValueError(f"unknown depth {depth!r}; one of {', '.join(DEPTHS)}")


def order(cases: list[Case], start: Modes | None = None) -> list[Case]:
    """Order cases so each one starts, as often as possible, where the previous one left the
    session (a walk over the directed multigraph of states; each jump costs a setup job)."""
    remaining: dict[Modes, list[Case]] = defaultdict(list)
    for c in sorted(cases, key=lambda c: c.id):
        remaining[c.start].append(c)
    out: list[Case] = []
    here = start
    while any(remaining.values()):
        if here is None or not remaining[here]:
            # jump to the state with the largest surplus of outgoing over incoming cases
            incoming: dict[Modes, int] = defaultdict(int)
            for lst in remaining.values():
                for c in lst:
                    incoming[c.end] += 1
            here = max((s for s, lst in remaining.items() if lst),
                       key=lambda s: (len(remaining[s]) - incoming[s], s.label()))
        options = remaining[here]
        # prefer a case whose end state still has cases to run; self-loops first (they keep us here)
        options.sort(key=lambda c: (c.end != here and not remaining[c.end], -len(remaining[c.end]), c.id))
        case = options.pop(0)
        out.append(case)
        here = case.end
    return out


REFUSED_WEIGHT = 0.15     # a refused case costs requests, not a job (when the array refuses at once)


def chunk(ordered: list[Case], n: int) -> list[list[Case]]:
    """Cut an ordered list into n contiguous runs of near-equal expected jobs (an accepted case is a
    job; a refused one a few requests), so that lanes of the matrix end at about the same time."""
    n = max(1, min(n, len(ordered) or 1))
    weights = [1.0 if c.expectation.accepted else REFUSED_WEIGHT for c in ordered]
    total = sum(weights)
    out, current, acc, k = [], [], 0.0, 1
    for c, w in zip(ordered, weights):
        if current and k < n and acc + w / 2 > total * k / n and len(ordered) - len(out) - len(current) >= n - k:
            out.append(current)
            current, k = [], k + 1
        current.append(c)
        acc += w
    out.append(current)
    while len(out) < n:
        out.append([])
    return out


def setup_jobs(ordered: list[Case], start: Modes | None = None) -> int:
    """Jobs spent reaching starting states along an order (0 when a case starts where the last ended)."""
    here, jobs = start, 0
    for c in ordered:
        jobs += len(setup_path(here, c.start)) if here else 1
        here = c.end
    return jobs


ORDER = ("Synchronous", "Stack", "Consistency")    # the way back's order (wayback.ORDER): a pioneer goes later
WARM_UP = 4          # accepted cases a lane keeps to trips that need no proof, while the pioneers make them


def plan_lanes(cases: list[Case], homes: list[Modes | None]) -> list[list[Case]]:
    """One path through the state graph per lane (issue 29), each from its session's home (the state the
    target file pins it in; None: unknown): the lane with the least expected jobs takes the next case,
    from where its own last case left the session when the matrix has one there (a self-loop or a refusal
    first, then a case whose end state still has cases), else it jumps (setup jobs) to the nearest state
    with the largest surplus of cases starting there over cases ending there. So each lane's first case
    needs no setup job when its home is a starting state, the jumps are about as few as the graph's
    imbalance allows, and the lanes' expected jobs stay about equal. While a lane whose home is not
    Synchronous is warming up (its first ``WARM_UP`` accepted cases), it takes only trips that need no
    proven way back (its home's transfer mode, or a later one: a pioneer's trip, wayback.py), and a
    Synchronous lane takes changes of transfer mode first: the proofs the others need come early, so no
    lane waits for another's proof."""
    remaining: dict[Modes, list[Case]] = defaultdict(list)
    for c in sorted(cases, key=lambda c: c.id):
        remaining[c.start].append(c)
    n = max(1, len(homes))
    here: list[Modes | None] = list(homes) + [None] * (n - len(homes))
    load, taken = [0.0] * n, [0] * n
    out: list[list[Case]] = [[] for _ in range(n)]

    def may(k: int, case: Case) -> bool:
        home = homes[k] if k < len(homes) else None
        if home is None or taken[k] >= WARM_UP or home.transfer_mode not in ORDER:
            return True
        to = case.end.transfer_mode
        return to == home.transfer_mode or ORDER.index(to) > ORDER.index(home.transfer_mode)

    def cost(a: Modes | None, b: Modes) -> int:
        return 1 if a is None else len(setup_path(a, b))

    while any(remaining.values()):
        k = min(range(n), key=lambda j: (load[j], j))
        pos = here[k]
        options = [c for c in remaining.get(pos, []) if may(k, c)] if pos is not None else []
        if not options:
            incoming: dict[Modes, int] = defaultdict(int)
            for lst in remaining.values():
                for c in lst:
                    incoming[c.end] += 1
            states = [s for s, lst in remaining.items() if lst and any(may(k, c) for c in lst)] or \
                [s for s, lst in remaining.items() if lst]
            target = max(states, key=lambda s: (-cost(pos, s), len(remaining[s]) - incoming[s], s.label()))
            load[k] += cost(pos, target)
            here[k] = pos = target
            options = [c for c in remaining[pos] if may(k, c)] or list(remaining[pos])
        home = homes[k] if k < len(homes) else None
        pioneer = home is not None and home.transfer_mode == ORDER[0] and taken[k] < WARM_UP

        balance: dict[Modes, int] = defaultdict(int)      # cases left starting at a state less ending there
        for lst in remaining.values():
            for c in lst:
                balance[c.start] += 1
                balance[c.end] -= 1

        def rank(c: Case):
            moves = c.end.transfer_mode != pos.transfer_mode
            return (not moves if pioneer else False, c.end != pos and not remaining[c.end],
                    c.end != pos and not c.expectation.accepted, -balance[c.end], -len(remaining[c.end]), c.id)
        case = min(options, key=rank)
        remaining[pos].remove(case)
        out[k].append(case)
        accepted = case.expectation.accepted
        load[k] += 1.0 if accepted else REFUSED_WEIGHT
        taken[k] += 1 if accepted else 0
        here[k] = case.end
    return out


def lane_runs(cases: list[Case], homes: list[Modes | None], lanes: int) -> list[list[Case]]:
    """The matrix's run for each lane: a path per lane from its session's home (``plan_lanes``) when a
    home is known; else one job-frugal order cut into runs of about equal jobs (``order``, ``chunk``)."""
    lanes = max(1, lanes)
    if not any(homes):
        return chunk(order(cases), lanes)
    homes = (list(homes) + [None] * lanes)[:lanes]
    return plan_lanes(cases, homes)


def plan_jobs(run: list[Case], home: Modes | None) -> int:
    """Jobs of one lane's matrix path: each accepted case's job and the setup jobs between cases."""
    return sum(1 for c in run if c.expectation.accepted) + setup_jobs(run, home)
