"""``python -m bench.mysql_keys``: run the three parts, print, save JSON and PNG."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from clients.mysql import Connection

from .. import common
from ..common import Row, header, save, table
from ..sqlbench import common_flags, database, positive, pyplot, run_bench, save_figure, spread
from . import inserts, paging, upsert

log = logging.getLogger("bench.mysql_keys")

WHY_KEYS = """why: InnoDB keeps rows inside the primary key's B+tree (16 KiB leaf pages). Every kind
splits about once per new page (splits ~ pages); what differs is where. A strictly increasing
key (auto-increment, Snowflake, UUIDv7 with its counter) splits at the right edge and leaves the
old page full (fewest bytes per row). A random UUIDv4 splits full pages in the middle, leaving
half-empty ones that fill to ~70% on average (more bytes per row, a bigger tree), and once the
tree outgrows the 128 MB buffer pool most inserts first read a cold leaf from disk (disk_reads),
so its rate falls round after round. UUIDv7 with random low bits is ordered only by the
millisecond: the ~100 keys made in one millisecond arrive shuffled, so the right-most pages
split in the middle too (bytes per row like v4), but the working set stays small (no reads).
The 16-byte key also makes every row (and every secondary index entry) 8 bytes wider."""
WHY_UPSERT = """why: REPLACE on an existing key is DELETE + INSERT (handler deletes and writes per row;
the secondary index entry is removed and re-added; ON DELETE CASCADE empties the child table),
while ON DUPLICATE KEY UPDATE changes the row in place (one handler update per row).
Both count a handler write per row for the insert attempt that found the duplicate."""
WHY_PAGING = """why: OFFSET d walks d index entries and throws them away (rows examined grows with
depth); keyset seeks straight to the last seen id (one index dive + one page), flat at any depth.
Both return identical pages (checked: same rows, and as many as the page at that depth holds)."""


def key_rows(res: dict[str, Any], total: int) -> list[Row]:
    rows = []
    for kind in inserts.KINDS:
        r = res[kind]
        rates = [x["rows_per_s"] for x in r["rounds"]]
        s = spread(rates)
        rows.append(Row(f"insert {total:,}", kind, s["median"], "rows/s", {
            "min": s["min"], "median": s["median"], "max": s["max"], "overall/s": r["rows"] / r["seconds"],
            "data_MB": r["data_bytes"] / 2**20, "B/row": r["bytes_per_row"],
            "splits": r["page_splits"], "disk_reads": r["pool_reads"]}))  # fmt: skip
    return rows


def upsert_rows(res: dict[str, Any], n: int) -> list[Row]:
    rows = []
    for way in upsert.WAYS:
        rs = res[way]["rounds"]
        s = spread([x["rows_per_s"] for x in rs])
        last = rs[-1]
        rows.append(Row(f"upsert {n:,} rows", way, s["median"], "rows/s", {
            **s, "deletes": last["handler_delete"],
            "writes": last["handler_write"], "updates": last["handler_update"],
            "children": last["children_left"]}))  # fmt: skip
    return rows


def paging_rows(res: dict[str, Any]) -> list[Row]:
    rows = []
    for depth, cell in res.items():
        for way in paging.WAYS:
            c = cell[way]
            rows.append(Row(f"page at {int(depth):,}", way, c["median_ms"], "ms", {
                "min": c["min_ms"], "median": c["median_ms"], "max": c["max_ms"],
                "examined": c["rows_examined"], "returned": c["returned"],
                "same_rows": "yes" if cell["identical"] else "NO"}))  # fmt: skip
    return rows


def plot(keys: dict[str, Any], pages: dict[str, Any], png: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(1, 3, figsize=(17, 5))
    for kind in inserts.KINDS:
        ax[0].plot([x["rows_per_s"] for x in keys[kind]["rounds"]], marker="o", label=kind)
    ax[0].set(title="insert rate per round (tables growing)", xlabel="round", ylabel="rows/s")
    ax[0].legend()
    ax[1].bar(list(inserts.KINDS), [keys[k]["bytes_per_row"] for k in inserts.KINDS])
    ax[1].set(title="clustered index bytes per row", ylabel="bytes")
    depths = [int(d) for d in pages]
    for way in paging.WAYS:
        cells = [pages[str(d)][way] for d in depths]
        ax[2].errorbar([max(d, 1) for d in depths], [c["median_ms"] for c in cells], marker="o", label=way,
                       yerr=[[c["median_ms"] - c["min_ms"] for c in cells], [c["max_ms"] - c["median_ms"] for c in cells]],
                       capsize=3)  # fmt: skip
    ax[2].set(title="page latency by depth (median, whiskers min..max)", xlabel="depth (rows skipped)", ylabel="ms",
              xscale="log", yscale="log")  # fmt: skip
    ax[2].legend()
    save_figure(fig, png)


def run(args: argparse.Namespace) -> None:
    out = common.results_dir()  # --out, set by output_dir around this run
    name = "mysql_keys-quick" if args.quick else "mysql_keys"
    total = 4_000 if args.quick else args.rows
    n_upsert = 1_000 if args.quick else args.upsert_rows
    print(header(f"D11 primary keys, upserts, pagination ({total:,} rows)"))
    with database() as addr, Connection.from_address(addr) as conn:
        keys = inserts.run(conn, total, args.rounds)
        ups = upsert.run(conn, n_upsert, args.rounds)
        pages = paging.run(
            conn, inserts.table_name("auto-increment"), max(paging.MIN_ROUNDS, args.rounds)
        )
    krows, urows, prows = key_rows(keys, total), upsert_rows(ups, n_upsert), paging_rows(pages)
    print("\n" + table(krows, reference=inserts.REFERENCE) + "\n" + WHY_KEYS)
    print("\n" + table(urows, reference=upsert.REFERENCE) + "\n" + WHY_UPSERT)
    print(
        "\n" + table(prows, reference=paging.REFERENCE, higher_is_better=False) + "\n" + WHY_PAGING
    )
    png = out / f"{name}.png"
    plot(keys, pages, png)
    path = save(name, krows + urows + prows, rows_inserted=total, upsert_rows=n_upsert,
                keys=keys, upsert=ups, paging=pages, png=str(png))  # fmt: skip
    print(f"\nsaved {path} and {png}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.mysql_keys", description=__doc__)
    p.add_argument(
        "--rows", type=positive, default=1_000_000, help="rows per key kind (default 1M)"
    )
    p.add_argument(
        "--upsert-rows", type=positive, default=100_000, help="rows upserted (default 100k)"
    )
    common_flags(p, rounds=5)
    args = p.parse_args(argv)
    run_bench("bench.mysql_keys", run, args)


if __name__ == "__main__":
    main()
