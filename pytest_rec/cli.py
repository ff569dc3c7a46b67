"""``rec-compliance`` (run the shipped suite and write every report) and ``rec-restore``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path


def _report_dir(args: list[str]) -> Path:
    return Path(_option_value(args, "--rec-report-dir") or "reports")


def compliance_main(argv: list[str] | None = None) -> int:
    """Run the compliance suite; exit 0 (no new deviation, nothing errored), 1 (deviation), 2 (could not run)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "--version") for a in args):
        import pytest

        print("rec-compliance: the pytest-rec compliance suite (pytest --pyargs pytest_rec.suite, with the reports).\n"
              "Exit 0 compliant (or only known deviations, or a narrowed run that went through), 1 a new deviation,\n"
              "2 anything else (inconclusive, interrupted, a session not put back). The pytest-rec options are\n"
              "in the 'rec' group below.\n")
        return int(pytest.main(["--pyargs", "pytest_rec.suite", "-p", "no:cacheprovider", *args]))
    received: list[str] = []
    stop = {"raise": True}
    previous = _catch_signals(received, stop)     # before and after pytest; the plugin has its own during the run
    was = os.environ.get("REC_CLI_RUN")
    os.environ["REC_CLI_RUN"] = "1"               # the plugin leaves the verdict line to this, the last line
    try:
        return _compliance(args, received, stop)
    except KeyboardInterrupt:                     # a signal before pytest started: nothing was sent
        stop["raise"] = False
        name = received[-1] if received else "SIGINT"
        written = _report_dir(args) / "compliance.json"
        if stop.get("started") and written.exists():    # this run wrote it: it stands (a signal after pytest)
            print(f"pytest-rec: {name} while the reports were written")
            from .report.summary import verdict_line

            print(verdict_line(json.loads(written.read_text(encoding="utf-8"))))
            return 2
        summary = None if "--rec-dry-run" in args or "--rec-offline" in args else \
            _summary_of_a_run_stopped_at_start(_report_dir(args), args, name)
        print(f"pytest-rec: {name} before the run started; nothing was sent")
        from .report.summary import verdict_line

        print(verdict_line(summary) if summary else f"VERDICT: inconclusive (interrupted before any check ran: {name})")
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if was is None:
            os.environ.pop("REC_CLI_RUN", None)
        else:
            os.environ["REC_CLI_RUN"] = was
        # CPython (3.11) marks a KeyboardInterrupt that left code run from a string (dataclasses and
        # namedtuple make their methods so, while pytest is imported) as "unhandled" even when caught
        # later, and then ends the process by SIGINT (exit -2, not 2); a string run to its end clears it
        exec("None")  # noqa: S102 - a constant: only to clear that mark


def _compliance(args: list[str], received: list[str], stop: dict) -> int:
    report_dir = _report_dir(args)
    report_dir.mkdir(parents=True, exist_ok=True)
    dry = "--rec-dry-run" in args or "--rec-offline" in args    # the plan only: no JUnit, no Allure, no HTML
    if dry:
        (report_dir / "plan.json").unlink(missing_ok=True)     # the rest of the folder is left as it is
    else:
        _clear_earlier_outputs(report_dir)
    quiet = [] if any(a.startswith(("-v", "--verbose", "--tb", "-r")) for a in args) else ["--tb=no", "-rN"]
    # a quiet console by default: one line per distinct deviation (the plugin's summary), the verdict
    # last; the tracebacks are in junit.xml and the Allure results, and on the console with -v
    args = _with_lanes(args)
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        if not any(a.startswith("--dist") for a in args):
            args += ["--dist", "loadgroup"]     # each lane on one worker (its sessions, its share of the checks)
        if not any(a.startswith("--max-worker-restart") for a in args):
            args += ["--max-worker-restart", "0"]   # a restarted worker would own no session of its own
    outputs = [] if dry else [f"--junitxml={report_dir / 'junit.xml'}", f"--alluredir={report_dir / 'allure-results'}",
                              "--clean-alluredir"]
    # schemathesis's pytest plugin is not used (the fuzzing bodies come from a process of their own,
    # fuzzbodies.py): not loading it is about 0.4 s less start-up
    pytest_args = ["--pyargs", "pytest_rec.suite", "-p", "no:cacheprovider", "-p", "no:schemathesis",
                   "-o", "console_output_style=count", *outputs, "--rec-report-dir", str(report_dir), *quiet, *args]
    return _run_and_report(pytest_args, report_dir, received, stop, dry)


