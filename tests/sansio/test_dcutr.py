"""DCUtR's sans-IO cores and wire format: CONNECT/SYNC, the RTT/2 timer, address filtering,
malformed and out-of-order messages."""

from __future__ import annotations

import pytest

from libp2p.errors import DecodeError
from libp2p.multiaddr import Multiaddr
from libp2p.pb import holepunch_pb2
from libp2p.protocols.dcutr.core import HolePunchInitiator, HolePunchResponder, punchable, punchable_addrs
from libp2p.protocols.dcutr.events import DialNow
from libp2p.protocols.dcutr.wire import (
    MAX_MESSAGE_SIZE,
    DcutrDecodeError,
    HolePunch,
    HolePunchType,
    decode_holepunch,
    encode_holepunch,
)
from libp2p.protocols.relay.core import MessageReader

B_ADDRS = (Multiaddr("/ip4/198.18.0.1/tcp/4001"),)
A_ADDRS = (Multiaddr("/ip4/198.18.0.2/tcp/4001"), Multiaddr("/ip4/10.2.0.2/tcp/4001"))


def messages(data: bytes) -> list[HolePunch]:
    out = []
    while data:
        reader = MessageReader(MAX_MESSAGE_SIZE)
        assert reader.receive_data(data)
        assert reader.message is not None
        out.append(decode_holepunch(reader.message))
        data = reader.leftover
    return out


def test_wire_round_trip_and_field_numbers() -> None:
    msg = HolePunch(HolePunchType.CONNECT, A_ADDRS)
    assert decode_holepunch(encode_holepunch(msg)) == msg
    assert encode_holepunch(HolePunch(HolePunchType.SYNC)) == b"\x08\xac\x02"  # type=300
    assert holepunch_pb2.HolePunch.CONNECT == 100


@pytest.mark.parametrize("body", [b"", b"\x08\x07", b"\xff\xff", b"\x08\x64" + b"\x12\x80\x20" + b"\x00" * 4096])
def test_malformed_messages(body: bytes) -> None:
    with pytest.raises(DcutrDecodeError) as exc:
        decode_holepunch(body)
    assert isinstance(exc.value, DecodeError)


def test_exchange_and_rtt_half_timer() -> None:
    initiator = HolePunchInitiator(B_ADDRS)
    responder = HolePunchResponder(A_ADDRS)
    initiator.start(now=10.0)
    (connect,) = messages(initiator.data_to_send())
    assert connect == HolePunch(HolePunchType.CONNECT, B_ADDRS)
    responder.receive_message(connect, now=10.05)
    (answer,) = messages(responder.data_to_send())
    assert answer.type == HolePunchType.CONNECT and answer.addrs == A_ADDRS
    initiator.receive_message(answer, now=10.1)
    assert initiator.rtt == pytest.approx(0.1)
    (sync,) = messages(initiator.data_to_send())
    assert sync.type == HolePunchType.SYNC
    assert initiator.get_timer() == pytest.approx(10.15)
    initiator.handle_timer(10.12)
    assert initiator.next_event() is None  # not yet
    responder.receive_message(sync, now=10.15)
    assert responder.next_event() == DialNow(B_ADDRS)
    initiator.handle_timer(10.15)
    event = initiator.next_event()
    assert isinstance(event, DialNow) and event.addrs == A_ADDRS and initiator.get_timer() is None


def test_bogus_addresses_are_not_dialed() -> None:
    bogus = (Multiaddr("/ip4/127.0.0.1/tcp/1"), Multiaddr("/ip4/0.0.0.0/tcp/1"), Multiaddr("/ip6/::1/tcp/1"),
             Multiaddr("/ip4/224.0.0.1/tcp/1"), Multiaddr("/ip6/fe80::1/tcp/1"), Multiaddr("/dns4/example.com/tcp/1"),
             Multiaddr("/ip4/1.2.3.4/udp/1/quic-v1"),
             Multiaddr("/ip4/1.2.3.4/tcp/1/p2p/12D3KooWAPZMuJm1Q3sAUezGd9EfM4mWr8A3vko9bxBmm1WNn5J1/p2p-circuit"))
    assert not any(punchable(a) for a in bogus)
    assert punchable_addrs(bogus + (Multiaddr("/ip4/1.2.3.4/tcp/1/p2p/12D3KooWAPZMuJm1Q3sAUezGd9EfM4mWr8A3vko9bxBmm1WNn5J1"),)) == (
        Multiaddr("/ip4/1.2.3.4/tcp/1"),)
    # a responder that offers nothing punchable ends the attempt
    initiator = HolePunchInitiator(B_ADDRS)
    initiator.start(0.0)
    with pytest.raises(DcutrDecodeError, match="no address"):
        initiator.receive_message(HolePunch(HolePunchType.CONNECT, bogus), 0.1)
    # an initiator with only bogus addresses gets no dial from the responder
    responder = HolePunchResponder(A_ADDRS)
    responder.receive_message(HolePunch(HolePunchType.CONNECT, bogus), 0.0)
    responder.receive_message(HolePunch(HolePunchType.SYNC), 0.1)
    assert responder.next_event() is None
    # and the addresses kept from one message are bounded
    many = tuple(Multiaddr(f"/ip4/1.2.3.{i}/tcp/1") for i in range(100))
    assert len(punchable_addrs(many)) == 32


def test_out_of_order_messages() -> None:
    responder = HolePunchResponder(A_ADDRS)
    with pytest.raises(DcutrDecodeError):
        responder.receive_message(HolePunch(HolePunchType.SYNC), 0.0)
    responder = HolePunchResponder(A_ADDRS)
    responder.receive_message(HolePunch(HolePunchType.CONNECT, B_ADDRS), 0.0)
    with pytest.raises(DcutrDecodeError):
        responder.receive_message(HolePunch(HolePunchType.CONNECT, B_ADDRS), 0.0)
    initiator = HolePunchInitiator(B_ADDRS)
    with pytest.raises(DcutrDecodeError):
        initiator.receive_message(HolePunch(HolePunchType.CONNECT, A_ADDRS), 0.0)  # before start
    initiator.start(0.0)
    with pytest.raises(DcutrDecodeError):
        initiator.receive_message(HolePunch(HolePunchType.SYNC), 0.0)
