"""The plugin, run as a user runs it: options, target files, safety, restore, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import start
from pytest_rec.simulator.targetfile import passwords, target_file_text

SUITE = ["--pyargs", "pytest_rec.suite", "-p", "no:cacheprovider", "-q"]


def _state(array, sids):
    snap = array.snapshot()
    return {sid: (snap[sid].get("transfer_mode"), snap[sid].get("split_mode"), snap[sid].get("recovery_mode"),
                  snap[sid]["phase"] == "Suspend") for sid in sids}


@pytest.fixture
def external(tmp_path, monkeypatch):
    """A simulator started separately, a target file for it, and the passwords in the environment."""
    servers = []

    def make(**settings):
        server = start(tls=True, **settings)
        servers.append(server)
        inv = server.array.inventory
        target = tmp_path / "target.toml"
        target.write_text(target_file_text(inv, server.base_url, str(server.ca_path)))
        for env, pw in passwords(inv).items():
            monkeypatch.setenv(env, pw)
        return server, target

    yield make
    for s in servers:
        s.stop()


WATCHED = [1, 2, 3, 4, 6, 7, 8, 9, 12]


def _run(args, cwd, timeout=300):
    return subprocess.run([sys.executable, "-m", "pytest", *SUITE, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def test_help_shows_the_rec_group(pytester):
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*pytest-rec*", "*--rec-target*", "*--rec-depth*", "*--rec-dry-run*",
                                 "*--rec-sim-defect*", "*--rec-journal*"])


def test_fixtures_are_documented(pytester):
    result = pytester.runpytest_subprocess("--fixtures")
    for name in ("rec_target", "rec_simulator", "rec_admin", "rec_tenant", "rec_ctx", "rec_case_session"):
        result.stdout.fnmatch_lines([f"{name}*"])


def test_inert_in_an_unrelated_project(pytester):
    pytester.makepyfile("def test_one():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()
    assert "pytest-rec" not in result.stdout.str()


@pytest.mark.parametrize("text, message", [
    ('url = "array:5665"\n', "url"),
    ('url = "https://a:5665"\n[users.admin]\nname = "a"\npassword = "x"\npassword_env = "X"\n'
     '[users.tenant]\nname = "t"\npassword_env = "T"\n', "password"),
    ('url = "https://a:5665"\n[users.admin]\nname="a"\npassword_env="A"\n[users.tenant]\nname="t"\n'
     'password_env="T"\n[sessions]\nwritable = []\ntenant_own = 1\ntenant_foreign = 2\nnon_rec = 3\n', "writable"),
    ("url = \n", "not valid TOML"),
])
def test_target_file_errors_name_file_and_key(pytester, text, message):
    target = pytester.path / "bad.toml"
    target.write_text(text)
    result = pytester.runpytest_subprocess(*SUITE, "--rec-target", str(target), "--rec-depth", "smoke")
    assert result.ret == 2
    result.stdout.fnmatch_lines([f"*bad.toml*{message}*"])


def test_missing_password_env_is_an_error(external, tmp_path, monkeypatch):
    server, target = external()
    monkeypatch.delenv("REC_TENANT_PASSWORD")
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke"], tmp_path)
    assert result.returncode == 2 and "REC_TENANT_PASSWORD is not set" in result.stdout + result.stderr


def test_preflight_stops_before_any_write(external, tmp_path):
    server, target = external()
    text = target.read_text().replace('source_volume_name = "prod_db#1"', 'source_volume_name = "other#9"')
    target.write_text(text)
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke"], tmp_path)
    assert result.returncode == 2 and "identity pin" in result.stdout
    writes = [r for r in server.array.request_log if r["method"] in ("PATCH", "POST") and "session" != r["path"][-7:]]
    assert not [r for r in writes if r["path"] != "/api/v1/session"]


def test_dry_run_sends_no_write(external, tmp_path):
    server, target = external()
    result = _run(["--rec-target", str(target), "--rec-dry-run"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    assert not [r for r in server.array.request_log if r["method"] in ("PATCH",) or r["path"].endswith(("suspend", "resume"))]


def test_passing_run_restores_sessions(external, tmp_path):
    server, target = external()
    before = _state(server.array, WATCHED)
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert _state(server.array, WATCHED) == before
    journal = json.loads((tmp_path / "reports" / "restore-journal.json").read_text())
    assert all(v["restored"] for v in journal["sessions"].values())


@pytest.mark.whole_run
def test_failing_run_restores_sessions(external, tmp_path):
    server, target = external(defects={"sticky-auto-restored", "omitted-recovery-reset", "active-patch-accepted"})
    before = _state(server.array, WATCHED)
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke"], tmp_path)
    assert result.returncode == 1
    assert _state(server.array, WATCHED) == before


class _BreaksAfter(list):
    """The simulator's request log, which switches the copy path off at the Nth request: from then on
    every job fails, so the sessions the run changed cannot be put back (decided by the run's own
    progress, not by a timer)."""

    def __init__(self, array, n):
        super().__init__()
        self.array, self.n = array, n

    def append(self, item):
        super().append(item)
        if len(self) == self.n:
            self.array.settings.copy_path_down = "all"


def test_unrestorable_session_is_a_loud_error(external, tmp_path):
    """An array that cannot be put back is reported, never hidden: exit 2, and the last lines name the
    sessions not put back and the rec-restore command."""
    server, target = external()
    server.array.request_log = _BreaksAfter(server.array, 150)
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke"], tmp_path)
    assert result.returncode == 2, result.stdout[-3000:]
    assert "RESTORE FAILED" in result.stderr + result.stdout
    summary = json.loads((tmp_path / "reports" / "compliance.json").read_text())
    assert summary["restore"]["failed"] and "RESTORE FAILED" in (tmp_path / "reports" / "compliance.md").read_text()
    lines = result.stdout.strip().splitlines()
    journal = tmp_path / "reports" / "restore-journal.json"
    command, path = lines[-1].split(" ", 1)
    assert Path(command).name == "rec-restore" and path == str(journal.resolve())     # a command the shell can run
    assert command == "rec-restore" or Path(command).is_file()
    assert lines[-2].startswith("pytest-rec: sessions NOT put back: ")
    named = {int(s) for s in lines[-2].split(": ")[-1].split(", ")}
    assert {f["session"] for f in summary["restore"]["failed"]} == named


CHAOS = os.path.join(os.path.dirname(__file__), "chaos")


def _stopped_at(target, tmp_path, sig, exchange):
    """Run the suite and send it ``sig`` at its own Nth HTTP exchange (tests/chaos/rec_chaos.py)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([CHAOS, os.environ.get("PYTHONPATH", "")]),
               REC_CHAOS_SIGNAL=sig.name, REC_CHAOS_AT=f"exchange:{exchange}",
               REC_CHAOS_LOG=str(tmp_path / "chaos.log"))
    proc = subprocess.run([sys.executable, "-m", "pytest", *SUITE, "-p", "rec_chaos", "--rec-target", str(target)],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert (tmp_path / "chaos.log").exists(), "the interrupt point was never reached"
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.whole_run
def test_interrupted_run_restores_sessions(external, tmp_path):
    server, target = external(job_latency=0.05)
    before = _state(server.array, WATCHED)
    code, out = _stopped_at(target, tmp_path, signal.SIGINT, 150)
    assert code == 2, out[-3000:]                      # never 0, never "the array deviated"
    assert _state(server.array, WATCHED) == before, out[-3000:]
    assert json.loads((tmp_path / "reports" / "compliance.json").read_text())["interrupted"] == "SIGINT"


@pytest.mark.whole_run
def test_killed_run_then_rec_restore(external, tmp_path):
    server, target = external(job_latency=0.05)
    before = _state(server.array, WATCHED)
    code, out = _stopped_at(target, tmp_path, signal.SIGKILL, 150)
    assert code == -signal.SIGKILL
    journal = tmp_path / "reports" / "restore-journal.json"
    assert json.loads(journal.read_text())["sessions"]
    restore = subprocess.run([sys.executable, "-m", "pytest_rec.cli_restore", str(journal), "--rec-target",
                              str(target)], capture_output=True, text=True, timeout=120)
    assert restore.returncode == 0, restore.stdout + restore.stderr
    assert _state(server.array, WATCHED) == before


def test_no_secret_in_any_report_file(external, tmp_path):
    server, target = external()
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke", "--junitxml", "reports/junit.xml",
                   "--alluredir", "reports/allure-results"], tmp_path)
    assert result.returncode == 0, result.stdout[-2000:]
    secrets = set(server.array.issued_secrets) | set(passwords(server.array.inventory).values())
    assert len(server.array.issued_secrets) >= 3
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "transcript.jsonl" for p in files)
    for p in files:
        text = p.read_bytes().decode("utf-8", "replace")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{p} holds a secret"


