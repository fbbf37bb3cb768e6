"""Start a dataflow as one or more local Bytewax processes, with recovery when configured.

One process per core (``-i/-a``) is the scaling unit (threads share the GIL); partitions of
the input topic bound the useful parallelism. Recovery partitions are created on first use
(once, sized for the most workers the directory will ever see).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import orjson

from config.operations import SNAPSHOT_S
from flows.ops import PROCESS_ID_VAR
from flows.process import SUMMARY_FILE_VAR

#: Runnable flows by short name.
FLOWS = {"profiles": "flows.profiles:flow"}


def ensure_recovery_dir(path: str, partitions: int) -> None:
    """Create ``partitions`` Bytewax recovery partitions in ``path`` unless it has some."""
    directory = Path(path)
    if directory.is_dir() and any(directory.glob("*.sqlite3")):
        return
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "bytewax.recovery", str(directory), str(partitions)], check=True
    )


def commands(
    flow: str,
    *,
    processes: int = 1,
    workers: int = 1,
    recovery_dir: str = "",
    snapshot_s: int = SNAPSHOT_S,
    member: tuple[int, str] | None = None,
) -> list[list[str]]:
    """The command line of each local process: ``python -m flows.process`` with
    ``bytewax.run``'s arguments (a stop signal then exits 0).

    ``member=(process_id, addresses)`` instead runs this host's one process of a cluster
    whose other processes run elsewhere (containers, other machines).

    >>> commands("profiles", member=(1, "flow-0:2101;flow-1:2101"))[0][3:]
    ['flows.profiles:flow', '-w', '1', '-i', '1', '-a', 'flow-0:2101;flow-1:2101']

    """
    base = [sys.executable, "-m", "flows.process", FLOWS.get(flow, flow), "-w", str(workers)]
    if recovery_dir:
        # Bytewax takes whole seconds; keep snapshots for 3 intervals (at least 30 s) as backups
        base += ["-r", recovery_dir, "-s", str(snapshot_s), "-b", str(max(snapshot_s * 3, 30))]
    if member is not None:
        return [[*base, "-i", str(member[0]), "-a", member[1]]]
    if processes == 1:
        return [base]
    addresses = ";".join(f"127.0.0.1:{free_port()}" for _ in range(processes))
    return [[*base, "-i", str(i), "-a", addresses] for i in range(processes)]


def start(
    flow: str,
    *,
    env: Mapping[str, str] | None = None,
    processes: int = 1,
    workers: int = 1,
    recovery_dir: str = "",
    snapshot_s: int = SNAPSHOT_S,
    recovery_partitions: int = 8,
    member: tuple[int, str] | None = None,
    log_path: str = "",
    summary_dir: str = "",
) -> list[subprocess.Popen]:
    """Start ``flow``'s processes and return them (see :func:`run` and :func:`stop`);
    ``log_path`` takes their output instead of the terminal; with ``summary_dir``, each
    process writes its final counters there (:func:`summary`)."""
    if recovery_dir:
        ensure_recovery_dir(recovery_dir, max(recovery_partitions, processes * workers))
    full_env = {**os.environ, **(env or {})}
    # the processes' operations reports name the directory (or none) and its snapshot times
    full_env["OFFERFLOW_RECOVERY_DIR"] = recovery_dir
    output = open(log_path, "ab") if log_path else None  # noqa: SIM115 (children keep it)
    lines = commands(
        flow,
        processes=processes,
        workers=workers,
        recovery_dir=recovery_dir,
        snapshot_s=snapshot_s,
        member=member,
    )
    first = member[0] if member is not None else 0
    procs = []
    for i, cmd in enumerate(lines):
        env_i = {**full_env, PROCESS_ID_VAR: str(first + i)}
        if summary_dir:
            env_i[SUMMARY_FILE_VAR] = str(Path(summary_dir) / f"process-{first + i}.json")
        procs.append(subprocess.Popen(cmd, env=env_i, stdout=output, stderr=output))
    return procs


def summary(summary_dir: str) -> tuple[int, Counter[str]]:
    """Events accepted and dead letters by reason, summed over the processes that wrote
    their counters to ``summary_dir``."""
    accepted, dead = 0, Counter[str]()
    for path in Path(summary_dir).glob("process-*.json"):
        counters = orjson.loads(path.read_bytes())
        accepted += int(sum(counters.get("events_in", {}).values()))
        dead.update({k: int(v) for k, v in counters.get("dead_letters", {}).items()})
    return accepted, dead


def stop(procs: list[subprocess.Popen], timeout: float = 20.0) -> list[int]:
    """SIGINT every process (they stop at the next epoch), SIGKILL after ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    return codes


class FlowTimeout(TimeoutError):
    """A bounded run did not end in time; its processes were stopped."""


def run(flow: str, *, timeout: float | None = None, **options) -> int:
    """Run ``flow`` until every process exits; return the worst exit code. Takes
    :func:`start`'s options. SIGINT/SIGTERM are passed on to the processes, which stop at the
    next epoch. With ``timeout`` (seconds), a run still going then is stopped (:func:`stop`)
    and :class:`FlowTimeout` raised: a stuck flow fails its caller instead of hanging it."""
    procs = start(flow, **options)

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        codes = []
        for proc in procs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                codes.append(proc.wait(left))
            except subprocess.TimeoutExpired:
                stop(procs)
                raise FlowTimeout(f"flow {flow!r} still running after {timeout:g} s") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return max(codes, key=abs)


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's memory from ``/proc/<pid>/status``, MiB: ``VmRSS`` (resident now) or
    ``VmHWM`` (peak resident); 0 once the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((ln for ln in status.splitlines() if ln.startswith(f"{field}:")), "- 0 kB")
    return int(line.split()[1]) / 1024


def cpu_seconds(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far, from ``/proc/<pid>/stat``; NaN
    if unknown (no pid, or the process is gone)."""
    if pid is None:
        return float("nan")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU seconds every core of the machine has been busy since boot (``/proc/stat``: all
    but idle and iowait): over a span, what everything on the machine used, the broker and
    Redis included."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for a local cluster's addresses)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
