#!/usr/bin/env python3
"""py-libp2p (PyPI ``libp2p`` 0.8.1, trio) interop peer for aiolibp2p's tests.

Runs in its OWN virtual environment (``ci/install_py_libp2p_peer.sh``): py-libp2p's import name is
``libp2p``, the same as aiolibp2p's. Same command line and JSON lines as the js peer
(``interop/js/peer.mjs``, documented in ``interop/js/README.md``) and the go peer
(``interop/go/README.md``); see ``interop/py-libp2p/README.md`` for what differs.

stdout carries JSON lines only (YAML for the unified-testing transport-interop dialer); logs go
to stderr (``LIBP2P_DEBUG=DEBUG`` adds py-libp2p's own).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import resource
import secrets
import signal
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import multiaddr
import trio

import libp2p

if libp2p.__version__ != "0.8.1":  # e.g. aiolibp2p shadowing py-libp2p through PYTHONPATH or the cwd
    sys.exit(f"peer.py: needs py-libp2p 0.8.1, imported libp2p {libp2p.__version__} from {libp2p.__file__} "
             "(run it with its venv's python -I)")

from libp2p.custom_types import TProtocol
from libp2p.identity.identify import identify as identify_mod
from libp2p.identity.identify.pb.identify_pb2 import Identify
from libp2p.identity.identify_push.identify_push import ID_PUSH, push_identify_to_peer
from libp2p.identity.update import update_peerstore_from_identify
from libp2p.io.utils import read_exactly
from libp2p.peer.envelope import consume_envelope
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.rcmgr import ResourceManager
from libp2p.rcmgr.manager import ResourceLimits
from libp2p.stream_muxer.mplex.mplex import MPLEX_PROTOCOL_ID, Mplex
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from libp2p import new_host


def _load_pubsub_role() -> Any:
    # beside this file; `python -I` puts no script directory on sys.path
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "pubsub_role", os.path.join(os.path.dirname(os.path.abspath(__file__)), "pubsub_role.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pubsub_role = _load_pubsub_role()

log = logging.getLogger("py-libp2p-peer")

ECHO = TProtocol("/echo/1.0.0")
HASH = TProtocol("/hash/1.0.0")
PERF = TProtocol("/perf/1.0.0")
PING = TProtocol("/ipfs/ping/1.0.0")
IDENTIFY = TProtocol("/ipfs/id/1.0.0")
MUXERS = {"yamux": (TProtocol(YAMUX_PROTOCOL_ID), Yamux), "mplex": (TProtocol(MPLEX_PROTOCOL_ID), Mplex)}
CHUNK = 64 * 1024
MPLEX_CHUNK = 4076  # py-libp2p's mplex CHUNK_SIZE: what one write() sends as one mplex message
ZEROS = bytes(CHUNK)
PERF_SERVER_PEER_ID = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
LIB_VERSION = libp2p.__version__
DEFAULT_AGENT = identify_mod.AGENT_VERSION  # "py-libp2p/0.8.1"
DIAL_TIMEOUT = 15.0


# -- output ---------------------------------------------------------------------------------------


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def logf(msg: str, *args: Any) -> None:
    text = msg % args if args else msg
    sys.stderr.write(f"py-libp2p-peer: {text}\n")
    sys.stderr.flush()


def err_text(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)  # a trio nursery's ExceptionGroup of one: say what failed
    if isinstance(inner, (list, tuple)) and len(inner) == 1 and isinstance(inner[0], BaseException):
        return err_text(inner[0])
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class UsageError(Exception):
    pass


# -- host construction ----------------------------------------------------------------------------


def load_key(key_type: str, seed_hex: str | None) -> Any:
    if seed_hex is not None:
        try:
            seed = bytes.fromhex(seed_hex)
        except ValueError:
            seed = b""
        if len(seed) != 32:
            raise UsageError("--key-seed must be 64 hex characters (a 32-byte Ed25519 seed)")
        if key_type != "ed25519":
            raise UsageError("--key-seed needs --key-type ed25519")
        from libp2p.crypto.ed25519 import Ed25519PrivateKey
        from libp2p.crypto.keys import KeyPair

        # not create_identity_from_seed(): Ed25519PrivateKey.new() treats an empty seed as "random",
        # and we want the exact RFC 8032 key for every seed (the all-zero one included)
        priv = Ed25519PrivateKey.from_bytes(seed)
        return KeyPair(priv, priv.get_public_key())
    if key_type == "ed25519":
        from libp2p.crypto.ed25519 import create_new_key_pair
        return create_new_key_pair()
    if key_type == "secp256k1":
        from libp2p.crypto.secp256k1 import create_new_key_pair as secp
        return secp()
    if key_type == "rsa":
        from libp2p.crypto.rsa import create_new_key_pair as rsa
        return rsa(2048)
    if key_type == "ecdsa":
        # libp2p.crypto.ecc exists, but a host with an ECDSA identity dies with NotImplementedError
        raise UsageError("py-libp2p 0.8.1 cannot run with an ECDSA identity (NotImplementedError)")
    raise UsageError(f"unknown --key-type {key_type!r}")


def security_options(key_pair: Any, security: str) -> dict[TProtocol, Any]:
    if security == "noise":
        from libp2p.crypto.x25519 import create_new_key_pair as x25519
        from libp2p.security.noise.transport import PROTOCOL_ID, Transport
        return {TProtocol(PROTOCOL_ID): Transport(key_pair, noise_privkey=x25519().private_key)}
    if security == "tls":
        from libp2p.security.tls.transport import PROTOCOL_ID, TLSTransport
        return {TProtocol(PROTOCOL_ID): TLSTransport(key_pair)}
    raise UsageError(f"unknown --security {security!r} (noise or tls)")


def permissive_resource_manager() -> ResourceManager:
    # py-libp2p's default resource manager rate-limits connections per peer (10/s, burst 50), has a
    # circuit breaker and memory accounting; tests open many streams and connections quickly
    return ResourceManager(limits=ResourceLimits(max_connections=100_000, max_memory_mb=1 << 20,
                                                 max_streams=10_000_000),
                           enable_metrics=False, enable_connection_tracking=False, enable_memory_limits=False,
                           enable_circuit_breaker=False, enable_graceful_degradation=False,
                           enable_rate_limiting=False)


def quiet_connection_config(dialer: bool) -> Any:
    """py-libp2p's swarm runs an AutoConnector that dials peerstore peers whenever fewer than
    min_connections (50) are open, and a pruner above high_watermark: both off (a perf client's
    hang-up would otherwise be followed by a reconnect behind our back).

    ``max_connections_per_peer``: Swarm.dial_peer starts a dial per address ("happy eyeballs")
    and then waits 250 ms before the next one, or before returning after the last one, unless a
    dial failed or the peer's connection count reached max_connections_per_peer (default 3).
    So with one address every dial takes >= 250 ms unless the limit is 1: dialers use 1. A
    listener keeps a high limit (above it, py-libp2p trims a peer's extra connections)."""
    from libp2p.network.config import ConnectionConfig
    return ConnectionConfig(min_connections=0, low_watermark=0, high_watermark=100_000, max_connections=100_000,
                            max_connections_per_peer=1 if dialer else 1000, auto_connect_interval=1e9)


def make_host(key_pair: Any, muxers: list[str], security: str, listen: list[str] | None = None,
              websocket: bool = False, quic: bool = False) -> Any:
    """A py-libp2p host (TCP, or WebSocket with ``websocket``, or QUIC alone with ``quic``; a
    listener picks its transports from ``listen``); a dialer when ``listen`` is empty."""
    muxer_opt = {MUXERS[m][0]: MUXERS[m][1] for m in muxers}
    extra = {"enable_websocket": True} if websocket else {}
    if quic:
        extra["enable_quic"] = True
    if quic or any("/quic-v1" in a for a in listen or []):
        # py-libp2p's QUIC streams fail a read (or write) that waits 30 s (STREAM_READ_TIMEOUT):
        # a perf client reading while a slow upload drains on the other side would fail
        from libp2p.transport.quic.config import QUICTransportConfig
        extra["quic_transport_opt"] = QUICTransportConfig(STREAM_READ_TIMEOUT=3600.0, STREAM_WRITE_TIMEOUT=3600.0)
    return new_host(key_pair=key_pair, muxer_opt=muxer_opt, sec_opt=security_options(key_pair, security),
                    resource_manager=permissive_resource_manager(), connection_config=quiet_connection_config(not listen),
                    listen_addrs=[multiaddr.Multiaddr(a) for a in listen] if listen else None, **extra)


def host_protocols(host: Any) -> list[str]:
    return sorted(str(p) for p in host.get_mux().get_protocols() if p is not None)


def p2p_addrs(host: Any) -> list[str]:
    pid = host.get_id().to_base58()
    out = []
    for a in host.get_addrs():
        s = str(a)
        out.append(s if "/p2p/" in s else f"{s}/p2p/{pid}")
    return out


def conn_info(conn: Any) -> dict[str, Any]:
    remote = None
    with _suppress():
        addrs = conn.get_transport_addresses()
        if addrs:
            remote = str(addrs[0])
    direction = getattr(conn, "direction", None)
    dname = getattr(direction, "name", str(direction)).lower() if direction is not None else None
    return {"peer": conn.muxed_conn.peer_id.to_base58(), "remote_addr": remote, "direction": dname,
            "muxer": conn.get_negotiated_muxer_protocol(), "encryption": conn.get_negotiated_security_protocol()}


def first_conn(host: Any, peer: ID) -> Any:
    conns = host.get_network().get_connections(peer)
    return conns[0] if conns else None


# -- stream helpers -------------------------------------------------------------------------------


async def read_some(stream: Any, n: int = CHUNK) -> bytes:
    """Up to ``n`` bytes; b"" at EOF (py-libp2p raises StreamEOF)."""
    from libp2p.network.stream.exceptions import StreamEOF
    try:
        return await stream.read(n)
    except StreamEOF:
        return b""


async def read_to_end(stream: Any, sink: Callable[[bytes], None] | None = None) -> int:
    total = 0
    while True:
        data = await read_some(stream)
        if not data:
            return total
        total += len(data)
        if sink is not None:
            sink(data)


async def write_zeros(stream: Any, n: int, counter: list[int] | None = None) -> None:
    while n > 0:
        k = min(n, CHUNK)
        await stream.write(ZEROS[:k])
        if counter is not None:
            counter[0] += k
        n -= k


def is_mplex(stream: Any) -> bool:
    """py-libp2p 0.8.1's MplexStream guards read() and write() with one readers-writer lock, and a
    read() waiting for data holds it: a write issued while a read is pending blocks until that read
    returns. Reading and writing one mplex stream from two tasks therefore deadlocks (whenever the
    read starts first), so on mplex we write everything first and read afterwards."""
    return "mplex" in type(getattr(stream, "muxed_stream", None)).__module__


def remote_peer(stream: Any) -> str:
    return stream.muxed_conn.peer_id.to_base58()


# -- served protocols -----------------------------------------------------------------------------


class Node:
    """A py-libp2p host with the echo/hash/perf handlers, events and identify bookkeeping."""

    def __init__(self, host: Any, events: bool, nursery: trio.Nursery) -> None:
        self.host = host
        self.events = events
        self.nursery = nursery
        self.inbound_streams: list[dict[str, Any]] = []
        self.identify_pushes: list[dict[str, Any]] = []
        self.identified: dict[str, dict[str, Any]] = {}
        self._conn_ids: dict[int, int] = {}
        self._next_conn = 0
        self.identify_on_connect = False
        self.pubsub: Any = None  # pubsub_role.PubsubRole under listen --pubsub
        host.set_stream_handler(ECHO, self.handle_echo)
        host.set_stream_handler(HASH, self.handle_hash)
        host.set_stream_handler(PERF, handle_perf)
        host.set_stream_handler(ID_PUSH, self.handle_identify_push)
        host.get_network().register_notifee(_Notifee(self))

    def event(self, obj: dict[str, Any]) -> None:
        if self.events:
            emit(obj)

    # connections

    def on_connected(self, conn: Any) -> None:
        self._next_conn += 1
        self._conn_ids[id(conn)] = self._next_conn
        info = conn_info(conn)
        self.event({"event": "connection_open", "id": str(self._next_conn), **info})
        if self.identify_on_connect:
            self.nursery.start_soon(self._identify_new, conn)

    def on_disconnected(self, conn: Any) -> None:
        cid = self._conn_ids.pop(id(conn), None)
        self.event({"event": "connection_close", "id": str(cid), **conn_info(conn)})

    async def _identify_new(self, conn: Any) -> None:
        peer = conn.muxed_conn.peer_id
        # wait for the connection to accept streams
        started = getattr(conn, "event_started", None)
        if started is not None:
            with trio.move_on_after(5):
                await started.wait()
        try:
            with trio.fail_after(15):
                info = await self.identify(peer)
        except BaseException as exc:
            if isinstance(exc, trio.Cancelled):
                raise
            self.event({"event": "identify_error", "peer": peer.to_base58(), "error": err_text(exc)})
            return
        self.event({"event": "identify", **info, "peer_store": self.peer_store(peer)})

    # identify

    async def identify(self, peer: ID) -> dict[str, Any]:
        """A fresh /ipfs/id/1.0.0 request; updates the peerstore; returns the decoded fields."""
        stream = await self.host.new_stream(peer, [IDENTIFY])
        try:
            raw = bytearray()
            await read_to_end(stream, raw.extend)
        finally:
            with _suppress():
                await stream.close()
        msg = decode_identify(bytes(raw))
        await update_peerstore_from_identify(self.host.get_peerstore(), peer, msg)
        info = identify_fields(peer, msg)
        self.identified[peer.to_base58()] = info
        return info

    async def handle_identify_push(self, stream: Any) -> None:
        peer = stream.muxed_conn.peer_id
        try:
            raw = bytearray()
            with trio.fail_after(15):
                await read_to_end(stream, raw.extend)
            msg = decode_identify(bytes(raw))
            await update_peerstore_from_identify(self.host.get_peerstore(), peer, msg)
            info = identify_fields(peer, msg)
            self.identify_pushes.append(info)
            self.event({"event": "identify_push", **info})
        except Exception as exc:  # noqa: BLE001
            self.event({"event": "identify_error", "peer": peer.to_base58(), "error": err_text(exc)})
            with _suppress():
                await stream.reset()
            return
        with _suppress():
            await stream.close()

    def peer_store(self, peer: ID) -> dict[str, Any]:
        ps = self.host.get_peerstore()
        certified: set[str] = set()
        has_record = False
        with _suppress():
            env = ps.get_peer_record(peer)
            if env is not None:
                has_record = True
                certified = {str(a) for a in env.record().addrs}
        addrs = []
        with _suppress():
            addrs = [str(a) for a in ps.addrs(peer)]
        protocols: list[str] = []
        with _suppress():
            protocols = sorted(str(p) for p in ps.get_protocols(peer))
        has_key = False
        with _suppress():
            has_key = ps.pubkey(peer) is not None
        known = self.identified.get(peer.to_base58(), {})
        return {"addresses": [{"addr": a, "certified": a in certified} for a in addrs], "protocols": protocols,
                "agent": known.get("agent"), "protocol_version": known.get("protocol_version"),
                "has_public_key": has_key, "has_peer_record": has_record}

    # echo / hash

    async def handle_echo(self, stream: Any) -> None:
        peer, total, ok, error = remote_peer(stream), 0, True, None
        try:
            while True:
                data = await read_some(stream)
                if not data:
                    break
                total += len(data)
                await stream.write(data)
            await stream.close()
        except Exception as exc:  # noqa: BLE001
            ok, error = False, err_text(exc)
            with _suppress():
                await stream.reset()
        self._stream_event("/echo/1.0.0", peer, total, ok, error)

    async def handle_hash(self, stream: Any) -> None:
        peer, h, ok, error, total = remote_peer(stream), hashlib.sha256(), True, None, 0
        try:
            total = await read_to_end(stream, h.update)
            await stream.write(h.hexdigest().encode())
            await stream.close()
        except Exception as exc:  # noqa: BLE001
            ok, error = False, err_text(exc)
            with _suppress():
                await stream.reset()
        self._stream_event("/hash/1.0.0", peer, total, ok, error, sha256=h.hexdigest())

    def _stream_event(self, protocol: str, peer: str, total: int, ok: bool, error: str | None,
                      **extra: Any) -> None:
        ev: dict[str, Any] = {"event": "stream", "protocol": protocol, "peer": peer, "direction": "inbound",
                              "bytes": total, "ok": ok, **extra}
        if error is not None:
            ev["error"] = error
        self.inbound_streams.append({k: v for k, v in ev.items() if k != "event"})
        self.event(ev)

    # client operations

    async def ping(self, peer: ID, count: int) -> list[float]:
        """``count`` round trips of 32 random bytes on one stream (float ms), then half-close."""
        stream = await self.host.new_stream(peer, [PING])
        rtts = []
        try:
            for _ in range(count):
                payload = secrets.token_bytes(32)
                t0 = time.perf_counter()
                await stream.write(payload)
                pong = await read_exactly(stream, 32)
                rtts.append(round((time.perf_counter() - t0) * 1000, 3))
                if pong != payload:
                    raise ValueError("ping: wrong payload echoed")
        except BaseException:
            with _suppress():
                await stream.reset()
            raise
        with _suppress():
            await stream.close()
        return rtts

    async def stream_check(self, peer: ID, protocol: str, size: int) -> bool:
        """Send ``size`` random bytes on a new echo/hash stream; check the reply by sha256."""
        data = secrets.token_bytes(size)
        stream = await self.host.new_stream(peer, [TProtocol(protocol)])
        got = hashlib.sha256()
        raw = bytearray()

        async def writer() -> None:
            view = memoryview(data)
            for i in range(0, len(data), CHUNK):
                await stream.write(bytes(view[i:i + CHUNK]))
            await stream.close_write()

        try:
            if is_mplex(stream) and protocol == "/echo/1.0.0":
                # lock-step (see is_mplex()): write one mplex message, read its echo, repeat.
                # Writing everything first stalls against a py-libp2p echo server (neither side
                # reads while it writes; both block once the TCP buffers are full), and so do
                # bigger steps with concurrent streams: py-libp2p's mplex reader hands each frame
                # to a one-slot per-stream channel and waits (up to 5 s, then resets the stream),
                # so one stream still busy writing blocks every other stream's frames.
                view = memoryview(data)
                for i in range(0, len(data), MPLEX_CHUNK):
                    chunk = bytes(view[i:i + MPLEX_CHUNK])
                    await stream.write(chunk)
                    got.update(await read_exactly(stream, len(chunk)))
                await stream.close_write()
                if await read_some(stream):
                    raise ValueError("echo: more bytes came back than were sent")
            elif is_mplex(stream):
                await writer()
                await read_to_end(stream, raw.extend)
            else:
                async with trio.open_nursery() as n:
                    n.start_soon(writer)
                    await read_to_end(stream, raw.extend if protocol == "/hash/1.0.0" else got.update)
        except BaseException:
            with _suppress():
                await stream.reset()
            raise
        with _suppress():
            await stream.close()
        want = hashlib.sha256(data)
        if protocol == "/hash/1.0.0":
            return bytes(raw).decode("ascii", "replace") == want.hexdigest()
        return got.digest() == want.digest()


class _Notifee:
    """INotifee (duck-typed: py-libp2p only calls the methods)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def connected(self, network: Any, conn: Any) -> None:
        self.node.on_connected(conn)

    async def disconnected(self, network: Any, conn: Any) -> None:
        self.node.on_disconnected(conn)

    async def opened_stream(self, network: Any, stream: Any) -> None:
        pass

    async def closed_stream(self, network: Any, stream: Any) -> None:
        pass

    async def listen(self, network: Any, ma: Any) -> None:
        pass

    async def listen_close(self, network: Any, ma: Any) -> None:
        pass


class _suppress:
    """contextlib.suppress(Exception) that lets trio.Cancelled through."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: object) -> bool:
        return et is not None and issubclass(et, Exception)


def decode_identify(raw: bytes) -> Identify:
    from libp2p.utils import decode_varint_with_size
    if not raw:
        raise ValueError("empty identify response (stream closed before the remote answered)")
    length, size = decode_varint_with_size(raw)
    if size > 0 and size + length == len(raw):
        raw = raw[size:]
    msg = Identify()
    msg.ParseFromString(raw)
    return msg


def identify_fields(peer: ID, msg: Identify) -> dict[str, Any]:
    def ma(b: bytes) -> str | None:
        try:
            return str(multiaddr.Multiaddr(b))
        except Exception:  # noqa: BLE001
            return None

    record = None
    if msg.HasField("signedPeerRecord") and msg.signedPeerRecord:
        try:
            _env, rec = consume_envelope(msg.signedPeerRecord, "libp2p-peer-record")
            if rec.peer_id == peer:
                record = {"seq": str(rec.seq), "addrs": [str(a) for a in rec.addrs]}
        except Exception as exc:  # noqa: BLE001
            logf("bad signed peer record from %s: %s", peer, exc)
    return {"peer": peer.to_base58(),
            "agent": msg.agent_version if msg.HasField("agent_version") else None,
            "protocol_version": msg.protocol_version if msg.HasField("protocol_version") else None,
            "protocols": list(msg.protocols),
            "listen_addrs": [a for a in (ma(b) for b in msg.listen_addrs) if a is not None],
            "observed_addr": ma(msg.observed_addr) if msg.HasField("observed_addr") and msg.observed_addr else None,
            "has_public_key": msg.HasField("public_key") and bool(msg.public_key),
            "signed_peer_record": record}


# -- perf (libp2p/specs perf/perf.md) -------------------------------------------------------------


async def handle_perf(stream: Any) -> None:
    try:
        hdr = await read_exactly(stream, 8)
        (size,) = struct.unpack(">Q", hdr)
        await read_to_end(stream)
        await write_zeros(stream, size)
        await stream.close()
    except Exception as exc:  # noqa: BLE001
        logf("perf handler: %s", err_text(exc))
        with _suppress():
            await stream.reset()


async def perf_once(host: Any, peer: ID, upload: int, download: int, up: list[int] | None = None,
                    down: list[int] | None = None) -> float:
    up = up if up is not None else [0]
    down = down if down is not None else [0]
    t0 = time.perf_counter()
    stream = await host.new_stream(peer, [PERF])
    before = down[0]

    async def writer() -> None:
        await stream.write(struct.pack(">Q", download))
        await write_zeros(stream, upload, up)
        await stream.close_write()

    def count(b: bytes) -> None:
        down[0] += len(b)

    try:
        if is_mplex(stream):  # see is_mplex(); the perf server drains the upload before it sends
            await writer()
            await read_to_end(stream, count)
        else:
            async with trio.open_nursery() as n:
                n.start_soon(writer)
                await read_to_end(stream, count)
    except BaseException:
        with _suppress():
            await stream.reset()
        raise
    with _suppress():
        await stream.close()
    if down[0] - before != download:
        raise RuntimeError(f"perf: expected {download} bytes, received {down[0] - before}")
    return time.perf_counter() - t0


# -- modes ----------------------------------------------------------------------------------------


def parse_target(to: str) -> Any:
    try:
        ma = multiaddr.Multiaddr(to)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"bad multiaddr {to!r}: {exc}") from None
    if "/p2p/" not in to:
        raise UsageError(f"--to must end in /p2p/<peer id> (py-libp2p dials peers): {to}")
    return info_from_p2p_addr(ma)


