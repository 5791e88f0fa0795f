"""tasks/io/folder_claim.py: who is writing a sweep's folder, and claims that two runs cannot both win."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

import pytest

from convsweep.tasks.io import folder_claim, manifest

PARAMETERS = {"name": "t", "kernels": ["sobel_h"], "refresh": False}
OTHER = {**PARAMETERS, "kernels": ["laplacian"]}


def _claim_in_child(folder: str, kernels: str, start, results) -> None:
    start.wait()
    try:
        manifest.begin_folder(folder, parameters={**PARAMETERS, "kernels": [kernels]}, flow_run_id=f"run-{kernels}")
        results.put(("claimed", kernels))
        start.wait()  # stay alive (a live writer) until every child has tried
    except folder_claim.FolderInUse as error:
        results.put(("refused", str(error)))
        start.wait()


def test_begin_folder_refuses_another_sweep_while_the_writer_lives_and_names_it(tmp_path):
    # A live writer: a process that sleeps; its marker is written as begin_folder writes it.
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        folder = tmp_path / "t"
        manifest.begin_folder(folder, parameters=PARAMETERS, flow_run_id="run-a")
        marker = folder_claim.read_marker(folder)
        marker["writers"][0].update(pid=sleeper.pid, pid_start=folder_claim.process_start(sleeper.pid))
        folder_claim.write_marker(folder, marker)
        with pytest.raises(folder_claim.FolderInUse) as refused:
            manifest.begin_folder(folder, parameters=OTHER, flow_run_id="run-b")
        message = str(refused.value)
        assert "\n" not in message
        assert "--name t:" in message and "flow run run-a" in message and f"process {sleeper.pid}" in message
        # The same sweep may join it (same bytes), and is then one more writer.
        assert manifest.begin_folder(folder, parameters={**PARAMETERS, "refresh": True}, flow_run_id="run-c").trusted
        assert [writer["flow_run_id"] for writer in folder_claim.read_marker(folder)["writers"]] == ["run-a", "run-c"]
    finally:
        sleeper.kill()
        sleeper.wait()
    # Gone (kill -9 or a crash): no writer, so another sweep may take the folder over.
    assert folder_claim.live_writers(folder_claim.read_marker(folder)) == []
    assert not manifest.begin_folder(folder, parameters=OTHER, flow_run_id="run-d").trusted


def test_release_removes_the_marker_with_the_last_writer(tmp_path):
    folder = tmp_path / "t"
    manifest.begin_folder(folder, parameters=PARAMETERS, flow_run_id="run-a")
    assert (folder / folder_claim.MARKER_NAME).is_file()
    folder_claim.release(folder, flow_run_id="run-a")
    assert not (folder / folder_claim.MARKER_NAME).exists()


def test_own_process_earlier_run_is_not_a_live_writer(tmp_path):
    # A failed run of this process (an earlier call, a test) does not hold the folder against the next one.
    folder = tmp_path / "t"
    manifest.begin_folder(folder, parameters=PARAMETERS, flow_run_id="run-a")
    marker = folder_claim.read_marker(folder)
    assert folder_claim.live_writers(marker, own_flow_run="run-a") == marker["writers"]
    assert folder_claim.live_writers(marker, own_flow_run="run-b") == []
    manifest.begin_folder(folder, parameters=OTHER, flow_run_id="run-b")


def test_two_sweeps_claiming_at_once_exactly_one_wins(tmp_path):
    # Processes released together by one event: the folder's lock lets exactly one claim it.
    context = multiprocessing.get_context("fork")  # forked: no re-import of Prefect in each child
    folder = str(tmp_path / "t")
    os.makedirs(folder)
    for _ in range(2):
        for leftover in os.listdir(folder):
            os.unlink(os.path.join(folder, leftover))
        start, results = context.Barrier(4), context.Queue()
        children = [
            context.Process(target=_claim_in_child, args=(folder, kernels, start, results))
            for kernels in ("sobel_h", "laplacian", "sobel_v")
        ]
        for child in children:
            child.start()
        start.wait()
        outcomes = [results.get(timeout=120) for _ in children]
        start.wait()
        for child in children:
            child.join(timeout=120)
        claimed = [what for verdict, what in outcomes if verdict == "claimed"]
        assert len(claimed) == 1, outcomes
        assert all("is being written by another run" in what for verdict, what in outcomes if verdict == "refused")
        assert folder_claim.read_marker(folder)["identity"].count(claimed[0]) == 1
