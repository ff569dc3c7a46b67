"""Who may see and change which copy session: a tenant user's sessions are those whose local volume
is in its tenant; the admin sees every one. Asked by the PATCH rules, the reads, and
suspend and resume. Rule logic: the mutation run mutates it (benchmarks/mutation.py)."""

from __future__ import annotations

from .inventory import CopySession, User


class Tenants:
    """Mixin of ``Array``: uses ``self.volumes``, ``self.defect``, ``self.tenant_reads``."""

    def _local_volume(self, cs: CopySession):
        return self.volumes[cs.source_volume if cs.is_local_source_volume else cs.destination_volume]

    def _tenant_may(self, user: User, cs: CopySession) -> bool:
        if user.tenant is None:
            return True
        if self.defect("tenant-unchecked"):  # pragma: no mutate block, defect injection
            return True
        if self.defect("tenant-read-then-write") and (user.name, cs.copysession_id) in self.tenant_reads:  # pragma: no mutate block, defect injection
            return True
        if self.defect("tenant-source-only"):  # pragma: no mutate block, defect injection
            return self.volumes[cs.source_volume].tenant == user.tenant
        if self.defect("tenant-destination-unchecked") and not cs.is_local_source_volume:  # pragma: no mutate block, defect injection
            return True
        return self._local_volume(cs).tenant == user.tenant

    def _visible(self, user: User, cs: CopySession) -> bool:
        return user.tenant is None or self._local_volume(cs).tenant == user.tenant