def _clear_earlier_outputs(report_dir: Path) -> None:
    """Remove what an earlier run wrote to the report folder, so that nothing of it is taken for this
    run's evidence (its transcript in the manifest's hashes, its target.json as "the target as used").
    A journal that still holds a session not put back is kept: the run then refuses to start, naming it."""
    from .engine.restore import Journal

    import shutil

    for stale in ("compliance.json", "compliance.md", "junit.xml", "MANIFEST.sha256", "target.json",
                  "plan.json", "plan.md"):
        (report_dir / stale).unlink(missing_ok=True)
    for stale_dir in ("allure-results", "allure-report-single", "allure-report"):   # only the names we write
        if (report_dir / stale_dir).is_dir() and not (report_dir / stale_dir).is_symlink():
            shutil.rmtree(report_dir / stale_dir, ignore_errors=True)
    for stale in report_dir.glob("transcript*.jsonl"):
        stale.unlink(missing_ok=True)
    for journal in report_dir.glob("restore-journal*.json"):
        try:
            data = Journal.load(journal)
        except (OSError, ValueError):
            continue                  # not readable: left for a person to look at
        if data.get("kind") == "sim" or all(v.get("restored") for v in data.get("sessions", {}).values()):
            journal.unlink(missing_ok=True)


def _option_value(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def _with_lanes(args: list[str]) -> list[str]:
    """On an array, one lane (an xdist worker owning its writable sessions) per writable session, so
    the jobs of different sessions overlap; ``--rec-lanes N`` caps it, ``-n`` overrides it, the
    built-in simulator (fast jobs, CPU-bound) runs one lane unless asked. A dry run only plans them."""
    if any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in args):
        return args
    asked = _option_value(args, "--rec-lanes")
    target = _option_value(args, "--rec-target") or os.environ.get("REC_TARGET") or "sim"
    writable = None
    if target != "sim":
        from .model.target import TargetFileError, load_target

        try:
            writable = len(load_target(target).writable)
        except (TargetFileError, OSError):
            return args                  # the plugin reports the target file's error, naming the key
    try:
        lanes = int(asked) if asked is not None else (writable or 1)
    except ValueError:
        return args                      # pytest's own option parsing says what is wrong
    if writable:
        lanes = min(lanes, writable)
    lanes = max(1, lanes)
    out, skip = [], False
    for a in args:                       # the lanes as capped, once
        if skip:
            skip = False
        elif a == "--rec-lanes":
            skip = True
        elif not a.startswith("--rec-lanes="):
            out.append(a)
    out += ["--rec-lanes", str(lanes)]
    if lanes > 1 and "--rec-dry-run" not in args and "--rec-offline" not in args:
        out += ["-n", str(lanes)]        # the plugin checks the target once before the lanes start
    return out


