"""The verdict's words where a run did not simply pass or fail: why a run stopped before it judged
anything, in a few words (the last line a CI log shows), the "no new deviations" line that names
each known deviation's ticket (compliance.md, the HTML front page), the console's deviation lines, and
compliance.md's walk seed and its section linking each deviation to its reproducer."""

from __future__ import annotations

import re

__all__ = ["deviation_lines", "deviation_md", "message_for", "known_line", "stop_cause", "reproducer_lines", "walk_line"]


def known_line(summary: dict) -> str:
    """Where every deviation of the run is a known (ticketed) one: "no new deviations" and each ticket
    with its requirement, case count and reason, as compliance.md and the HTML front page say it; else ""."""
    known = [c for c in summary.get("cases", []) if c.get("outcome") == "known-deviation"]
    if not known or any(c.get("outcome") == "failed" for c in summary.get("cases", [])):
        return ""
    tickets: dict[str, dict] = {}
    for c in known:
        for t in c.get("tickets", []):
            entry = tickets.setdefault(t, {"reqs": set(), "cases": 0, "reason": ""})
            entry["reqs"].update(c.get("failed_requirements") or [])
            entry["cases"] += 1
            entry["reason"] = entry["reason"] or (c.get("known_reasons") or {}).get(t, "")
    return "No new deviations: every deviation is a known one: " + "; ".join(
        f"{t} ({', '.join(sorted(e['reqs']))}, {e['cases']} case(s))" + (f": {e['reason']}" if e["reason"] else "")
        for t, e in sorted(tickets.items()))


_CAUSES = [   # (pattern in the reason the suite stopped, the cause in a few words: "{0}" is the user key)
    (r"cannot log in to \S+ as (\w+): .*answered 40[13]", "cannot log in as {0}: wrong user name or password"),
    (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL", "TLS: the array's certificate is not trusted (verify)"),
    (r"cannot log in to \S+ as (\w+): .*(ConnectError|ConnectTimeout|refused|timed out)",
     "cannot connect to the target (url, port)"),
    (r"target file error|TargetFileError", "target file error"),
    (r"environment variable|password_env", "a password variable is not set"),
    (r"does not match the array", "the target file does not match the array"),
    (r"did not put every session back", "an earlier run's journal is pending (rec-restore)"),
    (r"in progress", "another run against the target is in progress"),
    (r"cannot log in", "cannot log in"),
]


def stop_cause(summary: dict) -> str:
    """Why a run stopped before it judged anything, in a few words (the verdict line's), or ""."""
    if summary.get("interrupted") and not summary.get("cases"):
        return f"interrupted before any check ran: {summary['interrupted']}"
    if summary.get("interrupted"):
        return f"interrupted: {summary['interrupted']}"
    stopped = summary.get("stopped") or ""
    if not stopped or summary.get("cases"):
        return ""
    for pattern, words in _CAUSES:
        m = re.search(pattern, stopped)
        if m:
            return words.format(*m.groups())
    return re.split(r"[:;(]", stopped.removeprefix("pytest-rec: "), maxsplit=1)[0].strip()[:80]


def deviation_lines(groups: list[dict], width: int) -> list[str]:
    """One distinct deviation per entry, whole: wrapped to the terminal, never cut; a message of several lines
    (a walk's shrunk sequence, one step a line) keeps its lines, as one block."""
    import textwrap

    out = []
    for g in groups:
        text = f"{g['requirement']}: {g['count']} case(s), e.g. {g['example']}: {g['message']}"
        for k, line in enumerate(text.split("\n")):
            out += textwrap.wrap(line, width=max(60, width - 1), initial_indent="  " if k == 0 else "    ",
                                 subsequent_indent="      ", break_long_words=False,
                                 break_on_hyphens=False) or ["  " + line]
    return out


def message_for(detail: str, rid: str) -> str:
    """The part of a case's detail that is about one requirement (``[REC-X] ...; [REC-Y] ...``): the
    segments of its first line tagged with it (a segment ends at "; " before the next tag; a tag inside a
    segment, such as the one a walk's own message quotes, stays in it), then the detail's further lines
    whole (a walk's shrunk sequence, its reproducer)."""
    first, _, rest = detail.strip().partition("\n")
    parts = re.split(r"(?:^|;\s+)(?=\[REC-[A-Z0-9-]+(?:, REC-[A-Z0-9-]+)*\] )", first)
    mine = [p.split("] ", 1)[-1].strip().rstrip(";") for p in parts
            if p.startswith("[") and rid in p.split("]", 1)[0]]
    head = "; ".join(m for m in mine if m) if mine else first.strip()
    return head + ("\n" + rest.rstrip() if rest.strip() else "")


def deviation_md(groups: list[dict]) -> list[str]:
    """compliance.md's Deviations: one entry per distinct deviation, whole; a message of several lines (a walk's
    shrunk sequence, its reproducer) as an indented block under its entry."""
    lines = []
    for g in groups:
        head, _, rest = g["message"].partition("\n")
        head = head if len(head) <= 1200 else head[:1200] + " … (whole in compliance.json)"
        lines.append(f"- **{g['requirement']}**: {g['count']} case(s), e.g. `{g['example']}` — {head}")
        if rest.strip():
            lines += ["", "  ```text"] + [f"  {line}" for line in rest.rstrip().splitlines()] + ["  ```", ""]
    return lines


def reproducer_lines(summary: dict) -> str:
    """compliance.md's section linking each deviation to its reproducer."""
    found = summary.get("reproducers") or {}
    if not found:
        return ""
    lines = ["", "## Reproducers", "",
             "Each deviation as a POSIX sh + curl script for a vendor ticket: `sh FILE [URL]` (passwords from the "
             "environment variables the target file names; exit 1: the deviation shows, 0: the array behaves, "
             "2: cannot tell; every session put back).", ""]
    lines += [f"- [`{path}`]({path}): `{case_id}`" for case_id, path in sorted(found.items(), key=lambda kv: kv[1])]
    return "\n".join(lines) + "\n"


def walk_line(summary: dict) -> str:
    walk = summary.get("walk") or {}
    if not walk.get("steps"):
        return f"off (seed {walk.get('seed', 'not recorded')})"
    return f"{walk.get('seed')} / {walk.get('steps')}"
