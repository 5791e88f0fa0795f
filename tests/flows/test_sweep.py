"""The sweep flow on generated IDX data: shapes, values, caching, failures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convsweep import conv_core
from convsweep.flows.sweep import sweep
from convsweep.tasks.prefect_glue import caching
from tests.helpers import api

SMALL = dict(
    strides=[1, 2],
    paddings=["valid", "same"],
    pool_modes=["max", "avg"],
    pool_sizes=[2],
    samples=[0, 3],
    chunk_size=16,  # 40 images -> chunks 0-16, 16-32, 32-40
)


def run(tmp_path: Path, folder: Path, **overrides):
    """Run the sweep; return (result, {task run name: state name}) once the API has recorded it all."""
    parameters = dict(dataset=f"idx:{folder}", out=str(tmp_path / "out"), name="t", cache_dir=str(tmp_path / "cache"))
    parameters.update(SMALL)
    parameters.update(overrides)
    state = sweep(**parameters, return_state=True)
    result = state.result()
    runs = api.task_runs(state.state_details.flow_run_id, result["task_runs"])
    assert len(runs) == result["task_runs"]
    return result, {run.name: run.state.name for run in runs}


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def tree_without_run_id(folder: Path) -> dict[str, bytes]:
    """``tree_bytes`` with manifest.json's ``flow_run_id`` blanked: the one field that differs between runs."""
    tree = tree_bytes(folder)
    manifest = json.loads(tree["manifest.json"])
    assert manifest["flow_run_id"]  # a real id was recorded, then blanked for the comparison
    tree["manifest.json"] = json.dumps({**manifest, "flow_run_id": None}, indent=2).encode()
    return tree


def assert_manifest_matches_folder(folder: Path) -> dict:
    """manifest.json lists every file of the folder (but itself) with its size and sha256, and nothing else."""
    import hashlib

    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    listed = {entry["path"]: entry for entry in manifest["files"]}
    assert on_disk - {"manifest.json"} == set(listed)
    for relative, entry in listed.items():
        data = (folder / relative).read_bytes()
        assert entry["size"] == len(data), relative
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), relative
    return manifest


def test_sweep_rows_equal_output_size_and_maps(tmp_path, idx_folder):
    folder, images = idx_folder
    result, _ = run(tmp_path, folder, keep_maps=True)
    frame = pd.read_csv(result["csv"])
    # 2 strides x 2 paddings (conv) x 2 pools, 3 maps each (sobel_h, sobel_v, sobel)
    assert len(frame) == 2 * 2 * 2 * 3
    assert set(frame["kernel"]) == {"sobel_h", "sobel_v", "sobel"}
    for row in frame.itertuples():
        padding = row.padding
        expected_h = conv_core.output_size(28, 3, stride=row.stride_y, padding=padding)
        assert (row.conv_h, row.conv_w) == (expected_h, expected_h)
        assert (row.pad_top + row.pad_bottom) == (
            0 if padding == "valid" else max((expected_h - 1) * row.stride_y + 3 - 28, 0)
        )
        assert row.pool_h == conv_core.output_size(row.conv_h, 2, stride=2)
        assert row.conv_formula.endswith(f"= {row.conv_h}")
        assert row.n_images == 40
    # The kept maps, chunk by chunk, equal conv_core on the whole batch.
    out = Path(result["output_dir"])
    for stride in (1, 2):
        for padding in ("valid", "same"):
            label = f"rnative-s{stride}-p{padding}-zeros-d1"
            for name, kernel in (("sobel_h", "sobel_h"), ("sobel_v", "sobel_v")):
                parts = sorted((out / "maps" / label / name).glob("*.npy"))
                assert len(parts) == 3
                kept = np.concatenate([np.load(part) for part in parts])
                direct = conv_core.conv2d(images, conv_core.kernels.get(kernel), stride=stride, padding=padding)
                np.testing.assert_array_equal(kept, direct)
    # Statistics of the magnitude over the whole selection, merged across chunks.
    row = frame[
        (frame.kernel == "sobel")
        & (frame.stride.astype(str) == "1")
        & (frame.padding == "valid")
        & (frame.pool_mode == "max")
    ].iloc[0]
    magnitude = conv_core.sobel_magnitude(
        conv_core.conv2d(images, conv_core.kernels.get("sobel_h")),
        conv_core.conv2d(images, conv_core.kernels.get("sobel_v")),
    )
    pooled = conv_core.pool2d(magnitude, 2, mode="max").astype(np.float64)
    assert row["mean"] == pytest.approx(pooled.mean(), rel=1e-6)
    assert row["std"] == pytest.approx(pooled.std(), rel=1e-5)
    assert row["max"] == pytest.approx(pooled.max(), rel=1e-6)
    assert row["zero_fraction"] == pytest.approx(np.mean(pooled == 0), abs=1e-6)
    # The Prefect UI's artifacts, keyed by sweep name.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = {
            artifact.key: artifact
            for artifact in client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["t-sizes", "t-report", "t-progress"]))
            )
        }
    assert set(artifacts) == {"t-sizes", "t-report", "t-progress"}
    table = artifacts["t-sizes"].data
    table = json.loads(table) if isinstance(table, str) else table
    assert len(table) == len(frame) and table[0]["conv_formula"] == frame["conv_formula"].iloc[0]
    # The report artifact shows the pictures; the numbers are the table artifact's.
    assert "## Summary" in artifacts["t-report"].data and "## Sample maps" in artifacts["t-report"].data
    assert float(artifacts["t-progress"].data) == 100.0
    # Pictures and the report.
    assert (out / "report.md").read_text().count("contact sheet") == 4
    assert (out / "summary.png").stat().st_size > 0
    assert len(list((out / "contact").glob("*.png"))) == 4


