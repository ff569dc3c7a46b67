"""pytest wiring of pytest-rec (the ``pytest11`` entry point): options, fixtures, outcomes.

The plugin is inert in a run that collects no test marked ``rec``: nothing is started,
nothing is written. Per-run state lives in one ``RecRun`` object in ``config.stash``.

- ``_options``: command-line and ini options, normalised into ``Options``
- ``_run``: configuration, collection, restore at the end, the summary from case records
- ``_fixtures``: the fixtures (target, simulator, clients, the run's context)
- ``_outcomes``: one case record per check; known deviations; a target that stopped answering
- ``_xdist``: worker identity and grouping
- ``_spawn``: the helper processes started while pytest collects (simulator, fuzzing bodies)
- ``_state``: the per-run state object

May import: ``engine``, ``report``, ``gate``, ``client``, ``model``, ``pytest_rec.errors`` and the
simulator (to start the built-in one). Nothing imports the plugin but the suite and the CLIs.
"""

from ._fixtures import (_rec_allure, rec_admin, rec_case_session, rec_credentials, rec_ctx, rec_guard,
                        rec_record, rec_options, rec_other, rec_plain, rec_simulator, rec_target, rec_tenant,
                        rec_transcript, rec_waiter)
from ._options import pytest_addoption
from ._outcomes import opt_in, pytest_runtest_call, pytest_runtest_makereport, pytest_runtest_setup
from ._run import (pytest_collection_finish, pytest_collection_modifyitems, pytest_configure, pytest_generate_tests,
                   pytest_sessionfinish, pytest_terminal_summary, pytest_unconfigure)
from ._spawn import fuzz_bodies, fuzz_examples, pytest_collectstart
from ._state import RecRun, run_of
from ._xdist import group_count

__all__ = [
    # hooks
    "pytest_addoption", "pytest_configure", "pytest_collectstart", "pytest_generate_tests", "pytest_collection_modifyitems",
    "pytest_collection_finish",
    "pytest_runtest_setup", "pytest_runtest_call", "pytest_runtest_makereport", "pytest_sessionfinish", "pytest_terminal_summary",
    "pytest_unconfigure",
    # fixtures
    "rec_options", "rec_simulator", "rec_target", "rec_credentials", "rec_transcript", "rec_guard", "rec_waiter",
    "rec_admin", "rec_tenant", "rec_other", "rec_plain", "rec_ctx", "rec_case_session", "rec_record", "_rec_allure",
    # the per-run state, for other plugins; opt_in for checks a target may leave out
    "RecRun", "run_of", "opt_in", "fuzz_bodies", "fuzz_examples", "group_count",
]
