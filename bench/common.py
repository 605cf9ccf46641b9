"""What every experiment shares: the environment header, timing, percentiles, a
table with ratios, and saving results as JSON (and PNG where a curve helps).

A benchmark is a program (``python -m bench.NAME``), never a test: it runs
syslab's implementation and a reference in the same run and prints the ratio.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results"
# Where results go instead of ``RESULTS`` when set: the smoke tests point it at a
# temporary folder so a test run never overwrites a real measurement.
OUT_ENV = "SYSLAB_BENCH_OUT"


def results_dir() -> Path:
    """The folder results are written to (``$SYSLAB_BENCH_OUT``, else bench/results/)."""
    out = os.environ.get(OUT_ENV)
    return Path(out) if out else RESULTS


def environment() -> dict[str, Any]:
    """Facts that make a number comparable: machine, Python, loop, git revision."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT,
            capture_output=True, text=True, timeout=5,
        ).stdout.strip()  # fmt: skip
    except OSError:
        rev = ""
    try:
        import uvloop

        loop = f"uvloop {uvloop.__version__}"
    except ImportError:
        loop = "asyncio"
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loop": loop,
        "git": rev,
    }


def header(title: str) -> str:
    env = environment()
    return (
        f"== {title} ==\n"
        f"   {env['when']}  python {env['python']}  {env['cpus']} cpus  {env['loop']}  git {env['git']}\n"
        f"   {env['platform']}"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (``/proc/PID/stat``, fields 14 and 15).

    On a machine shared with other work, a server's CPU time per request moves
    much less than its requests per second: it is the steadier figure."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100) by nearest rank; 0.0 for no samples."""
    if not samples:
        return 0.0
    s = sorted(samples)
    k = max(0, min(len(s) - 1, round(p / 100 * (len(s) - 1))))
    return s[k]


@dataclass
class Row:
    """One line of a result table: a workload on one implementation."""

    workload: str
    impl: str
    value: float  # the headline figure (ops/s, MB/s, seconds...)
    unit: str
    extra: dict[str, Any] = field(default_factory=dict)


def measured(workload: str, impl: str, samples: Sequence[float], unit: str, **extra: Any) -> Row:
    """A row from the rounds of one measurement: the median is the value; min, median,
    max and the number of rounds go beside it (in the table and the JSON)."""
    if not samples:
        raise ValueError(f"no samples for {workload} on {impl}")
    spread = {"min": min(samples), "median": statistics.median(samples), "max": max(samples),
              "rounds": len(samples)}  # fmt: skip
    return Row(workload, impl, float(spread["median"]), unit, {**spread, **extra})


def merge_rounds(rounds: Sequence[Sequence[Row]]) -> list[Row]:
    """Rows of the same (workload, impl) from several whole rounds of a benchmark, as one
    row each: the median value, with min / median / max / rounds beside it, and the
    other figures (latencies, counts) of the round whose value was the median.

    For benchmarks whose one round already runs every implementation back to back:
    calling that round R times and merging interleaves ours and the reference R
    times (A B A B ...), so a slow moment of the machine lands on both."""
    groups: dict[tuple[str, str], list[Row]] = {}
    for rows in rounds:
        for r in rows:
            groups.setdefault((r.workload, r.impl), []).append(r)
    out = []
    for (workload, impl), rs in groups.items():
        by_value = sorted(rs, key=lambda r: r.value)
        mid = by_value[(len(by_value) - 1) // 2]
        merged = measured(workload, impl, [r.value for r in rs], mid.unit)
        merged.extra = {**mid.extra, **merged.extra}
        out.append(merged)
    return out


def rotated(items: Iterable[Any], k: int) -> list[Any]:
    """``items`` starting at the ``k``-th (mod their number): round ``k`` of an
    interleaved benchmark runs them in this order, so no one always goes first."""
    seq = list(items)
    k = k % len(seq) if seq else 0
    return seq[k:] + seq[:k]


def interleaved(runners: Mapping[Any, Any], rounds: int) -> dict[Any, list[Any]]:
    """Call each ``runners[name]()`` once per round, the order rotating every round.

    So a slow moment of the machine (another process, a page-cache flush)
    falls on every implementation alike instead of on whichever ran second.
    """
    names = list(runners)
    results: dict[Any, list[Any]] = {n: [] for n in names}
    for r in range(rounds):
        for name in rotated(names, r):
            results[name].append(runners[name]())
    return results


RATE_UNITS = ("/s", "per s", "x")  # unit endings where more is better
COST_UNITS = ("s", "ms", "us", "µs", "ns", "KiB", "MiB", "KB", "MB", "B", "bytes")


LOG_SPAN = 20.0  # a panel's bars go on a log axis only when its medians span this factor


def better(unit: str) -> str:
    """``higher`` for rates, ``lower`` for times and sizes, empty when the unit does not say."""
    if unit.endswith(RATE_UNITS):
        return "higher"
    if unit in COST_UNITS or unit.split("/")[0] in COST_UNITS:
        return "lower"
    return ""


def median_bars(rows: Sequence[Row], path: Path, title: str, ylabel: str | dict[str, str] | None = None,
                scale: float = 1.0, log: bool = True, size: tuple[float, float] | None = None,
                panel: Callable[[Row], str] | None = None) -> Path:  # fmt: skip
    """A PNG of grouped bars: one group per workload, one bar per implementation (in the
    rows' order), the median as the bar and min..max as its whisker; values / ``scale``.

    Rows in several units get one panel per unit (a latency beside a memory figure),
    or one per ``panel(row)`` when given (titled with it); each panel's axis says its
    unit and, when the unit tells, whether higher or lower is better. ``ylabel`` (one
    label, or one per unit / panel) replaces the unit as the label. With ``log``, a
    panel whose medians span ``LOG_SPAN`` or more is drawn on a log axis (and says so);
    a narrower one from zero, where bar heights compare honestly."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = panel or (lambda r: r.unit)
    names = list(dict.fromkeys(key(r) for r in rows))
    if size is None:
        size = (max(10.0, 5.5 * len(names)), 4.5)
    fig, axes = plt.subplots(1, len(names), figsize=size, squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in rows if key(r) == name]
        unit = mine[0].unit
        label = ylabel.get(name, unit) if isinstance(ylabel, dict) else (ylabel or unit)
        sense = better(unit)
        _bars(ax, mine, scale, log, label + (f" ({sense} is better)" if sense else ""))
        if panel:
            ax.set_title(name)
    per_line = int(size[0] * 10)  # characters that fit across the figure at the title's size
    fig.suptitle("\n".join(textwrap.fill(line, per_line) for line in title.split("\n")))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def yerr(rows: Sequence[Row], scale: float = 1.0) -> list[list[float]]:
    """matplotlib's ``yerr`` for bars at the rows' medians: [below, above] down to min
    and up to max (rows without a spread get no whisker); values / ``scale``."""
    lo = [(r.value - r.extra.get("min", r.value)) / scale for r in rows]
    hi = [(r.extra.get("max", r.value) - r.value) / scale for r in rows]
    return [lo, hi]


def _bars(ax: Any, rows: Sequence[Row], scale: float, log: bool, ylabel: str) -> None:
    impls = list(dict.fromkeys(r.impl for r in rows))
    workloads = list(dict.fromkeys(r.workload for r in rows))
    present = {w: [i for i in impls if any(r.workload == w and r.impl == i for r in rows)] for w in workloads}
    width = 0.8 / max(len(v) for v in present.values())
    for impl in impls:  # each workload's bars side by side, centred, whoever is in it
        mine = {r.workload: r for r in rows if r.impl == impl}
        shown = [w for w in workloads if w in mine]
        xs = [workloads.index(w) + (present[w].index(impl) - (len(present[w]) - 1) / 2) * width for w in shown]
        med = [mine[w].value / scale for w in shown]
        ax.bar(xs, med, width=width, yerr=yerr([mine[w] for w in shown], scale), capsize=2, label=impl)
    long = len(workloads) > 6 or sum(len(w) for w in workloads) > 60
    ax.set_xticks(range(len(workloads)), workloads, rotation=20 if long else 0, ha="right" if long else "center")
    values = [r.value for r in rows]
    if log and min(values) > 0 and max(values) / min(values) >= LOG_SPAN:
        ax.set_yscale("log")  # a narrower span reads better (and more honestly) from zero
        ylabel += ", log scale"
    else:
        ax.set_ylim(bottom=0, top=None if max(values) > 0 else 1)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize="small")


def overlaps(a: Row, b: Row) -> bool:
    """True when two rows' min..max ranges overlap: the difference of their medians is
    within the noise of this run (the table marks such ratios with ``~``)."""
    if not all(k in r.extra for r in (a, b) for k in ("min", "max")):
        return False
    if a.extra["min"] == a.extra["max"] and b.extra["min"] == b.extra["max"]:
        return False  # one round each (or exact figures): nothing to say about noise
    return bool(a.extra["min"] <= b.extra["max"] and b.extra["min"] <= a.extra["max"])


def table(rows: Iterable[Row], reference: str, higher_is_better: bool = True, sense: str | None = None) -> str:
    """Rows grouped by workload, each with its ratio to ``reference`` in the same workload.

    The ratio is always "how many times better than the reference" (>1 means
    ahead), computed from medians; a ``~`` before it says the two rows' min..max
    ranges overlap, so the difference is not significant in this run. The first
    line says which way values and ratios go; ``sense`` replaces it for a table
    where neither more nor less is better (keys moved against the ideal).
    """
    rows = list(rows)
    ref_rows = {r.workload: r for r in rows if r.impl == reference}
    ref = {w: r.value for w, r in ref_rows.items()}
    extras = sorted({k for r in rows for k in r.extra})
    if sense is None:  # the header line; a table whose best ratio is not "more" says its own
        sense = ("values: higher is better; ratio: this row's median / the reference's, >1 = ahead"
                 if higher_is_better else
                 "values: lower is better; ratio: the reference's median / this row's, >1 = ahead")  # fmt: skip
    out = [f"({sense}; ~ = within the min..max noise of this run)",
           f"{'workload':<22} {'impl':<22} {'value':>14} {'unit':<8} {'vs ' + reference:>12} "
           + " ".join(f"{k:>10}" for k in extras)]  # fmt: skip
    for r in rows:
        base = ref.get(r.workload)
        if base and r.value:
            ratio = (r.value / base) if higher_is_better else (base / r.value)
            noise = r.impl != reference and overlaps(r, ref_rows[r.workload])
            rs = ("~" if noise else "") + f"{ratio:.2f}x"
        else:
            rs = "-"
        ex = " ".join(f"{_fmt(r.extra.get(k, '')):>10}" for k in extras)
        out.append(f"{r.workload:<22} {r.impl:<22} {_fmt(r.value):>14} {r.unit:<8} {rs:>12} {ex}")
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def save(name: str, rows: Iterable[Row], **meta: Any) -> Path:
    """Write ``NAME.json`` (in ``results_dir()``) with the environment and every row."""
    out = results_dir()
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    doc = {"environment": environment(), **meta, "rows": [asdict(r) for r in rows]}
    path.write_text(json.dumps(doc, indent=2, default=str))
    return path


class Timer:
    """``with Timer() as t: ...; t.seconds``: wall time with perf_counter."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def summarize(latencies: Sequence[float]) -> dict[str, float]:
    """p50/p99/mean of latencies in seconds, returned in milliseconds."""
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "mean_ms": (statistics.fmean(latencies) * 1000) if latencies else 0.0,
    }
