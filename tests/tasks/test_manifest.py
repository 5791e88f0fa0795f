"""tasks/manifest.py: which files of a sweep's folder are stale, and when the folder can be trusted."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from convsweep.tasks.io import manifest
from convsweep.tasks.io.code_version import code_version
from convsweep.tasks.model.records import ReportFiles, SampleRecord

PARAMETERS = {"name": "t", "kernels": ["sobel_h"], "refresh": False}
FINGERPRINT = "f" * 64


def write(folder: Path, relative: str, data: bytes = b"x") -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_manifest_file(folder: Path, relatives: list[str], parameters=PARAMETERS, fingerprint=FINGERPRINT) -> None:
    entries = [
        {"path": relative, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for relative in relatives
        for data in [(folder / relative).read_bytes()]
    ]
    document = {
        "parameters": parameters,
        "dataset": {"fingerprint": fingerprint},
        "code_version": code_version(),
        "files": entries,
    }
    (folder / manifest.MANIFEST_NAME).write_text(json.dumps(document))


def test_file_digest_is_sha256_and_size(tmp_path):
    path = write(tmp_path, "a.bin", b"abc")
    assert manifest.file_digest(path) == {
        "size": 3,
        "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    }


def test_stale_files_are_earlier_sweep_files_only(tmp_path):
    folder = tmp_path / "sweep"
    write(folder, "samples/c1/0-input.png")
    write(folder, "samples/c2/0-input.png")
    write(folder, "contact/c2.png")
    write(folder, "maps/c2/sobel/0000000-0000010.npy")
    write(folder, "samples/c1/.tmp-0-input.png.abc")  # a write in progress: not ours to remove
    write(folder, "old-extra.txt")  # listed by the earlier manifest: the earlier sweep's
    write(folder, "notes.txt")  # a person's file: neither listed nor in the sweep's folders
    outside = write(tmp_path, "outside.txt")
    write_manifest_file(folder, ["old-extra.txt"])
    document = json.loads((folder / "manifest.json").read_text())
    document["files"] += [{"path": "../outside.txt"}, {"path": str(outside)}, {"path": 3}]
    (folder / "manifest.json").write_text(json.dumps(document))
    stale = manifest.stale_files(folder, {"samples/c1/0-input.png", "contact/c1.png"}, cache_root=None)
    assert [path.relative_to(folder).as_posix() for path in stale] == [
        "contact/c2.png",
        "maps/c2/sobel/0000000-0000010.npy",
        "old-extra.txt",
        "samples/c2/0-input.png",
    ]


def test_stale_files_never_in_the_cache_folder(tmp_path):
    folder = tmp_path / "sweep"
    write(folder, "maps/cache/records/key")
    write(folder, "maps/c1/sobel/0000000-0000010.npy")
    stale = manifest.stale_files(folder, set(), cache_root=(folder / "maps" / "cache").resolve())
    assert [path.relative_to(folder).as_posix() for path in stale] == ["maps/c1/sobel/0000000-0000010.npy"]


def test_folder_matches_empty_folder(tmp_path):
    assert manifest.folder_matches(tmp_path / "new", parameters=PARAMETERS).trusted


def test_folder_matches_own_manifest_and_unchanged_files(tmp_path):
    write(tmp_path, "report.md", b"report")
    write(tmp_path, "contact/c1.png", b"png")
    write_manifest_file(tmp_path, ["report.md", "contact/c1.png"])
    assert manifest.folder_matches(tmp_path, parameters=PARAMETERS).trusted
    # refresh does not change what the folder holds
    assert manifest.folder_matches(tmp_path, parameters={**PARAMETERS, "refresh": True}).trusted
    # nor do other data under the same settings (grown data: content keys decide what reruns)
    write_manifest_file(tmp_path, ["report.md", "contact/c1.png"], fingerprint="0" * 64)
    assert manifest.folder_matches(tmp_path, parameters=PARAMETERS).trusted


def test_folder_matches_refuses_other_settings_edited_files_extra_files_and_no_manifest(tmp_path):
    write(tmp_path, "report.md", b"report")
    assert not manifest.folder_matches(tmp_path, parameters=PARAMETERS).trusted  # no manifest
    write_manifest_file(tmp_path, ["report.md"])
    other = {**PARAMETERS, "kernels": ["laplacian"]}
    assert not manifest.folder_matches(tmp_path, parameters=other).trusted
    write(tmp_path, "samples/c9/0-input.png")  # a sweep file the manifest does not list
    assert not manifest.folder_matches(tmp_path, parameters=PARAMETERS).trusted
    (tmp_path / "samples/c9/0-input.png").unlink()
    assert manifest.folder_matches(tmp_path, parameters=PARAMETERS).trusted
    write(tmp_path, "report.md", b"edited")  # same size, other bytes
    assert not manifest.folder_matches(tmp_path, parameters=PARAMETERS).trusted


def test_begin_folder_marker_carries_the_verdict_to_the_next_run(tmp_path):
    # A folder of another sweep: the first run distrusts it; interrupted, its rerun still does.
    write(tmp_path, "contact/c1.png", b"other sweep")
    write_manifest_file(tmp_path, ["contact/c1.png"], parameters={**PARAMETERS, "kernels": ["laplacian"]})
    assert not manifest.begin_folder(tmp_path, parameters=PARAMETERS).trusted
    assert not manifest.begin_folder(tmp_path, parameters=PARAMETERS).trusted
    # A fresh folder: the first run trusts it, and so does a second run of the same sweep started meanwhile,
    # even though the first one's files are there without a manifest yet; another sweep does not.
    fresh = tmp_path / "fresh"
    assert manifest.begin_folder(fresh, parameters=PARAMETERS).trusted
    write(fresh, "contact/c1.png", b"being written")
    assert manifest.folder_matches(fresh, parameters=PARAMETERS).trusted
    assert not manifest.folder_matches(fresh, parameters={**PARAMETERS, "kernels": ["laplacian"]}).trusted


def test_sweep_outputs_relative_sorted_with_maps(tmp_path):
    out = tmp_path / "sweep"
    produced = manifest.sweep_outputs(
        out,
        sizes_csv=str(out / "sizes.csv"),
        report_record=ReportFiles(
            summary=str(out / "summary.png"), report=str(out / "report.md"), html=str(out / "report.html"), rows=1
        ),
        sample_records=[
            SampleRecord(
                conv="c1",
                classes={},
                contact=str(out / "contact/c1.png"),
                images={"0-input": str(out / "samples/c1/0-input.png")},
                scaling={"0-input": 1.0},
            )
        ],
        maps={str(out / "maps" / "c1"): ["sobel_h"]},
        chunks=[(0, 16), (16, 20)],
    )
    assert produced == [
        "contact/c1.png",
        "maps/c1/sobel_h/0000000-0000016.npy",
        "maps/c1/sobel_h/0000016-0000020.npy",
        "report.html",
        "report.md",
        "samples/c1/0-input.png",
        "sizes.csv",
        "summary.png",
    ]
