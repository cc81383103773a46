"""``libp2p transport-interop``: the libp2p transport-interop test application.

Configured by environment variables only, in either of the two dialects of the contract (the same
as go-libp2p's and rust-libp2p's test apps, see ``interop/go/README.md``):

* libp2p/test-plans ``transport-interop``: ``transport``, ``muxer``, ``security``, ``is_dialer``,
  ``ip`` (default 0.0.0.0), ``redis_addr`` (default ``redis:6379``), ``test_timeout_seconds`` (180).
  The listener RPUSHes its full multiaddr to the Redis list ``listenerAddr``; the dialer BLPOPs it,
  dials, pings once and prints one JSON line ``{"handshakePlusOneRTTMillis": f, "pingRTTMilllis": f}``
  (three l's: the test-plans runner's spelling).
* libp2p/unified-testing ``transport`` (chosen when ``IS_DIALER`` is set): ``TRANSPORT``,
  ``SECURE_CHANNEL``, ``MUXER``, ``IS_DIALER``, ``LISTENER_IP`` (0.0.0.0), ``REDIS_ADDR`` and
  ``TEST_KEY`` (both required), ``TEST_TIMEOUT_SECS`` (180), ``DEBUG`` (true: DEBUG logs). The list is
  ``<TEST_KEY>_listener_multiaddr`` (the listener DELs it first); the dialer prints YAML::

      # Measurements from dialer
      latency:
        handshake_plus_one_rtt: 5.011
        ping_rtt: 0.599
        unit: ms

Supported: transport ``tcp`` (security ``noise`` or ``tls``), ``ws`` or ``wss`` (a self-signed
certificate, unchecked by the dialer as in the test-plans apps; security ``noise``), each with muxer
``yamux`` or ``mplex``, or ``quic-v1``; anything else exits 1.
The listener waits for the test timeout or SIGTERM/SIGINT (exit 0). Handshake plus one RTT is the time
from the start of the dial (TCP + multistream + Noise + muxer) to the first pong; the ping RTT is that
ping's round trip on its own (its stream is opened optimistically, so the proposal shares the flight).
Logs go to stderr; stdout carries the result only. Redis is spoken to by :class:`RedisClient`, a
minimal RESP2 client on asyncio streams (no dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import logging
import os
import socket
import tempfile
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Self

from libp2p.cli import _common

__all__ = [
    "InteropConfig",
    "InteropConfigError",
    "RedisClient",
    "RedisError",
    "add_parser",
    "env_present",
    "format_result",
    "read_config",
    "run",
    "run_from_env",
]

log = logging.getLogger("libp2p.cli.interop")

LEGACY_KEY = "listenerAddr"
UNIFIED_KEY_SUFFIX = "_listener_multiaddr"
DEFAULT_TIMEOUT = 180.0
REDIS_IO_TIMEOUT = 10.0  # any Redis reply but BLPOP's


# -- configuration ---------------------------------------------------------------------------------


class InteropConfigError(ValueError):
    """The environment does not describe a test we can run."""


@dataclass(frozen=True, slots=True)
class InteropConfig:
    unified: bool  # unified-testing dialect (IS_DIALER set) rather than test-plans
    transport: str
    muxer: str
    security: str
    is_dialer: bool
    ip: str
    redis_host: str
    redis_port: int
    redis_key: str
    timeout: float
    debug: bool = False


def env_present(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for the test app (``IS_DIALER`` or ``is_dialer`` is set)."""
    env = os.environ if env is None else env
    return "IS_DIALER" in env or "is_dialer" in env


def _split_host_port(addr: str, default_port: int = 6379) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep:
        return addr, default_port
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise InteropConfigError(f"bad Redis address {addr!r}") from None
    if not host or not 0 < number < 65536:
        raise InteropConfigError(f"bad Redis address {addr!r}")
    return host, number


