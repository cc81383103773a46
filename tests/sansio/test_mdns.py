"""The mDNS discovery core and its DNS codec, pumped in memory."""

from __future__ import annotations

import struct

import pytest

from libp2p.discovery.mdns.core import SERVICE_NAME, MdnsCore
from libp2p.discovery.mdns.events import PeerDiscovered
from libp2p.discovery.mdns.wire import (
    MAX_MESSAGE,
    TYPE_A,
    TYPE_AAAA,
    TYPE_PTR,
    TYPE_SRV,
    TYPE_TXT,
    Message,
    Question,
    Record,
    decode_message,
    encode_message,
    encode_name,
)
from libp2p.errors import DecodeError
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr


def _peer() -> PeerId:
    return PeerId.from_public_key(generate_key_pair().public_key)


def _core(addrs: list[str]) -> MdnsCore:
    return MdnsCore(_peer(), lambda: [Multiaddr(a) for a in addrs])


def test_message_round_trip() -> None:
    m = Message(
        id=0, response=True,
        answers=(Record(SERVICE_NAME, TYPE_PTR, 120, "abc." + SERVICE_NAME),),
        additionals=(Record("abc." + SERVICE_NAME, TYPE_TXT, 120, (b"dnsaddr=/ip4/1.2.3.4/tcp/1", b"x"), True),
                     Record("abc.local", TYPE_A, 120, b"\x01\x02\x03\x04")),
    )
    assert decode_message(encode_message(m)) == m


def test_two_cores_find_each_other_and_ignore_themselves() -> None:
    a = _core(["/ip4/192.0.2.1/tcp/4001", "/ip4/192.0.2.1/tcp/4002/ws"])
    b = _core(["/ip4/192.0.2.2/tcp/4001"])
    a.start(0.0)
    b.start(0.0)
    # everything either sends reaches both (multicast loops back to the sender too)
    for _ in range(3):
        out = a.datagrams_to_send() + b.datagrams_to_send()
        for datagram in out:
            a.receive_datagram(datagram)
            b.receive_datagram(datagram)
    found_by_a = a.next_event()
    found_by_b = b.next_event()
    assert isinstance(found_by_a, PeerDiscovered) and found_by_a.peer_id == b.peer_id
    assert [str(x) for x in found_by_a.addrs] == [f"/ip4/192.0.2.2/tcp/4001/p2p/{b.peer_id}"]
    assert isinstance(found_by_b, PeerDiscovered) and found_by_b.peer_id == a.peer_id
    assert len(found_by_b.addrs) == 2
    assert a.dropped == 0 and b.dropped == 0


def test_answers_its_own_query_with_ptr_and_txt() -> None:
    a = _core(["/ip4/192.0.2.1/tcp/4001"])
    a.start(0.0)
    (query,) = a.datagrams_to_send()
    a.receive_datagram(query)
    (reply,) = a.datagrams_to_send()
    m = decode_message(reply)
    assert m.response and m.answers[0].type == TYPE_PTR and m.answers[0].data == a.peer_name
    assert m.additionals[0].data == (f"dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/{a.peer_id}".encode(),)
    label = a.peer_name.split(".")[0]
    assert 32 <= len(label) < 64 and label != str(a.peer_id)


