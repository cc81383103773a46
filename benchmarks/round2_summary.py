#!/usr/bin/env python3
"""One table and one chart for performance round 2 (issue #16, items 1-8), from the suites' JSON.

Reads the latest usable results JSON of each item's benchmark in ``benchmarks/results/`` (or the
files named on the command line, which replace the latest of their suite) and prints one markdown
table: item, metric, ours (Cython, and the pure twin where the suite ran it), go (rust, js where
run), ours ÷ each of them, the issue's target, met / missed, the 1-minute load average before → after
that run, its date and its JSON file. It writes one PNG chart: ours ÷ go per metric, with the
target drawn per metric (an absolute target is drawn as target ÷ go's figure in the same run).

    .venv/bin/python benchmarks/round2_summary.py                       # latest of each suite
    .venv/bin/python benchmarks/round2_summary.py results/latency-X.json # this file for latency
    .venv/bin/python benchmarks/round2_summary.py --results-dir DIR --chart out.png

Every figure comes from the JSON; the only numbers here are the issue's targets (``TARGETS``). A
suite with no usable JSON is listed as missing, never as a number. Suites and their files:
item 1 ``conn_memory-*-<listener>.json`` (``benchmarks/conn_memory.py --save``), item 2
``many_conns-*``, item 3 ``latency-*``, item 4 and 8 ``handshakes-*``, item 5 ``streams-*``, item 6
``startup-*`` and ``fresh_conn-*``, item 7 ``kad-sim-*`` (10 000 nodes, not a ``--profile`` run).
Files with a suffix after the time stamp (``-main``: a baseline tree's run) are not picked.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import statistics
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
OTHERS = ("go", "rust", "js")


@dataclass(frozen=True)
class Target:
    """A goal of issue #16 (a benchmark goal, not a pass/fail test)."""

    kind: str  # "ratio_max": ours ÷ go ≤ value; "max": ours ≤ value; "min": ours ≥ value
    value: float
    text: str

    def met(self, ours: float | None, go: float | None) -> bool | None:
        if ours is None:
            return None
        if self.kind == "ratio_max":
            return None if not go else ours / go <= self.value
        if self.kind == "max":
            return ours <= self.value
        if self.kind == "min":
            return ours >= self.value
        raise ValueError(self.kind)

    def as_ratio(self, go: float | None) -> float | None:
        """The target expressed as ours ÷ go (for the chart)."""
        if self.kind == "ratio_max":
            return self.value
        return self.value / go if go else None


# The targets, by name (items 1, 3, 4, 6).
TARGETS = {
    "conn_kib": Target("max", 32.0, "≤ 32 KiB"),
    "stream_kib": Target("max", 4.0, "≤ 4 KiB"),
    "latency": Target("ratio_max", 1.5, "≤ 1.5× go"),
    "handshakes": Target("min", 2000.0, "≥ 2000/s"),
    "version_ms": Target("max", 120.0, "≤ 120 ms"),
    "fresh_conn": Target("ratio_max", 1.2, "≤ 1.2× go"),
}


def _number(v: object) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@dataclass
class Row:
    item: int
    metric: str
    ours: float | None = None
    pure: float | None = None
    others: dict[str, float | None] = field(default_factory=dict)
    lower_is_better: bool = True
    target: Target | None = None
    load: str = ""
    date: str = ""
    source: str = ""
    note: str = ""
    missing: str | None = None

    def __post_init__(self) -> None:
        # a field a suite renamed or filled with something else reads as absent, never as a number
        self.ours, self.pure = _number(self.ours), _number(self.pure)
        self.others = {k: _number(v) for k, v in self.others.items()}

    @property
    def go(self) -> float | None:
        return self.others.get("go")

    def ratio(self, other: str) -> float | None:
        theirs = self.others.get(other)
        if self.ours is None or not theirs:
            return None
        return self.ours / theirs

    def status(self) -> str:
        if self.missing is not None:
            return "missing"
        if self.target is None:
            return "no target"
        met = self.target.met(self.ours, self.go)
        return "n/a" if met is None else ("met" if met else "**missed**")


# ---------------------------------------------------------------- reading the results directory

STAMP = re.compile(
    r"^(?P<suite>[a-z_-]+?)-(?P<date>\d{8})[-T](?P<time>\d{6})Z?(?P<suffix>-[A-Za-z0-9_-]+)?\.json$")