async def connect(host: Any, info: Any, timeout: float = DIAL_TIMEOUT) -> None:
    with trio.fail_after(timeout):
        await host.connect(info)


async def stdin_lines(send: trio.MemorySendChannel[bytes | None]) -> None:
    """Feed stdin lines into ``send`` (a thread does the blocking reads); None at EOF."""
    async with send:
        while True:
            line = await trio.to_thread.run_sync(sys.stdin.buffer.readline, abandon_on_cancel=True)
            if not line:
                await send.send(None)
                return
            await send.send(line)


async def run_listen(o: argparse.Namespace) -> int:
    key = load_key(o.key_type, o.key_seed)
    muxers = [o.muxer] + [m for m in MUXERS if m != o.muxer]
    listen = o.listen or ["/ip4/127.0.0.1/tcp/0"]
    host = make_host(key, muxers, o.security, listen)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as sigs:
        async with host.run([multiaddr.Multiaddr(a) for a in listen]), trio.open_nursery() as nursery, \
                contextlib.AsyncExitStack() as stack:
            node = Node(host, o.events, nursery)
            node.identify_on_connect = True
            node.pubsub = await stack.enter_async_context(pubsub_role.running(host, o, node.event, nursery))
            ready = {"peer_id": host.get_id().to_base58(), "multiaddrs": p2p_addrs(host),
                     "agent": DEFAULT_AGENT, "protocols": host_protocols(host)}
            if node.pubsub is not None:
                ready.update(pubsub=o.pubsub, pubsub_sign=o.pubsub_sign)
            emit(ready)
            if node.pubsub is not None:
                node.pubsub.start_watch()
            logf("listening as %s on %s", host.get_id(), " ".join(p2p_addrs(host)))
            done = trio.Event()

            async def on_signal() -> None:
                async for s in sigs:
                    logf("shutting down (%s)", signal.Signals(s).name)
                    done.set()
                    return

            nursery.start_soon(on_signal)
            if not o.ignore_stdin and not o.run_server:
                send, recv = trio.open_memory_channel[bytes | None](16)
                nursery.start_soon(stdin_lines, send)

                async def commands() -> None:
                    async for line in recv:
                        if line is None:
                            logf("stdin closed; shutting down")
                            done.set()
                            return
                        text = line.decode("utf-8", "replace").strip()
                        if text == "quit":
                            done.set()
                            return
                        if text:
                            nursery.start_soon(run_command, node, text)

                nursery.start_soon(commands)
            await done.wait()
            nursery.cancel_scope.cancel()
        with trio.move_on_after(5):
            await host.close()
    return 0


