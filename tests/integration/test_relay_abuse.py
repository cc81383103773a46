"""Circuit relay v2 under bad input and abuse: reservation floods, circuits beyond the limits,
malformed and unexpected HOP/STOP messages, stalled requests, vouchers signed by someone else.
Each is refused with the spec's status code (or the stream reset), counted, and the relay goes
on serving others with bounded state."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest

from libp2p._accel import varint_encode
from libp2p.host.host import Host
from libp2p.host.service import Service
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import StreamResetError
from libp2p.node import new_host
from libp2p.protocols.ping.service import PingService
from libp2p.protocols.relay import (
    HOP_PROTOCOL_ID,
    STOP_PROTOCOL_ID,
    RelayClient,
    RelayConfig,
    RelayService,
    RelayStatusError,
    ReservationRefused,
    Status,
    VoucherError,
)
from libp2p.protocols.relay.core import hop_status
from libp2p.protocols.relay.service import read_message
from libp2p.protocols.relay.wire import (
    HopMessage,
    HopType,
    PeerInfoMessage,
    ReservationInfo,
    StopMessage,
    StopType,
    decode_hop,
    decode_stop,
    encode_hop,
    encode_stop,
    frame,
    seal_voucher,
)
from libp2p.transport.tcp import DialError

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TIMEOUT = 60.0


def client_of(host: Host) -> RelayClient:
    client = host.service(RelayClient)
    assert client is not None
    return client


def relay_of(host: Host) -> RelayService:
    service = host.service(RelayService)
    assert service is not None
    return service


async def hop_exchange(host: Host, relay: Host, data: bytes) -> int | None:
    """Send raw bytes on a HOP stream; the status the relay answers (None: it reset or closed)."""
    await host.connect(relay.full_addrs()[0])
    stream = await host.new_stream(relay.peer_id, [HOP_PROTOCOL_ID])
    await stream.write(data)
    try:
        return decode_hop(await read_message(stream, 10)).status
    except (EOFError, StreamResetError):  # reset or ended is an answer too (a timeout is not)
        return None


async def good_circuit_works(relay: Host) -> None:
    """A fresh A reserves, a fresh B pings it through the relay."""
    async with new_host(services=[RelayClient()]) as a, new_host(services=[RelayClient()]) as b:
        await client_of(a).reserve(relay.full_addrs()[0])
        addr = Multiaddr(f"{relay.full_addrs()[0]}/p2p-circuit/p2p/{a.peer_id}")
        await b.connect(addr)
        ping = b.service(PingService)
        assert ping is not None and len(await ping.ping(a.peer_id)) == 1


async def test_reservation_flood_is_bounded() -> None:
    config = RelayConfig(max_reservations=8, max_reservations_per_ip=64)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayService(config)]) as relay:
        refused: list[Any] = []
        relay.events.subscribe(ReservationRefused, refused.append)
        async with AsyncExitStack() as stack:
            flood = [await stack.enter_async_context(new_host(services=[RelayClient()])) for _ in range(20)]
            results = await asyncio.gather(
                *(client_of(h).reserve(relay.full_addrs()[0]) for h in flood), return_exceptions=True
            )
            ok = [r for r in results if not isinstance(r, BaseException)]
            errors = [r for r in results if isinstance(r, BaseException)]
            assert len(ok) == 8 and len(errors) == 12
            assert all(isinstance(e, RelayStatusError) and e.status == Status.RESOURCE_LIMIT_EXCEEDED for e in errors)
            assert len(refused) == 12 and relay_of(relay).state.refused["reservations"] == 12
            # one peer hammering RESERVE only refreshes its one reservation
            winner = next(h for h, r in zip(flood, results) if not isinstance(r, BaseException))
            for _ in range(50):
                await client_of(winner).reserve(relay.full_addrs()[0])
            assert relay_of(relay).state.reservations == 8
        # the flooders left: their reservations went with their connections
        async with asyncio.timeout(10):
            while relay_of(relay).state.reservations:
                await asyncio.sleep(0.01)
        await good_circuit_works(relay)


async def test_connect_flood_to_unreserved_and_beyond_circuit_limits() -> None:
    config = RelayConfig(limit=None, max_circuits=2, max_circuits_per_peer=16)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayService(config)]) as relay, \
            new_host(services=[RelayClient()]) as a, new_host(services=[RelayClient()]) as b:
        target = PeerId.from_public_key(generate_key_pair().public_key)
        # CONNECTs to a peer without reservation: NO_RESERVATION, every time
        for _ in range(20):
            body = encode_hop(HopMessage(HopType.CONNECT, peer=PeerInfoMessage(target)))
            assert await hop_exchange(b, relay, frame(body)) == Status.NO_RESERVATION
        assert relay_of(relay).state.refused["no reservation"] == 20
        await client_of(a).reserve(relay.full_addrs()[0])
        # circuits beyond the total are refused; the two admitted ones work
        addr = Multiaddr(f"{relay.full_addrs()[0]}/p2p-circuit/p2p/{a.peer_id}")
        async with new_host(services=[RelayClient()]) as c, new_host(services=[RelayClient()]) as d:
            await b.connect(addr)
            await c.connect(addr)
            with pytest.raises(DialError, match="RESOURCE_LIMIT_EXCEEDED"):
                await d.connect(addr)
            assert relay_of(relay).state.refused["circuits"] == 1 and relay_of(relay).state.circuits == 2
            for h in (b, c):
                ping = h.service(PingService)
                assert ping is not None and len(await ping.ping(a.peer_id)) == 1
            await c.disconnect(a.peer_id)
            async with asyncio.timeout(10):
                while relay_of(relay).state.circuits != 1:
                    await asyncio.sleep(0.01)
            await d.connect(addr)  # a slot came free


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (frame(b"\xff\xff\xff"), Status.MALFORMED_MESSAGE),  # not protobuf
        (frame(b""), Status.MALFORMED_MESSAGE),  # no type
        (frame(b"\x08\x07"), Status.MALFORMED_MESSAGE),  # unknown type
        (frame(b"\x08\x01"), Status.MALFORMED_MESSAGE),  # CONNECT without a peer
        (frame(b"\x08\x01\x12\x03\x0a\x01\x00"), Status.MALFORMED_MESSAGE),  # CONNECT to a bad peer id
        (varint_encode(1 << 20), Status.MALFORMED_MESSAGE),  # a 1 MiB length: refused before buffering
        (frame(encode_hop(HopMessage(HopType.STATUS, status=100))), Status.UNEXPECTED_MESSAGE),
    ],
)
async def test_malformed_and_unexpected_hop_requests(data: bytes, expected: Status) -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayService()]) as relay, \
            new_host() as attacker:
        assert await hop_exchange(attacker, relay, data) == expected
        await good_circuit_works(relay)


async def test_stalled_and_truncated_hop_requests_are_reset() -> None:
    config = RelayConfig(stream_timeout=0.5)
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayService(config)]) as relay, \
            new_host() as attacker:
        # nothing after negotiation: the relay gives up after its stream timeout and resets
        assert await hop_exchange(attacker, relay, b"") is None
        # half a message, then the end of the stream
        await attacker.connect(relay.full_addrs()[0])
        stream = await attacker.new_stream(relay.peer_id, [HOP_PROTOCOL_ID])
        await stream.write(b"\x10\x08")
        await stream.close()
        with pytest.raises((EOFError, StreamResetError)):
            await read_message(stream, 10)
        await good_circuit_works(relay)


async def test_malformed_stop_requests_are_refused() -> None:
    async with asyncio.timeout(TIMEOUT), new_host(listen_addrs=[LOOPBACK], services=[RelayClient()]) as a, \
            new_host() as attacker:
        await attacker.connect(a.full_addrs()[0])
        cases = [
            (frame(b"\xff\xff\xff"), Status.MALFORMED_MESSAGE),
            (frame(b"\x08\x00"), Status.MALFORMED_MESSAGE),  # CONNECT without the source peer
            (frame(encode_stop(StopMessage(StopType.STATUS, status=100))), Status.UNEXPECTED_MESSAGE),
            (varint_encode(1 << 16), Status.MALFORMED_MESSAGE),
        ]
        for data, expected in cases:
            stream = await attacker.new_stream(a.peer_id, [STOP_PROTOCOL_ID])
            await stream.write(data)
            assert decode_stop(await read_message(stream, 10)).status == expected
        assert not a.connections(attacker.peer_id)[0].is_closed
        # a well-formed STOP from a stranger becomes a connection that must still authenticate:
        # bytes that are not a security handshake end it, and A keeps serving
        stream = await attacker.new_stream(a.peer_id, [STOP_PROTOCOL_ID])
        await stream.write(frame(encode_stop(StopMessage(StopType.CONNECT, peer=PeerInfoMessage(attacker.peer_id)))))
        assert decode_stop(await read_message(stream, 10)).status == Status.OK
        await stream.write(b"not multistream at all\n" * 10)
        async with asyncio.timeout(20):  # a stream that never ends fails the test
            try:
                while await stream.read():
                    pass
            except StreamResetError:
                pass
        assert len(a.connections(attacker.peer_id)) == 1  # no relayed connection was added
        ping = attacker.service(PingService)
        assert ping is not None and len(await ping.ping(a.peer_id)) == 1


class ForgingRelay(Service):
    """A relay that answers RESERVE with a voucher signed by another key (or about another peer)."""

    name = "forging-relay"

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.set_stream_handler(HOP_PROTOCOL_ID, self._hop)

    async def _hop(self, stream: Any) -> None:
        await read_message(stream, 10)
        expire = 2_000_000_000
        if self.mode == "other signer":
            voucher = seal_voucher(generate_key_pair(), stream.remote_peer_id, expire)
        else:
            voucher = seal_voucher(self.host.key, self.host.peer_id, expire)  # names the relay as the peer
        addrs = tuple(a.encapsulate(f"/p2p/{self.host.peer_id}") for a in self.host.addrs)
        await stream.write(hop_status(Status.OK, reservation=ReservationInfo(expire, addrs, voucher)))


@pytest.mark.parametrize("mode", ["other signer", "other peer"])
async def test_voucher_signed_by_someone_else_is_refused(mode: str) -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[LOOPBACK], services=[ForgingRelay(mode)], default_services=False) as relay, \
            new_host(services=[RelayClient()]) as a:
        with pytest.raises(VoucherError):
            await client_of(a).reserve(relay.full_addrs()[0])
        assert client_of(a).reservations == {}
        assert not [x for x in a.addrs if "/p2p-circuit" in str(x)]