def read_config(env: Mapping[str, str] | None = None) -> InteropConfig:
    """The test's parameters, as go-libp2p's test app reads them (unified dialect if ``IS_DIALER`` is set)."""
    env = os.environ if env is None else env
    unified = "IS_DIALER" in env

    def get(upper: str, lower: str, default: str) -> str:
        value = env.get(upper if unified else lower, "").strip()
        return value or default

    transport = get("TRANSPORT", "transport", "")
    muxer = get("MUXER", "muxer", "")
    security = get("SECURE_CHANNEL", "security", "")
    is_dialer = get("IS_DIALER", "is_dialer", "false").lower() == "true"
    ip = get("LISTENER_IP", "ip", "0.0.0.0")
    timeout_text = get("TEST_TIMEOUT_SECS", "test_timeout_seconds", str(int(DEFAULT_TIMEOUT)))
    if unified:
        redis_addr = env.get("REDIS_ADDR", "").strip()
        test_key = env.get("TEST_KEY", "").strip()
        if not redis_addr or not test_key:
            raise InteropConfigError("REDIS_ADDR and TEST_KEY are required")
        key = test_key + UNIFIED_KEY_SUFFIX
    else:
        redis_addr = get("", "redis_addr", "redis:6379")
        key = LEGACY_KEY
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not timeout > 0:
        raise InteropConfigError(f"bad test timeout {timeout_text!r}")
    if transport not in _LISTEN_SUFFIX:
        raise InteropConfigError(f"transport {transport!r} is not supported ({', '.join(_LISTEN_SUFFIX)})")
    if transport == "quic-v1":
        # QUIC secures and multiplexes itself: the test plans leave these empty or ignore them.
        muxer, security = muxer or "yamux", security or "noise"
    if muxer not in _common.MUXERS:
        raise InteropConfigError(f"muxer {muxer!r} is not supported ({' or '.join(sorted(_common.MUXERS))})")
    if security not in _common.SECURITY:
        raise InteropConfigError(f"security {security!r} is not supported ({' or '.join(sorted(_common.SECURITY))})")
    if not is_dialer:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InteropConfigError(f"bad listener IP {ip!r}") from None
    redis_host, redis_port = _split_host_port(redis_addr)
    debug = unified and env.get("DEBUG", "").strip().lower() == "true"
    return InteropConfig(unified, transport, muxer, security, is_dialer, ip, redis_host, redis_port, key, timeout,
                         debug)


# -- a minimal Redis client (RESP2 over asyncio streams) ------------------------------------------


class RedisError(Exception):
    """An error reply from Redis (``-ERR ...``, ``-WRONGTYPE ...``) or a malformed reply."""


RespValue = bytes | int | str | list[Any] | None


