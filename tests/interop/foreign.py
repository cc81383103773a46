"""Shared parts of the go-libp2p and rust-libp2p interop tests ("beyond ping").

The go and rust peer programs (``interop/go``, ``interop/rust``) speak the js peer's command line and
JSON lines, so one set of flows drives either; :class:`Foreign` names which program. The tests
themselves (``test_go_interop.py``, ``test_rust_interop.py``) add what differs per implementation,
mostly how each treats signed peer records.

* :func:`python_dials` — we dial a foreign listener: connection as expected on both sides, identify
  both ways (agent, protocols, listen addresses, observed addresses, public key), pings both ways,
  and K concurrent streams of N bytes (half ``/echo/1.0.0``, half ``/hash/1.0.0``), each checked by
  sha256 on our side and reported ``ok`` by the peer. Returns what each side learned, so the test can
  check the signed peer records.
* :func:`foreign_dials` — a foreign dialer dials our host and runs pings plus K concurrent streams
  of N bytes against our echo or hash handler (checked by sha256 on its side); returns its JSON.
* :func:`check_dialer_result` — the implementation-independent checks of that JSON.
* :func:`identify_push_both_ways` — identify/push each way over one connection.
"""

from __future__ import annotations

import asyncio
import weakref
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from libp2p.host.host import AGENT_VERSION, PROTOCOL_VERSION, Host
from libp2p.node import new_host
from libp2p.host.upgrader import MPLEX, YAMUX
from libp2p.identity.keys import KeyType, PrivateKey
from libp2p.identity.peer_id import PeerId
from libp2p.muxer.connection import MuxedStream
from libp2p.protocols.identify.events import PeerIdentified
from libp2p.protocols.identify.wire import IdentifyInfo
from tests.interop.js_peer import JsPeer
from tests.interop.peer_program import Event

MUXER_IDS = {"yamux": YAMUX, "mplex": MPLEX}
KEY_TYPES = {"ed25519": KeyType.Ed25519, "secp256k1": KeyType.Secp256k1}
ECHO = "/echo/1.0.0"
HASH = "/hash/1.0.0"
PING = "/ipfs/ping/1.0.0"
IDENTIFY = "/ipfs/id/1.0.0"
IDENTIFY_PUSH = "/ipfs/id/push/1.0.0"
FOREIGN_PROTOCOLS = {ECHO, HASH, PING, IDENTIFY, IDENTIFY_PUSH}
MIB = 1 << 20
N_STREAMS = 16
STREAM_BYTES = 4 * MIB
N_PINGS = 5
CHUNK = 64 * 1024
TEST_TIMEOUT = 150.0


@dataclass(frozen=True)
class Foreign:
    """One foreign implementation: its name, agent prefix and async dialer
    (``run_go_dialer_async`` / ``run_rust_dialer_async``)."""

    name: str
    agent_prefix: str
    dial: Callable[..., Awaitable[Event]]


# --- our side of the streams -------------------------------------------------------------------


#: what our handlers served: (protocol, remote peer, bytes received, sha256 hex of them)
Served = list[tuple[str, PeerId, int, str]]


def hash_handler(served: Served | None = None) -> Callable[[MuxedStream], Awaitable[None]]:
    """``/hash/1.0.0``: read to EOF, answer the lowercase hex sha256 (the host closes afterwards)."""

    async def handle(stream: MuxedStream) -> None:
        h = hashlib.sha256()
        n = 0
        while data := await stream.read(CHUNK):
            h.update(data)
            n += len(data)
        await stream.write(h.hexdigest().encode())
        if served is not None:
            served.append((HASH, stream.conn.remote_peer_id, n, h.hexdigest()))

    return handle


def echo_handler(served: Served | None = None) -> Callable[[MuxedStream], Awaitable[None]]:
    """``/echo/1.0.0``: copy every byte back until EOF (the host closes afterwards)."""

    async def handle(stream: MuxedStream) -> None:
        h = hashlib.sha256()
        n = 0
        while data := await stream.read(CHUNK):
            await stream.write(data)
            h.update(data)
            n += len(data)
        if served is not None:
            served.append((ECHO, stream.conn.remote_peer_id, n, h.hexdigest()))

    return handle


