"""multistream-select, the Noise handshake core and transport messages, identify and the DHT."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from libp2p._pure import varint_encode
from libp2p.errors import FrameTooLargeError
from libp2p.identity.keys import Ed25519PrivateKey
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.negotiate.core import MultistreamDialer, MultistreamListener, decode_list_response, encode_list_response, encode_message
from libp2p.pb import noise_pb2
from libp2p.protocols.identify.core import IdentifyReader, frame_identify
from libp2p.protocols.identify.wire import IdentifyInfo, decode_identify, encode_identify
from libp2p.protocols.kad.ipns import cbor_decode, cbor_encode, create_ipns_record, decode_ipns_record
from libp2p.protocols.kad.records import default_validator
from libp2p.protocols.kad.wire import (
    MAX_MESSAGE_SIZE,
    KadMessage,
    KadPeer,
    KadRecord,
    MessageReader,
    MessageType,
    decode_message,
    encode_message as kad_encode,
)
from libp2p.security.noise.core import STATIC_KEY_DOMAIN, HandshakeState, NoiseHandshake
from libp2p.security.noise.errors import InvalidHandshakePayloadError
from tests.fuzz._contract import FUZZ, FUZZ_SLOW, HUGE_LENGTHS, TWINS, near, outcome, peak_allocation, same, split, trace

_cuts = st.lists(st.integers(0, 1 << 16), max_size=6)
_HEADER = encode_message("/multistream/1.0.0")
_PROTOCOLS = ("/yamux/1.0.0", "/mplex/6.7.0")
_ms_stream = st.lists(
    st.sampled_from(["/yamux/1.0.0", "/mplex/6.7.0", "na", "ls", "/other"]).map(encode_message), max_size=4
).map(lambda ms: _HEADER + b"".join(ms))


def _negotiate(core: Any, data: bytes, cuts: list[int]) -> None:
    core.data_to_send()
    for piece in split(data, cuts):
        kind, _ = outcome(core.receive_data, piece)
        core.data_to_send()
        while core.next_event() is not None:
            pass
        if kind == "err":
            assert outcome(core.receive_data, b"x")[0] == "err"  # a failed negotiator stays failed
            return


@FUZZ
@given(near(_ms_stream), _cuts, st.integers(0, 3))
def test_multistream(data: bytes, cuts: list[int], role: int) -> None:
    if role == 0:
        _negotiate(MultistreamDialer(_PROTOCOLS[:1]), data, cuts)
    elif role == 1:
        _negotiate(MultistreamDialer(_PROTOCOLS, optimistic=False, list_protocols=True), data, cuts)
    elif role == 2:
        _negotiate(MultistreamListener(_PROTOCOLS), data, cuts)
    else:
        kind, protos = outcome(decode_list_response, data)
        if kind == "ok":
            assert all(isinstance(p, str) and p for p in protos)


def test_multistream_huge_prefix() -> None:
    for huge in HUGE_LENGTHS:
        listener = MultistreamListener(_PROTOCOLS)
        assert outcome(listener.receive_data, varint_encode(huge))[0] == "err"


# --- Noise ---------------------------------------------------------------------------------

_TKEY = bytes(range(32))


def _decrypt(twin: Any, pieces: list[bytes], buffered: bool) -> tuple[list[Any], Any]:
    def step(out: list[Any]) -> None:
        decryptor = twin.NoiseDecryptor(_TKEY)
        for piece in pieces:
            if buffered:
                decryptor.feed(piece)
                out.extend(decryptor.decrypt_available())
            else:
                out.extend(decryptor.decrypt(piece))
        out.append(decryptor.buffered)

    return trace(step)


_noise_wire = st.lists(st.binary(max_size=40), max_size=4).map(
    lambda ps: b"".join(TWINS[0].NoiseEncryptor(_TKEY, i).encrypt(p) for i, p in enumerate(ps))
)


@FUZZ
@given(near(_noise_wire), _cuts)
def test_noise_decryptor(data: bytes, cuts: list[int]) -> None:
    pieces = list(split(data, cuts))
    direct = same(lambda t: _decrypt(t, pieces, False))
    assert same(lambda t: _decrypt(t, pieces, True)) == direct


@FUZZ
@given(st.lists(st.binary(max_size=100), max_size=4))
def test_noise_encryptor_twins_and_round_trip(plaintexts: list[bytes]) -> None:
    wire = b""
    for twin in TWINS:
        enc = twin.NoiseEncryptor(_TKEY)
        out = b"".join(enc.encrypt(p) for p in plaintexts)
        assert wire in (b"", out)
        wire = out
    for twin in TWINS:
        assert twin.NoiseDecryptor(_TKEY).decrypt(wire) == plaintexts


def test_noise_huge_length_refused_before_payload() -> None:
    for twin in TWINS:
        dec = twin.NoiseDecryptor(_TKEY, 0, 1024)
        assert outcome(dec.decrypt, b"\xff\xff")[1] is not None
        assert issubclass(outcome(twin.NoiseDecryptor(_TKEY, 0, 1024).decrypt, b"\xff\xff")[1], FrameTooLargeError)


_VICTIM = Ed25519PrivateKey.from_seed(b"\x01" * 32)
_PEER_KEY = Ed25519PrivateKey.from_seed(b"\x02" * 32)
_PS, _PE = b"\x05" * 32, b"\x06" * 32
_PEER_SIG = _PEER_KEY.sign(STATIC_KEY_DOMAIN + HandshakeState(True, _PS).static_public_key)


def _victim(initiator: bool) -> NoiseHandshake:
    return NoiseHandshake(initiator, _VICTIM, muxers=_PROTOCOLS, static_key=b"\x03" * 32, ephemeral_key=b"\x04" * 32)


def _field(number: int, value: bytes) -> bytes:
    return varint_encode(number << 3 | 2) + varint_encode(len(value)) + value


def _signed_payload(muxers: list[bytes]) -> bytes:
    out = _field(1, _PEER_KEY.public_key.marshal()) + _field(2, _PEER_SIG)
    if muxers:
        out += _field(4, b"".join(_field(2, m) for m in muxers))
    return out


def _handshake_with_peer(initiator: bool, payload: bytes) -> tuple[str, Any]:
    """A crypto-valid peer sends ``payload`` in its message carrying ``s``."""
    victim = _victim(initiator)
    peer = HandshakeState(not initiator, _PS, _PE)
    if initiator:
        peer.read_message(victim.data_to_send()[2:])
    else:
        msg1 = peer.write_message(b"")
        victim.receive_data(len(msg1).to_bytes(2, "big") + msg1)
        peer.read_message(victim.data_to_send()[2:])
    message = peer.write_message(payload)
    kind, _ = outcome(victim.receive_data, len(message).to_bytes(2, "big") + message)
    if kind == "err":
        assert outcome(victim.receive_data, b"\x00")[0] == "err"
        return kind, _
    event = victim.next_event()
    assert event is not None and event.remote_peer_id == PeerId.from_public_key(_PEER_KEY.public_key)
    assert all(isinstance(m, str) for m in event.remote_muxers)
    return kind, event


@FUZZ_SLOW
@given(st.binary(max_size=200), _cuts, st.booleans())
def test_noise_handshake_raw_bytes(data: bytes, cuts: list[int], initiator: bool) -> None:
    victim = _victim(initiator)
    for piece in split(data, cuts):
        if outcome(victim.receive_data, piece)[0] == "err":
            assert outcome(victim.transport)[0] == "err"
            return
        victim.data_to_send()


@FUZZ_SLOW
@given(st.booleans(), st.one_of(st.binary(max_size=120), st.lists(st.binary(max_size=16), max_size=4).map(_signed_payload)))
def test_noise_handshake_hostile_payload(initiator: bool, payload: bytes) -> None:
    _handshake_with_peer(initiator, payload)


def test_noise_regression_non_utf8_muxer_id_is_refused() -> None:
    # protobuf hands back bytes for a proto2 string that is not UTF-8; it used to reach
    # HandshakeCompleted.remote_muxers as bytes
    for initiator in (False, True):
        assert _handshake_with_peer(initiator, _signed_payload([b"/yamux/1.0.0", b"\x81"])) == (
            "err",
            InvalidHandshakePayloadError,
        )
        kind, event = _handshake_with_peer(initiator, _signed_payload([b"/yamux/1.0.0"]))
        assert kind == "ok" and event.selected_muxer == "/yamux/1.0.0"


_PEER_STATIC_PUB = HandshakeState(True, _PS).static_public_key


@FUZZ
@given(near(st.lists(st.binary(max_size=16), max_size=4).map(_signed_payload)))
def test_noise_payload_twins(payload: bytes) -> None:
    # the received-payload twin alone: same result or same typed error, and a payload it
    # accepts as verified carries the key that signed this static key
    kind, value = same(lambda t: t.noise_verify_payload(payload, _PEER_STATIC_PUB))
    if kind == "ok" and value[3]:
        assert _PEER_KEY.public_key.verify(STATIC_KEY_DOMAIN + _PEER_STATIC_PUB, value[1])


# --- identify ------------------------------------------------------------------------------

_IKEY = Ed25519PrivateKey.from_seed(bytes(range(32)))
_INFO = IdentifyInfo(
    public_key=_IKEY.public_key,
    listen_addrs=[Multiaddr("/ip4/127.0.0.1/tcp/1"), Multiaddr("/ip6/::1/tcp/2")],
    protocols=["/ipfs/id/1.0.0", "/yamux/1.0.0"],
    observed_addr=Multiaddr("/ip4/1.2.3.4/tcp/5"),
    protocol_version="ipfs/0.1.0",
    agent_version="aiolibp2p",
)


def _norm(info: IdentifyInfo) -> IdentifyInfo:
    for name in ("listen_addrs", "protocols"):
        if getattr(info, name) == []:
            setattr(info, name, None)
    return info


def _check_identify(info: IdentifyInfo) -> None:
    for text in (*(info.protocols or ()), info.protocol_version or "", info.agent_version or ""):
        assert isinstance(text, str)
    assert _norm(decode_identify([encode_identify(info)])) == _norm(info)


@FUZZ
@given(st.lists(near(st.just(encode_identify(_INFO))), min_size=1, max_size=3))
def test_decode_identify(bodies: list[bytes]) -> None:
    kind, info = outcome(decode_identify, bodies)
    if kind == "ok":
        _check_identify(info)


@FUZZ
@given(near(st.just(frame_identify(_INFO) * 2)), _cuts)
def test_identify_reader(data: bytes, cuts: list[int]) -> None:
    reader = IdentifyReader()
    for piece in split(data, cuts):
        if outcome(reader.receive_data, piece)[0] == "err":
            return
    if outcome(reader.receive_eof)[0] == "ok":
        event = reader.next_event()
        assert event is not None
        _check_identify(event.info)


def test_identify_regression_non_utf8_strings() -> None:
    # field 3 (protocols), 5 (protocolVersion) and 6 (agentVersion) holding bytes that are not UTF-8
    info = decode_identify([b"\x1a\x01\x81\x1a\x02/a", b"\x2a\x02\xc3\x28", b"\x32\x01\xff"])
    assert info.protocols == ["/a"]
    assert info.protocol_version == "\ufffd(" and info.agent_version == "\ufffd"


# --- DHT -----------------------------------------------------------------------------------

_KPEER = PeerId.from_public_key(_IKEY.public_key)
_KMSG = kad_encode(
    KadMessage(
        MessageType.PUT_VALUE,
        b"/pk/" + bytes(_KPEER),
        KadRecord(b"/pk/x", b"v", "t"),
        (KadPeer(_KPEER, (Multiaddr("/ip4/1.2.3.4/tcp/5"),)),),
    )
)
_IPNS = create_ipns_record(_IKEY, b"/ipfs/bafy", 1, 2e9, 3_600_000_000_000)
_VALIDATOR = default_validator(clock=lambda: 1.7e9)


@FUZZ
@given(near(st.just(_KMSG)))
def test_kad_decode_message(data: bytes) -> None:
    kind, msg = outcome(decode_message, data)
    if kind == "ok":
        assert decode_message(kad_encode(msg)) == msg


@FUZZ
@given(near(st.just(varint_encode(len(_KMSG)) + _KMSG)), _cuts)
def test_kad_message_reader(data: bytes, cuts: list[int]) -> None:
    reader = MessageReader()
    for piece in split(data, cuts):
        if outcome(reader.receive_data, piece)[0] == "err":
            return
    outcome(reader.receive_eof)


def test_kad_huge_prefix_allocates_little() -> None:
    for huge in (*HUGE_LENGTHS, MAX_MESSAGE_SIZE + 1):
        reader = MessageReader()
        assert outcome(reader.receive_data, varint_encode(huge) + b"\x08")[0] == "err"
        assert peak_allocation(lambda: MessageReader().receive_data(varint_encode(huge) + b"\x08")) < 1 << 16


_cbor = st.recursive(
    st.one_of(st.integers(-(2**63), 2**64 - 1), st.binary(max_size=8), st.text(max_size=8), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)


@FUZZ
@given(near(_cbor.map(cbor_encode)))
def test_cbor_decode(data: bytes) -> None:
    kind, value = outcome(cbor_decode, data)
    if kind == "ok":
        try:
            encoded = cbor_encode(value)
        except TypeError:  # floats decode but are never written
            return
        assert cbor_decode(encoded) == value


def test_cbor_deep_nesting_is_typed() -> None:
    assert outcome(cbor_decode, b"\x81" * 10_000 + b"\x00")[0] == "err"
    assert outcome(cbor_decode, b"\xd8\x2a" * 10_000 + b"\x00")[0] == "err"


@FUZZ
@given(near(st.just(_IPNS)))
def test_ipns_record_and_validators(data: bytes) -> None:
    kind, record = outcome(decode_ipns_record, data)
    if kind == "ok":
        outcome(lambda: record.eol)
    for key in (b"/ipns/" + bytes(_KPEER), b"/pk/" + bytes(_KPEER)):
        valid = outcome(_VALIDATOR.validate, key, data)[0] == "ok"
        if valid:
            assert _VALIDATOR.select(key, [data]) == 0


@FUZZ
@given(st.binary(max_size=80))
def test_validator_keys(key: bytes) -> None:
    outcome(_VALIDATOR.validate, key, _IKEY.public_key.marshal())
    outcome(_VALIDATOR.validate, key, _IPNS)
