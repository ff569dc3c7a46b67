"""Issue 29: the matrix planned as one path per lane from its session's home, each lane's run sent to the
worker that owns its session, jobs per check in the summary, and reads that wait for a learned lag."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace

from pytest_rec.model.matrix import WARM_UP, chunk, full_cases, order, plan_jobs, plan_lanes
from pytest_rec.model.behaviour import Modes
from pytest_rec.plugin._xdist import lane_scheduler
from pytest_rec.client.transcript import Exchange, Transcript, jobs_line, jobs_summary

STACK, SYNC, CONS = Modes("Stack", "Manual", "Automatic"), Modes("Synchronous", "Automatic", "Automatic"), \
    Modes("Consistency", "Manual", "Manual")
HOMES = [STACK, SYNC, CONS]          # the homes of the lanes array's three writable sessions (sim 1, 2, 3)


def _starts_home(runs, homes) -> bool:
    return all(run and run[0].start == home for run, home in zip(runs, homes))


def test_each_lane_is_a_path_from_its_home_with_few_jumps():
    cases = full_cases()
    runs = plan_lanes(cases, HOMES)
    assert sorted(c.id for run in runs for c in run) == sorted(c.id for c in cases)     # each case once
    assert _starts_home(runs, HOMES)
    jobs = [plan_jobs(run, home) for run, home in zip(runs, HOMES)]
    accepted = sum(1 for c in cases if c.expectation.accepted)
    # the graph's imbalance: 12 paths at least, two of them start free at a home with a surplus
    assert accepted + 10 <= sum(jobs) <= accepted + 14, jobs
    assert max(jobs) - min(jobs) <= 6, jobs
    old = chunk(order(cases), 3)        # the control: one order cut in three ignores the homes
    assert not _starts_home(old, HOMES)
    assert sum(jobs) <= sum(plan_jobs(run, home) for run, home in zip(old, HOMES))


def test_warm_up_takes_no_trip_that_needs_a_proof():
    """A lane at home in Stack or Consistency first takes only trips a pioneer may make (DECISIONS 66),
    the Synchronous lane changes transfer mode at once: no lane waits for another's proof."""
    runs = plan_lanes(full_cases(), HOMES)
    order_ = ("Synchronous", "Stack", "Consistency")
    for run, home in zip(runs, HOMES):
        first = [c for c in run if c.expectation.accepted][:WARM_UP]
        if home.transfer_mode == "Synchronous":
            assert first[0].end.transfer_mode != "Synchronous", first[0].id
        else:
            assert all(order_.index(c.end.transfer_mode) >= order_.index(home.transfer_mode) for c in first), \
                [c.id for c in first]


def test_unknown_homes_keep_one_order():
    from pytest_rec.model.matrix import lane_runs

    cases = full_cases()
    assert lane_runs(cases, [], 3) == chunk(order(cases), 3)
    assert lane_runs(cases, [None, None], 2) == chunk(order(cases), 2)
    assert _starts_home(lane_runs(cases, HOMES, 3), HOMES)


class _Node:
    def __init__(self, wid: str):
        self.workerinput = {"workerid": wid}
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indexes) -> None:
        self.sent.append(list(indexes))


