"""The dry run (``--rec-dry-run``): the plan, and the read-only preflight, with no write.

A dry run logs in and checks the target file against the array with reads only (each named
session exists, has its type, identity and baseline, the tenant user sees its sessions), so that
a wrong port, a missing password or a wrong session id shows before a real run; ``--rec-offline``
skips even that. No check of the suite runs: they are deselected, not skipped one by one.
"""

from __future__ import annotations

import pytest

from ..target import TargetFileError, load_target

__all__ = ["dry_run"]


def dry_run(config: pytest.Config, run, items: list[pytest.Item], rec_items: list[pytest.Item], groups: int) -> None:
    from ..matrix import cases_for
    from ..plan import plan_lines

    opts = run.options
    config.hook.pytest_deselected(items=rec_items)
    items[:] = [i for i in items if i not in rec_items]
    if opts.target == "sim":
        from ..simulator.inventory import load_inventory

        sessions = load_inventory().target["sessions"]
        writable, active = list(sessions["writable"]), len(sessions.get("active", []))
        consistency = bool(load_inventory().target.get("capabilities", {}).get("consistency", True))
    else:
        target = load_target(opts.target)
        writable, active, consistency = target.writable, len(target.active), target.has("consistency")
    run.plan = plan_lines(cases_for(opts.depth, opts.pairwise_seed), writable, groups, depth=opts.depth,
                          consistency=consistency, active=active, lane_other=run.lane_load,
                          shared_lane=run.shared_lane)
    if opts.target == "sim":
        run.plan.append("pytest-rec dry run: the built-in simulator starts with the run; nothing to check beforehand")
    elif opts.offline:
        run.plan.append("pytest-rec dry run: --rec-offline, so the target was not contacted")
    else:
        problems = read_only_preflight(opts.target)
        if problems:
            pytest.exit("pytest-rec: dry run: the target file does not match the array (nothing was written):\n  - "
                        + "\n  - ".join(problems), returncode=2)
        run.plan.append("pytest-rec dry run: logged in and checked the target file against the array "
                        "(reads only): it matches")


def read_only_preflight(target_file: str, lanes: bool = False) -> list[str]:
    """Log in as each user the target names and run the preflight; problems, or [] when it matches.
    ``lanes``: also require a REC session no lane writes (REC-ISOLATION's witness under lanes)."""
    from ..client import Credentials, RecClient, Transcript
    from ..context import make_guard
    from ..errors import RequestBlocked, TargetError
    from ..preflight import preflight

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
