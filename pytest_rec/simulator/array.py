"""The simulated ETERNUS array: state and rules, with no HTTP in it.

Every public method takes already-parsed request parts and returns a ``Reply``. One lock
guards all state, so concurrent requests neither lose updates nor share job ids. Jobs
finish lazily: each request first settles every job whose time has come.

This is an implementation of the reference written for the simulator alone; it does not
import the compliance suite's expected-behaviour model (nor anything else of the suite).
"""

from __future__ import annotations

import copy
import random
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from . import defects as _defects
from .inventory import CopySession, Inventory, User, load_inventory

TRANSFER_MODES = ("Synchronous", "Stack", "Consistency")
SPLIT_MODES = ("Automatic", "Manual")
RECOVERY_MODES = ("Automatic", "Manual")
PATCH_FIELDS = {"transfer_mode": TRANSFER_MODES, "split_mode": SPLIT_MODES,
                "recovery_mode": RECOVERY_MODES}
FINAL_JOB_STATES = ("Success", "Error", "Partial_Error", "Canceled")

# error_code (4 digits), description
ERRORS = {
    400: ("0400", "Invalid request parameter"),
    401: ("0401", "Authentication failed"),
    403: ("0403", "The user does not have permission for this operation"),
    404: ("0404", "The specified resource does not exist"),
    405: ("0405", "The method is not allowed for this resource"),
    409: ("0409", "The operation conflicts with the state of the resource"),
    413: ("0413", "The request is too large"),
    415: ("0415", "The Content-Type must be application/json"),
    500: ("0500", "Internal error"),
    503: ("0503", "The storage system is busy"),
}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, factor: str, internal: str | None = None, headers=None) -> Reply:
    code, text = ERRORS[status]
    return Reply(status, {"error_code": code, "message": f"{text} ({factor})",
                          "internal_code": internal or f"0x{status:04x}{len(factor):02x}"},
                 headers or {})


@dataclass
class Settings:
    """Everything about the simulator's behaviour that can be set at start."""
    job_latency: float = 0.0          # seconds from job registration to its end
    token_lifetime: int = 1800        # seconds
    short_token_user: str = "qa_short"  # this user's tokens live short_token_lifetime (expiry checks)
    short_token_lifetime: int = 1     # seconds
    refresh_lifetime: int = 36000     # seconds (10 hours)
    job_retention: float = 1800.0     # seconds a finished job stays readable
    refusals: str = "immediate"       # "immediate" (4xx) or "job" (202 then job Error)
    suspend_lag: float = 0.0          # Synchronous/Consistency suspend completes this long after job Success
    copy_time: float = 0.0            # seconds from resume to Equivalent (Stack never gets there)
    latency: float = 0.0              # fault: added to every response
    busy_every: int = 0               # fault: every Nth request answers 503
    busy_rate: float = 0.0            # fault: this share of requests answers 503
    busy_retry_after: int = 1         # Retry-After value sent with 503
    copy_path_down: str = ""          # fault: "all" or comma-separated session ids whose jobs fail
    hung_jobs: bool = False           # fault: jobs never finish
    drop_every: int = 0               # fault: every Nth request loses its connection
    defects: frozenset[str] = frozenset()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.refusals not in ("immediate", "job"):
            raise ValueError("refusals must be 'immediate' or 'job'")
        self.defects = _defects.resolve(self.defects)

    @classmethod
    def from_options(cls, options: dict[str, str], defects=()) -> "Settings":
        """Build settings from KEY=VALUE strings (``--rec-sim-option`` and ``rec-sim --fault``)."""
        kwargs: dict[str, Any] = {}
        for key, raw in options.items():
            key = key.replace("-", "_")
            if key not in cls.__dataclass_fields__ or key == "defects":
                raise ValueError(f"unknown simulator option {key!r}; known: "
                                 + ", ".join(k for k in cls.__dataclass_fields__ if k != "defects"))
            default = cls.__dataclass_fields__[key].default
            try:
                if isinstance(default, bool):
                    value: Any = str(raw).lower() in ("1", "true", "yes", "on", "")
                elif isinstance(default, int) and key != "seed":
                    value = int(raw)
                elif isinstance(default, float):
                    value = float(raw)
                elif key == "seed":
                    value = int(raw)
                else:
                    value = str(raw)
            except ValueError as exc:
                raise ValueError(f"simulator option {key}={raw!r}: {exc}") from exc
            kwargs[key] = value
        return cls(defects=frozenset(defects), **kwargs)