async def run_command(node: Node, line: str) -> None:
    cmd, *args = line.split()
    res: dict[str, Any] = {"event": "cmd_result", "cmd": cmd, "args": args, "ok": True}
    host = node.host
    try:
        with trio.fail_after(30):
            if cmd in ("add-protocol", "remove-protocol"):
                if len(args) != 1:
                    raise ValueError(f"usage: {cmd} PROTOCOL")
                if cmd == "add-protocol":
                    host.set_stream_handler(TProtocol(args[0]), node.handle_echo)
                else:
                    host.remove_stream_handler(TProtocol(args[0]))
                await push_all(node)
                res["protocols"] = host_protocols(host)
            elif cmd == "push":
                res["peers"] = await push_all(node)
            elif cmd in ("ping", "echo", "identify", "peer-info"):
                if not args:
                    raise ValueError(f"usage: {cmd} PEER ...")
                peer = ID.from_base58(args[0])
                if cmd == "peer-info":
                    res.update(node.peer_store(peer))
                elif first_conn(host, peer) is None:
                    raise ValueError(f"not connected to {args[0]}")
                elif cmd == "ping":
                    res["rtts_ms"] = await node.ping(peer, int(args[1]) if len(args) > 1 else 1)
                elif cmd == "echo":
                    size = int(args[1]) if len(args) > 1 else 1024
                    if not await node.stream_check(peer, "/echo/1.0.0", size):
                        raise ValueError("echo: data mismatch")
                    res["bytes"] = size
                else:
                    res.update(await node.identify(peer))
            elif cmd == "connect" or cmd.startswith("pubsub-"):
                res.update(await pubsub_role.command(node.pubsub, host, cmd, args))
            elif cmd == "connections":
                conns = []
                for conn_list in host.get_network().connections.values():
                    items = conn_list if isinstance(conn_list, list) else [conn_list]
                    for c in items:
                        conns.append({"id": str(node._conn_ids.get(id(c))), **conn_info(c)})
                res["connections"] = conns
            else:
                raise ValueError(f"unknown command {cmd!r}")
    except Exception as exc:  # noqa: BLE001
        res["ok"] = False
        res["error"] = err_text(exc)
    except trio.TooSlowError:
        res["ok"] = False
        res["error"] = "timeout"
    node.event(res) if node.events else emit(res)


