"""`schemathesis run --checks all` of specs/openapi.yaml against a running simulator finds no
5xx and no response that breaks the spec (at least 300 examples per operation)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Raw, start

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.whole_run
def test_schemathesis_run_against_the_simulator(tmp_path):
    server = start()
    try:
        token = Raw(server).login()["token"]
        st = Path(sys.executable).with_name("schemathesis")
        proc = subprocess.run(
            [str(st), "--config-file", str(ROOT / "specs" / "schemathesis.toml"), "run",
             str(ROOT / "specs" / "openapi.yaml"), "--url", server.base_url + "/api/v1", "--checks", "all",
             "-H", f"Authorization: Bearer {token}", "--max-examples", "300", "--no-color",
             "--seed", "20261127"],
            capture_output=True, text=True, timeout=900, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
    finally:
        server.stop()
    tail = proc.stdout[-4000:]
    assert proc.returncode == 0, tail
    assert "Tested: 9" in proc.stdout and "failures" not in tail.splitlines()[-1]
    server_errors = [r for r in server.array.request_log if r["status"] >= 500 and r["status"] != 503]
    assert not server_errors
