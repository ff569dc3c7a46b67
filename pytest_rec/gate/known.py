"""Known deviations (`--rec-known-deviations FILE`): ticketed deviations that must not block a
build, while a new deviation, or an old one on another requirement or case, still does.

    [[deviation]]
    requirement = "REC-FORCED-MANUAL"
    cases = "test_patch[Synchronous/Automatic/*"     # glob over case IDs
    ticket = "ETERNUS-1234"
    reason = "split stays Automatic on the way to Stack"
    firmware = ["V11L40-0000"]                        # optional: only for these firmware versions
"""

from __future__ import annotations

import difflib
import fnmatch
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import KnownDeviationsError


def requirement_ids() -> set[str]:
    """The requirement IDs of the catalogue (specs/requirements.yaml): an entry naming another one would
    silently match nothing, and its deviation would block the build with no word why."""
    from ..model.catalogue import load_catalogue

    return {r["id"] for r in load_catalogue()}


@dataclass(frozen=True)
class Known:
    requirement: str
    cases: str
    ticket: str
    reason: str
    firmware: tuple[str, ...] = ()

    def applies(self, requirement: str, case_id: str, firmware: str | None) -> bool:
        if requirement != self.requirement or not fnmatch.fnmatchcase(case_id, self.cases):
            return False
        return not self.firmware or (firmware or "") in self.firmware


def load_known(path: str | Path) -> list[Known]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KnownDeviationsError(f"{path}: {exc}") from None
    out = []
    for i, entry in enumerate(data.get("deviation", [])):
        for key in ("requirement", "cases", "ticket", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise KnownDeviationsError(f"{path}: [[deviation]] #{i + 1}: {key} is missing or not a string")
        unknown = set(entry) - {"requirement", "cases", "ticket", "reason", "firmware"}
        if unknown:
            raise KnownDeviationsError(f"{path}: [[deviation]] #{i + 1}: unknown key(s) {', '.join(sorted(unknown))}")
        ids = requirement_ids()
        if ids and entry["requirement"] not in ids:
            close = difflib.get_close_matches(entry["requirement"], sorted(ids), n=1)
            raise KnownDeviationsError(f"{path}: [[deviation]] #{i + 1}: requirement {entry['requirement']!r} is "
                                       "not a requirement of the catalogue" + (f" (did you mean {close[0]}?)"
                                                                               if close else ""))
        fw = entry.get("firmware", [])
        if isinstance(fw, str):
            fw = [fw]
        out.append(Known(entry["requirement"], entry["cases"], entry["ticket"], entry["reason"], tuple(fw)))
    return out


def match(known: list[Known], requirements, case_id: str, firmware: str | None) -> list[Known]:
    """The entries that cover every broken requirement of a case; empty unless all are covered."""
    hits = []
    for requirement in requirements:
        entry = next((k for k in known if k.applies(requirement, case_id, firmware)), None)
        if entry is None:
            return []
        hits.append(entry)
    return hits
