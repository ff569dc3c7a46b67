"""The ways a check can end badly, kept apart everywhere in the suite (no imports of the suite).

- ``Deviation``: the array did not do what the reference says; names the requirement IDs broken.
- ``TargetError``: the target could not be used (down, login refused, timeout, an environment
  job error): the check did not run; never a deviation and never a pass.
- ``RequestBlocked``: a request outside the contract's allow-list was stopped before it left.
"""

from __future__ import annotations

__all__ = ["Deviation", "TargetError", "Blocked", "RequestBlocked", "Violations", "TRANSFER_NOT_APPLIED",
           "TargetFileError", "KnownDeviationsError"]

# the headline of every finding where the transfer mode sent did not take, whatever else did: the
# report groups deviations by it, so one such firmware bug reads as one finding
TRANSFER_NOT_APPLIED = "the transfer mode sent was not applied"


class TargetFileError(ValueError):
    """The target file is wrong; the message names the file, the key and the problem (nothing was sent)."""


class KnownDeviationsError(ValueError):
    """The known-deviations file is wrong; the message names the file and the entry."""


class TargetError(Exception):
    """The target could not be used: down, login refused, timeout, an environment job error.
    A check that meets one did not run; it is never a deviation of the array."""


class Blocked(TargetError):
    """A check could not start: the starting state it needs is reachable only through a setup step
    the array already answered wrongly (that step is reported once, as its own REC-ACCEPT deviation)."""


class RequestBlocked(Exception):
    """A request outside the contract's allow-list was stopped before it left the process."""


class Deviation(AssertionError):
    """The array did not do what the reference says. ``requirements`` names the IDs broken.

    The message carries each requirement ID once: ``[REC-A] what happened`` for one finding,
    ``[REC-A] first; [REC-B] second`` for several."""

    def __init__(self, requirements, message: str, *, setup_step: bool = False, refused: bool = False):
        self.requirements = tuple(sorted(set(requirements)))
        self.setup_step = setup_step        # a setup step failed: the case's own requirements were not judged
        self.refused = refused              # the array refused a change it had to take (not: took it in a wrong form)
        if not message.startswith("["):
            message = f"[{', '.join(self.requirements)}] {message}"
        super().__init__(message)


class Violations:
    """Collects deviations found in one check, so a case reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.refused = False

    def add(self, requirement: str, message: str, *, refused: bool = False) -> None:
        self.items.append((requirement, message))
        self.refused = self.refused or refused

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        __tracebackhide__ = True
        if self.items:
            raise Deviation({r for r, _ in self.items}, "; ".join(f"[{r}] {m}" for r, m in self.items),
                            refused=self.refused)