def _run_and_report(pytest_args: list[str], report_dir: Path, received: list[str], stop: dict,
                    dry: bool = False) -> int:
    import pytest

    stop["started"] = True                # from here on a compliance.json in the folder is this run's
    try:
        status = int(pytest.main(pytest_args))
    except KeyboardInterrupt:            # outside the plugin's own handling: before or after the run
        status = 2
    except Exception as exc:             # noqa: BLE001 - pytest failing to print an interrupt it caught
        signal_name = _interrupt_behind(exc)
        if signal_name is None:
            raise
        received.append(signal_name)     # (a KeyboardInterrupt in code without line numbers: typing's
        status = 2                       # NamedTuple) is still that interrupt: exit 2, its summary
    summary_path = report_dir / ("plan.json" if dry else "compliance.json")
    if not summary_path.exists() and received and not dry:
        _summary_of_a_run_stopped_at_start(report_dir, pytest_args, received[-1])   # a signal before the session
    if not summary_path.exists():
        why = f"; stopped by {received[-1]}" if received else ""
        line = f"pytest-rec: no {'plan' if dry else 'compliance summary'} was written (pytest exit {status}{why})"
        if not dry:
            _junit_verdict(report_dir / "junit.xml", 2, line + "; verdict: inconclusive")
        print(line)
        print("VERDICT: inconclusive (nothing was judged; the lines above say why)")     # the last line, as always
        return 2
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    if dry:
        print(f"pytest-rec: the plan is above and in {report_dir}/plan.md; nothing else in {report_dir}/ was touched")
        from .report.summary import verdict_line

        print(verdict_line(summary))
        code = int(summary.get("exit_code", 2))
        return 2 if received and code in (0, 1) else code
    failed = (summary.get("restore") or {}).get("failed") or []
    from .report.summary import manifest, verdict_line

    _junit_verdict(report_dir / "junit.xml", 2 if received else int(summary.get("exit_code", 2)),
                   verdict_line(summary) + (f"; {summary.get('verdict_reason')}" if summary.get("verdict_reason") else ""))

    try:
        # REC_HTML=0: no HTML report (the project's own tests); all: the multi-file one for a web server too
        html = os.environ.get("REC_HTML", "1").strip().lower()
        stopped = received[-1] if received else summary.get("interrupted")
        if not summary.get("cases") and (summary.get("stopped") or stopped):
            pass                          # nothing ran: an HTML report would only repeat the one line of why
        elif stopped:                     # the user asked to stop: the HTML can be built later by hand
            print(f"pytest-rec: HTML report not built: the run was stopped ({stopped}); "
                  f"`python -m pytest_rec.report.html {report_dir}` builds it from the results")
        elif html != "0":                 # a restore failure too: its result is in the report, the lines below say what to do
            try:
                from .report.html import build_html

                print(build_html(report_dir, multi=html == "all"))
            except Exception as exc:  # noqa: BLE001 - the other reports stand without the HTML one
                print(f"pytest-rec: HTML report not built: {exc}")
        (report_dir / "MANIFEST.sha256").write_text(manifest(report_dir), encoding="utf-8")
    except KeyboardInterrupt:
        print(f"pytest-rec: {received[-1] if received else 'interrupted'} while writing the reports: the HTML "
              "report and the manifest may be missing")
    stop["raise"] = False                      # from here on a signal is only noted
    print(f"pytest-rec: reports in {report_dir}/: compliance.md, compliance.json, junit.xml, allure-results/, "
          f"allure-report-single/ (if built), transcript*.jsonl, MANIFEST.sha256")   # allure-report/: REC_HTML=all
    print(verdict_line(summary))
    if failed:
        from .plugin._signals import last_lines

        for line in last_lines(failed):       # the very last line: the command that puts the array back
            print(line)
    code = int(summary.get("exit_code", 2))
    return 2 if received and code in (0, 1) else code


def _forget_broken_imports() -> None:
    """A signal in the middle of an import removes the module that was loading but keeps the submodules
    it had loaded, which a new import of the package then does not bind (PyYAML's C part fails on that):
    forget every such orphan, so the next import loads the package whole."""
    for name in sorted(sys.modules, reverse=True):
        parent, _, child = name.rpartition(".")
        if parent and (parent not in sys.modules or getattr(sys.modules[parent], child, None) is not sys.modules[name]):
            sys.modules.pop(name, None)


def _interrupt_behind(exc: BaseException) -> str | None:
    """The signal's name when ``exc`` was raised while a KeyboardInterrupt was being handled, else None."""
    seen = exc.__context__
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return str(seen) if str(seen).startswith("SIG") else "SIGINT"
        seen = seen.__context__
    return None


