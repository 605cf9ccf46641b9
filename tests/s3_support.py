"""Shared by the servers/s3 tests: a server child process, boto3 clients, raw signed requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from harness.procs import Child, free_port, python_module
from servers.s3.__main__ import DEMO_ACCESS_KEY as AK
from servers.s3.__main__ import DEMO_SECRET_KEY as SK


class Server:
    def __init__(self, child: Child, root: Path) -> None:
        self.child, self.root, self.port = child, root, child.port
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, **cfg: Any) -> Any:
        config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg)
        return boto3.client("s3", endpoint_url=self.url, aws_access_key_id=AK, aws_secret_access_key=SK,
                            region_name="us-east-1", config=config)  # fmt: skip


def start(root: Path, *args: str) -> Child:
    return python_module("servers.s3", "--dir", str(root), *args, port=free_port())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("s3")
    with start(root) as child:
        yield Server(child, root)


@pytest.fixture
def s3(server: Server) -> Any:
    return server.client()


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    name = "b-" + hashlib.md5(request.node.name.encode()).hexdigest()[:12]
    s3.create_bucket(Bucket=name)
    return name


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=30
    )


def shifted(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """botocore signs as if its clock were ``seconds`` off."""
    orig = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime",
                        lambda *a, **k: orig(*a, **k) + dt.timedelta(seconds=seconds))  # fmt: skip


def signed_raw(
    server: Server, method: str, path: str, body: bytes, headers: dict[str, str]
) -> AWSRequest:
    req = AWSRequest(method=method, url=server.url + path, data=body, headers=headers)
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    return req


def send(server: Server, req: AWSRequest, body: bytes) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    p = req.prepare()
    conn.request(
        p.method, p.url.split(str(server.port), 1)[1], body=body, headers=dict(p.headers.items())
    )
    r = conn.getresponse()
    out = (r.status, r.read().decode())
    conn.close()
    return out


def wait_until(cond: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)
