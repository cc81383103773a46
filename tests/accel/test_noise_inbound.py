"""The listener's inbound handshake core (``InboundHandshake``), both twins.

Driven by a real initiator (``MultistreamDialer`` + the XX ``HandshakeState``): the optimistic
flight, every split of the input, ``na`` and ``ls`` rounds, another security protocol agreed, and
every check (multistream bounds and framing, Noise framing and lengths, the payload's signature
over this handshake's static key, the early muxer). Side by side: the same answers, the same
results and the same exception types on the same input.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libp2p import _pure
from libp2p.identity.keys import Ed25519PrivateKey, KeyType, generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.negotiate.core import MultistreamDialer, encode_list_response, encode_message
from libp2p.negotiate.errors import (
    DataAfterRefusalError,
    EmptyMessageError,
    IncorrectVersionError,
    MessageDecodeError,
    MessageTooLargeError,
    MissingNewlineError,
    TooManyRoundsError,
)
from libp2p.security.noise.core import HandshakeState, StaticKey, _make_payload
from libp2p.security.noise.errors import (
    HandshakeDecryptError,
    InvalidHandshakeMessageError,
    InvalidHandshakePayloadError,
    InvalidHandshakeSignatureError,
    MuxerNegotiationError,
    NoiseFrameTooLargeError,
    NoiseStateError,
)

try:
    from libp2p import _native
except ImportError:
    _native = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(_native is None, reason="libp2p._native is not built")

YAMUX, MPLEX = "/yamux/1.0.0", "/mplex/6.7.0"
NOISE, TLS = "/noise", "/tls/1.0.0"
LISTENER = Ed25519PrivateKey.from_seed(b"\x01" * 32)
DIALER = Ed25519PrivateKey.from_seed(b"\x02" * 32)
STATIC = StaticKey(bytes(range(32)))
HEADER = encode_message("/multistream/1.0.0")
FLIGHT = HEADER + encode_message(NOISE)


def u16(message: bytes) -> bytes:
    return len(message).to_bytes(2, "big") + message


def make(accel: ModuleType, protocols: tuple[str, ...] = (NOISE,), muxers: tuple[str, ...] = (YAMUX, MPLEX),
         ephemeral: bytes | None = None, **kw: Any) -> Any:
    payload = STATIC.payload(LISTENER, muxers)
    template = accel.InboundHandshake(protocols, STATIC.private, STATIC.public, payload, muxers, **kw)
    return template.fresh(ephemeral)


class Dialer:
    """The initiator's side, message by message, with a payload that may be made wrong on purpose."""

    def __init__(self, identity: Any = DIALER, muxers: tuple[str, ...] = (YAMUX,),
                 payload: Callable[[bytes], bytes] | None = None) -> None:
        self.static = StaticKey()
        self.hs = HandshakeState(True, self.static)
        self.identity = identity
        self.payload = payload(self.static.public) if payload else _make_payload(identity, self.static.public, muxers)

    def msg1(self) -> bytes:
        return u16(self.hs.write_message(b""))

    def read2(self, framed: bytes) -> bytes:
        assert int.from_bytes(framed[:2], "big") == len(framed) - 2
        return self.hs.read_message(framed[2:])

    def msg3(self) -> bytes:
        return u16(self.hs.write_message(self.payload))


def handshake(core: Any, dialer: Dialer, *, split: int | None = None, after: bytes = b"") -> bytes:
    """The whole exchange, optimistic (flight + msg1 in one segment); returns what came back."""
    first = FLIGHT + dialer.msg1()
    out = feed(core, first, split)
    assert out.startswith(FLIGHT)
    payload = dialer.read2(out[len(FLIGHT):])
    assert payload == STATIC.payload(LISTENER, core_muxers(core))
    assert feed(core, dialer.msg3() + after, split) == b""
    return out


def core_muxers(core: Any) -> tuple[str, ...]:
    return (YAMUX, MPLEX)


def feed(core: Any, data: bytes, split: int | None) -> bytes:
    if split is None:
        return bytes(core.receive_data(data))
    out = b""
    for i in range(0, len(data), split):
        out += core.receive_data(memoryview(data)[i : i + split])
    return out


def test_contract() -> None:
    assert "InboundHandshake" in _pure.__all__ and "NOISE_PROTOCOL_ID" in _pure.__all__
    if _native is not None:
        assert _native.NOISE_PROTOCOL_ID == _pure.NOISE_PROTOCOL_ID == NOISE


