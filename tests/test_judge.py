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
