"""``Settings``: everything about the simulator's behaviour that can be set at start.

Every field is reachable as ``--rec-sim-option KEY=VALUE`` (the plugin) and ``rec-sim --fault
KEY=VALUE`` (the command); ``Settings.from_options`` turns those strings into typed values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import defects as _defects


@dataclass
class Settings:
    """Everything about the simulator's behaviour that can be set at start."""
    job_latency: float = 0.0          # seconds from job registration to its end
    patch_latency: float = 0.0        # PATCH jobs take at least this long (the pace serial-mix sets, defect-free)
    token_lifetime: int = 1800        # seconds
    short_token_user: str = "qa_short"  # this user's tokens live short_token_lifetime (expiry checks)
    short_token_lifetime: int = 1     # seconds
    short_refresh_lifetime: int = 2   # seconds a refresh token of short_token_user lives (expiry checks)
    refresh_lifetime: int = 36000     # seconds (10 hours)
    job_retention: float = 1800.0     # seconds a finished job stays readable
    refusals: str = "immediate"       # "immediate" (4xx) or "job" (202 then job Error)
    suspend_lag: float = 0.0          # Synchronous/Consistency suspend completes this long after job Success
    copy_time: float = 0.0            # seconds from resume to Equivalent (Stack never gets there)
    latency: float = 0.0              # fault: added to every response
    # busy_every and busy_rate count every request, whatever its method and path: log in
    # (POST /session), refresh, reads, job polls and logout answer 503 like any other call
    busy_every: int = 0               # fault: every Nth request answers 503
    busy_rate: float = 0.0            # fault: this share of requests answers 503
    busy_retry_after: int = 1         # Retry-After value sent with 503; 0: no Retry-After header
    busy_retry_after_date: bool = False  # realism: Retry-After as an HTTP-date (RFC 9110), not seconds
    copy_path_down: str = ""          # fault: "all" or comma-separated session ids whose jobs fail
    hung_jobs: bool = False           # fault: jobs never finish
    hung_jobs_user: str = ""          # fault: PATCH jobs started by this user (a name) never finish
    hung_jobs_to: str = ""            # fault: PATCH jobs whose body sets this transfer mode never finish
    drop_every: int = 0               # fault: every Nth request loses its connection
    drop_reply_every: int = 0         # fault: every Nth PATCH is taken (its job runs), then its reply is lost
    change_at: str = ""               # fault "N:SID:field=value": at the Nth request, session SID's field changes
    get_500_every: int = 0            # fault: every Nth GET /copysession/{id} answers 500
    patch_500_body: str = ""          # fault: a PATCH whose body is exactly these fields answers 500 ("k=v;k=v")
    late_change_delay: float = 0.4    # defect late-change: seconds after a job's end its late write is due
    # realism (issue 15); the defaults keep the simple behaviour
    page_size: int = 0                # GET /copysession: this many per page, next_href to the rest (0: one page)
    read_lag: float = 0.0             # after a PATCH job's Success, GETs show the old modes this long
    hex_error_codes: bool = False     # error_code like "D190" instead of 4 digits
    status_error_codes: bool = False  # old style: error_code copies the HTTP status ("0400"), not a message number
    odd_neighbours: bool = False      # extra sessions, named by no target, with values outside the enums
    json_500: bool = True             # a 500 carries the JSON error body (false: plain text, as a proxy might)
    stack_equivalent: bool = False    # a resumed Stack session reaches Equivalent after copy_time
    one_job_per_session: bool = False  # a change to a session with an unfinished job: 409 "previous command in process"
    concurrent_refusal: int = 409     # with one_job_per_session: 409, or 503 (busy, with Retry-After)
    # a suspended Stack or Consistency session whose transfer mode no PATCH has set reads transfer_mode
    # "Through" (the design guide's fourth mode, which the PATCH cannot set; CONTRACT section 1)
    through_suspended: bool = False
    tenant_get_404: bool = False      # a tenant user's GET of a session outside its tenant: 404, not 403 (old style)
    inventory: str = ""               # inventory TOML to load (empty: the built-in one)
    writable_sessions: int = 0        # the target names only the first N writable sessions (0: all)
    defects: frozenset[str] = frozenset()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.refusals not in ("immediate", "job"):
            raise ValueError("refusals must be 'immediate' or 'job'")
        self.defects = _defects.resolve(self.defects)
        for name in ("page_size", "writable_sessions", "busy_every", "drop_every", "drop_reply_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more")
        if self.concurrent_refusal not in (409, 503):
            raise ValueError("concurrent_refusal must be 409 or 503")
        if self.change_at and not re.fullmatch(r"\d+:\d+:\w+=\S+", self.change_at):
            raise ValueError(f"change_at must read N:SID:field=value, not {self.change_at!r}")

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
