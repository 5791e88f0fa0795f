"""The CLI's error policy, common to every command."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from convsweep.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_unknown_option_exits_2_with_one_line():
    done = run("sizes", "--bogus")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["convsweep: error: No such option: --bogus"]


def test_cli_unknown_command_exits_2():
    done = run("frobnicate")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convsweep: error:") and "frobnicate" in lines[0]


def test_cli_without_arguments_shows_help_and_exits_0():
    done = run()
    assert done.returncode == 0
    assert "sweep" in done.stdout and "notebook" in done.stdout and "error" not in done.stderr
