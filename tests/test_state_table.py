"""The simulator follows the state rule of CONTRACT section 2 in all 288 cases.

The expected outcomes are a literal table written out from the rule (not computed by the
suite's model): rows are starting states (transfer, split, recovery), columns are bodies
(transfer, split, recovery sent; '-' not sent), cells the modes a GET shows after the job,
'R' a refusal (400 and unchanged), 'ok' the empty body (any answer, unchanged modes).
Abbreviations: Sy Synchronous, St Stack, Co Consistency, A Automatic, M Manual.
"""

import pytest

TABLE = """
body        {}  --A  --M  -A-  -AA  -AM  -M-  -MA  -MM Sy-- Sy-A Sy-M SyA- SyAA SyAM SyM- SyMA SyMM St-- St-A St-M StA- StAA StAM StM- StMA StMM Co-- Co-A Co-M CoA- CoAA CoAM CoM- CoMA CoMM
SyAA        ok SyAA SyAM SyAA SyAA SyAM SyMA SyMA SyMM SyAA SyAA SyAM SyAA SyAA SyAM SyMA SyMA SyMM StMA StMA StMM    R    R    R    R    R    R CoMA CoMA CoMM    R    R    R    R    R    R
SyAM        ok SyAA SyAM SyAM SyAA SyAM SyMM SyMA SyMM SyAM SyAA SyAM SyAM SyAA SyAM SyMM SyMA SyMM StMM StMA StMM    R    R    R    R    R    R CoMM CoMA CoMM    R    R    R    R    R    R
SyMA        ok SyMA SyMM SyAA SyAA SyAM SyMA SyMA SyMM SyMA SyMA SyMM SyAA SyAA SyAM SyMA SyMA SyMM StMA StMA StMM    R    R    R    R    R    R CoMA CoMA CoMM    R    R    R    R    R    R
SyMM        ok SyMA SyMM SyAM SyAA SyAM SyMM SyMA SyMM SyMM SyMA SyMM SyAM SyAA SyAM SyMM SyMA SyMM StMM StMA StMM    R    R    R    R    R    R CoMM CoMA CoMM    R    R    R    R    R    R
StMA        ok StMA StMM    R    R    R    R    R    R SyMA SyMA SyMM SyAA SyAA SyAM SyMA SyMA SyMM StMA StMA StMM    R    R    R    R    R    R CoMA CoMA CoMM    R    R    R    R    R    R
StMM        ok StMA StMM    R    R    R    R    R    R SyMM SyMA SyMM SyAM SyAA SyAM SyMM SyMA SyMM StMM StMA StMM    R    R    R    R    R    R CoMM CoMA CoMM    R    R    R    R    R    R
CoMA        ok CoMA CoMM    R    R    R    R    R    R SyMA SyMA SyMM SyAA SyAA SyAM SyMA SyMA SyMM StMA StMA StMM    R    R    R    R    R    R CoMA CoMA CoMM    R    R    R    R    R    R
CoMM        ok CoMA CoMM    R    R    R    R    R    R SyMM SyMA SyMM SyAM SyAA SyAM SyMM SyMA SyMM StMM StMA StMM    R    R    R    R    R    R CoMM CoMA CoMM    R    R    R    R    R    R
"""

NAMES = {"Sy": "Synchronous", "St": "Stack", "Co": "Consistency", "A": "Automatic", "M": "Manual"}
FIELDS = ("transfer_mode", "split_mode", "recovery_mode")




def _modes(code):
    """'SyAM' -> (Synchronous, Automatic, Manual)."""
    return (NAMES[code[:2]], NAMES[code[2]], NAMES[code[3]])


def _body(code):
    if code == "{}":
        return {}
    t, rest = (code[:2], code[2:]) if code[:2] in NAMES else (None, code[1:])
    out = {}
    if t:
        out["transfer_mode"] = NAMES[t]
    if rest[0] != "-":
        out["split_mode"] = NAMES[rest[0]]
    if rest[1] != "-":
        out["recovery_mode"] = NAMES[rest[1]]
    return out


def _cases():
    lines = [l for l in TABLE.strip().splitlines()]
    bodies = lines[0].split()[1:]
    for line in lines[1:]:
        start, *cells = line.split()
        assert len(cells) == len(bodies) == 36
        for body, cell in zip(bodies, cells):
            yield pytest.param(start, body, cell, id=f"{start} + {body}")


CASES = list(_cases())


def test_table_has_288_cases():
    assert len(CASES) == 288


@pytest.mark.parametrize("start, body, cell", CASES)
def test_state_rule(sim_module, start, body, cell):
    server, raw, h = sim_module
    session = server.array.sessions[4]
    with server.array.lock:
        session.transfer_mode, session.split_mode, session.recovery_mode = _modes(start)
        session.phase = "Suspend"
    resp = raw.http.patch("/copysession/4", json=_body(body), headers=h)
    if resp.status_code == 202:
        job = raw.wait(resp.json()["job_id"], h)
    after = raw.http.get("/copysession/4", headers=h).json()
    got = (after["transfer_mode"], after["split_mode"], after["recovery_mode"])
    if cell == "R":
        assert resp.status_code == 400
        assert got == _modes(start)
    elif cell == "ok":
        assert got == _modes(start)
    else:
        assert resp.status_code == 202 and job["status"] == "Success"
        assert got == _modes(cell)
    assert after["phase"] == "Suspend"


@pytest.fixture(scope="module")
def sim_module():
    from conftest import Raw, start

    server = start()
    raw = Raw(server)
    yield server, raw, raw.auth()
    raw.http.close()
    server.stop()
