"""The API an application meets (issue 17, item 1): one import, documented methods,
length-prefixed messages, host.ping, connect by peer ID, dial_protocol, routed new_stream."""

from __future__ import annotations

import asyncio
import importlib
import inspect

import pytest

import libp2p
from libp2p import (
    DialError,
    Host,
    HostConfig,
    Libp2pError,
    NoAddressesError,
    PeerId,
    ProtocolNotSupportedError,
    RecordNotFoundError,
    Stream,
    messages,
    new_host,
    read_message,
    write_message,
)
from libp2p.errors import FrameTooLargeError, TruncatedFrameError
from libp2p.protocols.echo import EchoService
from libp2p.protocols.kad import KadConfig, KadDHT
from libp2p.transport.memory import MemoryNetwork, MemoryTransport

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def test_everything_in_all_imports_and_errors_are_library_errors() -> None:
    for name in libp2p.__all__:
        value = getattr(libp2p, name)
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert issubclass(value, Libp2pError), name
    for name in ("DialError", "StreamResetError", "ProtocolNotSupportedError", "PeerIdMismatchError",
                 "NoAddressesError", "RecordNotFoundError", "InvalidRecordError", "MissingPeerIdError"):
        assert name in libp2p.__all__
    assert Stream is not None and HostConfig().dial_timeout > 0
    assert set(libp2p._LAZY) <= set(dir(libp2p)) and set(libp2p._LAZY) <= set(libp2p.__all__)


_DOCUMENTED = {
    "libp2p.host.host": ["Host", "HostConfig"],
    "libp2p.protocols.kad.service": ["KadDHT"],
    "libp2p.protocols.ping.service": ["PingService"],
    "libp2p.protocols.identify.service": ["IdentifyService"],
    "libp2p.protocols.echo": ["EchoService"],
    "libp2p.protocols.perf.service": ["PerfService"],
    "libp2p.muxer.connection": ["MuxedStream", "MuxedConnection"],
    "libp2p.peerstore": ["Peerstore", "PeerInfo"],
    "libp2p.host.events": ["EventBus"],
    "libp2p.host.service": ["Service"],
    "libp2p.multiaddr": ["Multiaddr"],
    "libp2p.identity.peer_id": ["PeerId"],
    "libp2p.identity.keys": ["PrivateKey", "PublicKey"],
    "libp2p.protocols.kad.records": ["FunctionValidator", "PermissiveValidator", "NamespacedValidator"],
    "libp2p.host.connmgr": ["ConnectionManager"],
    "libp2p.resources": ["ResourceManager"],
}


def test_every_public_method_has_a_docstring() -> None:
    missing = []
    for module_name, names in _DOCUMENTED.items():
        module = importlib.import_module(module_name)
        for name in names:
            cls = getattr(module, name)
            assert inspect.getdoc(cls), name
            for attr, obj in vars(cls).items():
                if attr.startswith("_"):
                    continue
                func = obj.fget if isinstance(obj, property) else obj
                if isinstance(func, (staticmethod, classmethod)):
                    func = func.__func__
                if callable(func) and not inspect.getdoc(func):
                    missing.append(f"{module_name}.{name}.{attr}")
    assert missing == []


class _Pipe:
    """A stream stand-in: what one side writes, the other reads."""

    def __init__(self, data: bytes = b"") -> None:
        self.buf = bytearray(data)

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        self.buf += data

    async def read(self, n: int = -1) -> bytes:
        n = len(self.buf) if n < 0 else min(n, len(self.buf))
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    async def readexactly(self, n: int) -> bytes:
        if len(self.buf) < n:
            raise asyncio.IncompleteReadError(bytes(self.buf), n)
        return await self.read(n)


async def test_length_prefixed_messages_roundtrip_and_bounds() -> None:
    pipe = _Pipe()
    for message in (b"", b"x", b"y" * 300, b"z" * 70_000):
        await write_message(pipe, message)
    assert pipe.buf.startswith(b"\x00\x01x\xac\x02")  # uvarint(300) = ac 02
    assert [m async for m in messages(pipe)] == [b"", b"x", b"y" * 300, b"z" * 70_000]
    assert await read_message(_Pipe()) is None  # clean end of stream
    with pytest.raises(FrameTooLargeError):
        await read_message(_Pipe(b"\xff\xff\xff\x7f"), max_size=1024)  # refused before reading
    with pytest.raises(TruncatedFrameError):
        await read_message(_Pipe(b"\x05abc"))
    with pytest.raises(TruncatedFrameError):
        await read_message(_Pipe(b"\x80"))


async def test_messages_over_a_real_stream_with_dial_protocol_and_ping() -> None:
    async def shout(stream: Stream) -> None:
        async for message in messages(stream):
            await write_message(stream, message.upper())

    async with new_host(listen_addrs=LOOPBACK) as server, new_host() as client:
        server.set_stream_handler("/shout/1.0.0", shout)
        stream = await client.dial_protocol(server.full_addrs()[0], "/shout/1.0.0")
        for word in (b"hello", b"libp2p"):
            await write_message(stream, word)
            assert await read_message(stream) == word.upper()
        await stream.close()
        assert await read_message(stream) is None
        rtt = await client.ping(server.peer_id)
        assert rtt > 0
        with pytest.raises(ProtocolNotSupportedError):
            bad = await client.dial_protocol(server.peer_id, ["/nobody/1.0.0", "/nobody/2.0.0"])
            await bad.read()


async def test_connect_by_peer_id_uses_the_peerstore() -> None:
    async with new_host(listen_addrs=LOOPBACK) as server, new_host() as client:
        with pytest.raises(NoAddressesError):
            await client.connect(server.peer_id)
        client.peerstore.add_addrs(server.peer_id, server.addrs, 60)
        assert await client.connect(server.peer_id) == server.peer_id
        assert client.connections(server.peer_id)


async def test_new_stream_routes_through_the_dht_when_no_address_is_known() -> None:
    net = MemoryNetwork()
    config = KadConfig(request_timeout=5.0)
    hosts: list[Host] = []
    try:
        for _ in range(3):
            host = new_host(transports=[MemoryTransport(net)], listen_addrs="/memory/0",
                            services=[KadDHT("server", config=config, refresh=False), EchoService()])
            await host.start()
            hosts.append(host)
        a, b, c = hosts
        # a line: a - b - c; a knows nothing of c's addresses
        await b.connect(a.full_addrs()[0])
        await c.connect(b.full_addrs()[0])
        dht_a = a.service(KadDHT)
        assert dht_a is not None
        async with asyncio.timeout(10):
            while len(dht_a.routing_table) < 1 or len(b.service(KadDHT).routing_table) < 2:  # type: ignore[union-attr]
                await asyncio.sleep(0.01)
        assert a.peerstore.addrs(c.peer_id) == []
        stream = await a.new_stream(c.peer_id, "/echo/1.0.0")
        await write_message(stream, b"routed")
        await stream.close()
        assert await read_message(stream) == b"routed"
        # a peer nobody knows: a typed dial error, not a hang
        stranger = PeerId.from_public_key(libp2p.generate_key_pair().public_key)
        with pytest.raises(DialError):
            async with asyncio.timeout(30):
                await a.connect(stranger)
        # once the DHT stops, the host no longer routes through it
        await a.remove_service(dht_a)
        assert a._peer_routers == []
    finally:
        for host in hosts:
            await host.close()
    assert issubclass(RecordNotFoundError, Libp2pError)