class RedisClient:
    """Just enough Redis for the test apps: ``PING``, ``RPUSH``, ``BLPOP``, ``DEL``, ``GET``.

    One connection, one command at a time; every reply is awaited within a time limit.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, host: str, port: int, timeout: float = REDIS_IO_TIMEOUT) -> RedisClient:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    @classmethod
    async def connect_when_ready(cls, host: str, port: int, deadline: float) -> RedisClient:
        """Connect and PING, retrying every 100 ms until ``deadline`` (``loop.time()``): in a test
        network the Redis server may still be starting."""
        loop = asyncio.get_running_loop()
        while True:
            remaining = deadline - loop.time()
            try:
                client = await cls.connect(host, port, max(0.1, min(remaining, REDIS_IO_TIMEOUT)))
                try:
                    await client.ping()
                except BaseException:
                    await client.close()
                    raise
                return client
            except (OSError, TimeoutError, RedisError, EOFError) as exc:
                if loop.time() + 0.1 >= deadline:
                    raise TimeoutError(f"Redis at {host}:{port} unreachable: {_common.describe(exc)}") from None
                log.debug("Redis at %s:%d not ready: %s", host, port, _common.describe(exc))
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._writer.wait_closed()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @staticmethod
    def encode(*args: str | bytes | float) -> bytes:
        out = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        return b"".join(out)

    async def _line(self) -> bytes:
        line = await self._reader.readuntil(b"\r\n")
        return line[:-2]

    async def _reply(self) -> RespValue:
        line = await self._line()
        if not line:
            raise RedisError("empty reply line")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = await self._reader.readexactly(n + 2)
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            if n < 0:
                return None
            items: list[Any] = []
            for _ in range(n):
                try:
                    items.append(await self._reply())
                except RedisError as exc:  # an error inside an array is a value, not the reply
                    items.append(exc)
            return items
        raise RedisError(f"unexpected reply {line[:40]!r}")

    async def command(self, *args: str | bytes | float, timeout: float = REDIS_IO_TIMEOUT) -> RespValue:
        async with self._lock:
            self._writer.write(self.encode(*args))
            try:
                async with asyncio.timeout(timeout):
                    await self._writer.drain()
                    return await self._reply()
            except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                # the connection is out of step with its replies now: no further command on it
                self._writer.close()
                if isinstance(exc, TimeoutError):
                    raise TimeoutError(f"Redis {args[0]!s} got no reply within {timeout:g} s") from None
                raise RedisError(f"Redis {args[0]!s}: connection lost or bad reply ({exc!r})") from None

    async def ping(self) -> None:
        reply = await self.command("PING")
        if reply != "PONG":
            raise RedisError(f"PING answered {reply!r}")

    async def rpush(self, key: str, *values: str | bytes) -> int:
        reply = await self.command("RPUSH", key, *values)
        if not isinstance(reply, int):
            raise RedisError(f"RPUSH answered {reply!r}")
        return reply

    async def delete(self, *keys: str) -> int:
        reply = await self.command("DEL", *keys)
        if not isinstance(reply, int):
            raise RedisError(f"DEL answered {reply!r}")
        return reply

    async def get(self, key: str) -> bytes | None:
        reply = await self.command("GET", key)
        if reply is not None and not isinstance(reply, bytes):
            raise RedisError(f"GET answered {reply!r}")
        return reply

    async def blpop(self, key: str, timeout: float) -> bytes | None:
        """Pop the head of ``key``, waiting up to ``timeout`` seconds (> 0); None when it ran out."""
        seconds = max(timeout, 0.01)
        reply = await self.command("BLPOP", key, f"{seconds:.3f}", timeout=seconds + REDIS_IO_TIMEOUT)
        if reply is None:
            return None
        if not (isinstance(reply, list) and len(reply) == 2 and isinstance(reply[1], bytes)):
            raise RedisError(f"BLPOP answered {reply!r}")
        return reply[1]


# -- the test app ----------------------------------------------------------------------------------


def _outbound_ip(family: socket.AddressFamily) -> str | None:
    """This machine's address on its default route (no packet is sent), or None."""
    target = ("10.255.255.255", 9) if family == socket.AF_INET else ("fd00::1", 9)
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect(target)
            addr: str = s.getsockname()[0]
    except OSError:
        return None
    return None if ipaddress.ip_address(addr).is_unspecified else addr


def _advertised_addr(bound: list[Any], ip: str) -> Any:
    """The listen address to publish: a wildcard bind becomes this machine's routable address (as
    go-libp2p prefers a non-loopback interface address), loopback only when asked for."""
    from libp2p.multiaddr import Multiaddr

    if not bound:
        return None
    first = bound[0]
    text = str(first)
    wildcard = ipaddress.ip_address(ip).is_unspecified
    if not wildcard:
        return first
    v6 = ipaddress.ip_address(ip).version == 6
    routable = _outbound_ip(socket.AF_INET6 if v6 else socket.AF_INET)
    if routable is None:
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET6 if v6 else socket.AF_INET):
                candidate = str(info[4][0])
                if not ipaddress.ip_address(candidate).is_loopback:
                    routable = candidate
                    break
    replacement = routable or ("::1" if v6 else "127.0.0.1")
    proto = "ip6" if v6 else "ip4"
    return Multiaddr(text.replace(f"/{proto}/{ip}/", f"/{proto}/{replacement}/", 1)) if f"/{proto}/" in text \
        else first


# The listen address's tail per transport. wss serves a self-signed certificate and its dialer
# checks none, as the test-plans apps do: the security protocol on top authenticates the peer.
_LISTEN_SUFFIX = {"tcp": "/tcp/0", "ws": "/tcp/0/ws", "wss": "/tcp/0/wss", "quic-v1": "/udp/0/quic-v1"}


