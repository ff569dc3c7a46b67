"""Bodies of every shape for the refusal checks (CONTRACT section 2), and what they cost: pure, no I/O.

A rule checked with one body only proves that the array refuses that body (issue 16). Every refusal
rule is therefore tried with one body per *shape*: each field alone, each pair, all three. The values
are chosen so that the body would change the session if the array took it (every field sent differs
from what the session reads, where the rules allow), so a wrongly accepted body shows in the GET after.
"""

from __future__ import annotations

from itertools import combinations, product

from .behaviour import FIELDS, TRANSFER_MODES, VALUES, Modes, expect

SHAPES: tuple[tuple[str, ...], ...] = tuple(c for n in (1, 2, 3) for c in combinations(FIELDS, n))
# the least CONTRACT section 2 asks for (each field alone, all three together): depth smoke
SMOKE_SHAPES: tuple[tuple[str, ...], ...] = tuple(c for c in SHAPES if len(c) in (1, 3))
NEUTRAL = Modes("Synchronous", "Automatic", "Automatic")     # the reference state of a session without modes


def transfer_modes(target, active: bool = False) -> tuple[str, ...]:
    """Transfer modes a body may carry for this target: no Consistency without a REC buffer
    (``capabilities.consistency``); with ``active``, on a real array, no Stack to an active session the
    suite made (a wrongly accepted one could not be suspended again without force; DECISIONS 4)."""
    modes = [t for t in TRANSFER_MODES if t != "Consistency" or target.has("consistency")]
    if active and target.kind != "sim":
        modes.remove("Stack")
    return tuple(modes)


def undoable_first(modes: Modes, bodies: list[dict]) -> list[dict]:
    """Bodies for an active session, those whose wrongful acceptance the same kind of body undoes first
    (CONTRACT section 3): a body that keeps the transfer mode (recovery or split, with or without the
    session's own transfer mode) is undone by a body of its kind on the same session; a body that
    changes the transfer mode may leave it where the array refuses every change (an active Synchronous
    session, say), so it comes only after every same-kind body was refused. Each shape keeps one body:
    where a shape can change the session while keeping its transfer mode, that body stands in for it."""
    def keeps(body: dict) -> bool:
        return body.get("transfer_mode", modes.transfer_mode) == modes.transfer_mode

    out: list[dict] = []
    for body in bodies:
        if not keeps(body) and "transfer_mode" in body and len(body) > 1:
            kept = {**body, "transfer_mode": modes.transfer_mode}
            exp = expect(modes, kept)
            if exp.accepted and exp.modes != modes:
                body = kept
        out.append(body)
    return sorted(out, key=lambda b: not keeps(b))


def shapes_for(depth: str) -> tuple[tuple[str, ...], ...]:
    return SMOKE_SHAPES if depth == "smoke" else SHAPES


def shaped_bodies(modes: Modes | None, *, transfer_modes=TRANSFER_MODES, valid_only: bool = True,
                  depth: str = "full") -> list[dict]:
    """One body per shape for a session in ``modes`` (``NEUTRAL`` for a session without modes: not
    REC, or absent). ``valid_only``: only bodies the model accepts on a suspended session of the
    admin, so that a refusal can come from the rule under test alone; a shape with no such body that
    changes the session (split_mode without transfer_mode on an asynchronous session) is left out.
    Otherwise such a shape gets a body that would change the session too. Among the bodies of a
    shape, the one that changes the most fields is taken (the first in table order on a tie). At depth
    smoke only the shapes CONTRACT section 2 names as the least (each field alone, all three)."""
    modes = modes if modes is not None and modes.transfer_mode in TRANSFER_MODES else NEUTRAL
    allowed = {**VALUES, "transfer_mode": tuple(t for t in TRANSFER_MODES if t in transfer_modes)}
    out = []
    for shape in shapes_for(depth):
        best, best_key = None, None
        for values in product(*(allowed[f] for f in shape)):
            body = dict(zip(shape, values))
            exp = expect(modes, body)
            if valid_only and not exp.accepted:
                continue
            changed = sum(body[f] != getattr(modes, f) for f in shape)
            changes = exp.modes != modes if exp.accepted else changed > 0
            if not changes:
                continue
            key = (exp.accepted, changed)
            if best_key is None or key > best_key:
                best, best_key = body, key
        if best is not None:
            out.append(best)
    return out


# ---------------------------------------------------------------- what the checks send (the plan)
REACHABLE = (Modes("Synchronous", "Automatic", "Automatic"), Modes("Stack", "Manual", "Automatic"),
             Modes("Consistency", "Manual", "Manual"))
