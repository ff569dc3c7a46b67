"""The state rule of CONTRACT section 2 over every starting state and every body.

Each case: a writable session suspended in the starting state, the PATCH, the 202 job
reference, the job, a GET, and a field-by-field comparison with the model, each field
judged under the rule that governs it (REC-FORCED-MANUAL, REC-STICKY-MANUAL, ...).
"""


def test_patch(rec_ctx, rec_case, rec_case_session, rec_record):
    sid, before = rec_case_session()
    outcome = rec_ctx.judge(sid, before, rec_case.body_dict, rec_case.expectation)
    if rec_case.expectation.recorded:
        rec_record(f"empty body on {rec_case.start.label()}: {outcome.summary()}")
