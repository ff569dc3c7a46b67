"""The dry run (``--rec-dry-run``): the plan, and the read-only preflight, with no write.

A dry run logs in and checks the target file against the array with reads only (each named
session exists, has its type, identity and baseline, the tenant user sees its sessions), so that
a wrong port, a missing password or a wrong session id shows before a real run; ``--rec-offline``
skips even that. No check of the suite runs: they are deselected, not skipped one by one.
"""

from __future__ import annotations

import pytest

from ..model.target import TargetFileError, load_target

__all__ = ["dry_run"]


def dry_run(config: pytest.Config, run, items: list[pytest.Item], rec_items: list[pytest.Item], groups: int) -> None:
    from ..model.matrix import cases_for
    from ..model.plan import plan_lines

    opts = run.options
    config.hook.pytest_deselected(items=rec_items)
    items[:] = [i for i in items if i not in rec_items]
    if opts.target == "sim":
        from ..simulator.inventory import load_inventory

        inventory = load_inventory()
        sessions = inventory.target["sessions"]
        writable, active = list(sessions["writable"]), len(sessions.get("active", []))
        consistency = bool(inventory.target.get("capabilities", {}).get("consistency", True))
        tenant_destination = sessions.get("tenant_own_destination") is not None
        active_phases = {sid: inventory.sessions[sid].phase for sid in sessions.get("active", [])
                         if sid in inventory.sessions}
    else:
        target = load_target(opts.target)
        writable, active, consistency = target.writable, len(target.active), target.has("consistency")
        tenant_destination, active_phases = target.tenant_own_destination is not None, {}
    cases = cases_for(opts.depth, opts.pairwise_seed)
    from ._xdist import lane_homes

    run.plan = plan_lines(cases, writable, groups, depth=opts.depth,
                          consistency=consistency, active=active, lane_other=run.lane_load,
                          shared_lane=run.shared_lane, homes=lane_homes(opts.target, groups))
    tenant_sessions = 1 + (1 if tenant_destination else 0)
    run.plan += positive_lines(cases, consistency, opts.depth, tenant_sessions)
    from ..engine.walk import plan_lines as walk_lines

    run.plan += walk_lines(opts, len(writable), groups)
    phases: dict[int, str] = dict(active_phases)
    if opts.target == "sim":
        run.plan += suspend_first_lines(consistency, phases, active)
        run.plan.append("pytest-rec dry run: the built-in simulator starts with the run; nothing to check beforehand")
    elif opts.offline:
        run.plan += suspend_first_lines(consistency, None, active)
        run.plan.append("pytest-rec dry run: --rec-offline, so the target was not contacted")
    else:
        problems = read_only_preflight(opts.target, phases=phases)
        run.plan += suspend_first_lines(consistency, phases, active)
        if problems:
            pytest.exit("pytest-rec: dry run: the target file does not match the array (nothing was written):\n  - "
                        + "\n  - ".join(problems), returncode=2)
        run.plan.append("pytest-rec dry run: logged in and checked the target file against the array "
                        "(reads only): it matches")


def positive_lines(cases, consistency: bool, depth: str, tenant_sessions: int) -> list[str]:
    """Per user, the bodies each positive rule gets (issue 26): the admin's from the matrix, the tenant
    user's on each session of its own tenant (``shapes.allow_bodies``), with the body shapes among them
    against the shapes the full matrix has for the rule."""
    from ..model.shapes import NEUTRAL, positive_counts

    modes = ("Synchronous", "Stack", "Consistency") if consistency else ("Synchronous", "Stack")
    counts = positive_counts(NEUTRAL, [(c.start, c.body_dict) for c in cases], transfer_modes=modes, depth=depth,
                             sessions=tenant_sessions)
    lines = ["  positive rules, bodies per user (rule: bodies, body shapes of the matrix's):"]
    where = {"admin": "the matrix", "tenant": f"{tenant_sessions} session(s) of its own tenant, from "
                                              f"{NEUTRAL.label()} (a run starts from the session's modes)"}
    for user, rules in counts.items():
        lines.append(f"    {user} ({where[user]}): " + ", ".join(f"{r} {n} ({k}/{of} shapes)"
                                                               for r, (n, k, of) in rules.items()))
    return lines


def suspend_first_lines(consistency: bool, phases: dict[int, str] | None, active: int) -> list[str]:
    """The active phases REC-SUSPEND-FIRST will be judged from: Equivalent on the sessions the suite
    resumes (it waits for Equivalent), and each session under ``sessions.active`` in the phase it reads."""
    made = "Synchronous" + (" and Consistency" if consistency else "")
    line = f"  REC-SUSPEND-FIRST from: Equivalent ({made} sessions the suite resumes and waits for)"
    if not active:
        return [line + "; Copying: none (the target names no session under sessions.active): covered: "
                       "Equivalent only"]
    if phases is None:
        return [line + f"; {active} session(s) under sessions.active in the phase each reads at run time "
                       "(not read: --rec-offline)"]
    listed = ", ".join(f"{sid} {phase}" for sid, phase in sorted(phases.items()))
    covered = sorted({"Equivalent"} | set(phases.values()))
    note = "" if "Copying" in covered else " only (sessions.active names none in Copying)"
    return [line + f"; sessions.active: {listed}: covered: {', '.join(covered)}{note}"]


def read_only_preflight(target_file: str, lanes: bool = False, phases: dict | None = None) -> list[str]:
    """Log in as each user the target names and run the preflight; problems, or [] when it matches.
    ``lanes``: also require a REC session no lane writes (REC-ISOLATION's witness under lanes).
    ``phases``: filled with the phase each session under ``sessions.active`` reads."""
    from ..client.rest import Credentials, RecClient
    from ..client.transcript import Transcript
    from ..engine.context import make_guard
    from ..errors import RequestBlocked, TargetError
    from ..engine.preflight import preflight

    try:
        target = load_target(target_file)
        creds = {k: Credentials(k, u.name, u.password(target.source)) for k, u in target.users.items()}
    except TargetFileError as exc:
        return [str(exc)]
    guard, transcript = make_guard(target), Transcript()
    clients: dict[str, RecClient] = {}
    try:
        for key in ("admin", "tenant"):
            client = RecClient(target.url, creds[key], verify=target.verify, guard=guard, transcript=transcript,
                               busy_retries=target.profile.busy_retries, busy_budget=target.profile.busy_budget)
            clients[key] = client
            client.login()
        problems = preflight(target, clients["admin"], clients["tenant"])
        if phases is not None and not problems:
            for sid in target.active:
                phases[sid] = str(clients["admin"].get_copysession(sid).get("phase", "?"))
        if lanes and not problems:
            watched = [x for x in clients["admin"].list_copysessions()
                       if x.get("type") == target.profile.rec_type and x.get("copysession_id") not in target.written]
            if not watched:
                problems.append("the array shows no REC session that no lane writes, so REC-ISOLATION would have "
                                "nothing to watch while the lanes change their sessions")
        return problems
    except (TargetError, RequestBlocked) as exc:
        return [f"cannot use {target.url}: {exc}"]
    finally:
        for client in clients.values():
            try:
                client.close()
            except Exception:  # noqa: BLE001 - logging out is a courtesy here
                pass
