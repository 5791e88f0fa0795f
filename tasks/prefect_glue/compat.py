"""Every private Prefect API the tasks and flows rely on, in one place (issue 16, item 4).

Prefect is pinned to the tested minor (``prefect>=3.9.1,<3.10``, pyproject.toml).  Each
function below names the Prefect source it depends on (as of 3.9.1) and what breaks if
Prefect changes it; ``tests/tasks/test_prefect_compat.py`` has one test per assumption,
which fails when the assumption no longer holds.  Nothing outside this module (in
``tasks`` and ``flows``) imports ``prefect._internal`` or calls a ``_name`` of Prefect.
The CLI's side is :mod:`convsweep.prefect_compat`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# prefect/_internal/compatibility/async_dispatch.py, ``async_dispatch`` (3.9.1 line 64): the
# decorator Prefect's own blocks use so that ``block.read_path(...)`` runs the sync body from
# sync code and the ``a...`` coroutine from async code.  Prefect's result store calls
# ``key_storage.read_path``/``write_path`` both ways (ResultStore.read/aread), so a
# ``WritableFileSystem`` subclass must dispatch the same way.  If it moves or changes its
# contract, importing convsweep.tasks.prefect_glue.cache_records fails or the record storage's async path runs the
# sync body (guarded by test_async_dispatch_runs_sync_body_from_sync_code...).
from prefect._internal.compatibility.async_dispatch import async_dispatch as _async_dispatch
from prefect.filesystems import LocalFileSystem


def dispatch_sync_or_async(async_implementation: Callable[..., Any]) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: the sync method runs from sync callers, ``async_implementation`` when awaited (Prefect's own)."""
    return _async_dispatch(async_implementation)


def validate_result_record_metadata(metadata: object) -> None:
    """Raise ValueError (pydantic's ValidationError) unless ``metadata`` is a valid Prefect record's metadata.

    Depends on ``prefect._internal.result_records.ResultRecordMetadata`` (3.9.1 line 43), the
    model Prefect's ResultStore parses ``<records>/<key>`` with.  If its fields change,
    records this project accepts could be rejected by Prefect (a cache miss every run) or the
    other way round; guarded by test_result_record_metadata_accepts_what_prefect_writes.
    """
    from prefect._internal.result_records import ResultRecordMetadata

    ResultRecordMetadata.model_validate(metadata)


def resolve_local_path(storage: LocalFileSystem, path: str) -> Path:
    """``path`` resolved under ``storage.basepath``, refusing paths outside it (``LocalFileSystem._resolve_path``).

    Depends on prefect/filesystems.py ``LocalFileSystem._resolve_path`` (3.9.1 line 101):
    returns a ``Path`` and raises ValueError for a path outside the base path.  If it is
    renamed, the record storage fails at its first read/write; if it stops refusing
    ``..`` paths, a record key could escape the cache folder.  Guarded by
    test_local_file_system_resolves_inside_basepath.
    """
    return Path(storage._resolve_path(path))
