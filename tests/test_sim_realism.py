"""Realism options of the simulator (issue 15), one test each, at the HTTP level. Each is a
``Settings`` field, so it works as ``--rec-sim-option KEY=VALUE`` and ``rec-sim --fault KEY=VALUE``."""

from __future__ import annotations

import re
import time

import pytest

from conftest import ADMIN, OTHER, TENANT, Raw

from pytest_rec.simulator import Array, Settings, SimulatorServer
from pytest_rec.simulator.inventory import DEFAULT_INVENTORY


def _job(raw, h, r):
    assert r.status_code == 202, r.text
    return raw.wait(r.json()["job_id"], h)


# ------------------------------------------------------------------ page_size
def test_page_size_pages_the_list_with_next_href(make_sim):
    sim, raw = make_sim(page_size=5)
    h = raw.auth()
    r = raw.http.get("/copysession?fields=phase", headers=h).json()
    pages, ids = [r], [s["copysession_id"] for s in r["copysession_list"]]
    while "next_href" in pages[-1]:
        href = pages[-1]["next_href"]
        assert href.startswith("/api/v1/copysession?") and "fields=phase" in href and "last_get_id=" in href
        pages.append(raw.http.get(sim.base_url + href, headers=h).json())
        ids += [s["copysession_id"] for s in pages[-1]["copysession_list"]]
    assert [p["list_count"] for p in pages] == [5, 5, 2]
    assert all(p["total_count"] == 12 for p in pages)
    assert ids == sorted(ids) and len(set(ids)) == 12
    assert set(pages[0]["copysession_list"][0]) == {"copysession_id", "phase"}
    capped = raw.http.get("/copysession?max_records=2", headers=h).json()
    assert capped["list_count"] == 2 and "next_href" in capped
    assert raw.http.get("/copysession?max_records=0", headers=h).status_code == 400
    assert raw.http.get("/copysession?last_get_id=x", headers=h).status_code == 400


def test_unpaginated_by_default(raw):
    body = raw.http.get("/copysession", headers=raw.auth()).json()
    assert body["list_count"] == body["total_count"] == 12 and "next_href" not in body


# ------------------------------------------------------------------ read_lag
def test_read_lag_shows_the_old_modes_for_a_while(make_sim):
    sim, raw = make_sim(read_lag=0.5)
    h = raw.auth()
    assert _job(raw, h, raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h))["status"] \
        == "Success"
    assert raw.http.get("/copysession/1", headers=h).json()["recovery_mode"] == "Automatic"
    listed = raw.http.get("/copysession?copysession_id=1", headers=h).json()["copysession_list"][0]
    assert listed["recovery_mode"] == "Automatic"
    assert sim.array.sessions[1].recovery_mode == "Manual"          # applied, only the reads lag
    time.sleep(0.55)
    assert raw.http.get("/copysession/1", headers=h).json()["recovery_mode"] == "Manual"


# ------------------------------------------------------------------ busy on any request
def test_busy_covers_login(make_sim):
    sim, raw = make_sim(busy_every=1, busy_retry_after=3)
    r = raw.http.post("/session", json={"user_name": ADMIN[0], "password": ADMIN[1]})
    assert r.status_code == 503 and r.headers["Retry-After"] == "3" and "error_code" in r.json()


def test_busy_covers_job_polls_and_refresh(make_sim):
    sim, raw = make_sim(busy_every=3)
    login = raw.login(refresh=True)                                                # request 1
    h = {"Authorization": f"Bearer {login['token']}"}
    job = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h)   # 2
    assert job.status_code == 202
    assert raw.http.get(f"/job/{job.json()['job_id']}", headers=h).status_code == 503    # 3: a job poll
    assert raw.http.get(f"/job/{job.json()['job_id']}", headers=h).status_code == 200    # 4
    raw.http.get("/copysession/1", headers=h)                                             # 5
    refresh = raw.http.post("/session", json={"grant_type": "refresh_token",              # 6: a refresh
                                              "refresh_token": login["refresh_token"]})
    assert refresh.status_code == 503


# ------------------------------------------------------------------ hex_error_codes
def test_hex_error_codes(make_sim):
    sim, raw = make_sim(hex_error_codes=True, refusals="job")
    r = raw.http.post("/session", json={"user_name": "nobody", "password": "x"})
    assert r.status_code == 401 and re.fullmatch(r"D[0-9A-F]{3}", r.json()["error_code"])
    assert not r.json()["error_code"].isdigit()
    h = raw.auth()
    job = _job(raw, h, raw.http.patch("/copysession/2", json={"recovery_mode": "Manual"}, headers=h))
    assert job["status"] == "Error" and re.fullmatch(r"D[0-9A-F]{3}", job["failed_resource_info_list"][0]["error_code"])


