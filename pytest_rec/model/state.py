"""What a GET says about a copy session, read through the target profile (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from .behaviour import Modes
from .target import Target

__all__ = ["SessionState", "state_of"]


@dataclass
class SessionState:
    modes: Modes
    phase: str
    suspended: bool

    @property
    def active(self) -> bool:
        """Not suspended; ``phase`` then says Copying or Equivalent (or a token the profile does not know)."""
        return not self.suspended


def state_of(body: dict, target: Target) -> SessionState:
    phase = body.get("phase", "")
    return SessionState(Modes.of(body), phase, phase == target.profile.suspended_phase)
