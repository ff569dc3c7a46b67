"""The run around the checks: configuration, collection, the restore at the end, and the
summary written from the case records (``report.py`` builds it from data)."""

from __future__ import annotations

import sys
import time
import uuid
from contextlib import nullcontext
from pathlib import Path

import pytest

from .. import __version__
from ..engine.context import write_transcript
from ..client.rest import restoring
from ..model.matrix import cases_for, lane_runs
from ..model.target import TargetFileError, load_target
from ..engine.walk import walk_steps
from ._meta import active_named, git_commit, late_change_cases, provenance, target_meta
from ._options import read_options
from ._signals import guard_of, last_lines
from ._signals import install as install_signal_guard
from ._startup import _check_before_lanes, lock_the_target, refuse_if_journal_pending
from ._state import RUN, RUN_ID, RecRun, run_of
from ._xdist import LANE, assign_lanes, group_count, lane_homes, worker


__all__ = ["pytest_configure", "pytest_generate_tests", "pytest_collection_modifyitems", "pytest_collection_finish",
           "pytest_sessionfinish", "pytest_unconfigure",
           "pytest_terminal_summary", "restore"]


@pytest.hookimpl(tryfirst=True)     # before allure-pytest registers its file logger
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rec(*requirement_ids): the requirement IDs of CONTRACT section 2 this test checks")
    config.addinivalue_line("markers", "rec_strict_only: collected only with --rec-strict")
    config.addinivalue_line("markers", "rec_lenient_only: collected only without --rec-strict")
    config.addinivalue_line("markers", "rec_shared_sessions: writes sessions outside the writable pool (tenant, "
                                       "active, non-REC); these checks stay together in one lane")
    config.addinivalue_line("markers", "rec_last: runs after every other check (the expired-token check, whose "
                                       "token ages while the others run)")
    config.addinivalue_line("markers", "rec_late: runs after the matrix (the fuzzing checks, whose bodies a process "
                                       "of their own generates meanwhile)")
    run = RecRun(config, read_options(config))
    if getattr(config.option, "allure_report_dir", None):
        from ..report.allure_steps import lean_result_files

        lean_result_files()
    config.stash[RUN] = run
    workerinput = getattr(config, "workerinput", None) or {}
    config.stash[RUN_ID] = str(workerinput.get("testrunuid") or uuid.uuid4().hex)
    config.pluginmanager.register(run, "pytest-rec-run")
    if run.options.target != "sim" and not run.options.dry_run and not workerinput and \
            not any(config.getoption(o, False) for o in ("help", "version", "collectonly")):
        lock_the_target(config, run)       # the controller holds it for the whole run, its lanes too
        refuse_if_journal_pending(config, run.options.target)
    install_signal_guard(config, run)
    _check_before_lanes(config, run)
    if not workerinput and not run.options.dry_run:     # this run's reproducers only (issue 31)
        from ..engine.reproducer import clear

        clear(run.options.report_dir)
        for stale in Path(run.options.report_dir).glob("transcript*.jsonl"):   # the reproducers read this run's
            stale.unlink(missing_ok=True)
    if run.options.known_deviations:
        from ..gate.known import KnownDeviationsError, load_known

        try:
            run.known = load_known(run.options.known_deviations)
        except KnownDeviationsError as exc:
            raise pytest.UsageError(f"--rec-known-deviations: {exc}") from None
    if run.options.sim_defects:
        from ..simulator.defects import resolve

        try:
            resolve(run.options.sim_defects)
        except ValueError as exc:
            raise pytest.UsageError(f"--rec-sim-defect: {exc}") from None
    if run.options.sim_options and run.options.target == "sim":
        from ..simulator.settings import Settings

        try:                                 # at once, not as an error of every check
            Settings.from_options(run.options.sim_options)
        except ValueError as exc:
            raise pytest.UsageError(f"--rec-sim-option: {exc}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rec_case" not in metafunc.fixturenames:
        return
    opts = run_of(metafunc.config).options
    params = []
    lanes = group_count(metafunc.config)
    for k, group in enumerate(lane_runs(cases_for(opts.depth, opts.pairwise_seed), lane_homes(opts.target, lanes),
                                        lanes)):
        for case in group:
            marks = [pytest.mark.rec(*case.expectation.requirements), pytest.mark.xdist_group(LANE.format(k))]
            params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("rec_case", params)


@pytest.hookimpl(tryfirst=True)     # before xdist's, which reads the lane (xdist_group) into the node id
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    run = run_of(config)
    opts = run.options
    drop = [i for i in items if i.get_closest_marker("rec_lenient_only" if opts.strict else "rec_strict_only")]
    if walk_steps(opts) == 0:           # --rec-walk-steps 0, or a depth other than full: no walk (not narrowed)
        drop += [i for i in items if getattr(i, "originalname", "").startswith("test_walk")]
    if drop:
        run.deselected_own = len(drop)
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in drop]
    rec_items = [i for i in items if i.get_closest_marker("rec") is not None]
    if not rec_items:
        return
    run.active = True
    if opts.target != "sim":
        try:
            load_target(opts.target)          # fail before anything is sent, naming file and key
        except TargetFileError as exc:
            pytest.exit(f"pytest-rec: target file error: {exc}", returncode=2)
    def rank(item) -> int:       # stable: rec_late after the rest (in a lane too), rec_last at the very end
        return 2 if item.get_closest_marker("rec_last") else 1 if item.get_closest_marker("rec_late") else 0
    items.sort(key=rank)
    run.lane_load, run.shared_lane = assign_lanes(rec_items, group_count(config), items)
    if opts.dry_run:
        from ._dryrun import dry_run

        dry_run(config, run, items, rec_items, group_count(config))


