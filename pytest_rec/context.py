"""Everything a compliance check needs about one run, in one object (no pytest imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checks import Outcome, fingerprint, patch_and_judge
from .client import Guard, PlainClient, RecClient, TargetError, Transcript
from .errors import Deviation
from .model import Expectation, Modes
from .sessions import Journal, Operator, SessionState, restore_session, state_of
from .target import Target


@dataclass
class Options:
    target: str = "sim"
    depth: str = "full"
    strict: bool = False
    dry_run: bool = False
    sim_defects: tuple[str, ...] = ()
    sim_options: dict[str, str] = field(default_factory=dict)
    job_timeout: float = 120.0
    journal: str = "reports/restore-journal.json"
    report_dir: str = "reports"
    pairwise_seed: int = 20261127
    fuzz_examples: int | None = None
    known_deviations: str | None = None


def make_guard(target: Target) -> Guard:
    """The allow-list of CONTRACT section 1 for this target file."""
    writes = target.named
    return Guard(readable=target.named, writable=writes,
                 suspendable=target.writable + target.tenant_sessions,
                 absent=[target.absent] if target.absent is not None else [])


class SessionPool:
    """The writable sessions this process may use, with their last verified state."""

    def __init__(self, ctx: "RecContext", sids: list[int]):
        self.ctx, self.sids = ctx, list(sids)
        self.known: dict[int, SessionState | None] = {sid: None for sid in sids}
        self.last: int | None = None

    def state(self, sid: int) -> SessionState:
        st = self.known.get(sid)
        if st is None:
            st = self.ctx.operator.read(sid)
            self.known[sid] = st
        return st

    def forget(self, sid: int) -> None:
        self.known[sid] = None

    def note(self, sid: int, st: SessionState | None) -> None:
        self.known[sid] = st

    def pick(self, start: Modes) -> int:
        if not self.sids:
            raise TargetError("this process has no writable session (more workers than writable sessions)")
        for sid in self.sids:
            st = self.known.get(sid)
            if st is not None and st.suspended and st.modes == start:
                return sid
        return self.last if self.last is not None else self.sids[0]

    def acquire_any(self) -> tuple[int, SessionState]:
        """A writable session, suspended, in whatever modes it has now (no setup job)."""
        sid = self.pick(Modes("", "", ""))
        st = self.state(sid)
        return self.acquire(st.modes) if st.modes.transfer_mode else self.acquire(
            Modes("Synchronous", "Automatic", "Automatic"))

    def acquire(self, start: Modes, sid: int | None = None) -> tuple[int, SessionState]:
        """A writable session (``sid``, or the best placed one), suspended, in ``start`` (verified by GET)."""
        sid = self.pick(start) if sid is None else sid
        self.last = sid
        op = self.ctx.operator
        st = self.state(sid)
        try:
            if not st.suspended:
                st = op.suspend(sid)
            st = op.set_modes(sid, st, start)
        except BaseException:
            self.forget(sid)
            raise
        self.note(sid, st)
        return sid, st


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

    @property
    def strict(self) -> bool:
        return self.options.strict

    def judge(self, sid: int, before: SessionState, body: Any, exp: Expectation, *,
              client: RecClient | None = None, raw: bytes | None = None) -> Outcome:
        """PATCH one session and judge it; keeps the pool's knowledge of the session current."""
        self.pool.forget(sid)
        out = patch_and_judge(client or self.admin, self.admin, self.target, sid, before, body, exp,
                              strict=self.strict, job_timeout=self.options.job_timeout, raw=raw)
        if sid in self.pool.known:
            self.pool.note(sid, out.after)
        return out

    def ensure_suspended(self, sid: int) -> SessionState:
        """Suspend a named (tenant) session the normal way if it is active; the journal puts it back."""
        self.journal.record(sid, self.admin.get_copysession(sid))
        st = self.operator.read(sid)
        return st if st.suspended else self.operator.suspend(sid)

    def fingerprints(self, exclude: set[int]) -> dict[int, tuple]:
        """(modes, suspended) of every visible REC session not being changed by this process."""
        busy = set(self.target.writable) - set(self.pool.sids)
        out = {}
        for s in self.admin.list_copysessions():
            sid = s.get("copysession_id")
            if sid in exclude or sid in busy or s.get("type") != "REC":
                continue
            out[sid] = fingerprint(s, self.target)
        return out

    def restore_all(self) -> list[str]:
        notes, failures = [], []
        for sid in self.journal.pending():
            original = self.journal.data["sessions"][str(sid)]["original"]
            try:
                note = restore_session(self.operator, sid, original)
                self.journal.mark(sid, True, note)
                notes.append(note)
            except (TargetError, Deviation) as exc:
                self.journal.mark(sid, False, str(exc))
                failures.append(f"session {sid}: {exc}")
        if failures:
            raise TargetError("RESTORE FAILED: " + "; ".join(failures) +
                              f". Run `rec-restore {self.journal.path}` once the array allows it.")
        return notes


def preflight(target: Target, admin: RecClient, tenant: RecClient) -> list[str]:
    """Check the target file against the array before the first write; return problems."""
    problems = []
    prof = target.profile
    for sid in target.named:
        resp = admin.request("GET", f"/copysession/{sid}")
        if resp.status_code == 404:
            problems.append(f"session {sid} does not exist")
            continue
        if resp.status_code != 200:
            problems.append(f"session {sid}: GET answered {resp.status_code}")
            continue
        s = resp.json()
        want_type = "REC" if sid != target.non_rec else None
        if want_type and s.get("type") != want_type:
            problems.append(f"session {sid} is of type {s.get('type')!r}; the target file names it as a REC session")
        if sid == target.non_rec and s.get("type") == "REC":
            problems.append(f"session {sid} is a REC session; non_rec must name a copy session of another type")
        for key, want in target.identity.get(sid, {}).items():
            if s.get(key) != want:
                problems.append(f"session {sid}: identity pin {key} = {want!r} but the array says {s.get(key)!r}; "
                                "refusing to touch a session that is not the one the file means")
        if sid in target.writable:
            st = state_of(s, target)
            if not st.suspended and st.phase != prof.equivalent_phase:
                problems.append(f"session {sid} is {st.phase!r}: neither suspended nor equivalent, and the suite "
                                "never forces a suspend; wait until it is equivalent or suspend it yourself")
            if s.get("status") not in (None, "Active"):
                problems.append(f"session {sid} has status {s.get('status')!r}")
    for sid, local_source in ((target.tenant_own, True), (target.tenant_own_destination, False)):
        if sid is None:
            continue
        resp = tenant.request("GET", f"/copysession/{sid}")
        if resp.status_code != 200:
            problems.append(f"the tenant user {tenant.creds.name!r} cannot read session {sid} "
                            f"(GET answered {resp.status_code}); the file says it is in the user's tenant")
        elif resp.json().get("is_local_source_volume") is not local_source:
            problems.append(f"session {sid}: is_local_source_volume is {resp.json().get('is_local_source_volume')!r}, "
                            f"the file's key implies {local_source}")
    if target.absent is not None:
        resp = admin.request("GET", f"/copysession/{target.absent}")
        if resp.status_code != 404:
            problems.append(f"session {target.absent} (absent) answered {resp.status_code}, not 404: it exists")
    return problems


def write_transcript(path: Path, transcript: Transcript) -> None:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in transcript.exchanges:
            fh.write(json.dumps(ex.as_dict()) + "\n")
