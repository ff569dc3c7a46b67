"""The simulator answers every call of CONTRACT section 1 the way the reference describes."""

from __future__ import annotations

import concurrent.futures
import ssl
import time

import httpx
import pytest

from conftest import ADMIN, OTHER, TENANT, Raw, patch_and_read


# ------------------------------------------------------------------ the seed example
def test_seed_example_changes_session_1(raw):
    h = raw.auth()
    r = raw.http.patch("/copysession/1", json={"transfer_mode": "Synchronous"}, headers=h)
    assert r.status_code == 202
    body = r.json()
    assert isinstance(body["job_id"], int) and body["job_href"] == f"/api/v1/job/{body['job_id']}"
    assert raw.wait(body["job_id"], h)["status"] == "Success"
    s = raw.http.get("/copysession/1", headers=h).json()
    assert (s["transfer_mode"], s["split_mode"]) == ("Synchronous", "Manual")   # sticky Manual


def test_copysession_fields(raw):
    s = raw.http.get("/copysession/1", headers=raw.auth()).json()
    for key in ("copysession_id", "copysession_href", "type", "status", "phase", "transfer_mode", "split_mode",
                "recovery_mode", "source_volume_number", "source_volume_href", "source_volume_name",
                "destination_volume_number", "destination_volume_href", "destination_volume_name",
                "remote_boxid", "is_local_source_volume", "remote_copysession_id"):
        assert key in s
    assert s["copysession_href"] == "/api/v1/copysession/1"
    opc = raw.http.get("/copysession/5", headers=raw.auth()).json()
    assert opc["type"] == "OPC" and "transfer_mode" not in opc


def test_list_and_fields_filter(raw):
    h = raw.auth()
    lst = raw.http.get("/copysession", headers=h).json()
    assert lst["total_count"] == lst["list_count"] == len(lst["copysession_list"]) == 12
    ids = [s["copysession_id"] for s in lst["copysession_list"]]
    assert ids == sorted(ids)
    one = raw.http.get("/copysession/2?fields=phase", headers=h).json()
    assert one == {"copysession_id": 2, "phase": "Equivalent"}
    assert raw.http.get("/copysession/2?feilds=phase", headers=h).status_code == 400


# ------------------------------------------------------------------ sessions and tokens
def test_login_refresh_logout(raw):
    login = raw.login(refresh=True)
    assert set(login) == {"session_id", "token", "lifetime", "refresh_token"} and login["lifetime"] == 1800
    h = {"Authorization": f"Bearer {login['token']}"}
    info = raw.http.get(f"/session/{login['session_id']}", headers=h).json()
    assert info["user_name"] == "qa_admin" and "Copy_Session_Management" in info["auth_list"]
    assert raw.http.get(f"/session/{login['session_id'] + 1}", headers=h).status_code == 404
    new = raw.http.post("/session", json={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]})
    assert new.status_code == 200 and new.json()["token"] != login["token"]
    assert raw.http.delete(f"/session/{login['session_id']}", headers=h).status_code == 200
    assert raw.http.get("/copysession/1", headers=h).status_code == 401
    h2 = {"Authorization": f"Bearer {new.json()['token']}"}
    assert raw.http.get("/copysession/1", headers=h2).status_code == 401
    again = raw.http.post("/session", json={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]})
    assert again.status_code == 401


def test_no_refresh_token_unless_asked(raw):
    assert "refresh_token" not in raw.login(refresh=False)


