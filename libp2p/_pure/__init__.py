"""Pure-Python twins of the Cython hot paths in ``_native/``.

``__all__`` is the contract: ``libp2p._native`` exports exactly these names. Each twin module
loads on first use of one of its names, so a process running the Cython twins (or only
reading this contract) does not import the pure ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from libp2p._pure.base58 import base58btc_decode, base58btc_encode
    from libp2p._pure.kademlia import common_prefix_length, sort_by_distance, xor_distance
    from libp2p._pure.mplex import MPLEX_MAX_STREAM_ID, MplexFrameDecoder, mplex_pack_frame, mplex_pack_header
    from libp2p._pure.multiaddr import MAX_MULTIADDR_LEN, multiaddr_scan
    from libp2p._pure.noise import (
        NOISE_MAX_MESSAGE_LEN,
        NOISE_MAX_PLAINTEXT_LEN,
        NOISE_TAG_LEN,
        NoiseDecryptor,
        NoiseEncryptor,
    )
    from libp2p._pure.noise_inbound import NOISE_PROTOCOL_ID, InboundHandshake
    from libp2p._pure.noise_payload import ED25519_PUBLIC_KEY_PREFIX, ed25519_verify, noise_verify_payload
    from libp2p._pure.noise_xx import NoiseXX
    from libp2p._pure.peer_id import PeerIdCore
    from libp2p._pure.varint import (
        MAX_VARINT_LEN,
        MAX_VARINT_VALUE,
        FrameReader,
        varint_decode,
        varint_encode,
        varint_size,
    )
    from libp2p._pure.yamux import YamuxFrameDecoder, yamux_pack_header, yamux_unpack_header

# The contract (a literal list, so type checkers see the names).
__all__ = [
    "MAX_VARINT_LEN",
    "MAX_VARINT_VALUE",
    "FrameReader",
    "varint_decode",
    "varint_encode",
    "varint_size",
    "common_prefix_length",
    "sort_by_distance",
    "xor_distance",
    "MAX_MULTIADDR_LEN",
    "multiaddr_scan",
    "base58btc_encode",
    "base58btc_decode",
    "NOISE_MAX_MESSAGE_LEN",
    "NOISE_MAX_PLAINTEXT_LEN",
    "NOISE_TAG_LEN",
    "NoiseEncryptor",
    "NoiseDecryptor",
    "NoiseXX",
    "ED25519_PUBLIC_KEY_PREFIX",
    "ed25519_verify",
    "noise_verify_payload",
    "NOISE_PROTOCOL_ID",
    "InboundHandshake",
    "MPLEX_MAX_STREAM_ID",
    "mplex_pack_header",
    "mplex_pack_frame",
    "MplexFrameDecoder",
    "yamux_pack_header",
    "yamux_unpack_header",
    "YamuxFrameDecoder",
    "PeerIdCore",
]

# where each name is defined (a module under libp2p._pure)
_MODULE_OF = {
    **dict.fromkeys(
        ("MAX_VARINT_LEN", "MAX_VARINT_VALUE", "FrameReader", "varint_decode", "varint_encode", "varint_size"),
        "varint",
    ),
    **dict.fromkeys(("common_prefix_length", "sort_by_distance", "xor_distance"), "kademlia"),
    **dict.fromkeys(("MAX_MULTIADDR_LEN", "multiaddr_scan"), "multiaddr"),
    **dict.fromkeys(("base58btc_encode", "base58btc_decode"), "base58"),
    **dict.fromkeys(
        ("NOISE_MAX_MESSAGE_LEN", "NOISE_MAX_PLAINTEXT_LEN", "NOISE_TAG_LEN", "NoiseEncryptor", "NoiseDecryptor"),
        "noise",
    ),
    "NoiseXX": "noise_xx",
    **dict.fromkeys(("ED25519_PUBLIC_KEY_PREFIX", "ed25519_verify", "noise_verify_payload"), "noise_payload"),
    **dict.fromkeys(("NOISE_PROTOCOL_ID", "InboundHandshake"), "noise_inbound"),
    **dict.fromkeys(("MPLEX_MAX_STREAM_ID", "mplex_pack_header", "mplex_pack_frame", "MplexFrameDecoder"), "mplex"),
    **dict.fromkeys(("yamux_pack_header", "yamux_unpack_header", "YamuxFrameDecoder"), "yamux"),
    "PeerIdCore": "peer_id",
}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"libp2p._pure.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_MODULE_OF))
