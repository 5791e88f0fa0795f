"""Whether a process on this host is alive: folder writers (convsweep.tasks.io.folder_claim), temp-file writers (convsweep.tasks.io.files), the local API."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional


def process_start(pid: int) -> Optional[str]:
    """Start time of process ``pid`` in clock ticks since boot (``/proc``), or None if unknown/gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, start: Optional[str] = None) -> bool:
    """Whether process ``pid`` on this host runs (not a zombie) and, if ``start`` is given, is the same process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True  # no /proc: trust kill(0)
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields and fields[0] in ("Z", "X"):
        return False  # killed, not yet reaped
    if start is not None and len(fields) > 19 and fields[19] != start:
        return False  # the PID was reused by another process
    return True
