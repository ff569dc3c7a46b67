"""The fixtures of pytest-rec, layered so a user can override one piece (the target, the
simulator, a client) without touching the others."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path

import pytest

from ..client.rest import Credentials, PlainClient, RecClient, restoring
from ..client.jobs import JobWaiter
from ..client.transcript import Transcript
from ..engine.context import Options, RecContext, make_guard
from ..errors import TargetError
from ..engine.preflight import preflight, set_aside
from ..engine.restore import IDENTITY_KEYS, STATE_KEYS, Journal
from ..engine.sessions import Operator, SessionPool
from ..model.target import Target, TargetFileError, load_target, parse_target
from ..engine.wayback import WayBack
from ._lanefiles import lane_gone, mark as _mark, probe_folder, wayback_path
from ._run import restore
from ._signals import guard_of
from ._startup import refuse_if_journal_pending
from ._state import RECORDED, RUN_ID, run_of
from ._xdist import worker

__all__ = ["rec_options", "rec_simulator", "rec_target", "rec_credentials", "rec_transcript", "rec_guard",
           "rec_waiter", "rec_admin", "rec_tenant", "rec_other", "rec_plain", "rec_ctx", "rec_case_session",
           "rec_record", "_rec_allure"]


@pytest.fixture(scope="session")
def rec_options(pytestconfig: pytest.Config) -> Options:
    """The run's pytest-rec options, normalised once (CLI, then REC_TARGET, then ini)."""
    return run_of(pytestconfig).options


@pytest.fixture(scope="session")
def rec_simulator(pytestconfig: pytest.Config, rec_options: Options, tmp_path_factory: pytest.TempPathFactory):
    """The built-in simulator (one per xdist worker), or None when the target is a file. It runs in a
    process of its own (the second core; spawned as the suite is collected), or with
    ``--rec-sim-in-thread`` in a thread of this one."""
    if rec_options.target != "sim":
        yield None
        return
    from ..simulator import Array, Settings, SimulatorServer
    from ..simulator.process import build_inventory, fresh_passwords, simulator_for

    run = run_of(pytestconfig)
    try:
        if rec_options.sim_in_thread:
            passwords = fresh_passwords(rec_options.sim_options)
            settings = Settings.from_options(rec_options.sim_options, defects=rec_options.sim_defects)
            server = SimulatorServer(Array(build_inventory(rec_options.sim_options, passwords), settings), tls=True,
                                     cert_dir=tmp_path_factory.mktemp("rec-sim-tls"))
            server.start()
        else:
            server, run.simulator = run.simulator, None
            server = (server or simulator_for(rec_options.sim_options, rec_options.sim_defects).spawn()).wait_ready()
    except ValueError as exc:
        raise pytest.UsageError(f"--rec-sim-option: {exc}") from None
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rec_target(rec_options: Options, rec_simulator) -> Target:
    """The resolved target: the built-in simulator's ready target, or the target file."""
    if rec_simulator is not None:
        target = parse_target(rec_simulator.target(), "built-in simulator", kind="sim")
        # the simulator shows a suspend or resume within its own configured lag: no need to wait the
        # two minutes a real array may take before calling it a failure (DECISIONS 16)
        st = rec_simulator.array.settings
        # and it shows a change after its own configured read lag, not the 10 s a real array is given
        target.profile.settle_window = min(target.profile.settle_window, st.read_lag + 0.25 + 4 * st.latency)
        target.profile.suspend_timeout = (10.0 + st.suspend_lag + st.copy_time + 4 * st.job_latency + 20 * st.latency
                                          + (30.0 if st.busy_every or st.busy_rate or st.drop_every else 0.0))
        return target
    try:
        return load_target(rec_options.target)
    except TargetFileError as exc:
        pytest.exit(f"pytest-rec: target file error: {exc}", returncode=2)


@pytest.fixture(scope="session")
def rec_credentials(rec_target: Target, rec_simulator, rec_transcript: Transcript) -> dict[str, Credentials]:
    """User key -> credentials; passwords from the environment variables the file names."""
    out = {}
    for key, spec in rec_target.users.items():
        if rec_simulator is not None:
            password = rec_simulator.array.inventory.users[key].password
        else:
            try:
                password = spec.password(rec_target.source)
            except TargetFileError as exc:
                pytest.exit(f"pytest-rec: {exc}", returncode=2)
        rec_transcript.secrets.add(password)
        out[key] = Credentials(key, spec.name, password)
    return out


@pytest.fixture(scope="session")
def rec_transcript(pytestconfig: pytest.Config) -> Transcript:
    """Every HTTP exchange of the run, secrets redacted at the source."""
    return Transcript()