SUITES = ("conn_memory", "many_conns", "latency", "handshakes", "streams", "startup", "fresh_conn", "kad-sim")


def _stamp(path: Path) -> tuple[str, str, str] | None:
    """(suite, sortable time stamp, suffix) of a results file name, or None."""
    m = STAMP.match(path.name)
    if m is None or m["suite"] not in SUITES:
        return None
    return m["suite"], m["date"] + m["time"], (m["suffix"] or "").lstrip("-")


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _smoke(data: dict[str, Any]) -> bool:
    return bool((data.get("settings") or {}).get("smoke") or (data.get("config") or {}).get("smoke"))


def _kad_usable(data: dict[str, Any]) -> bool:
    runs = data.get("runs") or []
    return bool(runs) and all(
        r.get("nodes", 0) >= 10_000
        and not any("top_costs" in (r.get(net) or {}) for net in ("cores", "hosts"))
        for r in runs)


USABLE: dict[str, Callable[[dict[str, Any]], bool]] = {"kad-sim": _kad_usable}


@dataclass
class Source:
    path: Path
    data: dict[str, Any]


# the key under which ``pick`` files the handshakes run item 8 reads
WORKERS = "handshakes --workers N"


def _has_workers_run(src: Source) -> bool:
    return any(isinstance(r, dict) and "workers)" in str(r.get("listener"))
               for r in src.data.get("results", []))


def pick(results_dir: Path, given: Iterable[Path] = ()) -> dict[str, list[Source]]:
    """The files to read, by suite: the latest usable one (conn_memory: the latest per listener and
    twin); a file given explicitly replaces the latest of its suite."""
    found: dict[str, list[tuple[str, Source]]] = {}
    for path in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        st = _stamp(path)
        if st is None:
            continue
        suite, when, suffix = st
        if suffix and suite != "conn_memory":
            continue  # a baseline tree's run ("-main") or a variant
        data = _load(path)
        usable = USABLE.get(suite)
        if data is None or _smoke(data) or (usable is not None and not usable(data)):
            continue
        found.setdefault(suite, []).append((when, Source(path, data)))
    chosen: dict[str, list[Source]] = {}
    for suite, items in found.items():
        items.sort(key=lambda x: x[0])
        if suite == "conn_memory":
            latest: dict[str, Source] = {}
            for _, src in items:
                latest[_conn_memory_label(src.data)] = src
            chosen[suite] = list(latest.values())
        else:
            chosen[suite] = [items[-1][1]]
        if suite == "handshakes":
            # item 8 reads the latest run that has a `--workers N` listener (not every run has one)
            multi = [src for _, src in items if _has_workers_run(src)]
            if multi:
                chosen[WORKERS] = [multi[-1]]
    explicit: dict[str, list[Source]] = {}
    for path in given:
        st = _stamp(path)
        data = _load(path)
        if st is None or data is None:
            raise SystemExit(f"{path}: not a results JSON of {', '.join(SUITES)}")
        explicit.setdefault(st[0], []).append(Source(path, data))
        if st[0] == "handshakes" and _has_workers_run(explicit["handshakes"][-1]):
            explicit.setdefault(WORKERS, []).append(explicit["handshakes"][-1])
    chosen.update(explicit)
    return chosen


# ---------------------------------------------------------------- per-suite rows

def _load_text(data: dict[str, Any]) -> str:
    before, after = data.get("load_before"), data.get("load_after")
    if before and after:
        return f"{before[0]:.2f} → {after[0]:.2f}"
    machine_load = (data.get("machine") or {}).get("load")
    if machine_load:
        return f"{machine_load[0]:.2f} (at end)"
    if data.get("load_1m") is not None:
        return f"{data['load_1m']:.2f}"
    return "not recorded"


def _date_text(src: Source) -> str:
    d = src.data
    for key in ("started_utc", "date"):
        if isinstance(d.get(key), str):
            return str(d[key])[:16].replace("T", " ")
    st = _stamp(src.path)
    if st is not None:
        s = st[1]
        return f"{s[0:4]}-{s[4:6]}-{s[6:8]} {s[8:10]}:{s[10:12]}"
    return "?"


