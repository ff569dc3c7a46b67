"""The run's record of every HTTP exchange, and the secrets it must never show.

``Secrets`` holds every password and token one run has seen; ``Transcript`` records each
exchange redacted with them at the source, keeps the answers 5xx other than 503 (the evidence of
REC-NO-5XX) and the longest read lag, and tells listeners (report steps) of each exchange.
No pytest and no HTTP in here.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["REDACTED", "Secrets", "Exchange", "Transcript", "redact_json", "redact_body"]

REDACTED = "***"
_SECRET_KEYS = {"password", "token", "refresh_token"}


# --------------------------------------------------------------------------- secrets
class Secrets:
    """Every password and token one run has seen, for redaction (one per ``Transcript``)."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def redact(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            if v in text:
                text = text.replace(v, REDACTED)
        return text

    def __iter__(self):
        with self._lock:
            return iter(list(self._values))


def redact_json(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, dict):
        return {k: (REDACTED if k in _SECRET_KEYS and v is not None else redact_json(v, secrets))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, secrets) for v in value]
    if isinstance(value, str):
        return secrets.redact(value)
    return value


def redact_body(raw: bytes | str | None, secrets: Secrets) -> Any:
    if raw is None or raw == b"" or raw == "":
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return redact_json(json.loads(text), secrets)
    except ValueError:
        return secrets.redact(text)


# --------------------------------------------------------------------------- transcript
@dataclass
class Exchange:
    user: str
    method: str
    path: str
    status: int | None
    request_headers: dict
    request_body: Any
    response_body: Any
    started: float
    elapsed: float
    error: str | None = None
    case: str | None = None           # the check that sent it ("restore", "preflight", ... outside a check)

    def as_dict(self) -> dict:
        return {"case": self.case, "user": self.user, "method": self.method, "path": self.path, "status": self.status,
                "request_headers": self.request_headers, "request_body": self.request_body,
                "response_body": self.response_body, "started": self.started,
                "elapsed_ms": round(self.elapsed * 1000, 2), "error": self.error}


class Transcript:
    """Thread-safe record of one run's exchanges; listeners see each one (for report steps).
    It owns the run's ``Secrets``: everything recorded is redacted with them at the source."""

    def __init__(self, secrets: Secrets | None = None) -> None:
        self.secrets = secrets or Secrets()
        self.case = "setup"                         # the check (case id) that sends the next exchanges
        self.server_errors: list[Exchange] = []     # answers 5xx other than 503 (REC-NO-5XX evidence)
        self.longest_settle = 0.0                   # longest time a GET lagged a job's Success (seconds)
        self.typical_lag = 0.0                      # a moving estimate of that lag lately (judge.learned_lag)
        self.settled_reads = 0                      # reads that showed a job's change (the settle window adapts)
        self.unapplied_kinds: set = set()           # kinds of change that once showed nothing in the window (fail fast)
        self.exchanges: list[Exchange] = []
        self.listeners: list[Callable[[Exchange], None]] = []
        self._lock = threading.Lock()

    @contextmanager
    def phase(self, title: str):
        """The exchanges sent inside belong to one named part of a check ("set-up: ...", "check: ...");
        a listener with a ``phase`` method (the Allure steps) groups them under that title."""
        with ExitStack() as stack:
            for fn in list(self.listeners):
                if hasattr(fn, "phase"):
                    stack.enter_context(fn.phase(title))
            yield

    def add(self, ex: Exchange) -> None:
        if ex.case is None:
            ex.case = self.case
        with self._lock:
            self.exchanges.append(ex)
            if ex.status is not None and ex.status >= 500 and ex.status != 503:
                self.server_errors.append(ex)
            listeners = list(self.listeners)
        for fn in listeners:
            fn(ex)

    def jobs_by_case(self) -> dict[str, int]:
        """Jobs the array took (a 202 to a PATCH, suspend or resume) per check, setup steps included;
        "setup" and "restore" for those outside any check (the write probe, putting sessions back)."""
        out: dict[str, int] = {}
        for ex in self.exchanges:
            if ex.status == 202 and ex.method in ("PATCH", "POST") and "/copysession/" in ex.path:
                out[ex.case or "setup"] = out.get(ex.case or "setup", 0) + 1
        return out


OUTSIDE_CHECKS = ("setup", "restore")


def jobs_summary(by_case: dict[str, int], case_ids: list[str]) -> dict:
    """Jobs per check of the run (issue 29): every job the array took, setup steps, the write probe and
    the restore included, over the checks that ran; the matrix apart (its cases' own setup jobs included)."""
    matrix = [c for c in case_ids if c.startswith("test_patch[")]
    total = sum(by_case.values())
    in_matrix = sum(by_case.get(c, 0) for c in matrix)
    outside = sum(by_case.get(k, 0) for k in OUTSIDE_CHECKS)
    return {"total": total, "checks": len(case_ids),
            "per_check": round(total / len(case_ids), 2) if case_ids else None,
            "matrix": {"cases": len(matrix), "jobs": in_matrix,
                       "per_case": round(in_matrix / len(matrix), 2) if matrix else None},
            "outside_checks": outside}


def jobs_line(jobs: dict | None) -> str | None:
    """The summary's jobs as one row of compliance.md's run table."""
    if not jobs or not jobs.get("total"):
        return None
    m = jobs["matrix"]
    matrix = f"; matrix: {m['jobs']} for {m['cases']} cases ({m['per_case']} per case)" if m["cases"] else ""
    return (f"| Jobs the array ran (PATCH, suspend, resume; setup included) | {jobs['total']} for {jobs['checks']} "
            f"checks ({jobs['per_check']} per check){matrix}; outside any check (write probe, restore): "
            f"{jobs['outside_checks']} |")
