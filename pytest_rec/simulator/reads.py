"""Reading copy sessions: ``GET /copysession`` (the list) and ``GET /copysession/{id}``, in the
shape of fact sheet 6.2, with the ``fields`` filter of fact sheet 1.4. A tenant user sees only the
sessions whose local volume is in the tenant."""

from __future__ import annotations

from typing import Any

from .inventory import CopySession
from .replies import Reply, error


class Reads:
    """Mixin of ``Array``: uses ``self.sessions``, ``self.volumes``, ``self.lock``, ``self._visible``."""

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
        return body

    @staticmethod
    def _filter(body: dict, fields: list[str] | None) -> dict:
        if not fields:
            return body
        keep = set(fields) | {"copysession_id"}
        return {k: v for k, v in body.items() if k in keep}

    def get_copysession(self, caller, sid: int, fields=None) -> Reply:
        with self.lock:
            cs = self.sessions.get(sid)
            if cs is None or not self._visible(caller.user, cs):
                return error(404, "copysession_id")
            return Reply(200, self._filter(self.render(cs), fields))

    def list_copysessions(self, caller, ids=None, fields=None) -> Reply:
        with self.lock:
            items = [self._filter(self.render(cs), fields) for sid, cs in sorted(self.sessions.items())
                     if self._visible(caller.user, cs) and (ids is None or sid in ids)]
            return Reply(200, {"total_count": len(items), "list_count": len(items),
                               "copysession_list": items})

    def snapshot(self) -> dict[int, dict]:
        """Every session as GET shows it (for tests)."""
        with self.lock:
            return {sid: self.render(cs) for sid, cs in self.sessions.items()}