def _stamped(rows: list[Row], src: Source, load: str | None = None) -> list[Row]:
    for r in rows:
        r.load = load if load is not None else _load_text(src.data)
        r.date = _date_text(src)
        r.source = src.path.name
    return rows


def _missing(item: int, what: str, why: str) -> Row:
    return Row(item, what, missing=why)


def _conn_memory_label(data: dict[str, Any]) -> str:
    listener = str(data.get("listener", "?"))
    return listener + ("-pure" if data.get("implementation_env") == "python" else "")


def rows_conn_memory(sources: list[Source]) -> list[Row]:
    by = {_conn_memory_label(s.data): s for s in sources}
    ours, pure, go = by.get("ours"), by.get("ours-pure"), by.get("go")
    if ours is None:
        return [_missing(1, "KiB per idle connection / stream", "no conn_memory JSON of our listener")]

    def fig(src: Source | None, key: str) -> float | None:
        v = src.data.get(key) if src else None
        return float(v) if isinstance(v, (int, float)) else None

    used = [s for s in (ours, pure, go) if s is not None]
    rows = [
        Row(1, "KiB per idle connection (listener RSS)", fig(ours, "kib_per_idle_conn_first_cycle"),
            fig(pure, "kib_per_idle_conn_first_cycle"), {"go": fig(go, "kib_per_idle_conn_first_cycle")},
            target=TARGETS["conn_kib"]),
        Row(1, "KiB per idle stream (listener RSS)", fig(ours, "kib_per_idle_stream_first_cycle"),
            fig(pure, "kib_per_idle_stream_first_cycle"), {"go": fig(go, "kib_per_idle_stream_first_cycle")},
            target=TARGETS["stream_kib"]),
    ]
    conns = ours.data.get("conns")
    for r in rows:
        r.note = f"{conns} conns × {ours.data.get('streams_per_conn')} streams"
    loads = "; ".join(f"{_conn_memory_label(s.data)} {_load_text(s.data)}" for s in used)
    _stamped(rows, ours, load=loads)
    if len(used) > 1:
        for r in rows:
            r.source = ", ".join(s.path.name for s in used)
    return rows


def rows_many_conns(sources: list[Source]) -> list[Row]:
    src = sources[0]
    runs = {r.get("listener"): r for r in src.data.get("runs", []) if isinstance(r, dict)}
    ours, go = runs.get("ours"), runs.get("go")
    if ours is None:
        return [_missing(2, "10 000 connections", f"{src.path.name} has no run of ours")]

    def get(run: dict[str, Any] | None, *path: str) -> float | None:
        v: Any = run
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        return float(v) if isinstance(v, (int, float)) else None

    n = src.data.get("settings", {}).get("conns")
    metrics = [
        ("time to establish, s", ("establish", "seconds"), True),
        ("listener CPU ms per new connection", ("establish", "server_cpu_ms_per_conn"), True),
        ("KiB per connection held idle", ("idle", "kib_per_conn"), True),
        ("probe ping p50 ms, held idle", ("idle", "probe", "p50_ms"), True),
        ("probe ping p99 ms, held idle", ("idle", "probe", "p99_ms"), True),
        ("probe ping p50 ms, 10 % active", ("active", "probe", "p50_ms"), True),
        ("probe ping p99 ms, 10 % active", ("active", "probe", "p99_ms"), True),
    ]
    rows = [Row(2, f"{n} conns: {name}", get(ours, *path), None, {"go": get(go, *path)}, lower_is_better=low)
            for name, path, low in metrics]
    rows[0].note = f"up: ours {get(ours, 'establish', 'ok'):.0f}" + (
        f", go {get(go, 'establish', 'ok'):.0f}" if go else "")
    return _stamped(rows, src)


def rows_latency(sources: list[Source]) -> list[Row]:
    src = sources[0]
    by = {r.get("name"): r for r in src.data.get("rows", []) if isinstance(r, dict)}

    def med(name: str, what: str) -> float | None:
        v = (by.get(name) or {}).get(what)
        m = v.get("median") if isinstance(v, dict) else None
        return float(m) if isinstance(m, (int, float)) else None

    rows = []
    for loop in ("uvloop", "asyncio"):
        for what, label in (("ping", "ping RTT ms"), ("echo", "1-byte echo RTT ms")):
            ours = med(f"ours-cython/{loop}", what)
            if ours is None and med(f"ours-pure/{loop}", what) is None:
                continue
            row = Row(3, f"{label}, {loop}", ours, med(f"ours-pure/{loop}", what), {"go": med("go", what)},
                      target=TARGETS["latency"])
            floor = med(f"raw TCP echo/{loop}", "echo")
            if what == "echo" and floor is not None:
                row.note = f"raw TCP echo floor {floor:.3f} ms"
            rows.append(row)
    if not rows:
        return [_missing(3, "ping / echo RTT", f"{src.path.name} has no row of ours")]
    return _stamped(rows, src)


