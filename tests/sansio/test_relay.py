"""Circuit relay v2's sans-IO pieces: wire format, the one-message reader, the relay's
reservation and circuit bookkeeping, data budgets, and the client's check of a reservation
(voucher verified before use)."""

from __future__ import annotations

import pytest

from libp2p._accel import varint_encode
from libp2p.errors import DecodeError
from libp2p.identity.envelope import SignedEnvelope
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.pb import circuit_pb2, voucher_pb2
from libp2p.protocols.relay.core import (
    DataBudget,
    HopState,
    MessageReader,
    RelayConfig,
    accept_reservation,
    hop_status,
    relayed_addrs,
    stop_status,
)
from libp2p.protocols.relay.wire import (
    MAX_MESSAGE_SIZE,
    VOUCHER_DOMAIN,
    VOUCHER_PAYLOAD_TYPE,
    HopMessage,
    HopType,
    Limit,
    PeerInfoMessage,
    RelayDecodeError,
    RelayStatusError,
    ReservationInfo,
    Status,
    StopMessage,
    StopType,
    VoucherError,
    decode_hop,
    decode_stop,
    encode_hop,
    encode_stop,
    frame,
    open_voucher,
    seal_voucher,
)
from libp2p.transport.circuit import CircuitTransport, split_circuit_addr

RELAY_KEY = generate_key_pair()
RELAY = PeerId.from_public_key(RELAY_KEY.public_key)
A = PeerId.from_public_key(generate_key_pair().public_key)
B = PeerId.from_public_key(generate_key_pair().public_key)
NOW = 1_800_000_000.0


# --- wire ---------------------------------------------------------------------------------------


def test_hop_and_stop_round_trip() -> None:
    rsvp = ReservationInfo(expire=123, addrs=(Multiaddr(f"/ip4/1.2.3.4/tcp/4001/p2p/{RELAY}"),), voucher=b"v")
    msg = HopMessage(HopType.STATUS, peer=PeerInfoMessage(A, (Multiaddr("/ip4/5.6.7.8/tcp/1"),)),
                     reservation=rsvp, limit=Limit(120, 1 << 17), status=int(Status.OK))
    assert decode_hop(encode_hop(msg)) == msg
    stop = StopMessage(StopType.CONNECT, peer=PeerInfoMessage(B), limit=Limit(0, 0))
    assert decode_stop(encode_stop(stop)) == stop
    # a RESERVE is the two bytes of its type (proto3 explicit optional: zero is still sent)
    assert encode_hop(HopMessage(HopType.RESERVE)) == b"\x08\x00"
    # absent limit stays absent (an unlimited circuit is not a limited connection)
    assert decode_hop(encode_hop(HopMessage(HopType.STATUS, status=100))).limit is None


def test_field_numbers_match_the_spec() -> None:
    # HopMessage{type=1 CONNECT, peer=2{id=1}, limit=4{duration=1,data=2}, status=5}
    raw = circuit_pb2.HopMessage(type=circuit_pb2.HopMessage.CONNECT, status=circuit_pb2.OK)
    raw.limit.duration = 7
    assert raw.SerializeToString() == bytes([0x08, 0x01, 0x22, 0x02, 0x08, 0x07, 0x28, 100])
    assert voucher_pb2.ReservationVoucher(expiration=5).SerializeToString() == b"\x18\x05"


@pytest.mark.parametrize(
    "body",
    [
        b"",  # no type
        b"\x08\x09",  # unknown type
        b"\x08\x01\x12\x02\x0a\x00",  # CONNECT with an empty peer id
        b"\x08\x01\x12\x00",  # CONNECT peer without id
        b"\xff\xff",  # not protobuf
        b"\x08\x00" + b"\x12\x80\x20" + b"\x00" * 4096,  # over the 4 KiB limit
    ],
)
def test_malformed_hop_raises_a_decode_error(body: bytes) -> None:
    with pytest.raises(RelayDecodeError) as exc:
        decode_hop(body)
    assert isinstance(exc.value, DecodeError)


