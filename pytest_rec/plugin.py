"""pytest wiring of pytest-rec: options, markers, fixtures, and the hooks that feed the report.

The plugin is inert in a run that collects no test marked ``rec``: nothing is started,
nothing is written. Fixtures are layered so a user can override one piece (the target,
the simulator, a client) without touching the others.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from pathlib import Path

import pytest

from .client import SECRETS, Credentials, JobWaiter, PlainClient, RecClient, TargetError, Transcript
from .context import Options, RecContext, SessionPool, make_guard, preflight, write_transcript
from .errors import Deviation
from .matrix import DEPTHS, chunk, cases_for, order
from .sessions import Journal, Operator
from .target import Target, TargetFileError, load_target, parse_target

ACTIVE = pytest.StashKey[bool]()
KNOWN = pytest.StashKey[list]()
OPTIONS = pytest.StashKey[Options]()
CTX = pytest.StashKey[RecContext]()
CASE_INFO = pytest.StashKey[dict]()


# --------------------------------------------------------------------------- options
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("rec", "pytest-rec: ETERNUS REC session configuration compliance")
    g.addoption("--rec-target", default=None, help="'sim' (built-in simulator, the default) or a target TOML file; "
                                                  "also REC_TARGET")
    g.addoption("--rec-depth", default=None, choices=DEPTHS, help="matrix depth: smoke, pairwise or full (default)")
    g.addoption("--rec-strict", action="store_true", default=None,
                help="accept only the first refusal code of CONTRACT section 2 and judge case variants")
    g.addoption("--rec-dry-run", action="store_true", default=None, help="print the plan; send no write")
    g.addoption("--rec-sim-defect", action="append", default=[], metavar="NAME",
                help="run the built-in simulator with a defect profile (repeatable)")
    g.addoption("--rec-sim-option", action="append", default=[], metavar="KEY=VALUE",
                help="any other simulator setting, e.g. refusals=job, job_latency=0.2, busy_every=5 (repeatable)")
    g.addoption("--rec-job-timeout", type=float, default=None, help="seconds to wait for one job (default 120)")
    g.addoption("--rec-journal", default=None, help="restore journal path (default reports/restore-journal.json)")
    g.addoption("--rec-report-dir", default=None, help="where reports go (default reports)")
    g.addoption("--rec-pairwise-seed", type=int, default=None, help="seed of the pairwise generator")
    g.addoption("--rec-fuzz-examples", type=int, default=None, help="schemathesis examples per fuzz test")
    g.addoption("--rec-known-deviations", default=None, metavar="FILE",
                help="TOML of ticketed deviations: reported apart, they do not fail the run")
    for name, kind, default, help_ in [
        ("rec_target", "string", "", "default of --rec-target"),
        ("rec_depth", "string", "", "default of --rec-depth"),
        ("rec_strict", "bool", False, "default of --rec-strict"),
        ("rec_job_timeout", "string", "", "default of --rec-job-timeout"),
        ("rec_journal", "string", "", "default of --rec-journal"),
        ("rec_report_dir", "string", "", "default of --rec-report-dir"),
    ]:
        parser.addini(name, help_, type=kind, default=default)


def _options(config: pytest.Config) -> Options:
    def pick(opt: str, ini: str, env: str | None = None, default=None):
        value = config.getoption(opt)
        if value not in (None, [], ""):
            return value
        if env and os.environ.get(env):
            return os.environ[env]
        ini_value = config.getini(ini) if ini else None
        if ini_value not in (None, "", False):
            return ini_value
        return default

    sim_options = {}
    for item in config.getoption("--rec-sim-option") or []:
        if "=" not in item:
            raise pytest.UsageError(f"--rec-sim-option {item!r}: expected KEY=VALUE")
        k, v = item.split("=", 1)
        sim_options[k.strip()] = v.strip()
    depth = pick("--rec-depth", "rec_depth", default="full")
    if depth not in DEPTHS:
        raise pytest.UsageError(f"rec_depth {depth!r}: one of {', '.join(DEPTHS)}")
    report_dir = pick("--rec-report-dir", "rec_report_dir", default="reports")
    return Options(
        target=pick("--rec-target", "rec_target", "REC_TARGET", "sim"),
        depth=depth,
        strict=bool(pick("--rec-strict", "rec_strict", default=False)),
        dry_run=bool(config.getoption("--rec-dry-run")),
        sim_defects=tuple(config.getoption("--rec-sim-defect") or ()),
        sim_options=sim_options,
        job_timeout=float(pick("--rec-job-timeout", "rec_job_timeout", default=120.0)),
        journal=pick("--rec-journal", "rec_journal", default=str(Path(report_dir) / "restore-journal.json")),
        report_dir=report_dir,
        pairwise_seed=int(pick("--rec-pairwise-seed", "", default=20261127)),
        fuzz_examples=config.getoption("--rec-fuzz-examples"),
        known_deviations=config.getoption("--rec-known-deviations"),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "rec(*requirement_ids): the requirement IDs of CONTRACT section 2 this test checks")
    config.addinivalue_line("markers", "rec_strict_only: collected only with --rec-strict")
    config.addinivalue_line("markers", "rec_lenient_only: collected only without --rec-strict")
    config.stash[ACTIVE] = False
    config._rec_started_ts = time.time()  # type: ignore[attr-defined]
    try:
        config.stash[OPTIONS] = _options(config)
    except pytest.UsageError:
        raise
    if config.stash[OPTIONS].known_deviations:
        from .known import KnownDeviationsError, load_known

        try:
            config.stash[KNOWN] = load_known(config.stash[OPTIONS].known_deviations)
        except KnownDeviationsError as exc:
            raise pytest.UsageError(f"--rec-known-deviations: {exc}") from None
    if config.stash[OPTIONS].sim_defects:
        from .simulator.defects import resolve

        try:
            resolve(config.stash[OPTIONS].sim_defects)
        except ValueError as exc:
            raise pytest.UsageError(f"--rec-sim-defect: {exc}") from None


def _worker(config: pytest.Config) -> tuple[int, int]:
    """(index, count) of this xdist worker; (0, 1) in the controller or without xdist. Read from the
    worker's own config, not the environment, so a run nested inside an xdist worker is not fooled."""
    info = getattr(config, "workerinput", None)
    if not info:
        return 0, 1
    wid = str(info.get("workerid", "gw0"))
    index = int(wid[2:]) if wid.startswith("gw") and wid[2:].isdigit() else 0
    return index, int(info.get("workercount", 1) or 1)