def test_each_lane_run_goes_to_the_worker_that_owns_its_session():
    config = SimpleNamespace(getvalue=lambda name: ["3*popen"] if name == "tx" else None)
    sched = lane_scheduler(config)
    nodes = [_Node("gw1"), _Node("gw0"), _Node("gw2")]       # in the order the workers came up
    ids = ["m0@rec-lane-0", "m1@rec-lane-1", "m2@rec-lane-2", "m3@rec-lane-2", "other", "shared@rec-lane-shared"]
    for node in nodes:
        sched.registered_collections[node] = ids
    # xdist's own order: the largest group first (rec-lane-2 has two cases)
    sched.workqueue = OrderedDict([("rec-lane-2", {"m2@rec-lane-2": False, "m3@rec-lane-2": False}),
                                   ("rec-lane-0", {"m0@rec-lane-0": False}), ("other", {"other": False}),
                                   ("rec-lane-1", {"m1@rec-lane-1": False}),
                                   ("rec-lane-shared", {"shared@rec-lane-shared": False})])
    for node in nodes:
        sched._assign_work_unit(node)
    got = {n.workerinput["workerid"]: [ids[i] for i in n.sent[0]] for n in nodes}
    assert got == {"gw0": ["m0@rec-lane-0"], "gw1": ["m1@rec-lane-1"], "gw2": ["m2@rec-lane-2", "m3@rec-lane-2"]}
    # a worker whose lane run is handed out takes the next unit that is no other worker's lane run
    sched._assign_work_unit(nodes[1])
    assert [ids[i] for i in nodes[1].sent[1]] == ["other"]


def _ex(case: str, method: str, path: str, status: int) -> Exchange:
    return Exchange("admin", method, path, status, {}, None, None, 0.0, 0.0, case=case)


def test_jobs_per_check_count_setup_and_restore():
    t = Transcript()
    for ex in [_ex("setup", "PATCH", "/api/v1/copysession/1", 202),
               _ex("test_patch[a]", "POST", "/api/v1/copysession/2/suspend", 202),
               _ex("test_patch[a]", "PATCH", "/api/v1/copysession/2", 202),
               _ex("test_patch[a]", "GET", "/api/v1/job/7", 200),
               _ex("test_patch[b]", "PATCH", "/api/v1/copysession/2", 400),     # refused: no job
               _ex("test_x", "PATCH", "/api/v1/copysession/2", 202),
               _ex("test_x", "PATCH", "/api/v1/copysession/2", 503),
               _ex("restore", "POST", "/api/v1/copysession/2/resume", 202)]:
        t.add(ex)
    by_case = t.jobs_by_case()
    assert by_case == {"setup": 1, "test_patch[a]": 2, "test_x": 1, "restore": 1}
    s = jobs_summary(by_case, ["test_patch[a]", "test_patch[b]", "test_x"])
    assert s == {"total": 5, "checks": 3, "per_check": 1.67, "matrix": {"cases": 2, "jobs": 2, "per_case": 1.0},
                 "outside_checks": 2}
    line = jobs_line(s)
    assert "5 for 3 checks (1.67 per check)" in line and "matrix: 2 for 2 cases (1.0 per case)" in line
    assert jobs_line(jobs_summary({}, [])) is None


def test_a_read_after_a_change_waits_for_the_learned_lag(monkeypatch):
    """After a few changes whose reads lagged, the first read waits about that lag: one read, not six."""
    import pytest_rec.engine.judge as judge
    from pytest_rec.model.target import Profile

    class Clock:
        now = 0.0

        def monotonic(self):
            return self.now

        def sleep(self, s):
            self.now += max(0.0, s)

    clock = Clock()
    monkeypatch.setattr(judge, "time", clock)
    before, after = Modes("Stack", "Manual", "Automatic"), Modes("Stack", "Manual", "Manual")
    state = {"shows_at": 0.0}

    class Reader:
        transcript = Transcript()
        reads = 0

        def get_copysession(self, sid):
            Reader.reads += 1
            clock.now += 0.002
            m = after if clock.now >= state["shows_at"] else before
            return {"copysession_id": sid, "type": "REC", "phase": "Suspend", "status": "Active", **m.as_dict()}

    target = SimpleNamespace(profile=Profile(), has=lambda _: True)
    monkeypatch.setattr(judge, "state_of", lambda body, _t: SimpleNamespace(
        modes=Modes.of(body), suspended=True, phase="Suspend"))
    counts = []
    for _ in range(8):
        Reader.reads = 0
        state["shows_at"] = clock.now + 0.3
        st = judge.settled_read(Reader(), target, 1, after, before)
        assert st.modes == after
        counts.append(Reader.reads)
    assert counts[0] >= 5 and max(counts[-3:]) <= 3, counts