@pytest.fixture(scope="session")
def rec_guard(rec_target: Target):
    """The allow-list every request passes before it leaves the process."""
    return make_guard(rec_target)


def _client(target: Target, creds: Credentials, guard, transcript, waiter) -> RecClient:
    client = RecClient(target.url, creds, verify=target.verify, guard=guard, transcript=transcript, waiter=waiter,
                       busy_retries=target.profile.busy_retries, busy_budget=target.profile.busy_budget)
    try:
        client.login()
    except TargetError as exc:
        client.http.close()
        spec = target.users.get(creds.key)
        hint = ""
        if " 401" in str(exc) or "answered 401" in str(exc) or "answered 403" in str(exc):
            hint = (f" (check the password in the environment variable {spec.password_env}, the user name "
                    f"[users.{creds.key}] name)") if spec else ""
        elif any(w in str(exc) for w in ("ConnectError", "ConnectTimeout", "SSL", "CERTIFICATE")):
            hint = " (check url and verify in the target file: the address, the port (5665), the CA bundle)"
        pytest.exit(f"pytest-rec: cannot log in to {target.url} as {creds.key}: {exc}{hint}", returncode=2)
    return client


@pytest.fixture(scope="session")
def rec_waiter() -> JobWaiter:
    """Shared job waiter: learns typical job duration to poll with little waste."""
    return JobWaiter()


@pytest.fixture(scope="session")
def rec_admin(rec_target, rec_credentials, rec_guard, rec_transcript, rec_waiter):
    """The admin user (Copy Session Management, no tenant), logged in with a refresh token."""
    client = _client(rec_target, rec_credentials["admin"], rec_guard, rec_transcript, rec_waiter)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rec_tenant(rec_target, rec_credentials, rec_guard, rec_transcript, rec_waiter):
    """The tenant user, logged in."""
    client = _client(rec_target, rec_credentials["tenant"], rec_guard, rec_transcript, rec_waiter)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rec_other(rec_target, rec_credentials, rec_guard, rec_transcript, rec_waiter):
    """A second user (users.other, else the tenant user) for the job-privacy check."""
    key = "other" if "other" in rec_credentials else "tenant"
    client = _client(rec_target, rec_credentials[key], rec_guard, rec_transcript, rec_waiter)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rec_plain(rec_target, rec_guard, rec_transcript):
    """A client that never logs in, renews or retries: for the authentication checks."""
    client = PlainClient(rec_target.url, rec_target.verify, rec_guard, rec_transcript,
                         busy_retries=rec_target.profile.busy_retries, busy_budget=rec_target.profile.busy_budget)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rec_ctx(pytestconfig, rec_options, rec_target, rec_simulator, rec_admin, rec_tenant, rec_plain, rec_transcript):
    """The run's context: preflight done, restore journal written, restore at the end. A lane whose
    context does not come up says so at once (``lane_gone``): no other lane waits for its proofs."""
    lane = _lane(pytestconfig, rec_options, rec_target, rec_simulator, rec_admin, rec_tenant, rec_plain,
                 rec_transcript)
    try:
        ctx = next(lane)
    except BaseException:
        index, count = worker(pytestconfig)
        if count > 1:
            lane_gone(pytestconfig, index)
        raise
    yield ctx
    next(lane, None)


