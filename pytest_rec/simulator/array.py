"""The simulated ETERNUS array: state and rules, with no HTTP in it.

``Array`` is the facade the HTTP front (app.py), the server and the tests use. It holds all
state and composes one mixin per concern, each in its own module:

- ``auth.Auth``: log in, refresh, log out, the Bearer check, session information;
- ``jobs.Jobs``: job registration, ``GET /job``, and settling jobs when their time comes;
- ``reads.Reads``: ``GET /copysession`` and ``GET /copysession/{id}``;
- ``rules.PatchRules``: the call under test (validation, state and tenant refusals, the change);
- ``tenants.Tenants``: which sessions a tenant user sees and may change;
- ``suspend.SuspendResume``: suspend and resume;
- ``faults.Faults``: injected faults (busy, drop, copy path down, hung jobs);
- ``history.History``: the hidden state of the history-dependent defects (issue 31);
- ``defects.DefectSwitches`` (``self.defect``): the defect profiles, asked by name.

Every public method takes already-parsed request parts and returns a ``Reply``. One lock
guards all state, so concurrent requests neither lose updates nor share job ids. Jobs
finish lazily: each request first settles every job whose time has come (``tick``).

This is an implementation of the reference written for the simulator alone; it does not
import the compliance suite's expected-behaviour model (nor anything else of the suite).
"""

from __future__ import annotations

import copy
import random
import threading
import time

from .auth import Auth, LoginSession
from .defects import DefectSwitches
from .faults import Faults
from .history import History
from .inventory import CopySession, Inventory, load_inventory, with_odd_neighbours, with_writable
from .jobs import Job, Jobs
from .reads import Reads
from .replies import (ERRORS, FINAL_JOB_STATES, PATCH_FIELDS, RECOVERY_MODES, SPLIT_MODES,
                      TRANSFER_MODES, Reply, error)
from .rules import PatchRules
from .settings import Settings
from .suspend import SuspendResume
from .tenants import Tenants

__all__ = ["Array", "Settings", "Reply", "error", "LoginSession", "Job", "ERRORS", "FINAL_JOB_STATES",
           "PATCH_FIELDS", "TRANSFER_MODES", "SPLIT_MODES", "RECOVERY_MODES"]


class Array(Auth, Jobs, Reads, PatchRules, Tenants, SuspendResume, Faults, History):
    """The simulated storage system."""

    def __init__(self, inventory: Inventory | None = None, settings: Settings | None = None):
        self.settings = settings or Settings()
        inventory = inventory or load_inventory(self.settings.inventory or None)
        if self.settings.writable_sessions:
            inventory = with_writable(inventory, self.settings.writable_sessions)
        if self.settings.odd_neighbours:
            inventory = with_odd_neighbours(inventory)
        self.inventory = inventory
        self.defect = DefectSwitches(self.settings.defects)
        self.lock = threading.RLock()
        self.users = {u.name: u for u in self.inventory.users.values()}
        self.volumes = self.inventory.volumes
        self.sessions: dict[int, CopySession] = copy.deepcopy(self.inventory.sessions)
        self.logins: dict[int, LoginSession] = {}
        self.by_token: dict[str, LoginSession] = {}
        self.by_refresh: dict[str, LoginSession] = {}
        self.jobs: dict[int, Job] = {}
        self.issued_secrets: list[str] = []      # every token and refresh token handed out
        self.request_log: list[dict] = []         # method, path, user, status
        self._next_login = 1000001
        self._next_job = 8192001
        self._request_count = 0
        self._rng = random.Random(self.settings.seed)
        self._phase_due: dict[int, tuple[float, str]] = {}   # session -> (when, phase)
        self._resume_split: dict[int, str] = {}              # for the sticky-auto-restored defect
        self._stale: dict[int, tuple[float, dict]] = {}      # read_lag: session -> (until, old modes)
        self._transfer_set: set[int] = set()                  # through_suspended: sessions a PATCH gave a mode
        self.tenant_reads: set[tuple[str, int]] = set()      # defect tenant-read-then-write: (user, session) read
        self._late: dict[int, tuple] = {}                    # defect late-change: session -> modes written back late
        self._late_done: set[int] = set()                    # defect late-change: sessions it has happened to
        self._last_request = time.monotonic()                # defect late-change: when the array was last asked

    def has(self, defect: str) -> bool:
        """Whether a defect profile is on (same as ``self.defect(name)``)."""
        return self.defect(defect)

    def log(self, method: str, path: str, user: str | None, status: int) -> None:
        with self.lock:
            self.request_log.append({"method": method, "path": path, "user": user,
                                     "status": status, "time": time.time()})