@pytest.mark.parametrize("split", [None, 1, 7, 64])
def test_valid_handshake(accel: ModuleType, split: int | None) -> None:
    core = make(accel)
    dialer = Dialer()
    handshake(core, dialer, split=split, after=b"")
    assert core.complete and core.protocol == NOISE
    assert core.remote_peer_id == PeerId.from_public_key(DIALER.public_key)
    assert core.remote_public_key == DIALER.public_key
    assert core.remote_static_key == dialer.static.public
    assert core.remote_muxers == (YAMUX,) and core.selected_muxer == YAMUX
    assert core.handshake_hash == dialer.hs.handshake_hash
    encryptor, decryptor = core.transport()
    k1, k2 = dialer.hs.split()
    # the dialer's first transport message decrypts; ours decrypts at the dialer
    assert decryptor.decrypt(accel.NoiseEncryptor(k1).encrypt(b"hello")) == [b"hello"]
    assert accel.NoiseDecryptor(k2).decrypt(encryptor.encrypt(b"world")) == [b"world"]
    with pytest.raises(NoiseStateError):
        core.transport()
    with pytest.raises(NoiseStateError):
        core.receive_data(b"x")


def test_bytes_after_message_3_reach_the_decryptor(accel: ModuleType) -> None:
    core = make(accel)
    dialer = Dialer()
    out = core.receive_data(FLIGHT + dialer.msg1())
    dialer.read2(out[len(FLIGHT):])
    msg3 = dialer.msg3()
    k1, _ = dialer.hs.split()
    tail = accel.NoiseEncryptor(k1).encrypt(b"first frames")
    assert core.receive_data(msg3 + tail[:5]) == b""
    assert core.receive_data(tail[5:]) == b""  # after completion: kept for the decryptor
    _, decryptor = core.transport()
    assert decryptor.decrypt_available() == [b"first frames"]


def test_not_optimistic_dialer(accel: ModuleType) -> None:
    """Header and proposal first, message 1 after the echo."""
    core = make(accel)
    dialer = MultistreamDialer([NOISE], optimistic=False)
    assert core.receive_data(dialer.data_to_send()) == FLIGHT
    assert core.protocol == NOISE and not core.complete
    d = Dialer()
    out = core.receive_data(d.msg1())
    d.read2(out)
    core.receive_data(d.msg3())
    assert core.complete


def test_na_then_noise_and_ls(accel: ModuleType) -> None:
    core = make(accel, protocols=(NOISE, TLS))
    out = core.receive_data(HEADER + encode_message("/other/1") + encode_message("ls"))
    assert out == HEADER + encode_message("na") + encode_list_response([NOISE, TLS])
    assert core.refused == 1 and core.protocol is None
    d = Dialer()
    out = core.receive_data(encode_message(NOISE) + d.msg1())
    assert out.startswith(encode_message(NOISE))
    d.read2(out[len(encode_message(NOISE)):])
    core.receive_data(d.msg3())
    assert core.complete and core.selected_muxer == YAMUX


def test_reserved_ids_are_refused(accel: ModuleType) -> None:
    core = make(accel)
    out = core.receive_data(HEADER + encode_message("na") + encode_message("/multistream/1.0.0")
                            + encode_message("/libp2p/simultaneous-connect"))
    assert out == HEADER + encode_message("na") * 3 and core.refused == 3


def test_another_protocol_agreed(accel: ModuleType) -> None:
    core = make(accel, protocols=(NOISE, TLS))
    out = core.receive_data(HEADER + encode_message(TLS) + b"\x16\x03\x01client hello")
    assert out == HEADER + encode_message(TLS)
    assert core.protocol == TLS and not core.complete
    assert core.receive_data(b" more") == b""
    assert core.unused_data() == b"\x16\x03\x01client hello more"
    assert core.unused_data() == b""


def test_noise_not_offered(accel: ModuleType) -> None:
    core = make(accel, protocols=(TLS,))
    assert core.receive_data(FLIGHT) == HEADER + encode_message("na")
    assert core.protocol is None


