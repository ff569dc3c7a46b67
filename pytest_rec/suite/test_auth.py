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


def _plain_login(rec_ctx, creds, refresh: bool = False):
    """A login of its own (not the run's clients'); with ``refresh``, one that asks for a refresh token too.
    Every credential it returns goes into the run's secrets at once (never in a log or a report)."""
    resp = rec_ctx.plain.request("POST", "/session", json_body={"user_name": creds.name, "password": creds.password,
                                                                "is_refresh_token_required": refresh})
    if resp.status_code not in (200, 201):
        raise TargetError(f"login as {creds.key} answered {resp.status_code}")
    login = resp.json()
    _keep_secret(rec_ctx, login)
    if refresh and not isinstance(login.get("refresh_token"), str):
        raise TargetError(f"login as {creds.key} asked for a refresh token and got none (fields: {sorted(login)})")
    return login


def _keep_secret(rec_ctx, answer) -> None:
    if isinstance(answer, dict):
        for key in ("token", "refresh_token"):
            if isinstance(answer.get(key), str):
                rec_ctx.transcript.secrets.add(answer[key])


def _refresh(rec_ctx, refresh_token: str):
    """``POST /session`` with grant_type refresh_token (fact sheet 3.2): the answer, its credentials kept secret."""
    resp = rec_ctx.plain.request("POST", "/session", json_body={"grant_type": "refresh_token",
                                                                "refresh_token": refresh_token})
    if resp.status_code in (200, 201):
        try:
            _keep_secret(rec_ctx, resp.json())
        except ValueError:
            pass
    return resp


def _status_with(rec_ctx, token: str) -> int:
    """What a harmless PATCH (the modes a session already has) answers with ``token``."""
    sid, before = rec_ctx.pool.acquire_any()
    rec_ctx.pool.forget(sid)
    resp = rec_ctx.plain.request("PATCH", f"/copysession/{sid}", token=token, json_body=_noop_body(before))
    rec_ctx.pool.note(sid, rec_ctx.operator.read(sid))
    return resp.status_code


def _read_with(rec_ctx, token, sid: int):
    """A GET of a session with ``token``; a 5xx (not 503) is sent again up to twice, as every client's reads
    are (DECISIONS 53): the 5xx stays REC-NO-5XX evidence, and the control is judged on the real answer."""
    for _ in range(3):
        resp = rec_ctx.plain.request("GET", f"/copysession/{sid}", token=token)
        if resp.status_code < 500 or resp.status_code == 503:
            break
    return resp


def _minted(rec_ctx, refresh_token: str, what: str) -> dict:
    """A token minted from ``refresh_token`` while it is valid, shown to work: the control that tells a
    401 later from a refresh token that never worked. The new credentials (a token, maybe a new refresh
    token) are tried later too."""
    resp = _refresh(rec_ctx, refresh_token)
    if resp.status_code not in (200, 201):
        raise TargetError(f"a refresh with the {what} answered {resp.status_code}; a refresh token that never "
                          "worked cannot show that it stops working")
    minted = resp.json()
    sid = rec_ctx.target.writable[0]
    fresh = _read_with(rec_ctx, minted.get("token"), sid)
    if fresh.status_code != 200:
        raise TargetError(f"a token minted from the {what} read session {sid}: {fresh.status_code}, expected 200")
    return minted


def _all_refused(rec_ctx, tokens: dict[str, str], refresh_tokens: dict[str, str], when: str) -> None:
    """Every credential named (no value is ever shown): a PATCH with each token and a refresh with each
    refresh token must answer 401 (fact sheet 2 and 3)."""
    wrong = []
    for what, token in tokens.items():
        code = _status_with(rec_ctx, token)
        if code != 401:
            wrong.append(f"a PATCH with {what} answered {code}")
    for what, refresh_token in refresh_tokens.items():
        resp = _refresh(rec_ctx, refresh_token)
        if resp.status_code != 401:
            minted = resp.json() if resp.status_code in (200, 201) else {}
            works = ""
            if isinstance(minted, dict) and isinstance(minted.get("token"), str):
                works = f"; the token it minted then answered {_status_with(rec_ctx, minted['token'])} to a PATCH"
            wrong.append(f"a refresh (POST /session, grant_type refresh_token) with {what} answered "
                         f"{resp.status_code}{works}")
    if wrong:
        raise Deviation({"REC-AUTH"}, f"{when}: " + "; ".join(wrong) + "; expected 401 each")


