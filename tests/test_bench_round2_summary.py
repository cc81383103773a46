"""benchmarks/round2_summary.py (issue #16, item 9) on small fixture JSONs: the ratios to go, the
met / missed column against the issue's targets, the latest file of a suite chosen (not a baseline
tree's ``-main`` run, not a smoke run), and a suite without JSON reported as missing, not as a number."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent


def _summary() -> ModuleType:
    spec = importlib.util.spec_from_file_location("round2_summary", REPO / "benchmarks" / "round2_summary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["round2_summary"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _stats(median: float) -> dict[str, float]:
    return {"median": median, "p10": median, "p90": median, "n": 10}


def _latency(ours_ping: float, go_ping: float, smoke: bool = False) -> dict[str, Any]:
    return {
        "started_utc": "2026-12-06T13:51:32+00:00", "settings": {"smoke": smoke},
        "load_before": [1.5, 1.0, 1.0], "load_after": [0.5, 1.0, 1.0],
        "rows": [
            {"name": "ours-cython/uvloop", "ping": _stats(ours_ping), "echo": _stats(0.07)},
            {"name": "ours-pure/uvloop", "ping": _stats(0.2), "echo": _stats(0.2)},
            {"name": "go", "ping": _stats(go_ping), "echo": _stats(0.05)},
            {"name": "raw TCP echo/uvloop", "echo": _stats(0.04)},
        ],
    }


def _handshakes() -> dict[str, Any]:
    return {
        "date": "2026-12-06T13:52:09+00:00", "config": {"smoke": False},
        "load_before": [2.0, 1, 1], "load_after": [3.0, 1, 1],
        "crypto_floor": {"max_handshakes_per_s_reused_static": 3000},
        "results": [
            {"listener": "ours (1 worker)", "per_s": 900.0, "per_listener_cpu_s": 2100.0,
             "throughput": {"aggregate_MBps": 400.0}},
            {"listener": "ours (2 workers)", "per_s": 1500.0, "per_listener_cpu_s": 2000.0,
             "throughput": {"aggregate_MBps": 600.0}},
            {"listener": "go", "per_s": 1000.0, "per_listener_cpu_s": 1050.0,
             "throughput": {"aggregate_MBps": 500.0}},
        ],
    }


def _write(directory: Path, name: str, data: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(json.dumps(data))
    return path


def _table(text: str) -> dict[str, list[str]]:
    """Rows of the markdown table by their metric cell (without the ↓/↑ mark)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| item "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[1].rstrip(" ↓↑")] = cells
    return rows


def _run(summary: ModuleType, argv: list[str],
         capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, list[str]], str]:
    assert summary.main(argv) == 0
    out = capsys.readouterr().out
    return _table(out), out


def test_ratios_targets_and_missing_suites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    summary = _summary()
    _write(tmp_path, "latency-20261206-100000.json", _latency(0.30, 0.10))  # older: not read
    _write(tmp_path, "latency-20261206-135132.json", _latency(0.12, 0.10))
    _write(tmp_path, "latency-20261206-140000-main.json", _latency(0.90, 0.10))  # a baseline tree's run
    _write(tmp_path, "latency-20261206-150000.json", _latency(0.90, 0.10, smoke=True))
    _write(tmp_path, "handshakes-20261206T135529Z.json", _handshakes())
    _write(tmp_path, "startup-20261206T082322Z.json", {"samples_ms": "not a dict"})  # a format that moved
    rows, out = _run(summary, ["--results-dir", str(tmp_path), "--no-chart"], capsys)
    head = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    col = {name: i for i, name in enumerate(head)}

    ping = rows["ping RTT ms, uvloop"]
    assert ping[col["ours (cython)"]] == "0.120" and ping[col["go"]] == "0.100"
    assert ping[col["ours ÷ go"]] == "1.20×"
    assert ping[col["target"]] == "≤ 1.5× go" and ping[col["met?"]] == "met"
    assert ping[col["ours (pure)"]] == "0.200"
    assert ping[col["load 1 min before → after"]] == "1.50 → 0.50"
    assert ping[col["JSON"]] == "`latency-20261206-135132.json`"
    echo = rows["1-byte echo RTT ms, uvloop"]
    assert echo[col["ours ÷ go"]] == "1.40×" and echo[col["met?"]] == "met"
    assert "0.040" in echo[col["note"]]  # the raw TCP floor

    hs = rows["handshakes per listener CPU-second"]
    assert hs[col["ours ÷ go"]] == "2.00×" and hs[col["met?"]] == "met"  # 2100 ≥ 2000
    wall = rows["handshakes/s (wall), 1 process"]
    assert wall[col["ours ÷ go"]] == "0.90×" and wall[col["met?"]] == "no target"
    every_core = rows["handshakes/s (wall), 2 workers"]
    assert every_core[0] == "8" and every_core[col["ours ÷ go"]] == "1.50×"
    assert rows["aggregate MB/s, 8 clients × 64 MiB, 2 workers"][col["ours ÷ go"]] == "1.20×"

    # suites without a JSON: one row each, marked missing, with no figure in it
    for item, metric in (("1", "memory per idle connection and stream"),
                         ("2", "10 000 concurrent connections"),
                         ("5", "many streams"), ("7", "DHT at 10 000 nodes")):
        row = rows[metric]
        assert row[0] == item and row[col["met?"]] == "missing" and row[col["ours (cython)"]] == "missing"
        assert not any(ch.isdigit() for cell in row[col["ours (pure)"]:col["met?"]] for ch in cell)
    startup = rows["start-up: `--version`"]
    assert startup[col["met?"]] == "missing" and "could not read startup-20261206T082322Z.json" in startup[-1]
    assert "Missing: item 1 " in out
    assert "Missed:" not in out


