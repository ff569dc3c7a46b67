"""The allow-list guard: every request any client of the suite sends passes it (CONTRACT section 1).

``Guard`` holds the (method, path) pairs the contract allows for one target's named sessions, and
the sessions set aside because a job of the run never ended (no further change goes to them);
``GuardedTransport`` stops anything else before it leaves the process."""

from __future__ import annotations

import threading
import time
from typing import Iterable

import httpx

from ..errors import RequestBlocked, TargetError

__all__ = ["API", "BAD_IDS", "Guard", "GuardedTransport"]

API = "/api/v1"
# copysession_id values that are not whole numbers (REC-BAD-INPUT, issue 27): the only PATCH paths with
# such an id the guard may let through, each only once ``allow_bad_id`` was called for it (after a GET)
BAD_IDS = frozenset({"abc", "-1", "1.5"})


class Guard:
    """Allow-list of (method, path) pairs: CONTRACT section 1 and the target's session ids."""

    def __init__(self, readable: Iterable[int], writable: Iterable[int], suspendable: Iterable[int],
                 absent: Iterable[int] = ()):
        self.readable = set(readable) | set(absent)
        self.patchable = set(writable) | set(absent)
        self.suspendable = set(suspendable)
        self.absent = set(absent)
        self.bad_ids: set[str] = set()      # of BAD_IDS, allowed after a GET showed no session there
        # a session whose job never ended: no further change is sent to it in this run (CONTRACT
        # section 1: the suite waits for each job it started before the next change to that session)
        self.held: dict[int, str] = {}
        # a session whose change (PATCH, suspend, resume) lost its reply: it may have been taken, and a
        # job of it may still run; no check uses it again, and the restore waits before it reads it
        self.lost: dict[int, float] = {}
        self.writes: dict[int, int] = {}    # changes taken (202) per session: a cached read is stale after others
        self._job_session: dict[int, int] = {}
        self._ended: set[int] = set()       # jobs of this run seen to end (GET /job said so)
        self._lock = threading.Lock()

    def note_answer(self, method: str, path: str, resp: httpx.Response) -> None:
        """Remember which session a job of this run changes (a 202 to a PATCH, suspend or resume)."""
        sid = _copysession_id(path)
        if resp.status_code != 202 or method.upper() not in ("PATCH", "POST") or sid is None:
            return
        try:
            job_id = int(resp.json()["job_id"])
        except (ValueError, KeyError, TypeError):
            return              # no job reference: REC-RESPONSE's finding, judged elsewhere
        with self._lock:
            self._job_session[job_id] = sid
            self.writes[sid] = self.writes.get(sid, 0) + 1

    def writes_elsewhere(self, sid: int) -> int:
        """How many changes this process's clients had taken (202) on sessions other than ``sid``."""
        with self._lock:
            return sum(self.writes.values()) - self.writes.get(sid, 0)

    def note_job_ended(self, job_id: int) -> None:
        with self._lock:
            self._ended.add(job_id)

    def forget_job(self, job_id: int) -> None:
        """A job whose end cannot change its session (the write probe's, which sets the modes it has)."""
        with self._lock:
            self._job_session.pop(job_id, None)

    def open_jobs(self, sid: int) -> list[int]:
        """Jobs of this run on session ``sid`` that were never seen to end (an interrupt cut their wait,
        or a check stopped waiting): the restore waits for them before it reads the session."""
        with self._lock:
            return sorted(j for j, s in self._job_session.items() if s == sid and j not in self._ended)

    def note_lost(self, method: str, path: str) -> None:
        """A change whose reply never came (the connection cut or timed out after it was sent)."""
        sid = _copysession_id(path)
        if method.upper() in ("PATCH", "POST") and sid is not None:
            with self._lock:
                self.lost[sid] = time.monotonic()

    def hold_session_of_job(self, job_id: int, reason: str) -> int | None:
        """Hold the session a job of this run changes (that job never ended); returns its id."""
        with self._lock:
            sid = self._job_session.get(job_id)
            if sid is not None:
                self.held.setdefault(sid, reason)
            return sid

    def held_reason(self, method: str, path: str) -> str | None:
        """Why a change to a held session must not be sent (PATCH, suspend, resume); else None."""
        if method.upper() not in ("PATCH", "POST") or not self.held:
            return None
        sid = _copysession_id(path)
        reason = self.held.get(sid) if sid is not None else None
        if reason is None:
            return None
        return f"{method.upper()} {path} not sent: {reason}; the suite sends no further change to session {sid} " \
               "in this run"

    def allows(self, method: str, path: str) -> bool:
        path = path.split("?", 1)[0]
        if not path.startswith(API + "/"):
            return False
        parts = path[len(API) + 1:].split("/")
        def num(s: str) -> int | None:
            return int(s) if s.isdigit() else None
        m = method.upper()
        if parts == ["session"]:
            return m == "POST"
        if len(parts) == 2 and parts[0] == "session" and num(parts[1]) is not None:
            return m in ("GET", "DELETE")
        if parts == ["copysession"]:
            return m == "GET"
        if len(parts) == 2 and parts[0] == "copysession" and parts[1] in self.bad_ids:
            return m in ("GET", "PATCH")
        if len(parts) == 2 and parts[0] == "copysession" and num(parts[1]) is not None:
            sid = num(parts[1])
            return (m == "GET" and sid in self.readable) or (m == "PATCH" and sid in self.patchable)
        if len(parts) == 3 and parts[0] == "copysession" and parts[2] in ("suspend", "resume"):
            return m == "POST" and num(parts[1]) in self.suspendable
        if len(parts) == 2 and parts[0] == "job" and num(parts[1]) is not None:
            return m == "GET"
        return False

    def allow_absent(self, sid: int) -> None:
        """Allow GET and PATCH of one id the suite picked as absent (REC-NOT-FOUND): the PATCH is sent
        only after a GET has shown the id to be absent."""
        self.absent.add(sid)
        self.readable.add(sid)
        self.patchable.add(sid)


    def allow_bad_id(self, text: str) -> None:
        """Allow GET and PATCH of one id of ``BAD_IDS`` (REC-BAD-INPUT: the page's copysession_id is an
        integer); any other string is refused: a PATCH path the contract does not name never leaves."""
        if text not in BAD_IDS:
            raise ValueError(f"{text!r} is not one of the non-integer ids the suite may send: {sorted(BAD_IDS)}")
        self.bad_ids.add(text)


def _copysession_id(path: str) -> int | None:
    """The session id of ``/api/v1/copysession/{id}[/...]``, else None."""
    parts = path.split("?", 1)[0][len(API) + 1:].split("/") if path.startswith(API + "/") else []
    return int(parts[1]) if len(parts) >= 2 and parts[0] == "copysession" and parts[1].isdigit() else None


class GuardedTransport(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, guard: Guard | None):
        self.inner, self.guard = inner, guard

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.guard is not None and not self.guard.allows(request.method, request.url.raw_path.decode()):
            raise RequestBlocked(f"{request.method} {request.url.path} is outside the contract's "
                                 "allow-list for this target; not sent")
        held = self.guard.held_reason(request.method, request.url.path) if self.guard is not None else None
        if held:
            raise TargetError(held)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
