"""Suite-wide markers: everything under tests/e2e/ is an end-to-end test (deselect with -m "not e2e")."""

from __future__ import annotations

from pathlib import Path

import pytest

E2E_FOLDER = Path(__file__).resolve().parent / "e2e"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_FOLDER in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
