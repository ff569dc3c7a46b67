"""What the simulated array holds: users, volumes and copy sessions.

The default inventory matches the ready-made target file that ``rec-sim`` prints
(``target_file_text``); ``load_inventory`` reads another one from a TOML file of the
same shape as ``default.toml`` beside this module.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_INVENTORY = Path(__file__).with_name("default.toml")

ALL_POLICIES = [
    "Status_Display", "RAID_Group_Management", "Volume_Create_Modify", "Volume_Delete_Format",
    "Host_Interface_Management", "Advanced_Copy_Management", "Copy_Session_Management",
    "Storage_Migration_Management", "Storage_Management", "User_Management",
    "Authentication_Role", "Security_Settings", "Maintenance_Information",
    "Firmware_Management",
]
STORAGE_ADMIN_POLICIES = [
    "Status_Display", "RAID_Group_Management", "Volume_Create_Modify", "Volume_Delete_Format",
    "Host_Interface_Management", "Advanced_Copy_Management", "Copy_Session_Management",
    "Storage_Migration_Management",
]
ROLE_POLICIES = {"Admin": ALL_POLICIES, "StorageAdmin": STORAGE_ADMIN_POLICIES, "Monitor": ["Status_Display"]}


@dataclass
class User:
    name: str
    password: str
    role: str = "Admin"
    tenant: int | None = None

    @property
    def policies(self) -> list[str]:
        return list(ROLE_POLICIES[self.role])


@dataclass
class Volume:
    volume_id: int
    number: int
    name: str
    tenant: int | None = None


@dataclass
class CopySession:
    copysession_id: int
    type: str
    source_volume: int          # volume_id on the side that holds it
    destination_volume: int
    status: str = "Active"
    phase: str = "Equivalent"
    transfer_mode: str | None = None
    split_mode: str | None = None
    recovery_mode: str | None = None
    is_local_source_volume: bool = True
    remote_boxid: str | None = None
    remote_copysession_id: int | None = None
    elapsed_time: int = 0
    extra: dict = field(default_factory=dict)


@dataclass
class Inventory:
    users: dict[str, User]
    volumes: dict[int, Volume]
    sessions: dict[int, CopySession]
    target: dict                 # the [sessions]/[array] keys of the matching target file
    boxid: str = "00ETERNUSDXHS3ET00000A####EI000000######"


def load_inventory(path: str | Path | None = None) -> Inventory:
    """Read an inventory TOML file (the default one when ``path`` is None)."""
    path = Path(path) if path else DEFAULT_INVENTORY
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"inventory {path}: {exc}") from exc
    users = {u["key"]: User(name=u["name"], password=u["password"], role=u.get("role", "Admin"),
                            tenant=u.get("tenant")) for u in raw["users"]}
    volumes = {v["volume_id"]: Volume(v["volume_id"], v["number"], v["name"], v.get("tenant"))
               for v in raw["volumes"]}
    sessions: dict[int, CopySession] = {}
    for s in raw["sessions"]:
        known = {k: s[k] for k in CopySession.__dataclass_fields__ if k in s}
        cs = CopySession(**known)
        if cs.type == "REC" and cs.transfer_mode != "Synchronous" and cs.split_mode != "Manual":
            raise ValueError(f"inventory {path}: session {cs.copysession_id} is asynchronous, "
                             "so its split_mode must read Manual")
        for vol in (cs.source_volume, cs.destination_volume):
            if vol not in volumes:
                raise ValueError(f"inventory {path}: session {cs.copysession_id} names unknown volume {vol}")
        sessions[cs.copysession_id] = cs
    return Inventory(users=users, volumes=volumes, sessions=sessions,
                     target=raw.get("target", {}), boxid=raw.get("boxid", Inventory.boxid))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def target_file_text(inv: Inventory, url: str, verify: bool | str = True,
                     password_envs: dict[str, str] | None = None) -> str:
    """The target file (CONTRACT section 3) that points the suite at this inventory."""
    envs = password_envs or {"admin": "REC_ADMIN_PASSWORD", "tenant": "REC_TENANT_PASSWORD",
                             "other": "REC_OTHER_PASSWORD"}
    t = inv.target
    lines = [
        "# Target file for the pytest-rec built-in simulator (CONTRACT section 3).",
        f"url = {_toml_value(url)}",
        f"verify = {_toml_value(verify)}",
        "",
    ]
    for key in ("admin", "tenant", "other"):
        user = inv.users.get(t.get("users", {}).get(key, key))
        if user is None:
            continue
        lines += [f"[users.{key}]", f"name = {_toml_value(user.name)}",
                  f"password_env = {_toml_value(envs[key])}", ""]
    lines.append("[sessions]")
    for key, value in t.get("sessions", {}).items():
        lines.append(f"{key} = {_toml_value(value)}")
    lines.append("")
    for sid in t.get("sessions", {}).get("writable", []):
        cs = inv.sessions[sid]
        vol = inv.volumes[cs.source_volume]
        lines += [f"[sessions.identity.{sid}]", f"remote_boxid = {_toml_value(cs.remote_boxid)}",
                  f"source_volume_name = {_toml_value(vol.name)}", ""]
    lines.append("[array]")
    for key, value in t.get("array", {}).items():
        lines.append(f"{key} = {_toml_value(value)}")
    lines.append("")
    lines.append("[capabilities]")
    for key, value in t.get("capabilities", {}).items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def passwords(inv: Inventory) -> dict[str, str]:
    """Environment variable -> password for the users the target file names."""
    t = inv.target.get("users", {})
    out = {}
    for key, env in (("admin", "REC_ADMIN_PASSWORD"), ("tenant", "REC_TENANT_PASSWORD"),
                     ("other", "REC_OTHER_PASSWORD")):
        user = inv.users.get(t.get(key, key))
        if user:
            out[env] = user.password
    return out
