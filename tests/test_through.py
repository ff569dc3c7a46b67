"""Through (issue 27): the design guide's fourth transfer mode, which the PATCH cannot set. The model
never expects a split_mode taken on such a session, the restore never writes it, preflight stops a
run whose writable session reads it unless the profile lists it (then that session is set aside), and
with the simulator's ``through_suspended`` option a run is compliant (profile set) or stops at
preflight with nothing written (profile unset)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_rec.model.behaviour import Modes, expect
from pytest_rec.simulator.inventory import DEFAULT_INVENTORY


def test_the_model_never_expects_a_split_taken_on_a_through_session():
    through = Modes("Through", "Manual", "Automatic")
    for split in ("Automatic", "Manual"):
        exp = expect(through, {"split_mode": split})
        assert not exp.accepted and exp.refusal_requirement == "REC-SPLIT-SYNC-ONLY"
        assert not expect(through, {"split_mode": split, "recovery_mode": "Manual"}).accepted
    assert expect(through, {"transfer_mode": "Synchronous", "split_mode": "Automatic"}).accepted
    assert expect(through, {"recovery_mode": "Manual"}).modes == Modes("Through", "Manual", "Manual")


def _target(server, profile=None):
    from pytest_rec.simulator.targetfile import target_data
    from pytest_rec.model.target import parse_target

    data = target_data(server.array.inventory, server.base_url, True)
    if profile is not None:
        data["profile"] = profile
    return parse_target(data, "sim-target.toml", kind="array")


def _clients(target):
    from pytest_rec.client.rest import Credentials, RecClient
    from pytest_rec.client.transcript import Transcript
    from pytest_rec.engine.context import make_guard

    guard = make_guard(target)
    return [RecClient(target.url, Credentials(k, n, p), verify=True, guard=guard, transcript=Transcript()).login()
            for k, n, p in (("admin", "qa_admin", "sim-admin-Pa55"), ("tenant", "qa_tenant", "sim-tenant-Pa55"))]


def test_preflight_stops_on_through_unless_the_profile_lists_it_then_sets_the_session_aside(make_sim):
    from pytest_rec.engine.preflight import preflight, set_aside

    server, _ = make_sim(through_suspended=True)
    target = _target(server)
    admin, tenant = _clients(target)
    problems = preflight(target, admin, tenant)
    through = [p for p in problems if "'Through'" in p]
    assert [p.split(" reads")[0] for p in through] == ["session 1", "session 3"], problems
    assert all("readable_transfer_modes" in p and "cannot set" in p for p in through)
    assert not [p for p in problems if "baseline" in p], problems      # one reason, not a baseline diff too
    assert set_aside(target, admin, target.writable) == {}

    listed = _target(server, {"readable_transfer_modes": ["Through"]})
    admin, tenant = _clients(listed)
    assert preflight(listed, admin, tenant) == []
    aside = set_aside(listed, admin, listed.writable)
    assert sorted(aside) == [1, 3] and all("'Through'" in why and "never written" in why for why in aside.values())

    # the control: without the option nothing reads Through and nothing is set aside
    plain, _ = make_sim()
    listed = _target(plain, {"readable_transfer_modes": ["Through"]})
    admin, tenant = _clients(listed)
    assert preflight(listed, admin, tenant) == [] and set_aside(listed, admin, listed.writable) == {}


def test_preflight_stops_when_a_tenant_session_reads_a_mode_the_patch_cannot_set(make_sim):
    from pytest_rec.engine.preflight import preflight

    server, _ = make_sim()
    server.array.sessions[6].transfer_mode = "Through"          # tenant_own: the run may change it
    target = _target(server, {"readable_transfer_modes": ["Through"]})
    admin, tenant = _clients(target)
    problems = preflight(target, admin, tenant)
    assert any(p.startswith("session 6 reads transfer mode 'Through'") for p in problems), problems


def test_the_restore_never_writes_a_mode_the_patch_cannot_set(make_sim, tmp_path):
    from pytest_rec.engine.restore import Journal, restore_pending
    from pytest_rec.engine.sessions import Operator

    server, _ = make_sim()
    target = _target(server)
    admin, _ = _clients(target)
    journal = Journal(tmp_path / "journal.json", target)
    journal.record(1, {**admin.get_copysession(1), "transfer_mode": "Through"})
    sent = []
    send = admin.http.send

    def spy(request, **kw):
        sent.append((request.method, request.url.path))
        return send(request, **kw)
    admin.http.send = spy
    _, failures = restore_pending(Operator(target, admin, 10), journal, attempts=1)
    assert failures and "'Through'" in failures[0] and "cannot set" in failures[0]
    assert not [s for s in sent if s[0] != "GET"], sent
    assert journal.pending() == [1]


def _run(tmp_path: Path, *args: str) -> tuple[int, dict, str, list[dict]]:
    out = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest_rec.cli", "--rec-report-dir", str(out), "-q",
                           "--rec-sim-option", "through_suspended=true", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900)
    sent = [json.loads(line) for f in sorted(out.glob("transcript*.jsonl")) for line in f.read_text().splitlines()]
    return proc.returncode, json.loads((out / "compliance.json").read_text()), proc.stdout + proc.stderr, sent


def test_through_without_the_profile_stops_at_preflight_and_writes_nothing(tmp_path):
    code, summary, out, sent = _run(tmp_path)
    assert code == 2, out[-3000:]
    assert summary["verdict"] == "inconclusive"
    assert "session 1 reads transfer mode 'Through'" in summary["verdict_reason"]
    assert "readable_transfer_modes" in summary["verdict_reason"]
    assert not [e for e in sent if e["method"] != "GET" and "/copysession" in e["path"]], "something was written"
    assert "No session was written." in (tmp_path / "reports" / "compliance.md").read_text()


@pytest.mark.whole_run
def test_through_with_the_profile_is_compliant_and_never_writes_the_through_sessions(tmp_path):
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(DEFAULT_INVENTORY.read_text() + '\n[target.profile]\nreadable_transfer_modes = ["Through"]\n')
    code, summary, out, sent = _run(tmp_path, "--rec-sim-option", f"inventory={inventory}")
    assert code == 0, out[-3000:]
    assert summary["verdict"] == "compliant" and not summary["restore"]["failed"]
    assert summary["signoff"]["profile"]["readable_transfer_modes"] == ["Through"]
    assert [w.split(":")[0] for w in summary["signoff"]["set_aside"]] == ["session 1 set aside", "session 3 set aside"]
    assert "session 3 set aside: it reads transfer mode 'Through'" in (tmp_path / "reports" / "compliance.md").read_text()
    written = {e["path"] for e in sent if e["method"] != "GET"}
    assert not {p for p in written if p.split("/")[4:5] in (["1"], ["3"])}, written
    assert "/api/v1/copysession/2" in written
