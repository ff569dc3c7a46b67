"""The expected-behaviour model of PATCH /copysession/{id}: pure functions, no I/O.

Written from the seed page and CONTRACT section 2, not from the simulator. Given a
session's modes and state before, the body sent and who sends it, ``expect`` says whether
the array must accept the change (and what a GET must show afterwards, field by field,
with the requirement that judges each field) or refuse it (and in which forms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

TRANSFER_MODES = ("Synchronous", "Stack", "Consistency")      # what the PATCH can set
# Through (the design guide: taken while Stack or Consistency is disabled or the session is suspended)
# is asynchronous too, but no PATCH sets it: split_mode is never expected to be taken on such a session
ASYNC_MODES = frozenset({"Stack", "Consistency", "Through"})
SPLIT_MODES = ("Automatic", "Manual")
RECOVERY_MODES = ("Automatic", "Manual")
FIELDS = ("transfer_mode", "split_mode", "recovery_mode")
VALUES = {"transfer_mode": TRANSFER_MODES, "split_mode": SPLIT_MODES, "recovery_mode": RECOVERY_MODES}

JOB_ERROR = "job-error"
# requirement -> (lenient refusal forms, strict refusal forms); CONTRACT section 2, strict code first.
REFUSALS: dict[str, tuple[tuple, tuple]] = {
    "REC-SUSPEND-FIRST": ((409, 400, JOB_ERROR), (409,)),
    "REC-SPLIT-SYNC-ONLY": ((400, 409, JOB_ERROR), (400,)),
    "REC-TENANT-DENY": ((403, 404, JOB_ERROR), (403,)),
    # 404 too: an array may answer a REC call on a session of another type as "no such REC session"
    "REC-NON-REC": ((400, 409, 404, JOB_ERROR), (400,)),
    "REC-NOT-FOUND": ((404,), (404,)),
    "REC-BAD-INPUT": ((400,), (400,)),
    "REC-CONTENT-TYPE": ((415,), (415,)),
    "REC-AUTH": ((401,), (401,)),
    "REC-JOB-PRIVACY": ((404,), (404,)),
    # the one of two concurrent PATCHes an array may refuse ("previous command in process")
    "REC-SERIAL": ((409, 400, JOB_ERROR), (409,)),
}


@dataclass(frozen=True, order=True)
class Modes:
    transfer_mode: str
    split_mode: str
    recovery_mode: str

    @property
    def is_async(self) -> bool:
        return self.transfer_mode in ASYNC_MODES

    def label(self) -> str:
        return f"{self.transfer_mode}/{self.split_mode}/{self.recovery_mode}"

    def as_dict(self) -> dict[str, str]:
        return {"transfer_mode": self.transfer_mode, "split_mode": self.split_mode,
                "recovery_mode": self.recovery_mode}

    @classmethod
    def of(cls, session: dict) -> "Modes":
        return cls(session.get("transfer_mode"), session.get("split_mode"), session.get("recovery_mode"))


@dataclass(frozen=True)
class Expectation:
    """What the array must do with one PATCH."""
    accepted: bool
    requirements: tuple[str, ...]
    modes: Modes | None = None                        # after, when accepted
    judged_by: dict[str, str] = field(default_factory=dict)   # field -> requirement judging its value
    refusal_requirement: str | None = None                   # the requirement a refusal is judged under
    recorded: bool = False                       # REC-UNSPECIFIED: record, never judge

    def refusal_forms(self, strict: bool) -> tuple:
        lenient, strict_forms = REFUSALS[self.refusal_requirement]
        return strict_forms if strict else lenient


def starting_states() -> list[Modes]:
    """The 8 starting states: Synchronous with each split and recovery mode, Stack and
    Consistency (split Manual) with each recovery mode."""
    states = [Modes("Synchronous", s, r) for s in SPLIT_MODES for r in RECOVERY_MODES]
    states += [Modes(t, "Manual", r) for t in ("Stack", "Consistency") for r in RECOVERY_MODES]
    return states


def bodies() -> list[dict[str, str]]:
    """The 36 bodies: each field absent or one of its values."""
    out = []
    for t in (None,) + TRANSFER_MODES:
        for s in (None,) + SPLIT_MODES:
            for r in (None,) + RECOVERY_MODES:
                body = {k: v for k, v in (("transfer_mode", t), ("split_mode", s), ("recovery_mode", r))
                        if v is not None}
                out.append(body)
    return out


def body_label(body: dict) -> str:
    return "{" + ", ".join(f"{k}: {body[k]}" for k in FIELDS if k in body) + \
        ", ".join(f"{k}: {v!r}" for k, v in body.items() if k not in FIELDS) + "}"


def expect(before: Modes, body: dict, *, suspended: bool = True, is_rec: bool = True,
           tenant_allowed: bool = True) -> Expectation:
    """The expected outcome of PATCHing ``body`` onto a session in state ``before``."""
    if not tenant_allowed:
        return Expectation(False, ("REC-TENANT-DENY",), refusal_requirement="REC-TENANT-DENY")
    if not is_rec:
        return Expectation(False, ("REC-NON-REC",), refusal_requirement="REC-NON-REC")
    if not suspended:
        return Expectation(False, ("REC-SUSPEND-FIRST",), refusal_requirement="REC-SUSPEND-FIRST")
    if not body:
        return Expectation(True, ("REC-UNSPECIFIED",), recorded=True)

    t_sent, s_sent, r_sent = (body.get(f) for f in FIELDS)
    transfer = t_sent or before.transfer_mode
    if s_sent is not None and transfer in ASYNC_MODES:
        return Expectation(False, ("REC-SPLIT-SYNC-ONLY",), refusal_requirement="REC-SPLIT-SYNC-ONLY")

    went_async = before.transfer_mode == "Synchronous" and transfer in ASYNC_MODES
    back_to_sync = before.is_async and transfer == "Synchronous"
    judged: dict[str, str] = {}

    judged["transfer_mode"] = "REC-ACCEPT" if t_sent else "REC-KEEP-OMITTED"

    if s_sent is not None:
        split = s_sent
        judged["split_mode"] = "REC-STICKY-MANUAL" if back_to_sync else "REC-ACCEPT"
    elif transfer in ASYNC_MODES or before.is_async:
        split = "Manual"
        if went_async:
            judged["split_mode"] = "REC-FORCED-MANUAL"
        elif before.is_async and before.split_mode != "Manual":
            # an asynchronous session that reads split Automatic (a state the rules cannot produce): the
            # page's rule is Synchronous to asynchronous only, so its split is not judged (issue 27)
            pass
        elif back_to_sync:
            judged["split_mode"] = "REC-STICKY-MANUAL"
        else:
            judged["split_mode"] = "REC-KEEP-OMITTED"
    else:
        split = before.split_mode
        judged["split_mode"] = "REC-KEEP-OMITTED"

    recovery = r_sent or before.recovery_mode
    judged["recovery_mode"] = "REC-RECOVERY" if r_sent else "REC-KEEP-OMITTED"

    reqs = ["REC-ACCEPT", "REC-RESPONSE"] + sorted(set(judged.values()) - {"REC-ACCEPT"})
    return Expectation(True, tuple(reqs), Modes(transfer, split, recovery), judged)


def serial_outcomes(before: Modes, first: dict, second: dict, taken: tuple[bool, bool]) -> set[Modes]:
    """REC-SERIAL: the states that two concurrent PATCHes may leave, given which of them the array took
    (``taken``: job Success) and which it refused. Each order the array could have run them in gives
    one state, if it agrees with what was taken: a body taken must be one the model accepts at that
    point of the order; a refused body changes nothing (refused for being concurrent, or because
    the model refuses it there). Empty when no order explains what was taken."""
    out = set()
    pairs = ((first, taken[0]), (second, taken[1]))
    for order in (pairs, pairs[::-1]):
        modes = before
        for body, was_taken in order:
            if not was_taken:
                continue
            exp = expect(modes, body)
            if not exp.accepted or exp.modes is None:
                break
            modes = exp.modes
        else:
            out.add(modes)
    return out


def setup_body(current: Modes, wanted: Modes) -> dict[str, str] | None:
    """The body that takes a suspended session from ``current`` to ``wanted`` in one job
    (None when it is there already). split_mode is sent only when the result is synchronous."""
    if current == wanted:
        return None
    body = {"transfer_mode": wanted.transfer_mode, "recovery_mode": wanted.recovery_mode}
    if wanted.transfer_mode == "Synchronous":
        body["split_mode"] = wanted.split_mode
    return body


def undo_body(current: Modes, wanted: Modes) -> dict[str, str] | None:
    """The body that undoes a change taken on an active session: only the fields that differ, so that a
    change that kept the transfer mode is undone by one of its kind (``setup_body`` when the transfer
    mode itself moved); None when nothing differs."""
    if current == wanted:
        return None
    if current.transfer_mode != wanted.transfer_mode:
        return setup_body(current, wanted)
    return {f: getattr(wanted, f) for f in FIELDS if getattr(current, f) != getattr(wanted, f)}


def one_field_path(current: Modes, wanted: Modes) -> list[dict[str, str]]:
    """A path of one field per body (recovery mode first, then the split, then the transfer mode, then
    the split of a synchronous end), checked against the state rule step by step; [] when there is
    none (from a state the rules cannot produce, say). The restore's last resort: an array that
    refuses one combined body every time may still take its fields one by one."""
    steps: list[dict[str, str]] = []
    cur = current
    if cur.is_async and cur.split_mode != "Manual":
        return []

    def step(body: dict[str, str]) -> bool:
        nonlocal cur
        exp = expect(cur, body)
        if not exp.accepted or exp.modes is None:
            return False
        steps.append(body)
        cur = exp.modes
        return True

    if cur.recovery_mode != wanted.recovery_mode and not step({"recovery_mode": wanted.recovery_mode}):
        return []
    if wanted.is_async and cur.transfer_mode == "Synchronous" and cur.split_mode != "Manual" \
            and not step({"split_mode": "Manual"}):
        return []
    if cur.transfer_mode != wanted.transfer_mode and not step({"transfer_mode": wanted.transfer_mode}):
        return []
    if cur.split_mode != wanted.split_mode and not step({"split_mode": wanted.split_mode}):
        return []
    return steps if cur == wanted else []


def setup_path(current: Modes, wanted: Modes, via: str | None = None) -> list[dict[str, str]]:
    """The bodies that take a suspended session from ``current`` to ``wanted`` along a path that
    relies on no rule under test but REC-ACCEPT (CONTRACT section 2, attribution):

    - a session in a state the rules cannot produce (asynchronous with split Automatic) first goes
      back to Synchronous with split_mode given (legal from any state);
    - Synchronous to asynchronous goes through split Manual first, so the forced split is not needed;
    - going back to Synchronous always gives split_mode, so the sticky split is not needed.
    ``via`` names a transfer mode to pass through first (a detour around a step the array answered
    wrongly before; through Synchronous the split is given, so no rule but REC-ACCEPT is relied on). Usually one body; [] when the session is there already."""
    steps: list[dict[str, str]] = []
    cur = current
    if via == "Synchronous" and cur.transfer_mode != "Synchronous":
        steps.append({"transfer_mode": "Synchronous", "split_mode": "Manual", "recovery_mode": wanted.recovery_mode})
        cur = Modes("Synchronous", "Manual", wanted.recovery_mode)
    elif via is not None and via != cur.transfer_mode:
        if cur.transfer_mode == "Synchronous" and cur.split_mode != "Manual":
            steps.append({"split_mode": "Manual"})
            cur = Modes("Synchronous", "Manual", cur.recovery_mode)
        if cur.is_async and cur.split_mode != "Manual":
            return []                      # no detour from a state the rules cannot produce
        steps.append({"transfer_mode": via, "recovery_mode": wanted.recovery_mode})
        cur = Modes(via, "Manual", wanted.recovery_mode)
    if cur == wanted:
        return steps
    if cur.is_async and cur.split_mode != "Manual":
        split = wanted.split_mode if wanted.transfer_mode == "Synchronous" else "Manual"
        body = {"transfer_mode": "Synchronous", "split_mode": split, "recovery_mode": wanted.recovery_mode}
        steps.append(body)
        cur = Modes("Synchronous", split, wanted.recovery_mode)
        if cur == wanted:
            return steps
    if wanted.is_async and cur.transfer_mode == "Synchronous" and cur.split_mode != "Manual":
        steps.append({"split_mode": "Manual", "recovery_mode": wanted.recovery_mode})
        cur = Modes("Synchronous", "Manual", wanted.recovery_mode)
        if cur == wanted:
            return steps
    body = setup_body(cur, wanted)
    if body is not None:
        steps.append(body)
    return steps


def judge_refusal(status: int, job_status: str | None, forms: tuple,
                  refusal_job_statuses: tuple[str, ...] = ("Error",)) -> bool:
    """Whether an answer (HTTP status, and the job's end status after a 202) is an accepted refusal;
    which job end statuses count as a refusal is the target profile's (``refusal_job_statuses``)."""
    if status == 202:
        return JOB_ERROR in forms and job_status in refusal_job_statuses
    return status in forms
