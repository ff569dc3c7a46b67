"""The API client: guard, redaction, retries, renewal, job waiting."""

import time

import httpx
import pytest

from pytest_rec.client.rest import Credentials, PlainClient, RecClient
from pytest_rec.client.guard import Guard
from pytest_rec.client.transcript import Secrets, Transcript
from pytest_rec.client.jobs import JobWaiter
from pytest_rec.errors import RequestBlocked, TargetError

ADMIN = Credentials("admin", "qa_admin", "sim-admin-Pa55")
GUARD = Guard(readable=[1, 2, 5, 6, 7], writable=[1, 2, 6, 7, 5], suspendable=[1, 2, 6], absent=[999999])


@pytest.mark.parametrize("method, path, ok", [
    ("POST", "/api/v1/session", True), ("GET", "/api/v1/session/1000001", True),
    ("DELETE", "/api/v1/session/7", True), ("GET", "/api/v1/copysession", True),
    ("GET", "/api/v1/copysession/1", True), ("PATCH", "/api/v1/copysession/2", True),
    ("PATCH", "/api/v1/copysession/999999", True), ("POST", "/api/v1/copysession/1/suspend", True),
    ("POST", "/api/v1/copysession/6/resume", True), ("GET", "/api/v1/job/8192001", True),
    ("GET", "/api/v1/copysession/1?fields=phase", True),
    ("PATCH", "/api/v1/copysession/3", False),            # not named in the target file
    ("GET", "/api/v1/copysession/3", False),
    ("POST", "/api/v1/copysession/7/suspend", False),     # foreign: never suspended by the suite
    ("DELETE", "/api/v1/copysession/1", False), ("PUT", "/api/v1/copysession/1", False),
    ("POST", "/api/v1/copysession/rec", False), ("POST", "/api/v1/copysession/1/reverse", False),
    ("POST", "/api/v1/copysession/suspend", False), ("GET", "/api/v1/volume", False),
    ("GET", "/api/v1/job", False), ("PATCH", "/api/v1/session", False), ("GET", "/other", False),
])
def test_guard_allow_list(method, path, ok):
    assert GUARD.allows(method, path) is ok


def test_guard_allows_exactly_the_bad_ids_once_allowed_and_nothing_else():
    guard = Guard(readable=[1], writable=[1], suspendable=[1])
    paths = ["/api/v1/copysession/abc", "/api/v1/copysession/-1", "/api/v1/copysession/1.5"]
    assert not [p for p in paths if guard.allows("PATCH", p) or guard.allows("GET", p)]
    for text in ("abc", "-1", "1.5"):
        guard.allow_bad_id(text)
    assert all(guard.allows("PATCH", p) and guard.allows("GET", p) for p in paths)
    for method, path in [("DELETE", "/api/v1/copysession/abc"), ("POST", "/api/v1/copysession/abc"),
                         ("POST", "/api/v1/copysession/abc/suspend"), ("POST", "/api/v1/copysession/-1/resume"),
                         ("PATCH", "/api/v1/copysession/abcd"), ("PATCH", "/api/v1/copysession/-2"),
                         ("PATCH", "/api/v1/copysession/1.50"), ("PATCH", "/api/v1/copysession/abc/x"),
                         ("PATCH", "/api/v1/copysession/2"), ("PATCH", "/api/v1/job/abc")]:
        assert not guard.allows(method, path), (method, path)
    for text in ("1", "abcd", "../session", "", "4294967297"):
        with pytest.raises(ValueError):
            guard.allow_bad_id(text)


def test_blocked_request_never_reaches_the_array(sim):
    client = RecClient(sim.base_url, ADMIN, guard=GUARD)
    client.login()
    before = len(sim.array.request_log)
    with pytest.raises(RequestBlocked):
        client.request("DELETE", "/copysession/1")
    with pytest.raises(RequestBlocked):
        client.patch(3, {"transfer_mode": "Stack"})
    assert len(sim.array.request_log) == before
    client.close()


def test_transcript_is_redacted(sim):
    t = Transcript()
    client = RecClient(sim.base_url, ADMIN, transcript=t)
    client.login()
    client.get_copysession(1)
    text = repr([e.as_dict() for e in t.exchanges])
    assert ADMIN.password not in text and client.token not in text and client.refresh_token not in text
    assert t.exchanges[0].request_body["password"] == "***"
    assert t.exchanges[0].response_body["token"] == "***"
    assert t.exchanges[1].request_headers["Authorization"] == "***"
    client.close()


