"""Walks (issue 31): the generator, the starting-state path shrinking and reproducers share, the
reproducer script, and the simulator's history-dependent defects (each invisible to every single change
from every starting state, each shown by a short sequence). Whole runs: tests/test_walk_runs.py."""

from __future__ import annotations

import random
import subprocess

import pytest

from pytest_rec.model.behaviour import Modes, bodies, expect, starting_states
from pytest_rec.simulator.array import Array
from pytest_rec.simulator.history import HISTORY_DEFECTS
from pytest_rec.simulator.inventory import load_inventory
from pytest_rec.simulator.settings import Settings
from pytest_rec.engine.walk import Generator, kind
from pytest_rec.engine.walk_shrink import start_path

BODIES = [b for b in bodies() if b]
ALL_STATES = starting_states() + [Modes(t, "Automatic", r) for t in ("Stack", "Consistency")
                                  for r in ("Automatic", "Manual")]


def _walk(seed, start, steps):
    gen, st, out = Generator(random.Random(seed)), start, []
    for _ in range(steps):
        body = gen.next(st)
        exp = expect(st, body)
        out.append((st, body))
        st = exp.modes if exp.accepted else st
    return out


def test_the_same_seed_gives_the_same_walk_and_another_seed_another():
    start = Modes("Synchronous", "Automatic", "Automatic")
    assert _walk("20261204:0", start, 30) == _walk("20261204:0", start, 30)
    assert _walk("20261204:0", start, 30) != _walk("1:0", start, 30)


def test_a_walk_takes_every_kind_of_step_and_refused_shapes():
    seen = {kind(st, b) for seed in range(5) for st, b in _walk(seed, Modes("Synchronous", "Automatic", "Manual"), 24)}
    assert seen == {"refused", "depart", "return", "leg", "stay"}
    shapes = {tuple(sorted(b)) for seed in range(3) for st, b in _walk(seed, Modes("Stack", "Manual", "Manual"), 30)}
    assert len(shapes) == 7                  # each field alone, each pair, all three


def test_a_walk_never_takes_a_body_it_may_not():
    no_stack = lambda b: b.get("transfer_mode") != "Stack"   # noqa: E731 (as the way back would refuse it)
    gen, st = Generator(random.Random(3)), Modes("Synchronous", "Manual", "Manual")
    for _ in range(40):
        body = gen.next(st, no_stack)
        assert body.get("transfer_mode") != "Stack"
        exp = expect(st, body)
        st = exp.modes if exp.accepted else st


@pytest.mark.parametrize("current", ALL_STATES, ids=lambda m: m.label())
def test_start_path_reaches_every_starting_state_by_legal_changes(current):
    for wanted in starting_states():
        st = current
        for body in start_path(current, wanted):
            exp = expect(st, body)
            assert exp.accepted, (current, wanted, body)
            st = exp.modes
        assert st == wanted
    assert len(start_path(current, current)) == (1 if current.transfer_mode == "Synchronous" else 2)


# ------------------------------------------------------------------ the simulator's history defects
class _InProcess:
    """The simulated array without HTTP: each request as the front would make it, jobs settled at once."""

    def __init__(self, defects=()):
        self.array = Array(load_inventory(), Settings(defects=frozenset(defects)))
        self.callers = {}

    def caller(self, user):
        if user not in self.callers:
            name, password = {"admin": ("qa_admin", "sim-admin-Pa55"), "tenant": ("qa_tenant", "sim-tenant-Pa55")}[user]
            token = self.array.login({"user_name": name, "password": password}).body["token"]
            self.callers[user] = self.array.authenticate(f"Bearer {token}")
        return self.callers[user]

    def set(self, sid, modes: Modes):
        cs = self.array.sessions[sid]
        cs.transfer_mode, cs.split_mode, cs.recovery_mode = modes.transfer_mode, modes.split_mode, modes.recovery_mode
        cs.phase = "Suspend"

    def patch(self, sid, body, user="admin"):
        reply = self.array.patch(self.caller(user), sid, body, "test")
        self.array.tick()
        status = reply.status
        if status == 202:
            job = self.array.jobs[reply.body["job_id"]]
            status = f"202 {job.status}"
        cs = self.array.sessions[sid]
        return status, (cs.transfer_mode, cs.split_mode, cs.recovery_mode)


