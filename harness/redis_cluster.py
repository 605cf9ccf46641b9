"""A real Redis Cluster on free local ports: N primaries, each with R replicas (O4).

Strategy: every node is a private ``redis-server`` (``harness.services.RedisServer``)
started with ``--cluster-enabled yes`` and its own ``nodes.conf`` in a temp
directory; the cluster is then formed by the official tool, ``redis-cli
--cluster create ... --cluster-replicas R --cluster-yes``, exactly as the Redis
tutorial does it. Readiness is polled, never slept for: ``CLUSTER INFO`` must
say ``cluster_state:ok`` on every node, every node must know every other one,
and ``redis-cli --cluster check`` must report that all nodes agree about the
slot table (resharding refuses to run otherwise).

Each node also listens on its cluster bus port, port + 10000 (the default
``cluster-port`` offset), so a port is only picked when both it and its bus
port are free. Admin operations shell out to ``redis-cli`` on purpose: this is
netlib (it imports nothing of the project's clients) and the point of O4 is to
use the real tool; syslab's own cluster client lives in ``clients/resp``.

``python -m harness.redis_cluster`` starts one in the foreground and prints its
nodes; Ctrl-C stops it.
"""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .procs import LaunchError, free_port, require_binary
from .services import RedisServer

log = logging.getLogger(__name__)

BUS_PORT_OFFSET = 10000  # Redis's default cluster bus port is the client port + 10000
MAX_CLIENT_PORT = 65535 - BUS_PORT_OFFSET  # above this the bus port would not exist
NODE_TIMEOUT_MS = 15000  # Redis's default: a loaded 2-core test machine must not trigger failovers
READY_TIMEOUT = 60.0  # seconds for create + convergence on a loaded 2-core machine
CLI_TIMEOUT = 120.0  # a redis-cli invocation (a reshard of thousands of keys takes a while)
HOST = "127.0.0.1"


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def cluster_ports(count: int, taken: set[int] | None = None) -> list[int]:
    """``count`` client ports that are free, as are their bus ports (port + 10000)."""
    taken = set(taken or ())
    ports: list[int] = []
    for _ in range(count * 200):  # bounded: a busy machine may hand out unusable ports
        p = free_port()
        bus = p + BUS_PORT_OFFSET
        if p > MAX_CLIENT_PORT or p in taken or bus in taken or not _bindable(bus):
            continue
        taken.update((p, bus))
        ports.append(p)
        if len(ports) == count:
            return ports
    raise LaunchError(f"could not find {count} free port pairs (port, port+{BUS_PORT_OFFSET})")


@dataclass
class ClusterNode:
    """One redis-server of the cluster."""

    port: int
    server: RedisServer
    host: str = HOST

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"


