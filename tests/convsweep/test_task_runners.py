"""The task runner factory behind --runner: threads, processes, Dask; bad combinations refused."""

from __future__ import annotations

import pytest

from convsweep.task_runners import check_runner_options, make_task_runner
from tests.convsweep.conftest import api_url_setting


def test_make_task_runner_builds_each_runner():
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    threads = make_task_runner("threads", workers=3)
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    processes = make_task_runner(" Processes ", workers=2)
    assert isinstance(processes, ProcessPoolTaskRunner) and processes._max_workers == 2
    local = make_task_runner("dask", workers=2)
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["n_workers"] == 2 and local.cluster_kwargs["threads_per_worker"] == 1
    assert local.cluster_kwargs["host"] == "127.0.0.1"
    # The flow engine duplicates its task runner: the copy keeps the class and the settings.
    assert type(local.duplicate()) is type(local) and local.duplicate().cluster_kwargs == local.cluster_kwargs
    assert type(processes.duplicate()) is type(processes)


def test_runner_classes_pickle_by_reference():
    import pickle

    # Served flows are pickled into their run's process together with their task runner.
    for name in ("processes", "dask"):
        runner = make_task_runner(name, workers=1)
        assert pickle.loads(pickle.dumps(type(runner))) is type(runner)
        assert type(pickle.loads(pickle.dumps(runner))) is type(runner)


def test_dask_address_needs_a_server_the_workers_reach():
    with api_url_setting(None):
        with pytest.raises(ValueError, match="set PREFECT_API_URL"):
            check_runner_options("dask", dask_address="tcp://127.0.0.1:8786")
    with api_url_setting("http://127.0.0.1:4200/api"):
        assert check_runner_options("dask", dask_address="tcp://127.0.0.1:8786") == "dask"
        with pytest.raises(ValueError, match="loopback"):
            check_runner_options("dask", dask_address="tcp://10.0.0.5:8786")
    with api_url_setting("http://10.0.0.1:4200/api"):
        runner = make_task_runner("dask", dask_address="tcp://10.0.0.5:8786")
    assert runner.address == "tcp://10.0.0.5:8786"


@pytest.mark.parametrize(
    ("kwargs", "error", "expected"),
    [
        (dict(runner="gpu"), ValueError, "runner='gpu'"),
        (dict(runner=3), TypeError, "runner=3"),
        (dict(runner="dask", workers=0), ValueError, "workers=0"),
        (dict(runner="threads", workers=2.5), TypeError, "workers=2.5"),
        (dict(runner="dask", dask_address="localhost:8786"), ValueError, "tcp://HOST:PORT"),
        (dict(runner="dask", dask_address="tcp://h:1", workers=2), ValueError, "own workers"),
    ],
)
def test_make_task_runner_rejects_bad_options(kwargs, error, expected):
    with pytest.raises(error) as raised:
        make_task_runner(**kwargs)
    assert expected in str(raised.value)


def test_task_runner_from_options_keeps_the_flow_default_unless_asked():
    from prefect_dask import DaskTaskRunner

    from convsweep.task_runners import task_runner_from_options

    assert task_runner_from_options() is None
    assert task_runner_from_options("threads", workers=2)._max_workers == 2
    with api_url_setting("http://127.0.0.1:4200/api"):
        implied = task_runner_from_options(dask_address="tcp://127.0.0.1:8786")
    assert isinstance(implied, DaskTaskRunner) and implied.address == "tcp://127.0.0.1:8786"
    with pytest.raises(ValueError, match="needs runner='dask'"):
        task_runner_from_options("processes", dask_address="tcp://127.0.0.1:8786")


def test_check_runner_options_huge_workers_is_refused():
    import pytest

    with pytest.raises(ValueError, match="workers=100000000000000000000 is more than 1,024"):
        check_runner_options("processes", workers=10**20)
