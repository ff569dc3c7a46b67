"""The seed page's sign-off lines and the basis table of the compliance summary (CONTRACT section 2):
the page's own words apart from the contract's readings of it, each rule's basis and the refusals it
accepts in this run, and the target profile values in force. Data in, data and Markdown out."""

from __future__ import annotations

import json
from dataclasses import asdict, is_dataclass
from typing import Any, Callable

__all__ = ["signoff", "profile_values", "signoff_lines", "basis_table"]

_VERDICT = {"compliant": "pass", "non-compliant": "fail"}


def profile_values(profile: Any) -> dict:
    """A target profile (``target.Profile``) as plain JSON values (tuples as lists)."""
    if profile is None:
        return {}
    data = asdict(profile) if is_dataclass(profile) else dict(profile)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


def signoff(rows: list[dict], cases: list[dict], meta: dict, catalogue: list[dict],
            overall: Callable[..., tuple[str, str]]) -> dict:
    """Two sign-off lines over the seed rules: ``words`` (the page's own words) and ``readings``
    (the contract's readings of the page), each with the rules it covers, its verdict and why; and
    ``basis``: per rule, its basis, words or reading, the sentence of the page, and the refusals it
    accepts under this run's strictness; and ``profile``: the target profile values in force."""
    kind = {r["id"]: r.get("page") for r in catalogue}
    out: dict[str, Any] = {}
    for key, want in (("words", "words"), ("readings", "reading")):
        ids = [r["id"] for r in rows if r["basis"] == "seed" and kind.get(r["id"]) == want]
        verdict, why = overall([r for r in rows if r["id"] in ids], cases, meta)
        out[key] = {"requirements": ids, "verdict": _VERDICT.get(verdict, "inconclusive"), "reason": why}
    strict = bool(meta.get("strict"))
    out["basis"] = [{"id": r["id"], "basis": r["basis"], **({"page": r["page"]} if r.get("page") else {}),
                     **({"page_says": r["page_says"]} if r.get("page_says") else {}),
                     **({"reading": r["reading"]} if r.get("reading") else {}),
                     **({} if r.get("page_says") else {"source": r.get("source", "")}),
                     "refusals_accepted": [str(f) for f in (r.get("refusal") or {}).get(
                         "strict" if strict else "lenient", [])]}
                    for r in catalogue]
    out["profile"] = meta.get("profile") or {}
    out["set_aside"] = list(meta.get("set_aside") or [])
    return out


def signoff_lines(summary: dict) -> list[str]:
    """The two sign-off lines (Markdown): the page's own words, and the contract's readings of it."""
    s = summary.get("signoff")
    if not s:
        return []
    w, rd = s["words"], s["readings"]
    return [f"Sign-off, the page's own words ({', '.join(w['requirements'])}): **{w['verdict']}** — {w['reason']}.", "",
            f"Sign-off, the contract's readings of the page ({', '.join(rd['requirements'])}): **{rd['verdict']}** — "
            f"{rd['reason']}.", ""]


def basis_table(summary: dict) -> list[str]:
    """The Markdown lines of the basis table (with the refusals each rule accepts) and the profile values."""
    s = summary.get("signoff")
    if not s:
        return []
    how = ("--rec-strict: the strict code only" if summary.get("strict") else
           "lenient: any form listed; job-error = 202, then the job ends Error")
    body = ["", "## Basis of each rule, and the refusals it accepts", "",
            f"Refusals as this run accepts them ({how}). page: **words** = the page's own words, **reading** = "
            "the contract's reading of the page (CONTRACT section 2, *(reading)*).",
            "", "| ID | basis | page | refusals accepted | rests on |", "|---|---|---|---|---|"]
    for b in s["basis"]:
        rests = b.get("page_says", b.get("source", "")) + (f" — our reading: {b['reading']}" if b.get("reading") else "")
        body.append(f"| `{b['id']}` | {b['basis']} | {b.get('page', '')} | {', '.join(b['refusals_accepted']) or '—'} "
                    f"| {rests[:400].replace('|', '/')} |")
    prof = s.get("profile") or {}
    body += ["", "## Target profile values in force (the assumptions of CONTRACT section 1; [profile] of a "
             "target file overrides them)", ""]
    if not prof:
        body.append("Not recorded (the run stopped before it read its target).")
    else:
        body += ["| key | value |", "|---|---|"]
        body += [f"| {k} | `{json.dumps(v)}` |" if "|" not in json.dumps(v) else
                 f"| {k} | {json.dumps(v).replace('|', chr(92) + '|')} |" for k, v in prof.items()]
    if s.get("set_aside"):
        body += ["", "Writable sessions set aside (never written by this run):", ""]
        body += [f"- {why}" for why in s["set_aside"]]
    return body


def run_profile(target, target_option: str) -> dict:
    """The target profile values in force, for the summary: the run's target's, else the target file's
    (the built-in simulator: the defaults); {} when the file cannot be read (the summary is still written)."""
    from ..model.target import Profile, load_target

    if target is not None:
        return profile_values(target.profile)
    try:
        return profile_values(Profile() if target_option == "sim" else load_target(target_option).profile)
    except Exception:  # noqa: BLE001 - the summary must still be written
        return {}
