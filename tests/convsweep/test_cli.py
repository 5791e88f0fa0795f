"""The CLI's error policy, common to every command."""

from __future__ import annotations

import os
import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from convsweep.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_unknown_option_exits_2_with_one_line():
    done = run("sizes", "--bogus")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["convsweep: error: No such option: --bogus"]


def test_cli_unknown_command_exits_2():
    done = run("frobnicate")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("convsweep: error:") and "frobnicate" in lines[0]


def test_cli_without_arguments_shows_help_and_exits_0():
    done = run()
    assert done.returncode == 0
    assert "sweep" in done.stdout and "notebook" in done.stdout and "error" not in done.stderr


def _completions(words: str, env_extra: dict[str, str] | None = None) -> list[str]:
    """What bash's completion asks ``convsweep`` for the last of ``words`` (as the installed script does)."""
    import os

    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    env.update({"_CONVSWEEP_COMPLETE": "complete_bash", **(env_extra or {})})
    done = subprocess.run(
        [sys.executable, "-c", "from convsweep.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_completion_show_completion_prints_the_bash_script():
    done = run("--show-completion", "bash")
    assert done.returncode == 0, done.stderr
    assert "_CONVSWEEP_COMPLETE=complete_bash" in done.stdout
    assert "complete -o default -F _convsweep_completion convsweep" in done.stdout


def test_completion_tab_completes_commands_and_options():
    assert _completions("convsweep sw") == ["sweep"]
    assert _completions("convsweep sweep --pool-m") == ["--pool-modes"]
    assert "--json" in _completions("convsweep sizes --j")


def test_completion_install_completion_writes_the_script_under_home(tmp_path):
    import os

    env = {**os.environ, "HOME": str(tmp_path), "SHELL": "/bin/bash"}
    done = subprocess.run(
        [sys.executable, "-c", "from convsweep.cli import main; main()", "--install-completion", "bash"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    script = tmp_path / ".bash_completions" / "convsweep.sh"
    assert "_CONVSWEEP_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_cli_and_api_work_from_a_folder_with_its_own_tasks_py(tmp_path):
    # Installed, everything lives under `convsweep`: a project's own tasks.py (invoke, Celery, Prefect
    # projects) or flows.py in the working folder is never imported in their place.
    for name in ("tasks", "flows", "conv_core"):
        (tmp_path / f"{name}.py").write_text(f"raise SystemExit('the folder\\'s {name}.py was imported')\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    for command in (
        [sys.executable, "-m", "convsweep.cli", "sweep", "--help"],
        [sys.executable, "-m", "convsweep", "--version"],
        [sys.executable, "-c", "import convsweep; from convsweep.api import sweep; import convsweep.flows.sweep"],
    ):
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "was imported" not in done.stdout + done.stderr
