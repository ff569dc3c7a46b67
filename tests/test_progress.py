"""The console line while the run waits on the array (issue 24): at most one a minute, naming what it
waits for and for how long; none for a short wait."""

import io

from pytest_rec.client import progress


def test_one_line_a_minute_naming_the_wait(monkeypatch):
    monkeypatch.setattr(progress, "INTERVAL", 60.0)
    monkeypatch.setitem(progress._last, "said", 0.0)
    out = io.StringIO()
    assert not progress.waiting("job 7 still 'Running'", since=1000.0, now=1030.0, out=out)    # 30 s: too young
    assert progress.waiting("job 7 still 'Running'", since=1000.0, now=1061.0, out=out)
    assert not progress.waiting("job 7 still 'Running'", since=1000.0, now=1090.0, out=out)    # a line 29 s ago
    assert not progress.waiting("session 3 to read Stack/Manual/Manual", since=1050.0, now=1115.0, out=out)
    assert progress.waiting("job 7 still 'Running'", since=1000.0, now=1125.0, out=out)
    assert out.getvalue().splitlines() == [
        "pytest-rec: waiting on the array: job 7 still 'Running', 61 s so far",
        "pytest-rec: waiting on the array: job 7 still 'Running', 125 s so far"]
