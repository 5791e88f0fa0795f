"""Suite-wide set-up: the e2e marker, and Ctrl-C reaching the processes the tests start.

* everything under tests/e2e/ is an end-to-end test (deselect with -m "not e2e");
* a suite started from a background job (``.ci/run &`` in a script) inherits SIGINT *ignored*,
  and so would every process it starts (an ignored signal stays ignored across exec): the tests
  that press Ctrl-C on a sweep or on ``convsweep serve`` would then see it ignored, as no terminal
  user ever does. The suite restores Python's own handler, so its children start with the default.
* the CLI's runs without ``PREFECT_API_URL`` start a background server that outlives them
  (``convsweep.local_api``); the suite's CLI processes get a temporary server per run instead
  (``CONVSWEEP_API=temporary``), so no test leaves a server behind. ``tests/convsweep/test_local_api.py``
  sets ``CONVSWEEP_API=local`` and stops every server it starts by its PID.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

E2E_FOLDER = Path(__file__).resolve().parent / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("CONVSWEEP_API", "temporary")
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FOLDER in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