ACTIVE_REACHABLE = (Modes("Synchronous", "Automatic", "Automatic"), Modes("Consistency", "Manual", "Manual"))
SPLIT_STARTS = REACHABLE


def split_bodies(start: Modes, transfer_modes=TRANSFER_MODES) -> list[dict]:
    """REC-SPLIT-SYNC-ONLY: every shape that carries split_mode and leaves the session asynchronous,
    with values that would change it (split Automatic on an asynchronous session reading Manual)."""
    out = []
    asyncs = [t for t in ("Stack", "Consistency") if t in transfer_modes]
    for shape in SHAPES:
        if "split_mode" not in shape:
            continue
        transfers = ([t for t in asyncs if t != start.transfer_mode] or asyncs) if "transfer_mode" in shape \
            else ([None] if start.is_async else [])
        for t in transfers:
            for split in ("Automatic", "Manual") if not start.is_async else ("Automatic",):
                body = {"transfer_mode": t} if t else {}
                body["split_mode"] = split
                if "recovery_mode" in shape:
                    body["recovery_mode"] = "Manual" if start.recovery_mode == "Automatic" else "Automatic"
                out.append(body)
    return out


def refusal_counts(*, consistency: bool, active: int, depth: str, foreign_writable: bool = True,
                   sim: bool = True) -> dict[str, int]:
    """PATCHes each refusal check sends (a refused one costs a job only when the array refuses by job),
    and the setup jobs they need to reach their starting states."""
    modes = TRANSFER_MODES if consistency else ("Synchronous", "Stack")
    reach = [m for m in REACHABLE if m.transfer_mode in modes]
    if depth == "smoke":
        reach = reach[:1]
    counts = {}
    counts["REC-NOT-FOUND"] = len(shaped_bodies(None, transfer_modes=modes, valid_only=False, depth=depth))
    counts["REC-NON-REC"] = counts["REC-NOT-FOUND"]
    tenant = len(shaped_bodies(NEUTRAL, transfer_modes=modes, depth=depth))     # tenant_foreign, as it is
    if foreign_writable:
        tenant += sum(len(shaped_bodies(m, transfer_modes=modes, depth=depth)) for m in reach)
    counts["REC-TENANT-DENY"] = tenant
    counts["REC-SPLIT-SYNC-ONLY"] = sum(len(split_bodies(m, modes)) for m in SPLIT_STARTS
                                        if m.transfer_mode in modes)
    sf_modes = modes if sim else tuple(t for t in modes if t != "Stack")
    active_starts = [m for m in ACTIVE_REACHABLE if m.transfer_mode in modes]
    counts["REC-SUSPEND-FIRST"] = sum(len(active_bodies(m, depth, sf_modes)) for m in active_starts)
    counts["REC-SUSPEND-FIRST (sessions.active)"] = active * len(shapes_for(depth))
    counts["setup jobs"] = (len(reach) if foreign_writable else 0) + len(SPLIT_STARTS) + 2 * len(active_starts)
    counts["suspends and resumes"] = 2 * len(active_starts)
    return counts


def active_bodies(start: Modes, depth: str, transfer_modes=TRANSFER_MODES) -> list[dict]:
    """REC-SUSPEND-FIRST on an active session the suite made (Synchronous or Consistency): at depth
    full every body the model accepts on a suspended session (those that would change it, and those
    that would not), else one body per shape, each one that would change it. Never a body the model
    refuses anyway: its refusal would prove nothing."""
    if depth != "full":
        return shaped_bodies(start, transfer_modes=transfer_modes, depth=depth)
    out = []
    for t in (None,) + tuple(transfer_modes):
        for s in (None,) + VALUES["split_mode"]:
            for r in (None,) + VALUES["recovery_mode"]:
                body = {k: v for k, v in zip(FIELDS, (t, s, r)) if v is not None}
                exp = expect(start, body)
                if body and exp.accepted:
                    out.append(body)
    return out


# ---------------------------------------------------------------- the positive rules (issue 26)
POSITIVE_RULES = ("REC-ACCEPT", "REC-FORCED-MANUAL", "REC-STICKY-MANUAL", "REC-RECOVERY", "REC-KEEP-OMITTED")


def _shape(body: dict) -> tuple[str, ...]:
    return tuple(f for f in FIELDS if f in body)


def positive_pairs(start: Modes, body: dict) -> set[tuple[str, tuple[str, ...]]]:
    """(rule, body shape) of every positive rule a body judges from ``start`` (none when it is refused)."""
    exp = expect(start, body)
    if not exp.accepted or exp.recorded:
        return set()
    rules = {"REC-ACCEPT"} | {r for r in exp.judged_by.values() if r in POSITIVE_RULES}
    return {(r, _shape(body)) for r in rules}