def pytest_collection_finish(session: pytest.Session) -> None:
    """How many checks this process will run, after every deselection (-k, -m, strict-only ...)."""
    run_of(session.config).collected = sum(1 for i in session.items if i.get_closest_marker("rec") is not None)


def restore(config: pytest.Config) -> None:
    """Put back every session this process wrote to, once (the context's teardown, or the end of
    the session after an interrupt). Each outcome is in the journal, for the report. Nothing that
    happens after a check has ended (Allure step listeners) runs during it; a second signal
    abandons it and leaves the journal, and the run's last line says how to replay it."""
    run = run_of(config)
    if run.ctx is None or run.restored:
        return
    run.restored = True
    run.ctx.transcript.case = "restore"
    guard = guard_of(config)
    transcript = run.ctx.transcript
    listeners, transcript.listeners = transcript.listeners, []      # no report step runs during the restore
    failures: list[str] = []
    abandoned = guard is not None and guard.abandon
    if not abandoned:
        try:
            with guard.restoring_sessions() if guard else nullcontext(), restoring(run.ctx.admin):
                failures = run.ctx.restore_all()[1]
        except KeyboardInterrupt:
            abandoned = True
        except Exception as exc:  # noqa: BLE001 - whatever broke, the journal still names the sessions
            failures = [f"the restore stopped: {exc!r}"]
        finally:
            transcript.listeners = listeners      # the same list: a check's teardown still finds its own
    if abandoned:
        failures = [f"session {sid}: not put back (the restore was stopped by a second signal)"
                    for sid in run.ctx.journal.pending()]
    run.restore_failures = failures
    if failures:
        journal = run.ctx.journal.path
        # the restore usually runs in the last check's teardown: past pytest's capture, so that the
        # line shows whatever that check's outcome (a captured line shows only for a failed check)
        capman = config.pluginmanager.getplugin("capturemanager")
        with capman.global_and_fixture_disabled() if capman is not None else nullcontext():
            sys.stderr.write(f"\n*** pytest-rec: RESTORE FAILED: {'; '.join(failures)}. Run `rec-restore "
                             f"{journal}` once the array allows it.\n")
            sys.stderr.flush()
        pending = run.ctx.journal.pending()
        if guard is not None and pending:
            guard.last_lines = last_lines([{"session": sid, "path": str(journal)} for sid in pending])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = run_of(config)
    restore(config)            # after Ctrl-C too; a no-op when the context's teardown already ran
    if run.ctx is not None:
        index, count = worker(config)
        name = "transcript.jsonl" if count == 1 else f"transcript.gw{index}.jsonl"
        write_transcript(Path(run.options.report_dir) / name, run.ctx.transcript)
    out = getattr(config, "workeroutput", None)
    if out is not None:             # an xdist lane: the controller writes the reports from every lane's results
        if run.wayback is not None:   # a lane stopped before its teardown: no other lane waits for it
            run.wayback.put_back(worker(config)[0])
        if worker(config)[1] > 1:
            from ._lanefiles import lane_gone

            lane_gone(config, worker(config)[0])
        out.update(rec_active=run.active, rec_stop=run.stop_reason, rec_interrupted=run.interrupted,
                   rec_read_lag=run.ctx.transcript.longest_settle if run.ctx else None,
                   rec_suspend_first_phases=sorted(run.ctx.suspend_first_phases) if run.ctx else [],
                   rec_exchanges=[len(run.ctx.transcript.exchanges), len(run.ctx.transcript.server_errors)]
                   if run.ctx else [0, 0], rec_tls=run.tls_fingerprint,
                   rec_jobs=run.ctx.transcript.jobs_by_case() if run.ctx else {})
        return
    if not run.active and not run.cases and not (run.interrupted and _runs_the_suite(config)):
        return          # not a run of the suite (a signal before any lane collected still gets its summary)
    if config.getoption("collectonly", False) and not run.cases:
        # a listing of the checks, not a run: no verdict, no report (an "inconclusive" summary would
        # only stand in the report folder as if a run had failed)
        run.plan.append(f"pytest-rec: collect only: {int(getattr(session, 'testscollected', 0) or 0)} check(s) "
                        "listed; nothing was sent to the array and no report was written")
        return
    code = write_reports(run, exitstatus, int(getattr(session, "testscollected", 0) or 0))
    if exitstatus != pytest.ExitCode.USAGE_ERROR and not (exitstatus == pytest.ExitCode.TESTS_FAILED and code == 0):
        # plain pytest exits as rec-compliance does (CONTRACT section 4); a failed test that is not a check
        # of the suite (the user's own, in the same session) still fails the session
        session.exitstatus = code