def test_sweep_rerun_is_all_cached_and_byte_identical(tmp_path, idx_folder):
    folder, _ = idx_folder
    first, states_first = run(tmp_path, folder)
    before = tree_without_run_id(Path(first["output_dir"]))
    first_id = json.loads((Path(first["output_dir"]) / "manifest.json").read_text())["flow_run_id"]
    second, states_second = run(tmp_path, folder)
    after = tree_without_run_id(Path(second["output_dir"]))
    # Byte-identical but for the manifest's flow-run id, which names the run that wrote it.
    assert before == after
    assert first_id != json.loads((Path(second["output_dir"]) / "manifest.json").read_text())["flow_run_id"]
    compute = {
        name: state
        for name, state in states_second.items()
        if name.startswith(("chunk", "samples", "write-")) and name != "write-manifest"
    }
    assert len(compute) == 4 * 3 + 4 + 2
    assert set(compute.values()) == {"Cached"}
    assert states_second["write-manifest"] == "Completed"  # written on every run, last
    assert "Cached" not in {state for name, state in states_first.items() if name.startswith(("chunk", "samples"))}


def test_sweep_warm_rerun_hashes_each_output_file_once(tmp_path, idx_folder, monkeypatch):
    from collections import Counter

    from convsweep.tasks.io import manifest

    folder, _ = idx_folder
    first, _ = run(tmp_path, folder)
    read = Counter()
    real_digest = manifest.file_digest

    def counted(path):
        read[Path(path).resolve()] += 1
        return real_digest(path)

    monkeypatch.setattr(manifest, "file_digest", counted)
    second, _ = run(tmp_path, folder)
    listed = json.loads((Path(second["output_dir"]) / "manifest.json").read_text())["files"]
    # The check that the folder is this sweep's reads each file; the manifest reuses those digests.
    assert len(read) == len(listed) and set(read.values()) == {1}
    assert_manifest_matches_folder(Path(second["output_dir"]))


def test_sweep_added_stride_computes_only_new_configurations(tmp_path, idx_folder):
    folder, _ = idx_folder
    run(tmp_path, folder, strides=[1])
    _, states = run(tmp_path, folder, strides=[1, 3])
    chunk_states = {name: state for name, state in states.items() if name.startswith("chunk")}
    assert len(chunk_states) == 2 * 2 * 3
    for name, state in chunk_states.items():
        assert state == ("Cached" if "-s1-" in name else "Completed"), name


