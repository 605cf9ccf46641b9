"""Private instances of real services, from the OS binaries, on free ports.

Tests, benchmarks and the demo start their own MariaDB, redis-server and
rabbitmq-server here, in a temporary (or given) directory, so nothing depends on
or damages a service somebody else runs on the standard ports. Each is a
context manager; a missing binary raises ``LaunchError`` naming the Debian
package. When the matching ``SYSLAB_*_URL`` is set, ``from_env`` hands back
that URL's address instead of starting anything. MariaDB is set up and checked
through ``clients/mysql`` over its unix socket (no CLI output is parsed).

redis-server, mariadbd and rabbitmq-server cannot report a port they chose
(``--port 0`` turns redis-server's TCP off, mariadbd's means 3306), so they
get a free port picked here and the launcher then checks the service itself
answers on it (a ping, a login); our own Python servers start on port 0
instead (``harness.procs.python_module``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from clients.address import ServiceAddress, address_from_url  # noqa: F401 (re-exported)
from clients.mysql import Connection, MySQLError

from .procs import Child, LaunchError, free_port, require_binary


class _Service:
    """Shared shape: a temp dir, a Child, start/stop, context manager."""

    name = "service"

    def __init__(self, directory: str | os.PathLike[str] | None = None, port: int | None = None):
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix=f"syslab-{self.name}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.child: Child | None = None
        self.address = ServiceAddress("127.0.0.1", self.port)

    def start(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()
            self.child = None
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the server (fault-injection tests)."""
        if self.child is not None:
            self.child.kill()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer(_Service):
    """A private redis-server that keeps nothing on disk unless asked."""

    name = "redis"

    def __init__(self, directory=None, port=None, extra_args: list[str] | None = None):  # type: ignore[no-untyped-def]
        super().__init__(directory, port)
        self.extra_args = extra_args or []

    def start(self) -> RedisServer:
        binary = require_binary("redis-server", "redis-server")
        argv = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.dir), "--save", "", "--appendonly", "no",
            "--protected-mode", "no", *self.extra_args,
        ]  # fmt: skip
        self.child = Child(argv, port=self.port, name="redis-server").start()
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class MariaDB(_Service):
    """A private mariadbd: ``mariadb-install-db`` into a temp dir, then the server.

    root has an empty password over TCP (mysql_native_password) and the
    ``test`` database exists. ``server_id`` and ``extra_args`` let the D4
    launcher make a primary and a replica out of two of these.
    """

    name = "mariadb"

    def __init__(  # type: ignore[no-untyped-def]
        self, directory=None, port=None, server_id: int = 1, extra_args: list[str] | None = None
    ):
        super().__init__(directory, port)
        self.server_id = server_id
        self.extra_args = extra_args or []
        self.socket = str(self.dir / "mysqld.sock")
        # A private tmpdir: at start-up mariadbd deletes every '#sql*' file in its tmpdir,
        # so instances sharing /tmp delete each other's temporary tables (a parallel
        # mariadb-install-db then fails with "Unknown table 'mysql.tmp_user_sys'").
        self.tmpdir = self.dir / "tmp"
        self.address = ServiceAddress(
            "127.0.0.1", self.port, user="root", password="", database="test",
            unix_socket=self.socket,
        )  # fmt: skip

    def _install(self) -> None:
        datadir = self.dir / "data"
        if (datadir / "mysql").is_dir():
            return
        install = require_binary("mariadb-install-db", "mariadb-server")
        datadir.mkdir(parents=True, exist_ok=True)
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            [
                install, "--no-defaults", f"--datadir={datadir}", "--user=root",
                f"--tmpdir={self.tmpdir}",
                "--auth-root-authentication-method=normal", "--skip-test-db",
                "--skip-name-resolve",
            ],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        if res.returncode != 0:
            raise LaunchError(f"mariadb-install-db failed:\n{res.stdout}\n{res.stderr}")

    def start(self) -> MariaDB:
        self._install()
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        binary = require_binary("mariadbd", "mariadb-server")
        argv = [
            binary, "--no-defaults", f"--datadir={self.dir / 'data'}",
            f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
            f"--tmpdir={self.tmpdir}",
            f"--pid-file={self.dir / 'mysqld.pid'}", "--user=root",
            f"--server-id={self.server_id}", "--skip-name-resolve",
            "--innodb-buffer-pool-size=128M", "--innodb-log-file-size=48M",
            "--innodb-flush-log-at-trx-commit=2", "--skip-log-error",
            "--max-connections=500", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci", *self.extra_args,
        ]  # fmt: skip
        self.child = Child(argv, port=self.port, name="mariadbd", start_timeout=60).start()
        self._wait_ready()
        self.sql("CREATE DATABASE IF NOT EXISTS test")
        return self

    def _wait_ready(self) -> None:
        """Listening is not ready: wait until a login over the unix socket succeeds."""
        deadline = time.monotonic() + 60
        delay = 0.01
        while True:
            try:
                with self.connect(connect_timeout=5) as c:
                    c.ping()
                    return
            except MySQLError as e:
                if time.monotonic() > deadline or (self.child and not self.child.alive()):
                    tail = self.child.output_tail() if self.child else ""
                    raise LaunchError(f"mariadbd did not accept a login ({e}):\n{tail}") from e
            time.sleep(delay)  # polling readiness with back-off
            delay = min(delay * 2, 0.2)

    def connect(self, **kw: Any) -> Connection:
        """A clients/mysql connection as root over the unix socket (setup and checks)."""
        return Connection(user="root", password="", unix_socket=self.socket, **kw)

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Run SQL as root (several statements may be separated by ``;``); the last rows."""
        try:
            with self.connect() as c:
                return c.query(statement).all()[-1].rows
        except MySQLError as e:
            raise LaunchError(f"SQL failed: {statement!r}: {e}") from e

    def scalar(self, statement: str) -> Any:
        """The first value of the first row of ``statement`` (None when there is none)."""
        rows = self.sql(statement)
        return rows[0][0] if rows else None


class RabbitMQ(_Service):
    """A private rabbitmq-server node with its own name, ports and data directory."""

    name = "rabbitmq"

    def start(self) -> RabbitMQ:
        binary = require_binary("rabbitmq-server", "rabbitmq-server")
        dist_port = free_port()
        node = f"syslab{self.port}@localhost"
        env = {
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
        }
        (self.dir / "enabled_plugins").write_text("[].\n")
        # Our own config and env files: the system's (/etc/rabbitmq) pin port 5672 and
        # the node name of the machine's own broker.
        (self.dir / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\nloopback_users = none\n"
        )
        (self.dir / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        env["RABBITMQ_CONFIG_FILE"] = str(self.dir / "rabbitmq.conf")
        env["RABBITMQ_CONF_ENV_FILE"] = str(self.dir / "rabbitmq-env.conf")
        self._give_dir_to_rabbitmq()
        self.child = Child(
            [binary], port=self.port, env=env, name="rabbitmq-server", start_timeout=90
        ).start()
        self.address = ServiceAddress("127.0.0.1", self.port, user="guest", password="guest")
        return self

    def stop(self) -> None:
        """Stop the node itself, not only the wrapper we started.

        Debian's wrapper runs the node through ``su rabbitmq``: SIGTERM and even a
        SIGKILL of our child's process group never reach the Erlang VM, which kept
        running after every test. The node's processes are found by the data
        directory in their environment (ours alone), and stopped by pid.
        """
        pids = self._node_pids()
        super().stop()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 10
            while pids and time.monotonic() < deadline:
                pids = [p for p in pids if _alive(p)]
                time.sleep(0.05)  # polling the node's exit, with a deadline
            if not pids:
                return

    def _node_pids(self) -> list[int]:
        marker = f"RABBITMQ_MNESIA_BASE={self.dir / 'mnesia'}".encode()
        out = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit() or int(proc.name) == os.getpid():
                continue
            try:
                env = (proc / "environ").read_bytes()
            except OSError:
                continue
            if marker in env.split(b"\0"):
                out.append(int(proc.name))
        return out

    def _give_dir_to_rabbitmq(self) -> None:
        """Debian's wrapper re-runs the server as user rabbitmq when started by root:
        that user must own the node's directory."""
        if os.geteuid() != 0:
            return
        import pwd

        try:
            pw = pwd.getpwnam("rabbitmq")
        except KeyError:
            return
        _chown_tree(self.dir, pw.pw_uid, pw.pw_gid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie has exited; reading its state avoids waiting on what we cannot reap.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    return False


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for p in path.rglob("*"):
        os.chown(p, uid, gid)


S = TypeVar("S", bound="_Service")


def start_all(services: list[S]) -> list[S]:
    """Start several services at once (a MariaDB takes ~2 s; four in a row take ~8).

    If any fails, the ones that started are stopped and the first error is raised.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, len(services))) as pool:
        futures = [pool.submit(s.start) for s in services]
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        for s in services:
            s.stop()
        raise errors[0]  # type: ignore[misc]
    return services


def private_mariadbs(stack: ExitStack, directory: Path, count: int, who: str) -> list[ServiceAddress]:
    """``count`` MariaDB instances under ``directory``/shardN, started in parallel, stopped by ``stack``.

    For a server's ``__main__`` (shards, kvsql): a failure to start is one line
    on stderr and exit status 1 (``SystemExit``), never a traceback.
    """
    servers = [MariaDB(directory / f"shard{i}") for i in range(count)]
    try:
        start_all(servers)
    except (LaunchError, OSError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise SystemExit(f"{who}: a private MariaDB failed to start: {first} (see {directory})") from None
    for s in servers:
        stack.callback(s.stop)
    return [s.address for s in servers]


def from_env(var: str, default_port: int) -> ServiceAddress | None:
    """The address in ``SYSLAB_*_URL`` when set, else None (start a private one)."""
    url = os.environ.get(var)
    return address_from_url(url, default_port) if url else None
