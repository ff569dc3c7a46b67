"""What a run says, from data: the summary (compliance.json / .md, the verdict line), the seed
sign-off, the verdict's words, the Allure results and the HTML report.

May import: ``model``, ``client`` (the transcript's exchanges), ``pytest_rec.errors``.
Never the engine or the plugin.
"""