SESSION_DEFECTS = [d for d in HISTORY_DEFECTS if d != "tenant-refusal-remembered"]


@pytest.mark.parametrize("defect", SESSION_DEFECTS)
def test_a_history_defect_is_invisible_to_every_single_change(defect):
    """From every starting state, every body: the defective array answers and reads as the correct one."""
    for start in starting_states():
        for body in BODIES:
            good, bad = _InProcess(), _InProcess({defect})
            good.set(4, start)
            bad.set(4, start)
            assert bad.patch(4, body) == good.patch(4, body), (defect, start.label(), body)


def test_the_tenant_defect_is_invisible_to_every_single_change():
    for sid in (6, 12):
        for body in BODIES:
            good, bad = _InProcess(), _InProcess({"tenant-refusal-remembered"})
            assert bad.patch(sid, body, "tenant") == good.patch(sid, body, "tenant"), (sid, body)


SEQUENCES = {       # defect -> (session, starting state, [(user, session, body)], the last step's read on a correct array)
    "refused-recovery-carried": (4, Modes("Synchronous", "Manual", "Manual"),
                                 [("admin", 4, {"transfer_mode": "Stack", "split_mode": "Automatic", "recovery_mode": "Automatic"}),
                                  ("admin", 4, {"split_mode": "Automatic"})]),
    "short-trip-split-automatic": (4, Modes("Synchronous", "Automatic", "Manual"),
                                   [("admin", 4, {"transfer_mode": "Stack"}), ("admin", 4, {"transfer_mode": "Consistency"}),
                                    ("admin", 4, {"transfer_mode": "Synchronous"})]),
    "refused-split-latched": (4, Modes("Stack", "Manual", "Manual"),
                              [("admin", 4, {"split_mode": "Automatic"}), ("admin", 4, {"recovery_mode": "Automatic"}),
                               ("admin", 4, {"transfer_mode": "Synchronous"})]),
    "tenant-refusal-remembered": (6, Modes("Synchronous", "Automatic", "Automatic"),
                                  [("tenant", 12, {"recovery_mode": "Manual"}), ("tenant", 6, {"recovery_mode": "Manual"})]),
}


@pytest.mark.parametrize("defect", sorted(SEQUENCES))
def test_a_short_sequence_shows_each_history_defect(defect):
    sid, start, steps = SEQUENCES[defect]
    good, bad = _InProcess(), _InProcess({defect})
    good.set(sid, start)
    bad.set(sid, start)
    answers = [(g.patch(s, b, u), d.patch(s, b, u)) for g, d in [(good, bad)] for u, s, b in steps]
    assert all(a == b for a, b in answers[:-1])          # every step before the last looks right
    assert answers[-1][0] != answers[-1][1]


# ------------------------------------------------------------------ the reproducer script
def _array_target():
    from pytest_rec.model.target import Target, UserSpec

    return Target(url="https://array.example:5665", kind="array", verify=True,
                  users={"admin": UserSpec("admin", "qa_admin", "REC_ADMIN_PASSWORD"),
                         "tenant": UserSpec("tenant", "qa_tenant", "REC_TENANT_PASSWORD")},
                  writable=[12], tenant_own=14, tenant_foreign=15, non_rec=3)


def test_a_reproducer_is_posix_sh_without_a_secret(tmp_path):
    from pytest_rec.engine.reproducer import matrix_case, script

    target = _array_target()
    text = script(target, "REC-KEEP-OMITTED", "walk", [("admin", 12, {"recovery_mode": "Manual"},
                                                         Modes("Stack", "Manual", "Automatic"), True),
                                                        ("tenant", 15, {"transfer_mode": "Stack"},
                                                         Modes("Synchronous", "Manual", "Automatic"), False)],
                  {12: Modes("Stack", "Manual", "Automatic")})
    path = tmp_path / "r.sh"
    path.write_text(text)
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0
    assert "$REC_ADMIN_PASSWORD" in text and "$REC_TENANT_PASSWORD" in text and "Pa55" not in text
    assert "'Stack/Manual/Manual'" in text and "'refused 403 404 job-error'" in text
    assert matrix_case("test_patch[Stack/Manual/Automatic + {transfer_mode: Synchronous, split_mode: Manual}]") == (
        Modes("Stack", "Manual", "Automatic"), {"transfer_mode": "Synchronous", "split_mode": "Manual"})
    assert matrix_case("test_walk_tenant") is None


