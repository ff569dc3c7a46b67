"""The plugin runs in-process under pytester (no subprocess): per-run state lives in config.stash,
so two runs in one process do not see each other's cases, options or secrets."""

from __future__ import annotations

import json

import pytest
from _pytest.pytester import SysModulesSnapshot

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _keep_modules(monkeypatch):
    """pytester drops the modules an in-process run imported; the next import then makes second
    copies (of cryptography, httpcore ...) whose classes no longer match the first ones, which
    breaks later tests of this process. Keep them: only the plugin's own state must not leak."""
    monkeypatch.setattr(SysModulesSnapshot, "restore", lambda self: None)

CHECKS = '''
import pytest

@pytest.mark.rec("REC-NOT-FOUND")
def test_named_check(rec_ctx):
    assert rec_ctx.target.kind == "sim"

@pytest.mark.rec("REC-AUTH")
def test_second(rec_ctx):
    assert rec_ctx.admin.token
'''


def _run(pytester, tmp_path, name):
    out = tmp_path / name
    result = pytester.runpytest_inprocess("--rec-report-dir", str(out), "-p", "no:cacheprovider")
    return result, json.loads((out / "compliance.json").read_text())


def test_two_runs_in_one_process_keep_their_own_state(pytester, tmp_path):
    pytester.makepyfile(test_checks=CHECKS)
    first, s1 = _run(pytester, tmp_path, "one")
    first.assert_outcomes(passed=2)
    second, s2 = _run(pytester, tmp_path, "two")
    second.assert_outcomes(passed=2)
    # each summary holds its own two cases, not the first run's as well
    assert [c["id"] for c in s1["cases"]] == [c["id"] for c in s2["cases"]] == ["test_named_check", "test_second"]
    assert s1["verdict"] == s2["verdict"] == "inconclusive"          # two checks prove no compliance
    assert s1["target"]["url"] != s2["target"]["url"]                # a simulator of its own per run
