"""The restore journal and the one restore loop, used by a run and by ``rec-restore``.

The journal holds the original state of every copy session a run writes to. It is written
before the first write (atomically: write, fsync, rename) and kept until each session is
verified restored by a GET. Every write goes to two copies: the report folder's, and one in a
per-user state directory keyed by the target URL, so that a run from a fresh workspace (another
folder, a new CI checkout) still finds a journal an earlier, killed run left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from ..errors import Deviation, TargetError
from ..model.behaviour import TRANSFER_MODES, Modes
from .sessions import Operator
from ..model.target import Target

__all__ = ["Journal", "STATE_KEYS", "IDENTITY_KEYS", "state_dir", "target_journal_dir", "pending_journals", "restore_session", "restore_pending",
           "restore_status", "RESTORE_ATTEMPTS", "late_read"]

RESTORE_ATTEMPTS = 3          # tries per session when a step fails (a dropped connection, a busy array)


def state_dir() -> Path:
    """The per-user state directory: ``$REC_STATE_DIR``, else ``${XDG_STATE_HOME:-~/.local/state}/pytest-rec``."""
    if os.environ.get("REC_STATE_DIR"):
        return Path(os.environ["REC_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pytest-rec"


def restore_command() -> str:
    """How to call rec-restore from the shell that ran the suite: its name when it is on PATH, else the
    full path of the one installed beside this Python (a venv that was not activated)."""
    import shutil
    import sys

    if shutil.which("rec-restore"):
        return "rec-restore"
    beside = Path(sys.executable).parent / "rec-restore"
    return str(beside) if beside.exists() else "rec-restore"


def target_journal_dir(url: str) -> Path:
    """Where every run against ``url`` records its journal, whatever folder it runs from."""
    return state_dir() / "journals" / hashlib.sha256(url.rstrip("/").encode()).hexdigest()


def run_lock(url: str):
    """An exclusive lock on ``url`` for this machine (``run.lock`` beside its journals), held until the
    file is closed or the process ends (a killed run leaves no stale lock). Returns the open file, or
    None when another process holds it: two runs against one array change the same sessions under
    each other, and a journal check alone cannot see a run that started a moment earlier."""
    import fcntl

    folder = target_journal_dir(url)
    folder.mkdir(parents=True, exist_ok=True)
    fh = open(folder / "run.lock", "a+")     # noqa: SIM115 - kept open for the run's lifetime
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        return None
    return fh


# what a journal keeps of a session's read: the state a restore puts back, and what names the session
STATE_KEYS = ("transfer_mode", "split_mode", "recovery_mode", "phase")
IDENTITY_KEYS = ("type", "remote_boxid", "source_volume_name", "destination_volume_name", "is_local_source_volume")


class Journal:
    """The restore journal of one process of a run (two copies, see the module's docstring)."""

    def __init__(self, path: Path, target: Target, run_id: str = ""):
        self.path, self.target = Path(path), target
        self.new = True                     # written by this run (False: reopened by rec-restore)
        self.found: dict[int, dict] = {}    # every session the run may write, read before its first write
        self._lock = threading.Lock()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        # the built-in simulator dies with its run: nothing of it can outlive the process
        mirror = None if target.kind == "sim" else \
            target_journal_dir(target.url) / f"{stamp}-{os.getpid()}-{self.path.name}"
        self.data: dict = {"schema_version": 1, "target_url": target.url, "target_file": target.source if target.source == "sim" else str(Path(target.source).resolve()),
                           "kind": target.kind, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "pid": os.getpid(), "host": socket.gethostname(), "run_id": run_id, "copies": [str(self.path.resolve())]
                           + ([str(mirror)] if mirror else []), "sessions": {}}

    @classmethod
    def load(cls, path: Path) -> dict:
        return json.loads(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def reopen(cls, path: Path, target: Target) -> "Journal":
        """The journal at ``path``, for ``rec-restore``: marks go to every copy it names."""
        journal = cls(path, target)
        journal.data, journal.new = cls.load(path), False
        return journal

    def record(self, sid: int, original: dict) -> None:
        """Journal session ``sid`` before its first write, as the run found it: from the snapshot taken
        before the run's first write (``found``) where it has one, else from ``original``."""
        with self._lock:
            if str(sid) in self.data["sessions"]:
                return
            original = self.found.get(sid, original)
            self.data["sessions"][str(sid)] = {
                "original": {k: original.get(k) for k in STATE_KEYS},
                "identity": {k: original.get(k) for k in IDENTITY_KEYS},
                "restored": False}
            self._write()

    def mark(self, sid: int, restored: bool, note: str = "") -> None:
        with self._lock:
            entry = self.data["sessions"].get(str(sid))
            if entry is not None:
                entry["restored"] = restored
                entry["note"] = note
                self._write()

    def note_late(self, sid: int, text: str, rule: str = "REC-ACCEPT") -> None:
        """A change the restore's last read found on a session it had put back: REC-ACCEPT (applied after its
        job ended), or REC-ISOLATION (it changed while other lanes wrote only to other sessions)."""
        with self._lock:
            self.data.setdefault("late_changes", []).append({"session": sid, "detail": text, "rule": rule})
            self._write()

    def note_unread(self, sid: int, text: str) -> None:
        """A read once more that failed: the session stays as its restore read it back, with the note."""
        with self._lock:
            entry = self.data["sessions"].get(str(sid))
            if entry is not None:
                entry["note"] = f"{entry.get('note', '')}; {text}".lstrip("; ")
                self._write()

    def adopt(self, sid: int, entry: dict) -> None:
        """Take over another lane's record of session ``sid`` (its original state and identity), so that
        this journal can put it back again and say so."""
        with self._lock:
            self.data["sessions"].setdefault(str(sid), json.loads(json.dumps(entry)))
            self._write()

    def home(self, sid: int) -> str | None:
        entry = self.data["sessions"].get(str(sid))
        return entry["original"]["transfer_mode"] if entry else None

    def pending(self) -> list[int]:
        return [int(k) for k, v in self.data["sessions"].items() if not v["restored"]]

    def _write(self) -> None:
        text = json.dumps(self.data, indent=2)
        own = self.path.resolve()
        _atomic_write(self.path, text)
        for copy in map(Path, self.data.get("copies", [])):
            if copy.resolve() != own and (self.new or copy.parent.is_dir()):
                _atomic_write(copy, text)       # rec-restore does not make a deleted report folder again


def _atomic_write(path: Path, text: str) -> None:
    """Write, fsync, rename: a reader sees the old journal or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def owner_running(data: dict) -> int | None:
    """The pid of the run that writes this journal, if that run is still going on this machine
    (its process is alive and is a Python process); else None. A journal held by a live run is not
    "left behind": that run puts its sessions back itself, and restoring under it would change
    sessions in the middle of its checks."""
    pid = data.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid() or data.get("host", socket.gethostname()) \
            != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid                          # alive, another user's
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid                          # no /proc: alive is all that can be told
    return pid if b"python" in cmdline or b"rec-compliance" in cmdline or b"pytest" in cmdline else None


def pending_journals(url: str, report_journal: Path | None = None,
                     run_id: str = "") -> list[tuple[Path, list[int]]]:
    """Journals for target ``url`` that still hold a session not put back: in the report folder of
    ``report_journal`` (its per-worker siblings too) and in the per-user state directory. Journals
    of the run ``run_id`` itself (other xdist workers) and of the built-in simulator do not count."""
    candidates = []
    if report_journal is not None:
        report_journal = Path(report_journal)
        candidates = sorted(report_journal.parent.glob(f"{report_journal.stem}*{report_journal.suffix}"))
    candidates += sorted(target_journal_dir(url).glob("*.json"))
    seen, out = set(), []
    for path in candidates:
        try:
            data = Journal.load(path)
        except (OSError, ValueError):
            continue
        if data.get("kind") == "sim" or data.get("target_url") != url.rstrip("/") \
                or (run_id and data.get("run_id") == run_id):
            continue
        left = sorted(int(k) for k, v in data.get("sessions", {}).items() if not v.get("restored"))
        key = (data.get("created"), data.get("pid"), tuple(left))
        if left and key not in seen:
            seen.add(key)
            out.append((path, left))
    return out


def restore_session(op: Operator, sid: int, original: dict) -> str:
    """Put one session back as the journal says it was; verified by GET. Returns a note."""
    want = Modes(original["transfer_mode"], original["split_mode"], original["recovery_mode"])
    was_suspended = original["phase"] == op.target.profile.suspended_phase
    st = op.read(sid)
    if st.modes != want and want.transfer_mode not in TRANSFER_MODES:
        # the PATCH cannot set it (Through, say): never sent, the session is left as it is
        raise TargetError(f"RESTORE FAILED for session {sid}: it was found in transfer mode "
                          f"{want.transfer_mode!r}, which the PATCH cannot set; it reads {st.modes.label()} now: "
                          "put it back by hand")
    if sid in op.target.active:       # never suspended or resumed: the call under test is the only way back
        if st.modes != want:
            st = op.patch_back(sid, st, want)
        if st.modes != want or st.suspended:
            raise TargetError(f"RESTORE FAILED for session {sid} (named active): reads {st.modes.label()} "
                              f"{'suspended' if st.suspended else st.phase}, should be {want.label()} active")
        return f"session {sid} restored to {want.label()} active"
    if st.modes != want:
        if not st.suspended:
            st = op.suspend(sid)
        st = op.set_modes(sid, st, want, restoring=True)
    if was_suspended and not st.suspended:
        st = op.suspend(sid)
    elif not was_suspended and st.suspended:
        st = op.resume(sid)
    st = op.read(sid)
    if st.modes != want or st.suspended != was_suspended:
        raise TargetError(f"RESTORE FAILED for session {sid}: reads {st.modes.label()} "
                          f"{'suspended' if st.suspended else st.phase}, should be {want.label()} "
                          f"{'suspended' if was_suspended else 'active'}")
    return f"session {sid} restored to {want.label()} {'suspended' if was_suspended else 'active'}"


def _wait_for_open_jobs(op: Operator, guard, sid: int) -> str | None:
    """Wait for every job the run started on ``sid`` and never saw end (an interrupt cut its wait, or a
    check stopped waiting): the session is read only once they have ended, or a job landing after the
    restore would undo it. Returns why the session cannot be put back now, or None."""
    for job_id in (guard.open_jobs(sid) if guard is not None else []):
        try:
            op.admin.wait_job(job_id, op.job_timeout)
        except TargetError as exc:
            if "404" in str(exc):
                continue          # a job the array does not let us read (REC-RESPONSE's finding): the fresh read decides
            return f"session {sid}: not put back: its job {job_id} did not end ({exc}); run rec-restore once " \
                   "the array shows that job ended"
    return None


def restore_pending(op: Operator, journal: Journal, say=None, attempts: int = RESTORE_ATTEMPTS,
                    pause: float = 0.5) -> tuple[list[str], list[str]]:
    """Put back every session the journal has not marked restored. Returns (notes, failures);
    each outcome is written to the journal as it happens. ``say`` is told each line.

    A failed step (a connection reset or a timeout in the middle of a PATCH, a suspend or a
    resume, a busy array) is never taken as "nothing happened": the next attempt starts from a
    fresh GET of the session, and the journal notes every failed attempt."""
    notes, failures = [], []
    guard = getattr(op.admin, "guard", None)
    todo = journal.pending()
    for sid in todo:
        original = journal.data["sessions"][str(sid)]["original"]
        held = guard.held.get(sid) if guard is not None else None
        if held:
            # its job may still end and change the session, even if it reads as found now: not marked
            # put back, no change sent (CONTRACT section 1); rec-restore once the array has ended the job
            text = f"session {sid}: not put back: {held}; it may still change the session, so run rec-restore " \
                   "once the array shows that job ended"
            journal.mark(sid, False, text)
            failures.append(text)
            if say:
                say(text)
            continue
        unended = _wait_for_open_jobs(op, guard, sid)
        if unended:
            journal.mark(sid, False, unended)
            failures.append(unended)
            if say:
                say(unended)
            continue
        lost = guard.lost.get(sid) if guard is not None else None
        if lost is not None:
            # a change of the run lost its reply: it may have been taken and its job may still run; give
            # it the settle window before the fresh read the restore starts from
            time.sleep(max(0.0, lost + min(op.job_timeout, op.target.profile.settle_window) - time.monotonic()))
        for attempt in range(1, attempts + 1):
            try:
                note = restore_session(op, sid, original)
                break
            except (TargetError, Deviation) as exc:
                journal.mark(sid, False, f"attempt {attempt} of {attempts}: {exc}")
                if attempt < attempts:
                    time.sleep(pause * attempt)
                    continue
                failures.append(f"session {sid}: {exc}")
                if say:
                    say(f"session {sid}: {exc}")
        else:
            continue
        journal.mark(sid, True, note)
        notes.append(note)
        if say:
            say(note)
    failures += late_read(op, journal, [sid for sid in todo if sid not in journal.pending()], say)
    return notes, failures


LATE_MARGIN = 0.5     # seconds past the longest read lag of the run before the restore's last read


def late_wait(op: Operator) -> float:
    """How long after the restore its last read comes: the longest settle window the run used (the
    longest lag it saw, capped by the profile's window), plus a margin. Near LATE_MARGIN on an array
    whose reads never lag; never a fixed settle window on a clean one."""
    lag = float(getattr(getattr(op.admin, "transcript", None), "longest_settle", 0.0) or 0.0)
    return min(op.target.profile.settle_window, lag) + LATE_MARGIN


def late_read(op: Operator, journal: Journal, put_back: list[int], say=None, wait: float | None = None,
              rule: str = "REC-ACCEPT", cause: str = "a change applied after the job ended and the settle window",
              must_read: bool = True) -> list[str]:
    """The restore's last read (issue 26): once the longest settle window the run used has passed since
    the restore, every session it put back is read again. One that changed since (a change the array
    applied after its job ended and after the settle window) is put back again, and the late change is
    kept in the journal (``late_changes``) for the report: a REC-ACCEPT deviation. Returns failures.
    ``must_read`` False (the lanes' sweep, a read once more of sessions their own lanes' restores already
    read back as found): a read that fails leaves the session as its restore verified it, with a note."""
    if not put_back:
        return []
    wait = late_wait(op) if wait is None else wait
    time.sleep(wait)
    failures = []
    for sid in put_back:
        original = journal.data["sessions"][str(sid)]["original"]
        want = Modes(original["transfer_mode"], original["split_mode"], original["recovery_mode"])
        was_suspended = original["phase"] == op.target.profile.suspended_phase
        try:
            st = op.read(sid)
        except (TargetError, Deviation) as exc:
            if not must_read:
                journal.note_unread(sid, f"read once more after every lane's restore: the read failed ({exc})")
                continue
            failures.append(f"session {sid}: the restore's last read failed: {exc}")
            journal.mark(sid, False, f"the restore's last read ({wait:.2f} s after it) failed: {exc}")
            continue
        if st.modes == want and st.suspended == was_suspended:
            continue
        text = (f"session {sid} read {st.modes.label()} {'suspended' if st.suspended else st.phase} {wait:.2f} s "
                f"after the restore had put it back to {want.label()} {'suspended' if was_suspended else 'active'}: "
                f"{cause}")
        try:
            note = restore_session(op, sid, original)
            journal.mark(sid, True, f"{note}, again after a late change")
            text += "; put back again"
        except (TargetError, Deviation) as exc:
            journal.mark(sid, False, f"{text}; putting it back again failed: {exc}")
            failures.append(f"session {sid}: {exc}")
        journal.note_late(sid, text, rule)
        if say:
            say(text)
    return failures


def restore_status(journal: Path, since: float = 0.0) -> dict:
    """What the restore journal(s) of this run say: sessions put back, and any that were not."""
    restored, failed, late = [], [], []
    for path in sorted(journal.parent.glob(f"{journal.stem}*{journal.suffix}")):
        if path.stat().st_mtime < since:
            continue                      # a journal of an earlier run
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for sid, entry in data.get("sessions", {}).items():
            (restored if entry.get("restored") else failed).append(
                {"session": int(sid), "journal": path.name, "path": str(path), "note": entry.get("note", "")})
        late += [{**item, "journal": path.name} for item in data.get("late_changes", [])]
    return {"restored": restored, "failed": failed, **({"late_changes": late} if late else {})}