def test_bad_credentials_and_tokens(raw):
    r = raw.http.post("/session", json={"user_name": "nobody", "password": "x"})
    assert r.status_code == 401 and set(r.json()) == {"error_code", "message", "internal_code"}
    assert r.json()["error_code"].isdigit() and len(r.json()["error_code"]) == 4
    assert raw.http.post("/session", json={"user_name": "qa_admin", "password": "wrong"}).status_code == 401
    assert raw.http.get("/copysession/1").status_code == 401
    assert raw.http.get("/copysession/1", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_token_expiry(make_sim):
    sim, raw = make_sim(token_lifetime=1)
    login = raw.login(refresh=True)
    assert login["lifetime"] == 1
    h = {"Authorization": f"Bearer {login['token']}"}
    assert raw.http.get("/copysession/1", headers=h).status_code == 200
    time.sleep(1.2)
    assert raw.http.get("/copysession/1", headers=h).status_code == 401
    new = raw.http.post("/session", json={"grant_type": "refresh_token", "refresh_token": login["refresh_token"]})
    assert new.status_code == 200
    assert raw.http.get("/copysession/1", headers={"Authorization": f"Bearer {new.json()['token']}"}).status_code == 200


# ------------------------------------------------------------------ jobs
def test_job_lifecycle_with_latency(make_sim):
    sim, raw = make_sim(job_latency=0.4)
    h = raw.auth()
    job_id = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h).json()["job_id"]
    seen = [raw.http.get(f"/job/{job_id}", headers=h).json()["status"]]
    assert raw.http.get("/copysession/1", headers=h).json()["recovery_mode"] == "Automatic"   # not yet applied
    while seen[-1] not in ("Success", "Error"):
        time.sleep(0.05)
        seen.append(raw.http.get(f"/job/{job_id}", headers=h).json()["status"])
    assert seen[0] == "Queued" and "Running" in seen and seen[-1] == "Success"
    assert raw.http.get("/copysession/1", headers=h).json()["recovery_mode"] == "Manual"


def test_job_retention(make_sim):
    sim, raw = make_sim(job_retention=0.3)
    h = raw.auth()
    job_id = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h).json()["job_id"]
    assert raw.wait(job_id, h)["status"] == "Success"
    time.sleep(0.4)
    assert raw.http.get(f"/job/{job_id}", headers=h).status_code == 404


def test_other_users_job_is_404(raw):
    h = raw.auth()
    job_id = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h).json()["job_id"]
    assert raw.http.get(f"/job/{job_id}", headers=raw.auth(OTHER)).status_code == 404
    assert raw.http.get(f"/job/{job_id}", headers=h).status_code == 200


# ------------------------------------------------------------------ the rules of the call
_patch = patch_and_read


def test_forced_and_sticky_manual(raw):
    r, job, s = _patch(raw, 4, {"transfer_mode": "Synchronous", "split_mode": "Automatic"})
    assert s["split_mode"] == "Automatic"
    r, job, s = _patch(raw, 4, {"transfer_mode": "Stack"})
    assert (s["transfer_mode"], s["split_mode"]) == ("Stack", "Manual")
    r, job, s = _patch(raw, 4, {"transfer_mode": "Synchronous"})
    assert (s["transfer_mode"], s["split_mode"]) == ("Synchronous", "Manual")


@pytest.mark.parametrize("sid, body, code", [
    (2, {"recovery_mode": "Manual"}, 409),                         # active: suspend first
    (1, {"split_mode": "Automatic"}, 400),                         # Stack session: split refused
    (4, {"transfer_mode": "Stack", "split_mode": "Manual"}, 400),  # ends asynchronous
    (5, {"transfer_mode": "Synchronous"}, 400),                    # OPC: not REC
    (10, {"recovery_mode": "Automatic"}, 409),                     # Error status
    (999999, {"transfer_mode": "Synchronous"}, 404),
])
def test_refusals_are_immediate_by_default(raw, sid, body, code):
    before = raw.http.get(f"/copysession/{sid}", headers=raw.auth())
    r, job, after = _patch(raw, sid, body)
    assert r.status_code == code and job is None
    if before.status_code == 200:
        assert after == before.json()


def test_refusals_as_job_errors(make_sim):
    sim, raw = make_sim(refusals="job")
    r, job, s = _patch(raw, 2, {"recovery_mode": "Manual"})
    assert r.status_code == 202 and job["status"] == "Error" and s["recovery_mode"] == "Automatic"
    assert job["failed_resource_info_list"][0]["message"].endswith("(phase)")