def test_busy_is_retried_with_retry_after(make_sim):
    sim, _ = make_sim(busy_every=2, busy_retry_after=0)
    client = RecClient(sim.base_url, ADMIN)
    client.login()
    for _ in range(4):
        assert client.get_copysession(1)["copysession_id"] == 1
    assert client.busy_seen >= 1
    client.close()


def test_retry_after_as_an_http_date_is_honoured(make_sim):
    """A 503 whose Retry-After is an HTTP-date (RFC 9110 allows both forms): the client waits until
    then, instead of retrying every few milliseconds inside the window the array asked for."""
    sim, _ = make_sim(busy_every=2, busy_retry_after=2, busy_retry_after_date=True)
    client = RecClient(sim.base_url, ADMIN)
    client.login()
    t = time.monotonic()
    assert client.get_copysession(1)["copysession_id"] == 1
    waited = time.monotonic() - t
    assert client.busy_seen >= 1
    # the date has a resolution of one second: asked for 2 s, at least 1 s of it is left when read
    assert waited >= 0.9 and client.busy_seen <= 2, (waited, client.busy_seen)
    client.close()


@pytest.mark.parametrize("value, low, high", [("3", 3, 3), ("  ", None, None), ("soon", None, None),
                                              ("Wed, 21 Oct 2015 07:28:00 GMT", 0, 0)])
def test_retry_after_forms(value, low, high):
    from pytest_rec.client.rest import retry_after_seconds

    got = retry_after_seconds(value)
    assert got == low if low is None else low <= got <= high


def test_busy_bounded(make_sim):
    sim, _ = make_sim(busy_rate=1.0, busy_retry_after=0)
    client = RecClient(sim.base_url, ADMIN, busy_retries=3)
    with pytest.raises(TargetError):
        client.login()


def test_token_renewed_before_expiry(make_sim):
    sim, _ = make_sim(token_lifetime=2)
    client = RecClient(sim.base_url, ADMIN)
    client.login()
    first = client.token
    for _ in range(6):
        assert client.get_copysession(1)
        time.sleep(0.4)
    assert client.token != first                     # renewed from the refresh token
    logins = [r for r in sim.array.request_log if r["path"] == "/api/v1/session" and r["method"] == "POST"]
    assert len(logins) >= 2 and all(r["status"] == 200 for r in logins)
    assert not [r for r in sim.array.request_log if r["status"] == 401]
    client.close()


def test_renewed_once_on_401(sim):
    client = RecClient(sim.base_url, ADMIN)
    client.login()
    sim.array.logins[client.session_id].tokens.clear()      # the array forgets the token early
    assert client.get_copysession(1)["copysession_id"] == 1
    client.close()


class _VirtualJobs:
    """A clock that only moves when the waiter sleeps, and jobs that end ``latency`` seconds (of it)
    after they start: the waiter's adaptation judged without the jitter of a loaded machine."""

    def __init__(self, latency: float, read_cost: float = 0.004):
        self.now, self.latency, self.read_cost, self.ends = 100.0, latency, read_cost, 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def start_job(self) -> None:
        self.ends = self.now + self.latency

    def get_job(self, job_id: int) -> httpx.Response:
        self.now += self.read_cost            # a read takes a little time too
        status = "Success" if self.now >= self.ends else "Running"
        return httpx.Response(200, json={"job_id": job_id, "status": status})


@pytest.mark.parametrize("latency", [0.2, 2.0, 10.0])
def test_job_waiter_adapts(latency, monkeypatch):
    """From the fourth job on, the waiter reads a job at most 3 times and notices its end, on average,
    within 10% of the job's time (what benchmarks/bench.py measures over real HTTP)."""
    import pytest_rec.client.jobs as client_module

    jobs = _VirtualJobs(latency)
    monkeypatch.setattr(client_module, "time", jobs)
    client = RecClient("http://127.0.0.1:9", ADMIN)
    monkeypatch.setattr(client, "get_job", jobs.get_job)
    results = []
    for k in range(12):
        jobs.start_job()
        results.append(client.wait_job(k, 60))
    assert all(r.status == "Success" for r in results)
    steady = results[3:]
    assert max(r.polls for r in steady) <= 3, [r.polls for r in results]
    late = sum(r.waited - latency for r in steady) / len(steady)
    assert 0 <= late < latency * 0.1, [round(r.waited, 3) for r in results]
    client.close()


