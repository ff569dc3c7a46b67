"""``rec-sim``: start the simulated array and print how to point the suite at it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .array import Array
from .settings import Settings
from .defects import DEFECTS
from .inventory import load_inventory
from .server import SimulatorServer


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rec-sim", description="Simulated ETERNUS AF/DX REST API for pytest-rec.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5665)
    p.add_argument("--tls", action="store_true", help="serve HTTPS with a certificate made at start (trustme)")
    p.add_argument("--job-latency", type=float, default=None, metavar="S")
    p.add_argument("--token-lifetime", type=int, default=None, metavar="S")
    p.add_argument("--inventory", metavar="FILE", help="inventory TOML (default: the built-in one)")
    p.add_argument("--refusals", choices=["immediate", "job"], default=None,
                   help="state-dependent refusals as an immediate 4xx or as 202 then job Error")
    p.add_argument("--fault", "--option", dest="fault", action="append", default=[], metavar="KEY[=VALUE]",
                   help="any simulator setting (repeatable; a bare KEY means true): faults such as busy_every=5, "
                        "latency=0.1, copy_path_down=all, hung_jobs, hung_jobs_user=qa_admin, drop_every=7, "
                        "suspend_lag=0.5; realism such as page_size=5, read_lag=2, hex_error_codes, odd_neighbours, "
                        "stack_equivalent, one_job_per_session, writable_sessions=3, inventory=FILE. "
                        "Every key: " + ", ".join(k for k in Settings.__dataclass_fields__ if k != "defects"))
    p.add_argument("--defect", action="append", default=[], metavar="NAME", help="defect profile (repeatable)")
    p.add_argument("--list-defects", action="store_true", help="list the defect profiles and exit")
    p.add_argument("--target-out", metavar="FILE", help="also write the ready target file here")
    p.add_argument("--ca", metavar="DIR", help="with --tls: keep the CA in DIR (ca.pem, ca.key; made there on first "
                   "use) and sign each start's certificate with it, so a target file's verify = \"DIR/ca.pem\" "
                   "stays valid when the simulator is restarted, anywhere")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_defects:
        width = max(len(n) for n in DEFECTS)
        for d in DEFECTS.values():
            print(f"{d.name:<{width}}  {', '.join(sorted(d.breaks)):<34}  {d.description}")
        return 0
    options = dict(f.split("=", 1) if "=" in f else (f, "true") for f in args.fault)
    for key in ("job_latency", "token_lifetime", "refusals"):      # the flags win over --fault KEY=VALUE
        if getattr(args, key) is not None:
            options[key] = str(getattr(args, key))
    try:
        settings = Settings.from_options(options, defects=args.defect)
        inventory = load_inventory(args.inventory or settings.inventory or None)
    except ValueError as exc:
        print(f"rec-sim: {exc}", file=sys.stderr)
        return 2
    # beside the target file and named after it: two simulators writing target files to one folder
    # keep a CA each (a shared folder let the second overwrite the first's CA)
    cert_dir = Path(args.target_out).with_name(Path(args.target_out).stem + "-tls") if args.target_out else None
    if args.ca and not args.tls:
        print("rec-sim: --ca needs --tls (the CA signs the HTTPS certificate)", file=sys.stderr)
        return 2
    server = SimulatorServer(Array(inventory, settings), args.host, args.port, args.tls, cert_dir=cert_dir,
                             ca_dir=Path(args.ca).resolve() if args.ca else None)
    try:
        server.start()
    except OSError as exc:
        print(f"rec-sim: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    target = server.target_text()
    print(f"rec-sim: serving {server.base_url}/api/v1")
    if server.ca_path:
        print(f"rec-sim: CA certificate {server.ca_path}")
    changed = [f"{k}={getattr(settings, k)}" for k, f in Settings.__dataclass_fields__.items()
               if k != "defects" and getattr(settings, k) != f.default]
    if changed:
        print(f"rec-sim: settings: {', '.join(changed)}")
    if settings.defects:
        print(f"rec-sim: DEFECT PROFILES ON: {', '.join(sorted(settings.defects))}")
    print("rec-sim: users (name / password / tenant):")
    for u in server.array.inventory.users.values():
        print(f"  {u.name:<12} {u.password:<18} {'-' if u.tenant is None else u.tenant}")
    print("rec-sim: export these, then run: rec-compliance --rec-target <target file>")
    for env, pw in server.target_env().items():
        print(f"  export {env}='{pw}'")
    if args.target_out:
        Path(args.target_out).write_text(target, encoding="utf-8")
        print(f"rec-sim: target file written to {args.target_out}")
    else:
        print("rec-sim: target file:\n" + target)
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
