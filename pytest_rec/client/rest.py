"""API client for the ETERNUS REST surface the suite uses. No pytest in here.

``RecClient`` is the working client: one ``httpx.Client`` per user (connections reused),
login with a refresh token, renewal before expiry and once on 401, 503 retried with
back-off (honouring Retry-After), a job waiter that adapts to observed job durations, and
every exchange recorded with secrets redacted at the source. ``PlainClient`` sends exactly
what it is told, for the checks of authentication. Both pass every request through the
``Guard`` in their transport.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import socket
import ssl
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..errors import RequestBlocked, TargetError
from .guard import API, Guard, GuardedTransport
from .jobs import JobCalls, JobWaiter
from .transcript import REDACTED, Exchange, Transcript, redact_body

__all__ = ["Credentials", "RecClient", "restoring", "PlainClient", "make_http", "ssl_context", "send_recorded", "send_busy_aware",
           "tls_hint", "retry_after_seconds"]


def ssl_context(verify: bool | str) -> ssl.SSLContext | bool:
    """httpx verify argument: True, False (warned once), or a CA bundle path as an SSLContext."""
    if verify is False:
        if not getattr(ssl_context, "_warned", False):
            warnings.warn("TLS verification is off for this target (verify = false)", stacklevel=2)
            ssl_context._warned = True  # type: ignore[attr-defined]
        return False
    if verify is True:
        return True
    return ssl.create_default_context(cafile=str(verify))


def make_http(base_url: str, verify: bool | str, guard: Guard | None, timeout: float) -> httpx.Client:
    ctx = ssl_context(verify)
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]     # no Nagle wait between head and body
    transport = GuardedTransport(httpx.HTTPTransport(verify=ctx, retries=0, socket_options=nodelay), guard)
    return httpx.Client(base_url=base_url.rstrip("/"), transport=transport,
                        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))


def send_recorded(http: httpx.Client, transcript: Transcript, who: str, method: str, url: str,
                  content: bytes | None, headers: dict) -> httpx.Response:
    """Send one request and record it, redacted; a transport failure becomes a TargetError."""
    started = time.monotonic()

    def record(status, body, err) -> None:
        sec = transcript.secrets
        safe = {k: (REDACTED if k.lower() == "authorization" else sec.redact(v)) for k, v in headers.items()}
        transcript.add(Exchange(who, method, sec.redact(url), status, safe, redact_body(content, sec),
                                redact_body(body, sec), time.time(), time.monotonic() - started, err))
    try:
        resp = http.request(method, url, content=content, headers=headers)
    except RequestBlocked:
        raise
    except httpx.HTTPError as exc:
        record(None, None, repr(exc))
        raise TargetError(f"{method} {url} as {who}: {exc!r}{tls_hint(exc)}") from exc
    record(resp.status_code, resp.content, None)
    return resp


def tls_hint(exc: BaseException) -> str:
    """What to do when the array's TLS certificate is not trusted (not a refused connection): the
    target file's ``verify`` key, and both ways to set it."""
    text = f"{exc!r} {exc.__cause__!r} {exc.__context__!r}"
    if not any(w in text for w in ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "SSLCertVerification")):
        return ""
    return ("; TLS: the array's certificate is not trusted by this machine. Set `verify` in the target file: "
            "either to the CA bundle that signed the array's certificate (verify = \"/path/to/ca.pem\"; for rec-sim, "
            "the ca.pem it keeps beside its target file, or the folder given with --ca), or verify = false to "
            "skip the check (a warning is printed on every run: the array is then not authenticated)")


BUSY_FIRST_WAIT = 0.025         # seconds before the first retry of a 503 without Retry-After


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds a Retry-After header asks for: delta-seconds or an HTTP-date (RFC 9110, 10.2.3); None
    when absent or unreadable (the suite's own back-off then)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def send_busy_aware(http: httpx.Client, transcript: Transcript, who: str, method: str, url: str,
                    content: bytes | None, headers: dict, retries: int, budget: float) -> tuple[httpx.Response, int]:
    """Send one request; a 503 (busy) is retried with back-off, honouring Retry-After, within
    ``retries`` and ``budget`` seconds (CONTRACT section 1). Returns the answer and the 503s seen."""
    # from 25 ms, doubling to at most 5 s: an array that is busy for a moment costs a lane little (a
    # first wait of 0.1 s was 2-3 s of each lane's 30 s against a 503 every 37th request), and one
    # that stays busy is left alone within a few retries
    delay, deadline, seen = BUSY_FIRST_WAIT, time.monotonic() + budget, 0
    for attempt in range(retries + 1):
        resp = send_recorded(http, transcript, who, method, url, content, headers)
        if resp.status_code != 503:
            return resp, seen
        seen += 1
        asked = retry_after_seconds(resp.headers.get("Retry-After"))
        wait = delay if asked is None else asked
        if attempt == retries or time.monotonic() + wait > deadline:
            break
        time.sleep(wait)
        delay = min(delay * 2, 5.0)
    # still busy: the request was not taken (503), so nothing can be judged from it; an error of the
    # run (the check did not run), never a deviation of the array (CONTRACT section 1)
    raise TargetError(f"{method} {url.split('?')[0]}: the array still answered 503 (busy) after {seen - 1} "
                      f"retr{'y' if seen == 2 else 'ies'} within the busy budget ({budget:g} s, "
                      f"[profile] busy_retries / busy_budget): not judged")


