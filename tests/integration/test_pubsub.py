"""GossipSub and FloodSub on real hosts over loopback TCP, in a sparse topology."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack

import pytest

from libp2p.host.host import Host
from libp2p.node import new_host
from libp2p.protocols.pubsub import (
    FLOODSUB_PROTOCOL_ID,
    MESHSUB_V12,
    MESHSUB_V13,
    FloodSub,
    GossipSub,
    GossipSubConfig,
    Grafted,
    MessageRejectedError,
    PeerJoinedTopic,
    PubsubMessage,
    SignaturePolicy,
    Subscription,
    ValidationResult,
)

TOPIC = "integration"
FAST = GossipSubConfig(heartbeat_interval=0.2, heartbeat_initial_delay=0.05)


async def _wait_for(cond: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.02)


async def _take(sub: Subscription, count: int, timeout: float = 15.0) -> list[PubsubMessage]:
    out: list[PubsubMessage] = []
    async with asyncio.timeout(timeout):
        while len(out) < count:
            out.append(await sub.get())
    return out


class Mesh:
    def __init__(self, stack: AsyncExitStack) -> None:
        self.stack = stack
        self.hosts: list[Host] = []
        self.services: list[GossipSub | FloodSub] = []

    async def add(self, service: GossipSub | FloodSub) -> Host:
        host = await self.stack.enter_async_context(
            new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[service])
        )
        self.hosts.append(host)
        self.services.append(service)
        return host

    async def link(self, a: int, b: int) -> None:
        await self.hosts[a].connect(self.hosts[b].full_addrs()[0])


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    async with AsyncExitStack() as stack:
        yield Mesh(stack)


@pytest.mark.parametrize("policy", [SignaturePolicy.STRICT_SIGN, SignaturePolicy.STRICT_NO_SIGN])
async def test_sparse_gossipsub_mesh_delivers_every_message_once(mesh: Mesh, policy: SignaturePolicy) -> None:
    n = 8
    for _ in range(n):
        await mesh.add(GossipSub(FAST, signature_policy=policy))
    # a line plus two chords: most pairs are not connected, so messages must be forwarded
    for i in range(n - 1):
        await mesh.link(i, i + 1)
    await mesh.link(0, 4)
    await mesh.link(3, 7)
    subs = [ps.subscribe(TOPIC) for ps in mesh.services]
    for i, ps in enumerate(mesh.services):
        neighbours = 1 if i in (0, n - 1) else 2
        await ps.wait_for_topic_peers(TOPIC, neighbours)  # type: ignore[union-attr]
    await _wait_for(lambda: all(ps.mesh_peers(TOPIC) for ps in mesh.services))
    for i, ps in enumerate(mesh.services):
        assert await ps.publish(TOPIC, f"from {i}".encode()) >= 1
    for i, sub in enumerate(subs):
        got = await _take(sub, n)
        assert sorted(m.data for m in got) == sorted(f"from {j}".encode() for j in range(n))
        for m in got:
            assert m.topic == TOPIC
            if policy is SignaturePolicy.STRICT_SIGN:
                assert m.from_peer is not None and m.seqno is not None and len(m.seqno) == 8
            else:
                assert m.from_peer is None and m.seqno is None
        assert not sub._queue  # exactly once: nothing more queued after a short wait
    await asyncio.sleep(0.3)
    assert all(not sub._queue for sub in subs)
    assert mesh.services[1].router.peer_protocol(mesh.hosts[0].peer_id) == MESHSUB_V13


async def test_floodsub_and_gossipsub_meet_on_floodsub(mesh: Mesh) -> None:
    flood = FloodSub()
    await mesh.add(flood)
    await mesh.add(GossipSub(FAST))
    await mesh.add(FloodSub())
    await mesh.link(0, 1)
    await mesh.link(1, 2)
    subs = [ps.subscribe(TOPIC) for ps in mesh.services]
    await mesh.services[1].wait_for_topic_peers(TOPIC, 2)  # type: ignore[union-attr]
    await flood.wait_for_topic_peers(TOPIC, 1)
    await mesh.services[2].wait_for_topic_peers(TOPIC, 1)  # type: ignore[union-attr]
    assert mesh.services[1].router.peer_protocol(mesh.hosts[0].peer_id) == FLOODSUB_PROTOCOL_ID
    await flood.publish(TOPIC, b"flooded")
    for sub in subs:
        (msg,) = await _take(sub, 1)
        assert msg.data == b"flooded" and msg.from_peer == mesh.hosts[0].peer_id


async def test_validators_reject_and_scores_fall(mesh: Mesh) -> None:
    a, b, c = GossipSub(FAST), GossipSub(FAST), GossipSub(FAST)
    for ps in (a, b, c):
        await mesh.add(ps)
    await mesh.link(0, 1)
    await mesh.link(1, 2)
    seen_by_b: list[bytes] = []

    async def slow_validator(msg: PubsubMessage) -> ValidationResult:
        await asyncio.sleep(0)
        seen_by_b.append(msg.data)
        return ValidationResult.REJECT if msg.data.startswith(b"bad") else ValidationResult.ACCEPT

    b.add_validator(TOPIC, slow_validator)
    subs = [ps.subscribe(TOPIC) for ps in (a, b, c)]
    await b.wait_for_topic_peers(TOPIC, 2)
    await _wait_for(lambda: bool(a.mesh_peers(TOPIC)) and len(b.mesh_peers(TOPIC)) == 2)
    await a.publish(TOPIC, b"bad one")
    await a.publish(TOPIC, b"good one")
    (got_c,) = await _take(subs[2], 1)
    assert got_c.data == b"good one"  # the rejected one was never forwarded past b
    assert b"bad one" in seen_by_b
    assert b.score(mesh.hosts[0].peer_id) < 0
    # our own validators apply to what we publish
    b.add_validator(TOPIC, lambda m: ValidationResult.IGNORE if m.data == b"skip" else ValidationResult.ACCEPT)
    with pytest.raises(MessageRejectedError):
        await b.publish(TOPIC, b"skip")
    del subs


async def test_join_events_mesh_protection_and_unsubscribe(mesh: Mesh) -> None:
    a, b = GossipSub(FAST), GossipSub(FAST)
    ha = await mesh.add(a)
    hb = await mesh.add(b)
    joined = ha.events.stream(PeerJoinedTopic, Grafted)
    await mesh.link(0, 1)
    async with b.subscribe(TOPIC):
        a.subscribe(TOPIC)
        kinds: set[type] = set()
        async with asyncio.timeout(10):
            async for event in joined:
                assert event.peer_id == hb.peer_id  # type: ignore[attr-defined]
                kinds.add(type(event))
                if kinds == {PeerJoinedTopic, Grafted}:
                    break
        assert ha.connmgr.is_protected(hb.peer_id)
    # leaving the topic tells a, which drops b from the topic and the mesh
    await _wait_for(lambda: not a.topic_peers(TOPIC) and not a.mesh_peers(TOPIC))
    await _wait_for(lambda: not ha.connmgr.is_protected(hb.peer_id))
    joined.close()


async def test_publish_without_subscribing_uses_fanout(mesh: Mesh) -> None:
    cfg = GossipSubConfig(heartbeat_interval=0.2, flood_publish=False)
    a, b = GossipSub(cfg), GossipSub(cfg)
    await mesh.add(a)
    await mesh.add(b)
    await mesh.link(0, 1)
    sub = b.subscribe(TOPIC)
    await a.wait_for_topic_peers(TOPIC, 1)
    assert await a.publish(TOPIC, b"fanout") == 1
    assert a.router.fanout_peers(TOPIC) == [mesh.hosts[1].peer_id]
    (msg,) = await _take(sub, 1)
    assert msg.data == b"fanout"


async def test_hostile_stream_is_reset_and_other_peers_still_served(mesh: Mesh) -> None:
    from libp2p._accel import varint_encode
    from libp2p.muxer.connection import StreamResetError
    from libp2p.pb import pubsub_pb2

    a, b = GossipSub(FAST), GossipSub(FAST)
    ha = await mesh.add(a)
    await mesh.add(b)
    await mesh.link(0, 1)
    sub_b = b.subscribe(TOPIC)
    a.subscribe(TOPIC)
    await a.wait_for_topic_peers(TOPIC, 1)
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as attacker:
        await attacker.connect(ha.full_addrs()[0])
        # a flood of subscriptions, then a length prefix past max_rpc_size: the stream is reset
        stream = await attacker.new_stream(ha.peer_id, [MESHSUB_V12])
        subs = pubsub_pb2.RPC(subscriptions=[
            pubsub_pb2.RPC.SubOpts(subscribe=True, topicid=b"flood-%d" % i) for i in range(1000)
        ]).SerializeToString()
        await stream.write(varint_encode(len(subs)) + subs)
        await stream.write(varint_encode(a.config.max_rpc_size + 1))
        with pytest.raises((StreamResetError, ConnectionError, EOFError)):
            async with asyncio.timeout(10):
                while await stream.read(1024):
                    pass
                raise EOFError
        assert a.score(attacker.peer_id) < 0
        assert len(a.router._peers[attacker.peer_id].topics) <= a.config.max_peer_subscriptions
    await a.publish(TOPIC, b"after the attack")
    (msg,) = await _take(sub_b, 1)
    assert msg.data == b"after the attack"


async def test_slow_validator_times_out_as_ignore(mesh: Mesh) -> None:
    cfg = GossipSubConfig(heartbeat_interval=0.2, validation_timeout=0.2)
    a, b = GossipSub(cfg), GossipSub(cfg)
    await mesh.add(a)
    await mesh.add(b)
    await mesh.link(0, 1)
    release = asyncio.Event()

    async def stuck(msg: PubsubMessage) -> ValidationResult:
        if msg.data == b"slow":
            await release.wait()
        return ValidationResult.ACCEPT

    b.add_validator(TOPIC, stuck)
    sub = b.subscribe(TOPIC)
    a.subscribe(TOPIC)
    await a.wait_for_topic_peers(TOPIC, 1)
    await a.publish(TOPIC, b"slow")
    await a.publish(TOPIC, b"fast")
    (msg,) = await _take(sub, 1)
    assert msg.data == b"fast"
    await _wait_for(lambda: b.router.stats["ignored"] == 1 and b.router.pending_validations == 0)
    assert b.score(mesh.hosts[0].peer_id) >= 0  # a timeout is not the sender's fault
    release.set()


async def test_direct_peers_are_dialed_protected_and_always_forwarded_to(mesh: Mesh) -> None:
    b = GossipSub(FAST)
    hb = await mesh.add(b)
    a = GossipSub(GossipSubConfig(heartbeat_interval=0.2, direct_peers=(str(hb.full_addrs()[0]),)))
    ha = await mesh.add(a)
    sub = b.subscribe(TOPIC)
    a.subscribe(TOPIC)
    await a.wait_for_topic_peers(TOPIC, 1)  # a dialed its direct peer by itself
    assert ha.connmgr.is_protected(hb.peer_id, "pubsub:direct")
    assert await a.publish(TOPIC, b"direct") == 1
    (msg,) = await _take(sub, 1)
    assert msg.data == b"direct"
    assert hb.peer_id not in a.mesh_peers(TOPIC)


async def test_two_subscriptions_share_a_topic_and_async_with_unsubscribes(mesh: Mesh) -> None:
    a, b = GossipSub(FAST), GossipSub(FAST)
    await mesh.add(a)
    hb = await mesh.add(b)
    await mesh.link(0, 1)
    a.subscribe(TOPIC)
    first = b.subscribe(TOPIC)
    async with b.subscribe(TOPIC) as second:
        await a.wait_for_topic_peers(TOPIC, 1)
        await a.publish(TOPIC, b"both")
        assert [m.data for m in await _take(first, 1)] == [b"both"]
        assert [m.data for m in await _take(second, 1)] == [b"both"]
    assert b.topics() == [TOPIC]  # one subscription left: still joined
    first.cancel()
    assert [m async for m in first] == []  # a cancelled subscription ends its iteration
    assert b.topics() == []
    await _wait_for(lambda: hb.peer_id not in a.topic_peers(TOPIC))
    assert host_services_pubsub(hb) is b


def host_services_pubsub(host: Host) -> object:
    return host.services["pubsub"]