_OBSERVED: weakref.WeakKeyDictionary[Host, dict[PeerId, Multiaddr]] = weakref.WeakKeyDictionary()


def record_observed(host: Host) -> None:
    """Keep the address each peer's identify said it sees us at, past its disconnection (the
    identify service itself forgets it when the peer leaves)."""
    seen = _OBSERVED.setdefault(host, {})

    def on_identified(event: PeerIdentified) -> None:
        if event.info.observed_addr is not None:
            seen[event.peer_id] = event.info.observed_addr

    host.events.subscribe(PeerIdentified, on_identified)


def observed_by(host: Host, peer: PeerId) -> Multiaddr | None:
    return _OBSERVED.get(host, {}).get(peer)


@contextlib.asynccontextmanager
async def our_host(key: PrivateKey, muxer: str, served: Served | None = None) -> AsyncIterator[Host]:
    """A loopback host offering only ``muxer``, serving echo and hash (recorded in ``served``)."""
    async with new_host(key, listen_addrs=["/ip4/127.0.0.1/tcp/0"], muxers=[MUXER_IDS[muxer]]) as host:
        record_observed(host)
        host.set_stream_handler(ECHO, echo_handler(served))
        host.set_stream_handler(HASH, hash_handler(served))
        yield host


async def _send_all_and_close(stream: MuxedStream, data: bytes) -> None:
    view = memoryview(data)
    for i in range(0, len(view), CHUNK):
        await stream.write(view[i:i + CHUNK])
    await stream.close()


async def _read_to_eof(stream: MuxedStream) -> bytes:
    parts = []
    while data := await stream.read():
        parts.append(data)
    return b"".join(parts)


async def roundtrip(host: Host, peer: PeerId, protocol: str, data: bytes) -> bytes:
    """Open ``protocol``, send ``data`` and half-close while reading everything the peer sends back."""
    stream = await host.new_stream(peer, protocol)
    assert stream.protocol == protocol
    try:
        writer = asyncio.ensure_future(_send_all_and_close(stream, data))
        try:
            reply = await _read_to_eof(stream)
        finally:
            if not writer.done():
                writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
        writer.result()  # a write failure is the test's failure
    except BaseException:
        await stream.reset()
        raise
    return reply


async def checked_stream(host: Host, peer: PeerId, protocol: str, nbytes: int) -> None:
    """``nbytes`` random bytes over ``protocol``; the echo (or the peer's hash) must match sha256."""
    data = os.urandom(nbytes)
    want = hashlib.sha256(data).hexdigest()
    reply = await roundtrip(host, peer, protocol, data)
    if protocol == HASH:
        assert reply.decode().strip().lower() == want
    else:
        assert len(reply) == nbytes and hashlib.sha256(reply).hexdigest() == want


def strip_p2p(addr: str) -> str:
    return addr.rsplit("/p2p/", 1)[0]


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None


@contextlib.contextmanager
def failing_with_stderr(peer: JsPeer) -> Iterator[None]:
    """Add the foreign peer's stderr tail to an assertion failure inside the block."""
    try:
        yield
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- peer stderr tail ---\n{peer.stderr_text()[-3000:]}") from exc


# --- flows ---------------------------------------------------------------------------------------


@dataclass
class DialOutcome:
    """What both sides learned when we dialed a foreign listener."""

    peer_id: PeerId
    info: IdentifyInfo  # what we learned about them
    their_identify: Event  # their ``identify`` event about us


