"""`convsweep sweep --help` reads at 80 columns: options in panels, value kinds as metavars, no cut names."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from convsweep.cli import app
from convsweep.options import sweep_parameters, with_sweep_options
from convsweep.tasks.model import PANELS

ROOT = Path(__file__).resolve().parents[2]


def _help(command: str, columns: int = 80) -> str:
    environment = {**os.environ, "COLUMNS": str(columns), "PYTHONPATH": str(ROOT)}
    environment.pop("TERMINAL_WIDTH", None)
    done = subprocess.run(
        [sys.executable, "-m", "convsweep.cli", command, "--help"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _shown_option_names(command: str) -> list[str]:
    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return [
        name
        for param in click_command.params
        if not getattr(param, "hidden", False)
        for name in (*param.opts, *param.secondary_opts)
        if name.startswith("--")
    ]


@pytest.mark.parametrize("command", ["sweep", "serve"])
def test_sweep_help_at_80_columns_has_panels_metavars_and_whole_option_names(command):
    text = _help(command)
    assert max(len(line) for line in text.splitlines()) <= 80
    names = _shown_option_names(command)
    assert "--pool-ceil-mode" in names and "--dask-address" in names and "--kernel" in names
    for name in names:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{name} is not shown whole"
    assert "…" not in text  # nothing cut
    assert "<str>" not in text
    for panel in PANELS:
        assert re.search(rf"╭─ {panel} ─", text), f"no {panel} panel"
    # The value kind of each option, e.g. `--limit -n INT`, `--strides -s LIST`, `--memory-budget MB`.
    assert re.search(r"--limit\s+-n\s+INT\s", text)
    assert re.search(r"--strides\s+-s\s+LIST\s", text)
    assert re.search(r"--memory-budget\s+MB\s", text)
    assert re.search(r"--out\s+-o\s+PATH\s", text)
    # Descriptions get the width: the dataset's help is on one line.
    assert "fashion_mnist, mnist, cifar10, cifar100," in text


def test_other_commands_help_at_80_columns_has_no_cut_text_and_no_str_metavar():
    for command in ("kernels", "sizes", "notebook", "server"):
        text = _help(command)
        assert "…" not in text, command
        assert "<str>" not in text, command
        for name in _shown_option_names(command):
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), f"{command}: {name} is not shown whole"


def _parameters_app() -> typer.Typer:
    test_app = typer.Typer()

    @test_app.command()
    @with_sweep_options()
    def show(given: dict) -> None:
        typer.echo(yaml.safe_dump(sweep_parameters(given).to_parameters()))

    return test_app


def test_hidden_no_switch_turns_off_what_a_config_turns_on(tmp_path):
    config = tmp_path / "sweep.yaml"
    config.write_text("dataset: sample\nkeep_maps: true\nrefresh: true\n")
    runner = CliRunner()
    on = runner.invoke(_parameters_app(), ["--config", str(config)])
    assert on.exit_code == 0, on.output
    assert yaml.safe_load(on.output)["keep_maps"] is True
    off = runner.invoke(_parameters_app(), ["--config", str(config), "--no-keep-maps"])
    assert off.exit_code == 0, off.output
    parameters = yaml.safe_load(off.output)
    assert parameters["keep_maps"] is False and parameters["refresh"] is True
    both = runner.invoke(_parameters_app(), ["--keep-maps", "--no-keep-maps"])
    assert isinstance(both.exception, ValueError) and "both given" in str(both.exception)


@pytest.mark.parametrize("command", [[], ["sweep"], ["kernels"], ["server"], ["server", "status"], ["serve"]])
def test_help_lists_help_as_a_plain_switch(capsys, monkeypatch, command):
    from convsweep.cli import main

    monkeypatch.setenv("COLUMNS", "120")
    try:
        main([*command, "--help"])
    except SystemExit as exited:
        assert exited.code in (0, None)
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "--help" in line)
    assert "<bool>" not in line, line
    assert "<bool>" not in out  # nor on --install-completion / --show-completion


def test_sweep_help_lists_every_dataset_kind():
    out = _help("sweep", columns=200)
    for kind in ("fashion_mnist", "mnist", "cifar10", "cifar100", "idx:", "images:", "sample", "skimage"):
        assert kind in out, kind
