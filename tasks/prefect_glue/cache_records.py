"""Cache records that are only ever read as plain JSON.

Prefect decodes a cached result with the serializer *named inside the record*
(``pickle``, or ``json`` with any ``jsonlib``/``object_decoder`` import path),
so whoever can write to the cache folder could make the next sweep run code.
Here a record is split the way Prefect supports through the cache policy's
``key_storage``:

* ``<cache>/records/<key>`` — the record's metadata, read through
  :class:`JsonRecordStorage` (this module);
* ``<cache>/results/<key>`` — the result itself (``storage_key`` of the metadata).

Prefect reads the metadata first (for ``exists`` and for ``read``) and decodes
the result with the serializer that metadata names.  ``JsonRecordStorage``
checks each metadata file and the result it points to with the standard
library's ``json`` (no object hooks, nothing imported), then hands Prefect the
metadata with its serializer **replaced** by :data:`TRUSTED_SERIALIZER` (plain
``json``, no object decoder), whatever the file declared.  A record that
declares another serializer, is not JSON, points outside ``results/``, or whose
result is not plain JSON (e.g. Prefect's ``{"__class__": ...}`` objects) is
reported as absent — a cache miss: the task runs again and rewrites both files —
with one warning line naming the file.  Metadata is written atomically (temp
file + ``os.replace``) after the result (Prefect writes the result in place): two
sweeps writing one key at once (no lock: ``convsweep.tasks.prefect_glue.caching``) may leave the result
empty for an instant, which a reader takes for an ordinary miss, without a warning.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from prefect.filesystems import LocalFileSystem
from prefect.serializers import JSONSerializer

from convsweep.tasks.io import files
from convsweep.tasks.prefect_glue.compat import (
    dispatch_sync_or_async,
    resolve_local_path,
    validate_result_record_metadata,
)

# The only serializer a cached result is decoded with: stdlib json, no object hook.
TRUSTED_SERIALIZER = JSONSerializer(jsonlib="json", object_decoder=None)
_TRUSTED_DUMP = TRUSTED_SERIALIZER.model_dump(mode="json")


def _cache_logger() -> logging.Logger:
    """``convsweep.cache``: one line per warning on stderr, whatever Prefect's console level (the CLI mutes it)."""
    log = logging.getLogger("convsweep.cache")
    if not log.handlers:
        handler = logging.StreamHandler()  # sys.stderr
        handler.setFormatter(logging.Formatter("convsweep: warning: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


logger = _cache_logger()
_MISSING = "its result file is missing"
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


class UnsafeRecord(ValueError):
    """A cache record that is not read (treated as a miss)."""


def _warn_once(path: Path, reason: str) -> None:
    with _warned_lock:
        if (str(path), reason) in _warned:
            return
        _warned.add((str(path), reason))
    logger.warning("cache: ignoring record %s (%s); recomputing it", path, reason)


def _reject_objects(obj: dict[str, Any]) -> dict[str, Any]:
    if "__class__" in obj or "__exc_type__" in obj:
        raise UnsafeRecord("its result holds an encoded Python object, not plain JSON")
    return obj


def checked_metadata(raw: bytes, results_dir: Path) -> bytes:
    """Metadata bytes safe for Prefect: JSON, a JSON-declared record whose result is plain JSON.

    Returns the metadata with its serializer replaced by :data:`TRUSTED_SERIALIZER`;
    raises :class:`UnsafeRecord` saying why the record is not to be read.
    """
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise UnsafeRecord("not JSON") from None
    if not isinstance(metadata, dict):
        raise UnsafeRecord("not a record's metadata")
    serializer = metadata.get("serializer")
    kind = serializer.get("type") if isinstance(serializer, dict) else serializer
    if kind != "json":
        raise UnsafeRecord(f"it declares the serializer {kind!r}; only plain JSON is read")
    storage_key = metadata.get("storage_key")
    if not isinstance(storage_key, str):
        raise UnsafeRecord("it names no result file")
    result_path = Path(storage_key)
    result_path = result_path if result_path.is_absolute() else results_dir / result_path
    result_path = result_path.resolve()
    if result_path.parent != results_dir:
        raise UnsafeRecord(f"its result file {result_path} is outside {results_dir}")
    try:
        result = result_path.read_bytes()
    except FileNotFoundError:
        raise UnsafeRecord(_MISSING) from None
    if not result:  # being rewritten by another sweep this instant (Prefect truncates, then writes)
        raise UnsafeRecord(_MISSING)
    try:
        json.loads(result.decode("utf-8"), object_hook=_reject_objects)
    except UnicodeDecodeError:
        raise UnsafeRecord("its result is not UTF-8 JSON") from None
    except UnsafeRecord:
        raise
    except ValueError:
        raise UnsafeRecord("its result is not JSON") from None
    metadata["serializer"] = _TRUSTED_DUMP
    metadata["storage_block_id"] = None
    try:
        validate_result_record_metadata(metadata)
    except ValueError as error:
        raise UnsafeRecord(f"invalid metadata: {str(error).splitlines()[0]}") from None
    return json.dumps(metadata).encode()


class JsonRecordStorage(LocalFileSystem):
    """``key_storage`` for cache records: reads only plain-JSON records, writes atomically.

    ``basepath`` holds the metadata files; ``results_path`` is the folder of the
    result files they point to (the tasks' ``result_storage``).
    """

    _block_type_name = "Convsweep JSON Record Storage"
    _block_type_slug = "convsweep-json-record-storage"

    results_path: str

    def _checked(self, path: str) -> bytes:
        resolved = resolve_local_path(self, path)
        try:
            raw = resolved.read_bytes()
        except FileNotFoundError:
            raise ValueError(f"Path {resolved} does not exist.") from None
        try:
            return checked_metadata(raw, Path(self.results_path).expanduser().resolve())
        except UnsafeRecord as error:
            if str(error) != _MISSING:  # a dropped result is an ordinary miss
                _warn_once(resolved, str(error))
            raise

    async def aread_path(self, path: str) -> bytes:
        return self._checked(path)

    @dispatch_sync_or_async(aread_path)
    def read_path(self, path: str) -> bytes:
        return self._checked(path)

    async def awrite_path(self, path: str, content: bytes) -> str:
        return str(files.write_bytes(resolve_local_path(self, path), content))

    @dispatch_sync_or_async(awrite_path)
    def write_path(self, path: str, content: bytes) -> str:
        return str(files.write_bytes(resolve_local_path(self, path), content))
