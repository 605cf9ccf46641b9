"""The group coordinator: JoinGroup / SyncGroup / Heartbeat / LeaveGroup.

Strategy (the classic protocol, KIP-62 timeouts): a group is a small state
machine ``Empty -> PreparingRebalance -> CompletingRebalance -> Stable``.
A join (a new member, or a known one rejoining) starts a rebalance; the
coordinator then waits until every known member has re-sent JoinGroup, or
until the longest rebalance timeout expires (laggards are dropped). Completing
the join bumps the generation, picks a protocol (assignor) every member
supports, and answers all joiners at once; the leader alone gets the members'
metadata, computes the assignment itself (range, round-robin: the client's
business) and hands it back in SyncGroup, which releases the followers.

A first join into an empty group waits ``initial_delay`` (Kafka's
group.initial.rebalance.delay.ms, 3 s there) so that members started together
land in one generation instead of one rebalance each.

Members whose heartbeats stop for ``session_timeout_ms`` are removed by a
sweeper, which starts a rebalance for the survivors. Members waiting in a join
or sync are not expired (the coordinator owes them an answer).

What Kafka does that we do not: static membership (group.instance.id), the
member-id-required round trip (KIP-394), persisting group membership.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from clients.kafka.protocol import errors as E

log = logging.getLogger(__name__)

# Bounds on session.timeout.ms (Kafka's group.min/max.session.timeout.ms are 6 s and
# 30 min; the minimum is lower here so that tests can watch a member die quickly).
MIN_SESSION_MS = 100
MAX_SESSION_MS = 30 * 60 * 1000
# Members per group: each holds its metadata in memory.
MAX_MEMBERS = 1000


@dataclass
class Member:
    member_id: str
    client_id: str
    client_host: str
    session_ms: int
    rebalance_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]
    last_seen: float
    join: asyncio.Future[dict[str, Any]] | None = None
    sync: asyncio.Future[dict[str, Any]] | None = None
    assignment: bytes = b""

    def metadata(self, protocol: str) -> bytes:
        return next(m for n, m in self.protocols if n == protocol)


@dataclass
class Group:
    group_id: str
    state: str = "Empty"
    generation: int = 0
    protocol_type: str = ""
    protocol: str = ""
    leader: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    timer: asyncio.TimerHandle | None = None


class Coordinator:
    def __init__(self, initial_delay: float = 0.3) -> None:
        self.initial_delay = initial_delay
        self.groups: dict[str, Group] = {}
        self._loop = asyncio.get_running_loop()
        self._sweeper = self._loop.create_task(self._sweep())

    def close(self) -> None:
        self._sweeper.cancel()
        for g in self.groups.values():
            if g.timer:
                g.timer.cancel()

    # -- JoinGroup -------------------------------------------------------------
    async def join(self, req: dict[str, Any], client_id: str, host: str) -> dict[str, Any]:
        gid, mid = req["group_id"], req["member_id"]
        if not gid:
            return _join_error(E.INVALID_GROUP_ID, mid)
        if not MIN_SESSION_MS <= req["session_timeout_ms"] <= MAX_SESSION_MS:
            return _join_error(E.INVALID_SESSION_TIMEOUT, mid)
        g = self.groups.setdefault(gid, Group(gid))
        protocols = [(p["name"], p["metadata"]) for p in req["protocols"]]
        if not protocols or (g.members and not self._compatible(g, req["protocol_type"], protocols)):
            return _join_error(E.INCONSISTENT_GROUP_PROTOCOL, mid)
        if mid and mid not in g.members:
            return _join_error(E.UNKNOWN_MEMBER_ID, mid)
        if not mid:
            if len(g.members) >= MAX_MEMBERS:
                return _join_error(E.UNKNOWN_SERVER_ERROR, mid)  # GROUP_MAX_SIZE_REACHED in Kafka
            mid = f"{client_id or 'member'}-{uuid.uuid4()}"
        rebalance_ms = req.get("rebalance_timeout_ms", -1)
        m = Member(mid, client_id, host, req["session_timeout_ms"],
                   rebalance_ms if rebalance_ms > 0 else req["session_timeout_ms"],
                   req["protocol_type"], protocols, self._loop.time())  # fmt: skip
        old = g.members.get(mid)
        if old is not None and old.join is not None and not old.join.done():
            old.join.set_result(_join_error(E.REBALANCE_IN_PROGRESS, mid))  # superseded
        g.members[mid] = m
        m.join = fut = self._loop.create_future()
        self._prepare_rebalance(g)
        self._maybe_complete_join(g)
        return await fut

    def _compatible(self, g: Group, ptype: str, protocols: list[tuple[str, bytes]]) -> bool:
        if ptype != g.protocol_type:
            return False
        names = {n for n, _ in protocols}
        return any(all(n in {p for p, _ in mm.protocols} for mm in g.members.values()) for n in names)

    def _prepare_rebalance(self, g: Group) -> None:
        if g.state == "PreparingRebalance":
            return
        if g.state == "CompletingRebalance":  # syncs waiting on a generation now void
            for m in g.members.values():
                _resolve(m.sync, {"error_code": E.REBALANCE_IN_PROGRESS, "assignment": b""})
                m.sync = None
        was_empty = g.state == "Empty"
        g.state = "PreparingRebalance"
        if g.members:
            first = next(iter(g.members.values()))
            g.protocol_type = first.protocol_type
        delay = self.initial_delay if was_empty else max(
            (m.rebalance_ms for m in g.members.values()), default=0) / 1000  # fmt: skip
        if g.timer:
            g.timer.cancel()
        g.timer = self._loop.call_later(delay, self._join_deadline, g, was_empty)
        log.info("group %s: rebalancing (generation %d)", g.group_id, g.generation)

    def _join_deadline(self, g: Group, initial: bool) -> None:
        g.timer = None
        if g.state != "PreparingRebalance":
            return
        if initial:
            if self._all_joined(g):
                self._complete_join(g)
            else:  # the initial delay is over: now the normal rebalance timeout applies
                delay = max((m.rebalance_ms for m in g.members.values()), default=0) / 1000
                g.timer = self._loop.call_later(delay, self._join_deadline, g, False)
            return
        for mid, m in list(g.members.items()):
            if m.join is None or m.join.done():
                log.info("group %s: dropping %s (did not rejoin in time)", g.group_id, mid)
                del g.members[mid]
        self._complete_join(g)

    def _all_joined(self, g: Group) -> bool:
        return all(m.join is not None and not m.join.done() for m in g.members.values())

    def _maybe_complete_join(self, g: Group) -> None:
        if g.state == "PreparingRebalance" and g.timer is not None and self._all_joined(g):
            # Wait out an initial delay (more members may come); else complete now.
            if g.generation > 0 or self.initial_delay == 0:
                g.timer.cancel()
                g.timer = None
                self._complete_join(g)

    def _complete_join(self, g: Group) -> None:
        g.generation += 1
        if not g.members:
            g.state, g.leader, g.protocol = "Empty", "", ""
            return
        if g.leader not in g.members:
            g.leader = next(iter(g.members))
        leader = g.members[g.leader]
        g.protocol = next(n for n, _ in leader.protocols
                          if all(n in {p for p, _ in m.protocols} for m in g.members.values()))
        g.state = "CompletingRebalance"
        log.info("group %s: generation %d, %d member(s), leader %s, protocol %s",
                 g.group_id, g.generation, len(g.members), g.leader, g.protocol)
        everyone = [{"member_id": m.member_id, "group_instance_id": None,
                     "metadata": m.metadata(g.protocol)} for m in g.members.values()]  # fmt: skip
        for m in g.members.values():
            m.last_seen = self._loop.time()
            _resolve(m.join, {
                "error_code": 0, "generation_id": g.generation, "protocol_name": g.protocol,
                "leader": g.leader, "member_id": m.member_id,
                "members": everyone if m.member_id == g.leader else [],
            })  # fmt: skip
            m.join = None

    # -- SyncGroup -------------------------------------------------------------
    async def sync(self, req: dict[str, Any]) -> dict[str, Any]:
        g, m, err = self._member(req)
        if err:
            return {"error_code": err, "assignment": b""}
        assert g is not None and m is not None
        if g.state == "PreparingRebalance":
            return {"error_code": E.REBALANCE_IN_PROGRESS, "assignment": b""}
        if g.state == "Stable":
            return {"error_code": 0, "assignment": m.assignment}
        m.last_seen = self._loop.time()
        m.sync = fut = self._loop.create_future()
        if m.member_id == g.leader:
            given = {a["member_id"]: a["assignment"] for a in req["assignments"]}
            g.state = "Stable"
            for mm in g.members.values():
                mm.assignment = given.get(mm.member_id, b"")
                _resolve(mm.sync, {"error_code": 0, "assignment": mm.assignment})
                mm.sync = None
        return await fut

    def _member(self, req: dict[str, Any]) -> tuple[Group | None, Member | None, int]:
        g = self.groups.get(req["group_id"])
        m = g.members.get(req["member_id"]) if g else None
        if g is None or m is None:
            return g, None, E.UNKNOWN_MEMBER_ID
        if req["generation_id"] != g.generation:
            return g, m, E.ILLEGAL_GENERATION
        return g, m, 0

    # -- Heartbeat / LeaveGroup ----------------------------------------------------
    def heartbeat(self, req: dict[str, Any]) -> int:
        g, m, err = self._member(req)
        if m is not None:
            m.last_seen = self._loop.time()
        if err:
            return err
        assert g is not None
        return E.REBALANCE_IN_PROGRESS if g.state == "PreparingRebalance" else 0

    def leave(self, group_id: str, member_ids: list[str]) -> list[int]:
        g = self.groups.get(group_id)
        codes = []
        for mid in member_ids:
            if g is None or mid not in g.members:
                codes.append(E.UNKNOWN_MEMBER_ID)
                continue
            self._remove(g, mid, "left")
            codes.append(0)
        return codes

    def _remove(self, g: Group, mid: str, why: str) -> None:
        m = g.members.pop(mid)
        log.info("group %s: member %s %s", g.group_id, mid, why)
        _resolve(m.join, _join_error(E.UNKNOWN_MEMBER_ID, mid))
        _resolve(m.sync, {"error_code": E.UNKNOWN_MEMBER_ID, "assignment": b""})
        if not g.members:
            if g.timer:
                g.timer.cancel()
                g.timer = None
            g.generation += 1
            g.state, g.leader, g.protocol = "Empty", "", ""
        elif g.state == "PreparingRebalance":
            self._maybe_complete_join(g)
        else:
            self._prepare_rebalance(g)

    async def _sweep(self) -> None:
        """Expire members whose session ran out (the heartbeat timeout of KIP-62)."""
        while True:
            await asyncio.sleep(0.05)
            now = self._loop.time()
            for g in list(self.groups.values()):
                for mid, m in list(g.members.items()):
                    waiting = (m.join is not None and not m.join.done()) or m.sync is not None
                    if not waiting and now - m.last_seen > m.session_ms / 1000:
                        self._remove(g, mid, "session timed out")

    # -- offsets and describing --------------------------------------------------------
    def check_commit(self, req: dict[str, Any]) -> int:
        """May this OffsetCommit go ahead? (0, or the error for every partition.)"""
        gen = req.get("generation_id", -1)
        g = self.groups.get(req["group_id"])
        if gen < 0 and not req.get("member_id"):
            return 0 if g is None or not g.members else E.ILLEGAL_GENERATION  # standalone
        g2, m, err = self._member(req)
        if err:
            return err
        assert g2 is not None and m is not None
        m.last_seen = self._loop.time()
        # As Kafka: members may commit while the group prepares a rebalance (that is when
        # their revoke callbacks run), not between the join and the assignment.
        return E.REBALANCE_IN_PROGRESS if g2.state == "CompletingRebalance" else 0

    def describe(self, gid: str) -> dict[str, Any]:
        g = self.groups.get(gid)
        if g is None:
            return {"error_code": 0, "group_id": gid, "group_state": "Dead", "protocol_type": "",
                    "protocol_data": "", "members": []}  # fmt: skip
        stable = g.state in ("Stable", "CompletingRebalance")
        return {
            "error_code": 0, "group_id": gid, "group_state": g.state,
            "protocol_type": g.protocol_type, "protocol_data": g.protocol if stable else "",
            "members": [{
                "member_id": m.member_id, "group_instance_id": None, "client_id": m.client_id,
                "client_host": m.client_host,
                "member_metadata": m.metadata(g.protocol) if stable else b"",
                "member_assignment": m.assignment if g.state == "Stable" else b"",
            } for m in g.members.values()],
        }  # fmt: skip

    def listing(self) -> list[dict[str, Any]]:
        return [{"group_id": g.group_id, "protocol_type": g.protocol_type or "consumer"}
                for g in self.groups.values()]  # fmt: skip


def _join_error(code: int, mid: str) -> dict[str, Any]:
    return {"error_code": code, "generation_id": -1, "protocol_name": "", "leader": "",
            "member_id": mid, "members": []}  # fmt: skip


def _resolve(fut: asyncio.Future[dict[str, Any]] | None, value: dict[str, Any]) -> None:
    if fut is not None and not fut.done():
        fut.set_result(value)
