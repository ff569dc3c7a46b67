"""The operator putting sessions back: an active session PATCHed back as it is, a suspended one along
every path there is, and the first write of a user (the write probe: a job that never ends moves nothing)."""

from __future__ import annotations

from ..client.rest import RecClient
from ..errors import Deviation, TargetError
from ..model.behaviour import Modes, one_field_path, undo_body
from ..model.state import SessionState

__all__ = ["PuttingBack"]


class PuttingBack:
    """Mixin of ``sessions.Operator``: uses ``self.target``, ``self.admin``, ``self.job_timeout``,
    ``self.read``, ``self._setup_step``."""

    def patch_back(self, sid: int, current: SessionState, wanted: Modes) -> SessionState:
        """PATCH a session back to ``wanted`` as it is (a named active session: never suspended), with the
        fields that differ only (``model.undo_body``); its job waited for, then a fresh read."""
        body = undo_body(current.modes, wanted)
        if body:
            resp = self.admin.patch(sid, body)
            if resp.status_code == 202:
                try:
                    self.admin.run_job(resp, f"put session {sid} back", self.job_timeout)
                except TargetError:
                    pass                          # the read below decides
        return self.read(sid)

    def _restore_modes(self, sid: int, current: SessionState, wanted: Modes, paths: list) -> SessionState:
        """Each path in turn from a fresh read; last, one field per body from where the session is then
        (an array that refuses one combined body every time may take its fields one by one)."""
        last: Exception | None = None
        paths = list(paths or [[]]) + [None]
        for path in paths:
            if path is None:
                path = one_field_path(current.modes, wanted)
                if not path:
                    break
            st = current
            try:
                for body in path:
                    st = self._setup_step(sid, st, body)
                if st.modes == wanted:
                    return st
            except (Deviation, TargetError) as exc:
                last = exc
            current = self.read(sid)
            if current.modes == wanted:
                return current
        raise TargetError(f"session {sid} could not be put back to {wanted.label()}: {last}")

    def write_probe(self, sids: list[int], client: RecClient | None = None) -> tuple[bool, str | None]:
        """The first write of a process: a PATCH that sets a suspended writable session to the modes it
        already has, its job waited for. When that job never ends, the array does not finish jobs and
        the suite writes nothing more: no session has been moved yet, so every one stays as found
        (DECISIONS 50). Returns (whether a probe job ran, why writes stop or None). Its answer is not
        judged (the checks do that). ``client``: the user whose first write it is (the admin by default;
        the tenant user on its own session: CONTRACT section 3, every user's first write)."""
        client = client or self.admin
        for sid in sids:
            st = self.read(sid)
            if st.suspended and st.modes.transfer_mode and \
                    (st.modes.transfer_mode != "Consistency" or self.target.has("consistency")):
                break
        else:
            return False, None   # none suspended: another lane's probe, or the first check's own job, shows a hang
        body = {"transfer_mode": st.modes.transfer_mode, "recovery_mode": st.modes.recovery_mode}
        if st.modes.transfer_mode == "Synchronous":     # split mode only for a synchronous session
            body["split_mode"] = st.modes.split_mode
        resp = client.patch(sid, body)
        if resp.status_code != 202:
            return False, None
        try:
            client.run_job(resp, f"the write probe on session {sid}", self.job_timeout)
        except TargetError as exc:
            if "--rec-job-timeout" not in str(exc):
                return True, None
            guard = getattr(client, "guard", None)
            if guard is not None:     # its job sets the modes the session has: if it ever ends, nothing moves
                guard.held.pop(sid, None)
                try:
                    guard.forget_job(int(resp.json()["job_id"]))    # nor does the restore wait for it
                except (ValueError, KeyError, TypeError):
                    pass
            return True, (f"the write probe's job (session {sid} set to the modes it has) never ended: {exc}; "
                          "no session was changed, and the suite writes nothing more")
        return True, None