def _summary_of_a_run_stopped_at_start(report_dir: Path, pytest_args: list[str], signal_name: str) -> dict | None:
    """Ctrl-C (or SIGTERM, SIGHUP) before pytest's session started (the lanes' check of the target):
    nothing was written to the array; the summary says ``interrupted`` as for any interrupted run."""
    import time

    from . import __version__

    try:
        from .report.summary import build_summary, exit_code, write_summary
    except Exception:  # noqa: BLE001 - the signal cut an import short (a package left without its submodule)
        _forget_broken_imports()
        from .report.summary import build_summary, exit_code, write_summary
    target = _option_value(pytest_args, "--rec-target") or os.environ.get("REC_TARGET") or "sim"
    gmt = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    meta = {"target": {"url": target, "kind": "sim" if target == "sim" else "array", "model": "unknown",
                       "firmware": "unknown"},
            "depth": _option_value(pytest_args, "--rec-depth") or "full", "interrupted": signal_name,
            "narrowed": [], "collected": 0, "stopped": None, "strict": "--rec-strict" in pytest_args,
            "dry_run": False, "run": {"suite_version": __version__, "commit": "", "started": gmt, "ended": gmt,
                                      "command": " ".join(["rec-compliance", *sys.argv[1:]]), "python":
                                      sys.version.split()[0], "sim_defects": [], "sim_options": {}}}
    try:
        summary = build_summary([], meta)
        summary["restore"] = {"restored": [], "failed": []}
        summary["exit_code"] = exit_code(summary, 2)
        report_dir.mkdir(parents=True, exist_ok=True)
        write_summary(report_dir, summary)
        return summary
    except Exception as exc:  # noqa: BLE001 - the line below still says the run was stopped
        print(f"pytest-rec: the summary of the stopped run could not be written: {exc}")
        return None


def _junit_verdict(junit: Path, exit_code: int, text: str) -> None:
    """Add the run's verdict to junit.xml as a test case of its own, so that a CI dashboard that reads
    only JUnit shows what the exit code says: passed for exit 0 (compliant, or a narrowed run that went
    through), a failure for exit 1 (a new deviation), an error for anything else (a wrong password gave
    a JUnit file of 0 tests and 0 failures: green)."""
    import xml.etree.ElementTree as ET

    try:
        tree = ET.parse(junit)
    except (OSError, ET.ParseError):
        return                               # no JUnit file (a dry run, or pytest never started)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    case = ET.SubElement(suite, "testcase", {"classname": "pytest_rec", "name": "verdict", "time": "0"})
    kind = None if exit_code == 0 else "failure" if exit_code == 1 else "error"
    if kind is not None:
        ET.SubElement(case, kind, {"message": text[:1000]}).text = text
    else:
        ET.SubElement(case, "system-out").text = text
    for node in {id(suite): suite, id(root): root}.values():
        if "tests" not in node.attrib:
            continue                         # pytest's <testsuites> carries no counts of its own
        node.set("tests", str(int(node.get("tests", "0")) + 1))
        if kind is not None:
            key = "failures" if kind == "failure" else "errors"
            node.set(key, str(int(node.get(key, "0")) + 1))
    tree.write(junit, encoding="utf-8", xml_declaration=True)


def _catch_signals(received: list[str], stop: dict) -> dict:
    """SIGINT, SIGTERM and SIGHUP outside pytest: noted, and while ``stop["raise"]`` they stop
    what is running (the HTML build, say)."""
    import threading

    def handle(signum, frame):
        received.append(signal.Signals(signum).name)
        if stop["raise"]:
            raise KeyboardInterrupt(received[-1])

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None))
            if sig is not None}


