"""The target file (CONTRACT section 3) and the target profile: every assumption the suite
makes where the reference is silent lives here, overridable from the file's [profile] table."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TargetFileError


@dataclass
class Profile:
    """Assumptions of CONTRACT section 1 where the reference is silent (specs/DECISIONS.md)."""
    suspended_phase: str = "Suspend"
    active_phases: tuple[str, ...] = ("Copying", "Equivalent")   # preflight: a writable session reads one
    equivalent_phase: str = "Equivalent"
    # a job Error on a change the rules accept names the environment (an error of the run, not a
    # deviation) only when one message of the job (each failed resource's message, each failed
    # operation, matched one at a time) matches one of these regular expressions (case-insensitive;
    # whole words with \b, and never across a clause: [^.;:()] between the subject and what it says):
    # the REC path down, no REC buffer, the remote array unreachable, a busy array
    environment_patterns: tuple[str, ...] = (
        r"\b(REC|copy) path\b[^.;:()]{0,60}\b(not available|unavailable|down|disconnected|blocked)\b",
        r"\bREC buffer\b[^.;:()]{0,60}\b(not|no|missing|insufficient|unavailable)\b",
        r"\bno REC buffer\b",
        r"\bremote (storage system|array|box)\b[^.;:()]{0,60}\b(not available|not reachable|unreachable|down)\b",
        r"\bstorage system is busy\b",
    )
    suspend_timeout: float = 120.0      # seconds for a suspend or resume to show in GET
    settle_window: float = 10.0         # seconds a GET may lag a job's Success before the suite judges it
    busy_budget: float = 60.0           # seconds one request may spend retrying 503 (busy)
    busy_retries: int = 11              # 503 retries of one request (back-off 25 ms doubling to 5 s: ~21 s)
    rec_type: str = "REC"               # the copy-session ``type`` token of a REC session
    active_statuses: tuple[str, ...] = ("Active",)   # a writable session's ``status`` (preflight)
    refusal_job_statuses: tuple[str, ...] = ("Error",)   # a job end that counts as a refusal
    fuzz_examples: int = 50             # schemathesis examples on a real array
    # transfer modes a GET may show beyond the three the PATCH sets (the design guide's Through, say,
    # on a suspended asynchronous session: whether a GET shows it is unknown). A writable session that
    # reads one is set aside (never written: the PATCH could not put it back); one that reads a mode
    # not listed here stops the run at preflight, naming this key
    readable_transfer_modes: tuple[str, ...] = ()


@dataclass
class UserSpec:
    key: str
    name: str
    password_env: str

    def password(self, file: str) -> str:
        value = os.environ.get(self.password_env)
        if not value:
            raise TargetFileError(f"{file}: [users.{self.key}] password_env: the environment variable "
                                  f"{self.password_env} is not set")
        return value


@dataclass
class Target:
    url: str
    kind: str                              # "sim" or "array"
    verify: bool | str
    users: dict[str, UserSpec]
    writable: list[int]
    tenant_own: int
    tenant_foreign: int
    non_rec: int
    tenant_own_destination: int | None = None
    absent: int | None = None
    active: list[int] = field(default_factory=list)     # REC sessions not suspended: refusal checks only
    identity: dict[int, dict[str, Any]] = field(default_factory=dict)
    baseline: dict[int, dict[str, Any]] = field(default_factory=dict)   # pinned starting states
    array: dict[str, str] = field(default_factory=dict)
    capabilities: dict[str, bool] = field(default_factory=dict)
    profile: Profile = field(default_factory=Profile)
    source: str = "sim"

    def has(self, capability: str) -> bool:
        default = {"consistency": True, "expired_token": False}.get(capability, True)
        return bool(self.capabilities.get(capability, default))

    @property
    def tenant_sessions(self) -> list[int]:
        return [s for s in (self.tenant_own, self.tenant_own_destination) if s is not None]

    @property
    def named(self) -> list[int]:
        return self.writable + self.tenant_sessions + [self.tenant_foreign, self.non_rec] + self.active

    @property
    def written(self) -> set[int]:
        """Every session some process of a run may change (modes, or suspended/active): never a
        REC-ISOLATION witness, whichever worker owns it."""
        return set(self.writable) | set(self.tenant_sessions) | {self.tenant_foreign} | set(self.active)

    def redacted(self) -> dict:
        """The target as written in a report: no passwords (only the names of their variables)."""
        return {"url": self.url, "kind": self.kind, "verify": self.verify,
                "users": {k: {"name": u.name, "password_env": u.password_env} for k, u in self.users.items()},
                "sessions": {"writable": self.writable, "tenant_own": self.tenant_own,
                             "tenant_foreign": self.tenant_foreign, "non_rec": self.non_rec,
                             "tenant_own_destination": self.tenant_own_destination, "absent": self.absent,
                             "active": self.active},
                "identity": {str(k): v for k, v in self.identity.items()},
                "baseline": {str(k): v for k, v in self.baseline.items()},
                "array": self.array, "capabilities": self.capabilities}


_TOP = {"url", "verify", "users", "sessions", "array", "capabilities", "profile"}
_ARRAY_KEYS = {"model", "serial", "firmware"}
_USER_ROLES = ("admin", "tenant", "other")   # other: optional, a second user for the job-privacy check
_USER_KEYS = {"name", "password_env"}
_CAPABILITIES = {"consistency", "expired_token"}
_SESSION_KEYS = {"writable", "tenant_own", "tenant_foreign", "non_rec", "tenant_own_destination",
                 "absent", "identity", "active", "baseline"}
BASELINE_KEYS = {"transfer_mode": str, "split_mode": str, "recovery_mode": str, "suspended": bool}
_IDENTITY_KEYS = {"remote_boxid", "source_volume_name", "destination_volume_name",
                  "source_volume_number", "destination_volume_number", "is_local_source_volume", "type"}


def _int(file: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TargetFileError(f"{file}: {key}: expected a copy session id (a whole number >= 0), got {value!r}")
    return value


def _closed_table(data: dict, name: str, known: set[str], kind: type, what: str) -> dict:
    """An optional table whose keys are all known and whose values are all of one type."""
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise TargetFileError(f"{data.get('_file', '')}[{name}]: expected a table")
    unknown = set(table) - known
    if unknown:
        raise TargetFileError(f"{data['_file']}: [{name}]: unknown key(s) {', '.join(sorted(unknown))}; known: "
                              f"{', '.join(sorted(known))}")
    for k, v in table.items():
        if not isinstance(v, kind):
            raise TargetFileError(f"{data['_file']}: [{name}] {k}: expected {what}, got {v!r}")
    return table


def parse_target(data: dict, file: str, kind: str = "array") -> Target:
    unknown = set(data) - _TOP
    if unknown:
        raise TargetFileError(f"{file}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_TOP))}")
    url = data.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise TargetFileError(f"{file}: url: expected the base URL, e.g. \"https://array:5665\", got {url!r}")
    if url.rstrip("/").endswith("/api/v1"):
        raise TargetFileError(f"{file}: url: give the base URL without /api/v1")
    verify = data.get("verify", True)
    if not isinstance(verify, (bool, str)):
        raise TargetFileError(f"{file}: verify: expected true, false or a CA bundle path")
    if isinstance(verify, str) and not Path(verify).is_file():
        raise TargetFileError(f"{file}: verify: CA bundle {verify!r} does not exist")
    users = {}
    raw_users = data.get("users")
    if not isinstance(raw_users, dict):
        raise TargetFileError(f"{file}: [users]: missing; [users.admin] and [users.tenant] are required")
    for key in ("admin", "tenant"):
        if key not in raw_users:
            raise TargetFileError(f"{file}: [users.{key}]: missing")
    for key, u in raw_users.items():
        if key not in _USER_ROLES:
            raise TargetFileError(f"{file}: [users.{key}]: unknown user; known: {', '.join(_USER_ROLES)}")
        if not isinstance(u, dict):
            raise TargetFileError(f"{file}: [users.{key}]: expected a table")
        if "password" in u:
            raise TargetFileError(f"{file}: [users.{key}] password: passwords never go in the target file; "
                                  "name an environment variable with password_env")
        bad = set(u) - _USER_KEYS
        if bad:
            raise TargetFileError(f"{file}: [users.{key}]: unknown key(s) {', '.join(sorted(bad))}; known: "
                                  f"{', '.join(sorted(_USER_KEYS))}")
        for k in ("name", "password_env"):
            if not isinstance(u.get(k), str) or not u.get(k):
                raise TargetFileError(f"{file}: [users.{key}] {k}: missing or not a string")
        users[key] = UserSpec(key, u["name"], u["password_env"])
    s = data.get("sessions")
    if not isinstance(s, dict):
        raise TargetFileError(f"{file}: [sessions]: missing")
    unknown = set(s) - _SESSION_KEYS
    if unknown:
        raise TargetFileError(f"{file}: [sessions]: unknown key(s) {', '.join(sorted(unknown))}")
    for k in ("writable", "tenant_own", "tenant_foreign", "non_rec"):
        if k not in s:
            raise TargetFileError(f"{file}: [sessions] {k}: missing")
    if not isinstance(s["writable"], list) or not s["writable"]:
        raise TargetFileError(f"{file}: [sessions] writable: expected a non-empty list of session ids")
    writable = [_int(file, "[sessions] writable", v) for v in s["writable"]]
    if len(set(writable)) != len(writable):
        raise TargetFileError(f"{file}: [sessions] writable: a session is listed twice")
    singles = {k: _int(file, f"[sessions] {k}", s[k]) for k in
               ("tenant_own", "tenant_foreign", "non_rec", "tenant_own_destination", "absent") if k in s}
    if not isinstance(s.get("active", []), list):
        raise TargetFileError(f"{file}: [sessions] active: expected a list of session ids")
    active = [_int(file, "[sessions] active", v) for v in s.get("active", [])]
    named = writable + [v for k, v in singles.items() if k != "absent"] + active
    if len(set(named)) != len(named):
        raise TargetFileError(f"{file}: [sessions]: each session may have one role only; {named} repeats one")
    if singles.get("absent") in named:
        raise TargetFileError(f"{file}: [sessions] absent: {singles['absent']} is also named as an existing session")
    identity = {}
    for sid, pins in (s.get("identity") or {}).items():
        if not str(sid).isdigit() or int(sid) not in named:
            raise TargetFileError(f"{file}: [sessions.identity.{sid}]: not a session this file names")
        bad = set(pins) - _IDENTITY_KEYS
        if bad:
            raise TargetFileError(f"{file}: [sessions.identity.{sid}]: unknown key(s) {', '.join(sorted(bad))}")
        identity[int(sid)] = dict(pins)
    baseline = {}
    for sid, pins in (s.get("baseline") or {}).items():
        where = f"{file}: [sessions.baseline.{sid}]"
        if not str(sid).isdigit() or int(sid) not in named:
            raise TargetFileError(f"{where}: not a session this file names")
        if not isinstance(pins, dict) or not pins:
            raise TargetFileError(f"{where}: expected a table with some of {', '.join(sorted(BASELINE_KEYS))}")
        for k, v in pins.items():
            if k not in BASELINE_KEYS:
                raise TargetFileError(f"{where}: unknown key {k}; known: {', '.join(sorted(BASELINE_KEYS))}")
            if not isinstance(v, BASELINE_KEYS[k]):
                raise TargetFileError(f"{where} {k}: expected a {BASELINE_KEYS[k].__name__}, got {v!r}")
        baseline[int(sid)] = dict(pins)
    data = {**data, "_file": file}
    array = _closed_table(data, "array", _ARRAY_KEYS, str, "a string")
    caps = _closed_table(data, "capabilities", _CAPABILITIES, bool, "true or false")
    profile = Profile()
    for k, v in (data.get("profile") or {}).items():
        if k not in Profile.__dataclass_fields__:
            raise TargetFileError(f"{file}: [profile] {k}: unknown; known: {', '.join(Profile.__dataclass_fields__)}")
        setattr(profile, k, tuple(v) if isinstance(v, list) else v)
    return Target(url=url.rstrip("/"), kind=kind, verify=verify, users=users, writable=writable,
                  tenant_own=singles["tenant_own"], tenant_foreign=singles["tenant_foreign"],
                  non_rec=singles["non_rec"], tenant_own_destination=singles.get("tenant_own_destination"),
                  absent=singles.get("absent"), active=active, identity=identity, baseline=baseline,
                  array=dict(array),
                  capabilities=caps, profile=profile, source=file)


def load_target(path: str | Path) -> Target:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TargetFileError(f"{path}: no such target file") from None
    except tomllib.TOMLDecodeError as exc:
        raise TargetFileError(f"{path}: not valid TOML: {exc}") from None
    return parse_target(data, str(path), kind="array")
