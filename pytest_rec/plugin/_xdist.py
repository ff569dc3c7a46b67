"""Session lanes over pytest-xdist: which worker this process is, how many lanes the run has, and
which lane each check runs in. A lane is one worker that owns its writable sessions
(``writable[index::lanes]``), so the jobs of different lanes overlap on the array. The matrix is cut
into one contiguous, job-frugal run per lane (an xdist group each, the largest units, so xdist
hands one to each worker first). The checks that write sessions outside the writable pool (tenant,
active, non-REC: marked ``rec_shared_sessions``) form one more group, so that those sessions stay
in one hand. Every other check is left ungrouped and ordered heaviest first: xdist hands each one
to the next worker that runs short of work, so the lanes end close together however many jobs a
check turns out to cost (a fixed assignment of every check made them end up to 40% apart). No check
is large: fuzzing is cut into parts (``suite/test_fuzz.PARTS``), since xdist gives a worker its next
unit while two of its checks are still pending and could give two large ones to one lane."""

from __future__ import annotations

import pytest

__all__ = ["worker", "group_count", "assign_lanes", "hand_out_order", "LANE", "SHARED", "check_weight", "lane_homes",
           "lane_scheduler"]

LANE = "rec-lane-{}"
SHARED = "rec-lane-shared"

# expected jobs of one check outside the matrix (setup included), as measured on a simulator with
# three writable sessions and 0.25 s jobs (benchmarks/bench.py): for the plan and the hand-out order
_WEIGHTS = {"test_sticky_manual_round_trip": 8.0, "test_forced_manual_split": 2.0, "test_isolation": 4.0,
            "test_concurrent_changes_do_not_mix": 6.0, "test_suspend_first": 5.0,
            "test_split_mode_refused_when_asynchronous": 4.0, "test_tenant_allowed_on_own_session": 2.0,
            "test_tenant_allowed_on_own_destination_session": 2.0, "test_tenant_refused_on_each_local_side": 3.0,
            # a walk: about half its 22 steps are taken changes, with the suspend, resume and put-back around them;
            # weighed as 1 it was handed out last and ended one lane 7 s after the others (DECISIONS 115)
            "test_walk": 14.0, "test_walk_tenant": 8.0}
_FUZZ_JOBS = {"positive": 50.0, "negative": 20.0}    # all bodies of one mode, 40 of them


def worker(config: pytest.Config) -> tuple[int, int]:
    """(index, count) of this xdist worker; (0, 1) in the controller or without xdist. Read from the
    worker's own config, not the environment, so a run nested inside an xdist worker is not fooled."""
    info = getattr(config, "workerinput", None)
    if not info:
        return 0, 1
    wid = str(info.get("workerid", "gw0"))
    index = int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0
    return index, int(info.get("workercount", 1) or 1)


def group_count(config: pytest.Config) -> int:
    """The run's lanes: the xdist workers (in a worker, its ``workercount``: xdist clears -n there),
    else --rec-lanes (a dry run's plan), else 1."""
    info = getattr(config, "workerinput", None)
    n = (info.get("workercount") if info else None) or getattr(config.option, "numprocesses", None) \
        or getattr(config.option, "rec_lanes", None) or 0
    try:
        return max(1, int(n))
    except (TypeError, ValueError):
        return 1


def lane_homes(target: str, lanes: int) -> list:
    """The home of each lane's first session (``writable[k]``) as the target file pins it
    (``[sessions.baseline.N]``), None where it pins none; [] for the built-in simulator or a file that
    cannot be read (the run stops on it later, with the reason). The same in every process of a run:
    collection must be."""
    if target == "sim":
        return []
    from ..model.behaviour import Modes
    from ..model.target import TargetFileError, load_target

    try:
        t = load_target(target)
    except (TargetFileError, OSError):
        return []
    homes = []
    for sid in t.writable[:max(1, lanes)]:
        pin = t.baseline.get(sid) or {}
        modes = Modes(pin.get("transfer_mode"), pin.get("split_mode"), pin.get("recovery_mode"))
        homes.append(modes if all(modes.as_dict().values()) else None)
    return homes


