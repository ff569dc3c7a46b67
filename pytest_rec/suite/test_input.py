"""Malformed requests (REC-BAD-INPUT, REC-CONTENT-TYPE) and what the reference leaves open
(REC-UNSPECIFIED: recorded, never judged)."""

import json

import pytest

from pytest_rec.engine.context import moved_to
from pytest_rec.errors import Deviation, TargetError
from pytest_rec.model.behaviour import Expectation

BAD_INPUT = Expectation(False, ("REC-BAD-INPUT",), refusal_requirement="REC-BAD-INPUT")

BAD_BODIES = [
    pytest.param({"transfer_mode": "Asynchronous"}, id="transfer_mode outside the table"),
    pytest.param({"split_mode": "Auto"}, id="split_mode outside the table"),
    pytest.param({"recovery_mode": "Semi"}, id="recovery_mode outside the table"),
    pytest.param({"transfer_mode": 1}, id="transfer_mode a number"),
    pytest.param({"recovery_mode": True}, id="recovery_mode a boolean"),
    pytest.param({"transfer_mode": None}, id="transfer_mode null"),
    pytest.param({"split_mode": None}, id="split_mode null"),
    pytest.param({"recovery_mode": ["Manual"]}, id="recovery_mode an array"),
    pytest.param({"transfer_mode": {"value": "Stack"}}, id="transfer_mode an object"),
    pytest.param({"transfer_mode": ""}, id="transfer_mode empty string"),
    # a valid field beside an invalid one: refused whole, so the valid field must not be applied
    # either (each valid value in one of a pair, so one of the two would change any session)
    pytest.param({"recovery_mode": "Manual", "transfer_mode": "Bogus"}, id="valid recovery Manual + bad transfer"),
    pytest.param({"recovery_mode": "Automatic", "transfer_mode": "Bogus"}, id="valid recovery Automatic + bad transfer"),
    pytest.param({"transfer_mode": "Stack", "recovery_mode": 1}, id="valid transfer Stack + recovery a number"),
    pytest.param({"transfer_mode": "Synchronous", "recovery_mode": None}, id="valid transfer Synchronous + recovery null"),
    pytest.param({"recovery_mode": "Manual", "split_mode": "Auto"}, id="valid recovery Manual + bad split"),
    pytest.param({"recovery_mode": "Automatic", "split_mode": ["Manual"]}, id="valid recovery Automatic + split an array"),
]
RAW_BODIES = [
    pytest.param(b'{"transfer_mode": "Synchronous"', id="malformed JSON"),
    pytest.param(b"[]", id="an array body"),
    pytest.param(b'"Synchronous"', id="a string body"),
    pytest.param(b"42", id="a number body"),
    pytest.param(b"null", id="a null body"),
    pytest.param(b'{"transfer_mode": "Synchr\xffonous"}', id="invalid UTF-8"),
]
CASE_VARIANTS = [
    {"transfer_mode": "synchronous"}, {"transfer_mode": "STACK"}, {"split_mode": "manual"},
    {"recovery_mode": "automatic"},
]
# values that differ from the table's only by white space: the page does not say they must get 400 (an
# array may trim them), so, like case variants, judged only with --rec-strict and recorded otherwise
PADDED = [
    pytest.param({"transfer_mode": "Synchronous "}, id="transfer_mode with a trailing space"),
    pytest.param({"recovery_mode": " Manual"}, id="recovery_mode with a leading space"),
    pytest.param({"split_mode": "Manual\t"}, id="split_mode with a tab"),
]


@pytest.mark.rec("REC-BAD-INPUT")
@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_value_is_400(rec_ctx, body):
    sid, before = rec_ctx.pool.acquire_any(then=moved_to(body))
    rec_ctx.judge(sid, before, body, BAD_INPUT)


@pytest.mark.rec("REC-BAD-INPUT")
@pytest.mark.parametrize("raw", RAW_BODIES)
def test_bad_body_is_400(rec_ctx, raw):
    sid, before = rec_ctx.pool.acquire_any(then=moved_to(raw))
    rec_ctx.judge(sid, before, None, BAD_INPUT, raw=raw)


@pytest.mark.rec("REC-BAD-INPUT")
@pytest.mark.rec_strict_only
@pytest.mark.parametrize("body", CASE_VARIANTS, ids=lambda b: json.dumps(b))
def test_case_variant_strict(rec_ctx, body):
    """Enum tokens are spelled as the tables spell them; judged only under --rec-strict."""
    sid, before = rec_ctx.pool.acquire_any(then=moved_to(body))
    rec_ctx.judge(sid, before, body, BAD_INPUT)