async def push_all(node: Node) -> list[str]:
    peers = list(node.host.get_network().connections.keys())
    pushed = []
    for p in peers:
        if await push_identify_to_peer(node.host, p):
            pushed.append(p.to_base58())
    return pushed


async def run_dial(o: argparse.Namespace) -> int:
    if not o.to:
        raise UsageError("dial needs --to MULTIADDR")
    info = parse_target(o.to)
    key = load_key(o.key_type, o.key_seed)
    host = make_host(key, [o.muxer], o.security, quic="/quic-v1" in o.to)
    result: dict[str, Any] = {
        "connected": False, "remote_peer": info.peer_id.to_base58(), "remote_addr": o.to, "muxer": None,
        "encryption": None, "remote_agent": None, "remote_protocol_version": None, "remote_protocols": [],
        "remote_listen_addrs": [], "observed_addr": None, "signed_peer_record": None, "peer_store": None,
        "identify_pushes": [], "inbound_streams": [], "ping_rtts_ms": [], "echo_ok": None, "streams_ok": None,
        "local_peer": host.get_id().to_base58(), "errors": [],
    }
    errors: list[str] = result["errors"]
    code = 0
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as sigs:
        async with host.run([]), trio.open_nursery() as nursery:
            node = Node(host, False, nursery)
            signalled: list[int] = []

            async def on_signal(scope: trio.CancelScope) -> None:
                async for s in sigs:
                    signalled.append(s)
                    scope.cancel()
                    return

            with trio.move_on_after(o.timeout_ms / 1000) as scope:
                nursery.start_soon(on_signal, scope)
                try:
                    await connect(host, info)
                except Exception as exc:  # noqa: BLE001
                    errors.append(f"dial: {err_text(exc)}")
                else:
                    await dial_work(o, node, info.peer_id, result)
            if scope.cancelled_caught:
                if signalled:
                    errors.append(f"interrupted: {signal.Signals(signalled[0]).name}")
                    code = 128 + signalled[0]
                else:
                    errors.append(f"timeout: --timeout-ms {o.timeout_ms} ran out")
                    code = 3
            result["identify_pushes"] = node.identify_pushes
            result["inbound_streams"] = node.inbound_streams
            nursery.cancel_scope.cancel()
        with trio.move_on_after(5):
            await host.close()
    emit(result)
    if code:
        return code
    return 1 if errors else 0


