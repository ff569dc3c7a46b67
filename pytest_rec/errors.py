"""The two ways a check can end badly, kept apart everywhere in the suite."""

from __future__ import annotations

from .client import RequestBlocked, TargetError

__all__ = ["Deviation", "TargetError", "RequestBlocked"]


class Deviation(AssertionError):
    """The array did not do what the reference says. ``rules`` names the requirement IDs broken."""

    def __init__(self, rules, message: str):
        self.rules = tuple(sorted(set(rules)))
        super().__init__(f"[{', '.join(self.rules)}] {message}")


class Violations:
    """Collects deviations found in one check, so a case reports all of them at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, rule: str, message: str) -> None:
        self.items.append((rule, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise Deviation({r for r, _ in self.items},
                            "; ".join(f"{r}: {m}" for r, m in self.items))
