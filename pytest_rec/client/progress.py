"""What the console says while the run waits on the array: at most one line a minute, naming what it
waits for and how long so far (a job that has not ended, a read that still lags, a suspend), so that a
slow or stuck array never looks like a hung suite. No I/O but that line; nothing of a request's body."""

from __future__ import annotations

import os
import sys
import time

# seconds between two lines, across every wait of the process (REC_WAIT_LINE_EVERY: for the self-tests)
INTERVAL = float(os.environ.get("REC_WAIT_LINE_EVERY") or 60.0)
_last = {"said": 0.0, "started": time.monotonic()}


def waiting(what: str, since: float, now: float | None = None, out=None) -> bool:
    """Say that the run waits for ``what`` (begun at monotonic ``since``) unless a line was printed in the
    last ``INTERVAL`` seconds or the wait is younger than that; True when a line was printed."""
    now = time.monotonic() if now is None else now
    if now - since < INTERVAL or now - _last["said"] < INTERVAL:
        return False
    _last["said"] = now
    stream = out or sys.__stderr__
    try:
        stream.write(f"pytest-rec: waiting on the array: {what}, {now - since:.0f} s so far\n")
        stream.flush()
    except (OSError, ValueError):
        return False
    return True
