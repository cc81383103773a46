"""Noise XX handshake core: vectors, two cores pumped in memory, failures, fuzz."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p._accel import NoiseDecryptor, NoiseEncryptor
from libp2p.errors import Libp2pError, LocalProtocolError, RemoteProtocolError
from libp2p.identity.keys import Ed25519PrivateKey, PrivateKey, unmarshal_private_key
from libp2p.identity.peer_id import PeerId
from libp2p.pb import noise_pb2
from libp2p.security.noise import (
    DecryptError,
    HandshakeCompleted,
    HandshakeDecryptError,
    HandshakeError,
    HandshakeTimeoutError,
    InvalidHandshakeMessageError,
    InvalidHandshakePayloadError,
    InvalidHandshakeSignatureError,
    MuxerNegotiationError,
    NoiseConfig,
    NoiseError,
    NoiseFrameTooLargeError,
    NoiseHandshake,
    NoisePayloadTooLargeError,
    NoiseStateError,
    PeerIdMismatchError,
    select_muxer,
)
from libp2p.security.noise.core import STATIC_KEY_DOMAIN, HandshakeState, StaticKey, hkdf
from tests.conftest import load_vector

h = bytes.fromhex

YAMUX = "/yamux/1.0.0"
MPLEX = "/mplex/6.7.0"

_KEY_VECTORS = {v["name"]: h(v["hex"]) for v in load_vector("official/peer-id-key-vectors.json")["vectors"]}
IDENTITIES: dict[str, PrivateKey] = {
    "ed25519": unmarshal_private_key(_KEY_VECTORS["ED25519 private key"]),
    "secp256k1": unmarshal_private_key(_KEY_VECTORS["secp256k1 private key"]),
    "ecdsa": unmarshal_private_key(_KEY_VECTORS["ECDSA private key"]),
    "rsa": unmarshal_private_key(_KEY_VECTORS["rsa private key"]),
}
ALICE = Ed25519PrivateKey.from_seed(b"\x0a" * 32)
BOB = Ed25519PrivateKey.from_seed(b"\x0b" * 32)
MALLORY = Ed25519PrivateKey.from_seed(b"\x0c" * 32)


def _pair(
    i_key: PrivateKey = ALICE,
    r_key: PrivateKey = BOB,
    *,
    i_muxers: Sequence[str] = (),
    r_muxers: Sequence[str] = (),
    expected: PeerId | None = None,
    **kwargs: Any,
) -> tuple[NoiseHandshake, NoiseHandshake]:
    i = NoiseHandshake(True, i_key, muxers=i_muxers, remote_peer_id=expected, **kwargs)
    r = NoiseHandshake(False, r_key, muxers=r_muxers, **kwargs)
    return i, r


def _pump(a: NoiseHandshake, b: NoiseHandshake, rng: random.Random | None = None) -> None:
    """Move bytes both ways until neither side has anything to send, in random pieces."""
    while True:
        moved = False
        for src, dst in ((a, b), (b, a)):
            data = src.data_to_send()
            if not data:
                continue
            moved = True
            if rng is None:
                dst.receive_data(data)
                continue
            pos = 0
            while pos < len(data):
                step = rng.randint(1, max(1, len(data)))
                dst.receive_data(memoryview(data)[pos : pos + step])
                pos += step
        if not moved:
            return


def _handshake(
    i: NoiseHandshake, r: NoiseHandshake, rng: random.Random | None = None
) -> tuple[HandshakeCompleted, HandshakeCompleted]:
    _pump(i, r, rng)
    ei, er = i.next_event(), r.next_event()
    assert isinstance(ei, HandshakeCompleted) and isinstance(er, HandshakeCompleted)
    assert i.next_event() is None and r.next_event() is None
    return ei, er


def _assert_channel(i: NoiseHandshake, r: NoiseHandshake) -> None:
    ie, idec = i.transport()
    re_, rdec = r.transport()
    assert rdec.decrypt(ie.encrypt(b"ping")) == [b"ping"]
    assert idec.decrypt(re_.encrypt(b"pong" * 40_000)) == _chunks(b"pong" * 40_000)


def _chunks(data: bytes) -> list[bytes]:
    return [data[i : i + 65519] for i in range(0, len(data), 65519)]


# --- the generic Noise core against the cacophony vector -----------------------------------


def test_cacophony_vector() -> None:
    v = load_vector("official/noise-cacophony-XX_25519_ChaChaPoly_SHA256.json")["vectors"][0]
    assert v["protocol_name"] == "Noise_XX_25519_ChaChaPoly_SHA256"
    init = HandshakeState(True, h(v["init_static"]), h(v["init_ephemeral"]), h(v["init_prologue"]))
    resp = HandshakeState(False, h(v["resp_static"]), h(v["resp_ephemeral"]), h(v["resp_prologue"]))
    msgs = v["messages"]
    for n, (writer, reader) in enumerate([(init, resp), (resp, init), (init, resp)]):
        assert writer.is_my_turn() and not reader.is_my_turn()
        wire = writer.write_message(h(msgs[n]["payload"]))
        assert wire.hex() == msgs[n]["ciphertext"], n
        assert reader.read_message(wire) == h(msgs[n]["payload"])
    assert init.complete and resp.complete
    assert init.handshake_hash.hex() == resp.handshake_hash.hex() == v["handshake_hash"]
    assert init.split() == resp.split()
    k1, k2 = init.split()
    # Transport messages continue alternating: responder (cipher 2) first. No u16 prefix in
    # the vector, so strip ours.
    to_init, to_resp = NoiseEncryptor(k2), NoiseEncryptor(k1)
    for n, m in enumerate(msgs[3:]):
        enc = to_init if n % 2 == 0 else to_resp
        wire = enc.encrypt(h(m["payload"]))
        assert wire[2:].hex() == m["ciphertext"], n
        assert int.from_bytes(wire[:2], "big") == len(wire) - 2
    dec = NoiseDecryptor(k2)
    assert dec.decrypt(len(h(msgs[3]["ciphertext"])).to_bytes(2, "big") + h(msgs[3]["ciphertext"])) == [
        h(msgs[3]["payload"])
    ]


def test_hkdf_three_outputs_extend_two() -> None:
    ck, ikm = b"\x01" * 32, b"\x02" * 32
    two = hkdf(ck, ikm, 2)
    assert hkdf(ck, ikm, 3)[:2] == two and len(set(hkdf(ck, ikm, 3))) == 3


def test_generic_core_turn_errors() -> None:
    init = HandshakeState(True)
    with pytest.raises(NoiseStateError):
        init.read_message(b"\x00" * 32)
    with pytest.raises(NoiseStateError):
        init.split()
    with pytest.raises(LocalProtocolError):
        HandshakeState(True, s=b"short")
    with pytest.raises(LocalProtocolError):
        HandshakeState(True, e=b"short")


# --- the libp2p vector ----------------------------------------------------------------------


def test_libp2p_vector_byte_exact() -> None:
    v = load_vector("derived/noise-libp2p-xx-handshake.json")
    iv, rv = v["initiator"], v["responder"]
    i_key = Ed25519PrivateKey.from_seed(h(iv["identity_ed25519_seed_hex"]))
    r_key = Ed25519PrivateKey.from_seed(h(rv["identity_ed25519_seed_hex"]))
    assert i_key.public_key.marshal().hex() == iv["identity_public_key_protobuf_hex"]
    i = NoiseHandshake(
        True, i_key, muxers=[YAMUX],
        static_key=h(iv["noise_static_private_hex"]), ephemeral_key=h(iv["noise_ephemeral_private_hex"]),
        remote_peer_id=PeerId.from_public_key(r_key.public_key),
    )  # fmt: skip
    r = NoiseHandshake(
        False, r_key, muxers=[YAMUX, MPLEX],
        static_key=h(rv["noise_static_private_hex"]), ephemeral_key=h(rv["noise_ephemeral_private_hex"]),
        prologue=h(v["prologue_hex"]),
    )  # fmt: skip
    assert i.static_public_key.hex() == iv["noise_static_public_hex"]
    assert r.static_public_key.hex() == rv["noise_static_public_hex"]
    m1 = i.data_to_send()
    assert m1.hex() == v["wire_msg1_hex"]
    assert i.data_to_send() == b""
    r.receive_data(m1)
    m2 = r.data_to_send()
    assert m2.hex() == v["wire_msg2_hex"]
    i.receive_data(m2)
    m3 = i.data_to_send()
    assert m3.hex() == v["wire_msg3_hex"]
    r.receive_data(m3)
    assert r.data_to_send() == b""
    ei, er = i.next_event(), r.next_event()
    assert isinstance(ei, HandshakeCompleted) and isinstance(er, HandshakeCompleted)
    assert ei.handshake_hash.hex() == er.handshake_hash.hex() == v["handshake_hash_hex"]
    assert ei.selected_muxer == er.selected_muxer == v["negotiated_muxer"]
    assert ei.remote_muxers == (YAMUX, MPLEX) and er.remote_muxers == (YAMUX,)
    assert ei.remote_public_key.marshal().hex() == rv["identity_public_key_protobuf_hex"]
    assert er.remote_public_key.marshal().hex() == iv["identity_public_key_protobuf_hex"]
    assert ei.remote_peer_id == PeerId.from_public_key(r_key.public_key)
    assert er.remote_peer_id == PeerId.from_public_key(i_key.public_key)
    assert ei.remote_static_key.hex() == rv["noise_static_public_hex"]
    # The payloads themselves (Ed25519 signatures are deterministic).
    assert i._payload().hex() == v["msg3_payload_NoiseHandshakePayload_hex"]
    assert r._payload().hex() == v["msg2_payload_NoiseHandshakePayload_hex"]
    ie, idec = i.transport()
    re_, rdec = r.transport()
    t_ir, t_ri = v["transport_initiator_to_responder"], v["transport_responder_to_initiator"]
    assert ie.encrypt(t_ir["plaintext_utf8"].encode()).hex() == t_ir["wire_hex"]
    assert re_.encrypt(t_ri["plaintext_utf8"].encode()).hex() == t_ri["wire_hex"]
    assert rdec.decrypt(h(t_ir["wire_hex"])) == [t_ir["plaintext_utf8"].encode()]
    assert idec.decrypt(h(t_ri["wire_hex"])) == [t_ri["plaintext_utf8"].encode()]


# --- two cores in memory --------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    i, r = _pair(i_muxers=[YAMUX], r_muxers=[YAMUX], expected=PeerId.from_public_key(BOB.public_key))
    ei, er = _handshake(i, r, rng)
    assert ei.handshake_hash == er.handshake_hash
    assert ei.selected_muxer == er.selected_muxer == YAMUX
    _assert_channel(i, r)


def test_fresh_keys_per_handshake() -> None:
    a = NoiseHandshake(True, ALICE)
    b = NoiseHandshake(True, ALICE)
    assert a.static_public_key != b.static_public_key
    assert a.data_to_send() != b.data_to_send()


@pytest.mark.parametrize("i_name", sorted(IDENTITIES))
@pytest.mark.parametrize("r_name", sorted(IDENTITIES))
def test_identity_key_types(i_name: str, r_name: str) -> None:
    i_key, r_key = IDENTITIES[i_name], IDENTITIES[r_name]
    i, r = _pair(i_key, r_key, expected=PeerId.from_public_key(r_key.public_key))
    ei, er = _handshake(i, r)
    assert ei.remote_peer_id == PeerId.from_public_key(r_key.public_key)
    assert er.remote_peer_id == PeerId.from_public_key(i_key.public_key)
    assert ei.remote_public_key == r_key.public_key and er.remote_public_key == i_key.public_key
    _assert_channel(i, r)


def test_transport_data_in_the_same_read_as_msg3() -> None:
    i, r = _pair()
    r.receive_data(i.data_to_send())
    i.receive_data(r.data_to_send())
    enc, _ = i.transport()
    r.receive_data(i.data_to_send() + enc.encrypt(b"early") + enc.encrypt(b"data")[:5])
    _, dec = r.transport()
    assert dec.decrypt_available() == [b"early"]
    assert dec.buffered == 5


# --- early muxer negotiation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("i_muxers", "r_muxers", "selected"),
    [
        ([YAMUX], [YAMUX, MPLEX], YAMUX),
        ([MPLEX, YAMUX], [YAMUX, MPLEX], MPLEX),  # the initiator's preference wins
        ([YAMUX, MPLEX], [MPLEX], MPLEX),
        ([], [YAMUX], None),  # absent on one side: fall back to multistream
        ([YAMUX], [], None),
        ([], [], None),
    ],
)
def test_muxer_selection(i_muxers: list[str], r_muxers: list[str], selected: str | None) -> None:
    i, r = _pair(i_muxers=i_muxers, r_muxers=r_muxers)
    ei, er = _handshake(i, r)
    assert ei.selected_muxer == er.selected_muxer == selected
    assert ei.remote_muxers == tuple(r_muxers) and er.remote_muxers == tuple(i_muxers)


def test_no_extensions_field_when_no_muxers() -> None:
    i, r = _pair()
    r.receive_data(i.data_to_send())
    assert not noise_pb2.NoiseHandshakePayload.FromString(r._payload()).HasField("extensions")


def test_muxer_no_overlap_fails_at_initiator() -> None:
    i, r = _pair(i_muxers=[MPLEX], r_muxers=[YAMUX])
    r.receive_data(i.data_to_send())
    with pytest.raises(MuxerNegotiationError):
        i.receive_data(r.data_to_send())
    assert i.data_to_send() == b""  # msg3 never leaves


def test_muxer_no_overlap_fails_at_responder() -> None:
    # A foreign initiator that sends msg3 anyway: simulate by changing the responder's list late.
    i2, r2 = _pair(i_muxers=[MPLEX], r_muxers=[])
    r2.receive_data(i2.data_to_send())
    i2.receive_data(r2.data_to_send())
    r2._muxers = (YAMUX,)
    with pytest.raises(MuxerNegotiationError):
        r2.receive_data(i2.data_to_send())


def test_select_muxer() -> None:
    assert select_muxer([YAMUX, MPLEX], [MPLEX, YAMUX]) == YAMUX
    assert select_muxer([], [YAMUX]) is None
    with pytest.raises(MuxerNegotiationError):
        select_muxer(["/a"], ["/b"])


def test_muxers_must_be_a_sequence() -> None:
    with pytest.raises(LocalProtocolError):
        NoiseHandshake(True, ALICE, muxers=YAMUX)


# --- authentication failures ----------------------------------------------------------------


def test_peer_id_mismatch() -> None:
    i, r = _pair(expected=PeerId.from_public_key(MALLORY.public_key))
    r.receive_data(i.data_to_send())
    with pytest.raises(PeerIdMismatchError) as info:
        i.receive_data(r.data_to_send())
    assert info.value.expected == PeerId.from_public_key(MALLORY.public_key)
    assert info.value.actual == PeerId.from_public_key(BOB.public_key)
    assert isinstance(info.value, HandshakeError) and isinstance(info.value, RemoteProtocolError)
    assert i.data_to_send() == b""


def test_peer_id_mismatch_at_responder() -> None:
    i = NoiseHandshake(True, ALICE)
    r = NoiseHandshake(False, BOB, remote_peer_id=PeerId.from_public_key(MALLORY.public_key))
    r.receive_data(i.data_to_send())
    i.receive_data(r.data_to_send())
    with pytest.raises(PeerIdMismatchError):
        r.receive_data(i.data_to_send())


class _CustomPayload(NoiseHandshake):
    """A misbehaving peer: its payload is whatever ``make`` returns."""

    make: Any = None

    def _payload(self) -> bytes:
        return self.make(self)  # type: ignore[no-any-return]


def _payload_pb(key: PrivateKey, signed: bytes, *, muxers: Sequence[str] = ()) -> bytes:
    pb = noise_pb2.NoiseHandshakePayload()
    pb.identity_key = key.public_key.marshal()
    pb.identity_sig = key.sign(STATIC_KEY_DOMAIN + signed)
    if muxers:
        pb.extensions.stream_muxers.extend(muxers)
    return pb.SerializeToString()


def _run_bad_responder(make: Any) -> tuple[NoiseHandshake, bytes]:
    i = NoiseHandshake(True, ALICE)
    r = _CustomPayload(False, BOB)
    r.make = make
    r.receive_data(i.data_to_send())
    return i, r.data_to_send()


def _run_bad_initiator(make: Any) -> tuple[NoiseHandshake, bytes]:
    i = _CustomPayload(True, ALICE)
    i.make = make
    r = NoiseHandshake(False, BOB)
    r.receive_data(i.data_to_send())
    i.receive_data(r.data_to_send())
    return r, i.data_to_send()


BAD_PAYLOADS: list[tuple[str, Any, type[Exception]]] = [
    (
        "sig over another static key",
        lambda hs: _payload_pb(BOB, os.urandom(32)),
        InvalidHandshakeSignatureError,
    ),
    (
        "sig by another identity",
        lambda hs: noise_pb2.NoiseHandshakePayload(
            identity_key=BOB.public_key.marshal(),
            identity_sig=MALLORY.sign(STATIC_KEY_DOMAIN + hs.static_public_key),
        ).SerializeToString(),
        InvalidHandshakeSignatureError,
    ),
    (
        "sig over the identity key",
        lambda hs: noise_pb2.NoiseHandshakePayload(
            identity_key=BOB.public_key.marshal(),
            identity_sig=BOB.sign(STATIC_KEY_DOMAIN + BOB.public_key.marshal()),
        ).SerializeToString(),
        InvalidHandshakeSignatureError,
    ),
    ("empty payload", lambda hs: b"", InvalidHandshakePayloadError),
    ("not a protobuf", lambda hs: b"\xff\xff\xff", InvalidHandshakePayloadError),
    (
        "no signature",
        lambda hs: noise_pb2.NoiseHandshakePayload(identity_key=BOB.public_key.marshal()).SerializeToString(),
        InvalidHandshakePayloadError,
    ),
    (
        "unsupported key type",
        lambda hs: noise_pb2.NoiseHandshakePayload(
            identity_key=b"\x08\x09\x12\x01\x00", identity_sig=b"x"
        ).SerializeToString(),
        InvalidHandshakePayloadError,
    ),
    (
        "garbage identity key",
        lambda hs: noise_pb2.NoiseHandshakePayload(
            identity_key=b"\x01\x02", identity_sig=b"x"
        ).SerializeToString(),
        InvalidHandshakePayloadError,
    ),
]


@pytest.mark.parametrize(("name", "make", "error"), BAD_PAYLOADS, ids=[p[0] for p in BAD_PAYLOADS])
def test_bad_payload_from_responder(name: str, make: Any, error: type[Exception]) -> None:
    i, msg2 = _run_bad_responder(make)
    with pytest.raises(error):
        i.receive_data(msg2)
    with pytest.raises(NoiseStateError):
        i.receive_data(b"")  # failed for good


@pytest.mark.parametrize(("name", "make", "error"), BAD_PAYLOADS, ids=[p[0] for p in BAD_PAYLOADS])
def test_bad_payload_from_initiator(name: str, make: Any, error: type[Exception]) -> None:
    r, msg3 = _run_bad_initiator(make)
    with pytest.raises(error):
        r.receive_data(msg3)


def test_valid_custom_payload_is_accepted() -> None:
    i, msg2 = _run_bad_responder(lambda hs: _payload_pb(BOB, hs.static_public_key, muxers=[YAMUX]))
    i.receive_data(msg2)
    ev = i.next_event()
    assert isinstance(ev, HandshakeCompleted) and ev.remote_muxers == (YAMUX,)


# --- tampering ------------------------------------------------------------------------------


def _flip(wire: bytes, index: int) -> bytes:
    bad = bytearray(wire)
    bad[index] ^= 0x80
    return bytes(bad)


def test_tampered_msg2_every_byte() -> None:
    i, r = _pair()
    m1 = i.data_to_send()
    r.receive_data(m1)
    m2 = r.data_to_send()
    for index in range(2, len(m2)):  # every byte after the length prefix
        i = NoiseHandshake(True, ALICE, ephemeral_key=b"\x07" * 32)
        r = NoiseHandshake(False, BOB, static_key=b"\x08" * 32, ephemeral_key=b"\x09" * 32)
        r.receive_data(i.data_to_send())
        good = r.data_to_send()
        with pytest.raises(HandshakeError) as info:
            i.receive_data(_flip(good, index))
        assert isinstance(info.value, HandshakeDecryptError), index


@pytest.mark.parametrize("where", ["s", "payload", "tag"])
def test_tampered_msg3(where: str) -> None:
    i, r = _pair()
    r.receive_data(i.data_to_send())
    i.receive_data(r.data_to_send())
    m3 = i.data_to_send()
    index = {"s": 5, "payload": 2 + 48 + 3, "tag": len(m3) - 1}[where]
    with pytest.raises(HandshakeDecryptError) as info:
        r.receive_data(_flip(m3, index))
    assert isinstance(info.value, DecryptError)


def test_tampered_msg1_is_caught_by_the_initiator() -> None:
    i, r = _pair()
    r.receive_data(_flip(i.data_to_send(), 10))  # the responder cannot tell yet
    with pytest.raises(HandshakeDecryptError):
        i.receive_data(r.data_to_send())


def test_low_order_ephemeral_key() -> None:
    r = NoiseHandshake(False, BOB)
    with pytest.raises(InvalidHandshakeMessageError):
        r.receive_data(b"\x00\x20" + bytes(32))


@pytest.mark.parametrize("length", [0, 31])
def test_short_msg1(length: int) -> None:
    r = NoiseHandshake(False, BOB)
    with pytest.raises(InvalidHandshakeMessageError):
        r.receive_data(length.to_bytes(2, "big") + os.urandom(length))


def test_msg1_payload_is_ignored() -> None:
    i = NoiseHandshake(True, ALICE)
    m1 = i.data_to_send()
    r = NoiseHandshake(False, BOB)
    r.receive_data((len(m1) + 3 - 2).to_bytes(2, "big") + m1[2:] + b"abc")
    assert r.data_to_send()


@pytest.mark.parametrize("length", [0, 95])
def test_short_msg2(length: int) -> None:
    i = NoiseHandshake(True, ALICE)
    with pytest.raises(InvalidHandshakeMessageError):
        i.receive_data(length.to_bytes(2, "big") + os.urandom(length))


# --- bounds ---------------------------------------------------------------------------------


def test_oversized_handshake_frame() -> None:
    r = NoiseHandshake(False, BOB, config=NoiseConfig(max_handshake_message=1024))
    with pytest.raises(NoiseFrameTooLargeError):
        r.receive_data(b"\x04\x01")  # refused from the prefix alone
    i = NoiseHandshake(True, ALICE, config=NoiseConfig(max_handshake_message=1024))
    with pytest.raises(NoiseFrameTooLargeError):
        i.receive_data(b"\xff\xff" + b"\x00" * 100)


def test_default_limit_accepts_a_full_frame_prefix() -> None:
    i = NoiseHandshake(True, ALICE)
    i.receive_data(b"\xff\xff" + b"\x00" * 100)  # 65535 is legal; it just waits for the rest


def test_own_payload_too_large() -> None:
    r = NoiseHandshake(False, BOB, muxers=["/m" + "x" * 1000 + str(n) for n in range(70)])
    with pytest.raises(NoisePayloadTooLargeError):
        r.receive_data(NoiseHandshake(True, ALICE).data_to_send())


def test_config_bounds() -> None:
    with pytest.raises(ValueError):
        NoiseConfig(max_handshake_message=65536)
    with pytest.raises(ValueError):
        NoiseConfig(max_handshake_message=95)
    with pytest.raises(ValueError):
        NoiseConfig(handshake_timeout=0)


# --- state, timers --------------------------------------------------------------------------


def test_transport_only_once_and_only_when_complete() -> None:
    i, r = _pair()
    with pytest.raises(NoiseStateError):
        i.transport()
    _handshake(i, r)
    assert i.complete and r.complete
    i.transport()
    with pytest.raises(NoiseStateError):
        i.transport()
    with pytest.raises(NoiseStateError):
        i.receive_data(b"more")


def test_timer() -> None:
    i = NoiseHandshake(True, ALICE)
    assert i.get_timer() is None
    i = NoiseHandshake(True, ALICE, now=100.0, config=NoiseConfig(handshake_timeout=5.0))
    assert i.get_timer() == 105.0
    i.handle_timer(104.9)
    with pytest.raises(HandshakeTimeoutError):
        i.handle_timer(105.0)
    assert i.get_timer() is None
    with pytest.raises(NoiseStateError):
        i.receive_data(b"")
    i, r = _pair(now=0.0)
    _handshake(i, r)
    assert i.get_timer() is None and r.get_timer() is None
    i.handle_timer(1e9)  # no-op after completion


def test_error_hierarchy() -> None:
    assert issubclass(HandshakeDecryptError, DecryptError)
    assert issubclass(InvalidHandshakeSignatureError, HandshakeError)
    assert issubclass(PeerIdMismatchError, RemoteProtocolError)
    assert issubclass(NoiseFrameTooLargeError, NoiseError)
    assert issubclass(NoiseError, Libp2pError)


# --- fuzz -----------------------------------------------------------------------------------


def _typed(exc: BaseException) -> bool:
    return isinstance(exc, NoiseError)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=6))
def test_fuzz_responder_input(data: bytes, cuts: list[int]) -> None:
    r = NoiseHandshake(False, BOB)
    pos = 0
    k = 0
    try:
        while pos < len(data):
            r.receive_data(data[pos : pos + cuts[k % len(cuts)]])
            pos += cuts[k % len(cuts)]
            k += 1
    except Exception as exc:  # noqa: BLE001 - asserting the type
        assert _typed(exc), repr(exc)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=200), st.integers(min_value=0, max_value=400))
def test_fuzz_msg3_after_valid_msg1(junk: bytes, position: int) -> None:
    # A valid msg1, then a msg3-shaped frame of random bytes (and random corruptions of a real one).
    i, r = _pair()
    r.receive_data(i.data_to_send())
    i.receive_data(r.data_to_send())
    m3 = bytearray(i.data_to_send())
    m3[2 + position % (len(m3) - 2)] ^= junk[0] or 1
    for frame in (bytes(m3), len(junk).to_bytes(2, "big") + junk):
        try:
            r.receive_data(frame)
        except Exception as exc:  # noqa: BLE001
            assert _typed(exc), repr(exc)
        r = NoiseHandshake(False, BOB)
        r.receive_data(NoiseHandshake(True, ALICE).data_to_send())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_initiator_input(data: bytes) -> None:
    i = NoiseHandshake(True, ALICE)
    try:
        i.receive_data(len(data).to_bytes(2, "big") + data)
    except Exception as exc:  # noqa: BLE001
        assert _typed(exc), repr(exc)


def test_reused_static_key_serves_many_handshakes() -> None:
    static = StaticKey()
    remote_statics = []
    transcripts = set()
    for muxers in ((YAMUX,), (YAMUX,), (MPLEX, YAMUX)):
        i = NoiseHandshake(True, ALICE, muxers=muxers, remote_peer_id=PeerId.from_public_key(BOB.public_key))
        r = NoiseHandshake(False, BOB, muxers=(YAMUX,), static_key=static)
        assert r.static_public_key == static.public
        ei, er = _handshake(i, r)
        assert ei.remote_peer_id == PeerId.from_public_key(BOB.public_key)
        assert er.remote_peer_id == PeerId.from_public_key(ALICE.public_key)
        assert ei.selected_muxer == YAMUX == er.selected_muxer
        remote_statics.append(ei.remote_static_key)
        transcripts.add(ei.handshake_hash)
        _assert_channel(i, r)
    # one static key, fresh ephemeral keys: every handshake still has its own keys
    assert remote_statics == [static.public] * 3
    assert len(transcripts) == 3


def test_reused_static_key_payload_follows_identity_and_muxers() -> None:
    static = StaticKey()
    first = static.payload(BOB, (YAMUX,))
    assert static.payload(BOB, (YAMUX,)) is first  # signed once
    other_muxers = static.payload(BOB, (MPLEX,))
    other_identity = static.payload(ALICE, (YAMUX,))
    assert len({first, other_muxers, other_identity}) == 3
    pb = noise_pb2.NoiseHandshakePayload.FromString(other_identity)
    assert ALICE.public_key.verify(STATIC_KEY_DOMAIN + static.public, pb.identity_sig)
    # a dialer's reused key works the same way, towards a listener with fresh keys
    i = NoiseHandshake(True, ALICE, muxers=(YAMUX,), static_key=static)
    r = NoiseHandshake(False, BOB, muxers=(YAMUX,))
    _ei, er = _handshake(i, r)
    assert er.remote_static_key == static.public
    assert er.remote_peer_id == PeerId.from_public_key(ALICE.public_key)
