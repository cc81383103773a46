"""Hostile peers against a real ``libp2p serve`` process: the good client is served during and
after each attack, and the host's RSS stays under a stated bound.

Each attack is bounded in count and time. Bounds are generous: they separate "bounded" from
"grows with the attacker's effort", not fast from slow.
"""

from __future__ import annotations

import asyncio
import struct
from contextlib import AsyncExitStack, suppress

import pytest

from libp2p.protocols.kad.wire import KadMessage, KadPeer, KadRecord, MessageType, frame_message
from libp2p.identity.peer_id import PeerId
from libp2p.identity.keys import generate_key_pair
from libp2p._accel import varint_encode
from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from tests.adversarial.attacker import (
    ATTACKER_IP,
    M_MSG_INIT,
    M_NEW,
    Y_DATA,
    Y_PING,
    Y_SYN,
    Y_WINDOW,
    Conn,
    ServedHost,
    connect,
    mplex_frame,
    mplex_header_only,
    ms_select,
    yamux_frame,
)
from tests.adversarial.conftest import good_ping

MIB = 1024 * 1024
# RSS growth bound for attacks that hold many idle sockets (a few KiB each in the kernel and
# in asyncio transports is fine; anything per-byte-sent is not).
IDLE_SOCKETS_BOUND_MIB = 64
# RSS growth bound for attacks that push data the host must not buffer without limit.
BUFFER_BOUND_MIB = 64
# How long a host has to close a connection that broke the protocol.
CLOSE_TIMEOUT = 10.0

pytestmark = pytest.mark.adversarial


def closed_within(conn: Conn, timeout: float = CLOSE_TIMEOUT):  # type: ignore[no-untyped-def]
    async def _wait() -> bool:
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if not await conn.reader.read(65536):
                        return True
        except TimeoutError:
            return False
        except OSError:
            return True
    return _wait()


async def open_many(port: int, n: int, source: str = ATTACKER_IP) -> list[Conn]:
    conns: list[Conn] = []
    for i in range(0, n, 100):
        batch = await asyncio.gather(*(connect(port, source) for _ in range(min(100, n - i))),
                                     return_exceptions=True)
        conns.extend(c for c in batch if isinstance(c, Conn))
    return conns


def close_all(conns: list[Conn]) -> None:
    for c in conns:
        c.close()


async def check_during_after(served: ServedHost, conns: list[Conn], base: float, bound: float) -> dict:
    """Good client during (attack sockets open), RSS, then after (closed)."""
    during = await good_ping(served)
    rss = served.rss_mib() - base
    close_all(conns)
    await asyncio.sleep(0.5)
    after = await good_ping(served)
    return {"during": during, "after": after, "rss_growth_mib": rss, "alive": served.alive}


def assert_served(result: dict, bound: float) -> None:
    print(result)
    assert result["alive"], "the host process died"
    assert result["during"] is None, f"good client not served during the attack: {result['during']}"
    assert result["after"] is None, f"good client not served after the attack: {result['after']}"
    assert result["rss_growth_mib"] < bound, f"RSS grew {result['rss_growth_mib']:.0f} MiB (bound {bound})"


# --- before the handshake ------------------------------------------------------------------------

SILENT_CONNECTIONS = 2000


async def test_silent_connections_other_ip(served: ServedHost) -> None:
    base = served.rss_mib()
    conns = await open_many(served.port, SILENT_CONNECTIONS)
    assert len(conns) > SILENT_CONNECTIONS // 2
    assert_served(await check_during_after(served, conns, base, IDLE_SOCKETS_BOUND_MIB), IDLE_SOCKETS_BOUND_MIB)


async def test_silent_connections_same_ip(served: ServedHost) -> None:
    base = served.rss_mib()
    conns = await open_many(served.port, 500, source="127.0.0.1")
    assert_served(await check_during_after(served, conns, base, IDLE_SOCKETS_BOUND_MIB), IDLE_SOCKETS_BOUND_MIB)


