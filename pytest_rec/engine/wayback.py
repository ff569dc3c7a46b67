"""The way back (CONTRACT section 3, issue 24): which changes of transfer mode the array was seen to make
or to break in this run, each writable session's home (its transfer mode as the run found it), and the
rule that a session leaves its home only along a proven way back.

- An edge ``A -> B`` is proven when a change to ``B`` of a session in ``A`` read back as ``B``; broken
  when it read back as ``A`` (the change not applied). Split and recovery changes need no proof: the
  same kind of change undoes them.
- A session at home in ``H`` may go to ``B`` when a chain of proven edges leads from ``B`` back to ``H``.
  When none is known yet, the first trip is made only by a *pioneer*: a session whose home comes before
  ``B`` in (Synchronous, Stack, Consistency), or any session when no writable session of the run is at
  home in ``B`` (nothing could prove it more safely). A session at home in ``B`` that goes to ``H`` is
  then the proof the pioneer needs; a change into ``B`` that the array breaks leaves the pioneer where
  it was and keeps every session at home in ``B`` there (DECISIONS 66).
- With lanes the processes of a run share what they saw through one small file (JSON lines).

Pure bookkeeping but for that file; no request is sent from here."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..client.progress import waiting

ORDER = ("Synchronous", "Stack", "Consistency")
PATIENCE = 300.0       # seconds a lane waits for another lane's proof (while one still runs) before it blocks

__all__ = ["WayBack", "ORDER"]


class LaneRows:
    """The rows lanes share through the run's file besides the way back itself: which lanes started, sent
    their last change (``done``), ended their restore; the first snapshot of the sessions. A mixin of
    ``WayBack`` (its ``_load`` reads every row)."""

    path: Path | None
    lanes: int

    def _lane_rows(self) -> None:
        self.done: set[int] = set()
        self.started: set[int] = set()        # lanes that have a way back of their own (their fixture ran)
        self.restored: set[int] = set()       # lanes whose restore (and its last read) has ended
        self.waiting: set[int] = set()        # lanes waiting for another lane's proof right now
        self.lane: int | None = None          # this process's lane (``start``)
        self.found: dict[int, dict] | None = None   # the run's first snapshot of every session it may write

    def finished(self, lane: int) -> None:
        """This lane sends no more changes (its proofs are all in)."""
        self._share({"done": lane})

    def snapshot(self, states: dict[int, dict]) -> dict[int, dict]:
        """The sessions as the run found them: with lanes, the first snapshot any lane shared. Every lane
        shares its own before its first write, so the first one in the file was read before any write of
        the run (another lane's change, leaking onto this lane's session, can land before it reads)."""
        if self.path is None:
            return states
        self._load()
        if self.found is None:
            self._share({"snap": {str(k): v for k, v in states.items()}})
            self._load()
        return dict(self.found or states)

    def start(self, lane: int) -> None:
        self.lane = lane
        self._share({"started": lane})

    def others_at_work(self) -> bool:
        """Whether another lane may still bring a proof: one that has not ended and is not itself waiting
        for one (two lanes that wait for each other's proofs would otherwise both wait out ``PATIENCE``)."""
        self._load()
        return bool(set(range(self.lanes)) - self.done - self.waiting - {self.lane})

    def put_back(self, lane: int) -> None:
        """This lane's restore, and its last read, have ended: it writes no more."""
        self._share({"restored": lane})

    def others_put_back(self, lane: int) -> bool:
        """Whether every other lane that started has ended its restore."""
        self._load()
        return not (self.started - self.restored - {lane})

    def sweeper(self, lane: int) -> bool:
        """After this lane's ``put_back``: whether it is the one lane that reads every lane's sessions once
        more (every other lane that started has ended its restore, and no other lane took this sweep)."""
        if self.path is None or not self.others_put_back(lane):
            return False
        # one sweep per number of lanes that have ended: a lane that started after an earlier sweep (xdist
        # handed it its work late) sweeps again when it ends last
        try:
            os.close(os.open(self.path.with_suffix(f".sweep{len(self.restored | {lane})}"),
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        return True

    def _share(self, row: dict) -> None:
        if self.path is None or not row:
            return
        line = json.dumps(row) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())         # one write of one short line: atomic with O_APPEND
        finally:
            os.close(fd)


class WayBack(LaneRows):
    """``path``: the run's shared file (lanes), None in a run of one process; ``expected``: every writable
    session of the run, whose homes a departure must know; ``lanes``: the processes that share the file."""

    def __init__(self, path: Path | None = None, expected=(), lanes: int = 1):
        self.path = path
        self.expected, self.lanes = set(expected), lanes
        self.proven: set[tuple[str, str]] = set()
        self.broken: dict[tuple[str, str], str] = {}
        self.homes: dict[int, str] = {}
        self._lane_rows()
        self._offset = 0

    # ------------------------------------------------------------------ learning
    def home(self, sid: int, mode: str | None) -> None:
        if mode in ORDER and sid not in self.homes:
            self.homes[sid] = mode
            self._share({"home": sid, "mode": mode})

    def learn(self, before: str | None, sent: str | None, after: str | None, why: str = "") -> None:
        """What one change of transfer mode (``before`` to ``sent``) read back as (``after``)."""
        if before not in ORDER or sent not in ORDER or before == sent or after not in ORDER:
            return
        edge = (before, sent)
        if after == sent and edge not in self.proven:
            self.proven.add(edge)
            self.broken.pop(edge, None)
            self._share({"edge": list(edge), "ok": True})
        elif after == before and edge not in self.proven and edge not in self.broken:
            self.broken[edge] = why or f"a change from {before} to {sent} was not applied"
            self._share({"edge": list(edge), "ok": False, "why": self.broken[edge]})

    # ------------------------------------------------------------------ the rule
    def route(self, frm: str, to: str) -> bool:
        """Whether proven edges lead from ``frm`` to ``to``."""
        self._load()
        seen, todo = {frm}, [frm]
        while todo:
            here = todo.pop()
            if here == to:
                return True
            for a, b in self.proven:
                if a == here and b not in seen:
                    seen.add(b)
                    todo.append(b)
        return False

    def is_broken(self, frm: str | None, to: str | None) -> str | None:
        self._load()
        return self.broken.get((frm, to)) if (frm, to) not in self.proven else None

    def departure(self, sid: int, to: str | None, wait: bool = False) -> str | None:
        """None when session ``sid`` may be moved to transfer mode ``to``; else why not. ``wait``: with lanes,
        wait for the proof another lane may still bring (at most ``PATIENCE`` s, while one still runs)."""
        why = self._departure(sid, to)
        if not (wait and why and self.path is not None and "not proven yet" in why):
            return why
        began, delay = time.monotonic(), 0.05
        self._share({"wait": self.lane, "on": True} if self.lane is not None else {})
        try:
            while why and "not proven yet" in why and self.others_at_work() and time.monotonic() - began < PATIENCE:
                waiting(f"another lane to prove the way back from {to} to {self.homes.get(sid)} for session {sid}",
                        began)
                time.sleep(delay)
                delay = min(delay * 1.5, 1.0)
                why = self._departure(sid, to)
        finally:
            self._share({"wait": self.lane, "on": False} if self.lane is not None else {})
        return why

    def _departure(self, sid: int, to: str | None) -> str | None:
        home = self.homes.get(sid)
        if home is None or to is None or to == home or to not in ORDER:
            return None
        if self.route(to, home):
            return None
        broken = self.is_broken(to, home)
        if broken:
            return (f"session {sid} stays in {home}: the way back from {to} to {home} is not proven, and the "
                    f"array broke it ({broken})")
        # a session of another lane whose home is not known yet may be at home in ``to``
        others_at_home = any(m == to for s, m in self.homes.items() if s != sid) or \
            bool(self.expected - set(self.homes) - {sid})
        if ORDER.index(home) < ORDER.index(to) or not others_at_home:
            return None                       # a pioneer's trip
        return (f"session {sid} stays in {home}: the way back from {to} to {home} is not proven yet (no session "
                f"has been seen to go from {to} to {home})")

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        for raw in data[:end].splitlines():
            try:
                row = json.loads(raw)
            except ValueError:
                continue
            if "home" in row:
                self.homes.setdefault(int(row["home"]), row["mode"])
            elif "done" in row:
                self.done.add(int(row["done"]))
            elif "snap" in row:
                if self.found is None:
                    self.found = {int(k): v for k, v in row["snap"].items()}
            elif "started" in row:
                self.started.add(int(row["started"]))
            elif "restored" in row:
                self.restored.add(int(row["restored"]))
            elif "wait" in row:
                if row.get("on"):
                    self.waiting.add(int(row["wait"]))
                else:
                    self.waiting.discard(int(row["wait"]))
            elif row.get("ok"):
                self.proven.add(tuple(row["edge"]))
                self.broken.pop(tuple(row["edge"]), None)
            elif tuple(row["edge"]) not in self.proven:
                self.broken.setdefault(tuple(row["edge"]), row.get("why", ""))