def test_bad_addresses_are_skipped_and_bounded() -> None:
    raw = circuit_pb2.HopMessage(type=circuit_pb2.HopMessage.STATUS)
    raw.reservation.expire = 1
    raw.reservation.addrs.extend([b"\xff\xff"] + [bytes(Multiaddr("/ip4/1.1.1.1/tcp/1"))] * 100)
    msg = decode_hop(raw.SerializeToString())
    assert msg.reservation is not None and len(msg.reservation.addrs) == 31


def test_status_error_names_the_status() -> None:
    assert "RESOURCE_LIMIT_EXCEEDED" in str(RelayStatusError(201, "x"))
    assert RelayStatusError(201, "x").code == 201
    assert "unknown status 7" in str(RelayStatusError(7, "x"))


# --- the message reader -------------------------------------------------------------------------


def test_reader_takes_one_message_and_keeps_what_follows() -> None:
    body = encode_hop(HopMessage(HopType.STATUS, status=100))
    reader = MessageReader()
    wire = frame(body) + b"noise handshake bytes"
    for i, byte in enumerate(wire[: len(body)]):
        assert not reader.receive_data(bytes([byte]))
        assert reader.wanted() >= 1
    assert reader.receive_data(wire[len(body) :])
    assert reader.message == body and reader.leftover == b"noise handshake bytes"


def test_reader_refuses_oversized_lengths_before_buffering() -> None:
    reader = MessageReader()
    with pytest.raises(RelayDecodeError):
        reader.receive_data(varint_encode(MAX_MESSAGE_SIZE + 1))
    reader = MessageReader()
    with pytest.raises(RelayDecodeError):
        reader.receive_data(b"\xff\xff\xff")  # a 3-byte prefix is beyond 4 KiB already
    reader = MessageReader()
    with pytest.raises(RelayDecodeError):
        reader.receive_data(b"\x80\x00")  # non-minimal varint
    reader = MessageReader()
    assert not reader.receive_data(b"\x80")  # incomplete, fine for now
    assert reader.wanted() == 1


def test_status_frames() -> None:
    assert decode_hop(MessageReader_read(hop_status(Status.NO_RESERVATION))).status == 204
    assert decode_stop(MessageReader_read(stop_status(Status.OK))).status == 100


def MessageReader_read(data: bytes) -> bytes:  # noqa: N802 - helper named for what it wraps
    reader = MessageReader()
    assert reader.receive_data(data)
    assert reader.message is not None
    return reader.message


# --- the relay's bookkeeping --------------------------------------------------------------------


def test_reservations_refresh_expire_and_count() -> None:
    state = HopState(RelayConfig(max_reservations=2, max_reservations_per_ip=2, reservation_ttl=60))
    status, rsvp, refreshed = state.reserve(A, "10.0.0.1", NOW)
    assert status == Status.OK and rsvp is not None and rsvp.expire == int(NOW) + 60 and not refreshed
    status, rsvp, refreshed = state.reserve(A, "10.0.0.1", NOW + 10)
    assert status == Status.OK and refreshed and rsvp is not None and rsvp.expire == int(NOW) + 70
    assert state.reservations == 1
    C = PeerId.from_public_key(generate_key_pair().public_key)
    assert state.reserve(B, "10.0.0.2", NOW)[0] == Status.OK
    assert state.reserve(C, "10.0.0.3", NOW)[0] == Status.RESOURCE_LIMIT_EXCEEDED
    assert state.refused["reservations"] == 1
    # expiry frees the slot
    assert state.reservation(B, NOW + 61) is None
    assert state.reserve(C, "10.0.0.3", NOW + 61)[0] == Status.OK


