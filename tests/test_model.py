"""The expected-behaviour model states the seed page's cautions as examples."""

import pytest

from pytest_rec.model.matrix import cases_for, chunk, order, pairwise_cases, setup_jobs, smoke_cases
from pytest_rec.model.behaviour import Modes, expect, judge_refusal, setup_body, starting_states

SYNC_AUTO = Modes("Synchronous", "Automatic", "Automatic")
STACK = Modes("Stack", "Manual", "Automatic")


def test_seed_example_stack_to_synchronous_keeps_manual():
    e = expect(STACK, {"transfer_mode": "Synchronous"})
    assert e.accepted and e.modes == Modes("Synchronous", "Manual", "Automatic")
    assert e.judged_by["split_mode"] == "REC-STICKY-MANUAL"


@pytest.mark.parametrize("to", ["Stack", "Consistency"])
def test_caution_2_synchronous_to_asynchronous_forces_manual(to):
    e = expect(SYNC_AUTO, {"transfer_mode": to})
    assert e.modes.split_mode == "Manual" and e.judged_by["split_mode"] == "REC-FORCED-MANUAL"
    assert "REC-FORCED-MANUAL" in e.requirements


def test_caution_2_split_given_again_on_return():
    e = expect(STACK, {"transfer_mode": "Synchronous", "split_mode": "Automatic"})
    assert e.modes.split_mode == "Automatic" and e.judged_by["split_mode"] == "REC-STICKY-MANUAL"


@pytest.mark.parametrize("start, body", [
    (SYNC_AUTO, {"transfer_mode": "Stack", "split_mode": "Manual"}),
    (SYNC_AUTO, {"transfer_mode": "Consistency", "split_mode": "Automatic"}),
    (STACK, {"split_mode": "Automatic"}),
    (Modes("Consistency", "Manual", "Manual"), {"split_mode": "Manual", "recovery_mode": "Automatic"}),
])
def test_input_criteria_split_only_for_synchronous(start, body):
    e = expect(start, body)
    assert not e.accepted and e.refusal_requirement == "REC-SPLIT-SYNC-ONLY"
    assert e.refusal_forms(strict=True) == (400,)


def test_caution_1_suspend_first():
    e = expect(SYNC_AUTO, {"recovery_mode": "Manual"}, suspended=False)
    assert not e.accepted and e.refusal_requirement == "REC-SUSPEND-FIRST"
    assert judge_refusal(202, "Error", e.refusal_forms(strict=False))
    assert not judge_refusal(202, "Error", e.refusal_forms(strict=True))
    assert judge_refusal(409, None, e.refusal_forms(strict=True))
    assert not judge_refusal(202, "Success", e.refusal_forms(strict=False))


def test_caution_3_tenant_outside_refused():
    e = expect(SYNC_AUTO, {"recovery_mode": "Manual"}, tenant_allowed=False)
    assert e.refusal_requirement == "REC-TENANT-DENY" and e.refusal_forms(strict=False) == (403, 404, "job-error")


def test_recovery_applies_in_every_mode():
    for start in starting_states():
        e = expect(start, {"recovery_mode": "Manual"})
        assert e.modes.recovery_mode == "Manual" and e.judged_by["recovery_mode"] == "REC-RECOVERY"


def test_omitted_fields_keep_their_values():
    e = expect(Modes("Synchronous", "Manual", "Manual"), {"transfer_mode": "Synchronous"})
    assert e.modes == Modes("Synchronous", "Manual", "Manual")
    assert e.judged_by["recovery_mode"] == e.judged_by["split_mode"] == "REC-KEEP-OMITTED"


def test_empty_body_is_recorded():
    assert expect(SYNC_AUTO, {}).recorded


def test_non_rec_refused():
    assert expect(SYNC_AUTO, {"transfer_mode": "Stack"}, is_rec=False).refusal_requirement == "REC-NON-REC"


def test_setup_body_reaches_every_state_in_one_job():
    for a in starting_states():
        for b in starting_states():
            body = setup_body(a, b)
            if a == b:
                assert body is None
                continue
            e = expect(a, body)
            assert e.accepted and e.modes == b, (a, b, body)


def test_depths():
    full = cases_for("full")
    assert len(full) == 288 and sum(not c.expectation.recorded for c in full) == 280
    pair = pairwise_cases()
    triples = {(c.start.transfer_mode, c.body_dict.get("transfer_mode"), c.body_dict.get("split_mode")) for c in pair}
    assert len(triples) == 3 * 4 * 3 and len(pair) < len(full)
    pairs = {(c.start.recovery_mode, c.body_dict.get("recovery_mode")) for c in pair}
    assert len(pairs) == 2 * 3
    judged = set()
    for c in smoke_cases():
        judged |= set(c.expectation.requirements)
    assert {"REC-ACCEPT", "REC-FORCED-MANUAL", "REC-STICKY-MANUAL", "REC-SPLIT-SYNC-ONLY", "REC-RECOVERY",
            "REC-KEEP-OMITTED", "REC-RESPONSE"} <= judged


def test_order_is_job_frugal():
    full = cases_for("full")
    ordered = order(full)
    assert sorted(c.id for c in ordered) == sorted(c.id for c in full)
    assert setup_jobs(ordered) <= 20          # vs 288 if every case set its start from scratch
    runs = chunk(ordered, 4)
    assert sum(len(r) for r in runs) == 288 and len(runs) == 4


def test_an_asynchronous_session_already_automatic_is_not_judged_under_forced_manual():
    """The page's forced split is Synchronous to asynchronous; a change to an asynchronous session that
    already reads Automatic (a state the rules cannot produce) leaves its split unjudged (issue 27)."""
    for body in ({"recovery_mode": "Manual"}, {"transfer_mode": "Consistency"}, {"transfer_mode": "Stack"}):
        e = expect(Modes("Stack", "Automatic", "Automatic"), body)
        assert e.accepted and "split_mode" not in e.judged_by and "REC-FORCED-MANUAL" not in e.requirements
    e = expect(Modes("Synchronous", "Automatic", "Automatic"), {"transfer_mode": "Stack"})
    assert e.judged_by["split_mode"] == "REC-FORCED-MANUAL"