def _usable(start: Modes, body: dict, transfer_modes) -> bool:
    return start.transfer_mode in transfer_modes and body.get("transfer_mode", start.transfer_mode) in transfer_modes


def matrix_pairs(cases, transfer_modes=TRANSFER_MODES) -> set[tuple[str, tuple[str, ...]]]:
    """Every (positive rule, body shape) that ``cases`` ((start, body) pairs) judge: what the matrix
    gives the admin, and what a user the matrix does not run as must get too."""
    out: set = set()
    for start, body in cases:
        if _usable(start, body, transfer_modes):
            out |= positive_pairs(start, body)
    return out


def full_matrix() -> list[tuple[Modes, dict]]:
    from .behaviour import bodies, starting_states

    return [(s, b) for s in starting_states() for b in bodies()]


def allow_bodies(start: Modes, *, transfer_modes=TRANSFER_MODES, depth: str = "full", limit: int = 40) -> list[dict]:
    """The bodies a user the matrix does not run as (the tenant user, on a session of its own tenant) sends,
    one after the other from ``start``, each accepted from where the previous one left the session. At
    depth full until every (positive rule, body shape) of the full matrix is judged once, greedily (the
    body that judges most pairs not yet judged; else a step towards a state where one does); at another
    depth one body per shape of ``shapes_for(depth)``, each changing the session."""
    from .behaviour import bodies

    allowed = [b for b in bodies() if b and b.get("transfer_mode", transfer_modes[0]) in transfer_modes]

    def step(here, b):
        exp = expect(here, b)
        return exp.modes if exp.accepted and not exp.recorded else None

    out, here = [], start
    if depth != "full":
        for shape in shapes_for(depth):
            fits = [b for b in allowed if _shape(b) == shape and step(here, b) not in (None, here)]
            if fits:
                pick = max(fits, key=lambda b: sum(b[f] != getattr(here, f) for f in b))
                out.append(pick)
                here = step(here, pick)
        return out
    wanted = matrix_pairs(full_matrix(), transfer_modes)
    while wanted and len(out) < limit:
        # most pairs not yet judged; on a tie a body that changes the session (a refusal taken silently
        # as a no-op would not show), then the one that changes the most fields
        gain, _, body = max(((len(positive_pairs(here, b) & wanted), _changes(here, b), b) for b in allowed),
                            key=lambda g: g[:2])
        if gain == 0:           # one step towards a state where some body judges a pair not yet judged
            ahead = [(max(len(positive_pairs(step(here, b), b2) & wanted) for b2 in allowed), b)
                     for b in allowed if step(here, b) not in (None, here)]
            gain, body = max(ahead, key=lambda a: a[0]) if ahead else (0, None)
            if gain == 0:
                break
        wanted -= positive_pairs(here, body)
        out.append(body)
        here = step(here, body)
    return out


def _changes(here: Modes, body: dict) -> int:
    exp = expect(here, body)
    if not exp.accepted or exp.modes is None:
        return -1
    return sum(getattr(exp.modes, f) != getattr(here, f) for f in FIELDS)


def positive_counts(start: Modes, cases, *, transfer_modes=TRANSFER_MODES, depth: str = "full",
                    sessions: int = 1) -> dict[str, dict[str, tuple[int, int, int]]]:
    """For the plan: per user, per positive rule, (bodies that judge it, body shapes among them, body
    shapes the full matrix has for it): the admin's from the matrix ``cases`` ((start, body) pairs), the
    tenant user's from ``allow_bodies`` on each of its ``sessions`` (REC-TENANT-ALLOW: every one of them)."""
    full = matrix_pairs(full_matrix(), transfer_modes)
    shapes_of = {r: {sh for rr, sh in full if rr == r} for r in POSITIVE_RULES}

    def tally(pairs_per_body):
        seen: dict[str, list] = {}
        for pairs in pairs_per_body:
            for rule, shape in pairs:
                entry = seen.setdefault(rule, [0, set()])
                entry[0] += 1
                entry[1].add(shape)
        return {r: (n, len(sh), len(shapes_of.get(r, sh))) for r, (n, sh) in sorted(seen.items())}

    admin = tally(positive_pairs(s, b) for s, b in cases if _usable(s, b, transfer_modes))
    here, per_body = start, []
    for body in allow_bodies(start, transfer_modes=transfer_modes, depth=depth):
        per_body.append(positive_pairs(here, body) | {("REC-TENANT-ALLOW", _shape(body))})
        here = expect(here, body).modes
    return {"admin": admin, "tenant": tally(per_body * max(sessions, 0))}
