"""The expected behaviour and what the suite assumes: pure functions and dataclasses from the
seed page and the contract, the case matrix, body shapes, the dry run's plan, the target file
and profile, the requirement catalogue. Nothing here talks to an array.

May import: ``pytest_rec.errors``. Never the client (no HTTP), the engine or above.
"""