def test_reservations_per_ip() -> None:
    state = HopState(RelayConfig(max_reservations_per_ip=1))
    assert state.reserve(A, "10.0.0.1", NOW)[0] == Status.OK
    assert state.reserve(B, "10.0.0.1", NOW)[0] == Status.RESOURCE_LIMIT_EXCEEDED
    assert state.refused["reservations per ip"] == 1
    state.remove(A)
    assert state.reserve(B, "10.0.0.1", NOW)[0] == Status.OK
    # a peer that moves is counted at its new address only
    assert state.reserve(B, "10.0.0.2", NOW)[0] == Status.OK
    assert state.reserve(A, "10.0.0.1", NOW)[0] == Status.OK


def test_circuits_need_a_reservation_and_respect_limits() -> None:
    state = HopState(RelayConfig(max_circuits_per_peer=2, max_circuits=3))
    assert state.open_circuit(B, A, NOW) == Status.NO_RESERVATION
    state.reserve(A, None, NOW)
    assert state.open_circuit(B, A, NOW) == Status.OK
    assert state.open_circuit(B, A, NOW) == Status.OK
    assert state.open_circuit(B, A, NOW) == Status.RESOURCE_LIMIT_EXCEEDED
    assert state.refused["circuits per peer"] == 1 and state.circuits_of(A) == 2
    state.close_circuit(B, A)
    assert state.circuits_of(A) == 1 and state.circuits == 1
    state.close_circuit(B, A)
    assert state.circuits == 0 and state.circuits_of(B) == 0
    # the total
    peers = [PeerId.from_public_key(generate_key_pair().public_key) for _ in range(4)]
    for p in peers:
        state.reserve(p, None, NOW)
    assert [state.open_circuit(B, p, NOW) for p in peers[:2]] == [Status.OK, Status.OK]
    assert state.open_circuit(A, peers[2], NOW) == Status.OK
    assert state.open_circuit(A, peers[3], NOW) == Status.RESOURCE_LIMIT_EXCEEDED
    assert state.refused["circuits"] == 1


def test_data_budget() -> None:
    budget = DataBudget(10)
    assert budget.take(4) == 4 and not budget.exhausted
    assert budget.take(100) == 6 and budget.exhausted and budget.carried == 10
    unlimited = DataBudget(0)
    assert unlimited.take(1 << 30) == 1 << 30 and not unlimited.exhausted


# --- the client's check of a reservation ---------------------------------------------------------


def _answer(voucher: bytes | None, expire: int = int(NOW) + 3600, status: int = 100) -> HopMessage:
    addrs = (Multiaddr(f"/ip4/1.2.3.4/tcp/4001/p2p/{RELAY}"), Multiaddr("/ip4/1.2.3.4/udp/1/quic-v1"),
             Multiaddr(f"/ip4/9.9.9.9/tcp/1/p2p/{B}"), Multiaddr(f"/p2p/{RELAY}/p2p-circuit"))
    return HopMessage(HopType.STATUS, reservation=ReservationInfo(expire, addrs, voucher), status=status)


def test_accepted_reservation_with_a_valid_voucher() -> None:
    expire = int(NOW) + 3600
    r = accept_reservation(_answer(seal_voucher(RELAY_KEY, A, expire)), relay=RELAY, me=A, now=NOW)
    assert r.voucher is not None and r.voucher.relay == RELAY and r.voucher.peer == A
    assert r.voucher.expiration == expire
    # addresses of the relay only, each with /p2p/<relay>; circuits and other peers dropped
    assert [str(a) for a in r.addrs] == [f"/ip4/1.2.3.4/tcp/4001/p2p/{RELAY}", f"/ip4/1.2.3.4/udp/1/quic-v1/p2p/{RELAY}"]
    assert str(relayed_addrs(r)[0]) == f"/ip4/1.2.3.4/tcp/4001/p2p/{RELAY}/p2p-circuit"


def test_voucher_signed_by_someone_else_is_rejected() -> None:
    other = generate_key_pair()
    forged = seal_voucher(other, A, int(NOW) + 3600)  # names the signer as relay
    with pytest.raises(VoucherError, match="not signed by the relay"):
        accept_reservation(_answer(forged), relay=RELAY, me=A, now=NOW)
    # someone else's key over a payload naming the real relay
    payload = voucher_pb2.ReservationVoucher(relay=RELAY.to_bytes(), peer=A.to_bytes(), expiration=int(NOW) + 3600)
    env = SignedEnvelope.seal(other, VOUCHER_DOMAIN, VOUCHER_PAYLOAD_TYPE, payload.SerializeToString()).marshal()
    with pytest.raises(VoucherError, match="not signed by the relay"):
        accept_reservation(_answer(env), relay=RELAY, me=A, now=NOW)


