"""Pure-Python twins of the Cython hot paths in ``_native/``.

``__all__`` is the contract: ``libp2p._native`` exports exactly these names.
"""

from libp2p._pure.kademlia import common_prefix_length, sort_by_distance, xor_distance
from libp2p._pure.multiaddr import MAX_MULTIADDR_LEN, multiaddr_scan
from libp2p._pure.varint import (
    MAX_VARINT_LEN,
    MAX_VARINT_VALUE,
    FrameReader,
    varint_decode,
    varint_encode,
    varint_size,
)

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
