"""pytest-xdist: which worker this process is, how many groups the matrix is cut into, and the
one group that holds every check outside the matrix (shared sessions stay in one hand)."""

from __future__ import annotations

import pytest

__all__ = ["worker", "group_count", "mark_shared"]


def worker(config: pytest.Config) -> tuple[int, int]:
    """(index, count) of this xdist worker; (0, 1) in the controller or without xdist. Read from the
    worker's own config, not the environment, so a run nested inside an xdist worker is not fooled."""
    info = getattr(config, "workerinput", None)
    if not info:
        return 0, 1
    wid = str(info.get("workerid", "gw0"))
    index = int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0
    return index, int(info.get("workercount", 1) or 1)


def group_count(config: pytest.Config) -> int:
    n = getattr(config.option, "numprocesses", None) or 0
    try:
        return max(1, int(n))
    except (TypeError, ValueError):
        return 1


def mark_shared(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("rec-shared"))