def _interop_transports(transport: str, listening: bool, workdir: str) -> list[Any] | None:
    """The host's transports for ``transport``; None: the defaults (TCP and WebSocket)."""
    if transport == "quic-v1":
        from libp2p.transport.quic import QuicTransport

        return [QuicTransport()]
    if transport in ("ws", "wss"):  # load the library before the timed dial, as QUIC's is above
        from libp2p.transport.websocket import preload_library

        preload_library()
    if transport != "wss":
        return None
    import ssl
    from pathlib import Path

    from libp2p.transport.websocket import WebsocketConfig, WebsocketTransport
    from libp2p.transport.ws_certs import write_self_signed

    client = ssl.create_default_context()
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    cert = key = None
    if listening:
        cert_path, key_path = write_self_signed(Path(workdir))
        cert, key = str(cert_path), str(key_path)
    return [WebsocketTransport(WebsocketConfig(tls_cert=cert, tls_key=key, tls_client_context=client))]


def format_result(config: InteropConfig, handshake_ms: float, ping_ms: float) -> str:
    """The dialer's stdout: one JSON line (test-plans) or the YAML block (unified-testing)."""
    total = round(handshake_ms, 3)
    rtt = round(ping_ms, 3)
    if config.unified:
        return (f"# Measurements from dialer\nlatency:\n  handshake_plus_one_rtt: {total}\n  ping_rtt: {rtt}\n"
                "  unit: ms\n")
    return json.dumps({"handshakePlusOneRTTMillis": total, "pingRTTMilllis": rtt}) + "\n"


async def _listener(config: InteropConfig, redis: RedisClient, stop: asyncio.Event, deadline: float) -> int:
    from libp2p.node import new_host

    proto = "ip6" if ipaddress.ip_address(config.ip).version == 6 else "ip4"
    with tempfile.TemporaryDirectory() as workdir:
        host = new_host(listen_addrs=[f"/{proto}/{config.ip}{_LISTEN_SUFFIX[config.transport]}"],
                        muxers=[_common.MUXERS[config.muxer]], security=[_common.SECURITY[config.security]],
                        transports=_interop_transports(config.transport, True, workdir))
        await host.start()  # the certificate is loaded: the directory may go
    try:
        addr = _advertised_addr(host.listen_addrs, config.ip)
        if addr is None:
            log.error("transport-interop: no listen address")
            return 1
        full = f"{addr}/p2p/{host.peer_id}"
        if config.unified:
            await redis.delete(config.redis_key)  # a leftover value of another type would break RPUSH
        await redis.rpush(config.redis_key, full)
        log.info("transport-interop: published %s under %s; waiting (up to %g s)", full, config.redis_key,
                 config.timeout)
        loop = asyncio.get_running_loop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, deadline - loop.time())):
                await stop.wait()
        log.info("transport-interop: %s", "stopped by signal" if stop.is_set() else "test timeout reached")
        return 0
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await host.close()


async def _pop_listener_addr(config: InteropConfig, redis: RedisClient, deadline: float) -> str:
    loop = asyncio.get_running_loop()
    try:
        value = await redis.blpop(config.redis_key, deadline - loop.time())
    except RedisError as exc:
        if not (config.unified and str(exc).startswith("WRONGTYPE")):
            raise
        value = await redis.get(config.redis_key)  # some apps SET the address rather than RPUSH it
    if value is None:
        raise TimeoutError(f"no listener address under {config.redis_key} within {config.timeout:g} s")
    return value.decode().strip()


async def _dialer(config: InteropConfig, redis: RedisClient, deadline: float, phase: list[str]) -> int:
    from libp2p.node import new_host
    from libp2p.peerstore import PeerInfo

    phase[0] = f"waiting for the listener's address under {config.redis_key}"
    text = await _pop_listener_addr(config, redis, deadline)
    try:
        info = PeerInfo.from_multiaddr(text)
    except ValueError as exc:
        log.error("transport-interop: bad listener address %r: %s", text, exc)
        return 1
    # the test timeout (the caller's deadline) bounds the dial and the ping
    async with new_host(muxers=[_common.MUXERS[config.muxer]], security=[_common.SECURITY[config.security]],
                        transports=_interop_transports(config.transport, False, "")) as host:
        log.info("transport-interop: %s dialing %s", host.peer_id, text)
        phase[0] = f"dialing {text}"
        start = time.perf_counter()
        await host.connect(info)
        phase[0] = f"pinging {info.peer_id}"
        rtts = await _common.ping_service(host).ping(info.peer_id, 1)
        total = time.perf_counter() - start
        sys.stdout.write(format_result(config, total * 1000, rtts[0] * 1000))
        sys.stdout.flush()
        log.info("transport-interop: handshake plus one RTT %.3f ms, ping RTT %.3f ms", total * 1000,
                 rtts[0] * 1000)
    return 0