def test_sweep_equivalent_numbers_share_cache_keys(tmp_path, idx_folder):
    folder, _ = idx_folder
    run(tmp_path, folder, strides=[1])
    _, states = run(tmp_path, folder, strides=[np.int64(1)], chunk_size=np.int64(16))
    _, states_float = run(tmp_path, folder, strides=[1.0])
    for found in (states, states_float):
        assert {state for name, state in found.items() if name.startswith("chunk")} == {"Cached"}


def test_sweep_refresh_recomputes(tmp_path, idx_folder):
    folder, _ = idx_folder
    run(tmp_path, folder, strides=[1])
    _, states = run(tmp_path, folder, strides=[1], refresh=True)
    assert {state for name, state in states.items() if name.startswith(("chunk", "samples"))} == {"Completed"}


def test_sweep_missing_output_file_recomputes_it(tmp_path, idx_folder):
    folder, _ = idx_folder
    first, _ = run(tmp_path, folder, strides=[1], paddings=["valid"])
    picture = Path(first["output_dir"]) / "samples" / "rnative-s1-pvalid-zeros-d1" / "3-sobel.png"
    original = picture.read_bytes()
    picture.unlink()
    _, states = run(tmp_path, folder, strides=[1], paddings=["valid"])
    assert {state for name, state in states.items() if name.startswith("samples")} == {"Completed"}
    assert {state for name, state in states.items() if name.startswith("chunk")} == {"Cached"}
    assert picture.read_bytes() == original


def test_sweep_emptied_picture_is_redrawn(tmp_path, idx_folder):
    # Pictures are renamed into place without an fsync (convsweep.tasks.io.files): a power loss can leave one
    # empty under its name. The next run's folder check (sizes and sha256 against manifest.json)
    # must catch it and redraw it, though every task's record is still there.
    folder, _ = idx_folder
    first, _ = run(tmp_path, folder, strides=[1], paddings=["valid"])
    picture = Path(first["output_dir"]) / "samples" / "rnative-s1-pvalid-zeros-d1" / "0-sobel_h.png"
    original = picture.read_bytes()
    picture.write_bytes(b"")
    _, states = run(tmp_path, folder, strides=[1], paddings=["valid"])
    assert {state for name, state in states.items() if name.startswith("samples")} == {"Completed"}
    assert picture.read_bytes() == original


def test_sweep_code_change_invalidates_cache(tmp_path, idx_folder, monkeypatch):
    folder, _ = idx_folder
    run(tmp_path, folder, strides=[1], paddings=["valid"])
    monkeypatch.setattr(caching, "code_version", lambda: "edited-source")
    _, states = run(tmp_path, folder, strides=[1], paddings=["valid"])
    assert {state for name, state in states.items() if name.startswith(("chunk", "samples"))} == {"Completed"}


