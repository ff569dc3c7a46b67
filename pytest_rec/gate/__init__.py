"""Release gating over the summaries of finished runs: known deviations, ``rec-compare`` and
``rec-merge``.

May import: ``report``, ``model``, ``pytest_rec.errors``. Never the engine or the plugin.
"""
