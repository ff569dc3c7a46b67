"""The plan of a run (`--rec-dry-run`): per writable session, the jobs, suspends and resumes
the matrix and the named scenarios would cause, and the time that takes at a given job latency."""

from __future__ import annotations

from .matrix import Case, chunk, order, setup_jobs


def matrix_jobs(cases: list[Case], refusals_cost_jobs: bool = False) -> int:
    """Jobs the PATCHes under test register: accepted ones always, refused ones only when the
    array answers refusals with a job (202 then Error)."""
    return sum(1 for c in cases if c.expectation.accepted or refusals_cost_jobs)


def plan_lines(cases: list[Case], writable: list[int], groups: int, latencies=(2.0, 10.0)) -> list[str]:
    ordered = order(cases)
    runs = chunk(ordered, max(1, min(groups, len(writable))))
    lines = [f"pytest-rec dry run: {len(cases)} matrix cases over {len(runs)} session(s); nothing is sent"]
    total_jobs = 0
    for sid, run in zip(writable, runs):
        setups = setup_jobs(run)
        jobs = matrix_jobs(run) + setups
        total_jobs += jobs
        lines.append(f"  session {sid}: {len(run)} cases, {jobs} jobs ({setups} to reach starting states), "
                     f"0 suspends, 0 resumes; " + ", ".join(f"~{jobs * lat / 60:.1f} min at {lat:g} s/job"
                                                            for lat in latencies))
    lines.append("  named scenarios and fuzzing: not estimated here; they add jobs and, for suspend-first, "
                 "one resume and one suspend per active starting state (docs/benchmarks.md counts a whole run)")
    lines.append("  restore at the end: at most 1 job and 1 suspend or resume per session written")
    per_case = (total_jobs / len(cases)) if cases else 0
    lines.append(f"  matrix total: {total_jobs} jobs ({per_case:.2f} per case); matrix wall time with the sessions "
                 "in parallel (-n): " + ", ".join(f"~{total_jobs / max(1, len(runs)) * lat / 60:.1f} min at "
                                                  f"{lat:g} s/job" for lat in latencies))
    return lines
