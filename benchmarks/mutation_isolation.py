"""pytest plugin loaded only by the mutation run (``[tool.mutmut]`` in pyproject.toml).

* mutmut runs two mutants at a time, each in a forked child running pytest in the same directory.
  Every child gets its own report directory and restore journal, so one child never reads the
  other's journal as an unrestored run (the plugin refuses to start over one) nor overwrites its
  summary.
* mutmut runs, for each mutant, only the tests that called the mutated function during its stats
  run. The compliance suite is one stateful run against one array (jobs settle lazily, sessions are
  suspended once and put back at the end), so a test's verdict can depend on what ran before it and
  a mutant's effect can surface in a test that never called the mutated function. Each mutant
  therefore runs the whole suite, as a user would run it (``-x`` still stops at the first failure).
"""

from __future__ import annotations

import os
import tempfile

import pytest

SUITE = "pytest_rec/suite"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    where = tempfile.mkdtemp(prefix=f"rec-mutant-{os.getpid()}-")
    config.option.rec_report_dir = where
    config.option.rec_journal = os.path.join(where, "restore-journal.json")
    if "__mutmut_" in os.environ.get("MUTANT_UNDER_TEST", ""):
        config.args[:] = [SUITE]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    shutil.rmtree(config.option.rec_report_dir, ignore_errors=True)
