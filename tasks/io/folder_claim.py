"""Which run is writing a sweep's folder: the ``.convsweep-writing.json`` marker (no Prefect).

A run claims ``<out>/<name>/`` before it writes into it (``convsweep.tasks.manifest.begin_folder``) and
gives the claim up once its manifest is written (``write-manifest``).  The marker holds:

* ``identity``: the sweep (its parameters but ``refresh``, and the code version) and
  ``settings``: the parameters alone, which the CLI's preflight can compare without the code;
* ``trusted``: whether the folder's files were this sweep's when the first writer began
  (``convsweep.tasks.manifest.folder_matches``), kept for the rerun after an interruption;
* ``writers``: every run writing now, each with its process id, the process's start time
  (so a reused pid is not taken for it), host and flow-run id.

Two runs of the same sweep may write at once (they write the same bytes); a run of another
sweep is refused while any writer is alive (:class:`FolderInUse`, one line naming it).  The
marker is read and rewritten under an exclusive ``flock`` of the folder itself, so two runs
started at the same instant cannot both claim it: the second one sees the first's claim.
A writer that is gone (``kill -9``, a crash) counts as no writer; in this process, only the
flow run that claimed is alive (a failed run of an earlier test or call is not).
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict, cast

from convsweep.tasks.io import files
from convsweep.tasks.io.processes import process_alive, process_start
from convsweep.tasks.model.plain import canonical_json

MARKER_NAME = ".convsweep-writing.json"
# Parameters that do not change what the folder holds.
RUN_ONLY_PARAMETERS = ("refresh",)
# A writer on another host cannot be checked; its claim lapses after this long.
OTHER_HOST_CLAIM_SECONDS = 12 * 3600.0
_HOSTNAME = socket.gethostname()


class Writer(TypedDict):
    """One run writing the folder (a marker's ``writers`` entry)."""

    pid: int
    pid_start: str | None
    hostname: str
    flow_run_id: str | None
    started: str


class Marker(TypedDict, total=False):
    """The marker file's JSON (read from disk: any key may be missing)."""

    identity: str
    settings: str
    sweep: str | None
    trusted: bool
    writers: list[Writer]


class FolderInUse(ValueError):
    """The sweep folder is being written by a live run of another sweep; the message names it."""


def settings_key(parameters: Mapping[str, object]) -> str:
    """The parameters that decide what the folder holds, as canonical JSON (``refresh`` left out)."""
    return canonical_json({key: value for key, value in parameters.items() if key not in RUN_ONLY_PARAMETERS})


def read_marker(folder: str | Path) -> Marker | None:
    """The folder's marker as plain JSON, or None when there is none (or it is unreadable)."""
    try:
        marker = json.loads((Path(folder) / MARKER_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return cast(Marker, marker) if isinstance(marker, dict) else None


def this_writer(flow_run_id: str | None) -> Writer:
    """The writer entry of this process and flow run."""
    pid = os.getpid()
    return {
        "pid": pid,
        "pid_start": process_start(pid),
        "hostname": _HOSTNAME,
        "flow_run_id": flow_run_id,
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def writer_alive(writer: Any, *, own_flow_run: str | None = None) -> bool:
    """Whether ``writer`` (a marker's entry) is a run still going; ``own_flow_run``: this process's current run."""
    if not isinstance(writer, dict) or not isinstance(writer.get("pid"), int):
        return False
    if writer.get("hostname") != _HOSTNAME:
        try:
            started = _dt.datetime.fromisoformat(str(writer.get("started")))
        except ValueError:
            return False
        age = (_dt.datetime.now(_dt.UTC) - started).total_seconds()
        return age < OTHER_HOST_CLAIM_SECONDS
    if writer["pid"] == os.getpid():
        # This process runs one sweep per folder at a time: an earlier run of it that failed is over.
        return own_flow_run is not None and writer.get("flow_run_id") == own_flow_run
    start = writer.get("pid_start") if isinstance(writer.get("pid_start"), str) else None
    return process_alive(writer["pid"], start)


def live_writers(marker: Marker | None, *, own_flow_run: str | None = None) -> list[Writer]:
    """The marker's writers that are alive."""
    writers = marker.get("writers") if marker else None
    if not isinstance(writers, list):
        return []
    return [writer for writer in writers if writer_alive(writer, own_flow_run=own_flow_run)]


def describe_writer(marker: Marker, writer: Writer) -> str:
    """``sweep 'a' (flow run 1b2c..., process 4242 on host, since 2026-12-02T01:02:03+00:00)``."""
    run = f"flow run {writer['flow_run_id']}, " if writer.get("flow_run_id") else ""
    return (
        f"sweep {marker.get('sweep')!r} ({run}process {writer.get('pid')} on {writer.get('hostname')}, "
        f"since {writer.get('started')})"
    )


def in_use_message(folder: Path, marker: Marker, writers: list[Writer], *, name: str) -> str:
    return (
        f"--name {name}: {folder} is being written by another run with other settings, "
        f"{describe_writer(marker, writers[0])}; wait for it to end or give another --name"
    )


@contextmanager
def locked(folder: str | Path) -> Iterator[None]:
    """Exclusive ``flock`` of the folder itself (released by the kernel if the process dies)."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def write_marker(folder: str | Path, marker: Mapping[str, object]) -> None:
    files.write_text(Path(folder) / MARKER_NAME, json.dumps(marker) + "\n")


def release(folder: str | Path, *, flow_run_id: str | None) -> None:
    """This flow run stops writing the folder: its entry is removed; the marker goes with the last writer."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    with locked(folder):
        marker = read_marker(folder)
        if marker is None:
            return
        listed = marker.get("writers")
        writers: list[Any] = listed if isinstance(listed, list) else []
        others = [writer for writer in live_writers(marker) if writer.get("flow_run_id") != flow_run_id]
        if others:
            if len(others) != len(writers):
                write_marker(folder, {**marker, "writers": others})
            return
        (folder / MARKER_NAME).unlink(missing_ok=True)
