"""The realism matrix (issue 15): the suite at depth full against the simulator in each realism
option (and some combined) is compliant with exit 0, every session as found; a defect profile run
under each option is still caught on its requirement; and `schemathesis run --checks all` finds no
failure with each option. Each option imitates something a real array does that our simulator did
not (README, "Simulator realism options")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Raw, start
from pytest_rec.simulator.defects import DEFECTS

pytestmark = pytest.mark.whole_run

ROOT = Path(__file__).resolve().parents[1]

# option(s) -> a defect profile that must still be caught under them
REALISM = {
    "page_size=2": "neighbour-recovery-leak",
    "read_lag=0.1": "sticky-auto-restored",
    "busy_every=11,busy_retry_after=0": "logout-keeps-token",
    "hex_error_codes=true": "unknown-id-400",
    "odd_neighbours=true": "neighbour-recovery-leak",
    "stack_equivalent=true": "active-patch-accepted",
    "one_job_per_session=true": "no-forced-manual",
    "one_job_per_session=true,concurrent_refusal=503,job_latency=0.02": "no-forced-manual",
    "tenant_get_404=true": "tenant-read-then-write",
    "status_error_codes=true": "unknown-id-400",
    "json_500=false": "null-500",
    "busy_rate=0.05,busy_retry_after=0": "omitted-recovery-reset",
    "busy_every=97,busy_retry_after=1,busy_retry_after_date=true": "recovery-ignored-consistency",
    "page_size=3,read_lag=0.05,busy_every=13,busy_retry_after=0,hex_error_codes=true,odd_neighbours=true":
        "tenant-unchecked",
}


def _args(options: str) -> list[str]:
    out = []
    for kv in options.split(","):
        out += ["--rec-sim-option", kv]
    return out


def run(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    return proc.returncode, json.loads((out / "compliance.json").read_text()), proc.stdout + proc.stderr


@pytest.mark.parametrize("options", sorted(REALISM))
def test_correct_array_is_compliant_under_realism(tmp_path, options):
    code, summary, out = run(tmp_path, *_args(options))
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "compliant", summary["verdict_reason"]
    assert not summary["restore"]["failed"]
    if "read_lag" in options:
        assert summary["longest_read_lag"] and summary["longest_read_lag"] > 0


@pytest.mark.parametrize("options", sorted(REALISM))
def test_defect_still_caught_under_realism(tmp_path, options):
    defect = REALISM[options]
    code, summary, out = run(tmp_path, *_args(options), "--rec-sim-defect", defect)
    assert code == 1, out[-3000:]
    failed = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
    assert failed == set(DEFECTS[defect].breaks), (failed, summary["verdict_reason"])


def test_no_request_carries_consistency_without_a_rec_buffer(tmp_path):
    """capabilities.consistency = false: the matrix, the scenarios and the fuzzing send no Consistency."""
    from pytest_rec.simulator.targetfile import passwords, target_file_text

    server = start(tls=True)
    try:
        text = target_file_text(server.array.inventory, server.base_url, str(server.ca_path))
        assert "consistency = true" in text and "writable = [1, 2, 3, 4]" in text
        # session 3 is a Consistency session: an array without a REC buffer has none
        text = text.replace("consistency = true", "consistency = false").replace("writable = [1, 2, 3, 4]",
                                                                                 "writable = [1, 2, 4]")
        text = re.sub(r"\[sessions\.(identity|baseline)\.3\]\n(?:[^\[\n][^\n]*\n)*\n?", "", text)
        target = tmp_path / "target.toml"
        target.write_text(text)
        proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(tmp_path / "r"), "-q",
                               "--rec-target", str(target)], cwd=tmp_path, capture_output=True, text=True,
                              timeout=900, env={**os.environ, **passwords(server.array.inventory)})
        sent = [r for r in server.array.request_log if r["method"] == "PATCH"]
    finally:
        server.stop()
    summary = json.loads((tmp_path / "r" / "compliance.json").read_text())
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert summary["verdict"] == "compliant", summary["verdict_reason"]
    bodies = [json.loads(line)["request_body"] for f in (tmp_path / "r").glob("transcript*.jsonl")   # one per lane
              for line in f.read_text().splitlines() if json.loads(line)["method"] == "PATCH"]
    assert sent and bodies
    assert not [b for b in bodies if "Consistency" in json.dumps(b)]
    assert [c for c in summary["cases"] if c.get("opt_in") and "Consistency" in c["detail"] + c["id"]]


@pytest.mark.parametrize("options", ["page_size=2", "hex_error_codes=true", "odd_neighbours=true",
                                     "json_500=false", "busy_every=11,busy_retry_after=0", "read_lag=0.1",
                                     "stack_equivalent=true", "one_job_per_session=true"])
def test_schemathesis_run_under_realism(tmp_path, options):
    settings = dict(kv.split("=") for kv in options.split(","))
    typed = {k: (v == "true" if v in ("true", "false") else float(v) if "." in v else int(v))
             for k, v in settings.items()}
    config, extra = ROOT / "specs" / "schemathesis.toml", []
    if "busy_every" in typed:
        # schemathesis does not retry a 503: it is a legal answer to any request (CONTRACT section 1),
        # and an undeclared method or a request without a token answered 503 proves nothing either way
        text = config.read_text().replace("413, 415]", "413, 415, 503]")
        config = tmp_path / "schemathesis-busy.toml"
        config.write_text(text + '\n[checks.not_a_server_error]\nexpected-statuses = ["2XX", "3XX", "4XX", 503]\n')
        extra = ["--exclude-checks", "unsupported_method,ignored_auth"]
    server = start(**typed)
    try:
        while True:          # log in past a busy answer
            login = Raw(server).http.post("/session", json={"user_name": "qa_admin", "password": "sim-admin-Pa55"})
            if login.status_code != 503:
                break
        token = login.json()["token"]
        st = Path(sys.executable).with_name("schemathesis")
        proc = subprocess.run(
            [str(st), "--config-file", str(config), "run",
             str(ROOT / "specs" / "openapi.yaml"), "--url", server.base_url + "/api/v1", "--checks", "all", *extra,
             "-H", f"Authorization: Bearer {token}", "--max-examples", "60", "--no-color", "--seed", "20261127"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    finally:
        server.stop()
    tail = proc.stdout[-4000:]
    assert proc.returncode == 0, tail


@pytest.mark.parametrize("every", [7, 15, 50])
def test_a_500_on_a_read_is_a_deviation_not_an_error(tmp_path, every):
    """A 500 on a GET (every Nth read of a copy session: in a check, in the preflight, in the context's
    set-up, in the restore) is a REC-NO-5XX deviation of the check that met it or of the next one, with
    the exchange as evidence: never an error of the run, never blamed on another requirement; the read
    is sent again, so every session is still put back."""
    code, summary, out = run(tmp_path, "--rec-sim-option", f"get_500_every={every}")
    assert code == 1, out[-3000:]
    failed = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
    assert failed == {"REC-NO-5XX"}, summary["verdict_reason"]
    assert not [c for c in summary["cases"] if c["outcome"] == "error"]
    assert not summary["restore"]["failed"]
    bad = [c for c in summary["cases"] if c["outcome"] == "failed"]
    assert bad and all("answered 500" in c["detail"] for c in bad)
    # REC-NO-5XX counts the answers it looked at, and the 5xx among them (every one claimed by a check)
    rows = [json.loads(line) for t in (tmp_path / "reports").glob("transcript*.jsonl") for line in t.read_text().splitlines()]
    assert summary["exchanges_checked"] == len(rows)
    assert summary["server_errors"] == sum(1 for r in rows if (r["status"] or 0) >= 500 and r["status"] != 503) >= len(bad)


def test_a_session_nobody_writes_that_changes_during_the_run_is_caught(tmp_path):
    """Halfway through the run, session 7 (which no check writes) changes by itself: whatever check ran
    then, the run compares every such session at its end with its start and reports REC-ISOLATION
    (test_isolation, which watches only its own bodies, is left out here)."""
    code, summary, out = run(tmp_path, "--rec-sim-option", "change_at=900:7:recovery_mode=Manual",
                             "-k", "not test_isolation")
    assert code == 1, out[-3000:]
    failed = {r["id"] for r in summary["requirements"] if r["verdict"] == "fail"}
    assert failed == {"REC-ISOLATION"}, summary["verdict_reason"]
    bad = [c for c in summary["cases"] if c["outcome"] == "failed"]
    assert [c["id"] for c in bad] == ["test_unwritten_sessions_unchanged_over_the_run"] and "session 7" in bad[0]["detail"]