async def dial_work(o: argparse.Namespace, node: Node, peer: ID, result: dict[str, Any]) -> None:
    errors: list[str] = result["errors"]
    conn = first_conn(node.host, peer)
    result["connected"] = True
    if conn is not None:
        ci = conn_info(conn)
        result["muxer"], result["encryption"] = ci["muxer"], ci["encryption"]
        if ci["remote_addr"]:
            result["remote_addr"] = f"{ci['remote_addr']}/p2p/{peer.to_base58()}"
    try:
        with trio.fail_after(15):
            ident = await node.identify(peer)
        result.update({"remote_agent": ident["agent"], "remote_protocol_version": ident["protocol_version"],
                       "remote_protocols": ident["protocols"], "remote_listen_addrs": ident["listen_addrs"],
                       "observed_addr": ident["observed_addr"], "signed_peer_record": ident["signed_peer_record"]})
    except Exception as exc:  # noqa: BLE001
        errors.append(f"identify: {err_text(exc)}")
    except trio.TooSlowError:
        errors.append("identify: timeout")
    if o.pings > 0:
        try:
            result["ping_rtts_ms"] = await node.ping(peer, o.pings)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"ping: {err_text(exc)}")
    if o.echo_bytes > 0:
        try:
            result["echo_ok"] = await node.stream_check(peer, "/echo/1.0.0", o.echo_bytes)
            if not result["echo_ok"]:
                errors.append("echo: data mismatch")
        except Exception as exc:  # noqa: BLE001
            result["echo_ok"] = False
            errors.append(f"echo: {err_text(exc)}")
    if o.streams > 0:
        proto = {"echo": "/echo/1.0.0", "hash": "/hash/1.0.0"}[o.stream_protocol]
        oks: list[bool] = []
        errs: list[str] = []

        async def one() -> None:
            try:
                oks.append(await node.stream_check(peer, proto, o.stream_bytes))
            except Exception as exc:  # noqa: BLE001
                oks.append(False)
                errs.append(err_text(exc))

        async with trio.open_nursery() as n:
            for _ in range(o.streams):
                n.start_soon(one)
        result["streams_ok"] = all(oks) and len(oks) == o.streams
        if not result["streams_ok"]:
            bad = sum(1 for ok in oks if not ok)
            errors.append(f"streams: {bad}/{o.streams} failed" + (f": {errs[0]}" if errs else ""))
    if o.hold_ms > 0:
        await trio.sleep(o.hold_ms / 1000)
    result["peer_store"] = node.peer_store(peer)


