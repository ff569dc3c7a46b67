"""What the simulated array holds: users, volumes and copy sessions.

The default inventory matches the ready-made target that ``rec-sim`` prints (built by
targetfile.py from the inventory's ``[target]`` tables); ``load_inventory`` reads another one
from a TOML file of the same shape as ``default.toml`` beside this module.
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


from .targetfile import passwords, target_file_text  # noqa: E402  (kept importable from here)
