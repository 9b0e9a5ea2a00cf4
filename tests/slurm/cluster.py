"""A real one-node SLURM cluster for the test suite, started and stopped by the test itself.

:func:`running_cluster` installs Slurm and MUNGE from Debian's packages when ``slurmctld`` is missing, writes a
configuration from ``slurm.conf.in`` into a fresh temporary directory, starts ``munged``, ``slurmctld`` and
``slurmd`` in the foreground as children of this process, waits until the node is idle, and at the end cancels
every job and stops every process it started by its PID (SIGTERM, then SIGKILL after a grace period). Nothing
outside the temporary directory is written apart from the packages; ``/etc/slurm`` and ``/etc/munge`` are not
read. Clients find the cluster through ``SLURM_CONF`` (:attr:`SlurmCluster.env`).

Needs root (the daemons, and apt-get when the packages are missing): :class:`ClusterUnavailable` says why not.
Run ``python tests/slurm/cluster.py`` as root to start a cluster, submit one job and stop it again.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ClusterUnavailable", "SlurmCluster", "ensure_installed", "running_cluster"]

PACKAGES = ("slurm-wlm", "munge", "slurm-client")
TEMPLATE = Path(__file__).with_name("slurm.conf.in")
PARTITION = "debug"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Client commands shimmed in ``<root>/bin`` (see SlurmCluster.env).
CLIENTS = ("srun", "sbatch", "squeue", "scancel", "sinfo", "scontrol", "sacct", "sacctmgr", "salloc", "sstat")


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the cluster (not root, no apt-get): a reason to skip, not a failure."""


class ClusterError(RuntimeError):
    """The cluster did not come up or misbehaved; the message ends with the daemons' log tails."""


