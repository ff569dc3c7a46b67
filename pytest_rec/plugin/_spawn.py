"""The helper processes a run starts while pytest collects, so that they are ready when the checks
need them: the built-in simulator (``simulator/process.py``) and the generator of the fuzzing
bodies (``fuzzbodies.py``). Both are stopped by ``RecRun.pytest_unconfigure`` if no check used them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..model.target import TargetFileError, load_target
from ._state import RecRun, run_of

__all__ = ["pytest_collectstart", "fuzz_bodies", "fuzz_examples", "SUITE_DIR"]

SUITE_DIR = Path(__file__).resolve().parents[1] / "suite"


def pytest_collectstart(collector: pytest.Collector) -> None:
    """As the suite's first module is collected, spawn the built-in simulator's process: it starts
    (imports, certificate) while pytest collects; the ``rec_simulator`` fixture waits for it. As the
    fuzzing module is collected, spawn the process that generates its bodies (``fuzzbodies``)."""
    if not isinstance(collector, pytest.Module) or SUITE_DIR not in collector.path.parents:
        return
    run = run_of(collector.config)
    opts = run.options
    if collector.path.name == "test_fuzz.py":
        _spawn_fuzz_bodies(collector.config, run)
    if run.simulator is not None or opts.target != "sim" or opts.sim_in_thread or opts.dry_run \
            or collector.config.getoption("collectonly", False):
        return
    from ..simulator.process import simulator_for

    sim = None
    try:
        sim = simulator_for(opts.sim_options, opts.sim_defects)
        run.simulator = sim.spawn()
    except (ValueError, OSError):
        if sim is not None:
            sim.stop()
        run.simulator = None         # the fixture tries again and says what is wrong


def _spawn_fuzz_bodies(config: pytest.Config, run: RecRun) -> None:
    opts = run.options
    if run.fuzz is not None or opts.dry_run or config.getoption("collectonly", False):
        return
    from ..engine.fuzzbodies import Pregenerated

    examples = fuzz_examples(config)
    try:
        run.fuzz = Pregenerated(examples, opts.fuzz_seed) if examples is not None else None
    except OSError:
        run.fuzz = None              # the checks generate their bodies themselves


def fuzz_examples(config: pytest.Config) -> int | None:
    """Bodies per fuzzing mode in this run, as the checks will ask for them; None if the target file
    cannot be read (the run then stops at collection, naming the file and key)."""
    from ..engine.fuzzbodies import examples_for

    opts = run_of(config).options
    try:
        kind = "sim" if opts.target == "sim" else "file"
        profile = 0 if kind == "sim" else load_target(opts.target).profile.fuzz_examples
        return examples_for(opts, kind, profile)
    except (TargetFileError, OSError, KeyError, ValueError):
        return None


def fuzz_bodies(config: pytest.Config, mode: str, examples: int, seed: int):
    """The fuzzing bodies of ``mode`` generated meanwhile by a process of its own, or None (the
    check then generates them itself: the same bodies for the same seed)."""
    fuzz = run_of(config).fuzz
    return fuzz.bodies(mode, examples, seed) if fuzz is not None else None