def _handshake_results(src: Source) -> dict[str, dict[str, Any]]:
    return {str(r.get("listener")): r for r in src.data.get("results", []) if isinstance(r, dict)}


def rows_handshakes(sources: list[Source]) -> list[Row]:
    src = sources[0]
    res = _handshake_results(src)
    one, go = res.get("ours (1 worker)") or res.get("ours"), res.get("go")
    if one is None:
        why = f"{src.path.name} has no single-process run of ours"
        return [_missing(4, "handshakes per listener CPU-s", why)]
    floor = (src.data.get("crypto_floor") or {}).get("max_handshakes_per_s_reused_static")
    rows = [
        Row(4, "handshakes per listener CPU-second", one.get("per_listener_cpu_s"), None,
            {"go": (go or {}).get("per_listener_cpu_s")}, lower_is_better=False, target=TARGETS["handshakes"],
            note=f"crypto floor {floor}/s on one core" if floor else ""),
        Row(4, "handshakes/s (wall), 1 process", one.get("per_s"), None, {"go": (go or {}).get("per_s")},
            lower_is_better=False),
    ]
    return _stamped(rows, src)


def rows_every_core(sources: list[Source]) -> list[Row]:
    src = sources[0]
    res = _handshake_results(src)
    multi = next((r for name, r in res.items() if isinstance(name, str) and "workers)" in name), None)
    if multi is None:
        return [_missing(8, "serve --workers N", f"{src.path.name} has no `--workers N` run")]
    go = res.get("go") or {}
    one = res.get("ours (1 worker)") or {}
    label = str(multi["listener"]).removeprefix("ours ").strip("()")
    tp = multi.get("throughput") or {}
    rows = [
        Row(8, f"handshakes/s (wall), {label}", multi.get("per_s"), None, {"go": go.get("per_s")},
            lower_is_better=False, note=f"1 process: {one.get('per_s')}/s" if one else ""),
        Row(8, f"aggregate MB/s, 8 clients × 64 MiB, {label}", tp.get("aggregate_MBps"), None,
            {"go": (go.get("throughput") or {}).get("aggregate_MBps")}, lower_is_better=False,
            note=f"1 process: {(one.get('throughput') or {}).get('aggregate_MBps')} MB/s" if one else ""),
    ]
    return _stamped(rows, src)


STREAM_METRICS = (
    ("mb_s:1 stream", "MB/s, 1 stream", False),
    ("mb_s:16 streams", "MB/s, 16 streams", False),
    ("mb_s:256 streams", "MB/s, 256 streams", False),
    ("mb_s:100 conns × 4 streams", "MB/s, 100 conns × 4 streams", False),
    ("opens_s:1", "open + 1 B + close /s, 1 at a time", False),
    ("opens_s:16", "open + 1 B + close /s, 16 at a time", False),
)


def rows_streams(sources: list[Source]) -> list[Row]:
    src = sources[0]
    by = {r.get("name"): r for r in src.data.get("rows", []) if isinstance(r, dict)}
    # go's and rust's peers run without a resource manager: ours unlimited is the like-for-like row
    unlimited = "ours-cython/asyncio/unlimited"
    ours_name = unlimited if unlimited in by else "ours-cython/asyncio"
    pure_name = "ours-pure/asyncio/unlimited" if "ours-pure/asyncio/unlimited" in by else "ours-pure/asyncio"
    if ours_name not in by and pure_name not in by:
        return [_missing(5, "many streams", f"{src.path.name} has no row of ours")]

    def val(name: str, key: str) -> float | None:
        v = (by.get(name) or {}).get(key)
        return float(v) if isinstance(v, (int, float)) else None

    rows = []
    for key, label, low in STREAM_METRICS:
        row = Row(5, label, val(ours_name, key), val(pure_name, key),
                  {o: val(o, key) for o in OTHERS if o in by}, lower_is_better=low)
        if ours_name.endswith("unlimited") and "ours-cython/asyncio" in by:
            default = val("ours-cython/asyncio", key)
            row.note = "default limits: " + (f"{default:,.0f}" if default is not None else "failed")
        rows.append(row)
    return _stamped(rows, src)


