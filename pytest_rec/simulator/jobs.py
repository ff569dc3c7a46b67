"""Jobs: every change (PATCH, suspend, resume) is registered as a job and answered 202 with its
reference; ``GET /job/{id}`` reads it (another user's job is 404, fact sheet 4.1).

Jobs finish lazily: each request first calls ``tick``, which settles every job whose time
(``Settings.job_latency``) has come and every delayed phase change. ``_finish`` does what all
jobs share (the session still exists, the copy path is up) and hands the change itself to the
rule that owns it: ``_finish_patch`` (rules.py), ``_finish_suspend`` and ``_finish_resume``
(suspend.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .replies import ERRORS, FINAL_JOB_STATES, Reply, error, now_wall

SERIAL_MIX_LATENCY = 0.2     # seconds a PATCH job takes under the serial-mix defect


@dataclass
class Job:
    job_id: int
    owner: str
    description: str
    created: float
    created_wall: str
    session_id: int
    action: str                          # "patch", "suspend", "resume"
    payload: dict
    status: str = "Queued"
    ended: float | None = None
    ended_wall: str | None = None
    operations: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    hung: bool = False


class Jobs:
    """Mixin of ``Array``: uses ``self.jobs``, ``self.sessions``, ``self._phase_due``, ``self.settings``,
    ``self.lock``, ``self._next_job``."""

    def tick(self) -> None:
        """Settle every job and phase change whose time has come."""
        now = time.monotonic()
        with self.lock:
            if self.defect("late-change"):  # pragma: no mutate block, defect injection
                self._late_writes(now)
            for job in self.jobs.values():
                if job.status in FINAL_JOB_STATES or job.hung:
                    continue
                latency = self._latency_of(job)
                if now >= job.created + latency:
                    self._finish(job, now)
                elif now >= job.created + latency / 4:
                    job.status = "Running"
            for sid, (when, phase) in list(self._phase_due.items()):
                if now >= when:
                    self.sessions[sid].phase = phase
                    del self._phase_due[sid]
            keep = self.settings.job_retention
            for jid in [j.job_id for j in self.jobs.values()
                        if j.ended is not None and now - j.ended > keep]:
                del self.jobs[jid]

    def _latency_of(self, job: Job) -> float:
        """Seconds from a job's registration to its end."""
        if job.action == "patch" and self.defect("serial-mix"):
            return max(self.settings.job_latency, self.settings.patch_latency, SERIAL_MIX_LATENCY)   # slow enough for two to overlap
        if job.action == "patch":
            return max(self.settings.job_latency, self.settings.patch_latency)
        return self.settings.job_latency

    def _new_job(self, caller, sid: int, action: str, payload: dict, description: str) -> Job:
        job = Job(self._next_job, caller.user.name, description, time.monotonic(), now_wall(),
                  sid, action, payload, hung=self._job_hangs(caller.user.name, action, payload))
        self._next_job += 1
        self.jobs[job.job_id] = job
        if self.defect("late-change"):  # pragma: no mutate block, defect injection
            self._late.pop(sid, None)            # a later change, suspend or resume overtakes the late write
        return job

    def _job_running_on(self, sid: int) -> bool:
        """Whether a job on this session has not ended yet."""
        return any(j.session_id == sid and j.status not in FINAL_JOB_STATES for j in self.jobs.values())

    def job_ref(self, job: Job) -> dict:
        prefix = "/api/v2/job/" if self.defect("job-href-v2") else "/api/v1/job/"
        return {"job_id": job.job_id, "job_href": f"{prefix}{job.job_id}"}

    def get_job(self, caller, job_id: int) -> Reply:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or (job.owner != caller.user.name and not self.defect("jobs-visible-to-all")):
                return error(404, "job_id")
            body = {"job_id": job.job_id, "job_href": f"/api/v1/job/{job.job_id}",
                    "description": job.description, "status": job.status,
                    "created_time": job.created_wall,
                    "modified_time": job.ended_wall or job.created_wall,
                    "resource_href_list": [f"/api/v1/copysession/{job.session_id}"],
                    "operation_list": list(job.operations)}
            if job.failures:
                body["failed_resource_info_list"] = list(job.failures)
            return Reply(200, body)

    def _fail(self, job: Job, factor: str, message: str, code: str = "0409") -> None:
        job.status = "Error"
        job.operations.append({"result": "Failed", "operation": self._cli(job)})
        job.failures.append({"resource_href": f"/api/v1/copysession/{job.session_id}",
                             "error_code": code, "message": f"{message} ({factor})"})

    @staticmethod
    def _cli(job: Job) -> str:
        if job.action == "patch":
            opts = " ".join(f"-{k.replace('_', '-')} {str(v).lower()}"
                            for k, v in job.payload["body"].items())
            return f"set rec-session -session-id {job.session_id} {opts}".strip()
        return f"{job.action} rec-session -session-id {job.session_id}"

    def _finish(self, job: Job, now: float) -> None:
        job.ended, job.ended_wall = now, now_wall()
        cs = self.sessions.get(job.session_id)
        if cs is None:
            self._fail(job, "copysession_id", "The copy session no longer exists", "0404")
            return
        if self._path_down(cs.copysession_id):  # pragma: no mutate block, fault injection
            self._fail(job, "copy path", "The REC path to the remote storage system is not available",
                       "0520")
            return
        if job.action == "patch":
            refusal = self._finish_patch(job, cs)
            if refusal:
                self._fail(job, refusal[1], refusal[2], ERRORS[refusal[0]][0])
                return
        elif job.action == "suspend":
            self._finish_suspend(cs)
        elif job.action == "resume":
            self._finish_resume(cs)
        job.status = "Success"
        job.operations.append({"result": "Succeeded", "operation": self._cli(job)})
