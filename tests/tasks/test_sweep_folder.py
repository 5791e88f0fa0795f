"""tasks/io/sweep_folder.py: a folder holds a complete sweep only when every file its manifest lists still matches."""

from __future__ import annotations

import json

import pytest

from convsweep.tasks.io import manifest
from convsweep.tasks.io.sweep_folder import check_sweep_folder
from tests.helpers.sweep_folder import write_sweep_folder
from tests.helpers.sweep_rows import ONE, synthetic_rows


@pytest.fixture
def sweep(tmp_path):
    return write_sweep_folder(tmp_path / "a", synthetic_rows(**ONE))


def test_check_sweep_folder_complete_sweep_by_folder_or_manifest(sweep):
    listed = json.loads((sweep / "manifest.json").read_text())["files"]
    for location in (sweep, sweep / "manifest.json", str(sweep)):
        checked = check_sweep_folder(location, argument="A")
        assert checked.folder == sweep.resolve()
        assert checked.files == {entry["path"]: entry["sha256"] for entry in listed}
        assert checked.sizes_csv == (sweep / "sizes.csv").read_text()
        assert checked.name == "a"


def test_check_sweep_folder_manifest_module_reads_the_same_manifest(sweep):
    # convsweep.tasks.manifest reads and hashes with these very functions (one reader for writing and checking).
    assert manifest.read_manifest(sweep) == json.loads((sweep / "manifest.json").read_text())
    assert manifest.file_digest(sweep / "sizes.csv")["size"] == (sweep / "sizes.csv").stat().st_size


def test_check_sweep_folder_no_manifest_refuses_naming_the_argument(tmp_path):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "sizes.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"^B='.*half' holds no complete sweep: no manifest.json"):
        check_sweep_folder(tmp_path / "half", argument="B")


def test_check_sweep_folder_no_such_path_refuses(tmp_path):
    with pytest.raises(ValueError, match=r"A='.*nowhere': no such folder or file"):
        check_sweep_folder(tmp_path / "nowhere", argument="A")


def test_check_sweep_folder_tampered_file_same_size_refuses_by_sha256(sweep):
    picture = next((sweep / "samples").rglob("*.png"))
    data = bytearray(picture.read_bytes())
    data[-1] ^= 0xFF  # same size, other bytes
    picture.write_bytes(bytes(data))
    relative = picture.relative_to(sweep).as_posix()
    with pytest.raises(
        ValueError, match=rf"1 file\(s\) do not match manifest.json \(first: {relative}: sha256 differs\)"
    ):
        check_sweep_folder(sweep, argument="A")


def test_check_sweep_folder_changed_sizes_csv_refuses(sweep):
    (sweep / "sizes.csv").write_text((sweep / "sizes.csv").read_text().replace("sobel_h", "sobel_x"))
    with pytest.raises(ValueError, match=r"first: sizes.csv: (size|sha256) differs"):
        check_sweep_folder(sweep, argument="A")


def test_check_sweep_folder_missing_file_refuses(sweep):
    next((sweep / "samples").rglob("*.png")).unlink()
    with pytest.raises(ValueError, match=r"missing\); rerun the sweep"):
        check_sweep_folder(sweep, argument="A")


def test_check_sweep_folder_entry_outside_the_folder_refuses(sweep, tmp_path):
    (tmp_path / "outside.txt").write_text("x")
    document = json.loads((sweep / "manifest.json").read_text())
    document["files"].append({"path": "../outside.txt", "size": 1, "sha256": "0" * 64})
    (sweep / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"not a path inside the folder"):
        check_sweep_folder(sweep, argument="A")


@pytest.mark.parametrize("text", ["{not json", "[]", '{"files": "x"}'])
def test_check_sweep_folder_not_a_manifest_refuses(sweep, text):
    (sweep / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match=r"manifest.json is not a sweep manifest"):
        check_sweep_folder(sweep, argument="A")
    with pytest.raises(ValueError, match=r"is not a sweep manifest"):
        check_sweep_folder(sweep / "manifest.json", argument="A")


def test_check_sweep_folder_without_sizes_csv_refuses(sweep):
    document = json.loads((sweep / "manifest.json").read_text())
    document["files"] = [entry for entry in document["files"] if entry["path"] != "sizes.csv"]
    (sweep / "manifest.json").write_text(json.dumps(document))
    with pytest.raises(ValueError, match=r"lists no sizes.csv"):
        check_sweep_folder(sweep, argument="A")
