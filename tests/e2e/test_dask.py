"""A small sweep on a 2-worker Dask LocalCluster writes the same bytes as the default (threads) runner."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pandas as pd

from tests.e2e.conftest import CHUNK_SIZE, IDX_IMAGES, run_python, stop_process, tree_bytes

# Runs the sweep in a fresh process against the e2e server, like `convsweep sweep` does
# (convsweep.flow_runs.run_sweep), with the task runner from convsweep.task_runners.  A
# LocalCluster subclass reports, as it closes, what its scheduler ran: proof that the
# chunk tasks ran on the cluster's worker processes, not in the flow's process.
SCRIPT = textwrap.dedent("""
    import json, sys
    import distributed

    class RecordingLocalCluster(distributed.LocalCluster):
        def close(self, *args, **kwargs):
            ran = {name: dict(prefix.state_counts) for name, prefix in self.scheduler.task_prefixes.items()}
            threads = sorted(worker.nthreads for worker in self.scheduler.workers.values())
            print("CLUSTER " + json.dumps({"workers": len(self.workers), "threads": threads, "ran": ran}), flush=True)
            return super().close(*args, **kwargs)

    distributed.LocalCluster = RecordingLocalCluster  # make_task_runner names it "distributed.LocalCluster"

    import convsweep

    if __name__ == "__main__":  # Dask's worker processes are spawned: they import this file again
        parameters, cache_dir, runner, workers = json.loads(sys.argv[1])
        result = convsweep.sweep(**parameters, cache_dir=cache_dir, runner=runner, workers=workers)
        print("RESULT " + json.dumps({"task_runs": result.task_runs, "cached_task_runs": result.cached_task_runs}))
""")

CONV_SETTINGS = 2 * 2  # strides 1,2 x paddings valid,same
CHUNKS = -(-IDX_IMAGES // CHUNK_SIZE)


def run_sweep_subprocess(server, work, parameters, cache_dir, runner=None, workers=None) -> dict:
    script = work / "run_sweep.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [sys.executable, str(script), json.dumps([parameters, str(cache_dir), runner, workers])],
        env=server.env(),
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=300)
    finally:
        stop_process(process)  # the cluster's workers too, if anything was left behind
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = {
        line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])
        for line in stdout.splitlines()
        if line.startswith(("RESULT ", "CLUSTER "))
    }
    return lines


def without_timings(page: bytes) -> str:
    """report.html with the cells of its sizes table's ``compute_seconds`` column blanked (a timing, not a result)."""
    text = page.decode()
    columns = re.findall(r'<th scope="col">(.*?)</th>', text)
    seconds = columns.index("compute_seconds")

    def blank(row: re.Match) -> str:
        cells = re.findall(r"<td[^>]*>.*?</td>", row.group(2))
        cells[seconds] = "<td>(seconds)</td>"
        return row.group(1) + "".join(cells) + "</tr>"

    return re.sub(r'(<tr data-index="\d+">)(.*?)</tr>', blank, text)


