"""``python -m bench.unread``: every index variant, plans and timings side by side."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path
from typing import Any

from clients.mysql import Connection

from .. import common
from ..common import Row, header, save, table
from ..sqlbench import (
    common_flags,
    database,
    positive,
    pyplot,
    run_bench,
    save_figure,
    table_bytes,
)
from . import data, queries

WHY = """why (examined = rows the engine handed up, from ANALYZE FORMAT=JSON):
- no index: "has unread" is a correlated subquery, a full scan of the messages per membership
  (~10 x 1M rows); "unread count" joins with a join buffer (BNL): one scan for the whole user.
- one per column: the optimizer picks channel_id (ref) and fetches every row of the channel from
  the clustered index to test created_at and sender_id: examined = the channels' sizes.
- (channel_id, created_at): inside a join the probe is still ref on channel_id (a range bound
  from another table's row is not turned into a range), but Index Condition Pushdown tests
  created_at inside the index, so EXISTS fetches a row only for an unread candidate; with the
  values written in ("one channel") it is a real range on both columns: examined = unread rows.
- (created_at, channel_id), the wrong order: the leading column is compared by range, so the
  index cannot find a channel: full scans (or "Range checked for each record"); for one channel
  it ranges over every channel's recent messages.
- covering (channel_id, created_at, sender_id): every column the query reads is in the index
  (Extra: Using index): no clustered-index lookups at all.
- writes: every secondary index is one more B+tree insert per message (three for the
  per-column variant). Indexes led by channel_id take new messages at scattered places (one
  insertion point per channel); an index led by created_at takes them at its right edge (time
  only grows). Compare min/max: on a shared machine single-index variants can overlap."""


def sample_users(shape: data.Shape, n: int) -> list[int]:
    rnd = random.Random(7)
    return sorted(rnd.sample(range(shape.users), min(n, shape.users)))


def new_messages(shape: data.Shape, n: int) -> list[tuple[Any, ...]]:
    """Messages newer than every loaded one, each 50 ms after the last (as they would arrive)."""
    rnd = random.Random(3)
    start = shape.messages * 50 + 1000
    return [(int(shape.channels * rnd.random() ** 2), rnd.randrange(shape.users),
             data.timestamp(start + 50 * i), data.BODY) for i in range(n)]  # fmt: skip


def plan_line(rows: list[dict[str, Any]]) -> str:
    x = [r for r in rows if r.get("table") in ("x", "ur_messages")]
    return "; ".join(f"type={r['type']} key={r['key']} rows={r['rows']} {r['Extra'] or ''}".strip()
                     for r in x)  # fmt: skip


def visit(conn: Connection, variant: str, per_user: dict[str, list[tuple[Any, ...]]], budget: float,
          writes: list[tuple[Any, ...]], out: dict[str, Any]) -> None:  # fmt: skip
    """One round's turn of ``variant``: its indexes built, each query timed once per
    user (within ``budget`` seconds), one write-cost pass; the plans, sizes and
    answers on its first turn. Samples accumulate in ``out``."""
    build = queries.set_indexes(conn, variant)
    if not out:
        out.update(table_bytes(conn, "ur_messages"), builds=[], writes=[])
        out["answers"] = {
            n: conn.query(sql, per_user[n][0]).rows for n, sql in queries.QUERIES.items()
        }
        for name, sql in queries.QUERIES.items():
            args = per_user[name][0]
            out[name] = {"explain": queries.explain(conn, sql, args),
                         "analyze": queries.analyze(conn, sql, args), "times": []}  # fmt: skip
    out["builds"].append(build)
    for name, sql in queries.QUERIES.items():
        out[name]["times"] += queries.timed(conn, sql, per_user[name], budget)
    out["writes"] += queries.write_cost(conn, writes, 1)


def finish(out: dict[str, Any]) -> None:
    """A variant's samples as min / median / max (queries in ms, writes in rows/s)."""
    for name in queries.QUERIES:
        out[name].update(queries.spread_ms(out[name].pop("times")))
    rates = out.pop("writes")
    out["write_rows_per_s"] = statistics.median(rates)
    out["write_min"], out["write_max"] = min(rates), max(rates)
    out["build_s"] = statistics.median(out.pop("builds"))


def rows_of(res: dict[str, Any]) -> tuple[list[Row], list[Row]]:
    qrows, wrows = [], []
    for variant, r in res.items():
        for name in queries.QUERIES:
            q = r[name]
            qrows.append(Row(name, variant, q["median_ms"], "ms", {
                "min": q["min_ms"], "median": q["median_ms"], "max": q["max_ms"], "samples": q["samples"],
                "examined": q["analyze"]["messages_rows_examined"]}))  # fmt: skip
        wrows.append(Row("insert messages", variant, r["write_rows_per_s"], "rows/s", {
            "min": r["write_min"], "median": r["write_rows_per_s"], "max": r["write_max"],
            "index_MB": r["index_bytes"] / 2**20, "build_s": r["build_s"]}))  # fmt: skip
    return qrows, wrows


def plot(res: dict[str, Any], png: Path) -> None:
    plt = pyplot()
    names = list(res)
    fig, ax = plt.subplots(1, 2, figsize=(15, 5))
    width = 0.4
    for i, q in enumerate(queries.QUERIES):
        cells = [res[v][q] for v in names]
        ax[0].bar([j + i * width for j in range(len(names))], [c["median_ms"] for c in cells], width, label=q,
                  yerr=[[c["median_ms"] - c["min_ms"] for c in cells], [c["max_ms"] - c["median_ms"] for c in cells]],
                  capsize=3)  # fmt: skip
    ax[0].set_xticks([j + width / 2 for j in range(len(names))], names, rotation=15)
    ax[0].set(
        yscale="log",
        ylabel="ms per user (median, whiskers min..max)",
        title="unread queries by index",
    )
    ax[0].legend()
    ax[1].bar(names, [res[v]["write_rows_per_s"] for v in names], capsize=3,
              yerr=[[res[v]["write_rows_per_s"] - res[v]["write_min"] for v in names],
                    [res[v]["write_max"] - res[v]["write_rows_per_s"] for v in names]])  # fmt: skip
    ax[1].set_xticks(range(len(names)), names, rotation=15)
    ax[1].set(ylabel="rows/s", title="insert rate with the variant's indexes")
    save_figure(fig, png)


def run(args: argparse.Namespace) -> None:
    out = common.results_dir()  # --out, set by output_dir around this run
    name = "unread-quick" if args.quick else "unread"
    shape = data.Shape.for_messages(3_000 if args.quick else args.messages)
    users = sample_users(shape, 5 if args.quick else 20)
    writes = new_messages(shape, 300 if args.quick else 30_000)
    print(
        header(
            f"D12 unread indicator over {shape.messages:,} messages, {shape.channels:,} channels"
        )
    )
    res: dict[str, Any] = {v: {} for v in queries.VARIANTS}
    with database() as addr, Connection.from_address(addr) as conn:
        data.load(conn, shape)
        per_user = {n: [queries.params(conn, n, u) for u in users] for n in queries.QUERIES}
        for r in range(args.rounds):  # interleaved: every variant once a round, the first rotating
            for variant in common.rotated(queries.VARIANTS, r):
                visit(conn, variant, per_user, args.budget / args.rounds, writes, res[variant])
    for cell in res.values():
        finish(cell)
    first = res[queries.REFERENCE]["answers"]
    same = all(r["answers"] == first for r in res.values())
    qrows, wrows = rows_of(res)
    print(f"\nplans for ur_messages (EXPLAIN, user {users[0]}):")
    for variant, r in res.items():
        for q in queries.QUERIES:
            a = r[q]["analyze"]
            print(f"  {variant:<19} {q:<13} {plan_line(r[q]['explain'])}  | ANALYZE: "
                  f"{a['access']} r_rows {a['messages_rows_examined']:,} in {a['r_total_time_ms']:.2f} ms")  # fmt: skip
    print("\n" + table(qrows, reference=queries.REFERENCE, higher_is_better=False))
    print("\n" + table(wrows, reference=queries.REFERENCE))
    print(f"\nevery variant gave the same answers: {'yes' if same else 'NO'}\n" + WHY)
    png = out / f"{name}.png"
    plot(res, png)
    for r in res.values():
        r["answers"] = {k: [list(x) for x in v] for k, v in r["answers"].items()}
    path = save(name, qrows + wrows, shape=vars(shape), users=users, same_answers=same,
                variants=res, png=str(png))  # fmt: skip
    print(f"\nsaved {path} and {png}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.unread", description=__doc__)
    p.add_argument("--messages", type=positive, default=1_000_000, help="messages (default 1M)")
    p.add_argument(
        "--budget", type=float, default=20.0, help="seconds of timing per query and variant"
    )
    common_flags(p, rounds=3)
    args = p.parse_args(argv)
    if args.quick:
        args.budget = min(args.budget, 2.0)
    run_bench("bench.unread", run, args)


if __name__ == "__main__":
    main()
