"""The Kademlia DHT on real hosts: the in-memory transport, and loopback TCP."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import pytest

from libp2p._accel import varint_encode
from libp2p.host.host import Host
from libp2p.node import new_host
from libp2p.identity.keys import generate_key_pair
from libp2p.identity.multiformats import SHA2_256, multihash_encode
from libp2p.identity.peer_id import PeerId
from libp2p.muxer.connection import StreamResetError
from libp2p.protocols.kad import (
    PROTOCOL_ID,
    KadConfig,
    KadDecodeError,
    KadDHT,
    KadMessage,
    KadPeer,
    KadRecord,
    LookupKind,
    MessageType,
    RecordNotFoundError,
    create_ipns_record,
)
from libp2p.protocols.kad.wire import MessageReader, frame_message
from libp2p.transport.memory import MemoryNetwork, MemoryTransport

CONFIG = KadConfig(request_timeout=5.0)


async def _wait_for(cond: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # type: ignore[operator]
            await asyncio.sleep(0.01)


class Swarm:
    def __init__(self) -> None:
        self.net = MemoryNetwork()
        self.hosts: list[Host] = []
        self.dhts: list[KadDHT] = []

    async def add(self, mode: str = "server", tcp: bool = False) -> KadDHT:
        if tcp:
            host = new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"])
        else:
            host = new_host(transports=[MemoryTransport(self.net)], listen_addrs=["/memory/0"])
        await host.start()
        dht = KadDHT(mode, config=CONFIG, refresh=False)  # type: ignore[arg-type]
        await host.add_service(dht)
        self.hosts.append(host)
        self.dhts.append(dht)
        return dht

    async def close(self) -> None:
        for d in self.dhts:
            if d._host is not None:
                await d.host.remove_service(d)
        for h in self.hosts:
            await h.close()


@pytest.fixture
async def swarm() -> AsyncIterator[Swarm]:
    s = Swarm()
    try:
        yield s
    finally:
        await s.close()


def addr(dht: KadDHT) -> str:
    return str(dht.host.full_addrs()[0])


async def test_line_topology_find_peer_several_hops_away(swarm: Swarm) -> None:
    dhts = [await swarm.add() for _ in range(7)]
    for prev, cur in zip(dhts, dhts[1:]):
        await cur.host.connect(prev.host.full_addrs()[0])
    # identify tells each side the other is a DHT server: neighbours only.
    await _wait_for(lambda: all(len(d.routing_table) == (1 if i in (0, 6) else 2) for i, d in enumerate(dhts)))
    first, last = dhts[0], dhts[-1]
    assert not first.host.connections(last.host.peer_id)
    result = await first._lookup(LookupKind.FIND_NODE, last.host.peer_id.to_bytes(), target_peer=last.host.peer_id)
    # each node only knows its neighbours: the walk asks 1, 2, ..., 5 in turn
    assert result.target_found and result.stats.requests == 5 and result.stats.max_hops == 5
    info = await first.find_peer(last.host.peer_id)
    assert info is not None and info.addrs == tuple(last.host.addrs)


async def test_bootstrap_put_get_provide(swarm: Swarm) -> None:
    dhts = [await swarm.add() for _ in range(12)]
    for d in dhts[1:]:
        assert await d.bootstrap([addr(dhts[0])]) >= 1
    assert all(len(d.routing_table) >= 3 for d in dhts)
    closest = await dhts[5].get_closest_peers(b"some key")
    assert 1 <= len(closest) <= 20

    # /pk: a public key under its peer ID
    kp = generate_key_pair()
    key = b"/pk/" + PeerId.from_public_key(kp.public_key).to_bytes()
    stored = await dhts[3].put_value(key, kp.public_key.marshal())
    assert stored >= 1
    assert await dhts[9].get_value(key) == kp.public_key.marshal()

    # /ipns: newer sequence wins everywhere, stale peers get corrected
    name_key = generate_key_pair()
    name = b"/ipns/" + PeerId.from_public_key(name_key.public_key).to_bytes()
    old = create_ipns_record(name_key, b"/ipfs/old", 1, time.time() + 3600)
    new = create_ipns_record(name_key, b"/ipfs/new", 2, time.time() + 3600)
    await dhts[2].put_value(name, old)
    await dhts[7].put_value(name, new)
    got = await dhts[11].get_value(name)
    assert got == new
    with pytest.raises(RecordNotFoundError):
        await dhts[4].get_value(b"/pk/" + PeerId.from_public_key(generate_key_pair().public_key).to_bytes())

    # providers
    content = multihash_encode(SHA2_256, hashlib.sha256(b"hello").digest())
    told = await dhts[6].provide(content)
    assert told >= 1
    found = await dhts[10].find_providers(content)
    assert [p.peer_id for p in found] == [dhts[6].host.peer_id]
    assert found[0].addrs == tuple(dhts[6].host.addrs)


async def test_client_mode_queries_but_is_not_routed_to(swarm: Swarm) -> None:
    servers = [await swarm.add() for _ in range(4)]
    for d in servers[1:]:
        await d.bootstrap([addr(servers[0])])
    client = await swarm.add("client")
    assert PROTOCOL_ID not in client.host.protocols
    await client.bootstrap([addr(servers[0])])
    assert len(client.routing_table) >= 3
    # Every server the client reached has identified it: it does not offer the DHT protocol, so
    # none of them routes to it.
    reached = [s for s in servers if s.host.connections(client.host.peer_id)]
    assert reached
    for s in reached:
        await s.host.services["identify"].identify(client.host.peer_id)  # type: ignore[union-attr]
        assert PROTOCOL_ID not in s.host.peerstore.protocols(client.host.peer_id)
    assert all(client.host.peer_id not in s.routing_table for s in servers)
    kp = generate_key_pair()
    key = b"/pk/" + PeerId.from_public_key(kp.public_key).to_bytes()
    assert await client.put_value(key, kp.public_key.marshal()) >= 1
    assert await servers[2].get_value(key) == kp.public_key.marshal()


async def test_identify_push_adds_and_removes_a_server(swarm: Swarm) -> None:
    server = await swarm.add()
    # A client: connected and identified, but not a DHT server, so not in the table.
    client = await swarm.add("client")
    await client.host.connect(addr(server))
    await client.host.services["identify"].identify(server.host.peer_id)  # type: ignore[union-attr]
    await server.host.services["identify"].identify(client.host.peer_id)  # type: ignore[union-attr]
    assert PROTOCOL_ID not in server.host.peerstore.protocols(client.host.peer_id)
    assert client.host.peer_id not in server.routing_table
    # It starts serving the DHT: identify/push announces it, and the server adds it.
    client.host.set_stream_handler(PROTOCOL_ID, lambda stream: stream.reset())
    await _wait_for(lambda: client.host.peer_id in server.routing_table)
    # It stops serving: the next push takes it out again.
    client.host.remove_stream_handler(PROTOCOL_ID)
    await _wait_for(lambda: client.host.peer_id not in server.routing_table)
    assert client.host.connections(server.host.peer_id), "still connected: only the table changed"


async def test_tcp_hosts(swarm: Swarm) -> None:
    dhts = [await swarm.add(tcp=True) for _ in range(4)]
    for d in dhts[1:]:
        await d.bootstrap([addr(dhts[0])])
    kp = generate_key_pair()
    key = b"/pk/" + PeerId.from_public_key(kp.public_key).to_bytes()
    assert await dhts[1].put_value(key, kp.public_key.marshal()) >= 1
    assert await dhts[3].get_value(key) == kp.public_key.marshal()
    content = multihash_encode(SHA2_256, hashlib.sha256(b"tcp").digest())
    await dhts[2].provide(content)
    assert [p.peer_id for p in await dhts[0].find_providers(content)] == [dhts[2].host.peer_id]
    info = await dhts[3].find_peer(dhts[1].host.peer_id)
    assert info is not None


async def test_stream_reuse(swarm: Swarm) -> None:
    a, b = await swarm.add(), await swarm.add()
    await b.bootstrap([addr(a)])
    for _ in range(5):
        await b.request(a.host.peer_id, KadMessage(MessageType.FIND_NODE, b"x"))
    sender = b._senders[a.host.peer_id]
    assert sender.stream is not None
    streams = [s for s in a.host.connections(b.host.peer_id)[0].streams if s.protocol == PROTOCOL_ID]
    assert len(streams) == 1
    # The server drops the stream: the next request retries on a fresh one.
    await streams[0].reset()
    await _wait_for(lambda: sender.stream is None or sender.stream.is_reset)
    answer = await b.request(a.host.peer_id, KadMessage(MessageType.FIND_NODE, b"y"))
    assert answer is not None and answer.type is MessageType.FIND_NODE


# --- bad input -------------------------------------------------------------------------------------


async def _raw(dht: KadDHT, target: KadDHT, data: bytes) -> bytes:
    stream = await dht.host.new_stream(target.host.peer_id, [PROTOCOL_ID])
    await stream.write(data)
    await stream.close()  # our write side: the server answers what it got, then sees the end
    out = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await stream.read():
                out += chunk
    except StreamResetError:
        return b"RESET"
    return out


async def test_bad_input_is_rejected_counted_and_the_node_keeps_answering(swarm: Swarm) -> None:
    server, attacker, honest = await swarm.add(), await swarm.add(), await swarm.add()
    await attacker.bootstrap([addr(server)])
    await honest.bootstrap([addr(server)])

    # malformed protobuf, then an oversized length prefix
    assert await _raw(attacker, server, varint_encode(3) + b"\xff\xff\xff") == b"RESET"
    assert await _raw(attacker, server, varint_encode(5 << 20)) == b"RESET"
    assert server.counters["bad_messages"] == 2

    # a record with an invalid signature, and an expired one
    name_key = generate_key_pair()
    name = b"/ipns/" + PeerId.from_public_key(name_key.public_key).to_bytes()
    forged = create_ipns_record(generate_key_pair(), b"/ipfs/evil", 9, time.time() + 3600)
    expired = create_ipns_record(name_key, b"/ipfs/old", 1, time.time() - 1)
    for value in (forged, expired):
        msg = KadMessage(MessageType.PUT_VALUE, name, KadRecord(name, value))
        assert await _raw(attacker, server, frame_message(msg)) == b"RESET"
    assert server.counters["rejected_records"] == 2
    assert server.core.store.get(name, server._now()) is None

    # a provider record naming someone else, plus bogus and unroutable addresses
    content = multihash_encode(SHA2_256, hashlib.sha256(b"x").digest())
    someone = honest.host.peer_id
    msg = KadMessage(MessageType.ADD_PROVIDER, content, provider_peers=(KadPeer(someone, tuple(honest.host.addrs)),))
    assert await _raw(attacker, server, frame_message(msg)) == b""
    assert server.counters["rejected_providers"] == 1
    assert server.core.store.providers(content, server._now()) == []

    # oversized closerPeers list in an answer: the asking node refuses the message
    from libp2p.pb import kad_pb2

    flood = kad_pb2.Message()
    flood.type = kad_pb2.Message.FIND_NODE
    for _ in range(300):
        flood.closerPeers.add().id = PeerId.from_public_key(generate_key_pair().public_key).to_bytes()
    body = flood.SerializeToString()

    async def flooding_handler(stream: object) -> None:
        reader = MessageReader()
        data = await stream.read()  # type: ignore[attr-defined]
        reader.receive_data(data)
        await stream.write(varint_encode(len(body)) + body)  # type: ignore[attr-defined]

    flooder = new_host(transports=[MemoryTransport(swarm.net)], listen_addrs=["/memory/0"])
    swarm.hosts.append(flooder)
    await flooder.start()
    flooder.set_stream_handler(PROTOCOL_ID, flooding_handler)  # type: ignore[arg-type]
    await honest.host.connect(flooder.full_addrs()[0])
    with pytest.raises(KadDecodeError, match="closer"):
        await honest.request(flooder.peer_id, KadMessage(MessageType.FIND_NODE, b"k"))

    # unroutable addresses are not learned
    from libp2p.multiaddr import Multiaddr

    bogus = KadPeer(PeerId.from_public_key(generate_key_pair().public_key),
                    (Multiaddr("/ip4/0.0.0.0/tcp/1"), Multiaddr("/ip4/224.0.0.1/tcp/1"), Multiaddr("/dns4/x/udp/1")))
    honest._learn([bogus], 60.0)
    assert honest.host.peerstore.addrs(bogus.peer_id) == []
    assert honest.counters["unroutable_addrs"] == 3

    # after all that, the server still answers an honest peer
    answer = await honest.request(server.host.peer_id, KadMessage(MessageType.FIND_NODE, b"still there"))
    assert answer is not None and answer.closer_peers


async def test_silent_peer_times_out_without_stalling_the_lookup(swarm: Swarm) -> None:
    a, b = await swarm.add(), await swarm.add()
    await b.bootstrap([addr(a)])
    silent = new_host(transports=[MemoryTransport(swarm.net)], listen_addrs=["/memory/0"])
    swarm.hosts.append(silent)
    await silent.start()

    async def never_answer(stream: object) -> None:
        await asyncio.sleep(3600)

    silent.set_stream_handler(PROTOCOL_ID, never_answer)  # type: ignore[arg-type]
    quick = KadDHT(config=KadConfig(request_timeout=0.3), refresh=False)
    await b.host.remove_service(b)
    swarm.dhts[1] = quick
    await swarm.hosts[1].add_service(quick)
    await quick.host.connect(silent.full_addrs()[0])
    quick.core.add_peer(silent.peer_id, quick._now())
    quick.core.add_peer(a.host.peer_id, quick._now())
    # the silent peer never answers (its handler sleeps an hour): the lookup must not wait for it;
    # 10 s is only the safety net over the 0.3 s request timeout
    async with asyncio.timeout(10):
        closest = await quick.get_closest_peers(b"anything")
    assert silent.peer_id not in closest and a.host.peer_id in closest


async def test_provider_records_are_republished(swarm: Swarm) -> None:
    a = await swarm.add()
    b_host = new_host(transports=[MemoryTransport(swarm.net)], listen_addrs=["/memory/0"])
    await b_host.start()
    b = KadDHT(config=CONFIG, refresh=False, republish_interval=0.2)
    swarm.hosts.append(b_host)
    swarm.dhts.append(b)
    await b_host.add_service(b)
    await b.bootstrap([addr(a)])
    content = multihash_encode(SHA2_256, hashlib.sha256(b"again").digest())
    await b.provide(content)
    first = b._provided[content]
    stored = a.core.store.providers(content, a._now())
    assert [e.peer_id for e in stored] == [b_host.peer_id]
    await _wait_for(lambda: b._provided[content] > first, 5.0)
    await _wait_for(lambda: a.core.store.providers(content, a._now())[0].expires_at > stored[0].expires_at, 5.0)
