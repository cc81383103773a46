"""PeerId text forms (base58btc and CIDv1), on each twin; the base58btc twin itself."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from libp2p.identity.peer_id import PeerId

ED25519_TEXT = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
RSA_TEXT = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
ED25519_BYTES = bytes(PeerId.from_string(ED25519_TEXT))
CID_TEXT = PeerId.from_string(ED25519_TEXT).to_cid_string()


@pytest.mark.benchmark(group="base58btc_encode")
def test_base58btc_encode_38_bytes(benchmark: Any, accel: ModuleType) -> None:
    assert benchmark(accel.base58btc_encode, ED25519_BYTES) == ED25519_TEXT


@pytest.mark.benchmark(group="base58btc_decode")
def test_base58btc_decode_52_chars(benchmark: Any, accel: ModuleType) -> None:
    assert benchmark(accel.base58btc_decode, ED25519_TEXT) == ED25519_BYTES


@pytest.mark.benchmark(group="peer_id_from_string")
@pytest.mark.parametrize("text", [ED25519_TEXT, RSA_TEXT, CID_TEXT], ids=["ed25519", "rsa", "cid"])
def test_peer_id_from_string(benchmark: Any, twin: ModuleType, text: str) -> None:
    benchmark(PeerId.from_string, text)


@pytest.mark.benchmark(group="peer_id_to_string")
def test_peer_id_to_string(benchmark: Any, twin: ModuleType) -> None:
    """Uncached: a fresh PeerId from bytes each time, then its base58btc text."""
    assert benchmark(lambda: str(PeerId.from_bytes(ED25519_BYTES))) == ED25519_TEXT


@pytest.mark.benchmark(group="peer_id_to_cid_string")
def test_peer_id_to_cid_string(benchmark: Any, twin: ModuleType) -> None:
    pid = PeerId.from_bytes(ED25519_BYTES)
    assert benchmark(pid.to_cid_string) == CID_TEXT
