"""Preflight: the target file checked against the array before the first write (read-only)."""

from __future__ import annotations

from ..client.rest import RecClient
from ..model.behaviour import TRANSFER_MODES
from .restore import pending_journals
from ..model.state import state_of
from ..model.target import Target

__all__ = ["preflight", "set_aside"]


def preflight(target: Target, admin: RecClient, tenant: RecClient, others_write: frozenset[int] = frozenset()) -> list[str]:
    """Check the target file against the array before the first write; return problems.
    ``others_write``: sessions another lane of the same run may already be changing (its own
    writable sessions, the tenant ones): their existence, type and identity are checked, not their
    modes or phase (``rec-compliance`` checks everything once before it starts the lanes)."""
    problems = []
    prof = target.profile
    aside: dict[int, str] = {}
    for sid in target.named:
        resp = admin.request("GET", f"/copysession/{sid}")
        if resp.status_code == 404:
            problems.append(f"session {sid} does not exist")
            continue
        if resp.status_code != 200:
            problems.append(f"session {sid}: GET answered {resp.status_code}")
            continue
        s = resp.json()
        if sid in target.writable and s.get("transfer_mode") in prof.readable_transfer_modes \
                and s.get("transfer_mode") not in TRANSFER_MODES:
            aside[sid] = s["transfer_mode"]
        want_type = prof.rec_type if sid != target.non_rec else None
        if want_type and s.get("type") != want_type:
            problems.append(f"session {sid} is of type {s.get('type')!r}; the target file names it as a REC session")
        if sid == target.non_rec and s.get("type") == prof.rec_type:
            problems.append(f"session {sid} is a REC session; non_rec must name a copy session of another type")
        for key, want in target.identity.get(sid, {}).items():
            if s.get(key) != want:
                problems.append(f"session {sid}: identity pin {key} = {want!r} but the array says {s.get(key)!r}; "
                                "refusing to touch a session that is not the one the file means")
        st = state_of(s, target)
        if sid in others_write and sid not in target.active:
            continue
        odd = _unsettable(target, sid, s)
        problems += odd
        if sid in target.baseline and sid not in aside and not odd:   # set aside: never written
            problems += _baseline(target, sid, s, st.suspended)
        if sid in target.active and (st.suspended or st.phase not in prof.active_phases):
            problems.append(f"session {sid} is listed under sessions.active but reads phase {st.phase!r} (active "
                            f"phases: {list(prof.active_phases)}); the suite never suspends or resumes it")
        if sid in target.writable:
            if not st.suspended and st.phase not in prof.active_phases:
                problems.append(f"session {sid} reads phase {st.phase!r}, which is neither the suspended phase "
                                f"{prof.suspended_phase!r} nor an active one {list(prof.active_phases)} of the "
                                "target profile ([profile] suspended_phase / active_phases)")
            elif not st.suspended and st.phase != prof.equivalent_phase:
                problems.append(f"session {sid} is {st.phase!r}: neither suspended nor equivalent, and the suite "
                                "never forces a suspend; wait until it is equivalent or suspend it yourself")
            if s.get("status") not in (None, *prof.active_statuses):
                problems.append(f"session {sid} has status {s.get('status')!r}, not one of the target profile's "
                                f"active statuses {list(prof.active_statuses)} ([profile] active_statuses)")
    for sid, local_source in ((target.tenant_own, True), (target.tenant_own_destination, False)):
        if sid is None:
            continue
        resp = tenant.request("GET", f"/copysession/{sid}")
        if resp.status_code != 200:
            problems.append(f"the tenant user {tenant.creds.name!r} cannot read session {sid} "
                            f"(GET answered {resp.status_code}); the file says it is in the user's tenant")
        elif resp.json().get("is_local_source_volume") is not local_source:
            problems.append(f"session {sid}: is_local_source_volume is {resp.json().get('is_local_source_volume')!r}, "
                            f"the file's key implies {local_source}")
    if target.writable and all(sid in aside for sid in target.writable) and not others_write:
        problems.append(f"every writable session reads a transfer mode the PATCH cannot set ({_listed(aside)}): "
                        "the suite has no session it can write and put back")
    if target.absent is not None:
        resp = admin.request("GET", f"/copysession/{target.absent}")
        if resp.status_code != 404:
            problems.append(f"session {target.absent} (absent) answered {resp.status_code}, not 404: it exists")
    return problems


def _baseline(target: Target, sid: int, s: dict, suspended: bool) -> list[str]:
    """A ``[sessions.baseline.N]`` pin that the array does not match, with the likely way back."""
    now = {**{k: s.get(k) for k in ("transfer_mode", "split_mode", "recovery_mode")}, "suspended": suspended}
    diffs = [f"{k} is {now[k]!r}, the baseline says {want!r}" for k, want in target.baseline[sid].items()
             if now.get(k) != want]
    if not diffs:
        return []
    journals = [(path, sids) for path, sids in pending_journals(target.url) if sid in sids]
    hint = (f"an earlier run was stopped before it put it back: run `rec-restore {journals[0][0]}`" if journals else
            "no journal of an earlier run names it in this user's state directory; put it back by hand (or, if "
            "the new state is meant, change the baseline)")
    return [f"session {sid} differs from its baseline in the target file: {'; '.join(diffs)}. {hint}"]


def _unsettable(target: Target, sid: int, s: dict) -> list[str]:
    """A session the run may write that reads a transfer mode the PATCH cannot set (CONTRACT section 1):
    the suite could not put it back. A writable one whose mode the profile lists is set aside instead."""
    mode, prof = s.get("transfer_mode"), target.profile
    if sid not in target.written or s.get("type") != prof.rec_type or mode in TRANSFER_MODES:
        return []
    if sid in target.writable and mode in prof.readable_transfer_modes:
        return []
    key = f"[profile] readable_transfer_modes = {list(prof.readable_transfer_modes)!r}"
    if mode in prof.readable_transfer_modes:
        return [f"session {sid} reads transfer mode {mode!r}, which the PATCH cannot set ({key}); the suite "
                "may change it (a tenant or active session, not one it can set aside) and could not put it back: "
                "name another session"]
    return [f"session {sid} reads transfer mode {mode!r}, which the PATCH cannot set and the target profile "
            f"does not list ({key}); the suite could not put it back. If the array shows {mode!r} for some "
            "sessions (the design guide's Through, say, on a suspended asynchronous session), add it to "
            "readable_transfer_modes: a writable session that reads it is then set aside, never written"]


def _listed(aside: dict[int, str]) -> str:
    return ", ".join(f"session {sid} reads {mode!r}" for sid, mode in sorted(aside.items()))


def set_aside(target: Target, admin: RecClient, sids: list[int]) -> dict[int, str]:
    """The writable sessions of ``sids`` that read a transfer mode the PATCH cannot set and the profile
    lists as readable (``readable_transfer_modes``): never written by the run, with why."""
    out = {}
    for sid in sids:
        if not target.profile.readable_transfer_modes:
            break
        mode = admin.get_copysession(sid).get("transfer_mode")
        if mode in target.profile.readable_transfer_modes and mode not in TRANSFER_MODES:
            out[sid] = (f"session {sid} set aside: it reads transfer mode {mode!r}, which the PATCH cannot set "
                        "(target profile readable_transfer_modes), so the run could not put it back; never written")
    return out
