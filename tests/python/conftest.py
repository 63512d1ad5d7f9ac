"""pytest set-up for the Python checks of the lake.

delta-rs's and pyarrow's native threads can abort the interpreter during teardown ("terminate
called without an active exception"), after every test has run and been reported. So once pytest
has finished and printed its summary, leave with pytest's own exit status, skipping teardown.
"""

import os
import sys


def pytest_sessionfinish(session, exitstatus):
    session.config._pslake_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(getattr(config, "_pslake_exitstatus", 0))
