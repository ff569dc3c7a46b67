"""A job error names the environment (an error of the run) only when one of its messages says so
in the target profile's words; anything else on a change the rules accept is the array's answer to
the request (a REC-ACCEPT deviation, its message quoted)."""

from __future__ import annotations

import pytest

from pytest_rec.engine.judge import job_error_text, names_environment
from pytest_rec.model.target import Target


def _job(*messages: str) -> dict:
    return {"status": "Error", "failed_resource_info_list": [
        {"resource": "copysession", "error_code": "E0042", "message": m} for m in messages]}


TARGET = Target(url="https://a", kind="array", verify=True, users={}, writable=[1], tenant_own=2,
                tenant_foreign=3, non_rec=4)


@pytest.mark.parametrize("message", [
    "The REC path to the remote storage system is not available (copy path)",
    "REC buffer is not configured for Consistency mode",
    "There is no REC buffer",
    "The remote storage system is not reachable",
    "The storage system is busy",
])
def test_environment_messages(message):
    assert names_environment(_job(message), TARGET)


@pytest.mark.parametrize("message", [
    "The copy path setting error: parameter split_mode is invalid (split_mode)",
    "The remote storage system rejected the parameter: not available in this mode",
    "Invalid combination of transfer_mode and split_mode",
    "The line speed is lower than required",           # 'line' is no environment word
])
def test_request_messages_are_not_the_environment(message):
    job = _job(message)
    assert not names_environment(job, TARGET)
    assert message in job_error_text(job)          # quoted in the report either way


def test_words_of_two_messages_never_make_one_match():
    job = _job("The REC path was checked", "the operation is not available for this session type")
    assert not names_environment(job, TARGET)


def test_keys_of_the_entry_are_not_read_as_a_message():
    job = {"status": "Error", "failed_resource_info_list": [{"remote storage system down": "x", "message": "bad value"}]}
    assert not names_environment(job, TARGET)


def test_a_kind_seen_broken_fails_fast_before_the_lane_has_lag_samples():
    """DECISIONS 113: a kind another lane saw broken gets the short window from a lane's first change, not
    the profile's whole one; a kind not seen failing still gets the whole window until the lags are sampled."""
    from types import SimpleNamespace

    from pytest_rec.engine.judge import LAG_SAMPLES, UNSAMPLED_FAST, settle_window
    target = SimpleNamespace(profile=SimpleNamespace(settle_window=10.0))
    fresh = SimpleNamespace(settled_reads=0, longest_settle=0.0)
    assert settle_window(target, fresh, patient=True) == 10.0
    assert settle_window(target, fresh, patient=False) == UNSAMPLED_FAST < 10.0
    lagging = SimpleNamespace(settled_reads=1, longest_settle=3.0)
    assert settle_window(target, lagging, patient=False) == 6.0            # twice the longest lag seen
    sampled = SimpleNamespace(settled_reads=LAG_SAMPLES, longest_settle=0.0)
    assert settle_window(target, sampled, patient=False) == pytest.approx(0.1)