@pytest.mark.rec("REC-AUTH")
def test_token_after_logout(rec_ctx, rec_credentials):
    """Fact sheet 3.4 [V]: after ``DELETE /session`` neither the session's token nor its refresh token can be
    used. Every credential the login handed out is tried: its token, its refresh token, and a token minted
    from the refresh token before the logout (and a new refresh token, if the refresh returned one)."""
    login = _plain_login(rec_ctx, rec_credentials["admin"], refresh=True)
    minted = _minted(rec_ctx, login["refresh_token"], "refresh token of a fresh login")
    out = rec_ctx.plain.request("DELETE", f"/session/{login['session_id']}", token=login["token"])
    if out.status_code != 200:
        raise TargetError(f"logout answered {out.status_code}")
    tokens = {"the token of a session that logged out": login["token"],
              "a token minted from its refresh token before the logout": minted["token"]}
    refresh_tokens = {"the refresh token of a session that logged out": login["refresh_token"]}
    if isinstance(minted.get("refresh_token"), str) and minted["refresh_token"] != login["refresh_token"]:
        refresh_tokens["the new refresh token a refresh returned before the logout"] = minted["refresh_token"]
    _all_refused(rec_ctx, tokens, refresh_tokens, "after logout (fact sheet 3.4)")


def _expiry_user(rec_ctx, rec_credentials, rec_simulator):
    """The user whose token the expired-token check lets expire, or None when the check is opt-in
    and not enabled: on the built-in simulator its short-token user (whose refresh token is short too),
    on an array the admin."""
    if rec_simulator is not None:
        from pytest_rec.client.rest import Credentials

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
    on an array the run's own length off the 30 minutes. On the simulator the login asks for a refresh
    token too (its lifetime is short there; an array's lives 10 hours, which no run waits out) and mints
    a token from it. (login, minted or None, refresh lifetime or None, when) or the error, or None."""
    creds = _expiry_user(rec_ctx, rec_credentials, rec_simulator)
    if creds is None:
        return None
    try:
        on_sim = rec_simulator is not None
        login = _plain_login(rec_ctx, creds, refresh=on_sim)
        at = time.monotonic()
        # the control: the fresh token works, so a 401 at the end is the token's age, not a bad token
        sid = rec_ctx.target.writable[0]
        fresh = _read_with(rec_ctx, login["token"], sid)
        if fresh.status_code != 200:
            raise TargetError(f"a fresh token of {creds.name!r} read session {sid}: {fresh.status_code}, expected 200; "
                              "the expiry of a token cannot be told from a token that never worked")
        minted = _minted(rec_ctx, login["refresh_token"], "refresh token of a fresh login") if on_sim else None
        refresh_life = float(rec_simulator.array.settings.short_refresh_lifetime) if on_sim else None
        return login, minted, refresh_life, at
    except (TargetError, KeyError, TypeError, ValueError) as exc:
        return exc if isinstance(exc, TargetError) else TargetError(f"login for the expired-token check: {exc!r}")


@pytest.mark.rec("REC-AUTH")
@pytest.mark.rec_last
def test_expired_token(rec_ctx, _aging_login):
    """Fact sheet 3.1 [V]: a token lasts its lifetime and an expired one gives 401; once the refresh token
    itself expires the session logs out, so a refresh with it gives 401 too (3.2: 401 for a wrong
    refresh_token). Every credential of the login is tried once each has outlived its lifetime."""
    if _aging_login is None:
        opt_in("waiting out a real token takes 30 minutes", "set capabilities.expired_token = true in the target file")
    if isinstance(_aging_login, Exception):
        raise _aging_login
    login, minted, refresh_life, at = _aging_login
    lifetime = float(login.get("lifetime", 1800))
    longest = max([lifetime, float((minted or {}).get("lifetime", 0)), refresh_life or 0.0])
    time.sleep(max(0.0, longest + 0.25 - (time.monotonic() - at)))
    tokens = {f"a token older than its lifetime ({login.get('lifetime')} s)": login["token"]}
    refresh_tokens = {}
    if minted is not None:
        tokens[f"a token minted from the refresh token, older than its lifetime ({minted.get('lifetime')} s)"] = \
            minted["token"]
        refresh_tokens[f"a refresh token older than its lifetime ({refresh_life:g} s)"] = login["refresh_token"]
    _all_refused(rec_ctx, tokens, refresh_tokens, "after expiry (fact sheet 3.1)")


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