def perf_multiaddr(host_port: str, transport: str) -> str:
    """The perf contract's address: ``--transport tcp`` or ``quic-v1``."""
    if transport not in ("tcp", "quic-v1"):
        raise UsageError(f"--transport: tcp or quic-v1, not {transport!r}")
    tcp = tcp_multiaddr(host_port)
    return tcp.replace("/tcp/", "/udp/") + "/quic-v1" if transport == "quic-v1" else tcp


def tcp_multiaddr(host_port: str) -> str:
    h, sep, port = host_port.rpartition(":")
    h = h.strip("[]")
    if not sep or not port.isdigit() or not h:
        raise UsageError(f"--server-address must be IP:PORT, not {host_port!r}")
    return f"/ip6/{h}/tcp/{port}" if ":" in h else f"/ip4/{h}/tcp/{port}"


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rusage_json() -> dict[str, int]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # the field names and units of node's process.resourceUsage()
    return {"userCPUTime": int(ru.ru_utime * 1e6), "systemCPUTime": int(ru.ru_stime * 1e6), "maxRSS": ru.ru_maxrss,
            "voluntaryContextSwitches": ru.ru_nvcsw, "involuntaryContextSwitches": ru.ru_nivcsw}


async def run_perf(o: argparse.Namespace) -> int:
    if o.run_server:
        if not o.server_address:
            raise UsageError("--run-server needs --server-address IP:PORT")
        o.listen = [perf_multiaddr(o.server_address, o.transport)]
        o.key_seed, o.key_type, o.events, o.ignore_stdin = "00" * 32, "ed25519", False, True
        return await run_listen(o)
    if o.server_address:
        return await run_perf_client(o)
    if o.to:
        return await run_perf_bench(o)
    raise UsageError("perf needs --run-server --server-address, --server-address or --to")


async def run_perf_client(o: argparse.Namespace) -> int:
    info = parse_target(perf_multiaddr(o.server_address, o.transport) + "/p2p/" + PERF_SERVER_PEER_ID)
    host = make_host(load_key("ed25519", None), [o.muxer], o.security, quic=o.transport == "quic-v1")
    up, down = [0], [0]
    timeout = o.timeout_ms / 1000 if o.timeout_ms >= 0 else 3600
    failure: BaseException | None = None
    timed_out = False
    async with host.run([]), trio.open_nursery() as nursery:
        start = time.perf_counter()

        async def ticker() -> None:
            last, lu, ld = start, 0, 0
            while True:
                await trio.sleep(1)
                now, u, d = time.perf_counter(), up[0], down[0]
                emit({"type": "intermediary", "timeSeconds": now - last, "uploadBytes": u - lu,
                      "downloadBytes": d - ld})
                last, lu, ld = now, u, d

        nursery.start_soon(ticker)
        with trio.move_on_after(timeout) as scope:
            try:
                await connect(host, info, timeout)
                await perf_once(host, info.peer_id, o.upload_bytes, o.download_bytes, up, down)
            except Exception as exc:  # noqa: BLE001
                failure = exc
        timed_out = scope.cancelled_caught
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    with trio.move_on_after(5):
        await host.close()
    if timed_out:
        logf("perf failed: timeout")
        return 3
    if failure is not None:
        logf("perf failed: %s", err_text(failure))
        return 1
    emit({"type": "final", "timeSeconds": elapsed, "uploadBytes": o.upload_bytes, "downloadBytes": o.download_bytes})
    return 0