class RedisCluster:
    """``with RedisCluster() as c: c.addresses`` -> a formed, converged cluster."""

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        directory: str | Path | None = None,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        if primaries < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 primaries")
        self.primaries = primaries
        self.replicas = replicas
        self._own_dir = directory is None
        self.dir = Path(directory or tempfile.mkdtemp(prefix="syslab-redis-cluster-"))
        self.node_timeout_ms = node_timeout_ms
        self.ready_timeout = ready_timeout
        self.nodes: list[ClusterNode] = []
        self._cli = require_binary("redis-cli", "redis-tools")

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> RedisCluster:
        count = self.primaries * (1 + self.replicas)
        try:
            for port in cluster_ports(count):
                self._start_node(port)
            self.run_cli(
                "--cluster", "create", *(n.hostport for n in self.nodes),
                "--cluster-replicas", str(self.replicas), "--cluster-yes",
            )  # fmt: skip
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        log.info("cluster ready on ports %s", [n.port for n in self.nodes])
        return self

    def _start_node(self, port: int) -> ClusterNode:
        node_dir = self.dir / str(port)
        server = RedisServer(
            directory=node_dir,
            port=port,
            extra_args=[
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node_dir / "nodes.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
            ],
        )  # fmt: skip
        node = ClusterNode(port, server)
        self.nodes.append(node)  # before start, so stop() cleans up a half-started node
        server.start()
        return node

    def stop(self) -> None:
        for node in self.nodes:  # SIGTERM them all first: they shut down in parallel
            if node.server.child is not None:
                node.server.child.signal(signal.SIGTERM)
        for node in self.nodes:
            node.server.stop()
        self.nodes.clear()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- talking to nodes with the real tool ----------------------------------------

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [n.address for n in self.nodes]

    def run_cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """``redis-cli ARGS`` (``--cluster`` subcommands, or ``-p PORT CMD`` via ``call``)."""
        r = subprocess.run(
            [self._cli, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if check and r.returncode != 0:
            raise LaunchError(f"redis-cli {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
        return r

    def call(self, port: int, *command: str) -> str:
        """One command on one node through redis-cli; the reply as redis-cli prints it."""
        r = self.run_cli("-h", HOST, "-p", str(port), *command)
        out = r.stdout.strip()
        if out.startswith("ERR") or out.startswith("(error)"):
            raise LaunchError(f"{' '.join(command)} on {port}: {out}")
        return out

    def cluster_info(self, port: int) -> dict[str, str]:
        lines = self.call(port, "CLUSTER", "INFO").splitlines()
        return dict(line.split(":", 1) for line in lines if ":" in line)

    def node_id(self, port: int) -> str:
        return self.call(port, "CLUSTER", "MYID")

    def primary_ports(self) -> list[int]:
        """The ports of the nodes that currently serve slots, as the first node sees it."""
        ports = []
        for line in self.call(self.nodes[0].port, "CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" in fields[2].split(",") and len(fields) > 8:
                ports.append(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return sorted(ports)

    # -- readiness -----------------------------------------------------------------

    def converged(self) -> bool:
        """Every node: state ok, knows every node and every replica's role, and all
        agree on the slot table. (``cluster_state:ok`` alone comes too early: the
        replicas' ``CLUSTER REPLICATE`` may not have reached every node by gossip yet.)"""
        for node in self.nodes:
            info = self.cluster_info(node.port)
            if info.get("cluster_state") != "ok":
                return False
            if int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
                return False
            roles = [
                line.split()[2] for line in self.call(node.port, "CLUSTER", "NODES").splitlines()
            ]
            if sum("slave" in r.split(",") for r in roles) != self.primaries * self.replicas:
                return False
        check = self.run_cli("--cluster", "check", self.nodes[0].hostport, check=False)
        return check.returncode == 0 and "[ERR]" not in check.stdout

    def wait_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.ready_timeout)
        delay = 0.02
        while time.monotonic() < deadline:
            if self.converged():
                return
            time.sleep(delay)  # polling readiness with back-off, not waiting for it to settle
            delay = min(delay * 2, 0.25)
        raise LaunchError(f"cluster on {[n.port for n in self.nodes]} did not converge")

    # -- growing the cluster (bench/redis_cluster) -------------------------------------

    def add_primary(self) -> ClusterNode:
        """Start one more node and join it as an empty primary (no slots yet)."""
        (port,) = cluster_ports(
            1, taken={p for n in self.nodes for p in (n.port, n.port + BUS_PORT_OFFSET)}
        )
        node = self._start_node(port)
        self.run_cli("--cluster", "add-node", node.hostport, self.nodes[0].hostport)
        self.wait_ready()
        return node

    def reshard(self, to_port: int, slots: int) -> str:
        """``redis-cli --cluster reshard``: move ``slots`` slots from all primaries to one."""
        r = self.run_cli(
            "--cluster", "reshard", self.nodes[0].hostport, "--cluster-from", "all",
            "--cluster-to", self.node_id(to_port), "--cluster-slots", str(slots), "--cluster-yes",
        )  # fmt: skip
        self.wait_ready()
        return r.stdout

    def rebalance(self) -> str:
        """``redis-cli --cluster rebalance --cluster-use-empty-masters``: even out the slots."""
        r = self.run_cli(
            "--cluster", "rebalance", self.nodes[0].hostport, "--cluster-use-empty-masters",
        )  # fmt: skip
        self.wait_ready()
        return r.stdout


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)  # stop like Ctrl-C: the with-block cleans up
    with RedisCluster() as cluster:
        print("Redis Cluster ready (primaries then replicas, as redis-cli assigned them):")
        for node in cluster.nodes:
            print(f"  redis-cli -c -p {node.port}")
        print("Ctrl-C stops it.", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
