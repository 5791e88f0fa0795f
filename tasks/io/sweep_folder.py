"""A finished sweep's folder, read back without Prefect: its manifest, and whether the files still match it.

``manifest.json`` (written last by the ``write-manifest`` task, :mod:`convsweep.tasks.manifest`) lists every file
of a sweep with its size and sha256.  A folder holds a **complete sweep** when its manifest is there and
every file it lists is there with that size and sha256 (:func:`check_sweep_folder`); ``convsweep compare``
reads nothing else.  The digest and manifest readers here are the ones :mod:`convsweep.tasks.manifest` writes
with, so a folder is checked exactly as it was recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST_NAME = "manifest.json"


def file_digest(path: str | Path) -> dict[str, Any]:
    """``{"size": bytes, "sha256": hex}`` of a file, read in 1 MB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
            size += len(block)
    return {"size": size, "sha256": digest.hexdigest()}


def read_manifest(out_dir: str | Path) -> dict[str, Any] | None:
    """The folder's manifest as plain JSON, or None when there is none or it is not a manifest."""
    return read_manifest_file(Path(out_dir) / MANIFEST_NAME)


def read_manifest_file(path: str | Path) -> dict[str, Any] | None:
    """A manifest file as plain JSON, or None when it cannot be read or is not a manifest."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return None
    return manifest


def inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies under it (both resolved by the caller)."""
    return path == folder or folder in path.parents


def listed_path(folder: Path, entry: Any) -> Path | None:
    """A manifest's entry as a path inside ``folder``, or None when it points anywhere else."""
    text = entry.get("path") if isinstance(entry, dict) else None
    if not isinstance(text, str) or not text:
        return None
    relative = PurePosixPath(text)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    path = folder / relative
    return path if inside(path.parent.resolve(), folder) else None


@dataclass(frozen=True)
class SweepFolder:
    """A folder checked to hold a complete sweep.

    ``files`` maps each listed file (relative POSIX path) to its sha256; ``sizes_csv`` is the text of
    ``sizes.csv`` as it was hashed (read once, so the rows compared are the ones checked).
    """

    folder: Path
    manifest: dict[str, Any]
    files: dict[str, str]
    sizes_csv: str

    @property
    def name(self) -> str:
        """The sweep's name (the manifest's ``sweep``, else the folder's name)."""
        return str(self.manifest.get("sweep") or self.folder.name)


def _folder_and_manifest(given: Path, where: str) -> tuple[Path, dict[str, Any]]:
    """The sweep's folder and its manifest, from the folder or the manifest file."""
    if given.is_file():
        folder, manifest = given.resolve().parent, read_manifest_file(given)
        if manifest is None:
            raise ValueError(f"{where} is not a sweep manifest (a JSON object with a list of files)")
    elif given.is_dir():
        folder = given.resolve()
        if not (folder / MANIFEST_NAME).is_file():
            raise ValueError(
                f"{where} holds no complete sweep: no {MANIFEST_NAME} (a sweep writes it last; "
                "is a sweep still writing it, or was it interrupted?)"
            )
        manifest = read_manifest(folder)
        if manifest is None:
            raise ValueError(f"{where} holds no complete sweep: {MANIFEST_NAME} is not a sweep manifest")
    else:
        raise ValueError(f"{where}: no such folder or file")
    return folder, manifest


def check_sweep_folder(location: str | Path, *, argument: str) -> SweepFolder:
    """The sweep at ``location`` (its folder, or its ``manifest.json``), every listed file checked by sha256.

    Raises
    ------
    ValueError
        Naming ``argument`` and the location, when there is no such folder, no manifest, a manifest
        that is not one, a listed file missing or changed (size or sha256), or no ``sizes.csv``.
    """
    where = f"{argument}={str(location)!r}"
    folder, manifest = _folder_and_manifest(Path(location), where)
    digests: dict[str, str] = {}
    problems: list[str] = []
    sizes_csv: str | None = None
    for entry in manifest["files"]:
        path = listed_path(folder, entry)
        if path is None:
            problems.append(f"{entry!r}: not a path inside the folder")
            continue
        relative = path.relative_to(folder).as_posix()
        if not path.is_file():
            problems.append(f"{relative}: missing")
            continue
        data = path.read_bytes() if relative == "sizes.csv" else None
        # sizes.csv is hashed from the bytes that are then parsed: the rows compared are the ones checked.
        digest = file_digest(path) if data is None else {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        if digest["size"] != entry.get("size") or digest["sha256"] != entry.get("sha256"):
            problems.append(f"{relative}: {'size' if digest['size'] != entry.get('size') else 'sha256'} differs")
            continue
        digests[relative] = str(digest["sha256"])
        if data is not None:
            try:
                sizes_csv = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{where}: its sizes.csv is not UTF-8 text") from None
    if problems:
        raise ValueError(
            f"{where} holds no complete sweep: {len(problems)} file(s) do not match {MANIFEST_NAME} "
            f"(first: {problems[0]}); rerun the sweep to rewrite them"
        )
    if sizes_csv is None:
        raise ValueError(f"{where} holds no complete sweep: {MANIFEST_NAME} lists no sizes.csv")
    return SweepFolder(folder=folder, manifest=manifest, files=digests, sizes_csv=sizes_csv)


def check_finished_sweep(location: str | Path, *, argument: str) -> SweepFolder:
    """:func:`check_sweep_folder`, and when that fails while a sweep is writing the folder, say so.

    A sweep rewriting the folder leaves it half-updated until its manifest is written; a reader
    then sees files that do not match the manifest, which is not damage: the writer is named
    instead (``convsweep.tasks.io.folder_claim``), with what to do.
    """
    from convsweep.tasks.io import folder_claim

    try:
        return check_sweep_folder(location, argument=argument)
    except ValueError:
        given = Path(location)
        folder = given.parent if given.is_file() else given
        marker = folder_claim.read_marker(folder) if folder.is_dir() else None
        writers = folder_claim.live_writers(marker)
        if marker is None or not writers:
            raise
        raise ValueError(
            f"{argument}={str(location)!r}: {folder_claim.describe_writer(marker, writers[0])} is writing it now; "
            "retry when it ends"
        ) from None
