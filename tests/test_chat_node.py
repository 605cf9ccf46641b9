"""N15: the official npm ``socket.io-client`` (installed in web/chat by make setup) chats with
servers/chat, and its connection state recovery gets back a message sent while it was away."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from harness.procs import require_binary
from servers.catalog import REPO_ROOT
from tests.chat_support import chat_child

pytestmark = pytest.mark.exercise("N15")

MODULES = REPO_ROOT / "web" / "chat" / "node_modules"
SCRIPT = REPO_ROOT / "tests" / "node" / "chat_client.js"


def run_node(port: int, transports: str) -> dict:
    assert (MODULES / "socket.io-client").is_dir(), "run make setup (npm ci in web/chat)"
    env = {**os.environ, "NODE_PATH": str(MODULES)}
    p = subprocess.run([require_binary("node", "nodejs"), str(SCRIPT), str(port), transports],
                       capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert p.stdout, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0, out
    return out


@pytest.mark.parametrize("transports", ["polling", "websocket", "polling,websocket"])
def test_npm_socket_io_client_chats_and_recovers(tmp_path, transports):
    with chat_child("--dir", str(tmp_path)) as chat:
        out = run_node(chat.port, transports)
    assert out["acks"]["join_a"] == [] and out["acks"]["join_b"] == []
    assert out["acks"]["first"]["id"] == 1 and out["acks"]["first"]["user"] == "node-a"
    assert out["acks"]["away"]["id"] == 2 and out["acks"]["after"]["id"] == 3
    assert out["recovered"] is True
    assert out["transport"] == ("polling" if transports == "polling" else "websocket") or (
        transports == "polling,websocket" and out["transport"] == "polling")  # the upgrade may come later
    assert out["b_reasons"][0] == "forced close"  # socket.io-client's name for engine.close()
    # each exactly once, in order: the one sent while away came from the recovery replay
    assert [m["text"] for m in out["b_messages"]] == ["hello from node", "while b was away", "after"]
    offsets = [int(m["offset"]) for m in out["b_messages"]]
    assert offsets == sorted(offsets)