def test_sweep_data_change_invalidates_cache(tmp_path, idx_folder):
    from tests.helpers.idx import write_idx_images

    folder, images = idx_folder
    run(tmp_path, folder, strides=[1], paddings=["valid"])
    changed = images.copy()
    changed[20, 5, 5] ^= 1  # one pixel of chunk 16-32
    write_idx_images(folder / "t10k-images-idx3-ubyte.gz", changed)
    _, states = run(tmp_path, folder, strides=[1], paddings=["valid"])
    # Chunks are keyed by their own content: only the chunk holding the pixel runs again.
    chunk_states = {name: state for name, state in states.items() if name.startswith("chunk")}
    assert chunk_states == {
        "chunk-rnative-s1-pvalid-zeros-d1-0-16": "Cached",
        "chunk-rnative-s1-pvalid-zeros-d1-16-32": "Completed",
        "chunk-rnative-s1-pvalid-zeros-d1-32-40": "Cached",
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"strides": [0]}, "strides=0 must be positive"),
        ({"paddings": ["wide"]}, "paddings='wide' is not a padding"),
        ({"kernels": ["nope"]}, "unknown kernel 'nope'"),
        ({"name": "../escape"}, "name='../escape' is not a valid name"),
        ({"dilations": [20]}, "impossible settings for 28x28 images"),
    ],
)
def test_sweep_bad_parameters_fail_before_work(tmp_path, idx_folder, overrides, message):
    # A value one parameter's parser refuses is refused by Prefect's parameter validation
    # (ParameterTypeError, as for a run started from the UI); one that only the combination
    # refuses, by the model in the flow (ValueError); one that only the data refuses (kernels
    # larger than its images), once the data is described (DataMismatchError: a Failed run,
    # exit 1 on the command line). All carry the model's message and come before any work.
    from prefect.exceptions import ParameterTypeError

    from convsweep.tasks.datasets.errors import DataMismatchError

    folder, _ = idx_folder
    with pytest.raises(
        (ValueError, ParameterTypeError, DataMismatchError),
        match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\."),
    ):
        run(tmp_path, folder, **overrides)
    assert not (tmp_path / "out" / "t").exists()
    assert not (tmp_path / "cache" / "results").exists() or not any((tmp_path / "cache" / "results").iterdir())


@pytest.mark.slow
def test_sweep_in_bands_under_a_small_memory_budget_writes_what_the_whole_images_give(tmp_path):
    import cv2

    from convsweep.tasks.model import parse_parameters
    from convsweep.tasks.plan.chunking import band_rows

    folder = tmp_path / "big"
    folder.mkdir()
    rng = np.random.default_rng(11)
    for index in range(2):
        cv2.imwrite(str(folder / f"{index}.png"), rng.integers(0, 256, size=(1200, 1100), dtype=np.uint8))
    settings = parse_parameters(dataset=f"images:{folder}", memory_budget=48, **SMALL)
    assert all(
        band_rows((1200, 1100), conv, settings.kernel_matrices, settings.pool_settings, memory_budget_mb=48)
        for conv in settings.conv_settings
    )  # every conv setting is computed in bands at 48 MB ...
    common = dict(dataset=f"images:{folder}", split="all", keep_maps=True, chunk_size=1, samples=[1])
    banded, _ = run(tmp_path / "banded", folder, memory_budget=48, **common)
    whole, _ = run(tmp_path / "whole", folder, memory_budget=100_000, **common)  # ... and whole at 100 GB
    columns = [column for column in pd.read_csv(whole["csv"]).columns if column != "compute_seconds"]
    pd.testing.assert_frame_equal(pd.read_csv(banded["csv"])[columns], pd.read_csv(whole["csv"])[columns])
    banded_files = tree_bytes(Path(banded["output_dir"]) / "maps") | tree_bytes(Path(banded["output_dir"]) / "samples")
    whole_files = tree_bytes(Path(whole["output_dir"]) / "maps") | tree_bytes(Path(whole["output_dir"]) / "samples")
    assert len(banded_files) == 2 * 2 * 3 * 2 + 2 * 2 * (1 + 3 + 3 * 2)  # .npy per conv x map x chunk; PNGs
    assert banded_files == whole_files


