"""Running checks against a target: the run's context, the session pool and the operator
(reading, reaching a state, putting back), judging one PATCH, the preflight, the restore
journal, the ways back, the fuzzing bodies.

May import: ``client``, ``model``, ``pytest_rec.errors``. Never report, gate or plugin.
"""