def rows_startup(sources: list[Source]) -> list[Row]:
    src = sources[0]
    samples = src.data.get("samples_ms") or {}

    def med(name: str) -> float | None:
        xs = [x for x in samples.get(name) or [] if isinstance(x, (int, float))]
        return statistics.median(xs) if xs else None

    version = med("ours: libp2p --version")
    if version is None:
        return [_missing(6, "`libp2p --version` ms", f"{src.path.name} has no `--version` samples")]
    go_ping = next((k for k in samples if k.startswith("go:")), None)
    rows = [
        Row(6, "`libp2p --version`, whole process, median ms", version, None, {},
            target=TARGETS["version_ms"],
            note=f"interpreter alone {med('python -c pass'):.0f} ms" if med("python -c pass") else ""),
        Row(6, "`libp2p ping -c 1`, whole process, median ms", med("ours: libp2p ping -c 1"), None,
            {"go": med(go_ping) if go_ping else None}),
    ]
    return _stamped(rows, src)


def rows_fresh_conn(sources: list[Source]) -> list[Row]:
    src = sources[0]
    res = src.data.get("results") or {}

    def med(name: str) -> float | None:
        v = ((res.get(name) or {}).get("conn_rtt_ms") or {}).get("median")
        return float(v) if isinstance(v, (int, float)) else None

    ours = med("ours-cython")
    if ours is None:
        return [_missing(6, "new-process conn + 1 B RTT", f"{src.path.name} has no ours-cython result")]
    before = med("ours before (baseline)")
    row = Row(6, "new-process connection + 1-byte round trip, median ms", ours, med("ours-pure"),
              {"go": med("go")},
              target=TARGETS["fresh_conn"], note=f"before: {before:.2f} ms" if before else "")
    return _stamped([row], src)


def rows_kad(sources: list[Source]) -> list[Row]:
    src = sources[0]
    runs = {r.get("implementation"): r for r in src.data.get("runs", []) if isinstance(r, dict)}
    cy, py = runs.get("cython") or runs.get("default"), runs.get("python")
    if cy is None and py is None:
        return [_missing(7, "DHT at 10 000 nodes", f"{src.path.name} has no run")]
    nodes = (cy or py or {}).get("nodes")
    rows = []
    for net in ("cores", "hosts"):
        for key, label in (("cpu_ms_per_lookup", "CPU ms per lookup"), ("median_hops", "median hops"),
                           ("median_messages", "median messages per lookup"),
                           ("rss_kib_per_node", "KiB per node")):
            c = ((cy or {}).get(net) or {}).get(key)
            p = ((py or {}).get(net) or {}).get(key)
            if c is None and p is None:
                continue
            rows.append(Row(7, f"{nodes} nodes, {net}: {label}", c, p, {}))
    return _stamped(rows, src)


ITEMS: list[tuple[int, str, str, Callable[[list[Source]], list[Row]]]] = [
    (1, "conn_memory", "memory per idle connection and stream", rows_conn_memory),
    (2, "many_conns", "10 000 concurrent connections", rows_many_conns),
    (3, "latency", "small-message latency", rows_latency),
    (4, "handshakes", "handshake rate", rows_handshakes),
    (5, "streams", "many streams", rows_streams),
    (6, "startup", "start-up: `--version`", rows_startup),
    (6, "fresh_conn", "start-up: new-process connection + 1 B", rows_fresh_conn),
    (7, "kad-sim", "DHT at 10 000 nodes", rows_kad),
    (8, WORKERS, "every core", rows_every_core),
]


def collect(chosen: dict[str, list[Source]]) -> list[Row]:
    rows: list[Row] = []
    for item, suite, what, make in ITEMS:
        sources = chosen.get(suite)
        if not sources:
            rows.append(_missing(item, what, f"no usable {suite} JSON"))
            continue
        try:
            rows.extend(make(sources))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:  # a suite's format moved
            names = ", ".join(s.path.name for s in sources)
            rows.append(_missing(item, what, f"could not read {names}: {type(exc).__name__}: {exc}"))
    return rows