def _runs_the_suite(config: pytest.Config) -> bool:
    """The session runs the compliance suite (rec-compliance, or pytest --pyargs pytest_rec.suite), even
    before anything is collected (an xdist controller collects nothing itself)."""
    return any("pytest_rec.suite" in str(a) or "pytest_rec/suite" in str(a) for a in config.args)


class _Said:
    """pytest's end-of-run banner for a KeyboardInterrupt or pytest.exit ("! ... !" and a pointer into
    the signal handler), once the summary has said why the run stopped: a plain separator instead."""

    def __init__(self, message: str) -> None:
        self.reprcrash = type("Crash", (), {"message": message})()


def _quiet_banner(terminalreporter, message: str) -> None:
    if getattr(terminalreporter, "_keyboardinterrupt_memo", None) is not None:
        terminalreporter._keyboardinterrupt_memo = _Said(message)


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A signal before the session started (pytest_configure: the lanes' preflight): the cli writes
    the summary and says so; no traceback banner pointing into the signal handler."""
    run = config.stash.get(RUN, None)
    if run is None or not run.interrupted or not _runs_the_suite(config):
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter._keyboardinterrupt_memo = None
    if run.summary is None and getattr(config, "workerinput", None) is None:
        try:        # a signal while the session started (xdist bringing its lanes up): no sessionfinish
            write_reports(run, pytest.ExitCode.INTERRUPTED)
        except Exception as exc:  # noqa: BLE001 - rec-compliance still says the run was stopped
            sys.stdout.write(f"pytest-rec: the summary of the interrupted run could not be written: {exc}\n")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    import os

    run = run_of(config)
    for plan_line in run.plan:
        terminalreporter.write_line(plan_line)
    nothing_ran = run.summary is not None and not run.summary["cases"] and \
        bool(run.summary.get("stopped") or run.summary.get("interrupted"))
    if run.summary is not None:
        from ..report.reasons import deviation_lines
        from ..report.summary import deviation_groups

        groups = deviation_groups(run.summary["cases"])
        if groups:
            terminalreporter.write_sep("-", f"pytest-rec: {len(groups)} distinct deviation(s)")
        for line in deviation_lines(groups, terminalreporter._tw.fullwidth):
            terminalreporter.write_line(line)
        own = run.deselected_own
        if walk_steps(run.options) and not run.options.dry_run and not nothing_ran:
            terminalreporter.write_line(f"pytest-rec: walks of seed {run.options.walk_seed}, {walk_steps(run.options)} "
                                        f"steps per writable session (--rec-walk-seed {run.options.walk_seed} replays them)")
        if run.options.dry_run:
            terminalreporter.write_line("pytest-rec: every check deselected: a dry run writes nothing to the array")
        elif own and not nothing_ran:
            walks = "; the walks are off (--rec-walk-steps, depth full)" if walk_steps(run.options) == 0 else ""
            terminalreporter.write_line(f"pytest-rec: {own} check(s) deselected by the suite itself: they run only "
                                        f"{'without' if run.options.strict else 'with'} --rec-strict{walks}")
        if run.summary.get("stopped") or run.summary.get("interrupted"):
            _quiet_banner(terminalreporter, "pytest-rec: stopped (the line above says why)" if run.summary.get(
                "stopped") else f"pytest-rec: {run.summary['interrupted']}")
    if run.verdict_line:
        for extra in run.summary_lines:
            terminalreporter.write_line(extra)
        if os.environ.get("REC_CLI_RUN") != "1":     # rec-compliance prints it once, as its last line
            terminalreporter.write_line(run.verdict_line, bold=True)


def _lanes_target(options):
    """The target of a run of lanes, for the controller's reproducers (None: the built-in simulator's, which
    the controller does not know; the walks' reproducers are written by the lanes)."""
    try:
        return load_target(options.target) if options.target != "sim" else None
    except (TargetFileError, OSError):
        return None


def write_reports(run: RecRun, pytest_status: int, collected_elsewhere: int = 0) -> int:
    """Gather the run's metadata, build the summary from the case records, write the reports."""
    from ..report.signoff import run_profile
    from ..report.summary import build_summary, exit_code, verdict_line, write_summary
    from ..engine.restore import restore_status

    options, config = run.options, run.config
    report_dir = Path(options.report_dir)
    gmt = "%Y-%m-%dT%H:%M:%SZ"
    if pytest_status == pytest.ExitCode.INTERRUPTED and not run.interrupted and not run.stop_reason:
        run.interrupted = "interrupted (Ctrl-C)"
    collected = run.collected or collected_elsewhere   # xdist: the controller counts the workers' collection
    meta = {"target": target_meta(run), "depth": options.depth, "interrupted": run.interrupted,
            "narrowed": narrowed(config), "collected": collected, "stopped": run.stop_reason,
            # with lanes, the controller has no context of its own: each lane sends its longest lag
            "longest_read_lag": round(run.ctx.transcript.longest_settle, 3) if run.ctx else
            (round(run.lane_read_lag, 3) if run.lane_read_lag is not None else None),
            # REC-NO-5XX looks at every answer: how many there were, and how many were 5xx (not 503)
            "exchanges": [len(run.ctx.transcript.exchanges), len(run.ctx.transcript.server_errors)] if run.ctx
            else list(run.lane_exchanges),
            "jobs_by_case": run.ctx.transcript.jobs_by_case() if run.ctx else dict(run.lane_jobs),
            "provenance": provenance(run),
            # the active phases REC-SUSPEND-FIRST was judged from (every lane's), for its row in the report
            "suspend_first_phases": sorted(run.ctx.suspend_first_phases if run.ctx else run.lane_suspend_first_phases),
            "active_named": active_named(run),
            "strict": options.strict, "dry_run": options.dry_run, "profile": run_profile(run.ctx.target if run.ctx else None, run.options.target),
            "set_aside": sorted((run.ctx.set_aside if run.ctx else {}).values()),
            "pairwise_seed": options.pairwise_seed if options.depth == "pairwise" else None,
            "fuzz_seed": options.fuzz_seed,
            "run": {"suite_version": __version__, "commit": git_commit(),
                    "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]),
                    "started": time.strftime(gmt, time.gmtime(run.started)),
                    "ended": time.strftime(gmt, time.gmtime()),
                    "python": sys.version.split()[0], "sim_defects": list(options.sim_defects),
                    "sim_options": options.sim_options}}
    status = restore_status(Path(options.journal), since=run.started)
    summary = build_summary(run.cases + late_change_cases(status), meta)
    summary["restore"] = status
    not_back = summary["restore"]["failed"]
    if not_back:        # the Why line says it too, not only the restore section and the last lines
        summary["verdict_reason"] += (f"; {len(not_back)} session(s) NOT put back "
                                      f"({', '.join(str(f['session']) for f in not_back)}): run rec-restore")
    if run.writes_stopped:
        summary["verdict_reason"] += f"; the suite stopped writing: {run.writes_stopped[:200]}"
    failed_rules = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
    if "REC-ISOLATION" in failed_rules and group_count(config) > 1:
        # a change that leaks to another session lands in another lane's case: that case's rule fails too
        summary["verdict_reason"] += ("; with lanes, a change that leaks to another session is also seen by the "
                                      "lane testing that session, so rules other than REC-ISOLATION may fail from "
                                      "the same leak, and a session's own change that the array applies late, once "
                                      "every lane has ended, reads as REC-ISOLATION in the last read after every "
                                      "lane: run again with -n 0 to tell them apart")
    summary["exit_code"] = code = exit_code(summary, pytest_status)
    summary["walk"] = {"seed": options.walk_seed, "steps": walk_steps(options)}
    if options.dry_run:                 # the plan only: an earlier run's reports in the folder stay as they were
        from ..report.summary import write_plan

        write_plan(report_dir, summary, run.plan)
        run.summary, run.verdict_line = summary, verdict_line(summary)
        run.summary_lines = [f"pytest-rec: {summary['verdict_reason']}"]
        return code
    extra_files = {}
    if run.ctx is not None:
        extra_files["target.json"] = run.ctx.target.redacted()
    elif options.target != "sim":       # the controller of lanes: the same file every lane read
        try:
            extra_files["target.json"] = load_target(options.target).redacted()
        except (TargetFileError, OSError):
            pass
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        from ..report.allure_steps import write_environment

        t = summary["target"]
        write_environment(Path(alluredir), {
            "target": t.get("url"), "kind": t.get("kind"), "model": t.get("model", "unknown"),
            "serial": t.get("serial", "unknown"), "firmware": t.get("firmware", "unknown"),
            "depth": summary["depth"], "strict": summary["strict"], "verdict": summary["verdict"],
            "seed_verdict": summary["seed_verdict"], "suite": f"pytest-rec {__version__}",
            "commit": meta["run"]["commit"], "simulator_defects": ",".join(options.sim_defects) or "none"},
            run.ctx.transcript.secrets if run.ctx else _no_secrets())
    from ..engine.reproducer import link_all   # every deviation of the matrix or of a walk as a script (issue 31)

    summary["reproducers"] = link_all(run.ctx.target if run.ctx else _lanes_target(options), summary, report_dir)
    write_summary(report_dir, summary, extra_files)
    if alluredir:
        from ..report.allure_run import write_run_results

        write_run_results(Path(alluredir), summary)     # the verdict and the restore, each a result of its own
    run.summary = summary
    run.verdict_line = verdict_line(summary)
    run.summary_lines = [f"pytest-rec: {summary['verdict_reason']}"]
    return code


def narrowed(config: pytest.Config) -> list[str]:
    """How the user narrowed the run on purpose (-k, -m, --deselect, single tests): such a run can
    never say compliant, and exits 0 when it went through (CONTRACT section 4)."""
    out = []
    if getattr(config.option, "keyword", ""):
        out.append(f"-k {config.option.keyword}")
    if getattr(config.option, "markexpr", ""):
        out.append(f"-m {config.option.markexpr}")
    if getattr(config.option, "deselect", None):
        out.append(f"--deselect ({len(config.option.deselect)})")
    picked = [a for a in config.args if "::" in a or a.endswith(".py")]
    if picked:
        out.append("only " + ", ".join(picked))
    if getattr(config.option, "maxfail", 0):
        out.append(f"stops after {config.option.maxfail} failure(s) (-x / --maxfail)")
    return out


def _no_secrets():
    from ..client.transcript import Secrets

    return Secrets()