async def test_truncated_noise_frames(served: ServedHost) -> None:
    base = served.rss_mib()
    conns = await open_many(served.port, 200)
    for c in conns:
        # /noise agreed, then a message announcing 65535 bytes of which 10 ever arrive.
        c.raw(ms_select("/noise") + b"\xff\xff" + bytes(10))
    assert_served(await check_during_after(served, conns, base, IDLE_SOCKETS_BOUND_MIB), IDLE_SOCKETS_BOUND_MIB)


async def test_oversized_noise_frames(served: ServedHost) -> None:
    """msg1 of 65535 bytes (legal length, garbage payload), then a msg3 of garbage: closed."""
    base = served.rss_mib()
    closed = 0
    for _ in range(20):
        c = await connect(served.port)
        c.raw(ms_select("/noise") + b"\xff\xff" + bytes(65535))
        with suppress(Exception):
            async with asyncio.timeout(5):
                await c.reader.read(65536)  # msg2 (or the close)
        c.raw(b"\xff\xff" + bytes(65535))
        closed += await closed_within(c)
        c.close()
    assert closed == 20, f"only {closed}/20 connections closed after a garbage Noise msg3"
    assert_served(await check_during_after(served, [], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_identity_key_does_not_match_signature(served: ServedHost) -> None:
    """The claimed identity key (thus peer ID) is not the key that signed the static key: closed."""
    base = served.rss_mib()
    closed = 0
    for _ in range(30):
        c = await connect(served.port)
        with suppress(ConnectionError, OSError):
            await c.handshake(bad_key=True)
        closed += await closed_within(c)
        c.close()
    assert closed == 30
    assert_served(await check_during_after(served, [], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_multistream_line_10mb_before_noise(served: ServedHost) -> None:
    base = served.rss_mib()
    c = await connect(served.port)
    c.raw(varint_encode(10 * MIB) + b"/" * (10 * MIB))
    await c.drain(5)
    assert await closed_within(c), "host kept a connection that sent a 10 MB multistream line"
    c.close()
    assert_served(await check_during_after(served, [], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


# --- after the handshake: yamux ------------------------------------------------------------------

async def yamux_conn(served: ServedHost, source: str = ATTACKER_IP) -> Conn:
    c = await connect(served.port, source)
    await c.handshake(muxer="/yamux/1.0.0")
    return c


async def mplex_conn(served: ServedHost, source: str = ATTACKER_IP) -> Conn:
    c = await connect(served.port, source)
    await c.handshake(muxer="/mplex/6.7.0")
    return c


UNREAD_STREAMS = 10_000


async def test_yamux_10000_streams_never_read(served: ServedHost) -> None:
    """10 000 streams opened on /echo/1.0.0 with 4 KiB each, answers never read."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    payload = ms_select("/echo/1.0.0") + bytes(4096)
    for i in range(UNREAD_STREAMS):
        sid = 2 * i + 1
        c.send(yamux_frame(Y_DATA, Y_SYN, sid, len(payload), payload))
        if i % 500 == 0:
            await c.drain(5)
    await c.drain(5)
    await asyncio.sleep(1)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


YAMUX_FULL_WINDOW_STREAMS = 1000


async def test_yamux_1000_streams_window_filled_never_read(served: ServedHost) -> None:
    """1000 streams on /echo/1.0.0, each sent its full 256 KiB window, answers never read."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    sel = ms_select("/echo/1.0.0")
    chunk = bytes(64 * 1024 - len(sel))
    loop = asyncio.get_running_loop()
    stop = loop.time() + 30
    for i in range(YAMUX_FULL_WINDOW_STREAMS):
        sid = 2 * i + 1
        frames = [yamux_frame(Y_DATA, Y_SYN, sid, len(sel) + len(chunk), sel + chunk)]
        frames += [yamux_frame(Y_DATA, 0, sid, 64 * 1024, bytes(64 * 1024))] * 3
        c.send(b"".join(frames))
        if i % 20 == 0 and (not await c.drain(5) or loop.time() > stop):
            break
    await c.drain(5)
    await asyncio.sleep(1)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_yamux_echo_window_granted_socket_never_read(served: ServedHost) -> None:
    """Echo with a 2**31 window granted, 128 MiB pushed, the socket never read: the host must
    stop writing (TCP backpressure), not buffer the echo in memory."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    sel = ms_select("/echo/1.0.0")
    c.send(yamux_frame(Y_DATA, Y_SYN, 1, len(sel), sel) + yamux_frame(Y_WINDOW, 0, 1, 1 << 31))
    chunk = yamux_frame(Y_DATA, 0, 1, 60000, bytes(60000))
    loop = asyncio.get_running_loop()
    stop = loop.time() + 15
    for _ in range(128 * MIB // (60000 * 16)):
        c.send(chunk * 16)
        if not await c.drain(3) or loop.time() > stop:
            break
    await asyncio.sleep(1)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_yamux_data_beyond_window(served: ServedHost) -> None:
    """4 MiB on one stream without any window update (the window is 256 KiB): reset or closed."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    c.send(yamux_frame(Y_DATA, Y_SYN, 1, len(ms_select("/echo/1.0.0")), ms_select("/echo/1.0.0")))
    chunk = bytes(60 * 1024)
    for _ in range(70):
        c.send(yamux_frame(Y_DATA, 0, 1, len(chunk), chunk))
    await c.drain(5)
    await asyncio.sleep(0.5)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_yamux_huge_length(served: ServedHost) -> None:
    c = await yamux_conn(served)
    c.send(yamux_pack_header_huge())
    assert await closed_within(c), "host kept a yamux connection announcing a 4 GiB frame"
    c.close()
    assert await good_ping(served) is None


def yamux_pack_header_huge() -> bytes:
    return struct.pack(">BBHII", 0, Y_DATA, Y_SYN, 1, 0xFFFFFFFF)


async def test_yamux_unknown_type(served: ServedHost) -> None:
    c = await yamux_conn(served)
    c.send(struct.pack(">BBHII", 0, 0x7F, 0, 1, 0))
    assert await closed_within(c), "host kept a yamux connection that sent frame type 0x7f"
    c.close()
    assert await good_ping(served) is None


async def test_yamux_window_update_overflow(served: ServedHost) -> None:
    """Window updates of 2**32-1 repeatedly on an echo stream, then data: the host survives."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    sel = ms_select("/echo/1.0.0")
    c.send(yamux_frame(Y_DATA, Y_SYN, 1, len(sel), sel))
    for _ in range(1000):
        c.send(yamux_frame(Y_WINDOW, 0, 1, 0xFFFFFFFF))
    c.send(yamux_frame(Y_DATA, 0, 1, 5, b"hello"))
    await c.drain(5)
    await asyncio.sleep(0.5)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


PING_FLOOD = 200_000


async def test_yamux_ping_flood_never_read(served: ServedHost) -> None:
    """200 000 yamux pings whose acks are never read: the acks must not pile up without bound."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    batch = b"".join(yamux_frame(Y_PING, Y_SYN, 0, i) for i in range(5000))
    for _ in range(PING_FLOOD // 5000):
        c.send(batch)
        if not await c.drain(5):
            break
    await asyncio.sleep(1)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_yamux_stream_open_flood_same_ip(served: ServedHost) -> None:
    """Streams opened (SYN, no data) as fast as possible from the good client's own IP, for as
    long as the good client's check takes (at most ~11 s)."""
    base = served.rss_mib()
    c = await yamux_conn(served, source="127.0.0.1")
    done = asyncio.Event()

    async def flood() -> None:
        sid = 1
        while not done.is_set() and sid < (1 << 31) - 4000:
            c.send(b"".join(yamux_frame(Y_DATA, Y_SYN | 8, sid + 2 * k, 0) for k in range(1000)))
            sid += 2000
            if not await c.drain(5):
                return

    task = asyncio.ensure_future(flood())
    await asyncio.sleep(1)
    during = await good_ping(served)
    done.set()
    with suppress(Exception):
        await task
    rss = served.rss_mib() - base
    c.close()
    await asyncio.sleep(0.5)
    after = await good_ping(served)
    assert_served({"during": during, "after": after, "rss_growth_mib": rss, "alive": served.alive},
                  BUFFER_BOUND_MIB)


async def test_multistream_line_10mb_in_stream(served: ServedHost) -> None:
    base = served.rss_mib()
    c = await yamux_conn(served)
    line = varint_encode(10 * MIB) + b"/" * (10 * MIB)
    data = b"\x13/multistream/1.0.0\n" + line
    c.send(yamux_frame(Y_DATA, Y_SYN, 1, 0))
    for i in range(0, len(data), 60000):
        part = data[i:i + 60000]
        c.send(yamux_frame(Y_DATA, 0, 1, len(part), part))
    await c.drain(5)
    await asyncio.sleep(0.5)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_endless_ls(served: ServedHost) -> None:
    """100 000 ``ls`` on each of 50 streams, answers never read."""
    base = served.rss_mib()
    c = await yamux_conn(served)
    ls = b"\x03ls\n" * 20000
    for s in range(50):
        sid = 2 * s + 1
        first = b"\x13/multistream/1.0.0\n"
        c.send(yamux_frame(Y_DATA, Y_SYN, sid, len(first), first))
        for _ in range(5):
            c.send(yamux_frame(Y_DATA, 0, sid, len(ls), ls))
        await c.drain(5)
    await asyncio.sleep(0.5)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_identify_push_10mb(served: ServedHost) -> None:
    base = served.rss_mib()
    c = await yamux_conn(served)
    msg = ms_select("/ipfs/id/push/1.0.0") + varint_encode(10 * MIB) + b"\x0a" * (10 * MIB)
    c.send(yamux_frame(Y_DATA, Y_SYN, 1, 0))
    for i in range(0, len(msg), 60000):
        part = msg[i:i + 60000]
        c.send(yamux_frame(Y_DATA, 0, 1, len(part), part))
    await c.drain(5)
    await asyncio.sleep(0.5)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_perf_1tb_never_read(served: ServedHost) -> None:
    """Ten perf streams each asking for 1 TB, the answers never read (yamux and mplex)."""
    base = served.rss_mib()
    y = await yamux_conn(served)
    m = await mplex_conn(served)
    req = ms_select("/perf/1.0.0") + struct.pack(">Q", 1 << 40)
    for s in range(10):
        y.send(yamux_frame(Y_DATA, Y_SYN | 4, 2 * s + 1, len(req), req))  # SYN|FIN
        m.send(mplex_frame(s, M_NEW, b"") + mplex_frame(s, M_MSG_INIT, req) + mplex_frame(s, 4))
    await y.drain(5)
    await m.drain(5)
    await asyncio.sleep(3)
    assert_served(await check_during_after(served, [y, m], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


# --- mplex ---------------------------------------------------------------------------------------

async def test_mplex_huge_length(served: ServedHost) -> None:
    c = await mplex_conn(served)
    c.send(mplex_frame(0, M_NEW) + mplex_header_only(0, M_MSG_INIT, 1 << 40))
    assert await closed_within(c), "host kept an mplex connection announcing a 1 TiB message"
    c.close()
    assert await good_ping(served) is None


async def test_mplex_unknown_flag(served: ServedHost) -> None:
    c = await mplex_conn(served)
    c.send(mplex_frame(0, M_NEW) + mplex_header_only(0, 7, 1) + b"x")
    assert await closed_within(c), "host kept an mplex connection that sent flag 7"
    c.close()
    assert await good_ping(served) is None


MPLEX_UNREAD_STREAMS = 256


async def test_mplex_streams_pushed_1mb_never_read(served: ServedHost) -> None:
    base = served.rss_mib()
    c = await mplex_conn(served)
    chunk = bytes(64 * 1024)
    loop = asyncio.get_running_loop()
    stop = loop.time() + 20
    for s in range(MPLEX_UNREAD_STREAMS):
        c.send(mplex_frame(s, M_NEW) + mplex_frame(s, M_MSG_INIT, ms_select("/echo/1.0.0")))
    for s in range(MPLEX_UNREAD_STREAMS):
        c.send(b"".join(mplex_frame(s, M_MSG_INIT, chunk) for _ in range(16)))
        if not await c.drain(5) or loop.time() > stop:
            break
    await asyncio.sleep(1)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


async def test_mplex_echo_never_read(served: ServedHost) -> None:
    base = served.rss_mib()
    c = await mplex_conn(served)
    c.send(mplex_frame(0, M_NEW) + mplex_frame(0, M_MSG_INIT, ms_select("/echo/1.0.0")))
    chunk = bytes(64 * 1024)
    loop = asyncio.get_running_loop()
    stop = loop.time() + 10
    for _ in range(2000):  # up to 128 MiB
        c.send(b"".join(mplex_frame(0, M_MSG_INIT, chunk) for _ in range(16)))
        if not await c.drain(2) or loop.time() > stop:
            break
    await asyncio.sleep(1)
    assert_served(await check_during_after(served, [c], base, BUFFER_BOUND_MIB), BUFFER_BOUND_MIB)


# --- whole connections, again and again -----------------------------------------------------------

LEAK_CLIENTS = 10
LEAK_ROUNDS = 100  # each round: every client connects, identifies and disconnects once
# What 1000 cycles may leave behind: before the fix each kept ~270 KiB (+264 MB here).
LEAK_BOUND_MIB = 16


async def test_connect_identify_disconnect_cycles(served: ServedHost) -> None:
    """10 client hosts connect, identify and disconnect, 100 times each: what the host holds
    for a connection must come back when it closes."""
    target = Multiaddr(served.addr)

    async def cycle(client) -> None:  # type: ignore[no-untyped-def]
        peer = await client.connect(target)
        await client.services["identify"].identify(peer)
        await client.disconnect(peer)

    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(new_host()) for _ in range(LEAK_CLIENTS)]
        await asyncio.gather(*(cycle(c) for c in clients))  # warm-up: peerstore entries, caches
        await asyncio.sleep(0.5)
        base = served.rss_mib()
        loop = asyncio.get_running_loop()
        stop = loop.time() + 90
        cycles = 0
        for _ in range(LEAK_ROUNDS):
            await asyncio.gather(*(cycle(c) for c in clients))
            cycles += len(clients)
            if loop.time() > stop:
                break
    await asyncio.sleep(0.5)
    rss = served.rss_mib() - base
    assert cycles >= LEAK_CLIENTS * LEAK_ROUNDS // 2, f"only {cycles} cycles in 90 s"
    assert_served({"during": None, "after": await good_ping(served), "rss_growth_mib": rss,
                   "alive": served.alive}, LEAK_BOUND_MIB)


# --- DHT -----------------------------------------------------------------------------------------

DHT_FLOOD = 5000


async def _kad_flood(served: ServedHost, make) -> dict:  # type: ignore[no-untyped-def]
    base = served.rss_mib()
    c = await yamux_conn(served)
    sel = ms_select("/ipfs/kad/1.0.0")
    for s in range(50):
        sid = 2 * s + 1
        body = sel + b"".join(frame_message(make(s * 100 + k)) for k in range(DHT_FLOOD // 50))
        c.send(yamux_frame(Y_DATA, Y_SYN, sid, 0))
        for i in range(0, len(body), 60000):
            part = body[i:i + 60000]
            c.send(yamux_frame(Y_DATA, 0, sid, len(part), part))
        await c.drain(5)
    await asyncio.sleep(2)
    return await check_during_after(served, [c], base, BUFFER_BOUND_MIB)


async def test_dht_record_flood(served: ServedHost) -> None:
    """5000 PUT_VALUE of 10 KiB records under /test/ (accepted by --permissive): 50 MB offered."""
    value = bytes(10 * 1024)

    def make(i: int) -> KadMessage:
        key = f"/test/flood-{i}".encode()
        return KadMessage(MessageType.PUT_VALUE, key=key, record=KadRecord(key, value))

    assert_served(await _kad_flood(served, make), BUFFER_BOUND_MIB)


async def test_dht_provider_flood(served: ServedHost) -> None:
    """5000 ADD_PROVIDER for distinct keys, each naming a fresh provider with 30 addresses."""
    from libp2p.multiaddr import Multiaddr

    addrs = tuple(Multiaddr(f"/ip4/10.0.{i // 250}.{i % 250}/tcp/4001") for i in range(30))
    me = PeerId.from_public_key(generate_key_pair().public_key)

    def make(i: int) -> KadMessage:
        return KadMessage(MessageType.ADD_PROVIDER, key=f"key-{i}".encode().ljust(34, b"k"),
                          provider_peers=(KadPeer(me, addrs),))

    assert_served(await _kad_flood(served, make), BUFFER_BOUND_MIB)