async def run_perf_bench(o: argparse.Namespace) -> int:
    info = parse_target(o.to)
    host = make_host(load_key("ed25519", None), [o.muxer], o.security, quic="/quic-v1" in o.to)
    pings = max(o.pings, 0)
    result: dict[str, Any] = {
        "implementation": "py-libp2p", "muxer": None, "upload_bytes": o.upload_bytes,
        "download_bytes": o.download_bytes, "upload_seconds": [], "download_seconds": [],
        "upload_cpu_seconds": [], "download_cpu_seconds": [], "ping_rtts": [], "dial_seconds": [],
        "dial_ping_seconds": [], "errors": [],
    }
    timeout = o.timeout_ms / 1000 if o.timeout_ms >= 0 else 600
    code = 0
    async with host.run([]), trio.open_nursery() as nursery:
        node = Node(host, False, nursery)
        peer = info.peer_id

        async def work() -> None:
            await connect(host, info)
            conn = first_conn(host, peer)
            result["muxer"] = conn.get_negotiated_muxer_protocol() if conn is not None else None
            up, down = o.upload_bytes, o.download_bytes
            if up > 0 or down > 0:  # warm-up
                await perf_once(host, peer, min(up, 1 << 24), min(down, 1 << 24))
            for name, u, d in (("upload", up, 0), ("download", 0, down)):
                if u == 0 and d == 0:
                    continue
                for _ in range(o.iterations):
                    c0 = cpu_seconds()
                    result[f"{name}_seconds"].append(await perf_once(host, peer, u, d))
                    result[f"{name}_cpu_seconds"].append(cpu_seconds() - c0)
            if pings > 0:
                await node.ping(peer, min(pings, 10))  # warm-up
                result["ping_rtts"] = [round(ms * 1000) / 1e6 for ms in await node.ping(peer, pings)]
            await host.disconnect(peer)
            for i in range(o.dials + 1):
                t0 = time.perf_counter()
                await connect(host, info)
                t1 = time.perf_counter()
                await node.ping(peer, 1)
                t2 = time.perf_counter()
                if i > 0:  # the first one is a warm-up
                    result["dial_seconds"].append(t1 - t0)
                    result["dial_ping_seconds"].append(t2 - t0)
                await host.disconnect(peer)

        with trio.move_on_after(timeout) as scope:
            try:
                await work()
            except Exception as exc:  # noqa: BLE001
                result["errors"].append(err_text(exc))
                code = 1
        if scope.cancelled_caught:
            result["errors"].append(f"timeout: --timeout-ms {o.timeout_ms} ran out")
            code = 3
        nursery.cancel_scope.cancel()
    result["rusage"] = rusage_json()
    emit(result)
    with trio.move_on_after(5):
        await host.close()
    return code


# -- transport-interop ----------------------------------------------------------------------------


def interop_env_present() -> bool:
    return "IS_DIALER" in os.environ or "is_dialer" in os.environ


def read_interop_env() -> dict[str, Any]:
    unified = "IS_DIALER" in os.environ

    def get(upper: str, lower: str, default: str) -> str:
        name = upper if unified else lower
        v = os.environ.get(name, "").strip() if name else ""
        return v or default

    c: dict[str, Any] = {
        "unified": unified,
        "transport": get("TRANSPORT", "transport", ""),
        "muxer": get("MUXER", "muxer", ""),
        "security": get("SECURE_CHANNEL", "security", ""),
        "is_dialer": get("IS_DIALER", "is_dialer", "false") == "true",
        "ip": get("LISTENER_IP", "ip", "0.0.0.0"),
    }
    secs = get("TEST_TIMEOUT_SECS", "test_timeout_seconds", "180")
    if unified:
        c["redis_addr"] = get("REDIS_ADDR", "", "")
        key = get("TEST_KEY", "", "")
        if not c["redis_addr"] or not key:
            raise ValueError("REDIS_ADDR and TEST_KEY are required")
        c["redis_key"] = key + "_listener_multiaddr"
    else:
        c["redis_addr"] = get("", "redis_addr", "redis:6379")
        c["redis_key"] = "listenerAddr"
    try:
        c["timeout"] = float(secs)
    except ValueError:
        c["timeout"] = -1
    if c["timeout"] <= 0:
        raise ValueError(f"bad test timeout {secs!r}")
    if c["transport"] not in ("tcp", "ws", "quic-v1"):
        raise ValueError(f"transport {c['transport']!r} is not supported (tcp, ws or quic-v1)")
    if c["transport"] == "quic-v1":  # QUIC brings its own security and streams: the runner gives neither
        c["muxer"], c["security"] = c["muxer"] or "yamux", c["security"] or "noise"
    if c["muxer"] not in MUXERS:
        raise ValueError(f"muxer {c['muxer']!r} is not supported (yamux or mplex)")
    if c["security"] not in ("noise", "tls"):
        raise ValueError(f"security {c['security']!r} is not supported (noise or tls)")
    return c


def local_ips() -> list[str]:
    import socket
    ips = []
    try:
        import ifaddr  # a py-libp2p dependency
        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                if isinstance(ip.ip, str):
                    ips.append(ip.ip)
    except Exception:  # noqa: BLE001
        with _suppress():
            ips.append(socket.gethostbyname(socket.gethostname()))
    return ips


def pick_listen_addr(addrs: list[str], ip: str) -> str | None:
    """A non-loopback address unless told to listen on loopback; 0.0.0.0 becomes an interface IP."""
    out = []
    for a in addrs:
        if "/ip4/0.0.0.0/" in a:
            for lip in local_ips():
                out.append(a.replace("/ip4/0.0.0.0/", f"/ip4/{lip}/", 1))
        else:
            out.append(a)
    loopback = [a for a in out if a.startswith(("/ip4/127.", "/ip6/::1/"))]
    others = [a for a in out if a not in loopback]
    if others and not ip.startswith("127.") and ip != "::1":
        return others[0]
    if loopback:
        return loopback[0]
    return out[0] if out else None


async def run_transport_interop() -> int:
    try:
        cfg = read_interop_env()
    except ValueError as exc:
        logf("transport-interop: %s", exc)
        return 1
    import redis  # pinned in requirements.txt

    host_, _, port = cfg["redis_addr"].rpartition(":")
    rc = redis.Redis(host=host_ or "localhost", port=int(port or 6379), socket_connect_timeout=2)
    deadline = time.monotonic() + cfg["timeout"]
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as sigs, \
            trio.move_on_after(cfg["timeout"]) as scope:

        async def on_signal() -> None:
            async for s in sigs:
                logf("transport-interop: %s", signal.Signals(s).name)
                scope.cancel()
                return

        async with trio.open_nursery() as signals:
            signals.start_soon(on_signal)
            try:
                return await _transport_interop(cfg, rc, deadline)
            finally:
                signals.cancel_scope.cancel()
    # the test timeout or a signal: a listener's normal end (once it published its address), a
    # dialer's failure
    return 0 if not cfg["is_dialer"] and cfg.get("published") else 1