def _row(case, method, path, body=None, modes=None, user="admin", status=200, content_type="application/json"):
    out = {"case": case, "user": user, "method": method, "path": f"/api/v1{path}", "status": status,
           "request_headers": {"Content-Type": content_type}, "request_body": body, "response_body": None}
    if modes:
        out["response_body"] = dict(zip(("transfer_mode", "split_mode", "recovery_mode"), modes.split("/")))
    return out


def test_a_matrix_reproducer_replays_the_trip_its_case_stood_on():
    """A matrix case's starting state can carry history the read does not show (the split the session had
    before its trip, say): the reproducer replays the changes since the trip began, from the transcript."""
    from pytest_rec.engine.reproducer import case_history

    case = "test_patch[Stack/Manual/Automatic + {transfer_mode: Synchronous}]"
    rows = [_row("a", "GET", "/copysession/2", modes="Synchronous/Manual/Manual"),
            _row("a", "PATCH", "/copysession/2", {"split_mode": "Automatic"}, status=202),
            _row("a", "GET", "/copysession/2", modes="Synchronous/Automatic/Manual"),
            _row("b", "PATCH", "/copysession/2", {"transfer_mode": "Stack"}, status=202),
            _row("b", "GET", "/copysession/2", modes="Stack/Manual/Manual"),
            _row("b", "PATCH", "/copysession/3", {"recovery_mode": "Automatic"}, status=202),
            _row("c", "GET", "/copysession/3", modes="Synchronous/Manual/Automatic"),
            _row(case, "PATCH", "/copysession/2", {"recovery_mode": "Automatic"}, status=202),
            _row(case, "PATCH", "/copysession/2", {"recovery_mode": "Manual"}, status=415, content_type="text/plain"),
            _row(case, "GET", "/copysession/2", modes="Stack/Manual/Automatic"),
            _row(case, "PATCH", "/copysession/2", {"transfer_mode": "Synchronous"}, status=503),
            _row(case, "PATCH", "/copysession/2", {"transfer_mode": "Synchronous"}, status=202),
            _row(case, "GET", "/copysession/2", modes="Synchronous/Automatic/Automatic")]
    sid, start, history = case_history([rows], case, {"transfer_mode": "Synchronous"}, {"admin": None})
    assert (sid, start) == (2, Modes("Synchronous", "Automatic", "Manual"))
    # neither the body sent as text/plain nor the 503 the client retried is a change to replay
    assert history == [("admin", 2, {"transfer_mode": "Stack"}), ("admin", 2, {"recovery_mode": "Automatic"})]
    assert case_history([rows], "test_patch[other]", {"transfer_mode": "Synchronous"}, {"admin": None}) is None


def test_a_reproducer_of_rec_response_judges_the_202_body_and_a_tenant_step_reads_first(tmp_path):
    from pytest_rec.engine.reproducer import script

    target = _array_target()
    text = script(target, "REC-RESPONSE", "case", [("admin", 12, {"recovery_mode": "Manual"},
                                                    Modes("Stack", "Manual", "Automatic"), True)],
                  {12: Modes("Synchronous", "Automatic", "Automatic")},
                  history=[("admin", 12, {"transfer_mode": "Stack"})])
    assert "REQ=REC-RESPONSE" in text and "reference; fi" in text
    assert "  history admin 12 '{\"transfer_mode\": \"Stack\"}'" in text and "settle 12 Stack/Manual/Automatic" in text
    assert "bring 12 Stack Manual Automatic || UNSURE=1" in text
    assert 'if [ "$1" != admin ]; then' in text and 'call "$1" GET "/copysession/$2"' in text
    assert "putback; exit 2' INT TERM HUP" in text and text.count("\nputback\n") == 1     # put back on Ctrl-C too
    path = tmp_path / "r.sh"
    path.write_text(text)
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0
