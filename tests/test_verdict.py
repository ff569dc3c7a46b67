"""A verdict that means what it says (CONTRACT section 4): a minimal target file can be compliant,
a run that proved nothing exits 2, and the counts add up in compliance.json, compliance.md,
junit.xml and the console."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import start
from pytest_rec.simulator.targetfile import passwords

MINIMAL = """url = "{url}"
verify = "{ca}"

[users.admin]
name = "qa_admin"
password_env = "REC_SIM_ADMIN_PASSWORD"

[users.tenant]
name = "qa_tenant"
password_env = "REC_SIM_TENANT_PASSWORD"

[sessions]
writable = {writable}
tenant_own = {tenant_own}
tenant_foreign = {tenant_foreign}
non_rec = {non_rec}
"""


def run(tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 900) -> tuple[int, dict | None, str]:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    path = out / "compliance.json"
    return proc.returncode, (json.loads(path.read_text()) if path.exists() else None), proc.stdout + proc.stderr


def minimal_target(tmp_path: Path, server) -> tuple[Path, dict]:
    s = server.array.inventory.target["sessions"]
    text = MINIMAL.format(url=server.base_url, ca=server.ca_path, writable=list(s["writable"]),
                          tenant_own=s["tenant_own"], tenant_foreign=s["tenant_foreign"], non_rec=s["non_rec"])
    path = tmp_path / "minimal.toml"
    path.write_text(text)
    pw = passwords(server.array.inventory)
    env = {"REC_SIM_ADMIN_PASSWORD": pw["REC_ADMIN_PASSWORD"],
           "REC_SIM_TENANT_PASSWORD": pw["REC_TENANT_PASSWORD"]}
    return path, env


def named_state(server) -> dict:
    snap = server.array.snapshot()
    return {sid: (v.get("transfer_mode"), v.get("split_mode"), v.get("recovery_mode"), v.get("phase"))
            for sid, v in snap.items()}


@pytest.mark.whole_run
def test_minimal_target_file_can_be_compliant(tmp_path):
    """Only the keys CONTRACT section 3 requires: REC-NOT-FOUND picks its own absent id, the opt-in
    checks are listed as such, and the full run is compliant with exit 0."""
    server = start(tls=True)
    try:
        target, env = minimal_target(tmp_path, server)
        before = named_state(server)
        code, summary, out = run(tmp_path, "--rec-target", str(target), env=env)
        after = named_state(server)
    finally:
        server.stop()
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "compliant", summary["verdict_reason"]
    v = {r["id"]: r for r in summary["requirements"]}
    # the absent id, and the three integer ids that name no session (-1, 0, past 32 bits)
    assert v["REC-NOT-FOUND"]["verdict"] == "pass" and v["REC-NOT-FOUND"]["tests"] == 4
    opt = [c for c in summary["cases"] if c.get("opt_in")]
    assert {c["id"] for c in opt} >= {"test_expired_token", "test_tenant_allowed_on_own_destination_session"}
    assert all(c["enable"] for c in opt)
    md = (tmp_path / "reports" / "compliance.md").read_text()
    assert "## Not run (opt-in)" in md and "capabilities.expired_token" in md
    assert before == after


@pytest.mark.whole_run
def test_required_check_skipped_makes_the_run_inconclusive(tmp_path):
    """The opposite of the above: a required check that does not run (here: deselected with -k, and
    a skip that is not opt-in) never lets the run read compliant, and its requirement never reads pass."""
    code, summary, out = run(tmp_path, "-k", "not test_unknown_id_is_404 and not test_id_out_of_range")
    assert summary["verdict"] == "inconclusive", summary["verdict_reason"]
    assert code == 0, out[-2000:]                 # narrowed on purpose and went through: exit 0
    assert summary["narrowed"]
    v = {r["id"]: r["verdict"] for r in summary["requirements"]}
    assert v["REC-NOT-FOUND"] == "not-run"


@pytest.mark.whole_run
def test_jobs_that_never_end_give_inconclusive_and_exit_2(tmp_path):
    """An array whose PATCH jobs for the admin never finish: the run proves nothing, says so, exits 2,
    and leaves every session as found. The first write of the run is the write probe (a suspended
    session set to the modes it has); its job never ends, so the suite writes nothing more, and that
    job cannot move the session even if it ends one day."""
    server = start(tls=True, hung_jobs_user="qa_admin")
    try:
        target, env = minimal_target(tmp_path, server)
        before = named_state(server)
        code, summary, out = run(tmp_path, "--rec-target", str(target), "--rec-job-timeout", "5", env=env)
        after = named_state(server)
        patches = [r for r in server.array.request_log if r["method"] == "PATCH"]
    finally:
        server.stop()
    assert code == 2, out[-3000:]
    assert summary["verdict"] == "inconclusive"
    assert not [c for c in summary["cases"] if c["outcome"] == "failed"]
    assert before == after, {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    assert "NOT put back" not in out and not summary["restore"]["failed"], out[-2000:]
    lanes = len(server.array.inventory.target["sessions"]["writable"])      # one lane per writable session
    assert 1 <= len(patches) <= lanes, patches[:5]     # the probes (one per lane at most), nothing after them
    errors = [c for c in summary["cases"] if c["outcome"] == "error"]
    assert errors and all("write probe" in c["detail"] for c in errors), [c["detail"] for c in errors][:2]


# ---------------------------------------------------------------- the counts add up
def _md_rows(md: str) -> dict[str, list[str]]:
    rows = {}
    for line in md.splitlines():
        m = re.match(r"^\| (REC-[A-Z0-9-]+) \|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


def check_counts(report_dir: Path, out: str) -> dict:
    summary = json.loads((report_dir / "compliance.json").read_text())
    md = (report_dir / "compliance.md").read_text()
    md_rows = _md_rows(md)
    for r in summary["requirements"]:
        parts = r["passed"] + r["failed"] + r["errors"] + r["skipped"] + r["blocked"]
        assert r["tests"] == parts, r
        row = md_rows[r["id"]]
        # basis | verdict | tests | passed | failed | known | errors | blocked | skipped (opt-in) | title
        assert [int(x) for x in row[2:8]] == [r["tests"], r["passed"], r["failed"], r["known"], r["errors"],
                                               r["blocked"]], (r, row)
        assert row[8] == f"{r['skipped']} ({r['opt_in']})"
    # a page a buyer signs: no programming-language literals, the basis codes explained
    assert not re.search(r"\b(None|False|True)\b", md), re.findall(r".*\b(?:None|False|True)\b.*", md)[:3]
    assert "**seed** = the published reference page" in md
    counts = summary["counts"]
    assert sum(counts.values()) == len(summary["cases"])
    # every transcript line names the check that sent it (or the run's own set-up and restore)
    ids = {c["id"] for c in summary["cases"]} | {"setup", "restore"}
    unknown = {json.loads(line)["case"] for t in report_dir.glob("transcript*.jsonl")
               for line in t.read_text().splitlines()} - ids
    # only an interrupt leaves exchanges of a check with no record: the one it cut short
    assert len(unknown) <= (1 if summary.get("interrupted") else 0), sorted(unknown)[:3]
    if not summary["cases"]:
        assert "Nothing ran" in md and "Every required check ran" not in md
    junit = report_dir / "junit.xml"
    if junit.exists() and summary["cases"]:
        root = ET.parse(junit).getroot()
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        # an interrupted session leaves junitxml an empty <testcase/> of no check: not one of ours; the
        # verdict is a test case of its own (rec-compliance adds it), as the exit code says
        verdicts = [c for c in suite.findall("testcase") if c.get("classname") == "pytest_rec"
                    and c.get("name") == "verdict"]
        assert len(verdicts) == 1
        kind = {0: None, 1: "failure"}.get(summary.get("exit_code"), "error")
        assert kind is None or verdicts[0].find(kind) is not None or summary.get("interrupted"), summary["exit_code"]
        cases = [c for c in suite.findall("testcase") if c.get("name") and c not in verdicts]
        failures = sum(1 for c in cases if c.find("failure") is not None)
        errors = sum(1 for c in cases if c.find("error") is not None)
        skipped = sum(1 for c in cases if c.find("skipped") is not None)
        assert failures == counts.get("failed", 0), (failures, counts)
        assert errors == counts.get("error", 0), (errors, counts)
        assert skipped == counts.get("skipped", 0) + counts.get("blocked", 0) + counts.get("known-deviation", 0)
        assert len(cases) == len(summary["cases"])
    tail = out.strip().splitlines()
    m = re.search(r"(\d+) passed", out)
    if m and summary["cases"]:
        assert int(m.group(1)) == counts.get("passed", 0)
        # pytest's own line agrees: a check that could not run is an error there too, not a failure
        for word, key in (("failed", "failed"), ("errors?", "error")):
            got = re.search(rf"(\d+) {word}\b", _pytest_line(out))
            assert (int(got.group(1)) if got else 0) == counts.get(key, 0), (word, _pytest_line(out), counts)
    assert tail[-1].startswith("VERDICT:")
    return summary


def _pytest_line(out: str) -> str:
    """pytest's own closing line ("== 51 passed, 39 errors in 3.9s ==")."""
    lines = [x for x in out.splitlines() if re.search(r"^[= ]*\d+ (passed|failed|errors?|skipped)\b.* in [\d.]+s", x)]
    return lines[-1] if lines else ""