READ_5XX_RETRIES = 2     # a GET that answers 5xx (not 503) is sent again this many times (RecClient only)


# --------------------------------------------------------------------------- plain client
class PlainClient:
    """Sends exactly what it is told: no login, no renewal. For REC-AUTH and friends. Only a 503
    (busy) is retried, as on every client: the array's own answer to the request is what is judged."""

    def __init__(self, base_url: str, verify: bool | str = True, guard: Guard | None = None,
                 transcript: Transcript | None = None, timeout: float = 30.0, label: str = "plain",
                 busy_retries: int = 9, busy_budget: float = 60.0):
        self.http = make_http(base_url, verify, guard, timeout)
        self.guard = guard
        self.transcript = transcript or Transcript()
        self.label = label
        self.busy_retries, self.busy_budget = busy_retries, busy_budget

    def request(self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
                content: bytes | None = None, headers: dict | None = None) -> httpx.Response:
        hdrs = dict(headers or {})
        if token is not None:
            self.transcript.secrets.add(token)
            hdrs["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        url = path if path.startswith(API) else API + path
        return send_busy_aware(self.http, self.transcript, self.label, method, url, content, hdrs,
                               self.busy_retries, self.busy_budget)[0]

    def close(self) -> None:
        self.http.close()


# --------------------------------------------------------------------------- working client
@dataclass
class Credentials:
    key: str            # "admin", "tenant", ...
    name: str
    password: str = field(repr=False)


@contextmanager
def restoring(client: "RecClient", retries: int = 5):
    """Putting sessions back: a 503 is retried at least ``retries`` times (within the busy budget), whatever
    the profile's busy_retries. A read or a put-back is not a check, and a session left unverified
    because the array was busy for a moment is worse than a slower restore (DECISIONS 111)."""
    old = client.busy_retries
    client.busy_retries = max(old, retries)
    try:
        yield client
    finally:
        client.busy_retries = old


class RecClient(JobCalls):
    """A logged-in user of the target."""

    def __init__(self, base_url: str, creds: Credentials, *, verify: bool | str = True,
                 guard: Guard | None = None, transcript: Transcript | None = None,
                 timeout: float = 30.0, busy_retries: int = 9, busy_budget: float = 60.0,
                 waiter: JobWaiter | None = None):
        self.creds = creds
        self.guard = guard
        self.http = make_http(base_url, verify, guard, timeout)
        self.transcript = transcript or Transcript()
        self.secrets = self.transcript.secrets
        self.secrets.add(creds.password)
        self.busy_retries, self.busy_budget = busy_retries, busy_budget
        self.waiter = waiter or JobWaiter()
        self.session_id: int | None = None
        self.token: str | None = None
        self.refresh_token: str | None = None
        self.expires = 0.0
        self.lifetime = 0
        self._lock = threading.RLock()
        self.busy_seen = 0

    # ---- low level
    def _send(self, method: str, url: str, *, content: bytes | None, headers: dict) -> httpx.Response:
        for attempt in range(READ_5XX_RETRIES + 1):
            try:
                resp, seen = send_busy_aware(self.http, self.transcript, self.creds.key, method, url, content,
                                             headers, self.busy_retries, self.busy_budget)
            except TargetError as exc:
                # a change that was sent but got no answer may have been taken: never "nothing happened"
                cause = exc.__cause__
                if self.guard is not None and isinstance(cause, httpx.TransportError) \
                        and not isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout)):
                    self.guard.note_lost(method, url)
                raise
            except KeyboardInterrupt:           # a signal while the change was on its way: it may be taken
                if self.guard is not None:
                    self.guard.note_lost(method, url)
                raise
            self.busy_seen += seen
            # a read that answers 5xx (not 503) is REC-NO-5XX evidence already (the transcript keeps it, and
            # the check it falls in, or the next one, fails on it); a read changes nothing, so it is sent
            # again and the run goes on with the array's real answer
            if method != "GET" or resp.status_code < 500 or resp.status_code == 503 or attempt == READ_5XX_RETRIES:
                return resp
            time.sleep(0.05 * (attempt + 1))
        return resp  # pragma: no cover

    def _absorb_login(self, resp: httpx.Response, what: str) -> None:
        if resp.status_code not in (200, 201):
            raise TargetError(f"{what} for user {self.creds.name!r} answered {resp.status_code}: "
                              f"{self.secrets.redact(resp.text[:300])}")
        body = resp.json()
        self.secrets.add(body.get("token"))
        self.secrets.add(body.get("refresh_token"))
        self.token = body["token"]
        self.session_id = body.get("session_id", self.session_id)
        self.refresh_token = body.get("refresh_token") or self.refresh_token
        self.lifetime = int(body.get("lifetime") or 1800)
        self.expires = time.monotonic() + self.lifetime

    # ---- session
    def login(self) -> "RecClient":
        with self._lock:
            body = json.dumps({"user_name": self.creds.name, "password": self.creds.password,
                               "is_refresh_token_required": True}).encode()
            resp = self._send("POST", API + "/session", content=body,
                              headers={"Content-Type": "application/json"})
            self._absorb_login(resp, "login")
        return self

    def renew(self) -> None:
        with self._lock:
            if self.refresh_token:
                body = json.dumps({"grant_type": "refresh_token", "refresh_token": self.refresh_token}).encode()
                resp = self._send("POST", API + "/session", content=body,
                                  headers={"Content-Type": "application/json"})
                if resp.status_code in (200, 201):
                    self._absorb_login(resp, "token renewal")
                    return
            self.login()

    def _auth_headers(self) -> dict:
        with self._lock:
            if self.token is None:
                self.login()
            margin = min(60.0, self.lifetime * 0.2)
            if time.monotonic() > self.expires - margin:
                self.renew()
            return {"Authorization": f"Bearer {self.token}"}

    def logout(self) -> None:
        with self._lock:
            if self.token and self.session_id is not None:
                try:
                    self._send("DELETE", f"{API}/session/{self.session_id}", content=None,
                               headers={"Authorization": f"Bearer {self.token}"})
                except (TargetError, RequestBlocked):
                    pass
            self.token = None

    def close(self) -> None:
        self.logout()
        self.http.close()

    # ---- requests
    def request(self, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
                headers: dict | None = None) -> httpx.Response:
        url = path if path.startswith(API) else API + path
        hdrs = dict(headers or {})
        if json_body is not None:
            content = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        resp = self._send(method, url, content=content, headers={**hdrs, **self._auth_headers()})
        if resp.status_code == 401:
            self.renew()
            resp = self._send(method, url, content=content, headers={**hdrs, **self._auth_headers()})
        if self.guard is not None:
            self.guard.note_answer(method, url, resp)
        return resp

    def expect_ok(self, resp: httpx.Response, what: str, codes=(200,)) -> dict:
        if resp.status_code not in codes:
            raise TargetError(f"{what}: {resp.request.method} {resp.request.url.path} answered "
                              f"{resp.status_code}: {self.secrets.redact(resp.text[:300])}")
        return resp.json() if resp.content else {}

    def get_copysession(self, sid: int) -> dict:
        return self.expect_ok(self.request("GET", f"/copysession/{sid}"), f"read copy session {sid}")

    def list_copysessions(self, max_pages: int = 1000) -> list[dict]:
        """Every copy session the user sees: the first page and each ``next_href`` after it, to the
        end (fact sheet 1.5); a ``next_href`` seen twice or more than ``max_pages`` pages is an error."""
        out: list[dict] = []
        path, seen = "/copysession", set()
        for _ in range(max_pages):
            body = self.expect_ok(self.request("GET", path), "list copy sessions")
            out.extend(body.get("copysession_list") or [])
            nxt = body.get("next_href")
            if not nxt:
                return out
            if nxt in seen:
                raise TargetError(f"GET /copysession: next_href {nxt!r} repeats an earlier page; stopped reading")
            seen.add(nxt)
            path = nxt
        raise TargetError(f"GET /copysession: more than {max_pages} pages; stopped reading")

    def patch(self, sid: int, body: Any) -> httpx.Response:
        return self.request("PATCH", f"/copysession/{sid}", json_body=body)
