"""The fuzzing bodies made by a process of their own: the same seed gives the same bodies, whatever
the check does with each, and a run sends exactly them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from pytest_rec.engine.fuzzbodies import MODES, Pregenerated, cache_dir, generate, tag, untag

SEED = 20261127


@pytest.fixture(scope="module")
def _module_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def cold_bodies(_module_cache, monkeypatch):
    """A per-user cache of this module's own (hypothesis's tables made once for the module), with no
    fuzzing bodies kept in it: each test starts with bodies that only a generator process can give."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(_module_cache))
    shutil.rmtree(cache_dir() / "fuzz-bodies", ignore_errors=True)


def test_the_child_process_makes_the_same_bodies_every_time():
    """Two generator processes, the same seed: the same bodies, types included (hypothesis also
    draws on the string constants of the local modules a process has loaded, so a process of its own,
    with a fixed set of modules, is what keeps a seed's bodies the same from run to run)."""
    one, two = Pregenerated(15, SEED), Pregenerated(15, SEED)
    try:
        for mode in MODES:
            first, second = one.bodies(mode, 15, SEED), two.bodies(mode, 15, SEED)
            assert first == second and len(first) >= 10, mode
            assert [type(b) for b in first] == [type(b) for b in second]
        assert one.bodies("positive", 16, SEED) is None          # another count: the check makes its own
    finally:
        one.stop()
        two.stop()


def test_bodies_are_kept_per_user_and_the_generator_leaves_nothing_where_it_ran(tmp_path, monkeypatch):
    """The first run's generator makes the bodies in a process of its own and leaves no ``.hypothesis``
    folder in the working directory; the next run with the same count and seed reads the same bodies
    from the per-user cache, starting no process; another seed starts one."""
    monkeypatch.chdir(tmp_path)
    first = Pregenerated(12, SEED)
    try:
        assert not first.cached and first._proc is not None
        made = {mode: first.bodies(mode, 12, SEED) for mode in MODES}
        assert all(made.values())
    finally:
        first.stop()
    assert not (tmp_path / ".hypothesis").exists(), list(tmp_path.iterdir())
    again = Pregenerated(12, SEED)
    assert again.cached and again._proc is None
    assert {mode: again.bodies(mode, 12, SEED) for mode in MODES} == made
    other = Pregenerated(12, SEED + 1)
    try:
        assert not other.cached and other._proc is not None
    finally:
        other.stop()


def test_what_the_check_does_with_a_body_does_not_steer_the_next():
    seen = []

    def busy_check(body):             # what a check does with a body: keeps state, returns nothing
        seen.append(body)

    assert generate("negative", 15, SEED, each=busy_check) == generate("negative", 15, SEED) == seen


def test_tags_keep_the_python_type():
    for body in [b"\x00\xffraw", "text", {"transfer_mode": "Stack"}, [1, "a"], None, 3.5, True, float("nan")]:
        back = untag(json.loads(json.dumps(tag(body))))
        assert type(back) is type(body) and (back == body or body != body)


def test_a_run_sends_the_seeded_bodies_in_order(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "pytest_rec.suite", "-p", "no:cacheprovider",
                           "-q", "--rec-depth", "smoke", "--rec-report-dir", str(tmp_path / "r"), "-k", "generated"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "2 passed" in proc.stdout, proc.stdout[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "r" / "transcript.jsonl").read_text().splitlines()]
    # the negative bodies: those a run's own process would generate differ (hypothesis draws on the
    # constants of the modules it has loaded), so this fails if the run did not use the generator's
    sent = [r["request_body"] for r in rows if r["method"] == "PATCH" and "PATCH negative" in r["case"]]
    child = Pregenerated(10, SEED)
    try:
        theirs = [b.decode("utf-8", "replace") if isinstance(b, bytes) else b if isinstance(b, str)
                  else json.loads(json.dumps(b)) for b in child.bodies("negative", 10, SEED)]   # as transcribed
        assert sent == theirs and len(sent) == 10, (sent, theirs)
    finally:
        child.stop()
