"""The listener's inbound upgrade driven from the connection's callbacks (``libp2p.host.inbound``).

Multistream and the Noise responder run in the connection's data callbacks, with no task; what
that path does not cover (TLS, a dialer without the muxer inside the handshake) continues in a
task from the state reached. Each case checks the connection's end as well: the peer sees the
close, the pending slot and the resource scope are released, and the host keeps serving.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from libp2p.host.host import Host
from libp2p.host.upgrader import UpgradeError
from libp2p.identity.keys import generate_key_pair
from libp2p.negotiate.core import encode_message
from libp2p.negotiate.errors import DataAfterRefusalError, MissingNewlineError
from libp2p.node import new_host
from libp2p.protocols.echo import EchoService
from libp2p.security.noise.core import NoiseHandshake
from libp2p.security.noise.service import Noise
from libp2p.security.tls.service import TLS
from tests.integration.test_bad_input import (
    ECHO,
    HEADER,
    LOOPBACK,
    NOISE,
    TEST_TIMEOUT,
    YAMUX,
    RawPeer,
    SecurePeer,
    UpgradeSpy,
    YamuxClient,
    assert_serves,
    eventually,
    listening_host,
    raw_peer,
    wait_for_warning,
)


def nothing_held(host: Host) -> bool:
    """No pending handshake, and the node's scopes hold no inbound connection or descriptor."""
    usage = host.resources.stat()
    return (host.swarm.pending_inbound == 0 and usage["system"]["conns_inbound"] == 0
            and usage["system"]["fd"] == 0 and usage["transient"]["conns_inbound"] == 0)


def the_pending_upgrade(host: Host) -> Any:
    (entry,) = host.swarm._pending_inbound.values()
    return entry


async def noise_msg1_answered(raw: RawPeer) -> NoiseHandshake:
    """Select /noise, send message 1 and read message 2: the host waits for message 3."""
    await raw.select(NOISE)
    hs = NoiseHandshake(True, generate_key_pair(), muxers=(YAMUX,))
    raw.write(hs.data_to_send())
    assert await raw.read()
    return hs


async def test_peer_stopping_mid_handshake_is_dropped_at_the_deadline(caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), listening_host(upgrade_timeout=0.5) as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            await noise_msg1_answered(raw)
            # in its handshake, the connection is upgraded from its callbacks: no task runs for it
            assert the_pending_upgrade(host).task is None
            assert host.resources.stat()["system"]["conns_inbound"] == 1
            assert await raw.read_until_closed(timeout=5.0) == b""
        error = await spy.error()
        assert isinstance(error, UpgradeError) and "timed out after 0.5 s" in str(error), repr(error)
        await wait_for_warning(caplog, "inbound upgrade", "UpgradeError", "timed out")
        await eventually(lambda: nothing_held(host), what="the scope released")
        assert len(spy.errors) == 1
        await assert_serves(host)


async def test_garbage_after_the_header_closes_only_that_connection(caplog: pytest.LogCaptureFixture) -> None:
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host, new_host() as client:
        spy = UpgradeSpy(host)
        peer = await client.connect(host.full_addrs()[0])
        async with raw_peer(host) as waiting, raw_peer(host) as hostile:
            await eventually(lambda: host.swarm.pending_inbound == 2)  # a handshake beside the hostile one
            hostile.write(HEADER + b"\x04/no!")  # a proposal without its newline
            assert await hostile.read_until_closed() == b""  # nothing agreed: closed
            error = await spy.error()
            assert isinstance(error, MissingNewlineError), repr(error)
            await wait_for_warning(caplog, "inbound upgrade", "MissingNewlineError")
            # the other handshake and the established connection go on
            assert host.swarm.pending_inbound == 1
            assert client.connections(peer) and host.connections(client.peer_id)
            secure = await SecurePeer.handshake(waiting)
            assert secure.muxer == YAMUX
            await eventually(lambda: bool(host.connections(secure.peer_id)))
            await YamuxClient(secure).echo(1, b"after the garbage", open_stream=True)
        stream = await client.new_stream(peer, [ECHO])
        await stream.write(b"still up")
        await stream.close()
        assert await stream.readexactly(8) == b"still up"
        assert len(spy.errors) == 1


async def test_dialer_without_early_muxer_gets_yamux_through_multistream() -> None:
    """No muxers in the dialer's Noise payload: the muxer is negotiated over the secure channel
    (in a task, from where the callbacks stopped); the connection then works and ends cleanly."""
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        async with raw_peer(host) as raw:
            secure = await SecurePeer.handshake(raw, muxers=())
            assert secure.muxer is None
            await eventually(lambda: the_pending_upgrade(host).task is not None, what="the task for the muxer")
            assert await secure.select(YAMUX) == b""
            await eventually(lambda: bool(host.connections(secure.peer_id)))
            assert host.swarm.pending_inbound == 0
            await YamuxClient(secure).echo(1, b"muxed late", open_stream=True)
        await eventually(lambda: not host.connections() and nothing_held(host), what="all released")