def test_message_number_error_codes_by_default(raw):
    """A fixed 4-character message number per kind of error (fact sheet 2), never the HTTP status."""
    h = raw.auth()
    codes = {raw.http.get("/copysession/1").json()["error_code"],
             raw.http.get("/copysession/999999", headers=h).json()["error_code"],
             raw.http.patch("/copysession/1", json={"split_mode": "x"}, headers=h).json()["error_code"]}
    assert len(codes) == 3 and all(len(c) == 4 and c.isdigit() for c in codes)
    assert not codes & {"0401", "0404", "0400"}


def test_status_error_codes_is_the_old_style(make_sim):
    sim, raw = make_sim(status_error_codes=True)
    assert raw.http.get("/copysession/1").json()["error_code"] == "0401"


# ------------------------------------------------------------------ odd_neighbours
def test_odd_neighbours_carry_values_outside_the_enums_and_are_named_by_no_target(make_sim):
    sim, raw = make_sim(odd_neighbours=True)
    h = raw.auth()
    listed = {s["copysession_id"]: s for s in raw.http.get("/copysession", headers=h).json()["copysession_list"]}
    odd = {sid: s for sid, s in listed.items() if sid not in sim.array.inventory.target["sessions"]["writable"]
           and sid > 12}
    assert odd
    assert any(s.get("transfer_mode") == "Through" for s in odd.values())
    assert any(s["status"] == "Halt" for s in odd.values())
    assert any(s["phase"] not in ("Copying", "Equivalent", "Suspend") for s in odd.values())
    named = set()
    for key, value in sim.target()["sessions"].items():
        if isinstance(value, list):
            named |= set(value)
        elif isinstance(value, int):
            named.add(value)
        elif isinstance(value, dict):
            named |= {int(k) for k in value}
    assert not named & set(odd)
    through = next(sid for sid, s in odd.items() if s.get("transfer_mode") == "Through")
    assert raw.http.post(f"/copysession/{through}/suspend", headers=h).status_code == 409
    tenant_sees = {s["copysession_id"] for s in raw.http.get("/copysession", headers=raw.auth(TENANT)).json()[
        "copysession_list"]}
    assert not tenant_sees & set(odd)


def test_no_odd_neighbours_by_default(raw):
    assert len(raw.http.get("/copysession", headers=raw.auth()).json()["copysession_list"]) == 12


# ------------------------------------------------------------------ json_500
def test_500_has_the_json_error_body(make_sim):
    sim, raw = make_sim(defects={"null-500"})
    r = raw.http.patch("/copysession/1", json={"transfer_mode": None}, headers=raw.auth())
    assert r.status_code == 500 and set(r.json()) == {"error_code", "message", "internal_code"}


def test_any_handler_exception_is_a_json_500(make_sim, monkeypatch):
    sim, raw = make_sim()
    h = raw.auth()

    def boom(*args, **kwargs):
        raise ZeroDivisionError("firmware bug")

    monkeypatch.setattr(sim.array, "get_job", boom)
    r = raw.http.get("/job/1", headers=h)
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/json")
    assert r.json()["error_code"] == "0099"          # the message number of an internal error, not the status
    assert sim.array.request_log[-1]["status"] == 500


def test_json_500_off_answers_plain_text(make_sim):
    sim, raw = make_sim(defects={"null-500"}, json_500=False)
    r = raw.http.patch("/copysession/1", json={"recovery_mode": None}, headers=raw.auth())
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/plain")


# ------------------------------------------------------------------ grant_type password (a bug fix)
def test_documented_login_body_with_grant_type_password(raw):
    r = raw.http.post("/session", json={"grant_type": "password", "user_name": ADMIN[0], "password": ADMIN[1],
                                        "is_refresh_token_required": True})
    assert r.status_code == 200 and set(r.json()) == {"session_id", "token", "lifetime", "refresh_token"}
    r = raw.http.post("/session", json={"grant_type": "password", "user_name": ADMIN[0], "password": "wrong"})
    assert r.status_code == 401
    assert raw.http.post("/session", json={"grant_type": "magic", "user_name": ADMIN[0],
                                           "password": ADMIN[1]}).status_code == 400
    assert raw.http.post("/session", json={"grant_type": "refresh_token"}).status_code == 400