def test_data_after_refusal(accel: ModuleType) -> None:
    core = make(accel, protocols=(TLS,))
    with pytest.raises(DataAfterRefusalError):
        core.receive_data(FLIGHT + Dialer().msg1())
    assert core.data_to_send() == HEADER + encode_message("na")
    with pytest.raises(NoiseStateError):
        core.receive_data(b"")


def test_muxer_choice(accel: ModuleType) -> None:
    core = make(accel)
    handshake(core, Dialer(muxers=(MPLEX, YAMUX)))
    assert core.selected_muxer == MPLEX
    core = make(accel)
    handshake(core, Dialer(muxers=()))
    assert core.selected_muxer is None and core.remote_muxers == ()
    core = make(accel)
    with pytest.raises(MuxerNegotiationError):
        handshake(core, Dialer(muxers=("/other-muxer/1",)))


def test_other_key_types(accel: ModuleType) -> None:
    key = generate_key_pair(KeyType.Secp256k1)
    core = make(accel)
    handshake(core, Dialer(identity=key))
    assert core.remote_peer_id == PeerId.from_public_key(key.public_key)


def test_wrong_key_payloads(accel: ModuleType) -> None:
    other = StaticKey()
    # signed over another static key than the one this handshake delivered
    core = make(accel)
    with pytest.raises(InvalidHandshakeSignatureError):
        handshake(core, Dialer(payload=lambda _s: _make_payload(DIALER, other.public, (YAMUX,))))
    # the same with a key type on the general path
    key = generate_key_pair(KeyType.Secp256k1)
    core = make(accel)
    with pytest.raises(InvalidHandshakeSignatureError):
        handshake(core, Dialer(payload=lambda _s: _make_payload(key, other.public, (YAMUX,))))
    # no identity at all
    core = make(accel)
    with pytest.raises(InvalidHandshakePayloadError):
        handshake(core, Dialer(payload=lambda _s: b""))
    with pytest.raises(NoiseStateError):
        core.receive_data(b"")


def test_tampered_message_3(accel: ModuleType) -> None:
    core = make(accel)
    d = Dialer()
    out = core.receive_data(FLIGHT + d.msg1())
    d.read2(out[len(FLIGHT):])
    msg3 = bytearray(d.msg3())
    msg3[-1] ^= 1
    with pytest.raises(HandshakeDecryptError):
        core.receive_data(bytes(msg3))