@pytest.mark.parametrize("args, expect_code", [
    ([], 0),
    (["--rec-sim-defect", "consistency-to-sync-noop"], 1),
    (["--rec-sim-defect", "no-forced-manual"], 1),
    (["--rec-depth", "smoke", "--rec-sim-option", "copy_path_down=1,2,3,4"], 2),
], ids=["clean", "consistency-to-sync-noop", "no-forced-manual", "errors"])
@pytest.mark.whole_run
def test_counts_add_up(tmp_path, args, expect_code):
    code, summary, out = run(tmp_path, *args)
    assert code == expect_code, out[-3000:]
    check_counts(tmp_path / "reports", out)


def test_counts_add_up_when_nothing_ran(tmp_path):
    """A wrong password: nothing ran, the run never says everything ran, and exits 2. The cause is said
    once (not followed by every requirement id, nor by pytest's banner), the last line names it, and no
    HTML report is built for a run that sent nothing (the other files are written as for any run)."""
    server = start(tls=True)
    try:
        target, env = minimal_target(tmp_path, server)
        env["REC_SIM_ADMIN_PASSWORD"] = "wrong-password"
        code, summary, out = run(tmp_path, "--rec-target", str(target), env={**env, "REC_HTML": "1"})
    finally:
        server.stop()
    assert code == 2, out[-3000:]
    assert "Everything ran" not in out
    assert out.count("answered 401") == 1 and "REC-SERIAL" not in out and "_pytest.outcomes.Exit" not in out, out
    assert out.strip().splitlines()[-1].startswith(
        "VERDICT: inconclusive (cannot log in as admin: wrong user name or password)"), out[-500:]
    reports = tmp_path / "reports"
    assert not (reports / "allure-report-single").exists()
    assert {p.name for p in reports.iterdir()} >= {"compliance.json", "compliance.md", "junit.xml", "MANIFEST.sha256"}
    if summary is not None:
        assert summary["verdict"] == "inconclusive"
        check_counts(tmp_path / "reports", out)


