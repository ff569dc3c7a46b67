"""A pytest plugin for the chaos self-test (tests/test_never_harm.py), loaded into a compliance run
with ``-p rec_chaos`` (this folder on PYTHONPATH). It sends the run's own process a signal at a
point of the run's own progress, never after a sleep, so every interrupt lands where it was aimed:

- ``REC_CHAOS_SIGNAL``: SIGINT, SIGTERM, SIGHUP or SIGKILL
- ``REC_CHAOS_AT``: ``exchange:N`` (the Nth HTTP exchange), ``job:N`` (the Nth job poll: the middle
  of a job wait), ``test:NAME:N`` (the Nth exchange inside a check whose id contains NAME),
  ``collection`` (while the checks are collected), ``finish`` (as the summary is written),
  ``report:N`` (the Nth test report the pytest process receives: with ``-n``, the xdist controller,
  which then stops its workers), ``wait:N`` (as the Nth wait for a job of a matrix check begins:
  its 202 was answered, its job still runs)
- ``REC_CHAOS_AGAIN``: ``N`` sends the same signal again as the restore begins on its Nth session
  after the first signal (the second signal, which abandons the restore)
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

SIG = getattr(signal, os.environ.get("REC_CHAOS_SIGNAL", "SIGINT"))
AT = os.environ.get("REC_CHAOS_AT", "")
AGAIN = int(os.environ.get("REC_CHAOS_AGAIN", "0") or 0)


class Chaos:
    def __init__(self) -> None:
        self.kind, _, rest = AT.partition(":")
        self.name, self.n = "", 0
        if self.kind in ("test", "patch"):
            self.name, _, n = rest.partition(":")
            self.n = int(n)
        elif rest:
            self.n = int(rest)
        self.count = 0
        self.fired_at: int | None = None
        self.current = ""
        self.worker = False
        self.lock = threading.Lock()

    def fire(self, where: str) -> None:
        with open(os.environ.get("REC_CHAOS_LOG", os.devnull), "a", encoding="utf-8") as fh:
            fh.write(f"{SIG.name} at {where}\n")
        os.kill(os.getpid(), SIG)

    def on_exchange(self, ex) -> None:
        with self.lock:
            if self.kind == "job" and "/job/" not in ex.path:
                return
            if self.kind in ("test", "patch") and self.name not in self.current:
                return
            if self.kind == "patch" and ex.method != "PATCH":
                return
            self.count += 1
            count = self.count
        if self.fired_at is None and self.kind in ("exchange", "job", "test", "patch") and count == self.n:
            self.fired_at = count
            self.fire(f"{self.kind} {count} ({ex.method} {ex.path}, in {self.current or 'no test'})")

    def watch_waits(self) -> None:
        """``wait:N``: the signal as the run begins to wait for its Nth job of a check (the 202 was
        answered and noted, the job still runs): the restore must wait for that job too."""
        import pytest_rec.client.rest as client

        chaos, wait_job, seen = self, client.RecClient.wait_job, [0]

        def counting_wait_job(self, job_id, timeout, *args, **kwargs):
            if chaos.fired_at is None and chaos.current and "test_matrix" in chaos.current:
                seen[0] += 1
                if seen[0] == chaos.n:
                    chaos.fired_at = seen[0]
                    chaos.fire(f"wait {seen[0]} (job {job_id}, in {chaos.current})")
            return wait_job(self, job_id, timeout, *args, **kwargs)
        client.RecClient.wait_job = counting_wait_job

    def watch_restore(self) -> None:
        """Count the sessions the restore begins to put back after the first signal."""
        import pytest_rec.engine.restore as restore

        chaos, restore_session, begun = self, restore.restore_session, [0]

        def counting_restore_session(op, sid, original):
            if chaos.fired_at is not None:
                begun[0] += 1
                if begun[0] == AGAIN:
                    chaos.fire(f"again, as the restore begins on session {sid} (session {AGAIN} of the restore)")
            return restore_session(op, sid, original)
        restore.restore_session = counting_restore_session

    # hooks
    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        result = yield
        if fixturedef.argname == "rec_transcript":
            result.listeners.append(self.on_exchange)
        return result

    def pytest_runtest_setup(self, item) -> None:
        self.current = item.nodeid

    def pytest_runtest_logreport(self, report) -> None:
        if self.kind == "report" and report.when == "call" and self.fired_at is None and not self.worker:
            self.count += 1
            if self.count == self.n:
                self.fired_at = self.count
                self.fire(f"report {self.count} ({report.nodeid})")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items) -> None:
        if self.kind == "collection":
            self.fired_at = 0
            self.fire("collection")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        if self.kind == "finish":
            self.fired_at = 0
            self.fire("sessionfinish")


def pytest_configure(config: pytest.Config) -> None:
    if AT:
        chaos = Chaos()
        chaos.worker = bool(getattr(config, "workerinput", None))
        config.pluginmanager.register(chaos, "rec-chaos")
        if AGAIN:
            chaos.watch_restore()
        if chaos.kind == "wait":
            chaos.watch_waits()
