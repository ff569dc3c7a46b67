"""Bodies of every shape for the refusal checks (CONTRACT section 2), and what they cost: pure, no I/O.

A rule checked with one body only proves that the array refuses that body (issue 16). Every refusal
rule is therefore tried with one body per *shape*: each field alone, each pair, all three. The values
are chosen so that the body would change the session if the array took it (every field sent differs
from what the session reads, where the rules allow), so a wrongly accepted body shows in the GET after.
"""

from __future__ import annotations

from itertools import combinations, product

from .errors import Deviation
from .model import FIELDS, TRANSFER_MODES, VALUES, Modes, expect

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


def raise_all(found: list[Deviation]) -> None:
    """One deviation for every body of a check that the array answered wrongly (each names its rule)."""
    __tracebackhide__ = True
    if found:
        raise Deviation({r for exc in found for r in exc.requirements}, "; ".join(str(exc) for exc in found))


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