# ---------------------------------------------------------------- output

def _num(v: float | None) -> str:
    if v is None:
        return "–"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _ratio(v: float | None) -> str:
    return "–" if v is None else f"{v:.2f}×"


def markdown(rows: list[Row]) -> str:
    others = [o for o in OTHERS if any(r.others.get(o) is not None for r in rows)] or ["go"]
    head = ["item", "metric", "ours (cython)", "ours (pure)", *others, *[f"ours ÷ {o}" for o in others],
            "target", "met?", "load 1 min before → after", "date (UTC)", "JSON", "note"]
    align = ["---:" if h.startswith(("ours", *others)) else "---" for h in head]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for r in rows:
        if r.missing is not None:
            blank = [""] * (2 * len(others))
            cells = [str(r.item), r.metric, "missing", "", *blank, "", "missing", "", "", "", r.missing]
        else:
            arrow = "↓" if r.lower_is_better else "↑"
            cells = [str(r.item), f"{r.metric} {arrow}", _num(r.ours), _num(r.pure),
                     *[_num(r.others.get(o)) for o in others], *[_ratio(r.ratio(o)) for o in others],
                     r.target.text if r.target else "–", r.status(), r.load, r.date, f"`{r.source}`", r.note]
        lines.append("| " + " | ".join(cells) + " |")
    missed = [r for r in rows if r.status() == "**missed**"]
    lines.append("")
    lines.append("↓ lower is better, ↑ higher is better; ours ÷ go is the figures' ratio (for ↑ metrics"
                 " above 1× is ahead of go). Targets are the issue's benchmark goals.")
    if missed:
        lines.append("Missed: " + "; ".join(f"item {r.item} {r.metric} ({r.target.text if r.target else ''})"
                                           for r in missed) + ".")
    gone = [r for r in rows if r.missing is not None]
    if gone:
        lines.append("Missing: " + "; ".join(f"item {r.item} {r.metric} ({r.missing})" for r in gone) + ".")
    return "\n".join(lines)


def chart(rows: list[Row], path: Path) -> bool:
    """ours ÷ go per metric (log scale), the target as a mark; False when matplotlib is absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    plotted = [r for r in rows if r.ratio("go") is not None]
    if not plotted:
        return False
    fig, ax = plt.subplots(figsize=(12, 0.34 * len(plotted) + 1.6))
    ys = list(range(len(plotted)))[::-1]
    colours = {"met": "tab:green", "**missed**": "tab:red"}
    for y, r in zip(ys, plotted):
        ratio = r.ratio("go")
        assert ratio is not None
        ax.barh(y, ratio - 1.0, left=1.0, color=colours.get(r.status(), "tab:blue"), alpha=0.8)
        if r.target is not None:
            t = r.target.as_ratio(r.go)
            if t is not None:
                ax.plot([t, t], [y - 0.42, y + 0.42], color="black", linewidth=2)
        ax.text(ratio, y, f" {ratio:.2f}×", va="center", fontsize=7)
    ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yticks(ys)
    labels = [f"{r.item}: {r.metric} {'↓' if r.lower_is_better else '↑'}" for r in plotted]
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel("ours (cython) ÷ go in the same run (log scale); ↓ lower is better, ↑ higher is better\n"
                  "black mark: the issue's target; green met, red missed, blue no target")
    ax.set_title("Performance round 2 (issue #16): ours ÷ go per metric", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")  # long metric names: keep them inside the image
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("json", nargs="*", type=Path, help="results files that replace the latest of their suite")
    p.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    p.add_argument("--chart", type=Path, default=None,
                   help="PNG path (default: <results-dir>/round2-summary-<UTC>.png)")
    p.add_argument("--no-chart", action="store_true")
    args = p.parse_args(argv)
    rows = collect(pick(args.results_dir, args.json))
    print(markdown(rows))
    if not args.no_chart:
        stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        path = args.chart or args.results_dir / f"round2-summary-{stamp}.png"
        written = chart(rows, path)
        print(f"\nchart: {path}" if written else "\nchart: not written (no matplotlib, or no ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