def _group_count(config: pytest.Config) -> int:
    n = getattr(config.option, "numprocesses", None) or 0
    try:
        return max(1, int(n))
    except (TypeError, ValueError):
        return 1


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rec_case" not in metafunc.fixturenames:
        return
    opts = metafunc.config.stash[OPTIONS]
    ordered = order(cases_for(opts.depth, opts.pairwise_seed))
    params = []
    for k, run in enumerate(chunk(ordered, _group_count(metafunc.config))):
        for case in run:
            marks = [pytest.mark.rec(*case.expectation.requirements), pytest.mark.xdist_group(f"rec-writable-{k}")]
            params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("rec_case", params)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    strict = config.stash[OPTIONS].strict
    drop = [i for i in items if i.get_closest_marker("rec_lenient_only" if strict else "rec_strict_only")]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in drop]
    rec_items = [i for i in items if i.get_closest_marker("rec") is not None]
    if not rec_items:
        return
    config.stash[ACTIVE] = True
    opts = config.stash[OPTIONS]
    if opts.target != "sim":
        try:
            load_target(opts.target)          # fail before anything is sent, naming file and key
        except TargetFileError as exc:
            pytest.exit(f"pytest-rec: target file error: {exc}", returncode=2)
    for item in rec_items:    # every check outside the matrix runs on one worker: shared sessions stay in one hand
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("rec-shared"))
    opts = config.stash[OPTIONS]
    if opts.dry_run:
        for item in rec_items:
            item.add_marker(pytest.mark.skip(reason="dry run (--rec-dry-run): nothing sent to the target"))
        from .plan import plan_lines

        if opts.target == "sim":
            from .simulator.inventory import load_inventory

            writable = list(load_inventory().target["sessions"]["writable"])
        else:
            writable = load_target(opts.target).writable
        config.stash[PLAN] = plan_lines(cases_for(opts.depth, opts.pairwise_seed), writable, _group_count(config))


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def rec_options(pytestconfig: pytest.Config) -> Options:
    """The run's pytest-rec options, normalised once (CLI, then REC_TARGET, then ini)."""
    return pytestconfig.stash[OPTIONS]