def test_voucher_for_another_peer_or_tampered_or_other_domain() -> None:
    expire = int(NOW) + 3600
    with pytest.raises(VoucherError, match="another relay or peer"):
        accept_reservation(_answer(seal_voucher(RELAY_KEY, B, expire)), relay=RELAY, me=A, now=NOW)
    good = bytearray(seal_voucher(RELAY_KEY, A, expire))
    good[-1] ^= 1  # the signature's last byte
    with pytest.raises(VoucherError, match="does not verify"):
        accept_reservation(_answer(bytes(good)), relay=RELAY, me=A, now=NOW)
    payload = voucher_pb2.ReservationVoucher(relay=RELAY.to_bytes(), peer=A.to_bytes(), expiration=expire)
    wrong_domain = SignedEnvelope.seal(RELAY_KEY, "libp2p-peer-record", VOUCHER_PAYLOAD_TYPE,
                                       payload.SerializeToString()).marshal()
    with pytest.raises(VoucherError):
        open_voucher(wrong_domain, relay=RELAY, peer=A)
    with pytest.raises(VoucherError, match="expiration"):
        accept_reservation(_answer(seal_voucher(RELAY_KEY, A, expire + 1), expire=expire), relay=RELAY, me=A, now=NOW)
    with pytest.raises(VoucherError):
        accept_reservation(_answer(b"\x00garbage"), relay=RELAY, me=A, now=NOW)


def test_refused_or_bogus_reservation_answers() -> None:
    with pytest.raises(RelayStatusError) as refused:
        accept_reservation(_answer(None, status=200), relay=RELAY, me=A, now=NOW)
    assert refused.value.status == Status.RESERVATION_REFUSED
    with pytest.raises(RelayDecodeError, match="expired"):
        accept_reservation(_answer(None, expire=int(NOW) - 1), relay=RELAY, me=A, now=NOW)
    with pytest.raises(RelayDecodeError):
        accept_reservation(HopMessage(HopType.STATUS, status=100), relay=RELAY, me=A, now=NOW)
    with pytest.raises(RelayDecodeError):
        accept_reservation(HopMessage(HopType.CONNECT), relay=RELAY, me=A, now=NOW)
    # without a voucher (advisory in the spec) the reservation stands
    assert accept_reservation(_answer(None), relay=RELAY, me=A, now=NOW).voucher is None


# --- circuit addresses ------------------------------------------------------------------------------


def test_circuit_addresses() -> None:
    relay_addr, target = split_circuit_addr(Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{RELAY}/p2p-circuit/p2p/{A}"))
    assert str(relay_addr) == f"/ip4/1.2.3.4/tcp/1/p2p/{RELAY}" and target == A
    transport = CircuitTransport()
    assert transport.can_dial(Multiaddr(f"/ip4/1.2.3.4/tcp/1/p2p/{RELAY}/p2p-circuit"))
    assert transport.can_dial(Multiaddr(f"/p2p/{RELAY}/p2p-circuit/p2p/{A}"))
    assert not transport.can_dial(Multiaddr("/ip4/1.2.3.4/tcp/1/p2p-circuit"))  # which relay?
    assert not transport.can_dial(Multiaddr(f"/p2p/{RELAY}/p2p-circuit/p2p/{A}/p2p-circuit/p2p/{B}"))  # two hops
    assert not transport.can_dial(Multiaddr("/ip4/1.2.3.4/tcp/1"))
    assert transport.can_listen(Multiaddr("/p2p-circuit")) and not transport.can_listen(Multiaddr("/ip4/1.2.3.4/tcp/1"))
