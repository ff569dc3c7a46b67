"""SIGINT, SIGTERM and SIGHUP (Ctrl-C, a CI cancel or timeout, a closed terminal) stop a run the
same way, at any point: pytest sees a KeyboardInterrupt, every session is put back, the summary
says ``interrupted``, and the run exits 2 (CONTRACT section 3).

A signal while the sessions are being put back at the end only notes the interrupt; a second
one abandons the restore, keeps the journal, and the run's last line is the ``rec-restore``
command to run. A signal while the reports are written only notes the interrupt. One
``SignalGuard`` per process (the pytest process, and each xdist worker), in ``config.stash``.
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..engine.restore import restore_command

__all__ = ["SignalGuard", "install", "guard_of", "last_lines", "HANDLED"]

HANDLED = ("SIGINT", "SIGTERM", "SIGHUP")
GUARD = pytest.StashKey["SignalGuard"]()


class SignalGuard:
    """Turns the handled signals into one orderly stop of the run ``run`` (a ``RecRun``)."""

    def __init__(self, run) -> None:
        self.run = run
        self.count = 0              # signals received
        self.finishing = False      # pytest_sessionfinish began: a signal is noted, never raised (but in the restore)
        self.restoring = False
        self.session: pytest.Session | None = None
        self.abandon = False        # a second signal came before the restore began: leave the journal
        self.last_lines: list[str] = []      # printed after everything else (pytest_unconfigure)
        self._previous: dict[int, object] = {}

    # ---- handlers
    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return                  # Python delivers signals to the main thread only
        for name in HANDLED:
            signum = getattr(signal, name, None)
            if signum is not None:
                self._previous[signum] = signal.signal(signum, self.handle)

    def uninstall(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)     # type: ignore[arg-type]
        self._previous.clear()

    def handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        self.count += 1
        if self.run.interrupted is None:
            self.run.interrupted = name
        if self.restoring:
            if self.count > 1 or self.abandon:
                raise KeyboardInterrupt(f"{name} during the restore")
            _say(f"pytest-rec: {name}: putting every session back first; send it again to stop now "
                 "and leave the journal for rec-restore")
        elif not self.finishing:
            if self.session is not None:
                self.session.shouldstop = f"interrupted by {name}"   # also if some code swallows the exception
            raise KeyboardInterrupt(name)
        elif not self.run.restored and self.count > 1:
            self.abandon = True
            _say(f"pytest-rec: {name} again: the sessions will not be put back by this run")
        # otherwise noted (the summary says interrupted): the restore and the reports go on

    @contextmanager
    def restoring_sessions(self):
        """The restore at the end: a first signal here is noted, a second one abandons it."""
        self.restoring = True
        try:
            yield
        finally:
            self.restoring = False

    # ---- hooks (this object is registered as a plugin)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int):
        self.finishing = True           # from here on a signal is noted, never raised, but in the restore
        result = yield
        if self.run.interrupted or self.run.restore_failures:
            session.exitstatus = pytest.ExitCode.INTERRUPTED     # 2: never 0, never "the array deviated"
        return result

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self.uninstall()
        if self.run.interrupted and self.session is not None and self.session.exitstatus in (0, 1):
            self.session.exitstatus = pytest.ExitCode.INTERRUPTED     # a signal after the summary: still 2
        failed = ((self.run.summary or {}).get("restore") or {}).get("failed") or []
        if failed and not self.last_lines and not getattr(config, "workerinput", None):
            self.last_lines = last_lines(failed)
        if self.last_lines:
            sys.stdout.flush()
            sys.stderr.flush()
            for line in self.last_lines:
                print(line, flush=True)


def last_lines(failed: list[dict]) -> list[str]:
    """The run's closing lines when a session was not put back (``restore_status``'s ``failed``):
    which sessions, then the exact command, last."""
    journals = sorted({str(Path(f.get("path") or f["journal"]).resolve()) for f in failed})
    return [f"pytest-rec: sessions NOT put back: {', '.join(str(f['session']) for f in failed)}",
            " && ".join(f"{restore_command()} {j}" for j in journals)]


def _say(line: str) -> None:
    try:
        sys.stderr.write("\n" + line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def install(config: pytest.Config, run) -> SignalGuard:
    guard = SignalGuard(run)
    config.stash[GUARD] = guard
    config.pluginmanager.register(guard, "pytest-rec-signals")
    guard.install()
    return guard


def guard_of(config: pytest.Config) -> SignalGuard | None:
    return config.stash.get(GUARD, None)
