"""The fuzzing bodies made by a process of their own: the same seed gives the same bodies, whatever
the check does with each, and a run sends exactly them."""

from __future__ import annotations

import json
import subprocess
import sys

from pytest_rec.fuzzbodies import MODES, Pregenerated, generate, tag, untag

SEED = 20261127


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