def restore_main(argv: list[str] | None = None) -> int:
    """Replay the restore journal(s) left by an interrupted or killed run."""

    p = argparse.ArgumentParser(prog="rec-restore", description=restore_main.__doc__)
    p.add_argument("journal", nargs="*", help="journal file(s); default: reports/restore-journal*.json (one per lane)")
    p.add_argument("--rec-target", dest="target", default=os.environ.get("REC_TARGET"),
                   help="target file (default: the one the journal names, or REC_TARGET)")
    p.add_argument("--job-timeout", type=float, default=120.0)
    args = p.parse_args(argv)
    journals = args.journal or [str(j) for j in sorted(Path("reports").glob("restore-journal*.json"))]
    if not journals:
        from .engine.restore import Journal, state_dir

        pending = []
        for path in sorted((state_dir() / "journals").glob("*/*.json")):
            try:
                data = Journal.load(path)
            except (OSError, ValueError):
                continue
            if any(not v.get("restored") for v in data.get("sessions", {}).values()):
                pending.append(f"{path} ({data.get('target_url')})")
        print("rec-restore: no journal in reports/ here" + (
            "; journals still holding a session not put back, kept for every run on this machine:\n  "
            + "\n  ".join(pending) + "\nrun rec-restore with the one for your array" if pending else
            f", and none pending in {state_dir() / 'journals'}: nothing to restore"), file=sys.stderr)
        return 2 if pending else 0
    code = 0
    for journal in journals:          # a run with lanes leaves one journal per lane
        args.journal = journal
        code = max(code, _restore_one(args))
    return code


def _restore_one(args) -> int:
    from .client.rest import Credentials, RecClient
    from .client.transcript import Transcript
    from .engine.context import make_guard
    from .errors import TargetError
    from .engine.restore import Journal, owner_running, restore_pending
    from .engine.sessions import Operator
    from .model.target import TargetFileError, load_target

    try:
        data = Journal.load(Path(args.journal))
    except (OSError, ValueError) as exc:
        print(f"rec-restore: cannot read journal {args.journal}: {exc}", file=sys.stderr)
        return 2
    pending = {sid: v for sid, v in data["sessions"].items() if not v.get("restored")}
    if not pending:
        print(f"rec-restore: nothing to restore in {args.journal}")
        return 0
    live = owner_running(data)
    if live:
        print(f"rec-restore: {args.journal} belongs to a run still in progress (pid {live} on this machine); it "
              "puts its sessions back itself when it ends, and restoring now would change them under its checks. "
              f"Nothing was sent. If that run is hung, stop it first (kill {live}: it restores on SIGTERM), then run "
              "rec-restore again if it says so.", file=sys.stderr)
        return 2
    if data.get("kind") == "sim":
        print("rec-restore: the journal is from a run against the built-in simulator, which ended with its run; "
              "nothing to restore")
        return 0
    target_file = args.target or data.get("target_file")
    try:
        target = load_target(target_file)
        admin_spec = target.users["admin"]
        creds = Credentials("admin", admin_spec.name, admin_spec.password(target.source))
    except TargetFileError as exc:
        print(f"rec-restore: {exc}", file=sys.stderr)
        return 2
    if target.url != data.get("target_url"):
        print(f"rec-restore: the journal is for {data.get('target_url')}, the target file for {target.url}",
              file=sys.stderr)
        return 2
    from .engine.restore import run_lock

    lock = run_lock(target.url)      # held until this process ends
    if lock is None:
        print(f"rec-restore: another run (or rec-restore) against {target.url} is in progress on this machine; "
              "nothing was sent. Wait for it to end, then run rec-restore again if it says so.", file=sys.stderr)
        return 2
    client = RecClient(target.url, creds, verify=target.verify, guard=make_guard(target), transcript=Transcript(),
                       busy_retries=target.profile.busy_retries, busy_budget=target.profile.busy_budget)
    journal = Journal.reopen(Path(args.journal), target)
    code = 0
    try:
        client.login()
        op = Operator(target, client, args.job_timeout)
        _, failures = restore_pending(op, journal, say=lambda line: print(f"rec-restore: {line}"))
        if failures:
            code = 1
    except TargetError as exc:
        print(f"rec-restore: {exc}", file=sys.stderr)
        code = 2
    finally:
        client.close()
    return code


if __name__ == "__main__":
    sys.exit(compliance_main())