@pytest.mark.rec("REC-BAD-INPUT")
@pytest.mark.rec_strict_only
@pytest.mark.parametrize("body", PADDED)
def test_padded_value_strict(rec_ctx, body):
    """A value padded with white space is outside the table; judged only under --rec-strict."""
    sid, before = rec_ctx.pool.acquire_any()
    rec_ctx.judge(sid, before, body, BAD_INPUT)


@pytest.mark.rec("REC-CONTENT-TYPE")
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/xml"], ids=lambda c: c or "no Content-Type")
def test_content_type_is_415(rec_ctx, content_type):
    sid, before = rec_ctx.pool.acquire_any()
    flip = "Manual" if before.modes.recovery_mode == "Automatic" else "Automatic"
    headers = {"Content-Type": content_type} if content_type else {}
    rec_ctx.pool.forget(sid)
    resp = rec_ctx.admin.request("PATCH", f"/copysession/{sid}", content=json.dumps({"recovery_mode": flip}).encode(),
                                 headers=headers)
    after = rec_ctx.operator.read(sid)
    rec_ctx.pool.note(sid, after)
    problems = []
    if resp.status_code != 415:
        problems.append(f"answered {resp.status_code}, expected 415")
    if resp.status_code == 202:
        rec_ctx.admin.wait_job(resp.json()["job_id"], rec_ctx.options.job_timeout)
        after = rec_ctx.operator.read(sid)
        rec_ctx.pool.note(sid, after)
    if after.modes != before.modes:
        problems.append(f"the session changed: {before.modes.label()} -> {after.modes.label()}")
    if problems:
        raise Deviation({"REC-CONTENT-TYPE"}, f"PATCH with Content-Type {content_type!r}: " + "; ".join(problems))


# ---------------------------------------------------------------- copysession_id (the page: a required integer)
ID_REFUSALS = (400, 404)        # either, for an id that is not a whole number or names no session (issue 27)


def _quiet(fingerprints: dict) -> dict:
    """Fingerprints without the phase of an active session (it may go from Copying to Equivalent alone)."""
    return {sid: fp if fp.endswith(" suspended") else fp.rsplit(" ", 1)[0] + " active"
            for sid, fp in fingerprints.items()}


def _patch_bad_id(rec_ctx, text: str, requirement: str) -> None:
    """PATCH ``/copysession/<text>`` right after a GET showed no session there, with bodies one of which
    would change any session it reached: 400 or 404, never 5xx, and no session anywhere changed."""
    guard = rec_ctx.admin.guard
    if text.isdigit():
        guard.allow_absent(int(text))
    else:
        guard.allow_bad_id(text)
    before, wrong, leaked = _quiet(rec_ctx.fingerprints(exclude=set())), [], []
    for body in ({"recovery_mode": "Manual"}, {"recovery_mode": "Automatic"}):
        probe = rec_ctx.admin.request("GET", f"/copysession/{text}")
        if probe.status_code == 200:
            pytest.skip(f"copysession_id {text} names a session on this array: no PATCH sent to it")
        if probe.status_code not in ID_REFUSALS:
            raise TargetError(f"GET /copysession/{text} answered {probe.status_code}, not 400 or 404: not sent {body}")
        resp = rec_ctx.admin.request("PATCH", f"/copysession/{text}", json_body=body)
        what = f"{json.dumps(body)} answered {resp.status_code}"
        if resp.status_code == 202:
            job = rec_ctx.admin.wait_job(resp.json()["job_id"], rec_ctx.options.job_timeout)
            what += f", job {job.status if job else 'unread'}"
        if resp.status_code not in ID_REFUSALS:
            wrong.append(what)
        after = _quiet(rec_ctx.fingerprints(exclude=set()))
        changed = sorted(sid for sid in set(before) | set(after) if before.get(sid) != after.get(sid))
        for sid in changed:
            rec_ctx.pool.forget(sid)
            # refused, yet a session no process writes changed: with lanes, another lane's change may
            # have leaked onto it meanwhile (REC-ISOLATION); alone in the run, this PATCH changed it
            (leaked if rec_ctx.workers > 1 and resp.status_code in ID_REFUSALS else wrong).append(
                f"{json.dumps(body)} changed session {sid}: {before.get(sid)} -> {after.get(sid)}")
        before = after
    if wrong:
        raise Deviation({requirement}, f"PATCH /copysession/{text} (copysession_id is a required integer), "
                                       f"expected 400 or 404 and no change: {'; '.join(wrong)}")
    if leaked:
        raise Deviation({"REC-ISOLATION"}, f"PATCH /copysession/{text} was refused, and meanwhile a session no "
                        f"process of the run writes changed: {'; '.join(leaked)} (with lanes, another lane's "
                        "change may have leaked onto it; -n 0 tells the two apart)")


