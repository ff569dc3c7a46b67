"""Fixtures for the project's own tests: a simulator per test module, and a raw client."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from pytest_rec.simulator import Array, Settings, SimulatorServer, load_inventory

ADMIN = ("qa_admin", "sim-admin-Pa55")
TENANT = ("qa_tenant", "sim-tenant-Pa55")
OTHER = ("qa_other", "sim-other-Pa55")


class Raw:
    """A bare httpx client against a simulator, with login helpers."""

    def __init__(self, server: SimulatorServer):
        self.server = server
        verify = ssl.create_default_context(cafile=str(server.ca_path)) if server.tls else True
        self.http = httpx.Client(base_url=server.base_url + "/api/v1", verify=verify, timeout=10)

    def login(self, user=ADMIN, refresh=False) -> dict:
        r = self.http.post("/session", json={"user_name": user[0], "password": user[1],
                                             "is_refresh_token_required": refresh})
        assert r.status_code == 200, r.text
        return r.json()

    def auth(self, user=ADMIN) -> dict:
        return {"Authorization": f"Bearer {self.login(user)['token']}"}

    def wait(self, job_id: int, headers: dict, timeout: float = 10.0) -> dict:
        import time

        end = time.monotonic() + timeout
        while True:
            job = self.http.get(f"/job/{job_id}", headers=headers).json()
            if job["status"] not in ("Queued", "Running") or time.monotonic() > end:
                return job
            time.sleep(0.01)


@pytest.fixture(autouse=True)
def _rec_state_dir(tmp_path_factory, monkeypatch):
    """Every test (and every run it starts) records restore journals in a directory of its own,
    never in the real ``~/.local/state/pytest-rec``: a journal one test leaves behind cannot stop
    another test whose simulator happens to get the same port."""
    monkeypatch.setenv("REC_STATE_DIR", str(tmp_path_factory.mktemp("rec-state")))
    # whole compliance runs build no HTML report unless the test is about it (tests/test_html_report.py)
    monkeypatch.setenv("REC_HTML", "0")


def patch_and_read(raw, sid, body, h=None):
    """PATCH a session, wait for its job, and GET it: (response, job or None, session after)."""
    h = h or raw.auth()
    r = raw.http.patch(f"/copysession/{sid}", json=body, headers=h)
    job = raw.wait(r.json()["job_id"], h) if r.status_code == 202 else None
    return r, job, raw.http.get(f"/copysession/{sid}", headers=raw.auth()).json()


def start(**settings) -> SimulatorServer:
    defects = settings.pop("defects", ())
    tls = settings.pop("tls", False)
    return SimulatorServer(Array(load_inventory(), Settings(defects=frozenset(defects), **settings)), tls=tls).start()


@pytest.fixture
def sim():
    server = start()
    yield server
    server.stop()


@pytest.fixture
def raw(sim):
    client = Raw(sim)
    yield client
    client.http.close()


@pytest.fixture
def make_sim():
    """Start a simulator with given settings; stopped at teardown."""
    started = []

    def make(**settings):
        server = start(**settings)
        started.append(server)
        return server, Raw(server)

    yield make
    for s in started:
        s.stop()


# ---------------------------------------------------------------- tiers
# `bash rec.sh test` runs the quick tier (a few minutes); `bash rec.sh test --all` adds the tests
# marked `whole_run` (every defect profile at depth full, interrupts, lanes, ...). CI runs --all.
def pytest_addoption(parser):
    parser.addoption("--all", action="store_true", default=False,
                     help="also run the tests marked whole_run (what CI runs)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--all"):
        return
    slow = [i for i in items if i.get_closest_marker("whole_run") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i.get_closest_marker("whole_run") is None]
        config.stash[_SLOW] = len(slow)


_SLOW = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter, config):
    # only in a run of the project's own tests: a compliance run started in the repository loads this
    # file too (the testpaths), and the line would stand among the suite's verdict lines
    if config.getoption("--all") or not any("tests" in Path(str(a)).parts for a in config.args):
        return
    n = config.stash.get(_SLOW, 0)       # counted where the tests were collected (not in an xdist controller)
    terminalreporter.write_line(f"the quick tier: {n or 'the'} whole-run test(s) marked whole_run left out; "
                                "`bash rec.sh test --all` runs them too, as CI does")