@pytest.mark.whole_run
def test_counts_add_up_when_interrupted(tmp_path):
    """SIGTERM in the middle of the matrix (at the run's own 400th exchange): the summary says
    interrupted, the checks that never ran are counted as such, nothing says everything ran; exit 2."""
    chaos = Path(__file__).with_name("chaos")
    env = {"PYTHONPATH": os.pathsep.join([str(chaos), os.environ.get("PYTHONPATH", "")]),
           "REC_CHAOS_SIGNAL": "SIGTERM", "REC_CHAOS_AT": "exchange:400", "REC_CHAOS_LOG": str(tmp_path / "chaos.log")}
    code, summary, out = run(tmp_path, "-p", "rec_chaos", env=env)
    assert code == 2, out[-3000:]
    assert summary["interrupted"] and summary["verdict"] == "inconclusive"
    assert summary["collected"] > len(summary["cases"])
    md = (tmp_path / "reports" / "compliance.md").read_text()
    assert "never ran" in md and "Every required check ran" not in md
    check_counts(tmp_path / "reports", out)


@pytest.mark.whole_run
def test_a_busy_array_past_the_budget_is_an_error_never_a_deviation(tmp_path):
    """A 503 that outlasts the target profile's busy budget (here no retry at all, a 503 every 41st
    request): the request was not taken, so the checks that met it did not run. Inconclusive, exit 2,
    no requirement failed; the counts still add up and every session is as found."""
    server = start(tls=True, busy_every=41, busy_retry_after=0)
    try:
        target, env = minimal_target(tmp_path, server)
        target.write_text(target.read_text() + "\n[profile]\nbusy_retries = 0\n")
        before = named_state(server)
        code, summary, out = run(tmp_path, "--rec-target", str(target), "--rec-depth", "pairwise", env=env)
        after = named_state(server)
    finally:
        server.stop()
    assert code == 2, out[-3000:]
    assert summary["verdict"] == "inconclusive"
    assert not [r["id"] for r in summary["requirements"] if r["verdict"] == "fail"], summary["verdict_reason"]
    errors = [c for c in summary["cases"] if c["outcome"] == "error"]
    # with lanes, a check can also error from what the 503 did elsewhere (a lane whose context never came
    # up, a proof another lane could not bring): at least one error names the 503, and none is a deviation
    assert errors and any("503" in c["detail"] for c in errors), [c["detail"] for c in errors][:3]
    assert before == after
    check_counts(tmp_path / "reports", out)


