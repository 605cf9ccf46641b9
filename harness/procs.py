"""Launching child processes for tests, benchmarks and the demo.

``Child`` starts a command, waits until it is ready, and stops the process on
exit: SIGTERM, then SIGKILL after a grace period. If the child dies before it
is ready, the error carries the tail of its output so a failing test says why.

Ready means one of two things. Our own servers (``python_module``) start on
``--port 0`` and log ``listening on HOST:PORT`` once bound (netlib.shell):
the launcher waits for that line in the child's output and takes the port
from it, so the port is known to be this child's and no port is guessed.
Other binaries (redis-server, mariadbd) are given a free port and waited for
until it accepts connections. Both waits poll with a short back-off and a
deadline, never a fixed sleep.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# What a server on netlib.shell logs once its socket is bound (the port is the real one).
LISTENING = re.compile(rb"listening on (\S+):(\d+)")


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies (Linux prctl).

    Without it a supervisor killed with SIGKILL would leave its servers holding
    their ports; with it they stop with it. Linux ties this to the *thread* that
    forked, not the process, so ``Child.start`` only asks for it from the main
    thread: a child started from a worker thread would die with that thread.
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class LaunchError(RuntimeError):
    """A child did not come up (missing binary, crashed, or never listened)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just handed out, free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_binary(name: str, package: str) -> str:
    """The path of an OS binary, or a LaunchError naming the package to install."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")
    if path is None:
        raise LaunchError(
            f"{name} not found: install the Debian package '{package}' (make setup does it)"
        )
    return path


class Child:
    """One child process with a port; a context manager that always stops it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        cwd: str | os.PathLike[str] | None = None,
        env: dict[str, str] | None = None,
        name: str | None = None,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        ready_line: re.Pattern[bytes] | None = None,
        log_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self.port = port
        self.host = host
        self.cwd = cwd
        self.env = env
        self.name = name or Path(self.argv[0]).name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        # When set: ready once the output matches; its group 2 is the bound port.
        self.ready_line = ready_line
        self.proc: subprocess.Popen[bytes] | None = None
        # The child's stdout and stderr: a temporary file, or ``log_path`` appended to (the
        # demo's .run/NAME/server.log); ``_log_start`` is where this run's output begins.
        if log_path is None:
            self._log: Any = tempfile.NamedTemporaryFile(prefix=f"syslab-{self.name}-", suffix=".log")
        else:
            Path(log_path).parent.mkdir(parents=True, exist_ok=True)
            self._log = open(log_path, "ab+")  # noqa: SIM115 - closed in __exit__/close
        self._log_start = 0

    @property
    def log_path(self) -> str:
        return str(self._log.name)

    def start(self) -> Child:
        """Spawn the child and wait until it is ready (its ``listening on`` line, or its port)."""
        self.spawn()
        self.wait_ready()
        return self

    def spawn(self) -> Child:
        """Start the process without waiting for it (``wait_ready`` waits)."""
        full_env = dict(os.environ)
        if self.env:
            full_env.update(self.env)
        self._log.seek(0, os.SEEK_END)
        self._log_start = self._log.tell()
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a terminal reaches the supervisor only
            preexec_fn=_die_with_parent if _in_main_thread() else None,
        )
        return self

    def wait_ready(self) -> None:
        if self.ready_line is not None:
            self.wait_ready_line()
        elif self.port is not None:
            self.wait_port()

    def wait_ready_line(self) -> None:
        """Wait for ``ready_line`` in the output; the port is the one it names."""
        assert self.proc is not None and self.ready_line is not None
        deadline = time.monotonic() + self.start_timeout
        delay = 0.005
        while time.monotonic() < deadline:
            m = self.ready_line.search(self._output_bytes())
            if m is not None:
                self.port = int(m.group(2))
                return
            if self.proc.poll() is not None:
                raise LaunchError(
                    f"{self.name} exited with {self.proc.returncode} before listening:\n"
                    f"{self.output_tail()}"
                )
            time.sleep(delay)  # polling the output for readiness
            delay = min(delay * 2, 0.1)
        self.stop()
        raise LaunchError(
            f"{self.name} did not log that it listens within {self.start_timeout}s:\n"
            f"{self.output_tail()}"
        )

    def wait_port(self) -> None:
        assert self.proc is not None and self.port is not None
        deadline = time.monotonic() + self.start_timeout
        delay = 0.005
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise LaunchError(
                    f"{self.name} exited with {self.proc.returncode} before listening on "
                    f"{self.host}:{self.port}:\n{self.output_tail()}"
                )
            if port_open(self.host, self.port):
                return
            time.sleep(delay)  # polling readiness, not waiting for it to "settle"
            delay = min(delay * 2, 0.1)
        self.stop()
        raise LaunchError(
            f"{self.name} did not listen on {self.host}:{self.port} within "
            f"{self.start_timeout}s:\n{self.output_tail()}"
        )

    def _output_bytes(self) -> bytes:
        with open(self._log.name, "rb") as f:
            f.seek(self._log_start)
            return f.read()

    def output(self) -> str:
        """What this run of the child has written so far (stdout and stderr)."""
        return self._output_bytes().decode(errors="replace")

    def output_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, the crash tests' way: no cleanup runs in the child."""
        if self.alive():
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> int | None:
        """SIGTERM, wait, then SIGKILL the whole process group. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self) -> Child:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.close()

    def close(self) -> None:
        self._log.close()


def python_module(
    module: str, *args: str, port: int | None = None, host: str = "127.0.0.1", **kw: object
) -> Child:
    """A ``python -m MODULE --host H --port P ARGS`` child run from the repo root.

    ``port=0`` lets the server pick one: ``child.port`` is the one its
    ``listening on`` line names once started (a fixed port is checked the
    same way). ``port=None`` passes no address flags and waits for nothing
    (unless ``child.port`` is set before ``start``: then for the port to open).
    """
    argv = [sys.executable, "-m", module]
    if port is not None:
        argv += ["--host", host, "--port", str(port)]
    argv += list(args)
    env = {"PYTHONUNBUFFERED": "1"}
    ready = LISTENING if port is not None else None
    return Child(
        argv, port=port, host=host, cwd=REPO_ROOT, env=env, name=module,
        ready_line=ready, **kw,  # type: ignore[arg-type]
    )  # fmt: skip