# ------------------------------------------------------------------ stack_equivalent
def test_stack_session_reaches_equivalent_after_resume_when_asked(make_sim):
    sim, raw = make_sim(stack_equivalent=True, copy_time=0.3)
    h = raw.auth()
    assert _job(raw, h, raw.http.post("/copysession/1/resume", headers=h))["status"] == "Success"
    assert raw.http.get("/copysession/1", headers=h).json()["phase"] == "Copying"
    assert raw.http.post("/copysession/1/suspend", headers=h).status_code == 409      # not yet equivalent
    time.sleep(0.35)
    assert raw.http.get("/copysession/1", headers=h).json()["phase"] == "Equivalent"
    assert _job(raw, h, raw.http.post("/copysession/1/suspend", headers=h))["status"] == "Success"


def test_stack_session_stays_copying_by_default(make_sim):
    sim, raw = make_sim(copy_time=0.1)
    h = raw.auth()
    _job(raw, h, raw.http.post("/copysession/1/resume", headers=h))
    time.sleep(0.15)
    assert raw.http.get("/copysession/1", headers=h).json()["phase"] == "Copying"


# ------------------------------------------------------------------ inventory=PATH
def test_inventory_option_loads_that_inventory(tmp_path):
    text = DEFAULT_INVENTORY.read_text().replace('model = "pytest-rec SIMULATOR"', 'model = "custom inventory"')
    text = text.replace('name = "qa_admin"', 'name = "custom_admin"')
    path = tmp_path / "inv.toml"
    path.write_text(text)
    settings = Settings.from_options({"inventory": str(path)})
    with SimulatorServer(Array(settings=settings)) as sim:
        assert sim.target()["array"]["model"] == "custom inventory"
        assert sim.target()["users"]["admin"]["name"] == "custom_admin"
        raw = Raw(sim)
        assert raw.http.post("/session", json={"user_name": "custom_admin", "password": ADMIN[1]}).status_code == 200
    with pytest.raises(ValueError):
        Array(settings=Settings.from_options({"inventory": str(tmp_path / "missing.toml")}))


# ------------------------------------------------------------------ hung_jobs_user
def test_hung_jobs_user_hangs_only_that_users_patch_jobs(make_sim):
    sim, raw = make_sim(hung_jobs_user=ADMIN[0])
    h, o = raw.auth(), raw.auth(OTHER)
    job = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h).json()["job_id"]
    time.sleep(0.05)
    assert raw.http.get(f"/job/{job}", headers=h).json()["status"] in ("Queued", "Running")
    assert _job(raw, o, raw.http.patch("/copysession/4", json={"recovery_mode": "Manual"}, headers=o))["status"] \
        == "Success"
    assert _job(raw, h, raw.http.post("/copysession/2/suspend", headers=h))["status"] == "Success"


# ------------------------------------------------------------------ writable_sessions, with latency and busy
def test_three_writable_sessions_with_latency_and_busy(make_sim):
    sim, raw = make_sim(job_latency=0.25, busy_every=37, writable_sessions=3)
    t = sim.target()
    assert t["sessions"]["writable"] == [1, 2, 3] and set(t["sessions"]["identity"]) == {"1", "2", "3"}
    assert sim.array.settings.job_latency == 0.25 and sim.array.settings.busy_every == 37


def test_more_writable_sessions_than_the_inventory_names(make_sim):
    sim, raw = make_sim(writable_sessions=6)
    writable = sim.target()["sessions"]["writable"]
    assert len(writable) == 6 and writable[:4] == [1, 2, 3, 4]
    h = raw.auth()
    for sid in writable[4:]:
        s = raw.http.get(f"/copysession/{sid}", headers=h).json()
        assert (s["type"], s["phase"], s["transfer_mode"]) == ("REC", "Suspend", "Synchronous")


def test_options_from_strings():
    s = Settings.from_options({"page_size": "5", "read_lag": "1.5", "hex_error_codes": "true", "odd_neighbours": "",
                               "json_500": "false", "stack_equivalent": "yes", "hung_jobs_user": "qa_admin",
                               "writable_sessions": "3", "one_job_per_session": "1", "inventory": "x.toml"})
    assert (s.page_size, s.read_lag, s.hex_error_codes, s.odd_neighbours, s.json_500, s.stack_equivalent,
            s.hung_jobs_user, s.writable_sessions, s.one_job_per_session, s.inventory) == \
        (5, 1.5, True, True, False, True, "qa_admin", 3, True, "x.toml")
    with pytest.raises(ValueError):
        Settings(page_size=-1)


