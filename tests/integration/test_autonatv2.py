"""AutoNAT v2 between our hosts on loopback (the server allows loopback here): the nonce-checked
dial-back, dial data before dialing an IP other than the requester's (127.0.0.2 reaches the same
client listening on 0.0.0.0), unreachable addresses, and the abuse cases: a requester that does
not pay the dial data is never dialed, private addresses are refused, unknown nonces are reset."""

from __future__ import annotations

import asyncio
import socket

import pytest

from libp2p.multiaddr import Multiaddr
from libp2p.muxer.connection import StreamResetError
from libp2p.node import new_host
from libp2p.protocols.autonatv2 import (
    DIAL_BACK_PROTOCOL,
    DIAL_REQUEST_PROTOCOL,
    AutonatV2Config,
    AutonatV2Service,
    DialStatus,
    ResponseStatus,
)
from libp2p.protocols.autonatv2.wire import (
    DialDataRequest,
    DialRequest,
    DialResponse,
    decode_message,
    encode_dial_back,
    encode_message,
    frame,
)
from libp2p.protocols.relay.service import read_message

TIMEOUT = 60.0


def service_of(host: object) -> AutonatV2Service:
    service = host.service(AutonatV2Service)  # type: ignore[attr-defined]
    assert service is not None
    return service


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_reachability_checks() -> None:
    server_config = AutonatV2Config(allow_loopback=True)
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[AutonatV2Service(server_config)]) as server, \
            new_host(listen_addrs=["/ip4/0.0.0.0/tcp/0"], services=[AutonatV2Service(AutonatV2Config(serve=False))]) as client:
        await client.connect(server.full_addrs()[0])
        port = client.listen_addrs[0].value_for_protocol("tcp")
        checker = service_of(client)
        # same IP as the request: no dial data; the dial-back carries our nonce
        result = await checker.check(server.peer_id, [Multiaddr(f"/ip4/127.0.0.1/tcp/{port}")])
        assert result.reachable is True and result.dial_status == DialStatus.OK
        assert service_of(server).stats.get("dial data bytes", 0) == 0
        # another IP: the server first asks for 30-100 kB of dial data, then dials
        result = await checker.check(server.peer_id, [Multiaddr("/ip4/10.9.9.9/tcp/1"),  # private: skipped
                                                      Multiaddr(f"/ip4/127.0.0.2/tcp/{port}")])
        assert result.reachable is True and str(result.addr) == f"/ip4/127.0.0.2/tcp/{port}"
        assert 30_000 <= service_of(server).stats["dial data bytes"] <= 100_000
        # nobody listens there: not reachable
        result = await checker.check(server.peer_id, [Multiaddr(f"/ip4/127.0.0.1/tcp/{closed_port()}")])
        assert result.reachable is False and result.dial_status == DialStatus.E_DIAL_ERROR
        # nothing the server may dial
        result = await checker.check(server.peer_id, [Multiaddr("/ip4/192.168.1.1/tcp/1")])
        assert result.reachable is None and result.status == ResponseStatus.E_DIAL_REFUSED


async def test_requester_that_does_not_pay_is_never_dialed() -> None:
    """Amplification: a request to dial another IP (a victim) is not dialed unless the requester
    sends the dial data; declining (or a short payment) ends the request without a dial."""
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"],
                     services=[AutonatV2Service(AutonatV2Config(allow_loopback=True))]) as server, \
            new_host() as attacker:
        await attacker.connect(server.full_addrs()[0])
        victim = Multiaddr("/ip4/127.0.0.9/tcp/9")
        stream = await attacker.new_stream(server.peer_id, [DIAL_REQUEST_PROTOCOL])
        await stream.write(frame(encode_message(DialRequest((victim,), 7))))
        asked = decode_message(await read_message(stream, 10))
        assert isinstance(asked, DialDataRequest) and 30_000 <= asked.num_bytes <= 100_000
        await stream.write(frame(encode_message(DialRequest((victim,), 8))))  # not dial data
        with pytest.raises((StreamResetError, EOFError)):
            decode_message(await read_message(stream, 10))
        stats = service_of(server).stats
        assert stats.get("dials", 0) == 0 and stats["declined"] == 1
        # a malformed request is reset, and a dial-back with a nonce nobody sent is too
        bad = await attacker.new_stream(server.peer_id, [DIAL_REQUEST_PROTOCOL])
        await bad.write(frame(b"\xff\xff\xff"))
        with pytest.raises((StreamResetError, EOFError)):
            await read_message(bad, 10)
        assert service_of(server).stats.get("dials", 0) == 0


async def test_dial_back_with_an_unknown_nonce_is_reset() -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"],
                     services=[AutonatV2Service(AutonatV2Config(serve=False))]) as client, new_host() as other:
        await other.connect(client.full_addrs()[0])
        stream = await other.new_stream(client.peer_id, [DIAL_BACK_PROTOCOL])
        await stream.write(frame(encode_dial_back(12345)))
        with pytest.raises((StreamResetError, EOFError)):
            await read_message(stream, 10)


def test_response_shape() -> None:
    assert DialResponse(200, 1, 200) == decode_message(encode_message(DialResponse(200, 1, 200)))
