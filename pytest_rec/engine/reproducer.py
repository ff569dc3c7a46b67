"""Reproducers (issue 31): for every deviation of a walk or of the matrix, ``reports/reproducers/<REQ>-<n>.sh``,
a POSIX shell script with curl that a QA engineer can attach to a vendor ticket.

``sh FILE [URL]`` (the URL defaults to the run's target; TLS as the target file says, or ``REC_CACERT`` /
``REC_INSECURE=1``): it logs in with each password read from the environment variable the target file
names (no secret in the file, no token in its output), suspends an equivalent session (never forced) and
brings each session from whatever state it reads to the sequence's starting state, sends each PATCH,
printing each request and answer, and after each step says in one line what the rule expected and what the
array did; then it puts every session back as it found it. Exit 1: the deviation shows; 0: the array now
behaves; 2: it cannot tell. The expectations are the model's, computed when the file is written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..model.behaviour import REFUSALS, JOB_ERROR, Modes, expect

__all__ = ["write_walk", "write_matrix", "script", "matrix_case", "link_all", "clear"]

CASE = re.compile(r"^test_patch\[(\w+)/(\w+)/(\w+) \+ \{(.*)\}\]$")

_LIB = r'''
API="$URL/api/v1"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rec-repro.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
TLS=""
if [ -n "${REC_CACERT:-}" ]; then TLS="--cacert $REC_CACERT"
elif [ "${REC_INSECURE:-}" = 1 ] || [ "$VERIFY" = false ]; then TLS="-k"
elif [ "$VERIFY" != true ]; then TLS="--cacert $VERIFY"; fi
DEVIATED=0; UNSURE=0; LEFT=0

str() { sed -n "s/.*\"$1\" *: *\"\([^\"]*\)\".*/\1/p" "$2" | head -n 1; }
num() { sed -n "s/.*\"$1\" *: *\([0-9][0-9]*\).*/\1/p" "$2" | head -n 1; }

login() {  # login KEY USER PASSWORD_ENV: sets TOKEN_<KEY>; prints no secret
  eval "pw=\${$3:-}"
  if [ -z "$pw" ]; then echo "cannot tell: the environment variable $3 (password of $2) is not set"; exit 2; fi
  esc=$(printf '%s' "$pw" | sed 's/\\/\\\\/g; s/"/\\"/g')
  code=$(printf '{"user_name":"%s","password":"%s"}' "$2" "$esc" | curl -sS $TLS -o "$TMP/login" -w '%{http_code}' \
    -H 'Content-Type: application/json' --data-binary @- "$API/session")
  echo "> POST /session as $2: $code"
  if [ "$code" != 200 ] && [ "$code" != 201 ]; then echo "cannot tell: login of $2 answered $code"; exit 2; fi
  eval "TOKEN_$1=\$(str token \"\$TMP/login\")"
}

call() {  # call KEY METHOD PATH [BODY]: answer in $TMP/out, status in $CODE
  eval "tok=\$TOKEN_$1"
  if [ -n "${4:-}" ]; then
    CODE=$(printf '%s' "$4" | curl -sS $TLS -o "$TMP/out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $tok" \
      -H 'Content-Type: application/json' --data-binary @- "$API$3")
  else
    CODE=$(curl -sS $TLS -o "$TMP/out" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $tok" "$API$3")
  fi
  printf '> %s %s %s\n< %s %s\n' "$2" "$3" "${4:-}" "$CODE" "$(head -c 600 "$TMP/out")"
}

job() {  # job KEY: waits for the job of the last 202; its end status in $JOB (REC-RESPONSE: "NotFound" when
  id=$(num job_id "$TMP/out"); JOB=""   # its first answered read is 404)
  [ -n "$id" ] || return 0
  n=0; read1=0
  while [ $n -lt 600 ]; do
    eval "tok=\$TOKEN_$1"
    jc=$(curl -sS $TLS -o "$TMP/job" -w '%{http_code}' -H "Authorization: Bearer $tok" "$API/job/$id")
    if [ "$jc" = 404 ] && [ $read1 = 0 ] && [ "$REQ" = REC-RESPONSE ]; then echo "< job $id reads 404"; JOB=NotFound; return 0; fi
    [ "$jc" = 503 ] || read1=1
    JOB=$(str status "$TMP/job")
    case "$JOB" in Success|Error|Partial_Error|Canceled) echo "< job $id $JOB"; return 0;; esac
    sleep 0.2; n=$((n + 1))
  done
  echo "< job $id did not end"; JOB=Timeout
}

modes() {  # modes SID: sets T S R P
  call admin GET "/copysession/$1" >/dev/null
  T=$(str transfer_mode "$TMP/out"); S=$(str split_mode "$TMP/out"); R=$(str recovery_mode "$TMP/out")
  P=$(str phase "$TMP/out")
}

shown() {  # shown SID: the fields of the array's last answer to GET /copysession/SID that the rule judges
  echo "< GET /copysession/$1: $CODE, \"transfer_mode\": \"$T\", \"split_mode\": \"$S\", \"recovery_mode\": \"$R\", \"phase\": \"$P\""
}

settle() {  # settle SID T/S/R: re-reads up to 10 s until the session shows it
  n=0
  while :; do modes "$1"; [ "$T/$S/$R" = "$2" ] && return 0; [ $n -ge 50 ] && return 1; sleep 0.2; n=$((n + 1)); done
}

change() {  # change SID BODY: an admin change, its job waited for
  call admin PATCH "/copysession/$1" "$2"; [ "$CODE" = 202 ] && job admin
}

direct() {  # direct SID T S R: Synchronous with the split and recovery (Manual split for an asynchronous T), then T
  if [ "$2" = Synchronous ]; then
    change "$1" "{\"transfer_mode\": \"Synchronous\", \"split_mode\": \"$3\", \"recovery_mode\": \"$4\"}"
  else
    change "$1" "{\"transfer_mode\": \"Synchronous\", \"split_mode\": \"Manual\", \"recovery_mode\": \"$4\"}"
    change "$1" "{\"transfer_mode\": \"$2\", \"recovery_mode\": \"$4\"}"
  fi
}

bring() {  # bring SID T S R: the direct way, by the same bodies whatever the session reads; only when the array
  direct "$@"; settle "$1" "$2/$3/$4" && return 0     # did not take it, a detour through an asynchronous mode
  for via in Stack Consistency; do
    [ "$T" = "$via" ] && continue
    echo "-- session $1 reads $T/$S/$R, not $2/$3/$4: a detour through $via"
    change "$1" "{\"transfer_mode\": \"$via\", \"recovery_mode\": \"$4\"}"
    direct "$@"; settle "$1" "$2/$3/$4" && return 0
  done
  return 1
}

reference() {  # REC-RESPONSE: the 202 body is JSON with an integer job_id and job_href /api/v1/job/<job_id>
  rid=$(num job_id "$TMP/out"); href=$(str job_href "$TMP/out" | sed 's#\\/#/#g')   # JSON may write / as \/
  if [ -z "$rid" ]; then echo "== DEVIATION: the 202 body has no integer job_id"; DEVIATED=1
  elif [ "$href" != "/api/v1/job/$rid" ]; then
    echo "== DEVIATION: the 202 body's job_href is '$href', expected '/api/v1/job/$rid'"; DEVIATED=1
  else echo "== as the rule says: job_id $rid, job_href $href"; fi
}

history() {  # history KEY SID BODY: a change the array saw before the check (as the run sent it), not judged
  echo "-- history: what the run sent to session $2 before the check"
  call "$1" PATCH "/copysession/$2" "$3"; [ "$CODE" = 202 ] && job "$1"
}

step() {  # step KEY SID BODY WANT: WANT is T/S/R (accepted) or "refused CODES" (refused, unchanged)
  if [ "$1" != admin ]; then   # as in the run: the user reads the session before it changes it
    echo "-- what $1 reads of session $2 first:"; call "$1" GET "/copysession/$2"
  fi
  modes "$2"; was="$T/$S/$R"
  call "$1" PATCH "/copysession/$2" "$3"; JOB=""
  [ "$CODE" = 202 ] && job "$1"
  if [ "$REQ" = REC-RESPONSE ]; then
    if [ "$CODE" = 202 ]; then reference; fi
    if [ "$JOB" = NotFound ]; then echo "== DEVIATION: the job of the 202 body reads 404"; DEVIATED=1; fi
  fi
  case "$4" in
    refused*)
      ok=0; for c in ${4#refused }; do [ "$CODE" = "$c" ] && ok=1; [ "$c" = job-error ] && [ "$CODE" = 202 ] && [ "$JOB" = Error ] && ok=1; done
      modes "$2"; shown "$2"
      if [ $ok = 1 ] && [ "$T/$S/$R" = "$was" ]; then echo "== as the rule says: refused, unchanged ($was)"
      else echo "== DEVIATION: expected a refusal (${4#refused }) and $was unchanged; the array answered $CODE${JOB:+, job $JOB}, session reads $T/$S/$R"; DEVIATED=1; fi;;
    *)
      if [ "$CODE" != 202 ] || [ "$JOB" != Success ]; then
        echo "== DEVIATION: expected 202, job Success and $4; the array answered $CODE${JOB:+, job $JOB}"; DEVIATED=1
      elif settle "$2" "$4"; then shown "$2"; echo "== as the rule says: $4"
      else shown "$2"
        echo "== DEVIATION: expected $4; the session reads $T/$S/$R"; DEVIATED=1; fi;;
  esac
}
'''


def _want(exp, strict: bool = False) -> str:
    if exp.accepted and exp.modes is not None:
        return exp.modes.label()
    lenient, strict_forms = REFUSALS[exp.refusal_requirement]
    return "refused " + " ".join(JOB_ERROR if f == JOB_ERROR else str(f) for f in (strict_forms if strict else lenient))


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def script(target, requirement: str, title: str, steps: list[tuple[str, int, dict, Modes, bool]],
           starts: dict[int, Modes], strict: bool = False,
           history: list[tuple[str, int, dict]] | None = None) -> str:
    """The script text. ``steps``: (user key, session, body, modes before by the model, tenant allowed).
    ``history``: (user key, session, body) the run sent after ``starts`` and before the first step (a
    matrix case's hidden history, read from the transcript); where the steps' first starting state does not read
    after it (the array answered the history otherwise than the run's did), it is reached directly."""
    verify = target.verify if isinstance(target.verify, str) else ("true" if target.verify else "false")
    history = [h for h in (history or []) if h[0] in target.users]
    users = sorted({k for k, *_ in steps} | {k for k, *_ in history} | {"admin"})
    sids = sorted({sid for _, sid, *_ in steps})
    lines = ["#!/bin/sh", f"# Reproducer of a {requirement} deviation found by pytest-rec: {title}",
             "# run: sh THIS_FILE [URL]   (exit 1: the deviation shows; 0: the array behaves; 2: cannot tell)",
             "# passwords: " + ", ".join(f"${target.users[k].password_env} ({target.users[k].name})" for k in users),
             f"URL=${{1:-{target.url}}}", f"VERIFY={_q(verify)}", f"REQ={requirement}", _LIB]
    lines += [f"login {k} {_q(target.users[k].name)} {target.users[k].password_env}" for k in users]
    for sid in sids:           # found as: suspended (or equivalent, suspended here), and put back at the end
        lines += [f"modes {sid}; O{sid}=\"$T/$S/$R\"; OS{sid}=\"$T\"; OP{sid}=\"$S\"; OR{sid}=\"$R\"; RESUME{sid}=0",
                  f"echo \"found: session {sid} reads $T/$S/$R, phase $P (transfer/split/recovery mode; put back at the end)\"",
                  f"if [ -z \"$T\" ]; then echo 'cannot tell: session {sid} reads no modes'; exit 2; fi",
                  f"if [ \"$P\" = Equivalent ]; then call admin POST /copysession/{sid}/suspend; job admin; RESUME{sid}=1;"
                  f" n=0; while modes {sid}; [ \"$P\" != Suspend ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done; "
                  f"elif [ \"$P\" != Suspend ]; then echo \"cannot tell: session {sid} is $P (never force-suspended)\"; exit 2; fi"]
    lines.append("putback() {  # every session as this script found it (also on Ctrl-C, SIGTERM, SIGHUP)")
    for sid in sids:
        lines += [f"  bring {sid} $OS{sid} $OP{sid} $OR{sid} || {{ echo \"session {sid} NOT put back: it reads $T/$S/$R, "
                  f"was $O{sid}\"; LEFT=1; }}",
                  f"  if [ $RESUME{sid} = 1 ]; then call admin POST /copysession/{sid}/resume; job admin; fi"]
    lines += ["}", "trap 'trap - INT TERM HUP; echo \"interrupted: putting every session back\"; putback; exit 2' INT TERM HUP"]
    for sid, m in starts.items():
        lines.append(f"bring {sid} {m.transfer_mode} {m.split_mode} {m.recovery_mode} || UNSURE=1")
    if history:
        lines.append('if [ $UNSURE = 0 ]; then')
        for user, sid, body in history:
            lines.append(f"  history {user} {sid} {_q(json.dumps(body))}")
        first = {}
        for _, sid, _, before, _ in steps:
            first.setdefault(sid, before)
        lines += [f"  settle {sid} {m.label()} || {{ echo \"-- after its history session {sid} reads $T/$S/$R, not "
                  f"{m.label()} (this array answered it otherwise than the run's): reached directly\"; "
                  f"bring {sid} {m.transfer_mode} {m.split_mode} {m.recovery_mode} || UNSURE=1; }}"
                  for sid, m in first.items()]
        lines.append('fi')
    lines.append('if [ $UNSURE = 0 ]; then')
    for user, sid, body, before, allowed in steps:
        exp = expect(before, body, tenant_allowed=allowed)
        lines.append(f"  step {user} {sid} {_q(json.dumps(body))} {_q(_want(exp, strict))}")
    lines.append("fi")
    lines += ["trap - INT TERM HUP", "putback"]
    lines += ["if [ $LEFT = 1 ]; then echo 'WARNING: a session is NOT as this script found it (see above): put it back by hand'; fi",
              "if [ $UNSURE = 1 ]; then echo 'cannot tell: the starting state could not be reached'; exit 2; fi",
              f"if [ $DEVIATED = 1 ]; then echo {_q(f'RESULT: the {requirement} deviation shows')}; exit 1; fi",
              "if [ $LEFT = 1 ]; then echo 'cannot tell: the step behaved, but the session could not be put back'; exit 2; fi",
              "echo 'RESULT: the array behaves as the rule says'; exit 0", ""]
    return "\n".join(lines)


def clear(report_dir) -> None:
    """Remove an earlier run's reproducers from the report folder (a run lists only its own)."""
    for old in (Path(report_dir) / "reproducers").glob("*.sh"):
        old.unlink(missing_ok=True)


def _write(report_dir, requirement: str, text: str) -> Path:
    folder = Path(report_dir) / "reproducers"
    folder.mkdir(parents=True, exist_ok=True)
    n = 1
    while (folder / f"{requirement}-{n}.sh").exists():
        n += 1
    path = folder / f"{requirement}-{n}.sh"
    path.write_text(text, encoding="utf-8")
    return path


def write_walk(ctx, walk) -> Path | None:
    """The reproducer of a walk's finding: its shrunk sequence (else the whole walk)."""
    seq = walk.minimal or walk.steps
    if not seq or walk.finding is None:
        return None
    starts: dict[int, Modes] = {}
    for s in seq:
        if s.user == "admin" or s.expected.startswith("->"):
            starts.setdefault(s.sid, s.before)
    steps = [(s.user, s.sid, s.body, s.before, not s.expected.startswith("refused (REC-TENANT-DENY")) for s in seq]
    requirement = walk.finding.requirements[0]
    return _write(ctx.options.report_dir, requirement,
                  script(ctx.target, requirement, f"walk {walk.label}, seed {walk.seed}", steps, starts, ctx.strict))


def matrix_case(case_id: str) -> tuple[Modes, dict] | None:
    """The starting state and body of a matrix case id (``test_patch[T/S/R + {field: value, ...}]``)."""
    m = CASE.match(case_id)
    if not m:
        return None
    body = {}
    for part in filter(None, (p.strip() for p in m.group(4).split(","))):
        k, _, v = part.partition(":")
        body[k.strip()] = v.strip()
    return Modes(m.group(1), m.group(2), m.group(3)), body


SETUP = re.compile(r"setup step (\{[^{}]*\}) from (\w+)/(\w+)/(\w+) on session \d+")
HISTORY = 8             # at most this many earlier changes of a matrix case's session go into its reproducer
_SESSION = re.compile(r"/copysession/(\d+)$")


def _transcripts(report_dir) -> list[list[dict]]:
    out = []
    for path in sorted(Path(report_dir).glob("transcript*.jsonl")):
        rows = []
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    continue
        except OSError:
            continue
        out.append(rows)
    return out


_VALUES = ({"Synchronous", "Stack", "Consistency"}, {"Automatic", "Manual"}, {"Automatic", "Manual"})


def _modes_of(row: dict) -> Modes | None:
    """The modes a session read answered, when they are values of the reference's tables (they go into the
    script unquoted)."""
    b = row.get("response_body")
    if row.get("status") != 200 or not isinstance(b, dict):
        return None
    values = tuple(b.get(k) for k in ("transfer_mode", "split_mode", "recovery_mode"))
    if all(v in allowed for v, allowed in zip(values, _VALUES)):
        return Modes(*values)
    return None


def _replayable(row: dict) -> bool:
    """A change the script can send as the run did: a JSON object sent as JSON (not raw bytes the transcript
    shows parsed, not another Content-Type), that the array answered (not a 503 the client retried)."""
    headers = {str(k).lower(): str(v) for k, v in (row.get("request_headers") or {}).items()}
    body = row.get("request_body")
    return (isinstance(body, dict) and headers.get("content-type", "").startswith("application/json")
            and "\ufffd" not in json.dumps(body, ensure_ascii=False)
            and isinstance(row.get("status"), int) and row["status"] != 503 and not row.get("error"))


def case_history(transcripts: list[list[dict]], case_id: str, body: dict, users,
                 start: Modes | None = None) -> tuple[int, Modes, list[tuple[str, int, dict]]] | None:
    """What the array saw of a matrix case's session before the case's change, from the run's transcript: (the
    session, the state it read before the history, the changes since: (user, session, body)). The history
    goes back to the last change made from a Synchronous state (where a trip begins; what a trip remembers
    starts there), at most ``HISTORY`` accepted changes (and the refused ones between them). The case's change is
    its last PATCH of ``body`` made from ``start`` (else its last PATCH of ``body``). None: the case's change is
    not in the transcript."""
    for rows in transcripts:
        judged = [k for k, r in enumerate(rows) if r.get("case") == case_id and r.get("method") == "PATCH"
                  and r.get("request_body") == body and _SESSION.search(r.get("path") or "")]
        if not judged:
            continue

        def before(k: int, path: str) -> Modes | None:
            for r in reversed(rows[:k]):
                if r.get("method") == "GET" and (r.get("path") or "").endswith(path):
                    m = _modes_of(r)
                    if m is not None:
                        return m
            return None

        def sid_of(k: int) -> int:
            return int(_SESSION.search(rows[k]["path"]).group(1))
        j = ([k for k in judged if before(k, f"/copysession/{sid_of(k)}") == start] or judged)[-1]
        sid = sid_of(j)
        path = f"/copysession/{sid}"
        start, k, history, accepted = before(j, path), j, [], 0
        while start is not None and start.transfer_mode != "Synchronous" and accepted < HISTORY \
                and len(history) < 4 * HISTORY:
            p = next((i for i in range(k - 1, -1, -1) if rows[i].get("method") == "PATCH"
                      and (rows[i].get("path") or "").endswith(path)), None)
            if p is None:
                break
            k = p
            if _replayable(rows[p]) and rows[p].get("user") in users:
                history.insert(0, (rows[p]["user"], sid, rows[p]["request_body"]))
                accepted += 200 <= rows[p]["status"] < 300
                start = before(p, path)
        if start is None:
            return None
        return sid, start, history
    return None


def write_matrix(target, summary: dict, report_dir) -> list[tuple[str, Path]]:
    """A reproducer for each failed matrix case: on the session the case changed, from the state it read
    before the changes the run had made to it since the session's trip began (from the transcript); else on
    the target's first writable session from the case's starting state."""
    out = []
    if not target.writable:
        return out
    transcripts = _transcripts(report_dir)
    for case in summary.get("cases", []):
        if case.get("outcome") not in ("failed", "known-deviation"):
            continue
        parsed = matrix_case(case.get("id", ""))
        if parsed is None or not parsed[1]:
            continue
        start, body = parsed
        setup = SETUP.search(case.get("detail") or "")
        if setup:                  # the deviation was a setup step's: that step is what the script judges
            try:
                start, body = Modes(setup.group(2), setup.group(3), setup.group(4)), json.loads(setup.group(1))
            except ValueError:
                continue
        requirement = (case.get("failed_requirements") or case.get("requirements") or ["REC-ACCEPT"])[0]
        sid, first, history = target.writable[0], start, []
        seen = case_history(transcripts, case["id"], body, target.users, start)
        if seen is not None and seen[0] in target.writable:
            sid, first, history = seen[0], (seen[1] if seen[2] else start), seen[2]
        text = script(target, requirement, case["id"], [("admin", sid, body, start, True)], {sid: first},
                      bool(summary.get("strict")), history=history)
        out.append((case["id"], _write(report_dir, requirement, text)))
    return out


def link_all(target, summary: dict, report_dir) -> dict[str, str]:
    """Case id -> its reproducer (relative to the report folder): a walk's is named in its detail, a matrix
    case's is written here."""
    out = {}
    for case in summary.get("cases", []):
        m = re.search(r"reproducer: (\S+\.sh)", case.get("detail") or "")
        if m and case.get("outcome") in ("failed", "known-deviation"):
            out[case["id"]] = f"reproducers/{Path(m.group(1)).name}"          # relative to the report folder
    for case_id, path in (write_matrix(target, summary, report_dir) if target is not None else []):
        out[case_id] = str(Path(path).relative_to(Path(report_dir)))
    return out