async def _transport_interop(cfg: dict[str, Any], rc: Any, deadline: float) -> int:
    while True:  # the Redis server may still be starting
        try:
            await trio.to_thread.run_sync(rc.ping, abandon_on_cancel=True)
            break
        except Exception as exc:  # noqa: BLE001
            if time.monotonic() > deadline:
                logf("transport-interop: Redis at %s unreachable: %s", cfg["redis_addr"], exc)
                return 1
            await trio.sleep(0.1)
    key = load_key("ed25519", None)
    listen = None
    if not cfg["is_dialer"]:
        proto = "ip6" if ":" in cfg["ip"] else "ip4"
        listen = [f"/{proto}/{cfg['ip']}/udp/0/quic-v1" if cfg["transport"] == "quic-v1" else
                  f"/{proto}/{cfg['ip']}/tcp/0" + ("/ws" if cfg["transport"] == "ws" else "")]
    host = make_host(key, [cfg["muxer"]], cfg["security"], listen, websocket=cfg["transport"] == "ws",
                     quic=cfg["is_dialer"] and cfg["transport"] == "quic-v1")
    code = 1
    async with host.run([multiaddr.Multiaddr(a) for a in listen or []]), trio.open_nursery() as nursery:
        try:
            code = await _interop_role(cfg, rc, deadline, host, Node(host, False, nursery))
        except Exception as exc:  # noqa: BLE001
            logf("transport-interop: %s", err_text(exc))
        finally:
            nursery.cancel_scope.cancel()
    with trio.move_on_after(5):
        await host.close()
    return code


async def _interop_role(cfg: dict[str, Any], rc: Any, deadline: float, host: Any, node: Node) -> int:
    logf("transport-interop (%s dialect): %s, %s/%s/%s, dialer=%s, addrs %s",
         "unified-testing" if cfg["unified"] else "test-plans", host.get_id(), cfg["transport"],
         cfg["security"], cfg["muxer"], cfg["is_dialer"], [str(a) for a in host.get_addrs()])
    if not cfg["is_dialer"]:
        addr = pick_listen_addr([str(a) for a in host.get_transport_addrs()], cfg["ip"])
        if addr is None:
            logf("transport-interop: no listen address")
            return 1
        full = f"{addr}/p2p/{host.get_id().to_base58()}"
        if cfg["unified"]:
            await trio.to_thread.run_sync(rc.delete, cfg["redis_key"])  # a leftover of another type breaks RPUSH
        await trio.to_thread.run_sync(rc.rpush, cfg["redis_key"], full)
        logf("transport-interop: published %s under %s", full, cfg["redis_key"])
        cfg["published"] = True
        await trio.sleep_forever()  # until the test timeout or a signal (run_transport_interop)
    left = max(1, int(deadline - time.monotonic()))
    val = await trio.to_thread.run_sync(lambda: rc.blpop([cfg["redis_key"]], timeout=left), abandon_on_cancel=True)
    if not val:
        logf("transport-interop: no listener address under %s", cfg["redis_key"])
        return 1
    target = val[1].decode() if isinstance(val[1], bytes) else str(val[1])
    logf("transport-interop: dialing %s", target)
    info = info_from_p2p_addr(multiaddr.Multiaddr(target))
    t0 = time.perf_counter()
    await connect(host, info, max(1.0, deadline - time.monotonic()))
    rtt = (await node.ping(info.peer_id, 1))[0]
    total = (time.perf_counter() - t0) * 1000
    if cfg["unified"]:
        sys.stdout.write(f"# Measurements from dialer\nlatency:\n  handshake_plus_one_rtt: {total:.3f}\n"
                         f"  ping_rtt: {rtt:.3f}\n  unit: ms\n")
        sys.stdout.flush()
    else:
        emit({"handshakePlusOneRTTMillis": round(total, 3), "pingRTTMilllis": rtt})
    return 0


# -- command line ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 2, message on stderr
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="peer.py", description="py-libp2p interop peer (see interop/py-libp2p/README.md)")
    p.add_argument("mode", choices=["listen", "dial", "perf", "transport-interop"])
    p.add_argument("--listen", action="append")
    p.add_argument("--to")
    p.add_argument("--muxer", choices=list(MUXERS), default="yamux")
    p.add_argument("--security", choices=["noise", "tls"], default="noise")
    p.add_argument("--key-seed")
    p.add_argument("--key-type", choices=["ed25519", "secp256k1", "rsa", "ecdsa"], default="ed25519")
    p.add_argument("--agent")
    p.add_argument("--events", action="store_true")
    p.add_argument("--ignore-stdin", action="store_true")
    p.add_argument("--perf", action="store_true", help="accepted; /perf/1.0.0 is always served")
    p.add_argument("--no-connection-monitor", action="store_true", help="accepted and ignored")
    p.add_argument("--pings", type=int, default=1)
    p.add_argument("--echo-bytes", type=int, default=0)
    p.add_argument("--streams", type=int, default=0)
    p.add_argument("--stream-bytes", type=int, default=1024)
    p.add_argument("--stream-protocol", choices=["echo", "hash"], default="echo")
    p.add_argument("--hold-ms", type=int, default=0)
    p.add_argument("--timeout-ms", type=int, default=60000)
    p.add_argument("--run-server", action="store_true")
    p.add_argument("--server-address")
    p.add_argument("--transport", default="tcp")
    p.add_argument("--upload-bytes", type=int, default=0)
    p.add_argument("--download-bytes", type=int, default=0)
    p.add_argument("--iterations", type=int, default=1)
    p.add_argument("--dials", type=int, default=0)
    pubsub_role.add_arguments(p)
    return p


def main(argv: list[str]) -> int:
    if not argv and interop_env_present():
        argv = ["transport-interop"]
    o = build_parser().parse_args(argv)
    try:
        pubsub_role.check_options(o, UsageError)
    except UsageError as exc:
        sys.stderr.write(f"peer.py: {exc}\n")
        return 2
    if o.agent is not None:
        identify_mod.AGENT_VERSION = o.agent  # read by py-libp2p's identify handler on every request
        global DEFAULT_AGENT
        DEFAULT_AGENT = o.agent
    runners: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "listen": run_listen, "dial": run_dial, "perf": run_perf,
        "transport-interop": lambda _o: run_transport_interop(),
    }
    if o.mode == "listen":
        o.run_server = False
    try:
        return trio.run(runners[o.mode], o)
    except UsageError as exc:
        sys.stderr.write(f"peer.py: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
