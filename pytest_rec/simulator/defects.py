"""Defect profiles: named, realistic firmware bugs the simulator can be started with.

This is the one place the defects live: the profiles (each with the requirement IDs of
CONTRACT section 2 that a correct compliance suite must report as failed when the simulator
runs with it, and no others) and ``DefectSwitches``, the small object the rule code asks
``if self.defect("name")``. Asking for a name that is not a profile raises, so a typo in the
rule code cannot silently switch a defect off. The IDs are plain strings here on purpose: the
simulator shares no code with the suite.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    name: str
    description: str
    breaks: frozenset[str]


_DEFECTS = [
    Defect("no-forced-manual",
           "Synchronous to Stack or Consistency keeps an Automatic split mode instead of forcing Manual.",
           frozenset({"REC-FORCED-MANUAL"})),
    Defect("split-accepted-when-async",
           "split_mode is accepted (and ignored) when the session is already asynchronous and "
           "transfer_mode is not sent.",
           frozenset({"REC-SPLIT-SYNC-ONLY"})),
    Defect("active-patch-accepted",
           "A PATCH to an active (not suspended) REC session is applied instead of refused.",
           frozenset({"REC-SUSPEND-FIRST"})),
    Defect("sticky-auto-restored",
           "Going back to Synchronous without split_mode restores the split mode the session had "
           "before it went asynchronous.",
           frozenset({"REC-STICKY-MANUAL"})),
    Defect("recovery-ignored-consistency",
           "recovery_mode is ignored for sessions that end in Consistency mode.",
           frozenset({"REC-RECOVERY"})),
    Defect("omitted-recovery-reset",
           "A PATCH that leaves out recovery_mode resets it to Automatic.",
           frozenset({"REC-KEEP-OMITTED"})),
    Defect("job-href-v2",
           "The 202 body's job_href points at /api/v2/job/<id>.",
           frozenset({"REC-RESPONSE"})),
    Defect("tenant-source-only",
           "The tenant check looks at the source volume only, so a tenant user is refused on a "
           "session whose local volume is the destination in its own tenant.",
           frozenset({"REC-TENANT-ALLOW"})),
    Defect("tenant-unchecked",
           "Tenant users may change any REC session.",
           frozenset({"REC-TENANT-DENY"})),
    Defect("non-rec-accepted",
           "A PATCH to a copy session of another type (OPC, EC) is accepted and changes nothing.",
           frozenset({"REC-NON-REC"})),
    Defect("unknown-id-400",
           "An unknown copysession_id answers 400 instead of 404.",
           frozenset({"REC-NOT-FOUND"})),
    Defect("null-500",
           "A JSON null for a field crashes the handler with a 500.",
           frozenset({"REC-BAD-INPUT", "REC-NO-5XX"})),
    Defect("content-type-ignored",
           "A body without Content-Type: application/json is parsed anyway.",
           frozenset({"REC-CONTENT-TYPE"})),
    Defect("logout-keeps-token",
           "DELETE /session does not revoke the token.",
           frozenset({"REC-AUTH"})),
    Defect("jobs-visible-to-all",
           "Any user can read any job.",
           frozenset({"REC-JOB-PRIVACY"})),
    Defect("neighbour-recovery-leak",
           "Changing recovery_mode also changes it on the session with the next id.",
           frozenset({"REC-ISOLATION"})),
    Defect("stack-to-consistency-keeps-stack",
           "Stack to Consistency is reported Success but the session stays in Stack mode.",
           frozenset({"REC-ACCEPT"})),
    # issues 14 and 16
    Defect("consistency-to-sync-noop",
           "Consistency to Synchronous is a silent no-op: a body carrying transfer_mode Synchronous to a "
           "Consistency session is dropped whole (split and recovery too), and the job ends Success.",
           frozenset({"REC-ACCEPT"})),
    Defect("stack-to-sync-keeps-stack",
           "Stack to Synchronous is reported Success but the session stays in Stack mode (split Manual); a "
           "recovery_mode in the same body is applied. A setup-path bug: every state reached that way is wrong.",
           frozenset({"REC-ACCEPT"})),
    Defect("consistency-exit-resets-recovery",
           "Leaving Consistency (to Synchronous or Stack) without recovery_mode resets recovery_mode to "
           "Automatic; the session carries the wrong recovery mode into later cases.",
           frozenset({"REC-KEEP-OMITTED"})),
    Defect("tenant-check-skipped-with-transfer",
           "The tenant check is skipped when the body carries transfer_mode: a tenant user may then change a "
           "session outside the tenant.",
           frozenset({"REC-TENANT-DENY"})),
    Defect("non-rec-checked-only-for-transfer",
           "A copy session that is not REC is refused only when the body carries transfer_mode; a body of "
           "recovery_mode or split_mode alone is accepted (the job ends Success, nothing changes).",
           frozenset({"REC-NON-REC"})),
    Defect("active-stack-patch-accepted",
           "The suspend-first check refuses only sessions that read Equivalent, so an active session still "
           "Copying (an active Stack session, which never reads Equivalent) is changed; caught through the "
           "target's sessions.active.",
           frozenset({"REC-SUSPEND-FIRST"})),
    Defect("patch-200-at-once",
           "A valid change is applied at once and answered 200 with the session, instead of 202 with a "
           "job reference: one wrong answer form, which must read as one finding (REC-ACCEPT), not as a "
           "refusal under every rule whose check sends a change.",
           frozenset({"REC-ACCEPT"})),
    Defect("tenant-read-then-write",
           "A tenant user's GET of a session outside its tenant is answered (200) instead of refused, and "
           "the check of its later PATCHes to that session trusts the read: the change is applied.",
           frozenset({"REC-TENANT-DENY"})),
    Defect("tenant-destination-unchecked",
           "The tenant check is skipped when the local volume is the destination (is_local_source_volume "
           "false), so a tenant user may change such a session in another tenant. The mirror of "
           "tenant-source-only, which wrongly refuses one in the user's own tenant.",
           frozenset({"REC-TENANT-DENY"})),
    Defect("split-sync-only-checked-alone",
           "split_mode on an asynchronous session is refused only when it is the only field; with "
           "recovery_mode it is accepted (split ignored, recovery applied).",
           frozenset({"REC-SPLIT-SYNC-ONLY"})),
    # issue 27: copysession_id is a required integer
    Defect("bad-id-500",
           "A PATCH whose copysession_id is not a whole number below 2**32 (abc, -1, 1.5, 4294967297) "
           "crashes the handler with a 500.",
           frozenset({"REC-BAD-INPUT", "REC-NOT-FOUND", "REC-NO-5XX"})),
    Defect("bad-id-truncated",
           "A PATCH's copysession_id is read from its leading digits as a 32-bit number: 1.5 and 4294967297 "
           "both read as 1, so the PATCH changes session 1.",
           frozenset({"REC-BAD-INPUT", "REC-NOT-FOUND"})),
    Defect("serial-mix",
           "Two PATCHes to one session that overlap (each job takes 0.2 s) mix: each job applies its fields "
           "to the modes its request read, so the later job undoes the earlier accepted change.",
           frozenset({"REC-SERIAL"})),
    Defect("consistency-never-applied",
           "A change to Consistency from another transfer mode is answered 202 and its job ends Success, "
           "but nothing of the body is applied: a session that starts in Consistency and leaves it can "
           "never come back (a trap unless the way back is proven first).",
           frozenset({"REC-ACCEPT"})),
    Defect("active-async-patch-accepted",
           "The suspend-first check guards only synchronous sessions: an active Stack or Consistency "
           "session takes any change; once it is active and Synchronous it is rightly refused (a body "
           "that makes it Synchronous traps it unless a same-kind change is tried first).",
           frozenset({"REC-SUSPEND-FIRST"})),
    Defect("refused-split-applied",
           "split_mode on a session that stays asynchronous is refused by its job (202, then Error), but "
           "the job applies the body anyway: the session ends asynchronous with the split sent.",
           frozenset({"REC-SPLIT-SYNC-ONLY"})),
    # issue 26: checks narrower than their rule
    Defect("tenant-split-refused",
           "The tenant check takes split_mode for an administrator's field: a tenant user is refused (403) on a "
           "session of its own tenant whenever the body carries split_mode; every other body is taken.",
           frozenset({"REC-TENANT-ALLOW"})),
    Defect("logout-keeps-refresh",
           "DELETE /session revokes the session's tokens but not its refresh token: a refresh after the logout "
           "still mints tokens that work (fact sheet 3.4: neither may be used after it).",
           frozenset({"REC-AUTH"})),
    Defect("active-equivalent-patch-accepted",
           "The suspend-first check refuses only sessions still Copying: an active session that reads Equivalent "
           "(its copy done) is changed. The mirror of active-stack-patch-accepted.",
           frozenset({"REC-SUSPEND-FIRST"})),
    Defect("late-change",
           "The array's change log writes back the modes a session had before its last change once the array "
           "has been idle for late_change_delay seconds (0.4), unless the session was changed, suspended or "
           "resumed since (once per session): a "
           "change that lands after its job ended and after the settle window (a run keeps the array busy, "
           "so it lands after the restore).",
           frozenset({"REC-ACCEPT"})),
    # issue 31: history-dependent defects (simulator/history.py), each invisible to every single change
    Defect("refused-recovery-carried",
           "After a refused PATCH that carried recovery_mode, the next accepted change that leaves recovery_mode "
           "out takes the refused body's recovery_mode (the last refused body is remembered).",
           frozenset({"REC-KEEP-OMITTED"})),
    Defect("short-trip-split-automatic",
           "Back to Synchronous without split_mode after a short trip (at most four changes while asynchronous, "
           "one of them between Stack and Consistency), the split reads Automatic instead of Manual (the "
           "firmware counts the trip's changes).",
           frozenset({"REC-STICKY-MANUAL"})),
    Defect("refused-split-latched",
           "A split_mode refused because the session stays asynchronous is latched until a change sends "
           "split_mode, and applied at the next return to Synchronous without split_mode.",
           frozenset({"REC-STICKY-MANUAL"})),
    Defect("tenant-refusal-remembered",
           "A tenant refusal is remembered for the login: the user's next PATCH is refused 403 too, also on a "
           "session of its own tenant.",
           frozenset({"REC-TENANT-ALLOW"})),
]

DEFECTS: dict[str, Defect] = {d.name: d for d in _DEFECTS}


def resolve(names) -> frozenset[str]:
    """Check defect names; raise ValueError naming the unknown ones."""
    names = frozenset(names or ())
    unknown = sorted(names - DEFECTS.keys())
    if unknown:
        raise ValueError(f"unknown defect profile(s): {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(DEFECTS))}")
    return names


class DefectSwitches:
    """The defect profiles a simulator runs with; call it with a profile name."""

    def __init__(self, names=()):
        self.on = resolve(names)

    def __call__(self, name: str) -> bool:
        if name not in DEFECTS:
            raise KeyError(f"no defect profile {name!r}")
        return name in self.on
