"""The ordering flow: what each of the three participants does inside its XA branch.

* **store** (the restaurant's database): ``items`` with their stock; an order
  reserves ``qty`` of one item (``stock >= qty`` checked by the UPDATE itself, so
  two orders cannot both take the last portion) and records the reservation.
* **delivery**: ``agents``; an order takes the first free agent with
  ``FOR UPDATE SKIP LOCKED`` (concurrent orders lock *different* free agents
  instead of queueing on the same one) and marks it busy with the order's id.
  ``UNIQUE(order_txid)`` makes a double assignment impossible even by mistake;
  ``assignments`` keeps who delivered what after the agent is free again.
* **orders**: the order row itself, with the agent the delivery branch chose.

If the store has no stock or no agent is free, that branch raises ``Refused``
and the coordinator rolls every branch back: no food held, no agent busy, no
order row. ``check()`` verifies that all-or-nothing holds across the three
databases (used by the tests and ``bench.twopc``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clients.mysql import Connection

from .twopc import Refused, Work

PARTICIPANTS = ("store", "delivery", "orders")

SCHEMA = {
    "store": [
        """CREATE TABLE IF NOT EXISTS items (
            id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, stock INT NOT NULL
        ) ENGINE=InnoDB""",
        """CREATE TABLE IF NOT EXISTS reservations (
            txid VARCHAR(64) PRIMARY KEY, item_id INT NOT NULL, qty INT NOT NULL
        ) ENGINE=InnoDB""",
    ],
    "delivery": [
        """CREATE TABLE IF NOT EXISTS agents (
            id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, order_txid VARCHAR(64) NULL UNIQUE
        ) ENGINE=InnoDB""",
        """CREATE TABLE IF NOT EXISTS assignments (
            txid VARCHAR(64) PRIMARY KEY, agent_id INT NOT NULL
        ) ENGINE=InnoDB""",
    ],
    "orders": [
        """CREATE TABLE IF NOT EXISTS orders (
            txid VARCHAR(64) PRIMARY KEY, item_id INT NOT NULL, qty INT NOT NULL,
            agent_id INT NOT NULL, created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
        ) ENGINE=InnoDB""",
    ],
}

MENU = [(1, "masala dosa"), (2, "paneer tikka"), (3, "biryani"), (4, "idli"), (5, "vada pav")]


def create_schema(conns: dict[str, Connection]) -> None:
    for name, statements in SCHEMA.items():
        for sql in statements:
            conns[name].query(sql)


def seed(conns: dict[str, Connection], stock: int, agents: int) -> None:
    """Empty every table, then ``stock`` portions of each menu item and ``agents`` free agents."""
    create_schema(conns)
    for name, tables in (("store", ("reservations", "items")), ("delivery", ("assignments", "agents")),
                         ("orders", ("orders",))):  # fmt: skip
        for t in tables:
            conns[name].query(f"DELETE FROM {t}")
    conns["store"].insert_many("INSERT INTO items (id, name, stock) VALUES",
                               [(i, n, stock) for i, n in MENU])  # fmt: skip
    conns["delivery"].insert_many("INSERT INTO agents (id, name) VALUES",
                                  [(i, f"agent-{i}") for i in range(1, agents + 1)])  # fmt: skip


def reserve_food(item: int, qty: int) -> Work:
    def work(conn: Connection, txid: str, results: dict[str, Any]) -> int:
        r = conn.query("UPDATE items SET stock = stock - %s WHERE id = %s AND stock >= %s",
                       (qty, item, qty))  # fmt: skip
        if r.affected_rows != 1:
            raise Refused(f"item {item}: not enough stock for {qty}")
        conn.query("INSERT INTO reservations (txid, item_id, qty) VALUES (%s, %s, %s)",
                   (txid, item, qty))  # fmt: skip
        return item

    return work


def assign_agent() -> Work:
    def work(conn: Connection, txid: str, results: dict[str, Any]) -> int:
        agent = conn.query("SELECT id FROM agents WHERE order_txid IS NULL ORDER BY id LIMIT 1"
                           " FOR UPDATE SKIP LOCKED").scalar()  # fmt: skip
        if agent is None:
            raise Refused("no delivery agent is free")
        conn.query("UPDATE agents SET order_txid = %s WHERE id = %s", (txid, agent))
        conn.query("INSERT INTO assignments (txid, agent_id) VALUES (%s, %s)", (txid, agent))
        return int(agent)

    return work


def create_order(item: int, qty: int) -> Work:
    def work(conn: Connection, txid: str, results: dict[str, Any]) -> str:
        conn.query("INSERT INTO orders (txid, item_id, qty, agent_id) VALUES (%s, %s, %s, %s)",
                   (txid, item, qty, results["delivery"]))  # fmt: skip
        return txid

    return work


def free_agent(conn: Connection, txid: str) -> int | None:
    """The order was delivered: its agent is free again (a local transaction). None: no such order."""
    with conn.transaction():
        agent = conn.query("SELECT id FROM agents WHERE order_txid = %s FOR UPDATE", (txid,)).scalar()
        if agent is not None:
            conn.query("UPDATE agents SET order_txid = NULL WHERE id = %s", (agent,))
    return None if agent is None else int(agent)


def order_work(item: int, qty: int) -> dict[str, Work]:
    """The three branches of one order, in the order they run."""
    steps: dict[str, Callable[[], Work]] = {
        "store": lambda: reserve_food(item, qty),
        "delivery": assign_agent,
        "orders": lambda: create_order(item, qty),
    }
    return {name: make() for name, make in steps.items()}


def check(conns: dict[str, Connection], stock: int) -> dict[str, Any]:
    """All-or-nothing across the three databases, and nothing oversold or double-assigned.

    Returns the committed order ids and a list of violations (empty when consistent).
    """
    reserved = {t: (i, q) for t, i, q in conns["store"].query(
        "SELECT txid, item_id, qty FROM reservations").rows}  # fmt: skip
    assigned = dict(conns["delivery"].query("SELECT txid, agent_id FROM assignments").rows)
    busy = conns["delivery"].query("SELECT id, order_txid FROM agents WHERE order_txid IS NOT NULL").rows
    orders = {t: (i, q, a) for t, i, q, a in conns["orders"].query(
        "SELECT txid, item_id, qty, agent_id FROM orders").rows}  # fmt: skip
    problems = []
    for txid in set(reserved) | set(assigned) | set(orders):
        where = [n for n, d in (("store", reserved), ("delivery", assigned), ("orders", orders))
                 if txid in d]  # fmt: skip
        if len(where) != 3:
            problems.append(f"{txid}: only in {', '.join(where)}")
        elif orders[txid][2] != assigned[txid] or orders[txid][:2] != reserved[txid]:
            problems.append(f"{txid}: the databases disagree on its item or agent")
    for agent, txid in busy:
        if assigned.get(txid) != agent:
            problems.append(f"agent {agent} is busy with {txid}, which has no such assignment")
    for item, left in conns["store"].query("SELECT id, stock FROM items").rows:
        taken = sum(q for i, q in reserved.values() if i == item)
        if left + taken != stock or left < 0:
            problems.append(f"item {item}: stock {left} + reserved {taken} != {stock}")
    return {"committed": sorted(set(orders) & set(reserved) & set(assigned)), "problems": problems}
