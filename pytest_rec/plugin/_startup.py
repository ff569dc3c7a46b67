"""What a run checks before it sends anything: that no other run against the target is in progress
on this machine (the target's lock), that no earlier run left a session not put back (its journals,
here and in the per-user state directory), and, for lanes, the read-only preflight in the controller."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ..engine.restore import restore_command
from ..model.target import TargetFileError, load_target
from ._state import RUN_ID, RecRun, run_of

__all__ = ["lock_the_target", "refuse_if_journal_pending", "prune_journals"]

KEEP_DAYS = 30      # restored journals in the state directory older than this are removed ($REC_JOURNAL_KEEP_DAYS)


def _check_before_lanes(config: pytest.Config, run: RecRun) -> None:
    """In the controller of a run with lanes (xdist workers) against a target file: check every named
    session once, before any lane writes (each lane then checks only the modes of its own sessions:
    another lane may already be changing the others), and that REC-ISOLATION will have a session no
    lane writes to watch. On a problem, no lanes: the run goes on in one process, whose preflight stops
    it with the reason in the summary (or, for the witness, watches every other session)."""
    n = getattr(config.option, "numprocesses", None)
    if getattr(config, "workerinput", None) or not isinstance(n, int) or n < 2 or run.options.target == "sim" \
            or run.options.dry_run or getattr(config.option, "dist", "no") == "no" \
            or any(config.getoption(o, False) for o in ("help", "version", "collectonly")):
        return
    from ._dryrun import read_only_preflight

    problems = read_only_preflight(run.options.target, lanes=True)
    if problems:
        if not any(p.startswith("cannot use ") or "target file" in p for p in problems):
            # on stdout, at the start: the verdict stays the last line of the output (stderr may come after it).
            # Not when the target cannot be used at all: the run stops at once and says why, once.
            sys.stdout.write(f"pytest-rec: the run goes on in one lane instead of {n}, because: "
                             + "; ".join(problems)[:600] + "\n")
            sys.stdout.flush()
        config.option.dist, config.option.numprocesses, config.option.tx = "no", None, []
        config.option.rec_lanes = 1


def lock_the_target(config: pytest.Config, run: RecRun) -> None:
    """Exit 2 before anything is sent while another run (or rec-restore) against this target runs on
    this machine; else hold the target's lock until this process ends."""
    from ..engine.restore import run_lock, target_journal_dir

    try:
        url = load_target(run.options.target).url
    except TargetFileError:
        return                      # reported, naming the file and key, when the run collects its checks
    run.lock = run_lock(url)
    if run.lock is None:
        pytest.exit(f"pytest-rec: another run (or rec-restore) against {url} is in progress on this machine "
                    f"(it holds {target_journal_dir(url) / 'run.lock'}); nothing was sent. Two runs on one "
                    "array change the same sessions under each other: wait for it to end.", returncode=2)


def refuse_if_journal_pending(config: pytest.Config, target_file: str) -> None:
    """Exit 2 before anything is sent while an earlier run's journal for this target, in the report
    folder or the per-user state directory, still holds a session that was never put back."""
    from ..engine.restore import Journal, owner_running, pending_journals

    try:
        url = load_target(target_file).url
    except TargetFileError:
        return                      # reported, naming the file and key, when the run collects its checks
    pending = pending_journals(url, Path(run_of(config).options.journal), config.stash[RUN_ID])
    live = sorted({pid for pid in (owner_running(Journal.load(p)) for p, _ in pending) if pid})
    if live:
        pytest.exit(f"pytest-rec: another run against {url} is in progress (pid {', '.join(map(str, live))} on this "
                    "machine) and holds sessions it will put back when it ends; nothing was sent. Wait for it to "
                    "end: two runs on one array change the same sessions under each other. Do not run rec-restore "
                    "while it runs.", returncode=2)
    if not pending:
        prune_journals()
    if pending:
        lines = [f"{path} (sessions {', '.join(map(str, sids))})" for path, sids in pending]
        pytest.exit(f"pytest-rec: an earlier run against {url} did not put every session back; nothing was sent. "
                    f"Journal(s): {'; '.join(lines)}. Run `{restore_command()} {' '.join(str(p) for p, _ in pending)}` first.",
                    returncode=2)


def prune_journals(now: float | None = None) -> list[Path]:
    """Remove the state directory's journals in which every session was put back and that are older than
    ``KEEP_DAYS`` (``$REC_JOURNAL_KEEP_DAYS``): every run records one there, and nothing else ever removes
    them. A journal that still holds a session, or that cannot be read, is kept. Returns those removed."""
    import os
    import time

    from ..engine.restore import Journal, state_dir

    try:
        days = float(os.environ.get("REC_JOURNAL_KEEP_DAYS", KEEP_DAYS))
    except ValueError:
        days = KEEP_DAYS
    limit = (time.time() if now is None else now) - days * 86400
    removed = []
    for path in sorted((state_dir() / "journals").glob("*/*.json")):
        try:
            if path.stat().st_mtime >= limit:
                continue
            data = Journal.load(path)
        except (OSError, ValueError):
            continue
        sessions = data.get("sessions")
        if isinstance(sessions, dict) and all(v.get("restored") for v in sessions.values()):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