@pytest.mark.parametrize("body", [{"transfer_mode": "synchronous"}, {"transfer_mode": None}, {"split_mode": 1},
                                  {"recovery_mode": []}, {"foo": "bar"}])
def test_bad_values_are_400(raw, body):
    assert raw.http.patch("/copysession/1", json=body, headers=raw.auth()).status_code == 400


@pytest.mark.parametrize("content", [b"{", b"[]", b"null", b'"x"'])
def test_bad_bodies_are_400(raw, content):
    h = {**raw.auth(), "Content-Type": "application/json"}
    assert raw.http.patch("/copysession/1", content=content, headers=h).status_code == 400


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/xml"])
def test_content_type_415(raw, ctype):
    h = raw.auth()
    if ctype:
        h["Content-Type"] = ctype
    r = raw.http.patch("/copysession/1", content=b'{"transfer_mode": "Synchronous"}', headers=h)
    assert r.status_code == 415 and r.json()["message"].endswith("(Content-Type)")


def test_request_line_413_and_405(raw):
    h = raw.auth()
    assert raw.http.get("/copysession/1?fields=" + "a" * 1300, headers=h).status_code == 413
    assert raw.http.get("/copysession/1?fields=" + "phase," * 10, headers=h).status_code == 200
    r = raw.http.put("/copysession/1", json={}, headers=h)
    assert r.status_code == 405 and "PATCH" in r.headers["allow"]
    assert raw.http.get("/nothing", headers=h).status_code == 404


# ------------------------------------------------------------------ tenants
def test_tenant_rules(raw):
    t = raw.auth(TENANT)
    assert _patch(raw, 6, {"recovery_mode": "Manual"}, t)[0].status_code == 202          # local source in tenant
    assert _patch(raw, 8, {"recovery_mode": "Manual"}, t)[0].status_code == 202          # local destination in tenant
    assert _patch(raw, 7, {"recovery_mode": "Manual"}, t)[0].status_code == 403          # other tenant
    assert _patch(raw, 12, {"recovery_mode": "Manual"}, t)[0].status_code == 403         # other tenant, destination
    assert raw.http.get("/copysession/7", headers=t).status_code == 403                  # one answer: as the PATCH
    assert raw.http.get("/copysession/999999", headers=t).status_code == 404
    visible = {s["copysession_id"] for s in raw.http.get("/copysession", headers=t).json()["copysession_list"]}
    assert visible == {6, 8}


# ------------------------------------------------------------------ suspend and resume
def test_tenant_get_404_is_the_old_style(make_sim):
    sim, raw = make_sim(tenant_get_404=True)
    t = raw.auth(TENANT)
    assert raw.http.get("/copysession/7", headers=t).status_code == 404
    assert raw.http.patch("/copysession/7", json={"recovery_mode": "Manual"}, headers=t).status_code == 403


def test_suspend_resume_rules(raw):
    h = raw.auth()
    assert raw.http.post("/copysession/9/suspend", headers=h).status_code == 409     # Stack, not equivalent
    assert raw.http.post("/copysession/5/suspend", headers=h).status_code == 400     # OPC
    assert raw.http.post("/copysession/10/suspend", headers=h).status_code == 409    # Error status
    assert raw.http.post("/copysession/1/suspend", headers=h).status_code == 409     # already suspended
    r = raw.http.post("/copysession/2/suspend", headers=h)
    assert r.status_code == 202 and raw.wait(r.json()["job_id"], h)["status"] == "Success"
    assert raw.http.get("/copysession/2", headers=h).json()["phase"] == "Suspend"
    r = raw.http.post("/copysession/1/resume", headers=h)                              # Stack resumes, never equivalent
    assert raw.wait(r.json()["job_id"], h)["status"] == "Success"
    assert raw.http.get("/copysession/1", headers=h).json()["phase"] == "Copying"
    assert raw.http.post("/copysession/1/suspend", headers=h).status_code == 409