# ------------------------------------------------------------------ one change at a time per session
def test_concurrent_patches_are_serialised_by_default(make_sim):
    sim, raw = make_sim(job_latency=0.3)
    h = raw.auth()
    a = raw.http.patch("/copysession/4", json={"transfer_mode": "Stack"}, headers=h)
    b = raw.http.patch("/copysession/4", json={"recovery_mode": "Manual"}, headers=h)
    assert a.status_code == b.status_code == 202
    raw.wait(a.json()["job_id"], h), raw.wait(b.json()["job_id"], h)
    s = raw.http.get("/copysession/4", headers=h).json()
    assert (s["transfer_mode"], s["split_mode"], s["recovery_mode"]) == ("Stack", "Manual", "Manual")


def test_one_job_per_session_refuses_a_second_change(make_sim):
    sim, raw = make_sim(job_latency=0.3, one_job_per_session=True)
    h = raw.auth()
    a = raw.http.patch("/copysession/4", json={"transfer_mode": "Stack"}, headers=h)
    b = raw.http.patch("/copysession/4", json={"recovery_mode": "Manual"}, headers=h)
    assert a.status_code == 202 and b.status_code == 409 and "previous command in process" in b.json()["message"]
    assert raw.http.patch("/copysession/3", json={"recovery_mode": "Automatic"}, headers=h).status_code == 202
    raw.wait(a.json()["job_id"], h)
    assert raw.http.patch("/copysession/4", json={"recovery_mode": "Manual"}, headers=h).status_code == 202


def test_a_crash_while_settling_jobs_is_a_json_500(make_sim, monkeypatch):
    sim, raw = make_sim()
    h = raw.auth()

    def boom():
        raise RuntimeError("job engine crashed")

    monkeypatch.setattr(sim.array, "tick", boom)
    r = raw.http.get("/copysession/1", headers=h)
    assert r.status_code == 500 and r.json()["message"].endswith("(internal)")


# ------------------------------------------------------------------ through_suspended
def test_through_suspended_shows_through_until_a_patch_sets_the_transfer_mode(make_sim):
    sim, raw = make_sim(through_suspended=True)
    h = raw.auth()
    read = lambda sid: raw.http.get(f"/copysession/{sid}", headers=h).json()["transfer_mode"]  # noqa: E731
    assert (read(1), read(3), read(4), read(9)) == ("Through", "Through", "Synchronous", "Stack")   # 9 is active
    listed = {s["copysession_id"]: s for s in raw.http.get("/copysession", headers=h).json()["copysession_list"]}
    assert listed[1]["transfer_mode"] == "Through"
    # a split_mode is refused on it as on any asynchronous session; a recovery_mode leaves it Through
    assert raw.http.patch("/copysession/1", json={"split_mode": "Automatic"}, headers=h).status_code == 400
    assert _job(raw, h, raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h))["status"] \
        == "Success"
    assert read(1) == "Through"
    assert raw.http.patch("/copysession/1", json={"transfer_mode": "Through"}, headers=h).status_code == 400
    assert _job(raw, h, raw.http.patch("/copysession/1", json={"transfer_mode": "Stack"}, headers=h))["status"] \
        == "Success"
    assert read(1) == "Stack" and sim.array.sessions[1].transfer_mode == "Stack"


def test_no_through_by_default(raw):
    assert raw.http.get("/copysession/1", headers=raw.auth()).json()["transfer_mode"] == "Stack"


# ------------------------------------------------------------------ concurrent_refusal
@pytest.mark.parametrize("status", [409, 503])
def test_a_concurrent_patch_is_refused_with_409_or_503(make_sim, status):
    sim, raw = make_sim(one_job_per_session=True, concurrent_refusal=status, job_latency=0.5)
    h = raw.auth()
    first = raw.http.patch("/copysession/1", json={"recovery_mode": "Manual"}, headers=h)
    second = raw.http.patch("/copysession/1", json={"recovery_mode": "Automatic"}, headers=h)
    assert first.status_code == 202 and second.status_code == status
    assert ("Retry-After" in second.headers) is (status == 503)
    assert _job(raw, h, first)["status"] == "Success"
    assert raw.http.patch("/copysession/1", json={"recovery_mode": "Automatic"}, headers=h).status_code == 202
    with pytest.raises(ValueError):
        Settings(concurrent_refusal=500)
