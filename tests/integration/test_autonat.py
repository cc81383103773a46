"""AutoNAT v1 between our hosts on loopback: abuse is refused with the spec's status codes (a
request for another peer, a malformed request, a requester whose address is loopback, i.e.
private), and the server goes on answering. (Dial-backs that succeed or fail are shown in the
namespace testbed, tests/netns, where the addresses are not loopback.)"""

from __future__ import annotations

import asyncio

from libp2p._accel import varint_encode
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.protocols.autonat import AutonatConfig, AutonatProbed, AutonatService, ResponseStatus
from libp2p.protocols.autonat.wire import DialRequest, decode_response, encode_dial, frame
from libp2p.protocols.relay.service import read_message

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
TIMEOUT = 30.0


async def test_abusive_requests_are_refused_and_the_server_keeps_serving() -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[LOOPBACK], services=[AutonatService(AutonatConfig(probe=False))]) as server, \
            new_host(listen_addrs=[LOOPBACK]) as client:
        await client.connect(server.full_addrs()[0])
        from libp2p.protocols.autonat import PROTOCOL_ID

        async def ask(data: bytes) -> int:
            stream = await client.new_stream(server.peer_id, [PROTOCOL_ID])
            await stream.write(data)
            return decode_response(await read_message(stream, 10)).status

        third = PeerId.from_public_key(generate_key_pair().public_key)
        # dial a third party (another peer ID, a public address that is not ours)
        request = DialRequest(third, (Multiaddr("/ip4/198.51.100.7/tcp/4001"),))
        assert await ask(frame(encode_dial(request))) == ResponseStatus.E_BAD_REQUEST
        # malformed and oversized requests
        assert await ask(frame(b"\xff\xff\xff")) == ResponseStatus.E_BAD_REQUEST
        assert await ask(varint_encode(1 << 20)) == ResponseStatus.E_BAD_REQUEST
        # our own request, but we sit on loopback (a private address): never dialed
        own = DialRequest(client.peer_id, tuple(client.addrs) + (Multiaddr("/ip4/198.51.100.7/tcp/4001"),))
        assert await ask(frame(encode_dial(own))) == ResponseStatus.E_DIAL_REFUSED
        service = server.service(AutonatService)
        assert service is not None
        assert service.policy.refused["peer id"] == 1 and service.policy.refused["observed address"] == 1


async def test_client_probes_servers_found_by_identify() -> None:
    async with asyncio.timeout(TIMEOUT), \
            new_host(listen_addrs=[LOOPBACK], services=[AutonatService(AutonatConfig(probe=False))]) as server, \
            new_host(listen_addrs=[LOOPBACK], services=[AutonatService(AutonatConfig(serve=False))]) as client:
        with client.events.stream(AutonatProbed) as probed:
            await client.connect(server.full_addrs()[0])
            event = await probed.next(timeout=10)
        assert event.server == server.peer_id and event.status == ResponseStatus.E_DIAL_REFUSED
        assert client.reachability.value == "unknown"  # a refusal is no evidence
