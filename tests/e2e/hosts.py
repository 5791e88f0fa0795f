"""Simulated machines for the multi-host tests: Dask worker "hosts" in their own Linux namespaces.

Each host is ``unshare --uts --pid --mount --fork --kill-child`` (root; the tests run as root
here) around one ``dask worker``:

* its own **hostname** (UTS namespace) and **PID space** (its processes are 1, 2, ... inside;
  a lock it takes names a PID that means nothing to the other hosts);
* its own **/tmp** (a tmpfs mounted in its mount namespace) and **home** (``/tmp/home``
  in it), and its own copy of the project at ``/tmp/project-<host>`` (``PYTHONPATH``), so
  the code is the same files at another path, or other code when the test edits the copy;
* one **shared folder** (the test's; NFS in real life) re-mounted at the same path after
  ``/tmp`` is replaced, holding the data, the outputs and the cache; a test may mount
  another data folder over the shared one on a host (``data_override``);
* the same network namespace: the scheduler (and the Prefect server) on 127.0.0.1.

Every host is stopped by PID: ``kill -9`` of its namespace's first process ends the whole
PID namespace (the kernel kills every process in it); :meth:`Host.stop` does that and then
stops ``unshare``'s process group.  The scheduler is an ordinary process group.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.conftest import PROJECT_ROOT, free_port, stop_process

START_TIMEOUT = 120.0  # seconds for a scheduler or a worker host to come up on a loaded machine
PACKAGES = ("conv_core", "tasks", "flows", "convsweep")
DASK = str(Path(sys.executable).with_name("dask"))


def _kept_under_tmp() -> list[str]:
    """The project and the interpreter's prefix when they live under /tmp (a CI clone), outermost only.

    The host's own tmpfs over /tmp would hide them: the host script mounts them back.
    """
    paths = sorted({str(PROJECT_ROOT.resolve()), str(Path(sys.prefix).resolve())})
    under_tmp = [path for path in paths if path.startswith("/tmp/")]
    return [path for path in under_tmp if not any(path.startswith(other + "/") for other in under_tmp)]


_HOST_SCRIPT = r"""
set -eu
hostname "$HOST_NAME"
# The shared folder (and the project and its virtualenv, when a clone lives under /tmp) are
# under the real /tmp: set them aside, give this host its own /tmp, and put them back at the
# same paths.  All of it in this mount namespace only.
mount -t tmpfs tmpfs /mnt
index=0
for kept in "$SHARED" $KEEP_PATHS; do
    mkdir -p "/mnt/$index" && mount --bind "$kept" "/mnt/$index"
    index=$((index + 1))
done
mount -t tmpfs tmpfs /tmp
index=0
for kept in "$SHARED" $KEEP_PATHS; do
    mkdir -p "$kept" && mount --move "/mnt/$index" "$kept"
    index=$((index + 1))
done
if [ -n "${DATA_OVERRIDE:-}" ]; then mount --bind "$DATA_OVERRIDE_SOURCE" "$DATA_OVERRIDE"; fi
mkdir -p /tmp/home "$PROJECT_COPY"
for package in $PACKAGES; do cp -r "$PROJECT_SOURCE/$package" "$PROJECT_COPY/"; done
if [ -n "${EDIT_CODE:-}" ]; then echo "# edited on $HOST_NAME" >> "$PROJECT_COPY/tasks/compute.py"; fi
cd "$PROJECT_COPY"
exec "$DASK" worker "$SCHEDULER" --nthreads 1 --no-dashboard --name "$HOST_NAME" --death-timeout 60
"""


@dataclass
class Host:
    """One simulated machine: ``unshare`` (its process) around a ``dask worker``."""

    name: str
    process: subprocess.Popen
    log: Path

    def init_pid(self) -> int | None:
        """The PID (outside) of the first process in the host's PID namespace: ``unshare``'s child."""
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        except OSError:
            return None
        return int(children[0]) if children else None

    def kill(self) -> None:
        """``kill -9`` the whole host: its PID namespace's first process, so the kernel kills the rest."""
        pid = self.init_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        stop_process(self.process, sig=signal.SIGKILL)