def test_suspend_lag(make_sim):
    sim, raw = make_sim(suspend_lag=0.3)
    h = raw.auth()
    r = raw.http.post("/copysession/2/suspend", headers=h)
    assert raw.wait(r.json()["job_id"], h)["status"] == "Success"
    assert raw.http.get("/copysession/2", headers=h).json()["phase"] == "Equivalent"   # not yet, as warned
    time.sleep(0.35)
    assert raw.http.get("/copysession/2", headers=h).json()["phase"] == "Suspend"


# ------------------------------------------------------------------ faults
def test_busy_every_n(make_sim):
    sim, raw = make_sim(busy_every=3, busy_retry_after=2)
    h = raw.auth()
    codes = [raw.http.get("/copysession/1", headers=h) for _ in range(5)]
    busy = [r for r in codes if r.status_code == 503]
    assert len(busy) >= 1 and busy[0].headers["Retry-After"] == "2"


def test_copy_path_down(make_sim):
    sim, raw = make_sim(copy_path_down="1")
    r, job, s = _patch(raw, 1, {"recovery_mode": "Manual"})
    assert job["status"] == "Error" and "path" in job["failed_resource_info_list"][0]["message"].lower()
    assert s["recovery_mode"] == "Automatic"


def test_hung_jobs(make_sim):
    sim, raw = make_sim(hung_jobs=True)
    h = raw.auth()
    job_id = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h).json()["job_id"]
    time.sleep(0.05)
    assert raw.http.get(f"/job/{job_id}", headers=h).json()["status"] in ("Queued", "Running")


def test_dropped_connection(make_sim):
    sim, raw = make_sim(drop_every=2)
    raw.login()
    with pytest.raises(httpx.HTTPError):
        raw.http.get("/copysession/1")


def test_latency(make_sim):
    sim, raw = make_sim(latency=0.2)
    t = time.monotonic()
    raw.http.get("/copysession/1")
    assert time.monotonic() - t >= 0.2


# ------------------------------------------------------------------ TLS, logs, concurrency
def test_tls(make_sim):
    sim, raw = make_sim(tls=True)
    assert sim.base_url.startswith("https://") and sim.ca_path.exists()
    assert raw.http.post("/session", json={"user_name": ADMIN[0], "password": ADMIN[1]}).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(sim.base_url + "/api/v1/copysession", verify=ssl.create_default_context())


def test_request_log_and_issued_tokens(raw):
    token = raw.login()["token"]
    raw.http.get("/copysession/1", headers={"Authorization": f"Bearer {token}"})
    assert token in raw.server.array.issued_secrets
    last = raw.server.array.request_log[-1]
    assert (last["method"], last["path"], last["user"], last["status"]) == ("GET", "/api/v1/copysession/1",
                                                                              "qa_admin", 200)


def test_concurrent_patches(sim):
    """Threads hammering PATCH and GET: job ids unique, and each session ends as its last job says."""
    clients = [Raw(sim) for _ in range(8)]
    headers = [c.auth() for c in clients]
    sids = [1, 3, 4]

    def work(i):
        c, h = clients[i % 8], headers[i % 8]
        sid, mode = sids[i % 3], ("Manual" if (i // 3) % 2 else "Automatic")
        r = c.http.patch(f"/copysession/{sid}", json={"recovery_mode": mode}, headers=h)
        c.http.get(f"/copysession/{sid}", headers=h)
        assert r.status_code == 202
        return sid, mode, r.json()["job_id"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(300)))
    ids = [j for _, _, j in results]
    assert len(ids) == len(set(ids)) == 300
    h = headers[0]
    for sid in sids:
        last = max((r for r in results if r[0] == sid), key=lambda r: r[2])
        assert clients[0].wait(last[2], h)["status"] == "Success"
        assert clients[0].http.get(f"/copysession/{sid}", headers=h).json()["recovery_mode"] == last[1]
    for c in clients:
        c.http.close()


def test_defects_listed(capsys):
    from pytest_rec.simulator.cli import main
    from pytest_rec.simulator.defects import DEFECTS

    assert main(["--list-defects"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DEFECTS) and len(DEFECTS) >= 15