async def python_dials(host: Host, peer: JsPeer, muxer: str, *, n_streams: int = N_STREAMS,
                       stream_bytes: int = STREAM_BYTES) -> DialOutcome:
    """Dial ``peer`` (a running listener) and run identify, pings and concurrent streams both ways.

    Checks everything that does not depend on the implementation; the signed peer records are left
    to the caller (in the returned :class:`DialOutcome`).
    """
    ours = str(host.peer_id)
    peer_id = await host.connect(peer.multiaddr)
    assert str(peer_id) == peer.peer_id
    [conn] = host.connections(peer_id)
    assert conn.muxer_id == MUXER_IDS[muxer]
    opened = await peer.await_event("connection_open", peer=ours, timeout=15)
    assert opened["direction"] == "inbound"
    assert opened["muxer"] == MUXER_IDS[muxer]
    assert opened["encryption"] == "/noise"

    # identify: what we learned about them
    info = await host.services["identify"].identify(peer_id)
    their_listen = [strip_p2p(a) for a in peer.multiaddrs]
    assert info.agent_version == peer.agent
    assert info.protocols is not None
    assert set(info.protocols) == set(peer.protocols)
    assert FOREIGN_PROTOCOLS <= set(info.protocols)
    assert info.listen_addrs is not None
    assert [str(a) for a in info.listen_addrs] == their_listen
    assert info.public_key is not None and peer_id.matches_public_key(info.public_key)
    # they report the address they see us at: our side of the connection (no /p2p/ suffix)
    assert info.observed_addr is not None
    assert strip_p2p(str(info.observed_addr)) == str(conn.local_addr)
    assert host.peerstore.agent_version(peer_id) == peer.agent
    assert set(peer.protocols) <= host.peerstore.protocols(peer_id)
    assert {str(a) for a in host.peerstore.addrs(peer_id)} >= set(their_listen)

    # identify: what they learned about us
    ident = await peer.await_event("identify", peer=ours, timeout=15)
    assert ident["agent"] == AGENT_VERSION
    assert ident["protocol_version"] == PROTOCOL_VERSION
    assert set(ident["protocols"]) == set(host.protocols)
    assert {ECHO, HASH, PING, IDENTIFY, IDENTIFY_PUSH} <= set(ident["protocols"])
    assert ident["listen_addrs"] == [str(a) for a in host.addrs]
    assert ident["has_public_key"] is True
    # we report the address we dialed them at
    assert ident["observed_addr"] is not None
    assert strip_p2p(ident["observed_addr"]) == their_listen[0]
    assert peer.find_events("identify_error") == []

    # pings both ways on this connection
    rtts = await host.services["ping"].ping(peer_id, N_PINGS)
    assert len(rtts) == N_PINGS and all(r >= 0 for r in rtts)
    reply = await peer.command_async(f"ping {ours} {N_PINGS}", timeout=30)
    assert reply["ok"] is True, reply
    assert len(reply["rtts_ms"]) == N_PINGS

    # concurrent streams, half echo and half hash, each checked by sha256
    protocols = [ECHO if i % 2 else HASH for i in range(n_streams)]
    await asyncio.gather(*(checked_stream(host, peer_id, p, stream_bytes) for p in protocols))

    # what they saw of those streams
    def done(e: Event) -> bool:
        return e.get("event") == "stream" and e.get("peer") == ours

    await wait_for(lambda: len(peer.find_events(predicate=done)) >= n_streams, "the peer's stream events")
    streams = peer.find_events(predicate=done)
    assert len(streams) == n_streams
    assert all(e["ok"] for e in streams), streams
    assert all(e["bytes"] == stream_bytes for e in streams)
    assert sorted(e["protocol"] for e in streams) == sorted(protocols)

    # the connection survived all of it, and it is still the only one
    assert not conn.is_closed
    assert host.connections(peer_id) == [conn]
    return DialOutcome(peer_id, info, ident)


async def _extra_handler(stream: MuxedStream) -> None:
    await stream.write(b"extra")


async def identify_push_both_ways(host: Host, peer: JsPeer) -> tuple[PeerId, Event]:
    """Over a connection we dial: we add and remove a protocol and ``peer`` learns each change from
    our identify/push; ``peer`` adds a protocol, we learn it from its push and use it, then it
    removes it. Returns the peer's id and its ``identify_push`` event for our first push."""
    ours = str(host.peer_id)
    peer_id = await host.connect(peer.multiaddr)
    await host.services["identify"].identify(peer_id)
    await peer.await_event("identify", peer=ours, timeout=15)

    mark = len(peer.events)
    host.set_stream_handler("/py-extra/1.0.0", _extra_handler)
    push = await peer.await_event("identify_push", peer=ours, after=mark, timeout=15,
                                  predicate=lambda e: "/py-extra/1.0.0" in e["protocols"])
    assert set(push["protocols"]) == set(host.protocols)
    assert push["listen_addrs"] == [str(a) for a in host.addrs]
    mark = len(peer.events)
    host.remove_stream_handler("/py-extra/1.0.0")
    await peer.await_event("identify_push", peer=ours, after=mark, timeout=15,
                           predicate=lambda e: "/py-extra/1.0.0" not in e["protocols"])
    assert peer.find_events("identify_error") == []

    reply = await peer.command_async("add-protocol /foreign-extra/1.0.0")
    assert reply["ok"] is True, reply
    await wait_for(lambda: "/foreign-extra/1.0.0" in host.peerstore.protocols(peer_id), "the peer's push")
    assert await roundtrip(host, peer_id, "/foreign-extra/1.0.0", b"hello") == b"hello"
    reply = await peer.command_async("remove-protocol /foreign-extra/1.0.0")
    assert reply["ok"] is True, reply
    await wait_for(lambda: "/foreign-extra/1.0.0" not in host.peerstore.protocols(peer_id), "the peer's push")
    [conn] = host.connections(peer_id)
    assert not conn.is_closed
    return peer_id, push