def _lane(pytestconfig, rec_options, rec_target, rec_simulator, rec_admin, rec_tenant, rec_plain, rec_transcript):
    index, count = worker(pytestconfig)
    if count > 1 and index >= count:
        pytest.exit(f"pytest-rec: xdist restarted a worker (gw{index} of {count}): it would own another lane's "
                    "sessions; nothing was sent by it (run with --max-worker-restart 0)", returncode=2)
    mine = rec_target.writable[index::count] if count > 1 else list(rec_target.writable)
    others = frozenset(rec_target.written - set(mine)) if count > 1 else frozenset()
    # with lanes the controller checked every session's modes and phase before any lane started
    # (_startup._check_before_lanes); here another lane's change may already have leaked onto one of this lane's
    # own sessions, and a baseline refused then stopped the lane with the leak left in place (DECISIONS 116)
    problems = preflight(rec_target, rec_admin, rec_tenant,
                         others_write=frozenset(rec_target.written) if count > 1 else frozenset())
    if problems:
        pytest.exit("pytest-rec: the target file does not match the array; nothing was changed:\n  - "
                    + "\n  - ".join(problems), returncode=2)
    aside = set_aside(rec_target, rec_admin, mine)      # they read a mode the PATCH cannot set
    for why in aside.values():
        sys.stderr.write(f"pytest-rec: {why}\n")
    mine = [sid for sid in mine if sid not in aside]
    journal_path = Path(rec_options.journal)
    if count > 1:
        journal_path = journal_path.with_name(f"{journal_path.stem}.gw{index}{journal_path.suffix}")
    if rec_simulator is None:   # the in-process simulator dies with its run; a rec-sim process does not
        refuse_if_journal_pending(pytestconfig, rec_target.source)
    journal = Journal(journal_path, rec_target, pytestconfig.stash[RUN_ID])
    # what this run saw of the way back (CONTRACT section 3); lanes share it through one file of the run
    # in the temporary folder (as the write probes' marks), not among the reports: a file of the run's lanes only
    wayback = WayBack(wayback_path(pytestconfig) if count > 1 else None,
                      expected=rec_target.writable if count > 1 else (), lanes=count)
    if count > 1:
        wayback.start(index)
        run_of(pytestconfig).wayback = wayback
    # every session the run may write, as found before its first write (a change leaking from another
    # session, another lane's, can land before this lane journals its own): the journals start from it
    states = {sid: _kept(rec_admin.get_copysession(sid)) for sid in sorted(s for s in rec_target.written if s is not None)}
    journal.found = wayback.snapshot(states)
    for sid in mine:          # tenant sessions are journaled by ensure_suspended, before their first write
        journal.record(sid, states[sid])
        wayback.home(sid, journal.home(sid))
    op = Operator(rec_target, rec_admin, rec_options.job_timeout, wayback)
    ctx = RecContext(rec_options, rec_target, rec_admin, rec_tenant, None, rec_plain, rec_transcript,
                     journal, op, None, simulator=rec_simulator, workers=count)  # type: ignore[arg-type]
    ctx.pool = SessionPool(op, mine)
    ctx.set_aside = aside
    try:                      # before this process writes anything (REC-ISOLATION over the whole run)
        ctx.start_witnesses = ctx.unwritten_modes()
    except TargetError as exc:
        ctx.start_witnesses_error = str(exc)
    run_of(pytestconfig).ctx = ctx
    try:
        run_of(pytestconfig).writes_stopped = _write_probe(pytestconfig, op, mine, index, count)
    except BaseException:
        # the probe may have written: put back now, while the users are still logged in (the session's
        # end would find their clients closed)
        _end_lane(pytestconfig, ctx, wayback, index, count, sweep=False)
        raise
    if count > 1 and not mine:
        sys.stderr.write(f"pytest-rec: worker gw{index} has no writable session ({len(rec_target.writable)} "
                         f"sessions for {count} workers); its matrix cases will error\n")
    yield ctx
    _end_lane(pytestconfig, ctx, wayback, index, count)


def _end_lane(config: pytest.Config, ctx: RecContext, wayback: WayBack, index: int, count: int,
              sweep: bool = True) -> None:
    """This lane sends no more changes: its restore, then (the last lane to end) the sweep."""
    wayback.finished(index)
    restore(config)
    if count > 1:
        wayback.put_back(index)
        if sweep and wayback.sweeper(index):
            after_every_lane(config, ctx)


def _kept(found: dict) -> dict:
    """What a journal keeps of a session's read (``Journal.record``)."""
    return {k: found.get(k) for k in STATE_KEYS + IDENTITY_KEYS}


SWEEPS = 5      # rounds of the last lane's read of every lane's sessions (a put-back that leaks again)
QUIET = 0.5     # seconds the sweep waits beyond the late window: the other lanes log out after their restore


