"""History-dependent defects (issue 31): firmware state that no read shows, so that each single change
from each starting state is right and only a sequence of changes on one session (or of one login) goes
wrong. Each defect keeps a hidden state of its own kind:

- ``refused-recovery-carried``: the last refused body of a session (one step of memory). After a refused
  PATCH that carried ``recovery_mode``, the next accepted change that leaves recovery_mode out takes the
  refused body's value (REC-KEEP-OMITTED).
- ``short-trip-split-automatic``: counters of the current trip away from Synchronous (changes, and changes
  between Stack and Consistency). Back to Synchronous without split_mode after a short trip (at most four
  changes while asynchronous, one of them between Stack and Consistency), the split reads Automatic
  instead of Manual (REC-STICKY-MANUAL).
- ``refused-split-latched``: a split_mode refused on an asynchronous session is latched (kept across any
  number of changes until a change sends split_mode) and applied at the next return to Synchronous without
  split_mode (REC-STICKY-MANUAL).
- ``tenant-refusal-remembered``: a tenant refusal is remembered for the login: that user's next PATCH,
  to a session of its own tenant too, is refused 403 as well (REC-TENANT-ALLOW).

A mixin of ``Array`` (uses ``self.defect``); the rule code calls ``_history_refused`` on every refusal
and ``_history_applied`` after every change applied.
"""

from __future__ import annotations

from .inventory import CopySession, User

HISTORY_DEFECTS = ("refused-recovery-carried", "short-trip-split-automatic", "refused-split-latched",
                   "tenant-refusal-remembered")


class History:
    """Mixin of ``Array``: a change the array takes, and the hidden state the history-dependent defects keep of it."""

    def _history_state(self) -> dict:
        if not hasattr(self, "_hist"):
            self._hist = {"refused_recovery": {}, "trip": {}, "latched_split": {}, "tenant_refused": set()}
        return self._hist

    def _history_refused(self, user: User, cs: CopySession | None, body, factor: str) -> None:
        """A PATCH refused (at once or by its job)."""
        h = self._history_state()
        if not isinstance(body, dict):
            return
        if cs is not None and self.defect("refused-recovery-carried"):  # pragma: no mutate block, defect injection
            if body.get("recovery_mode") in ("Automatic", "Manual"):
                h["refused_recovery"][cs.copysession_id] = body["recovery_mode"]
            else:                                   # only the last refused body is remembered
                h["refused_recovery"].pop(cs.copysession_id, None)
        if cs is not None and self.defect("refused-split-latched") and factor == "split_mode":  # pragma: no mutate block, defect injection
            if body.get("split_mode") in ("Automatic", "Manual"):
                h["latched_split"][cs.copysession_id] = body["split_mode"]
        if self.defect("tenant-refusal-remembered") and factor == "tenant" and user.tenant is not None:  # pragma: no mutate block, defect injection
            h["tenant_refused"].add(user.name)

    def _history_tenant_refusal(self, user: User) -> bool:
        """Whether this user's PATCH is refused for a tenant refusal remembered from its last one (once)."""
        h = self._history_state()
        if self.defect("tenant-refusal-remembered") and user.name in h["tenant_refused"]:  # pragma: no mutate block, defect injection
            h["tenant_refused"].discard(user.name)
            return True
        return False

    def _apply_patch(self, cs: CopySession, body: dict) -> None:
        """A change the array takes: the rules (``PatchRules._apply_rules``), then what the history
        defects remember of it."""
        if cs.type != "REC":
            return
        before_modes = (cs.transfer_mode, cs.split_mode, cs.recovery_mode)
        self._apply_rules(cs, body)
        if self.defect("refused-recovery-carried") or self.defect("short-trip-split-automatic") or self.defect("refused-split-latched"):  # pragma: no mutate block, defect injection
            self._history_applied(cs, body, before_modes)

    def _history_applied(self, cs: CopySession, body: dict, before: tuple[str, str, str]) -> None:
        """After a change was applied to ``cs`` (``before``: its transfer, split and recovery modes)."""
        h = self._history_state()
        sid = cs.copysession_id
        t0, s0, r0 = before
        if self.defect("refused-recovery-carried"):  # pragma: no mutate block, defect injection
            carried = h["refused_recovery"].pop(sid, None)
            if carried and "recovery_mode" not in body:
                cs.recovery_mode = carried
        if self.defect("short-trip-split-automatic"):  # pragma: no mutate block, defect injection
            trip = h["trip"]
            if t0 == "Synchronous" and cs.transfer_mode != "Synchronous":
                trip[sid] = [0, 0]                          # left Synchronous: changes, legs
            elif t0 != "Synchronous" and cs.transfer_mode == "Synchronous":
                counts = trip.pop(sid, None)
                if counts and counts[0] <= 4 and counts[1] >= 1 and "split_mode" not in body:
                    cs.split_mode = "Automatic"             # instead of Manual
            elif sid in trip and (t0, s0, r0) != (cs.transfer_mode, cs.split_mode, cs.recovery_mode):
                trip[sid][0] += 1                           # a change while asynchronous
                trip[sid][1] += t0 != cs.transfer_mode      # ... between Stack and Consistency
        if self.defect("refused-split-latched"):  # pragma: no mutate block, defect injection
            latched = h["latched_split"]
            if "split_mode" in body:
                latched.pop(sid, None)
            elif t0 != "Synchronous" and cs.transfer_mode == "Synchronous" and sid in latched:
                cs.split_mode = latched.pop(sid)