def test_missed_targets_and_a_file_given_on_the_command_line(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    summary = _summary()
    _write(tmp_path, "latency-20261206-135132.json", _latency(0.12, 0.10))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    given = _write(elsewhere, "latency-20261206-090000.json", _latency(0.25, 0.10))
    hs = _handshakes()
    hs["results"][0]["per_listener_cpu_s"] = 725.0
    _write(tmp_path, "handshakes-20261206T135529Z.json", hs)
    fresh = {"date": "2026-12-06T12:25:34+00:00", "load_before": [2.8, 1, 1], "load_after": [2.1, 1, 1],
             "results": {"ours-cython": {"conn_rtt_ms": _stats(7.5)}, "go": {"conn_rtt_ms": _stats(5.0)},
                         "ours before (baseline)": {"conn_rtt_ms": _stats(10.0)}}}
    _write(tmp_path, "fresh_conn-20261206T122612Z.json", fresh)
    rows, out = _run(summary, ["--results-dir", str(tmp_path), "--no-chart", str(given)], capsys)
    head = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    col = {name: i for i, name in enumerate(head)}

    ping = rows["ping RTT ms, uvloop"]  # from the given file, not the directory's latest
    assert ping[col["ours ÷ go"]] == "2.50×" and ping[col["met?"]] == "**missed**"
    assert ping[col["JSON"]] == "`latency-20261206-090000.json`"
    hs_row = rows["handshakes per listener CPU-second"]
    assert hs_row[col["ours ÷ go"]] == "0.69×" and hs_row[col["met?"]] == "**missed**"
    fresh_row = rows["new-process connection + 1-byte round trip, median ms"]
    assert fresh_row[col["ours ÷ go"]] == "1.50×" and fresh_row[col["met?"]] == "**missed**"
    assert fresh_row[col["load 1 min before → after"]] == "2.80 → 2.10"
    assert "before: 10.00 ms" in fresh_row[col["note"]]
    assert "Missed: item 3 ping RTT ms, uvloop (≤ 1.5× go)" in out
    assert "item 4 handshakes per listener CPU-second (≥ 2000/s)" in out


def test_conn_memory_latest_per_listener_and_the_chart(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    summary = _summary()

    def run(listener: str, env: str, conn: float, stream: float) -> dict[str, Any]:
        return {"listener": listener, "implementation_env": env, "conns": 150, "streams_per_conn": 8,
                "kib_per_idle_conn_first_cycle": conn, "kib_per_idle_stream_first_cycle": stream,
                "load_before": [1.0, 1, 1], "load_after": [1.0, 1, 1],
                "started_utc": "2026-12-06T15:40:00+00:00"}

    _write(tmp_path, "conn_memory-20261206T150000Z-ours.json", run("ours", "default", 99.0, 9.0))  # older
    _write(tmp_path, "conn_memory-20261206T154000Z-ours.json", run("ours", "default", 17.8, 2.96))
    _write(tmp_path, "conn_memory-20261206T154100Z-ours-pure.json", run("ours", "python", 17.5, 2.97))
    _write(tmp_path, "conn_memory-20261206T154200Z-go.json", run("go", "default", 66.4, 9.14))
    chart = tmp_path / "chart.png"
    rows, out = _run(summary, ["--results-dir", str(tmp_path), "--chart", str(chart)], capsys)
    head = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    col = {name: i for i, name in enumerate(head)}
    conn = rows["KiB per idle connection (listener RSS)"]
    assert conn[col["ours (cython)"]] == "17.8" and conn[col["ours (pure)"]] == "17.5"
    assert conn[col["go"]] == "66.4" and conn[col["ours ÷ go"]] == "0.27×"
    assert conn[col["target"]] == "≤ 32 KiB" and conn[col["met?"]] == "met"
    stream = rows["KiB per idle stream (listener RSS)"]
    assert stream[col["ours ÷ go"]] == "0.32×" and stream[col["met?"]] == "met"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_core_reads_the_latest_run_with_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A later one-worker run (a before/after A/B, say) gives item 4, not item 8: item 8 keeps the
    # latest run that has a `--workers N` listener.
    summary = _summary()
    _write(tmp_path, "handshakes-20261206T135529Z.json", _handshakes())
    later = _handshakes()
    later["results"] = [r for r in later["results"] if "workers)" not in r["listener"] or "1 worker" in r["listener"]]
    later["results"][0]["per_listener_cpu_s"] = 2500.0
    _write(tmp_path, "handshakes-20261206T150000Z.json", later)
    rows, out = _run(summary, ["--results-dir", str(tmp_path), "--no-chart"], capsys)
    head = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    col = {name: i for i, name in enumerate(head)}
    assert rows["handshakes per listener CPU-second"][col["ours (cython)"]] == "2,500"
    every_core = rows["handshakes/s (wall), 2 workers"]
    assert every_core[col["ours ÷ go"]] == "1.50×"
    assert every_core[col["JSON"]] == "`handshakes-20261206T135529Z.json`"
    # with no run that has one, item 8 is missing
    (tmp_path / "handshakes-20261206T135529Z.json").unlink()
    rows, out = _run(summary, ["--results-dir", str(tmp_path), "--no-chart"], capsys)
    assert rows["every core"][col["met?"]] == "missing"
