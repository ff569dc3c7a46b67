"""The files a run's lanes share in the temporary folder, keyed by the run: the way back (``WayBack``)
and the write probes' marks; and what a lane leaves there when it ends (``lane_gone``)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest

from ..engine.wayback import WayBack
from ._state import RUN_ID

__all__ = ["wayback_path", "probe_folder", "mark", "lane_gone"]


def wayback_path(config: pytest.Config) -> Path:
    """The file lanes share the way back through: of the run's lanes only, in the temporary folder."""
    return Path(tempfile.gettempdir()) / f"pytest-rec-wayback-{config.stash[RUN_ID]}.jsonl"


def probe_folder(config: pytest.Config) -> Path:
    folder = Path(tempfile.gettempdir()) / f"pytest-rec-probe-{config.stash[RUN_ID]}"
    folder.mkdir(exist_ok=True)
    return folder


def mark(folder: Path, index: int, row: dict) -> None:
    """Write lane ``index``'s write-probe mark (atomically: another lane may read it meanwhile)."""
    tmp = folder / f"gw{index}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(row))
    tmp.replace(folder / f"gw{index}.json")


def lane_gone(config: pytest.Config, index: int) -> None:
    """A lane ends (its session's end): one whose context never came up (a login or a read of its set-up
    failed, or xdist gave it no check) leaves its write-probe mark and its way-back rows anyway, so that no
    other lane waits out its patience for a proof or a probe this lane will never bring."""
    folder = probe_folder(config)
    if not (folder / f"gw{index}.json").exists():
        mark(folder, index, {"probed": False, "stopped": None, "gone": True})
    lanes = WayBack(wayback_path(config))
    lanes._load()
    if index not in lanes.done:
        lanes.finished(index)