async def _main(config: InteropConfig) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + config.timeout
    stop = _common.stop_event()
    log.info("transport-interop (%s dialect): %s/%s/%s, dialer=%s, Redis %s:%d", "unified-testing"
             if config.unified else "test-plans", config.transport, config.security, config.muxer,
             config.is_dialer, config.redis_host, config.redis_port)

    async def work() -> int:
        if not config.is_dialer:
            redis = await RedisClient.connect_when_ready(config.redis_host, config.redis_port, deadline)
            async with redis:
                return await _listener(config, redis, stop, deadline)
        timer = asyncio.timeout_at(deadline)
        phase = [f"connecting to Redis at {config.redis_host}:{config.redis_port}"]
        try:
            async with timer:  # the test timeout bounds everything a dialer does
                redis = await RedisClient.connect_when_ready(config.redis_host, config.redis_port, deadline)
                async with redis:
                    return await _dialer(config, redis, deadline, phase)
        except TimeoutError:
            if timer.expired():
                raise TimeoutError(f"the test timeout ({config.timeout:g} s) ran out while {phase[0]}") from None
            raise

    task = asyncio.ensure_future(work())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not task.done() and not config.is_dialer:
        # a listener ends by itself on the signal (and closes its host): give it the time to
        await asyncio.wait({task}, timeout=6)
    if not task.done():  # a signal to a dialer, or to a listener still waiting for Redis
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        log.info("transport-interop: stopped by signal")
        return 1 if config.is_dialer else 0
    return task.result()


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "transport-interop",
        help="the libp2p transport-interop test app (configured by environment variables)",
        description="The transport-interop test application of libp2p/test-plans (lower-case variables "
        "transport, muxer, security, is_dialer, ip, redis_addr, test_timeout_seconds; Redis list listenerAddr; "
        'the dialer prints {"handshakePlusOneRTTMillis": ..., "pingRTTMilllis": ...}) and of '
        "libp2p/unified-testing (chosen when IS_DIALER is set: TRANSPORT, SECURE_CHANNEL, MUXER, IS_DIALER, "
        "LISTENER_IP, REDIS_ADDR, TEST_KEY, TEST_TIMEOUT_SECS; list <TEST_KEY>_listener_multiaddr; the dialer "
        "prints YAML). tcp|ws|wss + noise + yamux|mplex. Exit 0 on success, 1 on any failure. `libp2p` without a "
        "command runs it too when is_dialer or IS_DIALER is set (a container entrypoint).",
    )
    p.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                   help="event loop: uvloop when installed (auto, the default), or force one")
    p.add_argument("-v", "--verbose", action="count", default=0, help="-v for the library's INFO, -vv for DEBUG")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], type=str.upper,
                   help="the library's log level on stderr (default WARNING; the app's own lines are INFO)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = read_config()
    except InteropConfigError as exc:
        _common.setup_logging(args)
        print(f"libp2p transport-interop: {exc}", file=sys.stderr)
        return 1
    if config.debug and not args.log_level and not args.verbose:
        args.log_level = "DEBUG"
    _common.setup_logging(args)
    if log.getEffectiveLevel() > logging.INFO:
        log.setLevel(logging.INFO)
    try:
        return _common.run(args, lambda: _main(config))
    except _common.CliError as exc:
        print(f"libp2p transport-interop: {exc}", file=sys.stderr)
        return 1
    except (*_common.NETWORK_ERRORS, RedisError) as exc:
        print(f"libp2p transport-interop: {_common.describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1


def run_from_env() -> int:
    """``libp2p`` without a command when ``is_dialer``/``IS_DIALER`` is set: run the test app."""
    return run(argparse.Namespace(loop="auto", verbose=0, log_level=None))