def check_weight(item: pytest.Item) -> float:
    """Expected jobs of a check: a matrix case 1 when accepted, a few requests when refused."""
    case = getattr(item, "callspec", None) and item.callspec.params.get("rec_case")
    if case is not None:
        from ..model.matrix import REFUSED_WEIGHT

        return 1.0 if case.expectation.accepted else REFUSED_WEIGHT
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    if name == "test_generated_bodies" and getattr(item, "callspec", None):
        # positive bodies are mostly accepted (a job each, some a setup job too), negative ones refused
        parts = item.callspec.params.get("part", (0, 1))[1]
        return _FUZZ_JOBS.get(str(item.callspec.params.get("mode")), 35.0) / parts
    return _WEIGHTS.get(name, 1.0)


def assign_lanes(items: list[pytest.Item], lanes: int,
                 session_items: list[pytest.Item] | None = None) -> tuple[list[float], int | None]:
    """Group the ``rec_shared_sessions`` checks as one block (one lane) and order every other check
    outside the matrix heaviest first, for xdist to hand out as lanes run short of work. Returns what
    the plan shows: the expected jobs outside the matrix per lane if each check went to the lane with
    the least expected work (what xdist's hand-out comes close to), and the lane of the shared block
    in that estimate. ``session_items`` (the run's item list, reordered in place) defaults to ``items``."""
    load = [0.0] * max(1, lanes)
    other = [0.0] * len(load)
    shared_lane = None
    free: list[pytest.Item] = []
    shared: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("xdist_group")
        if marker is not None and marker.args and str(marker.args[0]).startswith("rec-lane-") \
                and str(marker.args[0]) != SHARED:
            load[int(str(marker.args[0]).rsplit("-", 1)[1]) % len(load)] += check_weight(item)
        elif item.get_closest_marker("rec_shared_sessions") is not None:
            shared.append(item)
        else:
            free.append(item)
    units = [shared] if shared else []
    units += [[i] for i in free]
    units.sort(key=lambda u: -sum(check_weight(i) for i in u))    # the largest first: a tighter balance
    for unit in units:
        k = min(range(len(load)), key=lambda j: load[j])
        weight = sum(check_weight(i) for i in unit)
        load[k] += weight
        other[k] += weight
        if unit is shared:
            shared_lane = k
            for item in unit:
                item.add_marker(pytest.mark.xdist_group(SHARED))
    if lanes > 1 and free:   # heaviest first, so the last checks handed out are the short ones
        every = items if session_items is None else session_items
        where = {id(i): n for n, i in enumerate(every)}
        slots = sorted(where[id(i)] for i in free)
        for slot, item in zip(slots, hand_out_order(free)):
            every[slot] = item
    return other, shared_lane


def hand_out_order(free: list[pytest.Item]) -> list[pytest.Item]:
    """The checks outside the matrix, heaviest first (the last handed out are the short ones, so the
    lanes end together); ``rec_last`` checks last. The sort is stable: ties keep their order."""
    return sorted(free, key=lambda i: (i.get_closest_marker("rec_last") is not None, -check_weight(i)))


def lane_scheduler(config: pytest.Config, log=None):
    """xdist's ``loadgroup`` scheduling, but the matrix run planned for lane k (``rec-lane-k``, a path that
    starts at the home of lane k's session) goes to worker ``gwk``, the worker that owns that session:
    xdist alone hands the groups out largest first to whichever worker is first in its list."""
    from xdist.scheduler import LoadGroupScheduling

    class LaneScheduling(LoadGroupScheduling):
        def _assign_work_unit(self, node) -> None:
            wid = str((getattr(node, "workerinput", None) or {}).get("workerid", ""))
            mine = LANE.format(wid[2:]) if wid.startswith("gw") else None
            if mine in self.workqueue:
                self.workqueue.move_to_end(mine, last=False)
            else:      # another worker's lane run stays for that worker while anything else is left
                others = [s for s in self.workqueue if not (s.startswith("rec-lane-") and s != SHARED)]
                if others:
                    self.workqueue.move_to_end(others[0], last=False)
            super()._assign_work_unit(node)

    return LaneScheduling(config, log)
