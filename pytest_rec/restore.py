"""The restore journal and the one restore loop, used by a run and by ``rec-restore``.

The journal holds the original state of every copy session a run writes to. It is written
before the first write (atomically: write, fsync, rename) and kept until each session is
verified restored by a GET.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .errors import Deviation, TargetError
from .model import Modes
from .sessions import Operator
from .target import Target

__all__ = ["Journal", "restore_session", "restore_pending", "restore_status"]


class Journal:
    """The restore journal of one process of a run."""

    def __init__(self, path: Path, target: Target):
        self.path, self.target = Path(path), target
        self._lock = threading.Lock()
        self.data: dict = {"schema_version": 1, "target_url": target.url, "target_file": target.source,
                           "kind": target.kind, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "pid": os.getpid(), "sessions": {}}

    @classmethod
    def load(cls, path: Path) -> dict:
        return json.loads(Path(path).read_text(encoding="utf-8"))

    @classmethod
    def reopen(cls, path: Path, target: Target) -> "Journal":
        journal = cls(path, target)
        journal.data = cls.load(path)
        return journal

    def record(self, sid: int, original: dict) -> None:
        with self._lock:
            if str(sid) in self.data["sessions"]:
                return
            self.data["sessions"][str(sid)] = {
                "original": {k: original.get(k) for k in ("transfer_mode", "split_mode", "recovery_mode", "phase")},
                "identity": {k: original.get(k) for k in ("type", "remote_boxid", "source_volume_name",
                                                           "destination_volume_name", "is_local_source_volume")},
                "restored": False}
            self._write()

    def mark(self, sid: int, restored: bool, note: str = "") -> None:
        with self._lock:
            entry = self.data["sessions"].get(str(sid))
            if entry is not None:
                entry["restored"] = restored
                entry["note"] = note
                self._write()

    def pending(self) -> list[int]:
        return [int(k) for k, v in self.data["sessions"].items() if not v["restored"]]

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(json.dumps(self.data, indent=2))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def restore_session(op: Operator, sid: int, original: dict) -> str:
    """Put one session back as the journal says it was; verified by GET. Returns a note."""
    want = Modes(original["transfer_mode"], original["split_mode"], original["recovery_mode"])
    was_suspended = original["phase"] == op.target.profile.suspended_phase
    st = op.read(sid)
    if st.modes != want:
        if not st.suspended:
            st = op.suspend(sid)
        st = op.set_modes(sid, st, want)
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


def restore_pending(op: Operator, journal: Journal, say=None) -> tuple[list[str], list[str]]:
    """Put back every session the journal has not marked restored. Returns (notes, failures);
    each outcome is written to the journal as it happens. ``say`` is told each line."""
    notes, failures = [], []
    for sid in journal.pending():
        original = journal.data["sessions"][str(sid)]["original"]
        try:
            note = restore_session(op, sid, original)
        except (TargetError, Deviation) as exc:
            journal.mark(sid, False, str(exc))
            failures.append(f"session {sid}: {exc}")
            if say:
                say(f"session {sid}: {exc}")
            continue
        journal.mark(sid, True, note)
        notes.append(note)
        if say:
            say(note)
    return notes, failures


def restore_status(journal: Path, since: float = 0.0) -> dict:
    """What the restore journal(s) of this run say: sessions put back, and any that were not."""
    restored, failed = [], []
    for path in sorted(journal.parent.glob(f"{journal.stem}*{journal.suffix}")):
        if path.stat().st_mtime < since:
            continue                      # a journal of an earlier run
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for sid, entry in data.get("sessions", {}).items():
            (restored if entry.get("restored") else failed).append(
                {"session": int(sid), "journal": path.name, "note": entry.get("note", "")})
    return {"restored": restored, "failed": failed}
