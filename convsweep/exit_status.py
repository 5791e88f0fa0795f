"""The CLI's exit codes, one enum (README "Exit codes"); ``convsweep.cli`` maps exceptions to them in one place."""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Every exit code of the CLI (README "Exit codes"); chosen for an exception only in ``convsweep.cli._handle_error``."""

    OK = 0
    FAILED = 1  # a failed or crashed run, or another runtime failure (a server that does not answer, ...)
    BAD_INPUT = 2  # refused before a flow run exists
    SIGINT = 130
    SIGTERM = 143
