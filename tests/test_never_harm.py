"""Never harm an array (issue 13), against a separately started ``rec-sim`` process, the way a
user runs the suite against a real array: ``rec-compliance --rec-target FILE``.

- Chaos: a run is interrupted with SIGINT, SIGTERM, SIGHUP or SIGKILL at a point of its own
  progress (the Nth HTTP exchange, the Nth job poll, inside the fuzzing checks, during collection,
  as the summary is written: ``tests/chaos/rec_chaos.py``), and every time every named session
  must read, over HTTP, as it did before the run: after the run's own restore (exit 2) or, after a
  SIGKILL, after ``rec-restore`` of its journal (exit 0).
- A killed run, then a run from another folder against a target that pins a baseline: refused.
- ``-n 2`` and ``-n 4`` against one shared, correct simulator: compliant, three times each.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
CHAOS = Path(__file__).with_name("chaos")


class RecSim:
    """A ``rec-sim`` process with TLS, slow jobs, and the target file it wrote."""

    def __init__(self, folder: Path, *options: str):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.target = folder / "target.toml"
        self.proc = subprocess.Popen([str(BIN / "rec-sim"), "--port", str(port), "--tls", "--target-out",
                                      str(self.target), *options], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.env: dict[str, str] = {}
        for line in self.proc.stdout:
            found = re.match(r"\s*export (\w+)='(.*)'", line)
            if found:
                self.env[found.group(1)] = found.group(2)
            if "target file written" in line:
                break
        else:
            raise RuntimeError("rec-sim did not start")
        data = tomllib.loads(self.target.read_text())
        self.data, self.url = data, data["url"]
        s = data["sessions"]
        self.named = sorted(set(s["writable"]) | set(s.get("active", [])) |
                            {s[k] for k in ("tenant_own", "tenant_foreign", "non_rec", "tenant_own_destination")
                             if k in s})
        admin = data["users"]["admin"]
        self.admin = (admin["name"], self.env[admin["password_env"]])
        self.verify = ssl.create_default_context(cafile=data["verify"])

    def states(self) -> dict[int, tuple]:
        """(transfer, split, recovery, suspended) of every named session, read over HTTP."""
        with httpx.Client(base_url=self.url + "/api/v1", verify=self.verify, timeout=10) as http:
            token = http.post("/session", json={"user_name": self.admin[0], "password": self.admin[1]}).json()
            headers = {"Authorization": f"Bearer {token['token']}"}
            out = {}
            for sid in self.named:
                s = http.get(f"/copysession/{sid}", headers=headers).json()
                out[sid] = (s.get("transfer_mode"), s.get("split_mode"), s.get("recovery_mode"),
                            s.get("phase") == "Suspend")
            http.delete(f"/session/{token['session_id']}", headers=headers)
            return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def compliance(sim: RecSim, cwd: Path, *args: str, chaos: dict | None = None, timeout: float = 900,
               env: dict | None = None):
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **sim.env, "PYTHONPATH": os.pathsep.join([str(CHAOS), os.environ.get("PYTHONPATH", "")]),
           **(env or {})}
    env.update({f"REC_CHAOS_{k.upper()}": str(v) for k, v in (chaos or {}).items()})
    env["REC_CHAOS_LOG"] = str(cwd / "chaos.log")
    # one process unless the point is the lanes (-n): the interrupt lands at the run's own Nth exchange,
    # and a kill leaves the one journal rec-restore is given
    lanes = [] if any(a == "-n" or a.startswith("--rec-lanes") for a in args) else ["--rec-lanes", "1"]
    return subprocess.run([str(BIN / "rec-compliance"), "--rec-target", str(sim.target), "-p", "rec_chaos", *lanes,
                           *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def rec_restore(sim: RecSim, journal: Path, cwd: Path, env: dict | None = None):
    return subprocess.run([str(BIN / "rec-restore"), str(journal)], cwd=cwd,
                          env={**os.environ, **sim.env, **(env or {})}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def chaos_sim(tmp_path_factory):
    sim = RecSim(tmp_path_factory.mktemp("chaos-sim"), "--job-latency", "0.05")
    sim.original = sim.states()
    yield sim
    sim.stop()


# (signal, where): spread over the whole run of a smoke depth (about 500 exchanges; the fuzzing
# checks come second, after the authentication checks)
POINTS = [
    ("SIGINT", "collection"), ("SIGINT", "exchange:3"), ("SIGINT", "exchange:45"), ("SIGINT", "test:test_fuzz:5"),
    ("SIGINT", "job:30"), ("SIGINT", "exchange:260"), ("SIGINT", "finish"),
    ("SIGTERM", "exchange:12"), ("SIGTERM", "test:test_fuzz:25"), ("SIGTERM", "job:10"), ("SIGTERM", "exchange:150"),
    ("SIGTERM", "exchange:420"), ("SIGTERM", "finish"),
    ("SIGHUP", "collection"), ("SIGHUP", "exchange:70"), ("SIGHUP", "test:test_fuzz:45"), ("SIGHUP", "job:55"),
    ("SIGHUP", "exchange:330"),
    ("SIGKILL", "exchange:30"), ("SIGKILL", "test:test_fuzz:12"), ("SIGKILL", "job:20"), ("SIGKILL", "exchange:200"),
    ("SIGKILL", "exchange:380"),
]


# with -n 2, the signal goes to the xdist controller, at the Nth test report it receives
PARALLEL_POINTS = [("SIGTERM", "report:15"), ("SIGINT", "report:40")]


@pytest.mark.whole_run
@pytest.mark.parametrize("sig, where", POINTS + PARALLEL_POINTS,
                         ids=[f"{s}@{w}" for s, w in POINTS] + [f"{s}@{w}-n2" for s, w in PARALLEL_POINTS])
def test_interrupt_leaves_every_session_as_found(chaos_sim, tmp_path, sig, where):
    workers = ["-n", "2"] if where.startswith("report:") else []
    result = compliance(chaos_sim, tmp_path, "--rec-depth", "smoke", *workers, chaos={"signal": sig, "at": where})
    out = result.stdout + result.stderr
    fired = (tmp_path / "chaos.log").read_text() if (tmp_path / "chaos.log").exists() else ""
    assert fired, f"the interrupt point {where} was never reached:\n{out[-2000:]}"
    journals = sorted((tmp_path / "reports").glob("restore-journal*.json"))
    if sig == "SIGKILL":
        assert result.returncode == -signal.SIGKILL, out[-2000:]
        for journal in journals:
            restored = rec_restore(chaos_sim, journal, tmp_path)
            assert restored.returncode == 0, restored.stdout + restored.stderr
    else:
        assert result.returncode == 2, f"{fired}exit {result.returncode}\n{out[-3000:]}"
        for journal in journals:
            assert not [k for k, v in json.loads(journal.read_text())["sessions"].items() if not v["restored"]]
        summary = tmp_path / "reports" / "compliance.json"
        assert summary.exists(), f"no summary after {sig} at {where}:\n{out[-2000:]}"
        if where != "finish":       # at finish the summary may be written before the signal is noted
            assert json.loads(summary.read_text())["interrupted"] == sig, out[-2000:]
        assert json.loads(summary.read_text())["verdict"] == "inconclusive" or where == "finish"
    assert chaos_sim.states() == chaos_sim.original, f"{fired}{out[-3000:]}"


@pytest.mark.whole_run
def test_second_signal_during_the_restore_leaves_the_journal(chaos_sim, tmp_path):
    """A second SIGTERM while the sessions are being put back: the run stops there, keeps the journal,
    and its last line is the rec-restore command, which then puts the array back."""
    # one lane: the same checks in the same order every time, and the signal at the 3rd PATCH of the
    # matrix (a count that does not depend on timing, as the number of job polls does): its job moves
    # the session, whatever the restore does before the second signal (with lanes, which lane reaches
    # that PATCH first, and in what state, varies from run to run)
    result = compliance(chaos_sim, tmp_path, "--rec-depth", "smoke", "--rec-lanes", "1",
                        chaos={"signal": "SIGTERM", "at": "patch:test_matrix:3", "again": 1})
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 2, result.stdout[-3000:] + result.stderr[-2000:]
    assert Path(lines[-1].split()[0]).name == "rec-restore", lines[-5:]
    assert "NOT put back" in lines[-2]
    journal = Path(lines[-1].split()[1])
    assert [k for k, v in json.loads(journal.read_text())["sessions"].items() if not v["restored"]]
    assert chaos_sim.states() != chaos_sim.original     # the check can fail: the run really left a change
    restored = rec_restore(chaos_sim, journal, tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert chaos_sim.states() == chaos_sim.original


@pytest.mark.whole_run
def test_killed_run_then_a_fresh_workspace_is_refused_until_rec_restore(tmp_path):
    """A run killed on one machine, then a run from a new CI workspace (another folder, another report
    folder): refused while the journal is pending, from this user's state directory; from another
    machine (another state directory) refused by the target's baseline pins, naming the difference.
    ``rec-restore`` with the first journal puts the array back, and both copies read restored."""
    sim = RecSim(tmp_path, "--job-latency", "0.05")
    try:
        original = sim.states()
        for n in (6, 9, 14, 20, 27):           # a kill whose PATCH left a session changed
            killed = compliance(sim, tmp_path / "ci-1", "--rec-depth", "smoke",
                                chaos={"signal": "SIGKILL", "at": f"patch:test_matrix:{n}"})
            assert killed.returncode == -signal.SIGKILL, killed.stdout[-2000:]
            damaged = sim.states()
            time.sleep(0.3)                  # the PATCH the kill followed still completes (50 ms jobs)
            while damaged != (damaged := sim.states()):
                time.sleep(0.3)
            if damaged != original:
                break
            assert rec_restore(sim, tmp_path / "ci-1" / "reports" / "restore-journal.json", tmp_path).returncode == 0
        assert damaged != original, "no kill left a session changed: this test would prove nothing"
        journal = tmp_path / "ci-1" / "reports" / "restore-journal.json"

        same_user = compliance(sim, tmp_path / "ci-2", "--rec-depth", "smoke", "--rec-report-dir", "out")
        out = same_user.stdout + same_user.stderr
        assert same_user.returncode == 2, out[-2000:]
        assert "rec-restore" in out and "did not put every session back" in out, out[-2000:]

        other = {"REC_STATE_DIR": str(tmp_path / "another-machine")}
        other_machine = compliance(sim, tmp_path / "ci-3", "--rec-depth", "smoke", "--rec-report-dir", "out",
                                   env=other)
        out = other_machine.stdout + other_machine.stderr
        assert other_machine.returncode == 2, out[-2000:]
        assert "differs from its baseline" in out and "the baseline says" in out, out[-2000:]
        assert sim.states() == damaged                  # nothing was sent: the damage is as the kill left it
        assert not list((tmp_path / "ci-3").rglob("restore-journal*.json"))
        assert not list((tmp_path / "another-machine").rglob("*.json"))     # no journal (only the run lock)

        restored = rec_restore(sim, journal, tmp_path / "ci-2")
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert sim.states() == original
        copies = json.loads(journal.read_text())["copies"]
        assert len(copies) == 2 and all(
            all(v["restored"] for v in json.loads(Path(c).read_text())["sessions"].values()) for c in copies)
        again = compliance(sim, tmp_path / "ci-2", "--rec-depth", "smoke", "--rec-report-dir", "out",
                           "-k", "test_non_rec_session_refused")
        assert "1 passed" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]    # no longer refused
    finally:
        sim.stop()


@pytest.mark.whole_run
@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_runs_on_one_array_are_compliant(tmp_path, workers):
    """-n N against one shared, correct array: each worker owns its writable sessions and REC-ISOLATION
    compares only sessions that no worker writes, so the verdict is the sequential one, every time."""
    sim = RecSim(tmp_path)
    try:
        original = sim.states()
        for i in range(3):
            result = compliance(sim, tmp_path / f"run-{i}", "-n", str(workers))
            summary = json.loads((tmp_path / f"run-{i}" / "reports" / "compliance.json").read_text())
            assert (summary["verdict"], result.returncode) == ("compliant", 0), \
                f"run {i}: {summary['verdict_reason']}\n{result.stdout[-3000:]}"
            assert sim.states() == original
    finally:
        sim.stop()


def _inventory_with_unnamed_neighbours(folder: Path) -> Path:
    """The default inventory, but the writable sessions are 20, 22, 24 and 26, each followed by a REC
    session no target names (21, 23, 25, 27): a leak to the next id always lands on a witness that no
    worker writes, whichever worker runs the isolation check and however the sessions are split."""
    from pytest_rec.simulator.inventory import DEFAULT_INVENTORY

    box = "00ETERNUSDXHS3ET00000A####EI000001######"
    volumes, sessions = [], []
    for sid in range(20, 28):
        volumes.append(f'  {{ volume_id = {700000 + sid}, number = {3000 + 2 * sid}, name = "n#{sid}" }},\n'
                       f'  {{ volume_id = {800000 + sid}, number = {3001 + 2 * sid}, name = "n#{sid}_rep" }},\n')
        sessions.append(f'  {{ copysession_id = {sid}, type = "REC", source_volume = {700000 + sid}, '
                        f'destination_volume = {800000 + sid}, phase = "Suspend", transfer_mode = "Synchronous", '
                        f'split_mode = "Automatic", recovery_mode = "Automatic", remote_boxid = "{box}", '
                        f'remote_copysession_id = {sid} }},\n')
    text = DEFAULT_INVENTORY.read_text()
    text = text.replace("volumes = [\n", "volumes = [\n" + "".join(volumes), 1)
    text = text.replace("sessions = [\n", "sessions = [\n" + "".join(sessions), 1)
    text = re.sub(r"^writable = \[.*\]$", "writable = [20, 22, 24, 26]", text, count=1, flags=re.M)
    path = folder / "inventory.toml"
    path.write_text(text)
    return path


@pytest.mark.whole_run
@pytest.mark.parametrize("workers, neighbours", [(1, False), (1, True), (2, True), (4, True)])
def test_parallel_runs_still_catch_a_leak_to_a_neighbour(tmp_path, workers, neighbours):
    """The defect profile neighbour-recovery-leak (a recovery_mode change also lands on the session with
    the next id) is caught in a one-process run on the default inventory (its other writable sessions
    are witnesses: nothing else changes them), and, on an array where the next id of each writable
    session is a session no one writes, with 1, 2 or 4 workers alike: REC-ISOLATION alone."""
    inventory = ["--inventory", str(_inventory_with_unnamed_neighbours(tmp_path))] if neighbours else []
    sim = RecSim(tmp_path, "--defect", "neighbour-recovery-leak", *inventory)
    try:
        result = compliance(sim, tmp_path / "run", "--rec-depth", "smoke", "-n", str(workers))
        summary = json.loads((tmp_path / "run" / "reports" / "compliance.json").read_text())
        failed = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
        assert "REC-ISOLATION" in failed and summary["verdict"] == "non-compliant", result.stdout[-3000:]
        if neighbours:
            assert failed == {"REC-ISOLATION"}, result.stdout[-3000:]
        assert result.returncode == 1
    finally:
        sim.stop()


# ------------------------------------------------------------------ fast checks of the pieces
def _sim_target(server, **extra):
    from pytest_rec.simulator.targetfile import target_data
    from pytest_rec.model.target import parse_target

    data = target_data(server.array.inventory, server.base_url, True)
    data["sessions"].update(extra)
    return parse_target(data, "sim-target.toml", kind="array")


def test_a_restore_step_cut_off_is_retried_from_a_fresh_read(make_sim, tmp_path):
    """The PATCH of a restore step reaches the array but its reply is lost (connection reset): the
    restore never takes that as "nothing happened"; it reads the session again and goes on. The
    control: an array that never takes a PATCH (every one cut before it is sent) leaves the session
    pending with the attempt noted, so the check can fail."""
    import httpx as _httpx

    from pytest_rec.client.rest import Credentials, RecClient
    from pytest_rec.client.transcript import Transcript
    from pytest_rec.engine.context import make_guard
    from pytest_rec.model.behaviour import Modes
    from pytest_rec.engine.restore import Journal, restore_pending
    from pytest_rec.engine.sessions import Operator

    for attempts, restored in ((1, False), (3, True)):
        # restored=False: every PATCH is cut before it reaches the array; True: the first PATCH's reply is lost
        server, raw = make_sim()
        target = _sim_target(server)
        admin = RecClient(target.url, Credentials("admin", "qa_admin", "sim-admin-Pa55"), verify=True,
                          guard=make_guard(target), transcript=Transcript()).login()
        journal = Journal(tmp_path / f"journal-{attempts}.json", target)
        journal.record(1, admin.get_copysession(1))          # Stack / Manual / Automatic, suspended
        op = Operator(target, admin, 10)
        op.set_modes(1, op.read(1), Modes("Synchronous", "Manual", "Manual"))
        send, cut = admin.http.send, []

        def reset_after_patch(request, _never=not restored, **kw):
            if request.method == "PATCH" and _never:
                cut.append(request.url.path)
                raise _httpx.ConnectError("connection refused", request=request)
            response = send(request, **kw)
            if request.method == "PATCH" and not cut:
                cut.append(request.url.path)
                raise _httpx.ReadError("connection reset by peer", request=request)
            return response
        admin.http.send = reset_after_patch
        _, failures = restore_pending(op, journal, attempts=attempts, pause=0.01)
        assert cut, "the fault was never injected"
        assert (not failures) is restored and (journal.pending() == []) is restored, failures
        if restored:
            assert op.read(1).modes == Modes("Stack", "Manual", "Automatic") and op.read(1).suspended
        else:
            assert journal.data["sessions"]["1"]["note"].startswith("attempt 1 of 1: ")
        admin.close()


def test_baseline_and_active_in_the_target_file(make_sim):
    from pytest_rec.engine.context import make_guard
    from pytest_rec.model.target import TargetFileError

    server, _ = make_sim()
    target = _sim_target(server, active=[9], baseline={"1": {"transfer_mode": "Stack", "suspended": True}})
    assert target.baseline == {1: {"transfer_mode": "Stack", "suspended": True}} and target.active == [9]
    guard = make_guard(target)
    assert guard.allows("PATCH", "/api/v1/copysession/9") and guard.allows("GET", "/api/v1/copysession/9")
    assert not guard.allows("POST", "/api/v1/copysession/9/suspend")
    assert not guard.allows("POST", "/api/v1/copysession/9/resume")
    assert 9 in target.written and {1, 2, 3, 4, 6, 8}.issubset(target.written)
    for bad, message in (({"1": {"phase": "Suspend"}}, "unknown key phase"),
                         ({"77": {"suspended": True}}, "not a session this file names"),
                         ({"1": {"suspended": "yes"}}, "expected a bool")):
        with pytest.raises(TargetFileError, match=message):
            _sim_target(server, baseline=bad)


def test_journal_in_two_places_and_pending_from_either(make_sim, tmp_path, monkeypatch):
    """Each write goes to the report folder and to the state directory keyed by the target; a pending
    journal is found from either (a fresh workspace sees the state copy); the run's own journals
    (same run id) and restored ones do not count; a reopened journal marks every copy."""
    from pytest_rec.engine.restore import Journal, pending_journals, target_journal_dir

    monkeypatch.setenv("REC_STATE_DIR", str(tmp_path / "state"))
    server, _ = make_sim()
    target = _sim_target(server)
    journal = Journal(tmp_path / "ci-1" / "reports" / "restore-journal.json", target, run_id="run-1")
    journal.record(1, {"transfer_mode": "Stack", "split_mode": "Manual", "recovery_mode": "Automatic",
                       "phase": "Suspend"})
    mirror = Path(journal.data["copies"][1])
    assert mirror.parent == target_journal_dir(target.url) and json.loads(mirror.read_text())["sessions"]["1"]
    fresh = tmp_path / "ci-2" / "reports" / "restore-journal.json"
    assert pending_journals(target.url, fresh) == [(mirror, [1])]
    assert pending_journals(target.url, journal.path) and not pending_journals(target.url, fresh, "run-1")
    assert not pending_journals(target.url.replace("127.0.0.1", "localhost"), fresh)
    reopened = Journal.reopen(mirror, target)
    reopened.mark(1, True, "put back")
    assert not pending_journals(target.url, journal.path)
    assert json.loads(journal.path.read_text())["sessions"]["1"]["restored"] is True


def test_isolation_witnesses_are_sessions_no_process_writes(make_sim, tmp_path):
    """Under xdist, REC-ISOLATION compares only sessions that no worker writes (another worker's
    writable, tenant or active session may change at any moment); in a one-process run every other
    REC session is a witness, since the process changes one session at a time."""
    from pytest_rec.client.rest import Credentials, RecClient
    from pytest_rec.client.transcript import Transcript
    from pytest_rec.engine.context import Options, RecContext, make_guard
    from pytest_rec.engine.restore import Journal
    from pytest_rec.engine.sessions import Operator, SessionPool

    server, _ = make_sim()
    target = _sim_target(server)
    assert target.active == [9] and target.tenant_sessions      # what the default inventory names
    admin = RecClient(target.url, Credentials("admin", "qa_admin", "sim-admin-Pa55"), guard=make_guard(target),
                      transcript=Transcript()).login()
    rec = {s["copysession_id"] for s in admin.list_copysessions() if s.get("type") == "REC"}
    op = Operator(target, admin, 10)
    for workers, mine, witnesses in ((2, [1, 3], rec - target.written), (1, target.writable, rec - {1})):
        ctx = RecContext(Options(), target, admin, admin, None, None, admin.transcript,  # type: ignore[arg-type]
                         Journal(tmp_path / "j.json", target), op, SessionPool(op, mine), workers=workers)
        assert set(ctx.fingerprints(exclude={1})) == witnesses, workers
    assert rec - target.written, "no REC session outside the run: nothing would witness a leak"
    admin.close()


@pytest.mark.whole_run
def test_a_job_that_never_ends_sets_its_session_aside(tmp_path):
    """An array whose jobs to Consistency never end: after a job times out, the suite sends no further
    change (PATCH, suspend, resume) to that session for the rest of the run, restore included (CONTRACT
    section 1: each job waited for before the next change to its session); the run is inconclusive,
    exit 2, and names the sessions not put back. The control: the same run on a correct array sends
    changes to a session after its Consistency jobs."""
    def run(name: str, *options: str):
        out = tmp_path / name
        proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "--rec-depth",
                               "smoke", "--rec-job-timeout", "1", *options], cwd=tmp_path, capture_output=True,
                              text=True, timeout=600)
        rows = [json.loads(line) for line in (out / "transcript.jsonl").read_text().splitlines()]
        return proc, rows

    def changes_after_a_consistency_job(rows) -> list[str]:
        later, seen = [], set()
        for r in rows:
            if r["method"] not in ("PATCH", "POST") or "/copysession/" not in r["path"]:
                continue
            sid = r["path"].split("/")[4]
            if sid in seen:
                later.append(f"{r['method']} {r['path']} {r['request_body']}")
            if r["status"] == 202 and isinstance(r["request_body"], dict) \
                    and r["request_body"].get("transfer_mode") == "Consistency":
                seen.add(sid)
        return later

    proc, rows = run("hung", "--rec-sim-option", "hung_jobs_to=Consistency")
    assert proc.returncode == 2, proc.stdout[-3000:]
    assert changes_after_a_consistency_job(rows) == []
    summary = json.loads((tmp_path / "hung" / "compliance.json").read_text())
    assert summary["verdict"] == "inconclusive"
    assert any("set aside for the rest of the run" in c.get("detail", "") for c in summary["cases"])
    assert "sessions NOT put back" in proc.stdout
    proc, rows = run("control")
    assert proc.returncode == 0 and changes_after_a_consistency_job(rows), proc.stdout[-2000:]   # smoke: narrowed


def test_a_restore_takes_the_fields_one_by_one_when_a_combined_body_always_fails(make_sim, tmp_path):
    """An array that answers 500 to one combined body every time (transfer mode Consistency with recovery
    Manual): every ordinary path to Consistency/Manual/Manual ends with that body, so the restore falls
    back to one field per body and puts the session back. The control: without that last resort (paths
    given to the restore loop only), the session is not put back."""
    from pytest_rec.client.rest import Credentials, RecClient
    from pytest_rec.client.transcript import Transcript
    from pytest_rec.engine.context import make_guard
    from pytest_rec.errors import TargetError
    from pytest_rec.model.behaviour import Modes, one_field_path
    from pytest_rec.engine.sessions import Operator

    server, _ = make_sim(patch_500_body="transfer_mode=Consistency;recovery_mode=Manual")
    target = _sim_target(server)
    admin = RecClient(target.url, Credentials("admin", "qa_admin", "sim-admin-Pa55"), verify=True,
                      guard=make_guard(target), transcript=Transcript()).login()
    op = Operator(target, admin, 10)
    wanted = Modes("Consistency", "Manual", "Manual")
    here = op.set_modes(1, op.read(1), Modes("Synchronous", "Manual", "Manual"))
    assert one_field_path(here.modes, wanted) == [{"transfer_mode": "Consistency"}]
    import pytest_rec.engine.putting_back as putting_back

    original = putting_back.one_field_path
    putting_back.one_field_path = lambda current, wanted: []          # the control: no last resort
    try:
        with pytest.raises(TargetError, match="could not be put back"):
            op.set_modes(1, op.read(1), wanted, restoring=True)
    finally:
        putting_back.one_field_path = original
    after = op.set_modes(1, op.read(1), wanted, restoring=True)
    assert after.modes == wanted and op.read(1).modes == wanted
    refused = [e for e in admin.transcript.exchanges if e.method == "PATCH" and e.status == 500]
    assert refused and all(e.request_body == {"transfer_mode": "Consistency", "recovery_mode": "Manual"}
                           for e in refused)
    admin.close()


@pytest.mark.whole_run
def test_two_runs_started_at_once_on_one_array(tmp_path):
    """Two runs against one array started at the same moment: exactly one runs, the other is refused
    before it sends anything (exit 2, naming the run in progress), so neither sees the other's changes
    as the array's; rec-restore is refused while the run holds the target too."""
    (tmp_path / "sim").mkdir()
    sim = RecSim(tmp_path / "sim", "--job-latency", "0.02")
    try:
        original = sim.states()
        env = {**os.environ, **sim.env}
        runs = [subprocess.Popen([str(BIN / "rec-compliance"), "--rec-target", str(sim.target), "--rec-depth", "smoke",
                                  "--rec-lanes", "1"], cwd=tmp_path.joinpath(name).mkdir() or tmp_path / name,
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                for name in ("a", "b")]
        outs = [r.communicate(timeout=600)[0] for r in runs]
        codes = [r.returncode for r in runs]
        refused = [o for o in outs if "is in progress on this machine" in o]
        assert sorted(codes) == [0, 2] and len(refused) == 1, (codes, [o[-1500:] for o in outs])
        assert sim.states() == original
    finally:
        sim.stop()


def test_rec_sim_pins_a_baseline_for_every_session_a_run_may_change():
    from pytest_rec.simulator.inventory import load_inventory
    from pytest_rec.simulator.targetfile import target_data
    from pytest_rec.model.target import parse_target

    data = target_data(load_inventory(), "https://127.0.0.1:5665", verify=False)
    target = parse_target(data, "sim.toml")
    assert set(target.baseline) == target.written, (sorted(target.baseline), sorted(target.written))


def test_the_readme_figure_is_the_chaos_tests_count():
    """The README's "N/N interrupts survived" and its per-signal counts are those of the tests above."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    m = re.search(r"\*\*(\d+)/(\d+) interrupts survived\*\* \((\d+) SIGINT, (\d+) SIGTERM, (\d+) SIGHUP, "
                  r"(\d+) SIGKILL[^,]*,\s*(\d+) second SIGTERM", text)
    assert m, "the README's chaos figure is missing"
    points = POINTS + PARALLEL_POINTS
    count = {s: sum(1 for sig, _ in points if sig == s) for s in ("SIGINT", "SIGTERM", "SIGHUP", "SIGKILL")}
    total = len(points) + 1        # + test_second_signal_during_the_restore_leaves_the_journal
    assert [int(x) for x in m.groups()] == [total, total, count["SIGINT"], count["SIGTERM"], count["SIGHUP"],
                                            count["SIGKILL"], 1]


@pytest.mark.whole_run
def test_a_change_whose_reply_is_lost_is_never_taken_as_nothing_happened(tmp_path):
    """Every 15th PATCH is taken by the array (its job runs) but its reply is lost. The suite cannot
    know whether it was taken, so it uses that session for no further check, and the restore waits
    for it and starts from a fresh read: no false deviation, inconclusive (exit 2), and every session
    reads as before the run."""
    (tmp_path / "sim").mkdir()
    # 0.1 s jobs at depth full: a lost change still running reaches the next check that would use its
    # session (without the rule above: false REC-ACCEPT and REC-ISOLATION deviations)
    sim = RecSim(tmp_path / "sim", "--job-latency", "0.1", "--option", "drop_reply_every=15")
    try:
        original = sim.states()
        result = compliance(sim, tmp_path / "run")
        out = result.stdout + result.stderr
        summary = json.loads((tmp_path / "run" / "reports" / "compliance.json").read_text())
        assert result.returncode == 2, out[-3000:]
        assert summary["verdict"] == "inconclusive"
        assert not [r["id"] for r in summary["requirements"] if r["verdict"] == "fail"], summary["verdict_reason"]
        assert any("RemoteProtocolError" in c["detail"] for c in summary["cases"] if c["outcome"] == "error")
        assert not summary["restore"]["failed"] and sim.states() == original, out[-2000:]
    finally:
        sim.stop()


@pytest.mark.whole_run
@pytest.mark.parametrize("at", ["patch:test_matrix:1", "wait:1"])
def test_an_interrupt_while_a_job_runs_waits_for_it_before_the_restore(tmp_path, at):
    """SIGTERM right after the run's first matrix PATCH was answered 202 (or at its first job poll),
    from the session's original state, with 1 s jobs: the restore must not read the session before that
    job has ended (it would find it as it was, mark it put back, and the job would change it after)."""
    (tmp_path / "sim").mkdir()
    sim = RecSim(tmp_path / "sim", "--job-latency", "1.0")
    try:
        original = sim.states()
        result = compliance(sim, tmp_path / "run", "--rec-depth", "smoke", chaos={"signal": "SIGTERM", "at": at})
        out = result.stdout + result.stderr
        assert result.returncode == 2, out[-3000:]
        time.sleep(2.5)                   # any job still running has ended by now
        assert sim.states() == original, f"{(tmp_path / 'run' / 'chaos.log').read_text()}{out[-2500:]}"
    finally:
        sim.stop()
