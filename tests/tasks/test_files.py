"""Atomic writes: an interrupted write leaves neither a partial file nor a temp file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from convsweep.tasks.io import files


def test_atomic_open_interrupted_leaves_nothing(tmp_path):
    target = tmp_path / "sizes.csv"
    with pytest.raises(KeyboardInterrupt):
        with files.atomic_open(target, "wb") as handle:
            handle.write(b"half a ")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_atomic_open_interrupted_keeps_the_previous_file(tmp_path):
    target = files.write_text(tmp_path / "report.md", "complete")
    with pytest.raises(RuntimeError):
        with files.atomic_open(target, "wb") as handle:
            handle.write(b"partial")
            raise RuntimeError("disk full")
    assert target.read_text() == "complete"
    assert [path.name for path in tmp_path.iterdir()] == ["report.md"]


def test_write_png_round_trips_and_rejects_float(tmp_path):
    import cv2

    image = np.arange(12 * 7, dtype=np.uint8).reshape(12, 7)
    path = files.write_png(tmp_path / "a.png", image)
    np.testing.assert_array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), image)
    with pytest.raises(ValueError, match="uint8"):
        files.write_png(tmp_path / "b.png", image.astype(np.float32))


def test_written_files_get_the_umask_mode_not_mkstemp_private_mode(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        import importlib

        reloaded = importlib.reload(files)
        path = reloaded.write_text(tmp_path / "report.md", "x")
    finally:
        os.umask(mask)
        importlib.reload(files)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def _usual_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _write_with_every_writer(folder: Path) -> list[Path]:
    """One file from each writer in the project (they all go through convsweep.tasks.io.files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from convsweep.tasks.datasets.idx_format import write_idx
    from convsweep.tasks.prefect_glue.cache_records import JsonRecordStorage

    figure = plt.figure(figsize=(1, 1))
    try:
        written = [
            files.write_bytes(folder / "a.bin", b"x"),
            files.write_text(folder / "a.txt", "x"),
            files.write_png(folder / "a.png", np.zeros((2, 2), np.uint8)),
            files.write_npz(folder / "a.npz", a=np.zeros(2)),
            files.write_figure(folder / "a-figure.png", figure),
            files.write_csv(folder / "a.csv", pd.DataFrame({"a": [1]})),
            write_idx(folder / "a-idx3-ubyte.gz", np.zeros((1, 2, 2), np.uint8)),
        ]
    finally:
        plt.close(figure)
    storage = JsonRecordStorage(basepath=str(folder / "records"), results_path=str(folder / "results"))
    written.append(Path(storage.write_path("key", b"{}")))
    return written


def test_every_writer_creates_files_with_the_usual_mode(tmp_path):
    expected = _usual_mode()
    written = _write_with_every_writer(tmp_path)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == expected, path.name


def test_sizes_csv_from_the_cli_has_the_usual_mode(tmp_path, capsys):
    from convsweep.cli import main

    target = tmp_path / "sizes.csv"
    main(["sizes", "--csv", str(target)])  # returns on success (exits only on failure)
    assert stat.S_IMODE(target.stat().st_mode) == _usual_mode()
    assert [path.name for path in tmp_path.iterdir()] == ["sizes.csv"]  # no temp file left


def test_sweep_temp_files_removes_dead_writers_and_old_files_only(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    tag = files._HOST_TAG
    dead_writer = tmp_path / "maps" / f".tmp-0000000-0000500.npy.{tag}-{gone.pid}.k9nqvzpr"
    live_writer = tmp_path / f".tmp-sizes.csv.{tag}-{os.getpid()}.abcdefgh"
    other_host_recent = tmp_path / f".tmp-report.md.ffffff-{gone.pid}.abcdefgh"
    other_host_old = tmp_path / f".tmp-report.md.ffffff-{gone.pid}.zzzzzzzz"
    old_format_old = tmp_path / ".tmp-summary.png.q1w2e3r4"
    not_a_temp = tmp_path / "notes.tmp"
    every = [
        dead_writer,
        live_writer,
        other_host_recent,
        other_host_old,
        old_format_old,
        not_a_temp,
    ]
    for path in every:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    old = time.time() - 2 * files.STALE_TEMP_SECONDS
    for path in (other_host_old, old_format_old):
        os.utime(path, (old, old))

    removed = files.sweep_temp_files(tmp_path)

    assert sorted(removed) == sorted([dead_writer, other_host_old, old_format_old])
    assert sorted(path for path in every if path.exists()) == sorted([live_writer, other_host_recent, not_a_temp])
    assert files.sweep_temp_files(tmp_path / "missing") == []


def test_atomic_open_names_its_temp_file_after_this_process(tmp_path):
    with files.atomic_open(tmp_path / "a.csv", "wb") as handle:
        temps = list(tmp_path.iterdir())
        live_is_stale = files.is_stale_temp_file(temps[0])
        handle.write(b"x")
    assert len(temps) == 1 and temps[0].name.startswith(f".tmp-a.csv.{files._HOST_TAG}-{os.getpid()}.")
    assert live_is_stale is False  # this process is writing it
    assert [path.name for path in tmp_path.iterdir()] == ["a.csv"]


def test_atomic_writes_fsync_data_but_not_pictures(tmp_path, monkeypatch):
    synced = []
    real_fsync = files.os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda descriptor: (synced.append(descriptor), real_fsync(descriptor)))
    files.write_bytes(tmp_path / "record.json", b"{}")
    assert len(synced) == 1
    files.write_png(tmp_path / "map.png", np.zeros((4, 5), np.uint8))
    files.write_bytes(tmp_path / "preview.png", files.encode_png(np.zeros((2, 2), np.uint8)), durable=False)
    assert len(synced) == 1  # pictures are checked against the manifest instead (convsweep.tasks.io.files docstring)
    assert (tmp_path / "map.png").stat().st_size > 0


def test_write_bytes_disk_full_names_the_folder_and_leaves_no_temp_file(tmp_path, monkeypatch):
    # The OS reports a full disk at write() or fsync() with no file name: the error gets the folder.
    import errno

    from convsweep.tasks.io import files

    def full(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full)
    (tmp_path / "kept.npz").write_bytes(b"old")
    with pytest.raises(OSError, match=rf"No space left on device: cannot write kept.npz into the folder {tmp_path}$"):
        files.write_bytes(tmp_path / "kept.npz", b"new")
    assert [path.name for path in tmp_path.iterdir()] == ["kept.npz"]
    assert (tmp_path / "kept.npz").read_bytes() == b"old"  # the previous file is intact


def test_write_bytes_disk_full_on_a_real_tiny_tmpfs(tmp_path):
    import errno
    import subprocess

    from convsweep.tasks.io import files

    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)]).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        with pytest.raises(OSError, match=f"into the folder {folder}") as raised:
            files.write_bytes(folder / "big.bin", b"x" * (1 << 20))
        assert raised.value.errno == errno.ENOSPC
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["umount", str(folder)], check=True)
