"""Two `convsweep sweep` runs with different settings started at once on one --name (issue 22).

Before, the second exited 0 with a manifest that described it while sizes.csv, report.md and the
pictures were the first one's, and the first failed on files removed under it.  Now the folder is
claimed by one sweep at a time (``convsweep.tasks.io.folder_claim``): exactly one writes it, the other is refused
in one line naming the run that holds it, either by the preflight (exit 2) or, when both got
past it together, by the claim inside its run (exit 1).  Whatever the order, every file of the folder
is listed in manifest.json with the sha256 it has.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from convsweep.tasks.io.sweep_folder import file_digest
from tests.e2e.conftest import stop_process
from tests.helpers.idx import make_split, write_idx_folder


@pytest.mark.slow
def test_two_sweeps_on_one_name_at_once_exactly_one_writes_and_the_folder_matches_its_manifest(tmp_path, env):
    idx_folder = write_idx_folder(tmp_path / "idx", test=make_split(300, seed=5))
    common = ["sweep", "--dataset", f"idx:{idx_folder}", "--chunk-size", "50", "--out", str(tmp_path / "out")]
    settings = {
        "a": ["--resize", "native,40", "--paddings", "valid,same"],  # 12 conv settings of Sobel
        "b": ["--strides", "3", "--kernels", "laplacian"],
    }
    script = "from convsweep.cli import main; main()"
    processes = {}
    try:
        for key, options in settings.items():
            processes[key] = subprocess.Popen(
                [sys.executable, "-c", script, *common, *options, "--name", "same"],
                env={**env, "PREFECT_HOME": str(tmp_path / f"home-{key}")},  # two API servers, one cache
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,  # stop_process stops its process group
            )
        outputs = {key: process.communicate(timeout=600) for key, process in processes.items()}
    finally:
        for process in processes.values():
            stop_process(process)
    codes = {key: process.returncode for key, process in processes.items()}
    winners = [key for key, code in codes.items() if code == 0]
    assert winners, outputs
    if len(winners) == 1:  # they overlapped: the other one was refused, in one line naming the winner's run
        (loser,) = set(settings) - set(winners)
        assert codes[loser] in (1, 2), outputs[loser]
        last = outputs[loser][1].strip().splitlines()[-1]
        assert last.startswith("convsweep: error: ") and "is being written by another run" in last, outputs[loser]
        assert f"process {processes[winners[0]].pid} " in last, last
        assert "Traceback" not in outputs[loser][1]
    folder = tmp_path / "out" / "same"
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {entry["path"]: entry for entry in manifest["files"]}
    present = {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and path.name != "manifest.json"
    }
    assert present == set(listed)  # nothing unlisted (no .tmp-* file, no marker), nothing missing
    for relative, entry in listed.items():
        assert file_digest(folder / relative) == {"size": entry["size"], "sha256": entry["sha256"]}, relative
    last_writer = winners[0] if len(winners) == 1 else None
    if last_writer is not None:
        kernels = ["laplacian"] if last_writer == "b" else ["sobel_h", "sobel_v"]
        assert manifest["parameters"]["kernels"] == kernels
