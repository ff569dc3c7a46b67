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