def ensure_installed(timeout: float = 600) -> str:
    """Install Slurm and MUNGE with apt-get unless ``slurmctld``, ``slurmd``, ``munged`` and ``sinfo`` are found;
    returns what was done. Raises :class:`ClusterUnavailable` when the cluster cannot run here at all."""
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            "the SLURM cluster test starts slurmctld, slurmd and munged and needs root "
            f"(running as uid {os.geteuid()})"
        )
    missing = [
        tool
        for tool in ("slurmctld", "slurmd", "munged", "sinfo", "squeue", "sbatch")
        if not shutil.which(tool)
    ]
    if not missing:
        return "Slurm and MUNGE already installed"
    if not shutil.which("apt-get"):
        raise ClusterUnavailable(
            f"{', '.join(missing)} not found and no apt-get to install {' '.join(PACKAGES)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    start = time.monotonic()
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        remaining = timeout - (time.monotonic() - start)
        try:
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=max(remaining, 1), check=False
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(f"{' '.join(command)} took longer than {timeout:.0f} s in all") from None
        if result.returncode != 0:
            raise ClusterError(
                f"{' '.join(command)} failed ({result.returncode}):\n{_tail(result.stdout + result.stderr)}"
            )
    return f"installed {' '.join(PACKAGES)} with apt-get in {time.monotonic() - start:.0f} s"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _available_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    raise ClusterError("no MemAvailable in /proc/meminfo")


@dataclass
class SlurmCluster:
    """A one-node cluster living in ``root``. ``memory_mb`` is the node's RealMemory (80 % of the memory available
    when it started); ``cpus`` its CPUs (all of this machine's)."""

    root: Path
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    partition: str = PARTITION
    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_mb: int = field(default_factory=lambda: max(1000, int(_available_memory_mb() * 0.8)))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket.2"

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def env(self) -> dict[str, str]:
        """This process's environment with ``SLURM_CONF`` pointing at the cluster and ``<root>/bin`` first on PATH.

        ``<root>/bin`` holds a shim per client command that sets ``SLURM_CONF`` and runs the real one. Real nodes
        have their configuration where clients look without being told (/etc/slurm/slurm.conf or slurmd's
        configless cache); here only ``SLURM_CONF`` knows it, and snakemake-executor-plugin-slurm-jobstep (0.6)
        removes every ``SLURM_*`` variable but the job's identity before its ``srun`` inside the allocation.
        PATH survives, so the shims stand in for the default location without writing to /etc."""
        return dict(
            os.environ, SLURM_CONF=str(self.conf), PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}"
        )

    # -- starting ---------------------------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> None:
        """Start munged, slurmctld and slurmd and wait (at most ``timeout`` seconds) until the node is idle."""
        for folder in ("munge", "state", "spool"):
            (self.root / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
        self._start_munged(timeout)
        self._write_shims()
        self.conf.write_text(
            string.Template(TEMPLATE.read_text()).substitute(
                root=self.root,
                host=self.host,
                partition=self.partition,
                cpus=self.cpus,
                memory_mb=self.memory_mb,
                ctld_port=_free_port(),
                slurmd_port=_free_port(),
                munge_socket=self.munge_socket,
            )
        )
        self._spawn("slurmctld", ["slurmctld", "-D"])
        self._spawn("slurmd", ["slurmd", "-D", "-N", self.host])
        self.wait_for(lambda: self.node_state() == "idle", timeout, f"node {self.host} idle in sinfo")

    def _start_munged(self, timeout: float) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        folder = self.root / "munge"
        self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={folder / 'munged.pid'}",
                f"--log-file={self.root / 'munged.log'}",
                f"--seed-file={folder / 'munged.seed'}",
            ],
        )
        self.wait_for(self.munge_socket.exists, timeout, f"munged's socket {self.munge_socket}")

    def _write_shims(self) -> None:
        self.bin.mkdir(exist_ok=True)
        for name in CLIENTS:
            real = shutil.which(name)
            if real:
                shim = self.bin / name
                shim.write_text(
                    f'#!/bin/sh\nSLURM_CONF={shlex.quote(str(self.conf))} exec {shlex.quote(real)} "$@"\n'
                )
                shim.chmod(0o755)

    def _spawn(self, name: str, command: list[str]) -> None:
        with open(self.root / f"{name}.out", "wb") as out:
            self.processes[name] = subprocess.Popen(
                command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.root,
                preexec_fn=_die_with_parent,
            )

    def wait_for(self, condition, timeout: float, what: str, interval: float = 0.5) -> None:
        """Poll ``condition()`` until true; fail with the log tails after ``timeout`` s or when a daemon exits."""
        deadline = time.monotonic() + timeout
        while not condition():
            dead = {
                name: process.returncode
                for name, process in self.processes.items()
                if process.poll() is not None
            }
            if dead:
                raise ClusterError(f"waiting for {what}: {dead} exited\n{self.log_tails()}")
            if time.monotonic() > deadline:
                raise ClusterError(f"no {what} after {timeout:.0f} s\n{self.log_tails()}")
            time.sleep(interval)

    # -- asking -----------------------------------------------------------------------------------------------

    def command(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a Slurm client command (``sinfo``, ``squeue``, ``sbatch``...) against this cluster."""
        return subprocess.run(
            list(args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def node_state(self) -> str:
        """The node's state as ``sinfo`` prints it (``idle``, ``alloc``, ``down*``...), or ``""`` when unknown."""
        try:
            result = self.command(
                "sinfo", "--noheader", "--Node", "--format=%t", f"--nodes={self.host}", timeout=10
            )
        except subprocess.TimeoutExpired:
            return ""
        return result.stdout.strip() if result.returncode == 0 else ""

    def jobs(self) -> str:
        """Every job slurmctld remembers (finished ones for MinJobAge), one line each: id, name, state, reason."""
        result = self.command("squeue", "--noheader", "--states=all", "--format=%i %j %T %r")
        return result.stdout + result.stderr

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every daemon's log and output, for failure messages."""
        parts = []
        for name in ("munged", "slurmctld", "slurmd"):
            for path in (self.root / f"{name}.log", self.root / f"{name}.out"):
                if path.is_file() and path.stat().st_size:
                    text = path.read_text(errors="replace")
                    parts.append(f"--- {path} (last {lines} lines) ---\n{_tail(text, lines)}")
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                nodes = self.command("sinfo", "--Node", "--format=%N %t %c %m %E", timeout=10)
                parts.insert(
                    0, f"--- sinfo (node, state, CPUs, memory MB, reason) ---\n{nodes.stdout}{nodes.stderr}"
                )
        return "\n".join(parts) or f"(no daemon logs in {self.root})"

    # -- stopping ---------------------------------------------------------------------------------------------

    def stop(self, grace: float = 10) -> None:
        """Cancel every job, then stop the processes this cluster started: slurmd, slurmctld, any job step left
        behind (found by this cluster's SLURM_CONF in its environment), munged last."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                self.command("scancel", "--full", "--user=root", timeout=10)
        for name in ("slurmd", "slurmctld"):
            if name in self.processes:
                _terminate([self.processes[name].pid], grace)
        _terminate(self._leftover_pids(), grace)
        if "munged" in self.processes:
            _terminate([self.processes["munged"].pid], grace)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)

    def _leftover_pids(self) -> list[int]:
        """Processes (slurmstepd, job scripts) that inherited this cluster's SLURM_CONF: started through it."""
        marker = f"SLURM_CONF={self.conf}".encode() + b"\0"
        own = {os.getpid(), *(process.pid for process in self.processes.values())}
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in own:
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes() + b"\0":
                    pids.append(int(entry.name))
        return pids


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM it when this process dies, so that a test run killed outright (no
    teardown) leaves no daemon behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie child counts as gone
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
            return False
    return True


def _terminate(pids: list[int], grace: float) -> None:
    """SIGTERM each PID, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_cluster(timeout: float = 60, keep: bool = False) -> Iterator[SlurmCluster]:
    """A started cluster in a new temporary directory (removed afterwards unless ``keep``); stopped on exit
    however the block ends."""
    # A short path: munged's socket path must fit in a sockaddr_un (108 bytes).
    cluster = SlurmCluster(root=Path(tempfile.mkdtemp(prefix="dynvision-slurm-")))
    try:
        cluster.start(timeout)
        yield cluster
    finally:
        cluster.stop()
        if not keep:
            shutil.rmtree(cluster.root, ignore_errors=True)


def main() -> int:
    """Start a cluster, run one batch job to completion, print the timings and stop it."""
    print(ensure_installed())
    start = time.monotonic()
    with running_cluster() as cluster:
        print(f"cluster up in {time.monotonic() - start:.1f} s: SLURM_CONF={cluster.conf}")
        submitted = cluster.command(
            "sbatch", "--parsable", "--wrap", "hostname", f"--output={cluster.root}/job.out"
        )
        job = submitted.stdout.strip()
        cluster.wait_for(
            lambda: "COMPLETED" in cluster.command("squeue", "-h", "-t", "all", "-j", job, "-o", "%T").stdout,
            60,
            f"job {job} completed",
        )
        output = (cluster.root / "job.out").read_text().strip()
        print(f"job {job} completed after {time.monotonic() - start:.1f} s: {output}")
    print(f"stopped after {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
