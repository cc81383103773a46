"""Kademlia key-space twins: XOR distance, common prefix length, sorting 1000 peers."""

from __future__ import annotations

import hashlib
from types import ModuleType
from typing import Any

import pytest

_A = hashlib.sha256(b"a").digest()
_B = hashlib.sha256(b"b").digest()
_KEYS = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1000)]


@pytest.mark.benchmark(group="xor_distance")
def test_xor_distance(benchmark: Any, accel: ModuleType) -> None:
    benchmark(accel.xor_distance, _A, _B)


@pytest.mark.benchmark(group="common_prefix_length")
def test_common_prefix_length(benchmark: Any, accel: ModuleType) -> None:
    benchmark(accel.common_prefix_length, _A, _B)


@pytest.mark.benchmark(group="sort_1000")
def test_sort_1000_peers(benchmark: Any, accel: ModuleType) -> None:
    order = benchmark(accel.sort_by_distance, _A, _KEYS)
    assert len(order) == 1000


@pytest.mark.benchmark(group="closest_20_of_1000")
def test_closest_20_of_1000(benchmark: Any, accel: ModuleType) -> None:
    assert len(benchmark(accel.sort_by_distance, _A, _KEYS, 20)) == 20