def test_job_waiter_that_never_learns_is_caught(monkeypatch):
    """The test above can fail: a waiter that forgets what it saw polls from zero every time."""
    import pytest_rec.client.jobs as client_module

    jobs = _VirtualJobs(2.0)
    monkeypatch.setattr(client_module, "time", jobs)
    client = RecClient("http://127.0.0.1:9", ADMIN)
    monkeypatch.setattr(client, "get_job", jobs.get_job)
    monkeypatch.setattr(client.waiter, "observe", lambda duration, polls: None)
    results = []
    for k in range(5):
        jobs.start_job()
        results.append(client.wait_job(k, 60))
    assert max(r.polls for r in results[3:]) > 3
    client.close()


def test_job_deadline(make_sim):
    sim, _ = make_sim(hung_jobs=True)
    client = RecClient(sim.base_url, ADMIN)
    client.login()
    with pytest.raises(TargetError, match="still"):
        client.run_job(client.patch(1, {"recovery_mode": "Manual"}), "patch", 0.3)
    client.close()


def test_target_down_is_a_target_error():
    client = PlainClient("http://127.0.0.1:9")
    with pytest.raises(TargetError):
        client.request("GET", "/copysession")


def test_secrets_registry_redacts():
    secrets = Secrets()
    secrets.add("s3cr3t-value")
    assert secrets.redact("token=s3cr3t-value;") == "token=***;"


def test_secrets_belong_to_one_run():
    """No module-level registry: each transcript (one run) has its own secrets."""
    a, b = Transcript(), Transcript()
    a.secrets.add("only-in-run-a")
    assert b.secrets.redact("only-in-run-a") == "only-in-run-a"


def _paged(pages: dict[str, dict]):
    """A RecClient whose reads of the copy-session list answer from ``pages`` (path -> body)."""
    client = RecClient("https://array.invalid:5665", ADMIN)
    sent: list[str] = []

    def request(method, path, **_):
        sent.append(path)
        return httpx.Response(200, json=pages[path], request=httpx.Request(method, "https://array.invalid" + path))
    client.request = request
    return client, sent


def test_list_reads_every_page_by_next_href():
    client, sent = _paged({
        "/copysession": {"copysession_list": [{"copysession_id": 1}], "next_href": "/api/v1/copysession?page=2"},
        "/api/v1/copysession?page=2": {"copysession_list": [{"copysession_id": 2}],
                                       "next_href": "/api/v1/copysession?page=3"},
        "/api/v1/copysession?page=3": {"copysession_list": [{"copysession_id": 3}]}})
    assert [s["copysession_id"] for s in client.list_copysessions()] == [1, 2, 3] and len(sent) == 3


def test_list_stops_on_a_next_href_loop_and_on_too_many_pages():
    loop, sent = _paged({
        "/copysession": {"copysession_list": [], "next_href": "/api/v1/copysession?page=2"},
        "/api/v1/copysession?page=2": {"copysession_list": [], "next_href": "/api/v1/copysession?page=2"}})
    with pytest.raises(TargetError, match="repeats an earlier page"):
        loop.list_copysessions()
    assert len(sent) == 2                      # the page that repeats is not read again
    endless = {"/copysession": {"copysession_list": [], "next_href": "/api/v1/copysession?page=1"}}
    endless.update({f"/api/v1/copysession?page={i}": {"copysession_list": [], "next_href": f"/api/v1/copysession?page={i + 1}"}
                    for i in range(1, 20)})
    many, sent = _paged(endless)
    with pytest.raises(TargetError, match="more than 5 pages"):
        many.list_copysessions(max_pages=5)
    assert len(sent) == 5


@pytest.mark.parametrize("latency", [0.25, 2.0])
def test_a_job_much_longer_than_the_others_is_noticed_within_one_poll_interval(latency, monkeypatch):
    """Issue 29: the polls of a job that runs ten times as long as the ones before never sleep past its
    end by more than one poll interval (the old back-off grew to 5 s a sleep)."""
    import pytest_rec.client.jobs as client_module

    jobs = _VirtualJobs(latency)
    monkeypatch.setattr(client_module, "time", jobs)
    client = RecClient("http://127.0.0.1:9", ADMIN)
    monkeypatch.setattr(client, "get_job", jobs.get_job)
    for k in range(6):
        jobs.start_job()
        client.wait_job(k, 600)
    interval = client.waiter.interval()
    jobs.latency = latency * 10
    jobs.start_job()
    result = client.wait_job(99, 600)
    assert 0 <= result.waited - latency * 10 <= interval + 2 * jobs.read_cost, (result.waited, interval)
    assert interval <= max(JobWaiter.CAP, latency * 0.1) + 1e-9
    client.close()
