"""The Autobahn testsuite (through ``kosoku``), a bounded subset of its cases: against
servers/chat/wsecho as a real process, and with clients/websocket as the client
under test of kosoku's fuzzing server. Every case must pass; the verdicts that are
not OK are listed exactly (the whole suite: ``make bench-autobahn``)."""

from __future__ import annotations

import pytest

from bench.autobahn import client_side, drive_ours, server_side, verdict
from harness.procs import python_module

pytestmark = pytest.mark.exercise("N15")

# Framing, pings, reserved bits and opcodes, fragmentation, UTF-8 (with fail-fast),
# the close handshake, auto-fragmentation; a few large and compressed cases.
CASES = ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*",
         "9.1.1", "9.1.2", "9.2.1", "9.3.1", "9.4.1",
         "12.1.1", "12.2.3", "12.5.11", "13.1.1", "13.2.2", "13.3.3", "13.4.4", "13.5.5",
         "13.6.6", "13.7.7"]  # fmt: skip
# What the suite itself calls unspecified by the RFC (its verdict: INFORMATIONAL).
INFORMATIONAL = {"7.1.6", "7.13.1", "7.13.2"}


def check(results: list) -> None:
    assert len(results) > 250
    failed = [
        (r.case_id, r.behavior.value, r.behavior_close.value, r.result)
        for r in results
        if not r.passed
    ]
    assert failed == []
    not_ok = {r.case_id: verdict(r) for r in results if verdict(r) != "OK"}
    assert not_ok == dict.fromkeys(INFORMATIONAL, "INFORMATIONAL")


async def test_autobahn_cases_against_our_server():
    with python_module(
        "servers.chat.wsecho", "--no-access-log", "--log-level", "warning", port=0
    ) as echo:
        results = await server_side(f"ws://127.0.0.1:{echo.port}/ws/echo", CASES, None, 2)
    check(results)


async def test_autobahn_cases_with_our_client():
    check(await client_side(drive_ours, CASES, None))
