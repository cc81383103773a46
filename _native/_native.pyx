# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled twins. Only `include`s one .pxi per twin; libp2p/_pure/ holds their pure twins."""

# The contract: exactly libp2p._pure.__all__ (tests/accel/test_parity.py checks it).
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
]

include "_common.pxi"
include "varint.pxi"
include "kademlia.pxi"
include "multiaddr.pxi"