async def test_evicting_an_upgrade_in_progress_releases_it() -> None:
    async with asyncio.timeout(TEST_TIMEOUT), listening_host(upgrade_timeout=10.0, max_pending_inbound=1) as host:
        async with raw_peer(host) as first:
            hs = await noise_msg1_answered(first)
            await assert_serves(host)  # the newcomer takes the only slot: the first one is dropped
            assert host.swarm.evicted_handshakes == 1
            assert await first.read_until_closed() == b""
            del hs
        await eventually(lambda: nothing_held(host), what="the scope released")


@pytest.mark.parametrize("listener_security", [("tls",), ("noise", "tls"), ("tls", "noise")])
async def test_tls_inbound(listener_security: tuple[str, ...]) -> None:
    options: dict[str, Any] = {"tls": TLS, "noise": Noise}
    async with (
        asyncio.timeout(TEST_TIMEOUT),
        new_host(listen_addrs=[LOOPBACK], services=[EchoService()],
                 security=[options[s]() for s in listener_security]) as host,
        new_host(security=[TLS()]) as client,
    ):
        peer = await client.connect(host.full_addrs()[0])
        await eventually(lambda: bool(host.connections(client.peer_id)))
        conn = host.connections(client.peer_id)[0]
        assert conn.secure.protocol_id == "/tls/1.0.0"
        stream = await client.new_stream(peer, [ECHO])
        message = os.urandom(1000)
        await stream.write(message)
        await stream.close()
        assert await stream.readexactly(len(message)) == message
        assert host.swarm.pending_inbound == 0


async def test_host_close_during_inbound_handshakes_leaves_nothing_open() -> None:
    async with asyncio.timeout(TEST_TIMEOUT):
        peers: list[RawPeer] = []
        try:
            async with listening_host(upgrade_timeout=30.0) as host:
                silent = await RawPeer.open(host)
                header_only = await RawPeer.open(host)
                in_noise = await RawPeer.open(host)
                peers = [silent, header_only, in_noise]
                header_only.write(HEADER)
                assert await header_only.read() == HEADER  # the host answered and waits for a proposal
                await noise_msg1_answered(in_noise)
                await eventually(lambda: host.swarm.pending_inbound == 3)
                resources = host.resources
                swarm = host.swarm
            # closed by the host, each in its own stage of the upgrade
            assert await silent.read_until_closed() == b""
            assert await header_only.read_until_closed() == b""
            assert await in_noise.read_until_closed() == b""
            assert swarm.pending_inbound == 0
            usage = resources.stat()
            assert usage["system"]["conns_inbound"] == 0 and usage["system"]["fd"] == 0, usage
            assert usage["transient"]["conns_inbound"] == 0, usage
        finally:
            for peer in peers:
                await peer.close()


async def test_upgrades_from_callbacks_under_a_burst() -> None:
    """Many dialers at once: every connection is upgraded and none is left pending."""
    async with asyncio.timeout(TEST_TIMEOUT), listening_host(max_pending_inbound=64) as host:
        clients = [new_host() for _ in range(8)]
        try:
            for c in clients:
                await c.__aenter__()
            peers = await asyncio.gather(*(c.connect(host.full_addrs()[0]) for c in clients))
            assert all(p == host.peer_id for p in peers)
            await eventually(lambda: len(host.connections()) == len(clients))
            assert host.swarm.pending_inbound == 0
            assert len(host.upgrader.deadlines) == 0  # each left its deadline slot as it finished
        finally:
            for c in clients:
                await c.__aexit__(None, None, None)
        await eventually(lambda: not host.connections() and nothing_held(host), what="all released")


async def test_security_we_refuse_with_data_behind_it_gets_na_then_the_close(caplog: pytest.LogCaptureFixture) -> None:
    """An optimistic dialer proposes TLS to a Noise-only host and sends its first bytes behind the
    proposal, which is no multistream message: the host answers the header and ``na`` (the dialer learns
    "not supported"), then closes."""
    async with asyncio.timeout(TEST_TIMEOUT), listening_host() as host:
        spy = UpgradeSpy(host)
        async with raw_peer(host) as raw:
            raw.write(HEADER + encode_message("/tls/1.0.0") + b"\x02ab")  # a 2-byte message without its newline
            assert await raw.read_until_closed() == HEADER + encode_message("na")
        error = await spy.error()
        assert isinstance(error, DataAfterRefusalError), repr(error)
        await wait_for_warning(caplog, "inbound upgrade", "DataAfterRefusalError")
        await eventually(lambda: nothing_held(host), what="the scope released")
        await assert_serves(host)