@pytest.mark.whole_run
@pytest.mark.parametrize("delay", [0.2, 0.8, 2.0])
def test_ctrl_c_during_start_up_writes_an_interrupted_summary(tmp_path, delay):
    """SIGINT while a run with lanes starts (the controller's check of the target, the lanes coming up,
    their first checks): exit 2, a summary that says interrupted, its last line saying so, and no
    KeyboardInterrupt banner or traceback pointing into the signal handler."""
    import signal
    import time

    server = start(tls=True)
    try:
        target, env = minimal_target(tmp_path, server)
        out = tmp_path / "reports"
        proc = subprocess.Popen([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q",
                                 "--rec-target", str(target)], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        text, _ = proc.communicate(timeout=300)
        before = named_state(server)
    finally:
        server.stop()
    assert proc.returncode == 2, text[-2000:]
    assert (out / "compliance.json").exists(), text[-2000:]
    summary = json.loads((out / "compliance.json").read_text())
    assert summary["interrupted"] == "SIGINT" and summary["verdict"] == "inconclusive"
    assert "KeyboardInterrupt" not in text and "Traceback" not in text and "_signals.py" not in text, text[-2000:]
    assert text.strip().splitlines()[-1].startswith("VERDICT: inconclusive (interrupted"), text[-500:]
    assert before                                      # the simulator answered to the end


def test_console_prints_the_verdict_once_and_each_deviation_whole(tmp_path):
    """rec-compliance: one VERDICT line (the last), and each distinct deviation's line wrapped, never cut
    (the message as compliance.json's deviation groups give it, word for word)."""
    from pytest_rec.report.summary import deviation_groups

    code, summary, out = run(tmp_path, "--rec-depth", "smoke", "--rec-sim-defect", "stack-to-sync-keeps-stack")
    assert code == 1, out[-3000:]
    lines = out.strip().splitlines()
    assert [ln for ln in lines if ln.startswith("VERDICT:")] == [lines[-1]], out[-2000:]
    console = " ".join(ln.strip() for ln in lines)
    groups = deviation_groups(summary["cases"])
    assert groups and all(len(g["message"]) > 0 for g in groups)
    for g in groups:
        words = " ".join(g["message"].split())
        assert words in console, (words, console[-3000:])


def _rec_sim(*args: str) -> tuple[subprocess.Popen, str]:
    import time

    sim = subprocess.Popen([str(Path(sys.executable).parent / "rec-sim"), "--port", "0", "--tls", *args],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        line = sim.stdout.readline()
        seen.append(line)
        if "target file written" in line:
            url = next(ln.split()[2] for ln in seen if ln.startswith("rec-sim: serving"))
            return sim, url.removesuffix("/api/v1")
    sim.kill()
    pytest.fail("rec-sim did not start: " + "".join(seen))


def test_tls_failure_names_verify_and_a_kept_ca_survives_a_restart(tmp_path):
    """A self-signed array with no `verify` key: the run stops naming `verify` and both ways to set it
    (a CA path, or false with its warning), not the hint of a refused connection. `rec-sim --ca DIR`
    signs every start's certificate with the CA kept in DIR: a target file written by one start still
    verifies against the next one, started with another --target-out folder."""
    import ssl

    import httpx

    ca = tmp_path / "ca"
    sim, url = _rec_sim("--ca", str(ca), "--target-out", str(tmp_path / "a" / "t.toml"))
    try:
        text = (tmp_path / "a" / "t.toml").read_text()
        assert f'verify = "{ca / "ca.pem"}"' in text, text
        bare = tmp_path / "no-verify.toml"
        bare.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("verify")) + "\n")
        from pytest_rec.simulator.inventory import load_inventory
        from pytest_rec.simulator.targetfile import passwords

        env = {k.replace("REC_", "REC_SIM_", 1): v for k, v in passwords(load_inventory()).items()}
        code, _, out = run(tmp_path, "--rec-target", str(bare), env=env)
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert code == 2, out[-2000:]
    assert "`verify`" in out and "ca.pem" in out and "verify = false" in out, out[-2000:]
    assert out.strip().splitlines()[-1].startswith("VERDICT: inconclusive (TLS"), out[-500:]
    sim, url = _rec_sim("--ca", str(ca), "--target-out", str(tmp_path / "b" / "t.toml"))
    try:
        answer = httpx.get(url + "/api/v1/copysession", verify=ssl.create_default_context(cafile=str(ca / "ca.pem")))
    finally:
        sim.terminate()
        sim.wait(timeout=10)
    assert answer.status_code == 401          # the TLS handshake with the kept CA went through


def test_old_restored_journals_are_pruned_from_the_state_directory(tmp_path, monkeypatch):
    """Every run records its journal in the state directory: those whose sessions were all put back and
    that are older than the set age go; one that still holds a session, or a recent one, stays."""
    import time

    from pytest_rec.plugin._startup import prune_journals

    monkeypatch.setenv("REC_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("REC_JOURNAL_KEEP_DAYS", "7")
    folder = tmp_path / "journals" / "abc"
    folder.mkdir(parents=True)
    old = time.time() - 8 * 86400
    made = {}
    for name, restored, when in (("old-done", True, old), ("old-pending", False, old), ("new-done", True, None)):
        path = folder / f"{name}.json"
        path.write_text(json.dumps({"sessions": {"1": {"restored": restored}}}))
        if when:
            os.utime(path, (when, when))
        made[name] = path
    assert prune_journals() == [made["old-done"]]
    assert not made["old-done"].exists() and made["old-pending"].exists() and made["new-done"].exists()