def test_response_carries_srv_and_address_records_for_go_libp2p() -> None:
    # go-libp2p's zeroconf browser reports an instance only with an SRV target and its A/AAAA record
    a = _core(["/ip4/192.0.2.1/tcp/4001", "/ip4/192.0.2.1/tcp/4002/ws", "/ip6/2001:db8::1/tcp/4001",
               "/dns4/example.com/tcp/4001"])
    a.start(0.0)
    (query,) = a.datagrams_to_send()
    a.receive_datagram(query)
    (reply,) = a.datagrams_to_send()
    m = decode_message(reply)
    label = a.peer_name.split(".")[0]
    (srv,) = [r for r in m.additionals if r.type == TYPE_SRV]
    assert srv.name == a.peer_name
    assert isinstance(srv.data, bytes) and struct.unpack("!HHH", srv.data[:6]) == (0, 0, 4001)
    assert srv.data[6:] == encode_name(f"{label}.local")  # the target host
    addrs = [(r.type, r.name, r.data) for r in m.additionals if r.type in (TYPE_A, TYPE_AAAA)]
    assert addrs == [(TYPE_A, f"{label}.local", bytes([192, 0, 2, 1])),
                     (TYPE_AAAA, f"{label}.local", bytes.fromhex("20010db8" + "0" * 23 + "1"))]
    # and another core still finds exactly the dnsaddr addresses in it
    b = _core([])
    b.receive_datagram(reply)
    found = b.next_event()
    assert isinstance(found, PeerDiscovered) and found.peer_id == a.peer_id and len(found.addrs) == 4
    assert b.dropped == 0


def test_queries_again_after_the_interval() -> None:
    a = _core(["/ip4/192.0.2.1/tcp/4001"])
    a.start(100.0)
    a.datagrams_to_send()
    timer = a.get_timer()
    assert timer is not None and timer > 100.0
    a.handle_timer(timer - 0.001)
    assert a.datagrams_to_send() == []
    a.handle_timer(timer)
    assert len(a.datagrams_to_send()) == 1


def test_txt_strings_that_are_not_dnsaddr_or_too_long_are_skipped() -> None:
    long_addr = "/dns4/" + "a" * 250 + ".example/tcp/1"
    a = _core(["/ip4/192.0.2.1/tcp/4001", long_addr])
    a.receive_datagram(encode_message(Message(questions=(Question(SERVICE_NAME, TYPE_PTR),))))
    (reply,) = a.datagrams_to_send()
    strings = decode_message(reply).additionals[0].data
    assert isinstance(strings, tuple) and len(strings) == 1


def _response(peer_name: str, strings: tuple[bytes, ...]) -> bytes:
    return encode_message(Message(response=True, answers=(Record(SERVICE_NAME, TYPE_PTR, 120, peer_name),),
                                  additionals=(Record(peer_name, TYPE_TXT, 120, strings),)))


def test_bogus_records_are_ignored() -> None:
    a = _core(["/ip4/192.0.2.1/tcp/4001"])
    other = _peer()
    name = "x" * 32 + "." + SERVICE_NAME
    a.receive_datagram(_response(name, (
        b"dnsaddr=not a multiaddr",
        b"dnsaddr=/ip4/192.0.2.9/tcp/1",  # no /p2p/
        b"hello=world",
        f"dnsaddr=/ip4/192.0.2.1/tcp/1/p2p/{a.peer_id}".encode(),  # ourselves
        f"dnsaddr=/ip4/192.0.2.7/tcp/1/p2p/{other}".encode(),
        b"dnsaddr=\xff\xfe",
    )))
    event = a.next_event()
    assert event is not None and event.peer_id == other and len(event.addrs) == 1
    assert a.next_event() is None


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x00" * 11,  # shorter than a header
        struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\xc0\x0c",  # a pointer to itself
        struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\x05abc",  # label past the end
        struct.pack("!HHHHHH", 0, 0x8400, 0, 60000, 0, 0),  # claims 60000 records
        struct.pack("!HHHHHH", 0, 0x8400, 0, 1, 0, 0) + b"\x00" + struct.pack("!HHIH", TYPE_TXT, 1, 1, 500),
        b"\x00" * (MAX_MESSAGE + 1),  # oversized
    ],
    ids=["empty", "short", "pointer-loop", "label-overrun", "record-count", "rdata-overrun", "oversized"],
)
def test_malformed_datagrams_are_dropped_not_raised(datagram: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_message(datagram)
    a = _core(["/ip4/192.0.2.1/tcp/4001"])
    a.receive_datagram(datagram)
    assert a.dropped == 1 and a.next_event() is None and a.datagrams_to_send() == []
