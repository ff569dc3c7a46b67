"""The simulator's structure (issue 12): modules by concern, small, importing nothing of the suite;
routing by Starlette with the same status codes; ``SimulatorServer.target()`` as the one place that
turns a running simulator into a target."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import ADMIN

SIM = Path(__file__).resolve().parents[1] / "pytest_rec" / "simulator"


def test_modules_are_small_and_import_only_the_simulator():
    for path in SIM.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) < 450, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    assert not (node.module or "").startswith("pytest_rec"), (path.name, node.module)
                else:
                    assert node.level == 1, (path.name, node.module)     # nothing above simulator/
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("pytest_rec") for a in node.names), path.name


def test_public_names_still_import():
    from pytest_rec.simulator import Array, Settings, SimulatorServer, load_inventory  # noqa: F401
    from pytest_rec.simulator.targetfile import passwords, target_file_text  # noqa: F401

    for name in ("login", "authenticate", "session_info", "logout", "get_copysession", "list_copysessions",
                 "patch", "suspend", "resume", "get_job", "tick", "snapshot", "fault_for_request", "busy", "log",
                 "render", "job_ref", "has", "defect"):
        assert hasattr(Array(), name), name


def test_defect_switch_rejects_unknown_names():
    from pytest_rec.simulator import Array, Settings

    array = Array(settings=Settings(defects=frozenset({"tenant-unchecked"})))
    assert array.defect("tenant-unchecked") and not array.defect("null-500")
    with pytest.raises(KeyError):
        array.defect("no-such-defect")


@pytest.mark.parametrize("method, path, code", [
    ("GET", "/nothing", 404),
    ("GET", "/api/v1/copysession/", 404),            # no slash redirect
    ("GET", "/api/v1/copysession/1/extra", 404),
    ("PUT", "/api/v1/copysession/1", 405),
    ("DELETE", "/api/v1/copysession", 405),
    ("HEAD", "/api/v1/copysession/1", 405),
    ("GET", "/api/v1/session", 405),
    ("GET", "/api/v1/copysession/abc", 400),         # the id is a number
    ("GET", "/api/v1/job/x1", 400),
])
def test_routing_status_codes_have_the_error_body(raw, method, path, code):
    h = raw.auth()
    r = raw.http.request(method, raw.server.base_url + path, headers=h)
    assert r.status_code == code
    if method != "HEAD":
        assert set(r.json()) == {"error_code", "message", "internal_code"}
    if code == 405:
        assert r.headers["allow"]


def test_allow_lists_every_method_of_the_path(raw):
    r = raw.http.put("/session/1", headers=raw.auth())
    assert r.status_code == 405 and r.headers["allow"] == "DELETE, GET"


def test_unauthenticated_and_content_type(raw):
    assert raw.http.get("/job/1").status_code == 401
    assert raw.http.post("/session", content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    assert raw.http.get("/copysession?copysession_id=1,x", headers=raw.auth()).status_code == 400


def test_target_is_the_contract_shape(make_sim):
    sim, raw = make_sim(tls=True)
    t = sim.target()
    assert set(t) == {"url", "verify", "users", "sessions", "array", "capabilities"}
    assert t["url"] == sim.base_url and t["verify"] == str(sim.ca_path)
    assert t["users"]["admin"] == {"name": ADMIN[0], "password_env": "REC_SIM_ADMIN_PASSWORD"}
    assert set(t["users"]) == {"admin", "tenant", "other"}
    s = t["sessions"]
    assert s["writable"] and {"tenant_own", "tenant_foreign", "non_rec"} <= set(s)
    assert set(s["identity"]) == {str(i) for i in s["writable"]}
    assert t["array"]["model"] and "consistency" in t["capabilities"]
    env = sim.target_env()
    assert env["REC_SIM_ADMIN_PASSWORD"] == ADMIN[1] and set(env) == {u["password_env"] for u in t["users"].values()}
    assert tomllib.loads(sim.target_text()) == t
    t["sessions"]["writable"].append(99)                 # a copy: the caller may change it
    assert 99 not in sim.target()["sessions"]["writable"]


def test_target_needs_a_running_simulator():
    from pytest_rec.simulator import SimulatorServer

    with pytest.raises(RuntimeError):
        SimulatorServer().target()


@pytest.mark.parametrize("extra, writable", [
    ([], [1, 2, 3, 4]),
    (["--fault", "job_latency=0.25", "--option", "busy_every=37", "--fault", "writable_sessions=3"], [1, 2, 3]),
])
def test_rec_sim_target_out_is_the_servers_target(tmp_path, extra, writable):
    out = tmp_path / "target.toml"
    proc = subprocess.Popen([sys.executable, "-m", "pytest_rec.simulator.cli", "--port", "0", "--tls",
                             "--target-out", str(out), *extra], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "target file written" in line:
                break
        text = "".join(lines)
        data = tomllib.loads(out.read_text())
        assert data["url"] in text and data["users"]["admin"]["password_env"] == "REC_SIM_ADMIN_PASSWORD"
        assert f"export REC_SIM_ADMIN_PASSWORD='{ADMIN[1]}'" in text
        assert Path(data["verify"]).is_file() and data["sessions"]["identity"]
        assert data["sessions"]["writable"] == writable and set(map(str, writable)) <= set(data["sessions"]["baseline"])
        if extra:
            assert "rec-sim: settings: job_latency=0.25, busy_every=37, writable_sessions=3" in text
    finally:
        proc.terminate()
        proc.wait(timeout=10)
