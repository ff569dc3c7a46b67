"""The dry run checks what it can without writing: the target file, the passwords, the login and
the read-only preflight; it writes only the plan (plan.md, plan.json) and leaves an earlier run's
reports in the folder as they were."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import start
from pytest_rec.simulator.targetfile import passwords, target_file_text


def _dry(tmp_path, target, env, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "--rec-target",
                           str(target), "--rec-dry-run", *extra], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})
    return proc.returncode, proc.stdout + proc.stderr, out


def test_dry_run_logs_in_and_checks_the_target_with_reads_only(tmp_path):
    server = start(tls=True)
    try:
        target = tmp_path / "t.toml"
        target.write_text(target_file_text(server.array.inventory, server.base_url, str(server.ca_path)))
        env = passwords(server.array.inventory)
        earlier = tmp_path / "r"
        (earlier / "allure-results").mkdir(parents=True)
        for name in ("junit.xml", "compliance.md", "MANIFEST.sha256", "allure-results/x-result.json"):
            (earlier / name).write_text("an earlier run's")
        code, out, reports = _dry(tmp_path, target, env)
        methods = {r["method"] for r in server.array.request_log}
        # a wrong password, a wrong port: each found before a real run would write anything
        bad_pw = {**env, "REC_ADMIN_PASSWORD": "not-the-password"}
        code_pw, out_pw, _ = _dry(tmp_path / "pw", target, bad_pw)
        wrong = tmp_path / "port.toml"
        wrong.write_text(target.read_text().replace(server.base_url, "https://127.0.0.1:9"))
        code_port, out_port, _ = _dry(tmp_path / "port", wrong, env)
        missing = {k: v for k, v in env.items() if k != "REC_TENANT_PASSWORD"}
        os.environ.pop("REC_TENANT_PASSWORD", None)
        code_env, out_env, _ = _dry(tmp_path / "env", target, missing)
        offline_code, offline_out, _ = _dry(tmp_path / "off", wrong, env, "--rec-offline")
    finally:
        server.stop()
    assert code == 0, out[-2000:]
    assert "checked the target file against the array" in out
    assert methods <= {"POST", "GET", "DELETE"}, methods           # log in, read, log out: no write
    for name in ("junit.xml", "compliance.md", "MANIFEST.sha256", "allure-results/x-result.json"):
        assert (reports / name).read_text() == "an earlier run's", name      # untouched
    assert not (reports / "compliance.json").exists() and not (reports / "allure-report-single").exists()
    assert "dry run" in (reports / "plan.md").read_text() and (reports / "plan.json").exists()
    assert out.strip().splitlines()[-1].startswith("VERDICT: inconclusive")
    assert code_pw == 2 and "not-the-password" not in out_pw, out_pw[-1500:]
    assert code_port == 2, out_port[-1500:]
    assert code_env == 2 and "REC_TENANT_PASSWORD" in out_env, out_env[-1500:]
    assert offline_code == 0 and "--rec-offline" in offline_out
