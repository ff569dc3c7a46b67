"""The HTTP side of a run: the REST client (log-in, renewal, 503 back-off, job waiting, paged
lists), the allow-list guard every request passes, the redacted transcript, and the console
line while the run waits on the array.

May import: ``pytest_rec.errors``. Nothing of the model, the engine or above.
"""