BAD_INPUTS: list[tuple[bytes, type[Exception]]] = [
    (b"\x13/multistream/2.0.0\n", IncorrectVersionError),
    (b"\x03abc", MissingNewlineError),
    (b"GET / HTTP/1.1\r\n" + b"x" * 80, MissingNewlineError),
    (b"\x00", EmptyMessageError),
    (HEADER + b"\x01\n", EmptyMessageError),
    (b"\x81\x08" + b"x" * 10, MessageTooLargeError),
    (b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", MessageDecodeError),
    (b"\x80\x00", MessageDecodeError),
    (HEADER + b"\x03\xff\xfe\n", MessageDecodeError),
    (HEADER + encode_message("/x") * 65, TooManyRoundsError),
    (FLIGHT + b"\xff\xff", NoiseFrameTooLargeError),
    (FLIGHT + u16(b"short"), InvalidHandshakeMessageError),
]


@pytest.mark.parametrize(("data", "error"), BAD_INPUTS)
def test_bad_input(accel: ModuleType, data: bytes, error: type[Exception]) -> None:
    core = make(accel, max_message=1000)
    with pytest.raises(error):
        core.receive_data(data)
    with pytest.raises(NoiseStateError):
        core.receive_data(b"")


def test_message_3_too_short(accel: ModuleType) -> None:
    core = make(accel)
    d = Dialer()
    core.receive_data(FLIGHT + d.msg1())
    with pytest.raises(InvalidHandshakeMessageError):
        core.receive_data(u16(b"x" * 63))


def test_truncated_inputs_wait(accel: ModuleType) -> None:
    d = Dialer()
    whole = FLIGHT + d.msg1()
    for cut in range(len(whole)):
        core = make(accel)
        core.receive_data(whole[:cut])
        assert not core.complete
        assert core.protocol in (None, NOISE)


def test_construction_checks(accel: ModuleType) -> None:
    from libp2p.errors import InvalidArgumentError, LocalProtocolError

    with pytest.raises(InvalidArgumentError):
        make(accel, max_message=95)
    with pytest.raises(LocalProtocolError):
        accel.InboundHandshake((NOISE,), b"short", STATIC.public, b"", (YAMUX,))
    with pytest.raises(LocalProtocolError):
        accel.InboundHandshake(("bad\nid",), STATIC.private, STATIC.public, b"", (YAMUX,))


# --- side by side ----------------------------------------------------------------------------


def _outcome(core: Any, chunks: list[bytes]) -> tuple[Any, ...]:
    outs = []
    try:
        for chunk in chunks:
            outs.append(core.receive_data(chunk))
    except Exception as exc:  # noqa: BLE001 - compared by type
        return ("error", type(exc), core.data_to_send())
    return ("ok", tuple(outs), core.protocol, core.complete, core.refused)


@needs_native
@pytest.mark.parametrize(("data", "error"), BAD_INPUTS)
def test_twins_agree_on_bad_input(data: bytes, error: type[Exception]) -> None:
    a = _outcome(make(_pure, max_message=1000), [data])
    b = _outcome(make(_native, max_message=1000), [data])
    assert a == b and a[1] is error


@needs_native
def test_twins_agree_on_valid_handshakes() -> None:
    for muxers in [(YAMUX,), (MPLEX, YAMUX), ()]:
        results = []
        for twin in (_pure, _native):
            core = make(twin)
            d = Dialer(muxers=muxers)
            handshake(core, d)
            results.append((core.protocol, core.complete, core.remote_peer_id, core.remote_public_key,
                            core.remote_static_key == d.static.public, core.remote_muxers, core.selected_muxer,
                            core.handshake_hash == d.hs.handshake_hash))
        assert results[0] == results[1]


negotiation_message = st.sampled_from([
    encode_message(NOISE), encode_message(TLS), encode_message("ls"), encode_message("na"),
    encode_message("/other"), b"\x05/x\n", b"\x02\n\n", b"\x00", b"\xff\x01",
])


@needs_native
@settings(max_examples=300, deadline=None)
@given(
    with_header=st.booleans(),
    messages=st.lists(negotiation_message, max_size=6),
    tail=st.binary(max_size=80),
    step=st.integers(min_value=1, max_value=40),
)
def test_twins_agree_on_random_negotiations(with_header: bool, messages: list[bytes], tail: bytes,
                                            step: int) -> None:
    data = (HEADER if with_header else b"") + b"".join(messages) + tail
    chunks = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
    a = _outcome(make(_pure, protocols=(NOISE, TLS)), chunks)
    b = _outcome(make(_native, protocols=(NOISE, TLS)), chunks)
    if a[0] == "ok" and a[2] == NOISE:
        # the answers hold message 2, made with each core's own ephemeral key
        assert a[2:] == b[2:] and len(b"".join(a[1])) == len(b"".join(b[1]))
    else:
        assert a == b


@needs_native
@pytest.mark.parametrize("split", [None, 1, 5])
def test_twins_answer_the_same_bytes(split: int | None) -> None:
    """With the same ephemeral key, the same dialer messages: byte-identical answers and results."""
    cores = [make(twin, ephemeral=bytes(range(100, 132))) for twin in (_pure, _native)]
    d = Dialer()
    first = FLIGHT + d.msg1()
    outs = [feed(core, first, split) for core in cores]
    assert outs[0] == outs[1]
    d.read2(outs[0][len(FLIGHT):])
    msg3 = d.msg3()
    k1, k2 = d.hs.split()
    tail = _native.NoiseEncryptor(k1).encrypt(b"after message 3")
    assert [feed(core, msg3 + tail, split) for core in cores] == [b"", b""]
    results = [(c.protocol, c.complete, c.remote_peer_id, c.remote_public_key, c.remote_static_key, c.remote_muxers,
                c.selected_muxer, c.handshake_hash) for c in cores]
    assert results[0] == results[1] and results[0][-1] == d.hs.handshake_hash
    pairs = [core.transport() for core in cores]
    assert pairs[0][0].encrypt(b"ours") == pairs[1][0].encrypt(b"ours")
    assert pairs[0][1].decrypt_available() == pairs[1][1].decrypt_available() == [b"after message 3"]


def test_ephemeral_key_is_checked(accel: ModuleType) -> None:
    from libp2p.errors import LocalProtocolError

    with pytest.raises(LocalProtocolError):
        make(accel, ephemeral=b"short")