@dataclass
class Cluster:
    """A Dask scheduler on 127.0.0.1 and the hosts started against it."""

    address: str
    scheduler: subprocess.Popen
    shared: Path
    hosts: list[Host] = field(default_factory=list)

    def add_host(
        self,
        name: str,
        env: dict[str, str],
        *,
        edit_code: bool = False,
        data_override: tuple[Path, Path] | None = None,
    ) -> Host:
        """Start host ``name``; ``env`` is its workers' environment (PREFECT_API_URL ...).

        ``data_override``: (path in the shared folder, folder mounted over it on this host only).
        """
        log = self.shared.parent / f"host-{name}.log"
        host_env = {
            **{key: value for key, value in env.items() if key not in ("HOME", "PYTHONPATH", "PREFECT_HOME")},
            "HOST_NAME": name,
            "SHARED": str(self.shared),
            "PROJECT_SOURCE": str(PROJECT_ROOT),
            "KEEP_PATHS": " ".join(_kept_under_tmp()),
            "PROJECT_COPY": f"/tmp/project-{name}",
            "PACKAGES": " ".join(PACKAGES),
            "DASK": DASK,
            "SCHEDULER": self.address,
            "HOME": "/tmp/home",
            "PYTHONPATH": f"/tmp/project-{name}",
            "PREFECT_HOME": "/tmp/home/.prefect",
            "EDIT_CODE": "1" if edit_code else "",
            "DATA_OVERRIDE": str(data_override[0]) if data_override else "",
            "DATA_OVERRIDE_SOURCE": str(data_override[1]) if data_override else "",
        }
        command = [
            "unshare",
            "--uts",
            "--pid",
            "--mount",
            "--fork",
            "--kill-child",
            "--mount-proc",
            "--propagation",
            "private",
            "bash",
            "-c",
            _HOST_SCRIPT,
        ]
        with open(log, "wb") as log_file:
            process = subprocess.Popen(
                command,
                env=host_env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        host = Host(name, process, log)
        self.hosts.append(host)
        return host

    def wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            deadline = time.monotonic() + START_TIMEOUT
            while len(client.scheduler_info(n_workers=-1)["workers"]) < count:
                for host in self.hosts:
                    if host.process.poll() is not None:
                        raise RuntimeError(f"host {host.name} exited:\n{host.log.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    logs = "\n".join(host.log.read_text()[-1500:] for host in self.hosts)
                    raise RuntimeError(f"{count} workers not up within {START_TIMEOUT:.0f} s:\n{logs}")
                time.sleep(0.2)

    def workers(self) -> dict[str, str]:
        """Worker address -> the hostname it reports (from inside its namespace)."""
        import socket as _socket

        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            return client.run(_socket.gethostname)

    def task_counts(self) -> dict[str, dict[str, int]]:
        """What the scheduler ran: task prefix -> state -> count."""
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            return client.run_on_scheduler(
                lambda dask_scheduler: {
                    name: dict(prefix.state_counts) for name, prefix in dask_scheduler.task_prefixes.items()
                }
            )

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
        stop_process(self.scheduler)


def start_cluster(shared: Path, env: dict[str, str]) -> Cluster:
    """A scheduler on 127.0.0.1 and a free port (no hosts yet)."""
    port = free_port()
    scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        env=env,
        cwd=shared,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return Cluster(address=f"tcp://127.0.0.1:{port}", scheduler=scheduler, shared=shared)


# The flow, where it runs (this machine, outside the hosts): the sweep on the cluster's address.
FLOW_SCRIPT = """
import json, sys, time
import convsweep

if __name__ == "__main__":
    parameters, cache_dir, address = json.loads(sys.argv[1])
    runner = None if address is None else "dask"
    began = time.monotonic()
    try:
        result = convsweep.sweep(**parameters, cache_dir=cache_dir, runner=runner, dask_address=address)
    except BaseException as error:
        print("FAILED " + json.dumps({"error": str(error), "type": type(error).__name__}), flush=True)
        raise SystemExit(1)
    print("RESULT " + json.dumps({"csv": str(result.csv), "seconds": time.monotonic() - began}), flush=True)
"""


def start_flow(work: Path, parameters: dict, cache_dir: Path, address: str | None, env: dict[str, str]):
    script = work / "flow.py"
    script.write_text(FLOW_SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), json.dumps([parameters, str(cache_dir), address])],
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def finish_flow(process: subprocess.Popen, timeout: float = 300) -> tuple[dict, str]:
    """(the RESULT or FAILED line's fields, stderr) of a flow started by :func:`start_flow`."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(process, sig=signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(f"the flow did not finish within {timeout} s:\n{stderr[-3000:]}") from None
    finally:
        stop_process(process)
    for line in stdout.splitlines():
        if line.startswith(("RESULT ", "FAILED ")):
            kind, payload = line.split(" ", 1)
            return {"kind": kind, **json.loads(payload)}, stderr
    raise AssertionError(f"the flow printed no result (exit {process.returncode}):\n{stderr[-3000:]}")


def quoted(command: list[str]) -> str:
    return " ".join(shlex.quote(part) for part in command)
