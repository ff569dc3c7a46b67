"""Everything a compliance check needs about one run, in one object (no pytest imports)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..client.guard import Guard
from ..client.rest import PlainClient, RecClient
from ..client.transcript import Transcript
from ..errors import Blocked, Deviation, TargetError
from .judge import Outcome, fingerprint, patch_and_judge, show
from ..model.behaviour import TRANSFER_MODES, Expectation
from .restore import Journal, restore_pending
from .sessions import Operator, SessionPool
from ..model.state import SessionState, state_of
from ..model.target import Target

__all__ = ["Options", "RecContext", "make_guard", "moved_to", "write_transcript"]


@dataclass
class Options:
    target: str = "sim"
    depth: str = "full"
    strict: bool = False
    dry_run: bool = False
    offline: bool = False               # a dry run that does not even log in
    sim_defects: tuple[str, ...] = ()
    sim_options: dict[str, str] = field(default_factory=dict)
    sim_in_thread: bool = False         # --rec-sim-in-thread: the built-in simulator in this process
    job_timeout: float = 120.0
    journal: str = "reports/restore-journal.json"
    report_dir: str = "reports"
    pairwise_seed: int = 20261127
    fuzz_examples: int | None = None
    fuzz_seed: int = 20261127
    known_deviations: str | None = None
    lanes: int | None = None            # --rec-lanes; None: as many as -n, else 1
    walk_seed: int = 20261204           # --rec-walk-seed: the walk's generator (walk.py)
    walk_steps: int | None = None       # --rec-walk-steps: steps per session walked; None: the default at depth full


def make_guard(target: Target) -> Guard:
    """The allow-list of CONTRACT section 1 for this target file. ``active`` sessions are readable
    and patchable (refusal checks) but never suspended or resumed: the suite could not put an
    active Stack session back without force."""
    suspendable = [s for s in target.writable + target.tenant_sessions + [target.tenant_foreign]
                   if s not in target.active]
    return Guard(readable=target.named, writable=target.named, suspendable=suspendable,
                 absent=[target.absent] if target.absent is not None else [])


@dataclass
class RecContext:
    options: Options
    target: Target
    admin: RecClient
    tenant: RecClient
    other: RecClient | None
    plain: PlainClient
    transcript: Transcript
    journal: Journal
    operator: Operator
    pool: SessionPool
    simulator: Any = None              # the SimulatorServer when the target is the built-in one
    workers: int = 1                   # processes of the run (xdist workers) that write to the target
    cut_short: tuple | None = None     # (case, requirements) a deviation left unjudged by stopping the check
    start_witnesses: dict | None = None    # unwritten_modes() as this process began (REC-ISOLATION over the run)
    start_witnesses_error: str | None = None
    probed: dict = field(default_factory=dict)   # id(client) -> why that user writes no more (None: probed)
    set_aside: dict = field(default_factory=dict)   # writable sessions never written: they read a mode the PATCH cannot set
    suspend_first_phases: set = field(default_factory=set)   # active phases REC-SUSPEND-FIRST was judged from
    walks: list = field(default_factory=list)    # the walks that found something (walk.Walk), for the report
    walk_generator: Any = None         # the one walk.Generator of this process's writable-session walks

    @property
    def strict(self) -> bool:
        return self.options.strict

    def judge(self, sid: int, before: SessionState, body: Any, exp: Expectation, *,
              client: RecClient | None = None, raw: bytes | None = None, then: tuple[str, ...] = ()) -> Outcome:
        """PATCH one session and judge it; keeps the pool's knowledge of the session current.
        ``then``: the requirements only later steps of the check judge; a deviation here cuts the
        check short, and the report counts those as not judged (blocked), never as passed."""
        __tracebackhide__ = True
        sent = moved_to(body if raw is None else raw)
        wb = self.operator.wayback
        self.may_move(sid, sent)        # a refused body too: an array that wrongly takes it moves the session
        if client is not None and client is not self.admin and exp.accepted:
            self.probe_user(client, sid)        # on a session this user may change: its own
        # a change of transfer mode already seen broken: the window adapted to the run's lags, not the
        # profile's whole one (fail fast; a first failure of its kind still gets the whole window)
        patient = not (exp.accepted and wb.is_broken(before.modes.transfer_mode, sent))
        self.pool.forget(sid)
        if exp.refusal_requirement == "REC-SUSPEND-FIRST" and not before.suspended:
            self.suspend_first_phases.add(before.phase or "(no phase)")
        with self.admin.transcript.phase(f"check: PATCH session {sid} from {before.modes.label()} with "
                                         f"{show(body) if raw is None else 'a raw body'}, then the job and a GET"):
            try:
                out = patch_and_judge(client or self.admin, self.admin, self.target, sid, before, body, exp,
                                      strict=self.strict, job_timeout=self.options.job_timeout, raw=raw,
                                      patient=patient)
            except Deviation as exc:
                if then:
                    self.cut_short = (self.transcript.case, tuple(then))
                if exp.accepted and sent:
                    wb.learn(before.modes.transfer_mode, sent, self.operator.read(sid).modes.transfer_mode,
                             f"{show(body)} from {before.modes.label()} on session {sid}: {str(exc)[:200]}")
                raise
        if exp.accepted and sent and out.after is not None:
            wb.learn(before.modes.transfer_mode, sent, out.after.modes.transfer_mode)
        if sid in self.pool.known:
            self.pool.note(sid, out.after)
        return out

    def may_move(self, sid: int, *modes: str | None) -> None:
        """Raise ``Blocked`` unless session ``sid`` may be moved to each transfer mode in ``modes``: a
        session leaves its home only along a proven way back (CONTRACT section 3; ``wayback.WayBack``).
        Every check that sends a change of transfer mode asks first."""
        for mode in modes:
            why = self.operator.wayback.departure(sid, mode, wait=True) if mode else None
            if why:
                raise Blocked(why)

    def probe_user(self, client: RecClient, sid: int) -> None:
        """Every user's first write is a write probe (CONTRACT section 3): before another user's first
        change, a PATCH of that user sets session ``sid`` (suspended, as the checks have it) to the modes it
        has, its job waited for. When that job never ends the check is not tried (an error) and that user
        writes nothing more; the probe's job holds nothing, so the restore still puts the session back."""
        key = id(client)
        if key in self.probed:
            if self.probed[key]:
                raise TargetError(self.probed[key])
            return
        self.probed[key] = None
        if not self.operator.read(sid).suspended:
            return                                  # a refusal check on an active session: nothing to probe with
        _, stopped = self.operator.write_probe([sid], client=client)
        if stopped:
            self.probed[key] = f"not tried: {stopped}"
            raise TargetError(self.probed[key])

    def ensure_suspended(self, sid: int) -> SessionState:
        """Suspend a named (tenant) session the normal way if it is active; the journal puts it back.
        Never a session the target file lists as ``active``: those are never suspended."""
        if sid in self.target.active:
            raise TargetError(f"session {sid} is listed under sessions.active: the suite never suspends it")
        self.journal.record(sid, self.admin.get_copysession(sid))
        self.operator.wayback.home(sid, self.journal.home(sid))
        st = self.operator.read(sid)
        return st if st.suspended else self.operator.suspend(sid)

    def fingerprints(self, exclude: set[int]) -> dict[int, tuple]:
        """(modes, suspended) of every visible REC session but ``exclude`` that nothing changes while
        the check runs (REC-ISOLATION). In a run of one process that is every other session: the
        process changes one at a time. With xdist workers, no session that any process of the run
        writes (writable, tenant or active, whichever worker owns it), so that another worker's
        checks can never pass for a leak."""
        busy = set(exclude) | (self.target.written if self.workers > 1 else set())
        guard = getattr(self.admin, "guard", None)
        if guard is not None:       # a change of the run that lost its reply, or whose job never ended, may
            busy |= set(guard.lost) | set(guard.held)     # still land: no witness of another check's leak
        out = {}
        for s in self.admin.list_copysessions():
            sid = s.get("copysession_id")
            if sid in busy or s.get("type") != self.target.profile.rec_type:
                continue
            out[sid] = fingerprint(s, self.target)
        if not out:
            from ..errors import Blocked

            raise Blocked("no REC session to watch: every one the array shows is changed by this run"
                          + (" (lanes: each writes its own; run with --rec-lanes 1, or let the array show a REC "
                             "session the target file does not name)" if self.workers > 1 else ""))
        return out

    def unwritten_modes(self) -> dict[int, str]:
        """Modes and suspended-or-not of every REC session no process of the run ever writes (not its
        phase: an active session may go from Copying to Equivalent on its own), for the whole-run check
        of REC-ISOLATION; Blocked when there is none."""
        out = {}
        for s in self.admin.list_copysessions():
            sid = s.get("copysession_id")
            if sid in self.target.written or s.get("type") != self.target.profile.rec_type:
                continue
            st = state_of(s, self.target)
            out[sid] = f"{st.modes.label()} {'suspended' if st.suspended else 'active'}"
        if not out:
            from ..errors import Blocked

            raise Blocked("no REC session that the run never writes: nothing to compare over the run")
        return out

    def restore_all(self) -> tuple[list[str], list[str]]:
        """Put back every session this process wrote to (``restore.restore_pending``)."""
        return restore_pending(self.operator, self.journal)


def moved_to(body) -> str | None:
    """The transfer mode a body (a dict, or raw JSON bytes) would move a session to, if taken: a case
    variant (``synchronous``) counts as the mode it names, since an array may take it."""
    if isinstance(body, (bytes, bytearray, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return None
    sent = body.get("transfer_mode") if isinstance(body, dict) else None
    if not isinstance(sent, str):
        return None
    return next((m for m in TRANSFER_MODES if m.lower() == sent.strip().lower()), None)


def write_transcript(path: Path, transcript: Transcript) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in transcript.exchanges:
            fh.write(json.dumps(ex.as_dict()) + "\n")
