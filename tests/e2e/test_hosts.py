"""A sweep across simulated machines (``tests/e2e/hosts.py``): the same CSV, a host lost, hosts refused.

Each test starts a Dask scheduler and worker hosts in their own namespaces (hostname, PID
space, /tmp and home), sharing one folder for the data, the outputs and the cache; the flow
runs here and reports to the session's Prefect server.  Every process is stopped by PID.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from distributed import Client

from tests.e2e.conftest import CHUNK_SIZE, free_port
from tests.e2e.hosts import finish_flow, start_cluster, start_flow
from tests.helpers.idx import make_keras_home, make_split, write_idx_folder

SWEEP = dict(strides=[1, 2], paddings=["valid", "same"], chunk_size=CHUNK_SIZE)


@pytest.fixture
def shared(tmp_path, idx_dataset) -> Path:
    """The shared storage: the data (a copy of the session's IDX folder) and room for outputs and cache."""
    folder = tmp_path / "shared"
    shutil.copytree(idx_dataset, folder / "data")
    return folder


def environment(server, **extra: str) -> dict[str, str]:
    return server.env(**extra)


def csv_without_timings(path: str | Path) -> str:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame.drop(columns=["compute_seconds"]).to_csv(index=False)


def reference_csv(server, shared: Path, parameters: dict, **extra_env: str) -> str:
    """sizes.csv of the same sweep in one process (threads), with its own cache and outputs."""
    flow = start_flow(
        shared.parent,
        {**parameters, "out": str(shared.parent / "reference")},
        shared.parent / "reference-cache",
        None,
        environment(server, **extra_env),
    )
    result, stderr = finish_flow(flow)
    assert result["kind"] == "RESULT", stderr[-3000:]
    return csv_without_timings(result["csv"])


def test_sweep_across_three_hosts_equals_one_process(prefect_server, shared):
    parameters = dict(dataset=f"idx:{shared / 'data'}", name="hosts", samples=[0, 1], **SWEEP)
    env = environment(prefect_server)
    cluster = start_cluster(shared, env)
    try:
        for name in ("host-a", "host-b", "host-c"):
            cluster.add_host(name, env)
        cluster.wait_for_workers(3)
        assert sorted(cluster.workers().values()) == ["host-a", "host-b", "host-c"]
        flow = start_flow(
            shared.parent, {**parameters, "out": str(shared / "out")}, shared / "cache", cluster.address, env
        )
        result, stderr = finish_flow(flow)
        assert result["kind"] == "RESULT", stderr[-3000:]
        ran = cluster.task_counts()
        assert ran["process_chunk"]["memory"] == 4 * 3  # 4 conv settings x 3 chunks, all on the hosts
    finally:
        cluster.stop()
    assert csv_without_timings(result["csv"]) == reference_csv(prefect_server, shared, parameters)
    assert not (shared / "cache" / "locks").exists()  # no cache locks (docs/decisions/0010)


def test_hosts_read_fashion_mnist_from_the_shared_keras_cache_without_keras(prefect_server, shared):
    # The flow's load-dataset fills (here: finds) the Keras cache on the shared folder through
    # keras.datasets; the hosts read its files themselves, importing neither Keras nor JAX.
    home = make_keras_home(shared / "keras", "fashion_mnist", train=make_split(8, seed=3), test=make_split(40, seed=4))
    parameters = dict(dataset="fashion_mnist", name="hosts-keras", samples=[0, 1], **SWEEP)
    env = environment(prefect_server, KERAS_HOME=str(home))
    cluster = start_cluster(shared, env)
    try:
        for name in ("host-a", "host-b"):
            cluster.add_host(name, env)
        cluster.wait_for_workers(2)
        flow = start_flow(
            shared.parent, {**parameters, "out": str(shared / "out")}, shared / "cache", cluster.address, env
        )
        result, stderr = finish_flow(flow)
        assert result["kind"] == "RESULT", stderr[-3000:]
        ran = cluster.task_counts()
        with Client(cluster.address, timeout=120) as client:
            # a lambda travels by value (the hosts have no tests package to import a function from)
            loaded = client.run(
                lambda: sorted({name.split(".")[0] for name in __import__("sys").modules} & {"keras", "jax", "jaxlib"})
            )
    finally:
        cluster.stop()
    assert ran["process_chunk"]["memory"] == 4 * 3 and ran["write_samples"]["memory"] == 4
    assert len(loaded) == 2 and all(modules == [] for modules in loaded.values()), loaded
    assert csv_without_timings(result["csv"]) == reference_csv(prefect_server, shared, parameters, KERAS_HOME=str(home))


def computing_a_chunk(client: Client, hostname: str) -> bool:
    """Whether the scheduler has a process-chunk task on the worker of ``hostname``."""
    names = client.run(__import__("socket").gethostname)
    return any(
        "process_chunk" in str(key)
        for address, keys in client.processing().items()
        if names.get(address) == hostname
        for key in keys
    )


def test_host_killed_while_computing_a_chunk_the_sweep_completes_with_the_same_csv(prefect_server, shared):
    # Large enough chunks (resized to 448x448) that host-b is caught computing one.
    parameters = dict(dataset=f"idx:{shared / 'data'}", name="host-lost", samples=[], resize=["448"], **SWEEP)
    env = environment(prefect_server)
    cluster = start_cluster(shared, env)
    try:
        cluster.add_host("host-a", env)
        doomed = cluster.add_host("host-b", env)
        cluster.wait_for_workers(2)
        flow = start_flow(
            shared.parent, {**parameters, "out": str(shared / "out")}, shared / "cache", cluster.address, env
        )
        deadline = time.monotonic() + 240
        with Client(cluster.address, timeout=120) as client:
            while not computing_a_chunk(client, "host-b"):
                assert flow.poll() is None, "the sweep ended before host-b computed a chunk"
                assert time.monotonic() < deadline, "host-b never computed a chunk"
                time.sleep(0.02)
        doomed.kill()  # kill -9 of host-b's PID namespace: every process of that host at once
        killed_at = time.monotonic()
        result, stderr = finish_flow(flow)
        recovered = time.monotonic() - killed_at
    finally:
        cluster.stop()
    assert result["kind"] == "RESULT", stderr[-3000:]
    # host-a computed host-b's chunk at once: there is no lock to wait for (docs/decisions/0010).
    print(f"host killed while computing a chunk: the sweep finished {recovered:.1f} s later")
    assert csv_without_timings(result["csv"]) == reference_csv(prefect_server, shared, parameters)


@pytest.mark.parametrize("fault", ["other data", "other code", "unreachable API"])
def test_a_host_that_cannot_run_the_sweep_is_refused_and_nothing_is_cached(prefect_server, shared, fault):
    parameters = dict(dataset=f"idx:{shared / 'data'}", name=f"refused-{fault.replace(' ', '-')}", samples=[], **SWEEP)
    env = environment(prefect_server)
    cluster = start_cluster(shared, env)
    try:
        if fault == "other data":  # the same path shows another copy of the data on this host
            other = shared / "other-copy"  # in the shared folder: the host's own /tmp hides the rest
            images, labels = make_split(40, seed=5)
            images[20, 5, 5] ^= 1  # one pixel of chunk 16-32
            write_idx_folder(other, test=(images, labels), gz=True)
            cluster.add_host("host-x", env, data_override=(shared / "data", other))
        elif fault == "other code":
            cluster.add_host("host-x", env, edit_code=True)
        else:  # its PREFECT_API_URL points where no server answers
            cluster.add_host("host-x", {**env, "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api"})
        cluster.wait_for_workers(1)
        flow = start_flow(
            shared.parent, {**parameters, "out": str(shared / "out")}, shared / "cache", cluster.address, env
        )
        result, stderr = finish_flow(flow)
        ran = cluster.task_counts()
    finally:
        cluster.stop()
    assert result["kind"] == "FAILED", result
    error = result["error"]
    everything = error + stderr
    if fault == "other data":
        assert "worker host-x read other data for images 16-32" in everything, everything[-3000:]
        assert str(shared / "data") in everything
    elif fault == "other code":
        assert "worker host-x runs code version" in everything and "the flow runs" in everything, everything[-3000:]
    else:
        assert "worker host-x" in everything and "cannot reach the Prefect API" in everything, everything[-3000:]
        assert "process_chunk" not in ran  # stopped before any work
    cached = [json.loads(path.read_bytes()) for path in (shared / "cache" / "results").glob("*")]
    if fault == "other data":
        # Only chunks whose pixels are the same on host-x (0-16, 32-40) may be cached; never 16-32.
        assert all(result["chunk"] in ([0, 16], [32, 40]) for result in cached), cached  # chunk records only
        assert len(cached) <= 4 * 2
    else:  # nothing computed on host-x is in the cache: no record, no result
        assert not cached and not list((shared / "cache" / "records").glob("*"))
