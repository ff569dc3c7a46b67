"""The defect profiles of issues 14 and 16 behave as their descriptions say, and the correct
simulator does not (HTTP level). The suite's detection of each is tests/test_compliance_runs.py."""

from __future__ import annotations

import concurrent.futures
import time

import pytest

from conftest import TENANT, Raw, patch_and_read

from pytest_rec.simulator.defects import DEFECTS


_patch = patch_and_read


def _modes(s):
    return s["transfer_mode"], s["split_mode"], s["recovery_mode"]


def _with(make_sim, defect):
    return make_sim(defects={defect}) if defect else make_sim()


NEW = {"consistency-to-sync-noop", "stack-to-sync-keeps-stack", "consistency-exit-resets-recovery",
       "tenant-check-skipped-with-transfer", "non-rec-checked-only-for-transfer", "active-stack-patch-accepted",
       "tenant-destination-unchecked", "split-sync-only-checked-alone", "serial-mix"}


def test_new_profiles_are_listed_with_their_rules(capsys):
    from pytest_rec.simulator.cli import main

    assert NEW <= set(DEFECTS)
    for name in NEW:
        assert len(DEFECTS[name].breaks) == 1 and all(b.startswith("REC-") for b in DEFECTS[name].breaks)
    assert main(["--list-defects"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in DEFECTS)


@pytest.mark.parametrize("defect", [None, "consistency-to-sync-noop"])
def test_consistency_to_sync_noop(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    r, job, s = _patch(raw, 3, {"transfer_mode": "Synchronous", "split_mode": "Automatic",
                                "recovery_mode": "Automatic"})
    assert job["status"] == "Success"
    if defect:
        assert _modes(s) == ("Consistency", "Manual", "Manual")          # the whole body dropped
        r, job, s = _patch(raw, 3, {"recovery_mode": "Automatic"})      # other changes still work
        assert s["recovery_mode"] == "Automatic"
    else:
        assert _modes(s) == ("Synchronous", "Automatic", "Automatic")


@pytest.mark.parametrize("defect", [None, "stack-to-sync-keeps-stack"])
def test_stack_to_sync_keeps_stack(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    r, job, s = _patch(raw, 1, {"transfer_mode": "Synchronous", "recovery_mode": "Manual"})
    assert job["status"] == "Success"
    assert _modes(s) == (("Stack", "Manual", "Manual") if defect else ("Synchronous", "Manual", "Manual"))
    r, job, s = _patch(raw, 1, {"transfer_mode": "Consistency"})       # other transitions are fine
    assert s["transfer_mode"] == "Consistency"


@pytest.mark.parametrize("defect", [None, "consistency-exit-resets-recovery"])
def test_consistency_exit_resets_recovery(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    r, job, s = _patch(raw, 3, {"transfer_mode": "Stack"})             # session 3: Consistency, recovery Manual
    assert _modes(s) == ("Stack", "Manual", "Automatic" if defect else "Manual")
    r, job, s = _patch(raw, 3, {"transfer_mode": "Consistency", "recovery_mode": "Manual"})
    r, job, s = _patch(raw, 3, {"transfer_mode": "Synchronous", "recovery_mode": "Manual"})
    assert s["recovery_mode"] == "Manual"                               # sent: kept either way


@pytest.mark.parametrize("defect", [None, "tenant-check-skipped-with-transfer"])
def test_tenant_check_skipped_with_transfer(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    t = raw.auth(TENANT)
    foreign = sim.target()["sessions"]["tenant_foreign"]
    assert _patch(raw, foreign, {"recovery_mode": "Manual"}, t)[0].status_code == 403
    r, job, s = _patch(raw, foreign, {"transfer_mode": "Stack"}, t)
    if defect:
        assert r.status_code == 202 and job["status"] == "Success" and s["transfer_mode"] == "Stack"
    else:
        assert r.status_code == 403 and s["transfer_mode"] == "Synchronous"


@pytest.mark.parametrize("refusals", ["immediate", "job"])
@pytest.mark.parametrize("defect", [None, "non-rec-checked-only-for-transfer"])
def test_non_rec_checked_only_for_transfer(make_sim, defect, refusals):
    sim, raw = make_sim(defects={defect} if defect else set(), refusals=refusals)
    non_rec = sim.target()["sessions"]["non_rec"]
    r, job, s = _patch(raw, non_rec, {"transfer_mode": "Synchronous"})
    assert (r.status_code == 400) if refusals == "immediate" else (job["status"] == "Error")
    r, job, s = _patch(raw, non_rec, {"recovery_mode": "Manual"})
    if defect:
        assert r.status_code == 202 and job["status"] == "Success"
    else:
        assert (r.status_code == 400) if refusals == "immediate" else (job["status"] == "Error")


@pytest.mark.parametrize("defect", [None, "active-stack-patch-accepted"])
def test_active_stack_patch_accepted(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    active = sim.target()["sessions"]["active"]
    assert active == [9]
    s9 = raw.http.get("/copysession/9", headers=raw.auth()).json()
    assert (s9["type"], s9["transfer_mode"], s9["phase"]) == ("REC", "Stack", "Copying")
    r, job, s = _patch(raw, 9, {"recovery_mode": "Manual"})
    if defect:
        assert r.status_code == 202 and job["status"] == "Success" and s["recovery_mode"] == "Manual"
        r, job, s = _patch(raw, 9, {"transfer_mode": "Synchronous"})
        r, job, s = _patch(raw, 9, {"transfer_mode": "Stack", "recovery_mode": "Automatic"})   # put back
        assert _modes(s) == ("Stack", "Manual", "Automatic")
    else:
        assert r.status_code == 409 and s["recovery_mode"] == "Automatic"
    assert _patch(raw, 2, {"recovery_mode": "Manual"})[0].status_code == 409     # active Equivalent: refused


@pytest.mark.parametrize("defect", [None, "tenant-destination-unchecked"])
def test_tenant_destination_unchecked(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    t = raw.auth(TENANT)
    sessions = sim.target()["sessions"]
    foreign = sessions["tenant_foreign"]
    assert raw.http.get(f"/copysession/{foreign}", headers=raw.auth()).json()["is_local_source_volume"] is False
    code = _patch(raw, foreign, {"recovery_mode": "Manual"}, t)[0].status_code
    assert code == (202 if defect else 403)
    assert _patch(raw, 7, {"recovery_mode": "Manual"}, t)[0].status_code == 403      # source-local: checked
    assert _patch(raw, sessions["tenant_own_destination"], {"recovery_mode": "Manual"}, t)[0].status_code == 202


def test_tenant_source_only_is_the_mirror(make_sim):
    sim, raw = make_sim(defects={"tenant-source-only"})
    t = raw.auth(TENANT)
    sessions = sim.target()["sessions"]
    assert _patch(raw, sessions["tenant_own_destination"], {"recovery_mode": "Manual"}, t)[0].status_code == 403
    assert _patch(raw, sessions["tenant_foreign"], {"recovery_mode": "Manual"}, t)[0].status_code == 403


@pytest.mark.parametrize("defect", [None, "split-sync-only-checked-alone"])
def test_split_sync_only_checked_alone(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    assert _patch(raw, 1, {"split_mode": "Automatic"})[0].status_code == 400       # alone: refused either way
    r, job, s = _patch(raw, 1, {"split_mode": "Automatic", "recovery_mode": "Manual"})
    if defect:
        assert r.status_code == 202 and _modes(s) == ("Stack", "Manual", "Manual")
    else:
        assert r.status_code == 400 and _modes(s) == ("Stack", "Manual", "Automatic")
    assert _patch(raw, 4, {"transfer_mode": "Stack", "split_mode": "Manual",
                           "recovery_mode": "Manual"})[0].status_code == 400      # ends async: still refused


def _two_at_once(sim, bodies):
    clients = [Raw(sim), Raw(sim)]
    heads = [c.auth() for c in clients]

    def send(i):
        return clients[i].http.patch("/copysession/4", json=bodies[i], headers=heads[i])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(send, range(2)))
    for c, h, r in zip(clients, heads, replies):
        if r.status_code == 202:
            c.wait(r.json()["job_id"], h)
    state = clients[0].http.get("/copysession/4", headers=heads[0]).json()
    for c in clients:
        c.http.close()
    return replies, state


@pytest.mark.parametrize("latency", [0.0, 0.3])
def test_concurrent_patches_never_mix_on_the_correct_simulator(make_sim, latency):
    sim, raw = make_sim(job_latency=latency)
    replies, s = _two_at_once(sim, [{"transfer_mode": "Stack"}, {"recovery_mode": "Manual"}])
    assert [r.status_code for r in replies] == [202, 202]
    assert _modes(s) == ("Stack", "Manual", "Manual")


def test_serial_mix_loses_the_first_accepted_change(make_sim):
    sim, raw = make_sim(defects={"serial-mix"})
    replies, s = _two_at_once(sim, [{"transfer_mode": "Stack"}, {"recovery_mode": "Manual"}])
    assert [r.status_code for r in replies] == [202, 202]
    assert _modes(s) in {("Stack", "Manual", "Automatic"), ("Synchronous", "Manual", "Manual")}   # one lost
    # one change at a time (the suite's normal use) is not affected
    r, job, s = _patch(raw, 4, {"transfer_mode": "Synchronous"})
    r, job, s = _patch(raw, 4, {"recovery_mode": "Automatic"})
    assert _modes(s) == ("Synchronous", "Manual", "Automatic")


def test_baseline_and_active_in_the_target(sim):
    t = sim.target()
    s = t["sessions"]
    assert s["active"] == [9] and 9 not in s["writable"]
    assert s["baseline"]["1"] == {"transfer_mode": "Stack", "split_mode": "Manual", "recovery_mode": "Automatic",
                                  "suspended": True}
    assert s["baseline"]["2"]["suspended"] is False
    written = [*s["writable"], *s["active"], s["tenant_own"], s["tenant_own_destination"], s["tenant_foreign"]]
    assert set(s["baseline"]) == {str(i) for i in written}      # every session a run may change is pinned
    assert "[sessions.baseline.2]" in sim.target_text()


# ------------------------------------------------------------------ issue 27: copysession_id
@pytest.mark.parametrize("defect", [None, "bad-id-500", "bad-id-truncated"])
def test_bad_copysession_ids(make_sim, defect):
    sim, raw = _with(make_sim, defect)
    h = raw.auth()
    answers = {text: raw.http.patch(f"/copysession/{text}", json={"recovery_mode": "Manual"}, headers=h).status_code
               for text in ("abc", "-1", "0", "1.5", "4294967297")}
    gets = {text: raw.http.get(f"/copysession/{text}", headers=h).status_code for text in answers}
    assert gets == {"abc": 400, "-1": 404, "0": 404, "1.5": 400, "4294967297": 404}     # reads are never broken
    if defect is None:
        assert answers == gets and sim.array.sessions[1].recovery_mode == "Automatic"
    elif defect == "bad-id-500":
        assert answers == {"abc": 500, "-1": 500, "0": 404, "1.5": 500, "4294967297": 500}
    else:
        assert answers == {"abc": 400, "-1": 404, "0": 404, "1.5": 202, "4294967297": 202}
        time.sleep(0.05)
        assert sim.array.sessions[1].recovery_mode == "Manual"          # session 1 was changed
