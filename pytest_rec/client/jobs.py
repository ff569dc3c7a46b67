"""Jobs of the REST surface: the waiter that adapts its polls to the job durations seen, a job's
result, and the client's job calls (``GET /job/{id}``, waiting for a job's end)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import httpx

from ..errors import TargetError
from .progress import waiting

__all__ = ["JOB_ENDED", "JobWaiter", "JobResult", "JobCalls"]

JOB_ENDED = ("Success", "Error", "Partial_Error", "Canceled")     # the end states of a job


# --------------------------------------------------------------------------- job waiter
class JobWaiter:
    """Polls a job from the job time it has learned (issue 29): the first read just before the time the
    jobs seen so far took, then short steps that grow, never past one poll interval (``interval``): a
    job's end is noticed at most one poll interval late, however much longer than the others it ran."""

    AIM = 0.95          # the first read: just before the learned job time (jobs vary; a read is cheap)
    PROBE = 0.9         # a job found ended at the first read teaches less: the estimate never drifts up
    CAP = 0.25          # seconds: the longest poll interval for jobs of up to 2.5 s (10% of longer ones)

    def __init__(self) -> None:
        self.typical = 0.0           # moving estimate of job duration (seconds)
        self.polls = 0
        self.jobs = 0
        self._lock = threading.Lock()

    def first_delay(self) -> float:
        return 0.0 if self.typical < 0.01 else self.typical * self.AIM

    def miss_step(self) -> float:
        """The wait after a read that found the job still running: short, the job is about to end."""
        return max(0.005, self.typical * 0.08)

    def interval(self) -> float:
        """The poll interval: no sleep between two reads of a job is longer (the most a job's end is
        noticed late, once its first read has been sent)."""
        return max(self.miss_step(), self.CAP, self.typical * 0.1)

    def next_delay(self, delay: float, polls: int) -> float:
        """After a read that found the job running: short steps that grow (the job is usually about to end),
        never past ``interval``."""
        return min(self.interval(), self.miss_step() if polls == 1 else delay * 1.5)

    def observe(self, duration: float, polls: int) -> None:
        with self._lock:
            self.jobs += 1
            self.polls += polls
            self.typical = duration if self.jobs == 1 else 0.7 * self.typical + 0.3 * duration


@dataclass
class JobResult:
    job: dict
    polls: int
    waited: float
    notice_delay: float | None = None

    @property
    def status(self) -> str:
        return self.job.get("status", "")


class JobCalls:
    """Mixin of ``rest.RecClient``: uses ``self.request``, ``self.expect_ok``, ``self.waiter``, ``self.guard``."""

    def get_job(self, job_id: int) -> httpx.Response:
        return self.request("GET", f"/job/{job_id}")

    def wait_job(self, job_id: int, timeout: float, first: Callable[[httpx.Response], bool] | None = None,
                 at_once: bool = False) -> JobResult | None:
        """Poll until the job ends; raise TargetError at the deadline. ``first`` sees the answer to
        the first read (made after the expected job time, not at once: one read fewer per job); when
        it returns False the wait ends with None; an answer other than 200 that it lets through
        counts as a poll that found the job still running. ``at_once``: the first read at once, and
        the job's time is not learnt (a refusal by job, which usually ends at once)."""
        start = time.monotonic()
        deadline = start + timeout
        delay = 0.0 if at_once else self.waiter.first_delay()
        polls = 0
        previous = 0.0                       # when the last unfinished poll was sent
        while True:
            if delay:
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            sent = time.monotonic() - start
            resp = self.get_job(job_id)
            polls += 1
            if polls == 1 and first is not None:
                if not first(resp):
                    return None
                if resp.status_code != 200 and time.monotonic() < deadline:
                    previous, delay = sent, self.waiter.miss_step()
                    continue
            body = self.expect_ok(resp, f"read job {job_id}")
            if body.get("status") in JOB_ENDED:
                if self.guard is not None:
                    self.guard.note_job_ended(job_id)
                waited = time.monotonic() - start
                # the job ended between the previous poll and this one; with one poll we may have
                # waited too long, so aim a little earlier next time
                if not at_once:
                    self.waiter.observe((previous + sent) / 2 if polls > 1 else sent * self.waiter.PROBE, polls)
                return JobResult(body, polls, waited)
            previous = sent
            waiting(f"job {job_id} still {body.get('status')!r}", start)
            if time.monotonic() >= deadline:
                text = f"job {job_id} still {body.get('status')!r} after {timeout:.0f} s (--rec-job-timeout)"
                held = self.guard.hold_session_of_job(job_id, f"its job {job_id} never ended within {timeout:.0f} s") \
                    if self.guard is not None else None
                raise TargetError(text + (f"; session {held} is set aside for the rest of the run" if held else ""))
            delay = self.waiter.next_delay(delay, polls)

    def run_job(self, resp: httpx.Response, what: str, timeout: float) -> JobResult:
        body = self.expect_ok(resp, what, codes=(202,))
        return self.wait_job(int(body["job_id"]), timeout)
