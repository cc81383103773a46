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

include "_common.pxi"
include "varint.pxi"
include "base58.pxi"
include "kademlia.pxi"
include "multiaddr.pxi"
include "noise.pxi"
include "sha256.pxi"
include "noise_xx.pxi"
include "noise_payload.pxi"
include "noise_inbound.pxi"
include "mplex.pxi"
include "yamux.pxi"
include "peer_id.pxi"
