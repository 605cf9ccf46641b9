"""``make report``: the lab index, one HTML page built from the catalog and ``bench/results/``.

For every exercise: its status (a room or not yet), its room, how to run it
and its benchmark, the number of tests tagged with it, and the latest
results of its benchmark: each JSON file's rows (value, min / median / max
when the benchmark recorded rounds, the other figures it saved), the
environment it was measured on (CPUs, Python, event loop, git revision,
when), and its PNG plots. Results that no exercise names are listed at the
end. The page is written beside the results (``index.html`` in
``bench/results/`` or ``$SYSLAB_BENCH_OUT``) so its images and links are
relative; ``make demo`` rebuilds it and ``servers.http`` serves it at
``/lab/``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .catalog import EXERCISES, REPO_ROOT, SERVERS, Exercise, cached_counts, count_tagged_tests

RESULTS = REPO_ROOT / "bench" / "results"
OUT_ENV = "SYSLAB_BENCH_OUT"  # the same variable bench.common reads
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} th{background:#f4f4f4}
.built{color:#176c2a;font-weight:600} .todo{color:#999} code{background:#f4f4f4;padding:0 3px}
img{max-width:100%;border:1px solid #eee;margin:.5em 0} .env{color:#666;font-size:12px}
"""


def results_dir() -> Path:
    out = os.environ.get(OUT_ENV)
    return Path(out) if out else RESULTS


def bench_name(ex: Exercise) -> str | None:
    m = re.search(r"make bench-(\w+)", ex.bench or "")
    return m.group(1) if m else None


def _num(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return html.escape(str(v))


def result_table(doc: dict[str, Any]) -> str:
    rows = doc.get("rows") or []
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return ""
    extras = sorted({k for r in rows for k in (r.get("extra") or {}) if not isinstance(r["extra"][k], (dict, list))})
    lead = [k for k in ("min", "median", "max", "rounds") if k in extras]
    extras = lead + [k for k in extras if k not in lead]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["workload", "impl", "value", "unit", *extras])
    body = []
    for r in rows:
        cells = [html.escape(str(r.get("workload", ""))), html.escape(str(r.get("impl", "")))]
        nums = [_num(r.get("value", "")), html.escape(str(r.get("unit", "")))]
        nums += [_num((r.get("extra") or {}).get(k, "")) for k in extras]
        body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells)
                    + "".join(f'<td class="n">{c}</td>' for c in nums) + "</tr>")  # fmt: skip
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def environment_line(doc: dict[str, Any]) -> str:
    env = doc.get("environment") or {}
    parts = [f"{k}: {env[k]}" for k in ("when", "cpus", "python", "loop", "git", "platform") if k in env]
    return f'<p class="env">measured on {html.escape("; ".join(parts))}</p>' if parts else ""


def results_section(files: list[Path], out: Path) -> str:
    parts = []
    for path in sorted(files):
        rel = path.relative_to(out).as_posix()
        if path.suffix == ".json":
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError):
                parts.append(f"<p>{html.escape(rel)}: unreadable</p>")
                continue
            parts.append(f'<h4><a href="{html.escape(rel)}">{html.escape(rel)}</a></h4>')
            parts.append(environment_line(doc) + result_table(doc))
        else:
            parts.append(f'<img src="{html.escape(rel)}" alt="{html.escape(path.stem)} plot">')
    return "\n".join(parts)


def files_of(name: str, out: Path, taken: set[Path]) -> list[Path]:
    """NAME.json, NAME-*.json and their PNGs (quick runs included), newest layout first."""
    found = [p for p in out.glob("*") if p.suffix in (".json", ".png") and p not in taken
             and (p.stem == name or p.stem.startswith(name + "-") or p.stem.startswith(name + "_"))]  # fmt: skip
    taken.update(found)
    return found


def build(out: Path) -> Path:
    counts = cached_counts() or {}
    taken: set[Path] = set()
    by_exercise = {ex.id: files_of(b, out, taken) if (b := bench_name(ex)) else [] for ex in EXERCISES.values()}
    rows, sections = [], []
    for ex in EXERCISES.values():
        status = '<span class="built">built</span>' if ex.room else '<span class="todo">not yet</span>'
        cmds = " ".join(f"<code>{html.escape(c)}</code>" for c in (ex.run, ex.bench) if c)
        link = f'<a href="#{ex.id}">{ex.id}</a>' if by_exercise[ex.id] else ex.id
        rows.append(f"<tr><td>{link}</td><td>{html.escape(ex.title)}</td><td>{status}</td>"
                    f"<td>{html.escape(ex.room or '')}</td><td>{cmds}</td>"
                    f'<td class="n">{counts.get(ex.id, "")}</td></tr>')  # fmt: skip
        if by_exercise[ex.id]:
            sections.append(f'<h2 id="{ex.id}">{ex.id}: {html.escape(ex.title)}</h2>'
                            + results_section(by_exercise[ex.id], out))  # fmt: skip
    others = [p for p in out.glob("*") if p.suffix in (".json", ".png") and p not in taken]
    if others:
        sections.append('<h2 id="other">Other results</h2>' + results_section(others, out))
    servers = "".join(f"<tr><td>{s.name}</td><td>127.0.0.1:{s.port}</td><td><code>"
                      f"{html.escape(s.try_it.format(port=s.port))}</code></td></tr>" for s in SERVERS.values())  # fmt: skip
    built = sum(1 for ex in EXERCISES.values() if ex.room)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>syslab: the lab index</title>
<style>{STYLE}</style></head><body>
<h1>syslab</h1>
<p>{built} of {len(EXERCISES)} exercises have a room. Servers start with <code>make demo</code>
(all) or <code>make serve-NAME</code>; experiments with <code>make bench-NAME</code>; this page with
<code>make report</code>.</p>
<h2>Exercises</h2>
<table><tr><th>id</th><th>exercise</th><th>status</th><th>room</th><th>try it</th><th>tests</th></tr>
{''.join(rows)}</table>
<h2>Servers</h2>
<table><tr><th>server</th><th>address</th><th>try it</th></tr>{servers}</table>
{''.join(sections)}
</body></html>
"""
    out.mkdir(parents=True, exist_ok=True)
    index = out / "index.html"
    index.write_text(page)
    return index


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="make report", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--out", type=Path, default=None, help="results folder (default bench/results/)")
    args = p.parse_args(argv)
    out = args.out or results_dir()
    if cached_counts() is None:  # first run, or a test file changed: collect once, as make list does
        count_tagged_tests()  # (the collection leaves the counts in the cache build reads)
    try:
        index = build(out)
    except OSError as e:
        print(f"make report: cannot write {out}: {e.strerror or e}", file=sys.stderr)
        return 1
    print(f"wrote {index} (open file://{index.resolve()}, or /lab/ on the http server of make demo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
