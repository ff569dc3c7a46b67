"""The target data (CONTRACT section 3) that points the compliance suite at a simulator.

``target_data`` is the one place that turns an inventory and a URL into the target's keys
(``SimulatorServer.target()`` calls it for a running simulator); ``target_toml`` writes the
same data as a target file. The sessions the target names come from the inventory's
``[target.sessions]`` (``active`` included), plus ``[sessions.identity.N]`` and
``[sessions.baseline.N]`` pins for every writable session: its volumes and remote box, and the
state the inventory starts it in (modes, and ``suspended``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .inventory import Inventory

USER_KEYS = ("admin", "tenant", "other")


def sim_password_env(key: str) -> str:
    """The environment variable a simulator target names for a user key."""
    return f"REC_SIM_{key.upper()}_PASSWORD"


def _users(inv: "Inventory") -> dict[str, Any]:
    """Target user key -> inventory user, for the users the target names."""
    names = inv.target.get("users", {})
    out = {}
    for key in USER_KEYS:
        user = inv.users.get(names.get(key, key))
        if user is not None:
            out[key] = user
    return out


def target_data(inv: "Inventory", url: str, verify: bool | str = True,
                password_env: Callable[[str], str] = sim_password_env) -> dict[str, Any]:
    """The target's keys as a dict (the shape of CONTRACT section 3, as a parsed TOML file)."""
    named = dict(inv.target.get("sessions", {}))
    sessions: dict[str, Any] = {k: (list(v) if isinstance(v, list) else v) for k, v in named.items()}
    identity, baseline = {}, {}
    for sid in named.get("writable", []):
        cs = inv.sessions[sid]
        identity[str(sid)] = {"remote_boxid": cs.remote_boxid,
                              "source_volume_name": inv.volumes[cs.source_volume].name}
    # a pin for every session a run may change (writable, tenant, active): a run from another folder
    # after a killed one then refuses to start on any of them, not only on the writable ones
    written = [*named.get("writable", []), *named.get("active", [])] + \
        [named[k] for k in ("tenant_own", "tenant_own_destination", "tenant_foreign") if named.get(k) is not None]
    for sid in dict.fromkeys(written):
        cs = inv.sessions[sid]
        baseline[str(sid)] = {"transfer_mode": cs.transfer_mode, "split_mode": cs.split_mode,
                              "recovery_mode": cs.recovery_mode, "suspended": cs.phase == "Suspend"}
    if identity:
        sessions["identity"] = identity
    if baseline:
        sessions["baseline"] = baseline
    return {
        "url": url,
        "verify": verify,
        "users": {key: {"name": u.name, "password_env": password_env(key)} for key, u in _users(inv).items()},
        "sessions": sessions,
        "array": dict(inv.target.get("array", {})),
        "capabilities": dict(inv.target.get("capabilities", {})),
        **({"profile": dict(inv.target["profile"])} if inv.target.get("profile") else {}),
    }


def target_env(inv: "Inventory", password_env: Callable[[str], str] = sim_password_env) -> dict[str, str]:
    """Environment variable -> password, for the users the target names."""
    return {password_env(key): u.password for key, u in _users(inv).items()}


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def target_toml(data: dict[str, Any]) -> str:
    """The target data as a target file."""
    lines = ["# Target file for the pytest-rec built-in simulator (CONTRACT section 3).",
             f"url = {_toml_value(data['url'])}", f"verify = {_toml_value(data['verify'])}", ""]
    for key, user in data["users"].items():
        lines += [f"[users.{key}]", f"name = {_toml_value(user['name'])}",
                  f"password_env = {_toml_value(user['password_env'])}", ""]
    sessions = data["sessions"]
    lines.append("[sessions]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in sessions.items() if not isinstance(v, dict)]
    lines.append("")
    for table in ("identity", "baseline"):
        for sid, pins in sessions.get(table, {}).items():
            lines.append(f"[sessions.{table}.{sid}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in pins.items()]
            lines.append("")
    for table in ("array", "capabilities", "profile"):
        if table == "profile" and not data.get(table):
            continue
        lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data.get(table, {}).items()]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# the names a hand-written target file for the simulator uses (README, tests)
LEGACY_ENVS = {"admin": "REC_ADMIN_PASSWORD", "tenant": "REC_TENANT_PASSWORD", "other": "REC_OTHER_PASSWORD"}


def target_file_text(inv: "Inventory", url: str, verify: bool | str = True,
                     password_envs: dict[str, str] | None = None) -> str:
    """The target file for an inventory, with the password variables ``password_envs`` names."""
    envs = password_envs or LEGACY_ENVS
    return target_toml(target_data(inv, url, verify, lambda key: envs[key]))


def passwords(inv: "Inventory") -> dict[str, str]:
    """``REC_ADMIN_PASSWORD``-style variable -> password, matching ``target_file_text``."""
    return target_env(inv, lambda key: LEGACY_ENVS[key])
