"""What the simulated array holds: users, volumes and copy sessions.

The default inventory matches the ready-made target that ``rec-sim`` prints (built by
targetfile.py from the inventory's ``[target]`` tables); ``load_inventory`` reads another one
from a TOML file of the same shape as ``default.toml`` beside this module.
"""

from __future__ import annotations

import copy
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


def with_writable(inv: Inventory, count: int) -> Inventory:
    """The inventory whose target names ``count`` writable sessions: the first ``count`` of the ones it
    names, then (if more are asked for) new suspended Synchronous REC sessions made for the purpose."""
    inv = copy.deepcopy(inv)
    sessions_key = inv.target.setdefault("sessions", {})
    writable = list(sessions_key.get("writable", []))[:count]
    next_id = max(inv.sessions) + 1
    while len(writable) < count:
        sid = next_id
        next_id += 1
        src, dst = 300000 + sid, 400000 + sid
        inv.volumes[src] = Volume(src, 1000 + 2 * sid, f"extra#{sid}")
        inv.volumes[dst] = Volume(dst, 1001 + 2 * sid, f"extra#{sid}_rep")
        inv.sessions[sid] = CopySession(sid, "REC", src, dst, phase="Suspend", transfer_mode="Synchronous",
                                        split_mode="Automatic", recovery_mode="Automatic",
                                        remote_boxid="00ETERNUSDXHS3ET00000A####EI000001######",
                                        remote_copysession_id=sid)
        writable.append(sid)
    sessions_key["writable"] = writable
    return inv


# values outside the spec's tables (CONTRACT section 1: never a deviation, still compared for isolation)
_ODD = [dict(type="REC", phase="Halt", status="Halt", transfer_mode="Through", split_mode="Manual",
             recovery_mode="Manual"),
        dict(type="REC", phase="Copying_and_Tracking", status="Active", transfer_mode="Through",
             split_mode="Manual", recovery_mode="Automatic"),
        dict(type="QuickOPC", phase="Tracking", status="Active")]


def with_odd_neighbours(inv: Inventory) -> Inventory:
    """The inventory plus sessions that no target names, carrying values outside the spec's enums
    (transfer mode ``Through``, status ``Halt``, odd phases, another copy type)."""
    inv = copy.deepcopy(inv)
    next_id = max(inv.sessions) + 1
    for i, odd in enumerate(_ODD):
        sid = next_id + i
        src, dst = 500000 + sid, 600000 + sid
        inv.volumes[src] = Volume(src, 2000 + 2 * sid, f"odd#{sid}")
        inv.volumes[dst] = Volume(dst, 2001 + 2 * sid, f"odd#{sid}_rep")
        rec = odd["type"] == "REC"
        inv.sessions[sid] = CopySession(sid, source_volume=src, destination_volume=dst,
                                        remote_boxid="00ETERNUSDXHS3ET00000A####EI000003######" if rec else None,
                                        remote_copysession_id=sid if rec else None, **odd)
    return inv

