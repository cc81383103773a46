"""Pure-Python twins of the Cython hot paths in ``_native/``.

``__all__`` is the contract: ``libp2p._native`` exports exactly these names.
"""

from libp2p._pure.base58 import base58btc_decode, base58btc_encode
from libp2p._pure.kademlia import common_prefix_length, sort_by_distance, xor_distance
from libp2p._pure.multiaddr import MAX_MULTIADDR_LEN, multiaddr_scan
from libp2p._pure.mplex import MPLEX_MAX_STREAM_ID, MplexFrameDecoder, mplex_pack_frame, mplex_pack_header
from libp2p._pure.noise import (
    NOISE_MAX_MESSAGE_LEN,
    NOISE_MAX_PLAINTEXT_LEN,
    NOISE_TAG_LEN,
    NoiseDecryptor,
    NoiseEncryptor,
)
from libp2p._pure.yamux import YamuxFrameDecoder, yamux_pack_header, yamux_unpack_header
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
    "base58btc_encode",
    "base58btc_decode",
    "NOISE_MAX_MESSAGE_LEN",
    "NOISE_MAX_PLAINTEXT_LEN",
    "NOISE_TAG_LEN",
    "NoiseEncryptor",
    "NoiseDecryptor",
    "MPLEX_MAX_STREAM_ID",
    "mplex_pack_header",
    "mplex_pack_frame",
    "MplexFrameDecoder",
    "yamux_pack_header",
    "yamux_unpack_header",
    "YamuxFrameDecoder",
]