def test_dask_local_cluster_outputs_equal_default_runner_bytes(prefect_server, idx_dataset, tmp_path):
    out = tmp_path / "out"
    parameters = dict(
        dataset=f"idx:{idx_dataset}",
        out=str(out),
        name="dask-check",
        strides=[1, 2],
        paddings=["valid", "same"],
        chunk_size=CHUNK_SIZE,
        samples=[0, 1],
        keep_maps=True,  # keep the feature maps: compare the numbers too
    )

    default = run_sweep_subprocess(prefect_server, tmp_path, parameters, tmp_path / "cache-default")
    assert "CLUSTER" not in default
    reference = out.with_name("out-default")
    shutil.move(out, reference)

    # Same output path, its own cache: every task computes again, on the cluster.
    dask = run_sweep_subprocess(prefect_server, tmp_path, parameters, tmp_path / "cache-dask", runner="dask", workers=2)
    cluster = dask["CLUSTER"]
    assert cluster["workers"] == 2 and cluster["threads"] == [1, 1]
    assert cluster["ran"]["process_chunk"]["memory"] == CONV_SETTINGS * CHUNKS
    assert cluster["ran"]["write_samples"]["memory"] == CONV_SETTINGS
    assert dask["RESULT"]["task_runs"] == default["RESULT"]["task_runs"]
    assert dask["RESULT"]["cached_task_runs"] == 0

    # Every task run of the Dask run is recorded in the server (workers report to the flow's API).
    runs = prefect_server.sweep_flow_runs("dask-check")  # oldest first: the default run, then the Dask run
    assert [run["state"]["type"] for run in runs] == ["COMPLETED", "COMPLETED"]
    tasks = prefect_server.task_runs(runs[1]["id"])
    assert len(tasks) == dask["RESULT"]["task_runs"]
    assert Counter(task["state"]["name"] for task in tasks) == {"Completed": dask["RESULT"]["task_runs"]}

    # Byte-identical outputs; sizes.csv's compute_seconds column is a timing, not a result, and
    # manifest.json names the flow run, the cache folder and sizes.csv's hash: it must list the same files.
    expected = tree_bytes(reference / "dask-check", skip=("sizes.csv", "manifest.json"))
    found = tree_bytes(out / "dask-check", skip=("sizes.csv", "manifest.json"))
    listed = [
        [entry["path"] for entry in json.loads((folder / "dask-check" / "manifest.json").read_text())["files"]]
        for folder in (reference, out)
    ]
    assert listed[0] == listed[1] == sorted([*found, "sizes.csv"])
    assert sorted(found) == sorted(expected)
    assert any(path.endswith(".npy") for path in found) and any(path.endswith(".png") for path in found)
    for path in expected:
        if path == "report.html":  # its full sizes table shows sizes.csv's compute_seconds too
            assert without_timings(found[path]) == without_timings(expected[path]), path
        else:
            assert found[path] == expected[path], path

    def csv_text(folder):
        frame = pd.read_csv(folder / "dask-check" / "sizes.csv", dtype=str, keep_default_na=False)
        return frame.drop(columns=["compute_seconds"]).to_csv(index=False)

    assert csv_text(out) == csv_text(reference)
    assert len(pd.read_csv(out / "dask-check" / "sizes.csv")) == CONV_SETTINGS * 2 * 3


def test_sweep_on_an_existing_cluster_at_its_address(prefect_server, idx_dataset, tmp_path):
    """`--dask-address`: a scheduler and 2 workers started like on other machines (`dask scheduler`,
    `dask worker`, no Prefect settings in their environment) run the chunk tasks, and every task
    run is recorded in the server the flow reports to."""
    from distributed import Client

    from tests.e2e.conftest import free_port

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bare_env = {key: value for key, value in prefect_server.env().items() if not key.startswith("PREFECT_")}
    dask = str(Path(sys.executable).with_name("dask"))
    processes = []
    try:
        processes.append(
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                env=bare_env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
        for _ in range(2):
            processes.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard"],
                    env=bare_env,
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)

        script = tmp_path / "run_on_cluster.py"
        script.write_text(
            textwrap.dedent(f"""
            import convsweep
            if __name__ == "__main__":
                result = convsweep.sweep(dataset="idx:{idx_dataset}", out="{tmp_path / "out"}", name="on-cluster",
                                         strides=[1, 2], chunk_size={CHUNK_SIZE}, samples=[0],
                                         cache_dir="{tmp_path / "cache"}", runner="dask", dask_address="{address}")
                print("TASK_RUNS", result.task_runs)
        """)
        )
        stdout = run_python([str(script)], env=prefect_server.env(), cwd=tmp_path)
        task_runs = int(stdout.split("TASK_RUNS")[-1].split()[0])

        with Client(address, timeout=60) as client:
            ran = client.run_on_scheduler(
                lambda dask_scheduler: {
                    name: dict(prefix.state_counts) for name, prefix in dask_scheduler.task_prefixes.items()
                }
            )
        conv_settings = 2 * 2  # strides 1,2 x paddings valid,same
        assert ran["process_chunk"]["memory"] == conv_settings * CHUNKS
        assert ran["write_samples"]["memory"] == conv_settings
        [run] = prefect_server.sweep_flow_runs("on-cluster")
        assert run["state"]["type"] == "COMPLETED"
        tasks = prefect_server.task_runs(run["id"])
        assert len(tasks) == task_runs
        assert sum(task["task_key"].startswith("process_chunk") for task in tasks) == conv_settings * CHUNKS
        assert len(pd.read_csv(tmp_path / "out" / "on-cluster" / "sizes.csv")) == conv_settings * 2 * 3
    finally:
        for process in reversed(processes):
            stop_process(process)
