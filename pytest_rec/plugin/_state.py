"""Per-run state of the plugin: one ``RecRun`` object in ``config.stash``, nothing at module level."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from ..engine.context import Options, RecContext

__all__ = ["RecRun", "RUN", "RUN_ID", "CASE_INFO", "RECORDED", "run_of"]


@dataclass(eq=False)
class RecRun:
    """Everything one pytest run of the plugin keeps between hooks."""
    config: pytest.Config
    options: Options
    started: float = field(default_factory=time.time)
    active: bool = False                    # the run collected checks marked ``rec``
    deselected_own: int = 0                 # strict-only / lenient-only checks the suite itself left out
    collected: int = 0                      # how many (in this process; see _xdist for the controller)
    known: list = field(default_factory=list)      # known deviations (--rec-known-deviations)
    ctx: RecContext | None = None
    restored: bool = False
    interrupted: str | None = None          # the signal or reason that stopped the run early
    restore_failures: list[str] = field(default_factory=list)
    cases: list[dict] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    summary_lines: list[str] = field(default_factory=list)
    verdict_line: str | None = None
    unreachable: list[str] = field(default_factory=list)     # consecutive connection failures
    job_timeouts: list[str] = field(default_factory=list)    # jobs that never ended (whole run)
    writes_stopped: str | None = None        # the write probe's job never ended: nothing more is sent
    lock: Any = None                         # the target's run lock (restore.run_lock), held to the end
    claimed_5xx: int = 0                     # transcript.server_errors already reported by a check
    summary: dict[str, Any] | None = None
    tls_fingerprint: str | None = None       # SHA-256 of the array's certificate, read during the run
    lane_load: list[float] = field(default_factory=list)     # expected jobs outside the matrix, per lane
    shared_lane: int | None = None           # the lane of the rec_shared_sessions checks

    stop_reason: str | None = None           # why the suite stopped the run itself (pytest.exit)
    lane_read_lag: float | None = None       # the longest read lag any lane saw (controller of lanes)
    lane_suspend_first_phases: set = field(default_factory=set)  # phases REC-SUSPEND-FIRST was judged from (lanes)
    lane_exchanges: list[int] = field(default_factory=lambda: [0, 0])   # [exchanges, 5xx not 503], every lane
    lane_jobs: dict[str, int] = field(default_factory=dict)  # jobs per check, every lane (setup, restore summed)
    simulator: Any = None                    # the built-in simulator's process, spawned during collection
    fuzz: Any = None                         # fuzzbodies.Pregenerated, spawned during collection
    wayback: Any = None                      # wayback.WayBack of a lane (its restored row, at the very end)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.simulator is not None:       # spawned, but no check asked for it
            self.simulator.stop()
            self.simulator = None
        if self.fuzz is not None:
            self.fuzz.stop()
            self.fuzz = None

    # a plugin object: pytest calls these hooks on it, so no hook needs a global to find the run
    def pytest_keyboard_interrupt(self, excinfo) -> None:
        """A stop by the suite itself (pytest.exit: wrong password, target file, journal pending,
        ...) is not an interrupt by the user: keep its reason for the report."""
        if isinstance(excinfo.value, pytest.exit.Exception) and self.interrupted is None:
            self.stop_reason = str(excinfo.value.msg)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log):
        """Lanes: each planned matrix run to the worker that owns its session (``_xdist.lane_scheduler``)."""
        if getattr(config.option, "dist", None) != "loadgroup":
            return None
        from ._xdist import lane_scheduler

        return lane_scheduler(config, log)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node, error) -> None:
        """xdist controller: a lane ended. What it knew of the run (a check of the suite ran there; the
        suite stopped it, and why; a signal) comes in its ``workeroutput``, so that the controller's
        summary says it even when no check reported (a wrong password in every lane)."""
        out = getattr(node, "workeroutput", None) or {}
        if out.get("rec_active"):
            self.active = True
        if out.get("rec_stop") and not self.stop_reason:
            self.stop_reason = out["rec_stop"]
        if out.get("rec_interrupted") and not self.interrupted:
            self.interrupted = out["rec_interrupted"]
        sent = out.get("rec_exchanges")
        if isinstance(sent, list) and len(sent) == 2:
            self.lane_exchanges = [self.lane_exchanges[0] + sent[0], self.lane_exchanges[1] + sent[1]]
        for case, n in (out.get("rec_jobs") or {}).items():
            self.lane_jobs[case] = self.lane_jobs.get(case, 0) + int(n)
        if out.get("rec_tls") and not self.tls_fingerprint:
            self.tls_fingerprint = out["rec_tls"]
        self.lane_suspend_first_phases |= set(out.get("rec_suspend_first_phases") or [])
        lag = out.get("rec_read_lag")
        if isinstance(lag, (int, float)):
            self.lane_read_lag = max(lag, self.lane_read_lag or 0.0)

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report, sched) -> None:
        """xdist controller: a lane went down while running a check (the suite stopped that lane: a login
        the array refused, a signal). The check could not run: an error, as pytest's line, JUnit and the
        summary all count it (xdist's own report says "failed" in one place and "error" in another)."""
        import json

        report.when = "setup"
        case = {"id": crashitem.split("::", 1)[-1], "nodeid": crashitem, "requirements": [], "outcome": "error",
                "failed_requirements": [],
                "detail": f"the lane went down while this check ran ({report.longrepr}); it did not run to the end"}
        report.user_properties.append(("rec_case", json.dumps(case)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        import json

        for name, value in report.user_properties:
            if name == "rec_case":
                self.cases.append(json.loads(value))


RUN = pytest.StashKey[RecRun]()
RUN_ID = pytest.StashKey[str]()     # one id for the whole run, shared by its xdist workers (testrunuid)
CASE_INFO = pytest.StashKey[dict]()
RECORDED = pytest.StashKey[str]()


def run_of(config: pytest.Config) -> RecRun:
    return config.stash[RUN]
