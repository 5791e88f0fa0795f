"""Explicit cache keys for the sweep's task runs.

Prefect's DEFAULT policy includes the flow run id (so it never hits across
runs) and ``TASK_SOURCE`` ignores the helpers a task calls.  A sweep task's key
is therefore built here from exactly what determines its result:

* the task's name and the **versions** (:func:`versions`): the code version (a
  hash of the source of ``conv_core`` and the ``tasks`` package — the sweep model
  in ``convsweep.tasks.model`` included — so editing any code that decides a result
  invalidates the cache) and the numpy and OpenCV versions, all computed where
  the task runs (Prefect computes the key in the worker's process); the code
  version is taken when ``convsweep.tasks.prefect_glue.caching`` is imported, so a long-lived worker
  whose files are updated under it keeps reporting the code it runs,
* the task's key inputs — dataset fingerprint, chunk range, settings —
  normalised to plain JSON (``2``, ``np.int64(2)`` and ``2.0`` are one key),
  never large arrays.

Results are small JSON records (``result_serializer="json"``: a cache folder
must never be a way to run code through unpickling), stored under the cache
folder with Prefect's default isolation (READ_COMMITTED: no lock manager, so no
lock to wait on or to be left by a killed run).  Two sweeps computing one key at
once both compute it and both write its record (``convsweep.tasks.prefect_glue.cache_records``: the
metadata atomically, after the result); the records are equal but for the timings.  A task whose output files
have gone missing is submitted with ``refresh_cache`` (:func:`with_cache`), so
it recomputes and rewrites them; computing a key has no side effect.

The flow's own versions travel with the policy (``flow_versions``, set by
:func:`with_cache` where the flow runs): :func:`refuse_other_code` fails a task
run on a worker whose code differs, with one line naming the host and both.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

from prefect.cache_policies import CachePolicy
from prefect.serializers import JSONSerializer

from convsweep.tasks.io.code_version import code_version
from convsweep.tasks.model.plain import canonical_json
from convsweep.tasks.plan.cache_paths import CACHE_DIR_ENV, cache_dir_for, default_cache_dir
from convsweep.tasks.prefect_glue.cache_records import JsonRecordStorage

# Task results as plain JSON: a record (convsweep.tasks.model.records) is written as its fields, and a
# cached one comes back as a dict that the caller parses (``ChunkRecord.parse``).
RECORD_SERIALIZER = JSONSerializer(jsonlib="json", object_encoder="convsweep.tasks.model.records.json_default")
__all__ = [
    "CACHE_DIR_ENV",
    "RECORD_SERIALIZER",
    "SweepCachePolicy",
    "cache_dir_for",
    "CodeMismatchError",
    "code_version",
    "default_cache_dir",
    "refuse_other_code",
    "versions",
    "with_cache",
]


def versions() -> dict[str, str]:
    """What decides a result besides its inputs, in this process: the code, numpy and OpenCV versions."""
    return {"code": code_version(), **_library_versions()}


@lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    import cv2
    import numpy

    return {"numpy": numpy.__version__, "opencv": cv2.__version__}


class CodeMismatchError(RuntimeError):
    """A task run on a worker whose code is not the flow's."""


def refuse_other_code(flow_versions: Optional[dict[str, str]]) -> None:
    """Raise :class:`CodeMismatchError` (one line: host, both versions) if this process's code is not the flow's.

    ``flow_versions``: :func:`versions` where the flow runs (None: not known, nothing checked).
    """
    if not flow_versions:
        return
    here = versions()
    if here["code"] != flow_versions.get("code"):
        raise CodeMismatchError(
            f"worker {socket.gethostname()} runs code version {here['code']}, the flow runs "
            f"{flow_versions.get('code')}: refused (update the worker's copy of the project and restart it)"
        )


def running_task_flow_versions() -> Optional[dict[str, str]]:
    """The flow's versions carried by the running task run's cache policy (None outside one)."""
    from prefect.context import TaskRunContext

    context = TaskRunContext.get()
    policy = getattr(getattr(context, "task", None), "cache_policy", None)
    return getattr(policy, "flow_versions", None)


@dataclass
class SweepCachePolicy(CachePolicy):
    """Key = sha256(task name, versions where it runs, plain-JSON key inputs).

    Parameters
    ----------
    key_inputs
        ``inputs -> JSON-able value`` selecting what determines the result.
    expected_outputs
        ``inputs -> paths`` the task writes; if any is missing, the cached
        record is dropped so that the task runs again and rewrites them.
    flow_versions
        :func:`versions` where the flow runs (set by :func:`with_cache`), for
        :func:`refuse_other_code` on the worker.
    """

    key_inputs: Optional[Callable[[dict[str, Any]], Any]] = None
    expected_outputs: Optional[Callable[[dict[str, Any]], Iterable[Path]]] = None
    flow_versions: Optional[dict[str, str]] = None

    def compute_key(self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any) -> str:
        selected = self.key_inputs(inputs) if self.key_inputs else inputs
        payload = {"task": task_ctx.task.name, "versions": versions(), "inputs": selected}
        return hashlib.sha256(canonical_json(payload).encode()).hexdigest()

    def outputs_missing(self, inputs: dict[str, Any]) -> bool:
        """True when a file the task writes for ``inputs`` is missing, so a cached record would lie."""
        if self.expected_outputs is None:
            return False
        return not all(Path(path).exists() for path in self.expected_outputs(inputs))


def _record_lies(task: Any, root: Path, inputs: dict[str, Any]) -> bool:
    """A cached record exists for ``inputs`` but the files its task wrote are gone.

    A task writes its files before its record, so while another sweep is still computing the
    same key there is no record yet, and its files being absent is no reason to recompute.
    """
    policy = task.cache_policy
    if not isinstance(policy, SweepCachePolicy) or policy.expected_outputs is None:
        return False
    key = policy.compute_key(SimpleNamespace(task=task), inputs, {})
    return (root / "records" / key).exists() and policy.outputs_missing(inputs)


def with_cache(task: Any, cache_dir: str | Path, *, refresh: bool = False, inputs: dict[str, Any] | None = None) -> Any:
    """``task`` configured to keep its records under ``cache_dir`` (records + results).

    Records are read only as plain JSON (``convsweep.tasks.prefect_glue.cache_records``).  No lock manager and no
    isolation level: Prefect's default, READ_COMMITTED (prefect/transactions.py,
    ``prepare_transaction``), takes no lock, so overlapping sweeps never wait on each other.
    With ``inputs`` (the call's keyword arguments), a task whose record exists but whose
    output files for those inputs are missing is refreshed: it runs again and rewrites them.
    """
    root = Path(cache_dir).expanduser().resolve()
    if inputs is not None and not refresh and _record_lies(task, root, inputs):
        refresh = True
    (root / "results").mkdir(parents=True, exist_ok=True)
    policy = task.cache_policy
    if isinstance(policy, SweepCachePolicy):
        policy = replace(policy, flow_versions=versions())
    policy = policy.configure(
        key_storage=JsonRecordStorage(basepath=str(root / "records"), results_path=str(root / "results"))
    )
    return task.with_options(
        cache_policy=policy,
        result_storage=root / "results",  # a Path: Prefect makes it a LocalFileSystem, no saved block needed
        result_serializer=RECORD_SERIALIZER,
        persist_result=True,
        refresh_cache=refresh,
    )
