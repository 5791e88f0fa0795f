"""Suite-wide set-up: the e2e marker, one Prefect server, and Ctrl-C reaching the processes the tests start.

* everything under tests/e2e/ is an end-to-end test (deselect with -m "not e2e");
* the suite runs against ONE real Prefect server that it starts for the session and stops by PID
  (``prefect_server``, as Prefect's ``prefect_test_harness``): flow tests in this process and every
  CLI process a test starts report to it through ``PREFECT_API_URL``, so no test starts a server of
  its own unless it tests that path (``tests/convsweep/test_server.py``), and none is left behind;
* a suite started from a background job (``.ci/run &`` in a script) inherits SIGINT *ignored*,
  and so would every process it starts (an ignored signal stays ignored across exec): the tests
  that press Ctrl-C on a sweep or on ``convsweep serve`` would then see it ignored, as no terminal
  user ever does. The suite restores Python's own handler, so its children start with the default.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.servers import PrefectServer, leaked_servers, running_prefect_server

E2E_FOLDER = Path(__file__).resolve().parent / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FOLDER in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """The session's Prefect server (API + UI, SQLite) on 127.0.0.1; at the end, no other server may be left."""
    yield from running_prefect_server(tmp_path_factory.mktemp("prefect_home"))
    leaked = leaked_servers(tmp_path_factory.getbasetemp())
    for pid in leaked:  # stopped by PID, then reported: a test that starts a server must stop it
        os.kill(pid, signal.SIGKILL)
    assert not leaked, f"Prefect servers left running by tests (killed): {leaked}"


@pytest.fixture(scope="session")
def prefect_api(prefect_server: PrefectServer) -> Iterator[str]:
    """This process's flows report to the session's server (the URL); Prefect's settings point at it."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server.api_url
