"""Authentication (REC-AUTH) and job privacy (REC-JOB-PRIVACY), through a client that never
renews or retries, so the array's own answer is what is judged."""

import secrets
import time

import pytest

from pytest_rec.errors import Deviation, TargetError
from pytest_rec.plugin import opt_in


def _noop_body(state):
    return {"recovery_mode": state.modes.recovery_mode}      # valid and harmless if wrongly accepted


def _expect_401(rec_ctx, token, what):
    sid, before = rec_ctx.pool.acquire_any()
    rec_ctx.pool.forget(sid)
    resp = rec_ctx.plain.request("PATCH", f"/copysession/{sid}", token=token, json_body=_noop_body(before))
    rec_ctx.pool.note(sid, rec_ctx.operator.read(sid))
    if resp.status_code != 401:
        raise Deviation({"REC-AUTH"}, f"PATCH with {what} answered {resp.status_code}, expected 401")


@pytest.mark.rec("REC-AUTH")
def test_no_token(rec_ctx):
    _expect_401(rec_ctx, None, "no Authorization header")


@pytest.mark.rec("REC-AUTH")
def test_wrong_token(rec_ctx):
    _expect_401(rec_ctx, "rec-" + secrets.token_urlsafe(24), "a token the array never issued")


def _plain_login(rec_ctx, creds):
    resp = rec_ctx.plain.request("POST", "/session", json_body={"user_name": creds.name, "password": creds.password,
                                                                "is_refresh_token_required": False})
    if resp.status_code not in (200, 201):
        raise TargetError(f"login as {creds.key} answered {resp.status_code}")
    return resp.json()


@pytest.mark.rec("REC-AUTH")
def test_token_after_logout(rec_ctx, rec_credentials):
    login = _plain_login(rec_ctx, rec_credentials["admin"])
    out = rec_ctx.plain.request("DELETE", f"/session/{login['session_id']}", token=login["token"])
    if out.status_code != 200:
        raise TargetError(f"logout answered {out.status_code}")
    _expect_401(rec_ctx, login["token"], "the token of a session that logged out")


def _expiry_user(rec_ctx, rec_credentials, rec_simulator):
    """The user whose token the expired-token check lets expire, or None when the check is opt-in
    and not enabled: on the built-in simulator its short-token user, on an array the admin."""
    if rec_simulator is not None:
        from pytest_rec.client import Credentials

        short = rec_simulator.array.inventory.users["short"]
        rec_ctx.transcript.secrets.add(short.password)
        return Credentials("short", short.name, short.password)
    if rec_ctx.target.has("expired_token"):
        return rec_credentials["admin"]
    return None


@pytest.fixture(scope="session", autouse=True)
def _aging_login(rec_ctx, rec_credentials, rec_simulator):
    """The login of the expired-token check, made when the first check of this module runs; that
    check runs last (``rec_last``), so its token has aged meanwhile: no wait on the simulator, and
    on an array the run's own length off the 30 minutes. (login, when) or the error, or None."""
    creds = _expiry_user(rec_ctx, rec_credentials, rec_simulator)
    if creds is None:
        return None
    try:
        login = _plain_login(rec_ctx, creds)
        at = time.monotonic()
        rec_ctx.transcript.secrets.add(str(login.get("token")))
        # the control: the fresh token works, so a 401 at the end is the token's age, not a bad token
        sid = rec_ctx.target.writable[0]
        fresh = rec_ctx.plain.request("GET", f"/copysession/{sid}", token=login["token"])
        if fresh.status_code != 200:
            raise TargetError(f"a fresh token of {creds.name!r} read session {sid}: {fresh.status_code}, expected 200; "
                              "the expiry of a token cannot be told from a token that never worked")
        return login, at
    except (TargetError, KeyError, TypeError, ValueError) as exc:
        return exc if isinstance(exc, TargetError) else TargetError(f"login for the expired-token check: {exc!r}")


@pytest.mark.rec("REC-AUTH")
@pytest.mark.rec_last
def test_expired_token(rec_ctx, _aging_login):
    if _aging_login is None:
        opt_in("waiting out a real token takes 30 minutes", "set capabilities.expired_token = true in the target file")
    if isinstance(_aging_login, Exception):
        raise _aging_login
    login, at = _aging_login
    lifetime = float(login.get("lifetime", 1800))
    time.sleep(max(0.0, lifetime + 0.25 - (time.monotonic() - at)))
    _expect_401(rec_ctx, login["token"], f"a token older than its lifetime ({login.get('lifetime')} s)")


@pytest.mark.rec("REC-AUTH")
def test_bad_credentials(rec_ctx):
    """Only with a user name that does not exist, so no lock-out policy can lock a real account."""
    name = "rec-no-such-user-" + secrets.token_hex(6)
    resp = rec_ctx.plain.request("POST", "/session", json_body={"user_name": name, "password": secrets.token_urlsafe(12)})
    if resp.status_code != 401:
        raise Deviation({"REC-AUTH"}, f"login as a user that does not exist answered {resp.status_code}, expected 401")


@pytest.mark.rec("REC-JOB-PRIVACY")
def test_other_users_job_is_404(rec_ctx, rec_other):
    sid, before = rec_ctx.pool.acquire_any()
    rec_ctx.pool.forget(sid)
    resp = rec_ctx.admin.patch(sid, _noop_body(before))
    if resp.status_code != 202:
        raise Deviation({"REC-ACCEPT"}, f"a valid no-op change answered {resp.status_code}")
    job_id = resp.json()["job_id"]
    rec_ctx.admin.wait_job(job_id, rec_ctx.options.job_timeout)
    rec_ctx.pool.note(sid, rec_ctx.operator.read(sid))
    theirs = rec_other.get_job(job_id)
    if theirs.status_code != 404:
        raise Deviation({"REC-JOB-PRIVACY"}, f"user {rec_other.creds.name!r} read job {job_id} of another user: "
                                             f"{theirs.status_code}, expected 404")
    mine = rec_ctx.admin.get_job(job_id)
    assert mine.status_code == 200, f"the job's own user cannot read job {job_id}: {mine.status_code}"