@pytest.mark.rec("REC-BAD-INPUT")
@pytest.mark.parametrize("text", ["abc", "1.5"])
def test_non_integer_id_is_refused(rec_ctx, text):
    _patch_bad_id(rec_ctx, text, "REC-BAD-INPUT")


@pytest.mark.rec("REC-NOT-FOUND")
@pytest.mark.parametrize("text", ["-1", "0", str(2**32 + 1)], ids=["-1", "0", "past 32 bits"])
def test_id_out_of_range_is_refused(rec_ctx, text):
    _patch_bad_id(rec_ctx, text, "REC-NOT-FOUND")


# ---------------------------------------------------------------- recorded only
def _record(rec_ctx, rec_record, what, body=None, raw=None):
    sid, before = rec_ctx.pool.acquire_any(then=moved_to(body if raw is None else raw))
    rec_ctx.may_move(sid, moved_to(body if raw is None else raw))   # an array may take a case variant
    rec_ctx.pool.forget(sid)
    if raw is not None:
        resp = rec_ctx.admin.request("PATCH", f"/copysession/{sid}", content=raw,
                                     headers={"Content-Type": "application/json"})
    else:
        resp = rec_ctx.admin.patch(sid, body)
    job = None
    if resp.status_code == 202:
        job = rec_ctx.admin.wait_job(resp.json()["job_id"], rec_ctx.options.job_timeout).status
    after = rec_ctx.operator.read(sid)
    rec_ctx.pool.note(sid, after)
    if resp.status_code >= 500 and resp.status_code != 503:
        raise Deviation({"REC-NO-5XX"}, f"{what} answered {resp.status_code}")
    rec_record(f"{what}: HTTP {resp.status_code}" + (f", job {job}" if job else "")
                + f"; session {before.modes.label()} -> {after.modes.label()}")


@pytest.mark.rec("REC-UNSPECIFIED")
def test_unknown_field_recorded(rec_ctx, rec_record):
    _record(rec_ctx, rec_record, "unknown field", body={"recovery_mode": "Manual", "copy_speed": "High"})


@pytest.mark.rec("REC-UNSPECIFIED")
@pytest.mark.rec_lenient_only
@pytest.mark.parametrize("body", CASE_VARIANTS, ids=lambda b: json.dumps(b))
def test_case_variant_recorded(rec_ctx, rec_record, body):
    _record(rec_ctx, rec_record, f"case variant {json.dumps(body)}", body=body)


@pytest.mark.rec("REC-UNSPECIFIED")
@pytest.mark.rec_lenient_only
@pytest.mark.parametrize("body", PADDED)
def test_padded_value_recorded(rec_ctx, rec_record, body):
    _record(rec_ctx, rec_record, f"padded value {json.dumps(body)}", body=body)


@pytest.mark.rec("REC-UNSPECIFIED")
def test_long_request_line_recorded(rec_ctx, rec_record):
    """The fact sheet says 413 past 1280 bytes; the seed page says nothing, so it is recorded. Sent as the
    call under test: a PATCH (its query a long ``fields``) whose body sets the recovery mode the session
    already has, so that an array that takes it anyway changes nothing."""
    sid, before = rec_ctx.pool.acquire_any()
    rec_ctx.pool.forget(sid)
    path = f"/copysession/{sid}?fields={','.join(['transfer_mode'] * 100)}"
    line = len(f"PATCH /api/v1{path} HTTP/1.1")
    resp = rec_ctx.admin.request("PATCH", path, json_body={"recovery_mode": before.modes.recovery_mode})
    job = None
    if resp.status_code == 202:
        job = rec_ctx.admin.wait_job(resp.json()["job_id"], rec_ctx.options.job_timeout).status
    after = rec_ctx.operator.read(sid)
    rec_ctx.pool.note(sid, after)
    if resp.status_code >= 500 and resp.status_code != 503:
        raise Deviation({"REC-NO-5XX"}, f"a PATCH with a request line of {line} bytes answered {resp.status_code}")
    rec_record(f"PATCH with a request line of {line} bytes: HTTP {resp.status_code}" + (f", job {job}" if job else "")
               + f"; session {before.modes.label()} -> {after.modes.label()}")
