"""What every part of the simulated array answers with: a ``Reply``, the reference's error body
(fact sheet 2) and the value tables of the call under test."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

TRANSFER_MODES = ("Synchronous", "Stack", "Consistency")
SPLIT_MODES = ("Automatic", "Manual")
RECOVERY_MODES = ("Automatic", "Manual")
PATCH_FIELDS = {"transfer_mode": TRANSFER_MODES, "split_mode": SPLIT_MODES,
                "recovery_mode": RECOVERY_MODES}
FINAL_JOB_STATES = ("Success", "Error", "Partial_Error", "Canceled")

# error_code (4 digits), description
ERRORS = {
    400: ("0400", "Invalid request parameter"),
    401: ("0401", "Authentication failed"),
    403: ("0403", "The user does not have permission for this operation"),
    404: ("0404", "The specified resource does not exist"),
    405: ("0405", "The method is not allowed for this resource"),
    409: ("0409", "The operation conflicts with the state of the resource"),
    413: ("0413", "The request is too large"),
    415: ("0415", "The Content-Type must be application/json"),
    500: ("0500", "Internal error"),
    503: ("0503", "The storage system is busy"),
}

# what a client sees as ``error_code`` (unless ``status_error_codes``): a fixed 4-character message number
# per kind of error, as ETERNUS CLI reports them (fact sheet 2), never the HTTP status copied; the numbers
# are the simulator's own (the real table is in the CLI User's Guide, Appendix A)
MESSAGE_NUMBERS = {"0400": "0019", "0401": "0061", "0403": "0087", "0404": "0110", "0405": "0012",
                   "0409": "0184", "0413": "0047", "0415": "0048", "0500": "0099", "0503": "0125"}


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, factor: str, internal: str | None = None, headers=None) -> Reply:
    code, text = ERRORS[status]
    return Reply(status, {"error_code": code, "message": f"{text} ({factor})",
                          "internal_code": internal or f"0x{status:04x}{len(factor):02x}"},
                 headers or {})


def now_wall() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
