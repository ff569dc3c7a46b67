"""The compliance suite shipped with pytest-rec: run it with `rec-compliance`."""
