"""Reading copy sessions: ``GET /copysession`` (the list) and ``GET /copysession/{id}``, in the
shape of fact sheet 6.2, with the ``fields`` filter of fact sheet 1.4. A tenant user sees only the
sessions whose local volume is in the tenant; a GET of another one answers 403, as a PATCH of it does
(``tenant_get_404``: 404, the session absent to that user, the old style).

Realism (``Settings``): ``page_size`` pages the list the way fact sheet 1.5 shows (``total_count``,
``list_count``, ``copysession_list``, and ``next_href`` repeating the query with ``last_get_id`` set
to the last id of the page, absent on the last page; ``max_records`` caps a page too);
``read_lag`` makes GETs show a session's old modes for a while after a PATCH job's Success;
``through_suspended`` shows transfer mode ``Through`` for a suspended Stack or Consistency session
until a PATCH sets its transfer mode (the design guide's Through is taken while Stack or Consistency
is disabled or the session is suspended; whether a GET shows it is unknown, CONTRACT section 1).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from .inventory import CopySession
from .replies import Reply, error


class Reads:
    """Mixin of ``Array``: uses ``self.sessions``, ``self.volumes``, ``self.lock``, ``self._visible``,
    ``self.settings``, ``self._transfer_set``."""

    def render(self, cs: CopySession) -> dict:
        src, dst = self.volumes[cs.source_volume], self.volumes[cs.destination_volume]
        body: dict[str, Any] = {
            "copysession_id": cs.copysession_id,
            "copysession_href": f"/api/v1/copysession/{cs.copysession_id}",
            "type": cs.type, "status": cs.status,
            "source_volume_number": src.number, "source_volume_href": f"/api/v1/volume/{src.volume_id}",
            "source_volume_name": src.name,
            "destination_volume_number": dst.number,
            "destination_volume_href": f"/api/v1/volume/{dst.volume_id}",
            "destination_volume_name": dst.name,
            "phase": cs.phase, "copy_range": "Totally", "requestor": "REST",
            "elapsed_time": cs.elapsed_time, "total_data_size": 3812,
            "uncopied_data_size": 0 if cs.phase == "Equivalent" else 1024,
            "progress": 100 if cs.phase == "Equivalent" else 70,
        }
        if cs.status == "Error":
            body["error_code"] = "b1"
            body["error_ocurrence_time"] = "2026-01-01T00:00:00Z"
        if cs.type == "REC":
            body.update({"remote_copysession_id": cs.remote_copysession_id,
                         "transfer_mode": cs.transfer_mode, "split_mode": cs.split_mode,
                         "recovery_mode": cs.recovery_mode, "remote_boxid": cs.remote_boxid,
                         "is_local_source_volume": cs.is_local_source_volume})
            if self.settings.through_suspended and cs.phase == "Suspend" and cs.transfer_mode in \
                    ("Stack", "Consistency") and cs.copysession_id not in self._transfer_set:
                body["transfer_mode"] = "Through"     # its Stack or Consistency is not in force while suspended
        return body

    @staticmethod
    def _filter(body: dict, fields: list[str] | None) -> dict:
        if not fields:
            return body
        keep = set(fields) | {"copysession_id"}
        return {k: v for k, v in body.items() if k in keep}

    def _remember_old_modes(self, cs: CopySession) -> None:
        """read_lag: GETs keep showing the modes the session has now (before a PATCH job applies) for a while."""
        old = {"transfer_mode": cs.transfer_mode, "split_mode": cs.split_mode, "recovery_mode": cs.recovery_mode}
        self._stale[cs.copysession_id] = (time.monotonic() + self.settings.read_lag, old)

    def _view(self, cs: CopySession) -> dict:
        """The session as a GET shows it now (its old modes while a read lag lasts)."""
        body = self.render(cs)
        stale = self._stale.get(cs.copysession_id)
        if stale is not None:
            if time.monotonic() < stale[0]:
                body.update(stale[1])
            else:
                del self._stale[cs.copysession_id]
        return body

    def get_copysession(self, caller, sid: int, fields=None) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is not None and not self._visible(caller.user, cs) \
                    and self.defect("tenant-read-then-write"):  # pragma: no mutate block, defect injection
                self.tenant_reads.add((caller.user.name, sid))
                return Reply(200, self._filter(self._view(cs), fields))
            if cs is not None and not self._visible(caller.user, cs) and not self.settings.tenant_get_404:
                return error(403, "tenant")        # the answer a PATCH of it gets: one tenant answer
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            return Reply(200, self._filter(self._view(cs), fields))

    def list_copysessions(self, caller, ids=None, fields=None, last_get_id: int | None = None,
                          max_records: int | None = None, query: dict | None = None) -> Reply:
        """One page of the list; ``query`` is the request's query (for ``next_href``)."""
        with self.lock:
            found = [cs for sid, cs in sorted(self.sessions.items())
                     if self._visible(caller.user, cs) and (ids is None or sid in ids)]
            after = [cs for cs in found if last_get_id is None or cs.copysession_id > last_get_id]
            size = min(n for n in (self.settings.page_size, max_records, len(after)) if n) if after else 0
            page = after[:size]
            body: dict[str, Any] = {"total_count": len(found), "list_count": len(page),
                                    "copysession_list": [self._filter(self._view(cs), fields) for cs in page]}
            if len(after) > len(page):
                params = {k: v for k, v in (query or {}).items() if k != "last_get_id"}
                params["last_get_id"] = str(page[-1].copysession_id)
                body["next_href"] = "/api/v1/copysession?" + urlencode(params, safe=",")
            return Reply(200, body)

    def snapshot(self) -> dict[int, dict]:
        """Every session as GET shows it (for tests)."""
        with self.lock:
            return {sid: self.render(cs) for sid, cs in self.sessions.items()}
