"""The compliance suite shipped with pytest-rec: run it with `rec-compliance` (or
`pytest --pyargs pytest_rec.suite`). Each test names the requirement IDs it checks.

May import: ``plugin`` (its public names), ``engine``, ``model``, ``client``, ``pytest_rec.errors``.
"""