async def foreign_dials(foreign: Foreign, host: Host, muxer: str, *, stream_protocol: str,
                        n_streams: int = N_STREAMS, stream_bytes: int = STREAM_BYTES, timeout: float = 120.0,
                        **kwargs: Any) -> Event:
    """Run ``foreign``'s dialer against ``host``: pings, then ``n_streams`` concurrent streams."""
    return await foreign.dial(str(host.full_addrs()[0]), muxer=muxer, pings=N_PINGS, streams=n_streams,
                              stream_bytes=stream_bytes, stream_protocol=stream_protocol, timeout=timeout,
                              **kwargs)


def check_dialer_result(result: Event, host: Host, muxer: str) -> PeerId:
    """The implementation-independent checks of a foreign dialer's JSON; returns its peer id."""
    assert result["errors"] == [], result["stderr"][-3000:]
    assert result["exit_code"] == 0
    assert result["connected"] is True
    assert result["remote_peer"] == str(host.peer_id)
    assert result["muxer"] == MUXER_IDS[muxer]
    assert result["encryption"] == "/noise"

    # what they learned about us
    ours = [str(a) for a in host.addrs]
    assert result["remote_agent"] == AGENT_VERSION
    assert result["remote_protocol_version"] == PROTOCOL_VERSION
    assert set(result["remote_protocols"]) == set(host.protocols)
    assert {ECHO, HASH, PING, IDENTIFY, IDENTIFY_PUSH} <= set(result["remote_protocols"])
    assert result["remote_listen_addrs"] == ours
    # we report their address as we see it (their ephemeral port)
    assert result["observed_addr"] is not None
    assert result["observed_addr"].startswith("/ip4/127.0.0.1/tcp/")
    assert result["observed_addr"] != ours[0]

    # the work
    assert len(result["ping_rtts_ms"]) == N_PINGS
    assert result["streams_ok"] is True
    return PeerId.from_string(result["local_peer"])


def check_served(served: Served, dialer: PeerId, protocol: str, n_streams: int = N_STREAMS,
                 stream_bytes: int = STREAM_BYTES) -> None:
    """Our handlers took ``n_streams`` complete streams of ``stream_bytes`` from ``dialer``, with
    distinct contents."""
    mine = [s for s in served if s[1] == dialer]
    assert [(p, n) for p, _, n, _ in mine] == [(protocol, stream_bytes)] * n_streams
    assert len({digest for *_, digest in mine}) == n_streams


def check_what_we_learned(host: Host, dialer: PeerId, agent_prefix: str, target: str) -> None:
    """After a foreign dialer identified with us: its agent, protocols and key are in our peerstore
    and it told us the address it dialed (our listen address)."""
    agent = host.peerstore.agent_version(dialer)
    assert agent is not None and agent.startswith(agent_prefix)
    assert {ECHO, HASH, PING, IDENTIFY} <= host.peerstore.protocols(dialer)
    pk = host.peerstore.public_key(dialer)
    assert pk is not None and dialer.matches_public_key(pk)
    observed = observed_by(host, dialer)
    assert observed is not None
    assert strip_p2p(str(observed)) == strip_p2p(target)


async def wait_disconnected(host: Host, peer: PeerId) -> None:
    await wait_for(lambda: not host.connections(peer), f"the connection to {peer} to close")
