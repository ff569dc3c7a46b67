"""The plan of a run (`--rec-dry-run`): per writable session, the jobs, suspends and resumes
the matrix would cause; the named scenarios (REC-SERIAL included); and the wider refusal coverage
(every refusal rule with bodies of every shape, ``shapes.refusal_counts``) with what it costs when
the array refuses at once and when it refuses by job, against the job budget; at a given job latency."""

from __future__ import annotations

from .matrix import Case, full_cases, lane_runs, setup_jobs
from .shapes import refusal_counts, shapes_for

# REC-SERIAL pairs (suite/test_serial.py): two accepted jobs each, and at most one setup job
SERIAL_PAIRS = 5
SMALL_BUDGET = 60           # jobs: the refusal coverage may always cost this much (about 2 min at 2 s/job)


def matrix_jobs(cases: list[Case], refusals_cost_jobs: bool = False) -> int:
    """Jobs the PATCHes under test register: accepted ones always, refused ones only when the
    array answers refusals with a job (202 then Error)."""
    return sum(1 for c in cases if c.expectation.accepted or refusals_cost_jobs)


def job_budget(matrix_total: int) -> int:
    """The jobs the refusal coverage may add when the array refuses by job: no more than the matrix
    itself registers, or ``SMALL_BUDGET`` for a small matrix (smoke)."""
    return max(matrix_total, SMALL_BUDGET)


def _depth_of(cases: list[Case]) -> str:
    n = len(cases)
    return "full" if n == len(full_cases()) else ("smoke" if n <= 20 else "pairwise")


def named_scenario_jobs(consistency: bool, depth: str, writable: int) -> dict[str, int]:
    """Accepted jobs of the named scenarios (setup jobs to reach their starting states included)."""
    vias = 2 if consistency else 1
    pairs = SERIAL_PAIRS - (0 if consistency else 1)
    return {"REC-FORCED-MANUAL": 2 * vias,
            "REC-STICKY-MANUAL": 3 * vias * 3,                 # setup, to asynchronous, back
            "REC-TENANT-ALLOW": 2 * 2,                         # the change and its putting back
            "REC-ISOLATION": 4 * writable,                     # setup and three changes per session
            "REC-SERIAL": 3 * pairs}                           # setup and two concurrent changes


def plan_lines(cases: list[Case], writable: list[int], groups: int, latencies=(2.0, 10.0), *,
               depth: str | None = None, consistency: bool = True, active: int | None = None,
               lane_other: list[float] | None = None, shared_lane: int | None = None,
               homes: list | None = None) -> list[str]:
    depth = depth or _depth_of(cases)
    runs = lane_runs(cases, homes or [], max(1, min(groups, len(writable))))
    homes = list(homes or []) + [None] * len(runs)
    lines = [f"pytest-rec dry run: {len(cases)} matrix cases over {len(runs)} session(s); nothing is written"]
    total_jobs = 0
    lane_jobs = []
    for sid, run, home in zip(writable, runs, homes):
        setups = setup_jobs(run, home)
        jobs = matrix_jobs(run) + setups
        total_jobs += jobs
        lane_jobs.append(jobs)
        lines.append(f"  session {sid}: {len(run)} cases, {jobs} jobs ({setups} to reach starting states), "
                     f"0 suspends, 0 resumes; " + _times(jobs, latencies))
    per_case = (total_jobs / len(cases)) if cases else 0
    lines.append(f"  matrix total: {total_jobs} jobs ({per_case:.2f} per case)")

    named = named_scenario_jobs(consistency, depth, len(writable))
    lines.append(f"  named scenarios: {sum(named.values())} jobs (" + ", ".join(f"{k} {v}" for k, v in named.items())
                 + "); REC-SERIAL sends each pair's two PATCHes at the same moment")
    counts = refusal_counts(consistency=consistency, active=active or 0, depth=depth)
    setup, turns = counts.pop("setup jobs"), counts.pop("suspends and resumes")
    counts.pop("REC-SUSPEND-FIRST (sessions.active)")
    per_active = len(shapes_for(depth))
    patches = sum(counts.values()) + per_active * (active or 0)
    by_job = patches - counts["REC-NOT-FOUND"]           # a 404 never registers a job
    budget = job_budget(total_jobs)
    named_active = (f"{per_active} to each of the {active} session(s) under sessions.active" if active is not None
                    else f"{per_active} to each session under sessions.active")
    lines.append(f"  refusal coverage (every refusal rule, bodies of every shape): {patches} PATCHes ("
                 + ", ".join(f"{k} {v}" for k, v in counts.items()) + f"; {named_active}), "
                 f"{setup} setup jobs, {turns} suspends and resumes")
    state = "within" if by_job + setup <= budget else "OVER"
    lines.append(f"  refusal coverage in jobs: {setup} when the array refuses at once (4xx); {by_job + setup} when it "
                 f"refuses by job (202, then Error): " + _times(by_job + setup, latencies)
                 + f"; {state} the job budget of {budget} jobs (the matrix's own jobs, at least {SMALL_BUDGET})")
    lines += lane_lines(writable, lane_jobs, lane_other or [], shared_lane, latencies)
    lines.append("  fuzzing: not estimated here (docs/benchmarks.md counts a whole run)")
    lines.append("  restore at the end: at most 1 job and 1 suspend or resume per session written")
    return lines


def lane_lines(writable: list[int], lane_jobs: list[int], lane_other: list[float], shared_lane: int | None,
               latencies) -> list[str]:
    """The lanes (one process each, owning its writable sessions) and the expected wall time: the
    longest lane's jobs (its matrix run, and its share of the other checks, estimated) x latency."""
    n = len(lane_jobs)
    other = list(lane_other[:n]) + [0.0] * (n - len(lane_other[:n]))
    per_lane = [m + o for m, o in zip(lane_jobs, other)]
    owners = [", ".join(map(str, writable[k::n])) for k in range(n)]
    lines = [f"  lanes: {n} ({'one process each, owning sessions ' + ' | '.join(owners) if n > 1 else 'one process'}"
             f"{'; --rec-lanes or -n caps them' if n > 1 else '; rec-compliance overlaps one lane per writable session on an array'})"]
    for k in range(n):
        shared = "; with the tenant, active and non-REC checks" if shared_lane == k and n > 1 else ""
        lines.append(f"    lane {k}: {lane_jobs[k]} matrix jobs + ~{other[k]:.0f} jobs of other checks{shared}")
    longest = max(per_lane) if per_lane else 0
    serial = sum(per_lane)
    lines.append(f"  expected wall time (the longest lane, jobs overlapping across lanes): " + _times(longest, latencies)
                 + (f"; one lane: " + _times(serial, latencies) if n > 1 else ""))
    return lines


def _times(jobs: float, latencies) -> str:
    return ", ".join(f"~{jobs * lat / 60:.1f} min at {lat:g} s/job" for lat in latencies)