@pytest.fixture(scope="session")
def rec_simulator(rec_options: Options, tmp_path_factory: pytest.TempPathFactory):
    """The built-in simulator (one per xdist worker), or None when the target is a file."""
    if rec_options.target != "sim":
        yield None
        return
    from .simulator import Array, Settings, SimulatorServer, load_inventory

    try:
        settings = Settings.from_options(rec_options.sim_options, defects=rec_options.sim_defects)
    except ValueError as exc:
        raise pytest.UsageError(f"--rec-sim-option: {exc}") from None
    inventory = load_inventory(rec_options.sim_options.get("inventory") or None) \
        if "inventory" in rec_options.sim_options else load_inventory()
    for user in inventory.users.values():      # fresh secrets each run, so reports can be searched for them
        user.password = "pw-" + secrets.token_urlsafe(12)
    server = SimulatorServer(Array(inventory, settings), tls=True,
                             cert_dir=tmp_path_factory.mktemp("rec-sim-tls"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rec_target(rec_options: Options, rec_simulator) -> Target:
    """The resolved target: the built-in simulator's ready target, or the target file."""
    if rec_simulator is not None:
        inv = rec_simulator.array.inventory
        data = {"url": rec_simulator.base_url, "verify": str(rec_simulator.ca_path),
                "users": {k: {"name": inv.users[k].name, "password_env": f"REC_SIM_{k.upper()}_PASSWORD"}
                          for k in ("admin", "tenant", "other") if k in inv.users},
                "sessions": dict(inv.target["sessions"]), "array": dict(inv.target.get("array", {})),
                "capabilities": dict(inv.target.get("capabilities", {}))}
        target = parse_target(data, "built-in simulator", kind="sim")
        # the simulator shows a suspend or resume within its own configured lag: no need to wait the
        # two minutes a real array may take before calling it a failure (DECISIONS 16)
        st = rec_simulator.array.settings
        target.profile.suspend_timeout = (10.0 + st.suspend_lag + st.copy_time + 4 * st.job_latency + 20 * st.latency
                                          + (30.0 if st.busy_every or st.busy_rate or st.drop_every else 0.0))
        return target
    try:
        return load_target(rec_options.target)
    except TargetFileError as exc:
        pytest.exit(f"pytest-rec: target file error: {exc}", returncode=2)


@pytest.fixture(scope="session")
def rec_credentials(rec_target: Target, rec_simulator) -> dict[str, Credentials]:
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
        SECRETS.add(password)
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
    client = RecClient(target.url, creds, verify=target.verify, guard=guard, transcript=transcript, waiter=waiter)
    try:
        client.login()
    except TargetError as exc:
        client.http.close()
        pytest.exit(f"pytest-rec: cannot log in to {target.url} as {creds.key}: {exc}", returncode=2)
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
    client = PlainClient(rec_target.url, rec_target.verify, rec_guard, rec_transcript)
    yield client
    client.close()


@pytest.fixture(scope="session")
def rec_ctx(pytestconfig, rec_options, rec_target, rec_simulator, rec_admin, rec_tenant, rec_plain, rec_transcript):
    """The run's context: preflight done, restore journal written, restore at the end."""
    problems = preflight(rec_target, rec_admin, rec_tenant)
    if problems:
        pytest.exit("pytest-rec: the target file does not match the array; nothing was changed:\n  - "
                    + "\n  - ".join(problems), returncode=2)
    index, count = _worker(pytestconfig)
    mine = rec_target.writable[index::count] if count > 1 else list(rec_target.writable)
    journal_path = Path(rec_options.journal)
    if count > 1:
        journal_path = journal_path.with_name(f"{journal_path.stem}.gw{index}{journal_path.suffix}")
    if journal_path.exists() and rec_target.kind != "sim":
        try:
            left = [sid for sid, v in Journal.load(journal_path).get("sessions", {}).items() if not v.get("restored")]
        except (OSError, ValueError):
            left = []
        if left:
            pytest.exit(f"pytest-rec: {journal_path} says sessions {', '.join(left)} were never put back by an earlier "
                        f"run; run `rec-restore {journal_path}` first (nothing was changed)", returncode=2)
    journal = Journal(journal_path, rec_target)
    for sid in mine:          # tenant sessions are journaled by ensure_suspended, before their first write
        journal.record(sid, rec_admin.get_copysession(sid))
    op = Operator(rec_target, rec_admin, rec_options.job_timeout)
    ctx = RecContext(rec_options, rec_target, rec_admin, rec_tenant, None, rec_plain, rec_transcript,
                     journal, op, None, simulator=rec_simulator)  # type: ignore[arg-type]
    ctx.pool = SessionPool(ctx, mine)
    pytestconfig.stash[CTX] = ctx
    if count > 1 and not mine:
        sys.stderr.write(f"pytest-rec: worker gw{index} has no writable session ({len(rec_target.writable)} "
                         f"sessions for {count} workers); its matrix cases will error\n")
    yield ctx
    _restore(pytestconfig)


def _restore(config: pytest.Config) -> None:
    ctx = config.stash.get(CTX, None)
    if ctx is None or getattr(ctx, "_restored", False):
        return
    ctx._restored = True  # type: ignore[attr-defined]
    try:
        ctx.restore_all()                 # the journal records each session's outcome for the report
    except TargetError as exc:
        sys.stderr.write(f"\n*** pytest-rec: {exc}\n")


@pytest.fixture
def rec_case_session(rec_ctx, rec_case):
    """A writable REC session, suspended, in the case's starting state (verified by GET)."""
    sid, before = rec_ctx.pool.acquire(rec_case.start)
    return sid, before


# --------------------------------------------------------------------------- Allure
@pytest.fixture(autouse=True)
def _rec_allure(request: pytest.FixtureRequest):
    """For checks of the suite only: Allure labels from the catalogue, a readable title, the
    case's parameters, a link to the reference page, and one step per HTTP exchange."""
    marker = request.node.get_closest_marker("rec")
    if marker is None or not request.config.pluginmanager.hasplugin("allure_pytest"):
        yield
        return
    from .allure_steps import label_case, step_listener

    transcript = request.getfixturevalue("rec_transcript")
    label_case(request.node, list(marker.args))
    listener = step_listener()
    transcript.listeners.append(listener)
    try:
        yield
    finally:
        transcript.listeners.remove(listener)


# --------------------------------------------------------------------------- outcomes
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    rep = yield
    marker = item.get_closest_marker("rec")
    if marker is None:
        return rep
    info = item.stash.get(CASE_INFO, None)
    if info is None:
        info = {"id": _case_id(item), "nodeid": item.nodeid, "requirements": list(marker.args),
                "outcome": "passed", "failed_rules": [], "detail": ""}
        item.stash[CASE_INFO] = info
    if rep.skipped and call.when in ("setup", "call"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        info.update(outcome="skipped", detail=reason)
    elif rep.failed:
        exc = call.excinfo.value if call.excinfo else None
        if isinstance(exc, Deviation):
            info.update(outcome="failed", failed_rules=list(exc.rules), detail=str(exc))
            hits = _known_hits(item.config, exc.rules, info["id"])
            if hits:
                tickets = ", ".join(sorted({h.ticket for h in hits}))
                info.update(outcome="known-deviation", tickets=sorted({h.ticket for h in hits}),
                            detail=f"known deviation ({tickets}): {exc}")
                rep.outcome = "skipped"
                rep.wasxfail = f"known deviation {tickets}"
        elif isinstance(exc, AssertionError) and call.when == "call":
            info.update(outcome="failed", failed_rules=list(marker.args), detail=str(exc)[:2000])
        else:
            kind = type(exc).__name__ if exc else "error"
            info.update(outcome="error", detail=f"{kind}: {str(exc)[:2000]}" if exc else str(rep.longrepr)[:2000])
            _note_unreachable(item.config, exc)
    elif rep.passed and call.when == "call" and info["outcome"] == "passed":
        fixed = _known_hits(item.config, list(marker.args), info["id"], any_rule=True)
        if fixed:
            info["fixed_tickets"] = sorted({h.ticket for h in fixed})
        obs = item.stash.get(OBSERVED, None)
        if obs:
            info["detail"] = obs
    if call.when == "teardown":
        rep.user_properties.append(("rec_case", json.dumps(info)))
    return rep


def _known_hits(config: pytest.Config, rules, case_id: str, any_rule: bool = False):
    known = config.stash.get(KNOWN, [])
    if not known:
        return []
    from .known import match

    firmware = _firmware(config)
    if any_rule:
        return [k for k in known for r in rules if k.applies(r, case_id, firmware)]
    return match(known, rules, case_id, firmware)


def _firmware(config: pytest.Config) -> str | None:
    opts = config.stash[OPTIONS]
    if opts.target == "sim":
        from .simulator.inventory import load_inventory

        return load_inventory().target.get("array", {}).get("firmware")
    try:
        return load_target(opts.target).array.get("firmware")
    except TargetFileError:
        return None


OBSERVED = pytest.StashKey[str]()
UNREACHABLE = pytest.StashKey[list]()
_CONNECTION_WORDS = ("ConnectError", "ConnectTimeout", "ReadTimeout", "RemoteProtocolError", "ReadError")


def _note_unreachable(config: pytest.Config, exc: BaseException | None) -> None:
    """Count consecutive connection failures; after three, the rest of the run is not tried."""
    seen = config.stash.setdefault(UNREACHABLE, [])
    if isinstance(exc, TargetError) and any(w in str(exc) for w in _CONNECTION_WORDS):
        seen.append(str(exc))
    else:
        seen.clear()


def pytest_runtest_setup(item: pytest.Item) -> None:
    seen = item.config.stash.get(UNREACHABLE, [])
    if item.get_closest_marker("rec") is not None and len(seen) >= 3:
        raise TargetError(f"not tried: the target stopped answering ({seen[-1][:300]})")


def _case_id(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    base = item.originalname if hasattr(item, "originalname") else item.name
    return f"{base}[{callspec.id}]" if callspec else base


@pytest.fixture
def rec_observe(request: pytest.FixtureRequest):
    """Record what the array did in a check that is recorded, not judged (REC-UNSPECIFIED)."""
    def observe(text: str) -> None:
        request.node.stash[OBSERVED] = text
    return observe


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == "rec_case":
            config = _CONFIG.get("config")
            if config is not None:
                config.stash.setdefault(CASES, []).append(json.loads(value))


CASES = pytest.StashKey[list]()
_CONFIG: dict = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG["config"] = session.config


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    _restore(config)            # after Ctrl-C too; a no-op when the context's teardown already ran
    ctx = config.stash.get(CTX, None)
    if ctx is not None:
        index, count = _worker(config)
        name = "transcript.jsonl" if count == 1 else f"transcript.gw{index}.jsonl"
        write_transcript(Path(ctx.options.report_dir) / name, ctx.transcript)
    if getattr(config, "workerinput", None):
        return                      # the controller writes the reports from every worker's results
    if not config.stash.get(ACTIVE, False) and not config.stash.get(CASES, None):
        return
    from .report import write_reports

    write_reports(config, config.stash.get(CASES, []), exitstatus)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for plan_line in config.stash.get(PLAN, []):
        terminalreporter.write_line(plan_line)
    line = config.stash.get(VERDICT_LINE, None)
    if line:
        for extra in config.stash.get(SUMMARY_LINES, []):
            terminalreporter.write_line(extra)
        terminalreporter.write_line(line, bold=True)


VERDICT_LINE = pytest.StashKey[str]()
PLAN = pytest.StashKey[list]()
SUMMARY_LINES = pytest.StashKey[list]()
