"""Seed inputs for the atheris targets: valid encodings, so mutation starts near real messages.

``run_all.py`` writes them into each target's working corpus before fuzzing. Each seed carries
the target's own leading control bytes (see each ``fuzz_<name>.py`` docstring).
"""

from __future__ import annotations

from collections.abc import Callable

from libp2p._pure import NoiseEncryptor, mplex_pack_frame, varint_encode, yamux_pack_header
from libp2p.identity.keys import Ed25519PrivateKey, KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.identity.peer_record import PeerRecord
from libp2p.multiaddr import Multiaddr
from libp2p.negotiate.core import encode_list_response, encode_message
from libp2p.protocols.identify.core import frame_identify
from libp2p.protocols.identify.wire import IdentifyInfo, encode_identify
from libp2p.protocols.kad.ipns import cbor_encode, create_ipns_record
from libp2p.protocols.kad.wire import KadMessage, KadPeer, KadRecord, MessageType, encode_message as kad_encode

_KEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
_PEER = PeerId.from_public_key(_KEY.public_key)
_ADDRS = [
    Multiaddr("/ip4/127.0.0.1/tcp/4001"),
    Multiaddr("/ip6/::1/udp/4001/quic-v1/webtransport"),
    Multiaddr(f"/dns4/example.com/tcp/443/wss/p2p/{_PEER}"),
    Multiaddr("/unix/tmp%2Fsock"),
    Multiaddr("/ip4/1.2.3.4/tcp/80/http/http-path/a%2Fb"),
    Multiaddr("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234"),
    Multiaddr("/ip4/1.2.3.4/udp/1/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g"),
]


def _varint() -> list[bytes]:
    frames = b"".join(varint_encode(len(p)) + p for p in (b"", b"a", b"x" * 200))
    return [b"\x14\x00\x00\x00\x00" + varint_encode(300) + frames, b"\x10\x03\x01\x00\x00" + frames]


def _multiaddr() -> list[bytes]:
    return [b"\x00" + bytes(a) for a in _ADDRS] + [b"\x01" + str(a).encode() for a in _ADDRS]


def _peer_id() -> list[bytes]:
    rsa = PeerId.from_public_key(generate_key_pair(KeyType.RSA).public_key)
    out = [b"\x00" + bytes(_PEER), b"\x00" + bytes(rsa), b"\x01" + str(_PEER).encode(), b"\x01" + _PEER.to_cid_string().encode()]
    return out + [b"\x03" + bytes(_PEER), b"\x05" + bytes(_PEER.to_cid())]


def _keys() -> list[bytes]:
    out = []
    for kt in KeyType:
        key = generate_key_pair(kt)
        out += [b"\x00" + key.public_key.marshal(), b"\x01" + key.marshal()]
    return out


def _envelope() -> list[bytes]:
    record = PeerRecord(_PEER, 7, _ADDRS[:3])
    env = record.seal(_KEY).marshal()
    return [b"\x00" + env, b"\x01" + record.marshal(), b"\x02" + env, b"\x03" + record.marshal()]


def _multistream() -> list[bytes]:
    header = encode_message("/multistream/1.0.0")
    return [
        b"\x01\x00\x00\x00" + header + encode_message("/yamux/1.0.0") + b"data",
        b"\x21\x05\x00\x00" + header + encode_message("na") + encode_message("/mplex/6.7.0"),
        b"\x02\x00\x00\x00" + header + encode_list_response(["/a", "/b"]),
        b"\x03\x00\x00\x00" + header + encode_message("ls") + encode_message("/yamux/1.0.0"),
        b"\x00\x00\x00\x00" + encode_list_response(["/a", "/b"])[2:-1],
    ]


def _noise_handshake() -> list[bytes]:
    return [b"\x03\x00\x00\x00/yamux/1.0.0", b"\x13\x00\x00\x00/mplex/6.7.0\n/yamux/1.0.0", b"\x00\x00\x00\x00" + b"\x00\x20" + bytes(32)]


def _noise_transport() -> list[bytes]:
    wire = NoiseEncryptor(bytes(range(32))).encrypt(b"hello") + NoiseEncryptor(bytes(range(32)), 1).encrypt(b"")
    return [b"\x02\x00\x00\x00\x07\x00" + wire, b"\x03\x00\x00\x00\x05\x00" + b"hello world, again"]


def _yamux() -> list[bytes]:
    frames = yamux_pack_header(1, 1, 1, 0) + yamux_pack_header(0, 0, 1, 3) + b"abc" + yamux_pack_header(2, 1, 0, 7)
    frames += yamux_pack_header(0, 4, 1, 0) + yamux_pack_header(3, 0, 0, 0)
    return [b"\x14\x00\x00\x00\x00\x01" + frames, b"\x10\x05\x00\x00\x00\x00" + frames]


def _mplex() -> list[bytes]:
    frames = mplex_pack_frame(1, 0, b"s") + mplex_pack_frame(1, 2, b"data") + mplex_pack_frame(1, 4, b"")
    frames += mplex_pack_frame(1, 6, b"")
    return [b"\x14\x00\x00\x00\x00\x01" + frames, b"\x10\x03\x00\x00\x00\x00" + frames]


def _identify() -> list[bytes]:
    info = IdentifyInfo(
        public_key=_KEY.public_key,
        listen_addrs=_ADDRS[:3],
        protocols=["/ipfs/id/1.0.0", "/yamux/1.0.0"],
        observed_addr=_ADDRS[0],
        protocol_version="ipfs/0.1.0",
        agent_version="aiolibp2p",
        signed_peer_record=PeerRecord(_PEER, 1, _ADDRS[:1]).seal(_KEY).marshal(),
    )
    return [b"\x00\x00\x00" + encode_identify(info), b"\x01\x05\x00" + frame_identify(info) * 2]


def _kad() -> list[bytes]:
    peer = KadPeer(_PEER, tuple(_ADDRS[:2]))
    msg = KadMessage(MessageType.PUT_VALUE, b"/pk/" + bytes(_PEER), KadRecord(b"/pk/x", b"v", "t"), (peer,), (peer,))
    body = kad_encode(msg)
    ipns = create_ipns_record(_KEY, b"/ipfs/bafy", 1, 2e9, 3_600_000_000_000)
    return [
        b"\x00\x00" + body,
        b"\x01\x05" + varint_encode(len(body)) + body,
        b"\x02\x00" + cbor_encode({"Value": b"/ipfs/x", "Sequence": 1, "TTL": 10, "Validity": b"2030-01-01T00:00:00Z"}),
        b"\x03\x00" + ipns,
        b"\x04\x00/pk/" + bytes(_PEER) + b"\xff\xfe" + _KEY.public_key.marshal(),
        b"\x04\x00/ipns/" + bytes(_PEER) + b"\xff\xfe" + ipns,
        b"\x05\x1f" + bytes(range(256)),
    ]


SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "varint": _varint,
    "multiaddr": _multiaddr,
    "peer_id": _peer_id,
    "keys": _keys,
    "envelope": _envelope,
    "multistream": _multistream,
    "noise_handshake": _noise_handshake,
    "noise_transport": _noise_transport,
    "yamux": _yamux,
    "mplex": _mplex,
    "identify": _identify,
    "kad": _kad,
}
