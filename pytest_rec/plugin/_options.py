"""Command-line and ini options of pytest-rec, normalised into one ``Options``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..engine.context import Options
from ..model.matrix import DEPTHS

__all__ = ["pytest_addoption", "read_options"]


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rec", "pytest-rec: ETERNUS REC session configuration compliance")
    g.addoption("--rec-target", default=None, help="'sim' (built-in simulator, the default) or a target TOML file; "
                                                  "also REC_TARGET")
    g.addoption("--rec-depth", default=None, choices=DEPTHS, help="matrix depth: smoke, pairwise or full (default)")
    g.addoption("--rec-strict", action="store_true", default=None,
                help="accept only the first refusal code of CONTRACT section 2 and judge case variants")
    g.addoption("--rec-dry-run", action="store_true", default=None,
                help="print the plan and check the target file against the array with reads only; write nothing")
    g.addoption("--rec-offline", action="store_true", default=None,
                help="a dry run that does not contact the target at all (the plan only); implies --rec-dry-run")
    g.addoption("--rec-sim-defect", action="append", default=[], metavar="NAME",
                help="run the built-in simulator with a defect profile (repeatable)")
    g.addoption("--rec-sim-option", action="append", default=[], metavar="KEY=VALUE",
                help="any other simulator setting, e.g. refusals=job, job_latency=0.2, busy_every=5 (repeatable)")
    g.addoption("--rec-sim-in-thread", action="store_true", default=False,
                help="serve the built-in simulator from a thread of the suite's own process instead of a "
                     "process of its own (slower: one interpreter lock; the mutation run needs it)")
    g.addoption("--rec-job-timeout", type=float, default=None, help="seconds to wait for one job (default 120)")
    g.addoption("--rec-journal", default=None, help="restore journal path (default reports/restore-journal.json)")
    g.addoption("--rec-report-dir", default=None, help="where reports go (default reports)")
    g.addoption("--rec-pairwise-seed", type=int, default=None, help="seed of the pairwise generator")
    g.addoption("--rec-fuzz-examples", type=int, default=None, help="schemathesis examples per fuzz test")
    g.addoption("--rec-fuzz-seed", type=int, default=None,
                help="seed of the generated PATCH bodies (default 20261127; recorded in compliance.json)")
    g.addoption("--rec-walk-seed", type=int, default=None, metavar="S",
                help="seed of the walks (seeded sequences of changes judged after each step; default 20261204, "
                     "printed and recorded in compliance.json: the same seed replays the same walk)")
    g.addoption("--rec-walk-steps", type=int, default=None, metavar="N",
                help="steps per session walked (default 22 at depth full, off at other depths; 0 turns the walk off)")
    g.addoption("--rec-lanes", type=int, default=None, metavar="N",
                help="session lanes: processes that each own writable sessions and overlap their jobs "
                     "(rec-compliance: one per writable session on an array, 1 on the built-in simulator; "
                     "1 runs everything in one process; -n N sets it too)")
    g.addoption("--rec-known-deviations", default=None, metavar="FILE",
                help="TOML of ticketed deviations: reported apart, they do not fail the run")
    for name, kind, default, help_ in [
        ("rec_target", "string", "", "default of --rec-target"),
        ("rec_depth", "string", "", "default of --rec-depth"),
        ("rec_strict", "bool", False, "default of --rec-strict"),
        ("rec_job_timeout", "string", "", "default of --rec-job-timeout"),
        ("rec_journal", "string", "", "default of --rec-journal"),
        ("rec_report_dir", "string", "", "default of --rec-report-dir"),
    ]:
        parser.addini(name, help_, type=kind, default=default)


def read_options(config: pytest.Config) -> Options:
    """The run's options, normalised once: command line, then REC_TARGET, then ini."""
    def pick(opt: str, ini: str, env: str | None = None, default=None):
        value = config.getoption(opt)
        if value not in (None, [], ""):
            return value
        if env and os.environ.get(env):
            return os.environ[env]
        ini_value = config.getini(ini) if ini else None
        if ini_value not in (None, "", False):
            return ini_value
        return default

    sim_options = {}
    for item in config.getoption("--rec-sim-option") or []:
        if "=" not in item:
            raise pytest.UsageError(f"--rec-sim-option {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        sim_options[k.strip()] = v.strip()
    depth = pick("--rec-depth", "rec_depth", default="full")
    if depth not in DEPTHS:
        raise pytest.UsageError(f"rec_depth {depth!r}: one of {', '.join(DEPTHS)}")
    report_dir = pick("--rec-report-dir", "rec_report_dir", default="reports")
    return Options(
        target=pick("--rec-target", "rec_target", "REC_TARGET", "sim"),
        depth=depth,
        strict=bool(pick("--rec-strict", "rec_strict", default=False)),
        # --rec-offline alone is a dry run too: "do not contact the target" must never write to it
        dry_run=bool(config.getoption("--rec-dry-run") or config.getoption("--rec-offline")),
        offline=bool(config.getoption("--rec-offline")),
        sim_defects=tuple(config.getoption("--rec-sim-defect") or ()),
        sim_options=sim_options,
        sim_in_thread=bool(config.getoption("--rec-sim-in-thread")),
        job_timeout=float(pick("--rec-job-timeout", "rec_job_timeout", default=120.0)),
        journal=pick("--rec-journal", "rec_journal", default=str(Path(report_dir) / "restore-journal.json")),
        report_dir=report_dir,
        pairwise_seed=int(pick("--rec-pairwise-seed", "", default=20261127)),
        fuzz_examples=config.getoption("--rec-fuzz-examples"),
        fuzz_seed=int(config.getoption("--rec-fuzz-seed") or 20261127),
        known_deviations=config.getoption("--rec-known-deviations"),
        lanes=config.getoption("--rec-lanes"),
        walk_seed=int(config.getoption("--rec-walk-seed") if config.getoption("--rec-walk-seed") is not None
                      else 20261204),
        walk_steps=config.getoption("--rec-walk-steps"),
    )
