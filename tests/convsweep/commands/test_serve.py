"""`convsweep serve` without a server: bad input exits 2 before anything is contacted or registered.

``PREFECT_API_URL`` points at a port nothing listens on: a command that reached the API would
fail with exit 1 naming it, so exit 2 proves that bad input was rejected first.
"""

from __future__ import annotations

import textwrap

import pytest

from convsweep.commands import serve
from tests.convsweep.conftest import convsweep, dead_url, error_lines, run_in_process


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--cron", "0 3 * * *", "--strides", "0"], "strides=0"),
        (["--cron", "0 3 * * *", "--kernels", "sobel_h,nope"], "'nope'"),
        (["--cron", "0 3 * * *", "--name", "../escape"], "name='../escape'"),
        (["--cron", "0 3 * *"], "cron='0 3 * *'"),
        (["--cron", "0 3 * * *", "--timezone", "Mars/Olympus"], "Mars/Olympus"),
        (["--interval", "0"], "interval=0"),
        (["--cron", "0 3 * * *", "--interval", "60"], "exactly one schedule"),
        ([], "exactly one schedule"),
        (["--cron", "0 3 * * *", "--runner", "gpu"], "runner='gpu'"),
        (["--cron", "0 3 * * *", "--runner", "threads", "--dask-address", "tcp://h:8786"], "needs runner='dask'"),
        (["--cron", "0 3 * * *", "--max-concurrent-runs", "0"], "max_concurrent_runs=0"),
    ],
    ids=[
        "strides",
        "kernel",
        "name",
        "cron",
        "timezone",
        "interval",
        "two-schedules",
        "no-schedule",
        "runner",
        "address-without-dask",
        "limit",
    ],
)
def test_serve_bad_input_exits_2_before_contacting_the_server(
    args, expected, tmp_path, idx_folder, capsys, monkeypatch
):
    monkeypatch.setenv("PREFECT_API_URL", dead_url())  # reaching it would be exit 1
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run_in_process(capsys, "serve", "--dataset", f"idx:{idx_folder}", *args)
    assert code == 2, stderr
    [line] = stderr.strip().splitlines()
    assert expected in line, line
    assert "Traceback" not in stderr


def test_serve_from_config_rejects_extra_options_and_bad_entries(env, tmp_path, idx_folder):
    env["PREFECT_API_URL"] = dead_url()
    config = tmp_path / "serve.yaml"
    config.write_text(
        textwrap.dedent(f"""
        sweeps:
          good:
            cron: "0 4 * * *"
            dataset: "idx:{idx_folder}"
          bad:
            interval: 3600
            dataset: "idx:{idx_folder}"
            pool_modes: [median]
    """)
    )
    mixed = convsweep("serve", "--from-config", str(config), "--cron", "0 1 * * *", env=env, cwd=tmp_path)
    assert mixed.returncode == 2 and "remove --cron" in mixed.stderr
    bad = convsweep("serve", "--from-config", str(config), env=env, cwd=tmp_path)
    assert bad.returncode == 2
    [line] = error_lines(bad)
    assert "sweep 'bad'" in line and "median" in line


def test_load_serve_config_merges_defaults_and_fixes_paths(tmp_path, idx_folder):
    saved = tmp_path / "saved.yaml"
    saved.write_text("strides: [2]\npaddings: [same]\n")
    config = tmp_path / "conf" / "serve.yaml"
    config.parent.mkdir()
    config.write_text(
        textwrap.dedent(f"""
        defaults:
          dataset: "idx:{idx_folder}"
          out: results
        sweeps:
          nightly:
            cron: "0 3 * * *"
            timezone: Europe/Berlin
            config: ../saved.yaml
            runner: processes
            workers: 2
          hourly:
            interval: 3600
            limit: 10
            cache-dir: cache
    """)
    )
    nightly, hourly = serve.load_serve_config(config)
    assert (nightly.name, nightly.cron, nightly.timezone, nightly.interval) == (
        "nightly",
        "0 3 * * *",
        "Europe/Berlin",
        None,
    )
    assert nightly.parameters["strides"] == [2] and nightly.parameters["paddings"] == ["same"]
    assert nightly.parameters["name"] == "nightly"
    assert nightly.parameters["out"] == str(config.parent.resolve() / "results")  # relative to the file
    assert (nightly.runner, nightly.workers) == ("processes", 2)
    assert (hourly.interval, hourly.cron, hourly.parameters["limit"]) == (3600.0, None, 10)
    assert hourly.parameters["cache_dir"] == str(config.parent.resolve() / "cache")
    assert hourly.runner is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sweeps: {}", "'sweeps:' mapping"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\nextra: 1\n", "unknown top-level key"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\n    name: b\n", "'name' is the sweep's key"),
        ("sweeps:\n  '../x':\n    cron: '0 3 * * *'\n", "sweep name='../x'"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\n    strides: [-1]\n", "sweep 'a': strides"),
        ("sweeps:\n  a:\n    cron: '0 3 * * *'\n    runner: dask\n    workers: 0\n", "workers=0"),
        ("sweeps: [1, 2", "not valid YAML"),
    ],
    ids=["empty", "top-level", "name", "unsafe-name", "strides", "workers", "yaml"],
)
def test_load_serve_config_names_the_bad_entry(tmp_path, text, expected):
    config = tmp_path / "serve.yaml"
    config.write_text(text)
    with pytest.raises(ValueError) as raised:
        serve.load_serve_config(config)
    assert expected in str(raised.value), str(raised.value)


def test_check_schedule_accepts_one_valid_schedule():
    assert serve.check_schedule(cron=" 0 3 * * * ", interval=None, timezone=None, where="t") == (
        "0 3 * * *",
        None,
        None,
    )
    assert serve.check_schedule(cron=None, interval=90, timezone="UTC", where="t") == (None, 90.0, "UTC")
    with pytest.raises(TypeError, match="interval='60'"):
        serve.check_schedule(cron=None, interval="60", timezone=None, where="t")