def test_sweep_other_kernels_under_the_default_name_leave_only_their_files(tmp_path, idx_folder):
    # Sweep A, then sweep B with other kernels and pools, both under the default name (idx-idx-test).
    folder, _ = idx_folder
    first, _ = run(tmp_path, folder, name=None, strides=[1, 2])
    out = Path(first["output_dir"])
    assert out.name == "idx-idx-test"
    a_files = set(tree_bytes(out))
    assert any("sobel" in name for name in a_files) and any(name.startswith("samples/") for name in a_files)
    second, _ = run(tmp_path, folder, name=None, strides=[1], kernels=["laplacian"], pool_modes=["max"])
    assert Path(second["output_dir"]) == out
    manifest = assert_manifest_matches_folder(out)
    names = set(tree_bytes(out))
    assert not [name for name in names if "sobel" in name or "-avg" in name or "rnative-s2-" in name]
    # 1 conv setting: 2 samples x (input, laplacian, laplacian after max) + 1 contact sheet + 4 top-level files.
    assert sorted(name for name in names if name.startswith(("samples/", "contact/"))) == sorted(
        [
            f"samples/rnative-s1-pvalid-zeros-d1/{i}-{stage}.png"
            for i in (0, 3)
            for stage in ("input", "laplacian", "laplacian-max2-s2-pvalid")
        ]
        + [
            f"samples/rnative-s1-psame-zeros-d1/{i}-{stage}.png"
            for i in (0, 3)
            for stage in ("input", "laplacian", "laplacian-max2-s2-pvalid")
        ]
        + ["contact/rnative-s1-pvalid-zeros-d1.png", "contact/rnative-s1-psame-zeros-d1.png"]
    )
    assert len(second["removed_files"]) == len(a_files - names) and second["foreign_files"] == []
    assert manifest["parameters"]["kernels"] == ["laplacian"] and manifest["flow_run_id"]
    assert manifest["dataset"]["fingerprint"] == first["fingerprint"]
    assert set(pd.read_csv(out / "sizes.csv")["kernel"]) == {"laplacian"}


def test_sweep_back_to_earlier_settings_rewrites_same_named_files(tmp_path, idx_folder):
    # B's contact sheets and report have the names A's cached tasks expect: A must not keep them.
    folder, _ = idx_folder
    first, _ = run(tmp_path, folder, strides=[1], paddings=["valid"])
    out = Path(first["output_dir"])
    a_tree = tree_without_run_id(out)
    run(tmp_path, folder, strides=[1], paddings=["valid"], kernels=["sobel_h", "sobel_v", "laplacian"])
    assert tree_without_run_id(out) != a_tree
    _, states = run(tmp_path, folder, strides=[1], paddings=["valid"])
    assert tree_without_run_id(out) == a_tree
    assert_manifest_matches_folder(out)
    # Only the tasks that write files ran again; the chunk statistics came from the cache.
    assert {state for name, state in states.items() if name.startswith("chunk")} == {"Cached"}
    assert {state for name, state in states.items() if name.startswith(("samples", "write-"))} == {"Completed"}


def test_sweep_folder_cleanup_keeps_the_cache_and_files_it_did_not_write(tmp_path, idx_folder):
    folder, _ = idx_folder
    out = tmp_path / "out" / "t"
    inner_cache = out / "maps" / "cache"  # a cache folder inside the sweep's own subfolder: never touched
    run(tmp_path, folder, strides=[1], paddings=["valid"], keep_maps=True, cache_dir=str(inner_cache))
    cache_files = {path: path.read_bytes() for path in inner_cache.rglob("*") if path.is_file()}
    assert cache_files
    (out / "notes.txt").write_text("mine")
    outside = tmp_path / "out" / "outside.txt"
    outside.write_text("not the sweep's")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"].append({"path": "../outside.txt", "size": 15, "sha256": "0" * 64})
    (out / "manifest.json").write_text(json.dumps(manifest))
    result, _ = run(tmp_path, folder, strides=[2], paddings=["valid"], keep_maps=False, cache_dir=str(inner_cache))
    assert outside.read_text() == "not the sweep's" and (out / "notes.txt").read_text() == "mine"
    # The cleanup never removes or rewrites the cache; only the dataset identity index grows by design.
    assert all(path.exists() for path in cache_files)
    index = inner_cache / "datasets" / "index.json"
    assert {path: path.read_bytes() for path in cache_files if path != index} == {
        path: data for path, data in cache_files.items() if path != index
    }
    assert not list((out / "maps").glob("rnative-*")) and not (out / "samples" / "rnative-s1-pvalid-zeros-d1").exists()
    assert result["foreign_files"] == ["notes.txt"]
    listed = {entry["path"] for entry in json.loads((out / "manifest.json").read_text())["files"]}
    assert "notes.txt" not in listed and not any(path.startswith("maps/") for path in listed)