def test_no_token_in_a_failing_check_s_traceback(external, tmp_path):
    """pytest's long tracebacks print every frame's arguments: the token a failing auth check passed
    to its helper must still be redacted in JUnit, Allure and the console."""
    server, target = external(defects={"logout-keeps-token"})
    result = _run(["--rec-target", str(target), "--rec-depth", "smoke", "--tb", "long", "-k", "test_auth",
                   "--junitxml", "reports/junit.xml", "--alluredir", "reports/allure-results"], tmp_path)
    assert result.returncode == 1, result.stdout[-2000:]
    junit = (tmp_path / "reports" / "junit.xml").read_text()
    shown = junit.replace("&#x27;", "'")
    assert "token = '***'" in shown or "token = ***" in shown or \
        "tokens = {'the token of a session that logged out': '***'" in shown, junit[-3000:]   # the frame's argument
    secrets = set(server.array.issued_secrets) | set(passwords(server.array.inventory).values())
    files = [p for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    for text, where in [(p.read_bytes().decode("utf-8", "replace"), str(p)) for p in files] + [
            (result.stdout + result.stderr, "the console")]:
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{where} holds a secret"


def test_ini_options_are_read(pytester):
    """rec_depth and rec_report_dir from an ini file act like the command-line options."""
    pytester.makeini("[pytest]\nrec_depth = smoke\nrec_report_dir = out\n")
    result = pytester.runpytest_subprocess(*SUITE, "--rec-dry-run")
    assert result.ret == 0
    summary = json.loads((pytester.path / "out" / "plan.json").read_text())
    assert summary["depth"] == "smoke" and summary["dry_run"] is True
    result.stdout.fnmatch_lines(["*dry run: 8 matrix cases*"])


def test_unknown_defect_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess(*SUITE, "--rec-sim-defect", "no-such-defect")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown defect profile*no-such-defect*"])


def test_collect_only_lists_the_checks_and_judges_nothing(tmp_path):
    """`--collect-only` is a listing, not a run: exit 0, no verdict, no report written, and it says so."""
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "pytest", *SUITE, "--co", "--rec-report-dir", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "pytest-rec: collect only: 379 check(s) listed; nothing was sent" in proc.stdout, proc.stdout[-1500:]
    assert "VERDICT" not in proc.stdout
    assert not (out / "compliance.json").exists()


def test_offline_alone_is_a_dry_run_and_sends_nothing(external, tmp_path):
    """`--rec-offline` without `--rec-dry-run` once ran the suite and wrote to the array: it is a dry
    run that does not contact the target, whatever else is asked."""
    server, target = external()
    proc = subprocess.run([str(Path(sys.executable).parent / "rec-compliance"), "--rec-target", str(target),
                           "--rec-offline", "--rec-lanes", "1", "-k", "test_tenant_allowed_on_own_session",
                           "--rec-report-dir", str(tmp_path / "r")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "--rec-offline, so the target was not contacted" in proc.stdout, proc.stdout[-2000:]
    assert server.array.request_log == [], server.array.request_log[:5]      # not one request reached the array


def test_a_journal_of_a_run_still_going_is_not_restored_under_it(external, tmp_path, monkeypatch):
    """A second user in the same folder is told to run rec-restore while the first run is still
    going: rec-restore, and a new run, refuse while the journal's own process is alive (restoring
    under a live run gave it a false non-compliant verdict). Once that process is gone, rec-restore
    puts the session back."""
    from pytest_rec.engine.restore import Journal
    from pytest_rec.model.target import load_target

    monkeypatch.setenv("REC_STATE_DIR", str(tmp_path / "state"))
    server, target_path = external()
    target = load_target(str(target_path))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    bin_dir = Path(sys.executable).parent
    try:
        journal = Journal(tmp_path / "reports" / "restore-journal.json", target)
        journal.data["pid"] = live.pid
        now = server.array.snapshot()[1]
        original = {k: now[k] for k in ("transfer_mode", "split_mode", "recovery_mode", "phase")}
        original["recovery_mode"] = "Manual" if now["recovery_mode"] == "Automatic" else "Automatic"
        journal.record(1, original)
        sent = len(server.array.request_log)
        proc = subprocess.run([str(bin_dir / "rec-restore"), str(journal.path)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120, env=os.environ.copy())
        assert proc.returncode == 2 and f"still in progress (pid {live.pid}" in proc.stderr, proc.stdout + proc.stderr
        assert len(server.array.request_log) == sent
        run = subprocess.run([str(bin_dir / "rec-compliance"), "--rec-target", str(target_path), "--rec-lanes", "1",
                              "--rec-report-dir", str(tmp_path / "reports"), "-k", "test_unknown_id"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300, env=os.environ.copy())
        assert run.returncode == 2 and "in progress (pid" in run.stdout + run.stderr, run.stdout[-2000:]
        assert not [r for r in server.array.request_log[sent:] if r["method"] in ("PATCH", "POST")
                    and "/session" not in r["path"]]
    finally:
        live.kill()
        live.wait()
    proc = subprocess.run([str(bin_dir / "rec-restore"), str(journal.path)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert server.array.snapshot()[1]["recovery_mode"] == original["recovery_mode"]


def test_an_earlier_runs_files_are_not_taken_for_this_runs_evidence(tmp_path):
    """A second rec-compliance in the same report folder: the first run's transcripts (another lane
    count, another target), target.json and restored journals are gone before the run starts, so the
    manifest hashes only this run's files; a journal still holding a session is kept (and refused)."""
    from pytest_rec.cli import _clear_earlier_outputs

    reports = tmp_path / "reports"
    reports.mkdir()
    for name in ("transcript.gw3.jsonl", "transcript.jsonl", "target.json", "compliance.md", "MANIFEST.sha256"):
        (reports / name).write_text("{}\n")
    (reports / "restore-journal.gw1.json").write_text(json.dumps({"kind": "array", "sessions": {"1": {"restored": True}}}))
    pending = {"kind": "array", "sessions": {"2": {"restored": False}}}
    (reports / "restore-journal.gw2.json").write_text(json.dumps(pending))
    _clear_earlier_outputs(reports)
    assert sorted(p.name for p in reports.iterdir()) == ["restore-journal.gw2.json"]


def test_junit_carries_the_verdict_as_the_exit_code_says(external, tmp_path, monkeypatch):
    """A CI dashboard reading only junit.xml: a run stopped by a wrong password shows an error (it
    showed 0 tests, 0 failures); a deviation a failure; exit 0 a passed verdict case."""
    import xml.etree.ElementTree as ET

    from pytest_rec.cli import _junit_verdict

    monkeypatch.setenv("REC_HTML", "0")
    for code, kind in ((2, "error"), (1, "failure"), (0, None)):
        junit = tmp_path / f"junit-{code}.xml"
        junit.write_text('<?xml version="1.0"?><testsuites name="pytest tests"><testsuite name="pytest" errors="0" '
                         'failures="0" skipped="0" tests="0"></testsuite></testsuites>')
        _junit_verdict(junit, code, f"VERDICT: for exit {code}")
        suite = ET.parse(junit).getroot().find("testsuite")
        verdict = suite.find("testcase[@name='verdict']")
        assert suite.get("tests") == "1" and verdict is not None
        if kind is None:
            assert suite.get("errors") == suite.get("failures") == "0" and verdict.find("failure") is None
        else:
            assert suite.get("errors" if kind == "error" else "failures") == "1"
            assert verdict.find(kind).get("message") == f"VERDICT: for exit {code}"
    # a real run stopped at once by a wrong password: exit 2, and the junit file says error
    server, target = external()
    monkeypatch.setenv("REC_ADMIN_PASSWORD", "wrong-password")
    out = tmp_path / "r"
    proc = subprocess.run([str(Path(sys.executable).parent / "rec-compliance"), "--rec-target", str(target),
                           "--rec-report-dir", str(out), "--rec-lanes", "1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    verdict = suite.find("testcase[@name='verdict']")
    assert proc.returncode == 2 and verdict is not None and verdict.find("error") is not None, proc.stdout[-1500:]
    assert "wrong-password" not in (out / "junit.xml").read_text()
