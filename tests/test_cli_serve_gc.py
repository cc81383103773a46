"""``serve --gc-growth RATIO`` runs with ``FreezingCollector`` installed and removes it when it
stops; by default (``--gc-growth 0``) CPython's collector is left alone. In-process, with a stop event
that records what ``gc.callbacks`` held while serving."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest

from libp2p.cli import _common, build_parser
from libp2p.cli import serve as serve_cli
from libp2p.long_lived_gc import FreezingCollector


def _installed() -> list[FreezingCollector]:
    owners = [getattr(cb, "__self__", None) for cb in gc.callbacks]
    return [o for o in owners if isinstance(o, FreezingCollector)]


class _RecordingStop(asyncio.Event):
    """Set from the start: ``serve`` stops at once, after noting the collector's state."""

    def __init__(self, seen: list[FreezingCollector]) -> None:
        super().__init__()
        self._seen = seen
        self.set()

    async def wait(self) -> bool:  # type: ignore[override]
        self._seen.extend(_installed())
        return await super().wait()


async def _serve(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *extra: str) -> list[FreezingCollector]:
    seen: list[FreezingCollector] = []
    monkeypatch.setattr(_common, "stop_event", lambda: _RecordingStop(seen))
    args = build_parser("serve").parse_args(["serve", *extra])
    assert await serve_cli.serve_main(args) == 0
    assert '"multiaddrs"' in capsys.readouterr().out
    return seen


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="3.14's incremental collector: nothing is installed")
async def test_serve_installs_the_freezing_collector_and_removes_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    [collector] = await _serve(monkeypatch, capsys, "--gc-growth", "1")
    assert collector.growth == 1.0
    assert not collector.active
    assert _installed() == []


async def test_serve_keeps_cpythons_collector_by_default_and_with_gc_growth_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _serve(monkeypatch, capsys) == []
    assert await _serve(monkeypatch, capsys, "--gc-growth", "0") == []


async def test_serve_gc_growth_is_passed_on(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen = await _serve(monkeypatch, capsys, "--gc-growth", "0.5")
    assert [c.growth for c in seen] == ([] if sys.version_info >= (3, 14) else [0.5])
