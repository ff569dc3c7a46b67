"""The run's metadata for the summary: the target as the report names it, who ran it where (provenance),
the array's TLS fingerprint, the restore's late changes as case records. No request to the array but the
TLS handshake that reads its certificate."""

from __future__ import annotations

from pathlib import Path

from ..model.target import load_target
from ._state import RecRun

__all__ = ["target_meta", "late_change_cases", "active_named", "provenance", "note_tls_fingerprint", "git_commit"]


def target_meta(run: RecRun) -> dict:
    options, target = run.options, (run.ctx.target if run.ctx else None)
    if target is None:
        if options.target == "sim":
            from ..simulator.inventory import load_inventory

            arr = load_inventory().target.get("array", {})
            return {"url": "built-in simulator (loopback, per worker)", "kind": "sim", **arr}
        try:
            target = load_target(options.target)
        except Exception:  # noqa: BLE001 - the summary must still be written
            return {"url": str(options.target), "kind": "array", "model": "unknown", "firmware": "unknown"}
    return {"url": target.url, "kind": target.kind, "model": target.array.get("model", "unknown"),
            "serial": target.array.get("serial", "unknown"), "firmware": target.array.get("firmware", "unknown")}


def late_change_cases(status: dict) -> list[dict]:
    """A case record per change the restore's last reads found (``restore.late_read``): REC-ACCEPT for one
    applied after its job ended, REC-ISOLATION for one that showed once the other lanes had ended."""
    cases = []
    for late in status.get("late_changes", []):
        rule = late.get("rule", "REC-ACCEPT")
        tail = " after every lane had ended" if rule == "REC-ISOLATION" else ""
        cases.append({"id": f"restore: last read of session {late['session']}{tail}", "nodeid": "",
                      "requirements": [rule], "outcome": "failed", "failed_requirements": [rule],
                      "detail": f"[{rule}] {late['detail']}"})
    return cases


def active_named(run: RecRun) -> int:
    """How many sessions the target names under ``sessions.active``."""
    if run.ctx is not None:
        return len(run.ctx.target.active)
    try:
        if run.options.target == "sim":
            from ..simulator.inventory import load_inventory

            return len(load_inventory().target["sessions"].get("active", []))
        return len(load_target(run.options.target).active)
    except Exception:  # noqa: BLE001 - the summary must still be written
        return 0


def provenance(run: RecRun) -> dict:
    """Who ran it where, and what it ran against: for a report a buyer signs (no secret in it)."""
    import getpass
    import hashlib
    import os
    import socket

    out: dict = {"host": socket.gethostname()}
    try:
        out["operator"] = os.environ.get("REC_OPERATOR") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name is not a reason to lose the summary
        out["operator"] = "unknown"
    opts = run.options
    if opts.target != "sim" and Path(opts.target).is_file():
        out["target_file"] = str(opts.target)
        out["target_file_sha256"] = hashlib.sha256(Path(opts.target).read_bytes()).hexdigest()
    if run.tls_fingerprint:
        out["tls_certificate_sha256"] = run.tls_fingerprint
    transcripts = sorted(Path(opts.report_dir).glob("transcript*.jsonl"))
    if transcripts:
        digest = hashlib.sha256()
        for t in transcripts:
            digest.update(t.read_bytes())
        out["transcript_sha256"] = digest.hexdigest()
    return out


def note_tls_fingerprint(run: RecRun) -> None:
    """Read the array's certificate once, while the run talks to it (for the report)."""
    url = run.ctx.target.url if run.ctx else ""
    if run.tls_fingerprint is None and url.startswith("https://"):
        run.tls_fingerprint = _tls_fingerprint(url)


def _tls_fingerprint(url: str) -> str:
    """SHA-256 of the array's TLS certificate (DER), as presented now."""
    import hashlib
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        pem = ssl.get_server_certificate((parts.hostname, parts.port or 443), timeout=10)
    except (OSError, ValueError) as exc:
        return f"not read ({type(exc).__name__})"
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def git_commit() -> str:
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"

