"""`python -m pytest_rec.cli_restore JOURNAL` = `rec-restore JOURNAL`."""

import sys

from .cli import restore_main

sys.exit(restore_main())