@dataclass
class LoginSession:
    session_id: int
    user: User
    tokens: dict[str, float]            # token -> expiry (monotonic)
    refresh_token: str | None
    refresh_expires: float
    alive: bool = True


@dataclass
class Job:
    job_id: int
    owner: str
    description: str
    created: float
    created_wall: str
    session_id: int
    action: str                          # "patch", "suspend", "resume", "refuse"
    payload: dict
    status: str = "Queued"
    ended: float | None = None
    ended_wall: str | None = None
    operations: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    hung: bool = False


def _now_wall() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Array:
    """The simulated storage system."""

    def __init__(self, inventory: Inventory | None = None, settings: Settings | None = None):
        self.inventory = inventory or load_inventory()
        self.settings = settings or Settings()
        self.lock = threading.RLock()
        self.users = {u.name: u for u in self.inventory.users.values()}
        self.volumes = self.inventory.volumes
        self.sessions: dict[int, CopySession] = copy.deepcopy(self.inventory.sessions)
        self.logins: dict[int, LoginSession] = {}
        self.by_token: dict[str, LoginSession] = {}
        self.by_refresh: dict[str, LoginSession] = {}
        self.jobs: dict[int, Job] = {}
        self.issued_secrets: list[str] = []      # every token and refresh token handed out
        self.request_log: list[dict] = []         # method, path, user, status
        self._next_login = 1000001
        self._next_job = 8192001
        self._request_count = 0
        self._rng = random.Random(self.settings.seed)
        self._phase_due: dict[int, tuple[float, str]] = {}   # session -> (when, phase)
        self._resume_split: dict[int, str] = {}              # for the sticky-auto-restored defect

    # ----------------------------------------------------------------- plumbing
    def has(self, defect: str) -> bool:
        return defect in self.settings.defects

    def log(self, method: str, path: str, user: str | None, status: int) -> None:
        with self.lock:
            self.request_log.append({"method": method, "path": path, "user": user,
                                     "status": status, "time": time.time()})

    def fault_for_request(self) -> str | None:
        """'busy', 'drop' or None for the next request (fault injection)."""
        s = self.settings
        with self.lock:
            self._request_count += 1
            n = self._request_count
            if s.drop_every and n % s.drop_every == 0:
                return "drop"
            if s.busy_every and n % s.busy_every == 0:
                return "busy"
            if s.busy_rate and self._rng.random() < s.busy_rate:
                return "busy"
        return None

    def busy(self) -> Reply:
        return error(503, "system busy", headers={"Retry-After": str(self.settings.busy_retry_after)})

    # ----------------------------------------------------------------- time
    def tick(self) -> None:
        """Settle every job and phase change whose time has come."""
        now = time.monotonic()
        with self.lock:
            for job in self.jobs.values():
                if job.status in FINAL_JOB_STATES or job.hung:
                    continue
                if now >= job.created + self.settings.job_latency:
                    self._finish(job, now)
                elif now >= job.created + self.settings.job_latency / 4:
                    job.status = "Running"
            for sid, (when, phase) in list(self._phase_due.items()):
                if now >= when:
                    self.sessions[sid].phase = phase
                    del self._phase_due[sid]
            keep = self.settings.job_retention
            for jid in [j.job_id for j in self.jobs.values()
                        if j.ended is not None and now - j.ended > keep]:
                del self.jobs[jid]

    # ----------------------------------------------------------------- auth
    def login(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            return error(400, "body")
        with self.lock:
            if "grant_type" in body or "refresh_token" in body:
                if body.get("grant_type") != "refresh_token" or not isinstance(body.get("refresh_token"), str):
                    return error(400, "grant_type")
                ls = self.by_refresh.get(body["refresh_token"])
                if ls is None or not ls.alive or time.monotonic() > ls.refresh_expires:
                    return error(401, "refresh_token")
                return Reply(200, self._issue(ls, with_refresh=False))
            name, password = body.get("user_name"), body.get("password")
            if not isinstance(name, str) or not isinstance(password, str):
                return error(400, "user_name" if not isinstance(name, str) else "password")
            wants_refresh = body.get("is_refresh_token_required", False)
            if not isinstance(wants_refresh, bool):
                return error(400, "is_refresh_token_required")
            user = self.users.get(name)
            if user is None or not secrets.compare_digest(user.password, password):
                return error(401, "user_name or password")
            ls = LoginSession(self._next_login, user, {}, None, 0.0)
            self._next_login += 1
            if wants_refresh:
                ls.refresh_token = secrets.token_urlsafe(32)
                ls.refresh_expires = time.monotonic() + self.settings.refresh_lifetime
                self.by_refresh[ls.refresh_token] = ls
                self.issued_secrets.append(ls.refresh_token)
            self.logins[ls.session_id] = ls
            return Reply(200, self._issue(ls, with_refresh=wants_refresh))

    def _issue(self, ls: LoginSession, with_refresh: bool) -> dict:
        token = secrets.token_urlsafe(24)
        lifetime = self.settings.short_token_lifetime if ls.user.name == self.settings.short_token_user \
            else self.settings.token_lifetime
        ls.tokens[token] = time.monotonic() + lifetime
        self.by_token[token] = ls
        self.issued_secrets.append(token)
        out = {"session_id": ls.session_id, "token": token, "lifetime": lifetime}
        if with_refresh and ls.refresh_token:
            out["refresh_token"] = ls.refresh_token
        return out

    def authenticate(self, authorization: str | None) -> LoginSession | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):].strip()
        with self.lock:
            ls = self.by_token.get(token)
            if ls is None or not ls.alive:
                return None
            if time.monotonic() > ls.tokens.get(token, 0):
                return None
            return ls

    def session_info(self, caller: LoginSession, session_id: int) -> Reply:
        with self.lock:
            if session_id != caller.session_id:
                return error(404, "session_id")
            token_left = max(ls_exp for ls_exp in caller.tokens.values()) - time.monotonic()
            return Reply(200, {"session_id": caller.session_id, "user_name": caller.user.name,
                               "lifetime": max(0, int(token_left)),
                               "auth_list": caller.user.policies})

    def logout(self, caller: LoginSession, session_id: int) -> Reply:
        with self.lock:
            if session_id != caller.session_id:
                return error(404, "session_id")
            if not self.has("logout-keeps-token"):
                caller.alive = False
            return Reply(200, None)

    # ----------------------------------------------------------------- copy sessions
    def _local_volume(self, cs: CopySession):
        return self.volumes[cs.source_volume if cs.is_local_source_volume else cs.destination_volume]

    def _tenant_may(self, user: User, cs: CopySession) -> bool:
        if user.tenant is None:
            return True
        if self.has("tenant-unchecked"):  # pragma: no mutate block, defect injection
            return True
        if self.has("tenant-source-only"):  # pragma: no mutate block, defect injection
            return self.volumes[cs.source_volume].tenant == user.tenant
        return self._local_volume(cs).tenant == user.tenant

    def _visible(self, user: User, cs: CopySession) -> bool:
        return user.tenant is None or self._local_volume(cs).tenant == user.tenant

    def render(self, cs: CopySession) -> dict:
        src, dst = self.volumes[cs.source_volume], self.volumes[cs.destination_volume]
        body: dict[str, Any] = {
            "copysession_id": cs.copysession_id,
            "copysession_href": f"/api/v1/copysession/{cs.copysession_id}",
            "type": cs.type, "status": cs.status,
            "source_volume_number": src.number, "source_volume_href": f"/api/v1/volume/{src.volume_id}",
            "source_volume_name": src.name,
            "destination_volume_number": dst.number,
            "destination_volume_href": f"/api/v1/volume/{dst.volume_id}",
            "destination_volume_name": dst.name,
            "phase": cs.phase, "copy_range": "Totally", "requestor": "REST",
            "elapsed_time": cs.elapsed_time, "total_data_size": 3812,
            "uncopied_data_size": 0 if cs.phase == "Equivalent" else 1024,
            "progress": 100 if cs.phase == "Equivalent" else 70,
        }
        if cs.status == "Error":
            body["error_code"] = "b1"
            body["error_ocurrence_time"] = "2026-01-01T00:00:00Z"
        if cs.type == "REC":
            body.update({"remote_copysession_id": cs.remote_copysession_id,
                         "transfer_mode": cs.transfer_mode, "split_mode": cs.split_mode,
                         "recovery_mode": cs.recovery_mode, "remote_boxid": cs.remote_boxid,
                         "is_local_source_volume": cs.is_local_source_volume})
        return body

    @staticmethod
    def _filter(body: dict, fields: list[str] | None) -> dict:
        if not fields:
            return body
        keep = set(fields) | {"copysession_id"}
        return {k: v for k, v in body.items() if k in keep}

    def get_copysession(self, caller: LoginSession, sid: int, fields=None) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            return Reply(200, self._filter(self.render(cs), fields))

    def list_copysessions(self, caller: LoginSession, ids=None, fields=None) -> Reply:
        with self.lock:
            items = [self._filter(self.render(cs), fields) for sid, cs in sorted(self.sessions.items())
                     if self._visible(caller.user, cs) and (ids is None or sid in ids)]
            return Reply(200, {"total_count": len(items), "list_count": len(items),
                               "copysession_list": items})

    # ----------------------------------------------------------------- jobs
    def _new_job(self, caller: LoginSession, sid: int, action: str, payload: dict,
                 description: str) -> Job:
        job = Job(self._next_job, caller.user.name, description, time.monotonic(), _now_wall(),
                  sid, action, payload, hung=self.settings.hung_jobs)
        self._next_job += 1
        self.jobs[job.job_id] = job
        return job

    def job_ref(self, job: Job) -> dict:
        prefix = "/api/v2/job/" if self.has("job-href-v2") else "/api/v1/job/"
        return {"job_id": job.job_id, "job_href": f"{prefix}{job.job_id}"}

    def get_job(self, caller: LoginSession, job_id: int) -> Reply:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None or (job.owner != caller.user.name and not self.has("jobs-visible-to-all")):
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

    def _path_down(self, sid: int) -> bool:
        spec = self.settings.copy_path_down.strip()
        if not spec:
            return False
        return spec == "all" or str(sid) in {p.strip() for p in spec.split(",")}

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
        job.ended, job.ended_wall = now, _now_wall()
        cs = self.sessions.get(job.session_id)
        if cs is None:
            self._fail(job, "copysession_id", "The copy session no longer exists", "0404")
            return
        if self._path_down(cs.copysession_id):  # pragma: no mutate block, fault injection
            self._fail(job, "copy path", "The REC path to the remote storage system is not available",
                       "0520")
            return
        if job.action == "patch":
            refusal = self._state_refusal(job.payload["user"], cs, job.payload["body"])
            if refusal:
                self._fail(job, refusal[1], refusal[2], ERRORS[refusal[0]][0])
                return
            self._apply_patch(cs, job.payload["body"])
        elif job.action == "suspend":
            lag = self.settings.suspend_lag if cs.transfer_mode in ("Synchronous", "Consistency") else 0
            if lag:  # pragma: no mutate block, fault injection
                self._phase_due[cs.copysession_id] = (now + lag, "Suspend")
            else:
                cs.phase = "Suspend"
        elif job.action == "resume":
            if cs.transfer_mode == "Stack":
                cs.phase = "Copying"           # a Stack session never reads Equivalent
            elif self.settings.copy_time:  # pragma: no mutate block, fault injection
                cs.phase = "Copying"
                self._phase_due[cs.copysession_id] = (now + self.settings.copy_time, "Equivalent")
            else:
                cs.phase = "Equivalent"
        job.status = "Success"
        job.operations.append({"result": "Succeeded", "operation": self._cli(job)})

    # ----------------------------------------------------------------- the call under test
    def _state_refusal(self, user: User, cs: CopySession, body: dict):
        """(status, factor, message) when the session's state forbids the change, else None."""
        if not self._tenant_may(user, cs):
            return 403, "tenant", "The local volume does not belong to the tenant of the user"
        if cs.type != "REC":
            if self.has("non-rec-accepted"):  # pragma: no mutate block, defect injection
                return None
            return 400, "copysession_id", "The copy session is not a REC session"
        if cs.status == "Error":
            return 409, "status", "The REC session is in error status"
        if cs.phase != "Suspend":
            if not self.has("active-patch-accepted"):  # pragma: no mutate, defect injection
                return 409, "phase", "The REC session is not suspended"
        if "split_mode" in body and "transfer_mode" not in body and cs.transfer_mode != "Synchronous":
            if not self.has("split-accepted-when-async"):  # pragma: no mutate, defect injection
                return 400, "split_mode", "split_mode can be given for synchronous transfer mode only"
        return None

    def _apply_patch(self, cs: CopySession, body: dict) -> None:
        if cs.type != "REC":
            return
        before = cs.transfer_mode
        after = body.get("transfer_mode", before)
        if self.has("stack-to-consistency-keeps-stack"):  # pragma: no mutate block, defect injection
            if before == "Stack" and after == "Consistency":
                after = "Stack"
        if self.has("sticky-auto-restored"):  # pragma: no mutate block, defect injection
            if before == "Synchronous" and after != "Synchronous":
                self._resume_split[cs.copysession_id] = cs.split_mode
        cs.transfer_mode = after
        if after != "Synchronous":
            if not self.has("no-forced-manual"):  # pragma: no mutate, defect injection
                cs.split_mode = "Manual"
        elif "split_mode" in body:
            cs.split_mode = body["split_mode"]
        elif self.has("sticky-auto-restored") and before != "Synchronous":  # pragma: no mutate block, defect injection
            cs.split_mode = self._resume_split.get(cs.copysession_id, cs.split_mode)
        if "recovery_mode" in body:
            keep = self.has("recovery-ignored-consistency") and after == "Consistency"  # pragma: no mutate, defect injection
            if not keep:
                cs.recovery_mode = body["recovery_mode"]
                if self.has("neighbour-recovery-leak"):  # pragma: no mutate block, defect injection
                    nxt = self.sessions.get(cs.copysession_id + 1)
                    if nxt is not None and nxt.type == "REC":
                        nxt.recovery_mode = body["recovery_mode"]
        elif self.has("omitted-recovery-reset") and body:  # pragma: no mutate block, defect injection
            cs.recovery_mode = "Automatic"

    def patch(self, caller: LoginSession, sid: int, body: Any, description: str) -> Reply:
        """Validate a PATCH body and register its job (or refuse at once)."""
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None:
                if self.has("unknown-id-400"):  # pragma: no mutate block, defect injection
                    return error(400, "copysession_id")
                return error(404, "copysession_id")
            if not isinstance(body, dict):
                return error(400, "body")
            for key, value in body.items():
                if key not in PATCH_FIELDS:
                    return error(400, key)
                if value is None and self.has("null-500"):  # pragma: no mutate block, defect injection
                    raise RuntimeError("null value")           # an unhandled firmware exception
                if not isinstance(value, str) or value not in PATCH_FIELDS[key]:
                    return error(400, key)
            if "split_mode" in body and body.get("transfer_mode") in ("Stack", "Consistency"):
                if not self.has("split-accepted-when-async"):  # pragma: no mutate, defect injection
                    return error(400, "split_mode")
            if self.settings.refusals == "immediate":
                refusal = self._state_refusal(caller.user, cs, body)
                if refusal:
                    return error(refusal[0], refusal[1])
            job = self._new_job(caller, sid, "patch", {"body": dict(body), "user": caller.user},
                                description)
            return Reply(202, self.job_ref(job))

    def suspend(self, caller: LoginSession, sid: int, description: str) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            why = None
            if not self._tenant_may(caller.user, cs):
                why = (403, "tenant")
            elif cs.type != "REC":
                why = (400, "copysession_id")
            elif cs.status == "Error":
                why = (409, "status")
            elif cs.phase == "Suspend" or sid in self._phase_due:
                why = (409, "phase")
            elif cs.phase != "Equivalent":
                why = (409, "phase")   # not equivalent: only a forced suspend would do, never offered here
            if why:
                return error(*why)
            job = self._new_job(caller, sid, "suspend", {}, description)
            return Reply(202, self.job_ref(job))

    def resume(self, caller: LoginSession, sid: int, description: str) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            if not self._tenant_may(caller.user, cs):
                return error(403, "tenant")
            if cs.type != "REC":
                return error(400, "copysession_id")
            if cs.phase != "Suspend" or cs.status == "Error":
                return error(409, "phase")
            job = self._new_job(caller, sid, "resume", {}, description)
            return Reply(202, self.job_ref(job))

    # ----------------------------------------------------------------- for tests
    def snapshot(self) -> dict[int, dict]:
        with self.lock:
            return {sid: self.render(cs) for sid, cs in self.sessions.items()}
