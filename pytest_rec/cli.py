"""``rec-compliance`` (run the shipped suite and write every report) and ``rec-restore``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _report_dir(args: list[str]) -> Path:
    for i, a in enumerate(args):
        if a == "--rec-report-dir" and i + 1 < len(args):
            return Path(args[i + 1])
        if a.startswith("--rec-report-dir="):
            return Path(a.split("=", 1)[1])
    return Path("reports")


def compliance_main(argv: list[str] | None = None) -> int:
    """Run the compliance suite; exit 0 (no new deviation, nothing errored), 1 (deviation), 2 (could not run)."""
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    report_dir = _report_dir(args)
    report_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("compliance.json", "compliance.md", "junit.xml", "MANIFEST.sha256"):
        (report_dir / stale).unlink(missing_ok=True)
    pytest_args = ["--pyargs", "pytest_rec.suite", "-p", "no:cacheprovider", "-o", "console_output_style=count",
                   f"--junitxml={report_dir / 'junit.xml'}", f"--alluredir={report_dir / 'allure-results'}",
                   "--clean-alluredir", "--rec-report-dir", str(report_dir), *args]
    status = pytest.main(pytest_args)
    summary_path = report_dir / "compliance.json"
    if not summary_path.exists():
        print(f"pytest-rec: no compliance summary was written (pytest exit {int(status)}); verdict: inconclusive")
        return 2
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    try:
        from .htmlreport import build_html

        print(build_html(report_dir))
    except Exception as exc:  # noqa: BLE001 - the other reports stand without the HTML one
        print(f"pytest-rec: HTML report not built: {exc}")
    from .report import manifest, verdict_line

    (report_dir / "MANIFEST.sha256").write_text(manifest(report_dir), encoding="utf-8")
    print(f"pytest-rec: reports in {report_dir}/: compliance.md, compliance.json, junit.xml, allure-results/, "
          f"allure-report/ (if built), transcript*.jsonl, MANIFEST.sha256")
    print(verdict_line(summary))
    return int(summary.get("exit_code", 2))


def restore_main(argv: list[str] | None = None) -> int:
    """Replay a restore journal left by an interrupted or killed run."""
    from .client import Credentials, RecClient, Transcript
    from .context import make_guard
    from .errors import TargetError
    from .restore import Journal, restore_pending
    from .sessions import Operator
    from .target import TargetFileError, load_target

    p = argparse.ArgumentParser(prog="rec-restore", description=restore_main.__doc__)
    p.add_argument("journal", nargs="?", default="reports/restore-journal.json")
    p.add_argument("--rec-target", dest="target", default=os.environ.get("REC_TARGET"),
                   help="target file (default: the one the journal names, or REC_TARGET)")
    p.add_argument("--job-timeout", type=float, default=120.0)
    args = p.parse_args(argv)
    try:
        data = Journal.load(Path(args.journal))
    except (OSError, ValueError) as exc:
        print(f"rec-restore: cannot read journal {args.journal}: {exc}", file=sys.stderr)
        return 2
    pending = {sid: v for sid, v in data["sessions"].items() if not v.get("restored")}
    if not pending:
        print(f"rec-restore: nothing to restore in {args.journal}")
        return 0
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
    client = RecClient(target.url, creds, verify=target.verify, guard=make_guard(target), transcript=Transcript())
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