def after_every_lane(config: pytest.Config, ctx: RecContext) -> None:
    """With lanes, a change to one session can show on another lane's session after that lane has put it
    back (an array that leaks a change across sessions). The last lane to end its restore reads every
    session any lane put back once more: one that changed is put back again, and the change is a
    REC-ISOLATION deviation of its own; again, up to ``SWEEPS`` rounds, while a round put one back
    (DECISIONS 110). No lane waits for another. Each round waits the restore's late window first, and
    ``QUIET`` more for the other lanes' log-outs: the run's last change may be another lane's, so the
    array's quiet after it starts only now (DECISIONS 114)."""
    run = run_of(config)
    guard = guard_of(config)
    if run.interrupted or (guard is not None and guard.abandon):
        return
    from ..engine.restore import late_read, late_wait

    journal = ctx.journal
    for path in sorted(journal.path.parent.glob(f"{journal.path.stem.split('.gw')[0]}.gw*{journal.path.suffix}")):
        if path == journal.path:
            continue
        try:
            other = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if other.get("run_id") != journal.data.get("run_id"):
            continue                     # a journal of another run
        for sid, entry in other.get("sessions", {}).items():
            if entry.get("restored"):
                journal.adopt(int(sid), entry)
    try:
        with guard.restoring_sessions() if guard else nullcontext(), restoring(ctx.admin):
            for sweep in range(SWEEPS):
                # in id order: a put-back that leaks onto a later session is read in the same round
                put_back = sorted(int(k) for k, v in journal.data["sessions"].items() if v.get("restored"))
                seen = len(journal.data.get("late_changes", []))
                # a read that fails here leaves the session as its own lane's restore read it back (noted
                # in the journal); only a put-back that fails is a restore failure
                failures = late_read(ctx.operator, journal, put_back, wait=late_wait(ctx.operator) + QUIET,
                                     rule="REC-ISOLATION", must_read=False,
                                     cause="it changed once every lane, each writing only to its own sessions, "
                                           "had put its sessions back")
                if failures:
                    run.restore_failures += failures
                    sys.stderr.write(f"\n*** pytest-rec: RESTORE FAILED: {'; '.join(failures)}. Run `rec-restore "
                                     f"{journal.path}` once the array allows it.\n")
                if len(journal.data.get("late_changes", [])) == seen or failures:
                    break
    except KeyboardInterrupt:
        return              # every session was put back once already; the signal's own stop follows


def _write_probe(config: pytest.Config, op: Operator, mine: list[int], index: int, count: int) -> str | None:
    """Run the write probe (``Operator.write_probe``) before this process writes anything; why writes
    stop, or None. With lanes, a lane that owns no suspended session has no probe of its own: it waits
    for the other lanes' probes (a file per lane, keyed by the run) and stops if one of them hung."""
    probed, stopped = op.write_probe(mine)
    if count == 1:
        return stopped
    import time

    folder = probe_folder(config)
    _mark(folder, index, {"probed": probed, "stopped": stopped})
    if probed or stopped:
        return stopped
    deadline = time.monotonic() + 2 * op.job_timeout + 60
    while time.monotonic() < deadline:
        seen = []
        for i in range(count):
            try:
                seen.append(json.loads((folder / f"gw{i}.json").read_text()))
            except (OSError, ValueError):
                pass
        hung = [x["stopped"] for x in seen if x.get("stopped")]
        if hung:
            return f"in another lane, {hung[0]}"
        if len(seen) == count:
            return None
        time.sleep(0.2)
    return None


@pytest.fixture
def rec_case_session(rec_ctx, rec_case):
    """Call it in the check (not in set-up, so that pytest counts a wrong answer to a setup step as
    the failure it is): a writable REC session, suspended, in the case's starting state (verified by
    GET). Raises ``Blocked`` when that state is reachable only through a step the array answered
    wrongly before; skips (opt-in) a case with Consistency when the array has no REC buffer."""
    def acquire():
        __tracebackhide__ = True
        if not rec_ctx.target.has("consistency") and "Consistency" in (rec_case.start.transfer_mode,
                                                                        rec_case.body_dict.get("transfer_mode")):
            from ._outcomes import opt_in

            opt_in("the target file declares no REC buffer (capabilities.consistency = false), so no request "
                   "carries Consistency", "set capabilities.consistency = true once the array has a REC buffer")
        return rec_ctx.pool.acquire(rec_case.start, then=rec_case.body_dict.get("transfer_mode"))
    return acquire


@pytest.fixture(autouse=True)
def _rec_allure(request: pytest.FixtureRequest):
    """For checks of the suite only: Allure labels from the catalogue, a readable title, the
    case's parameters, a link to the reference page, and one step per HTTP exchange."""
    marker = request.node.get_closest_marker("rec")
    if marker is None or not request.config.pluginmanager.hasplugin("allure_pytest"):
        yield
        return
    from ..report.allure_steps import label_case, step_listener

    transcript = request.getfixturevalue("rec_transcript")
    label_case(request.node, list(marker.args))
    listener = step_listener(transcript.secrets)
    transcript.listeners.append(listener)
    try:
        yield
    finally:
        if listener in transcript.listeners:        # the restore may have cleared them
            transcript.listeners.remove(listener)


@pytest.fixture
def rec_record(request: pytest.FixtureRequest):
    """Record what the array did in a check that is recorded, not judged (REC-UNSPECIFIED)."""
    def record(text: str) -> None:
        request.node.stash[RECORDED] = text
    return record
