"""What the networked subcommands share: options, logging, the event loop, sizes, errors."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import re
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from libp2p.allocator import tune_allocator
from libp2p.cli import Parser, _websocket, resume_gc
from libp2p.errors import Libp2pError
from libp2p.host.upgrader import MPLEX, NOISE, TLS, YAMUX
from libp2p.identity.keys import PrivateKey, unmarshal_private_key
from libp2p.multiaddr import Multiaddr
from libp2p.peerstore import PeerInfo

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.protocols.identify.service import IdentifyService
    from libp2p.protocols.ping.service import PingService

__all__ = [
    "MUXERS",
    "SECURITY",
    "CliError",
    "client_options",
    "connect",
    "describe",
    "host_options",
    "load_key",
    "network_options",
    "parse_peer_addr",
    "parse_size",
    "run",
    "run_command",
    "setup_logging",
    "stop_event",
]

T = TypeVar("T")

MUXERS = {"yamux": YAMUX, "mplex": MPLEX}
SECURITY = {"noise": NOISE, "tls": TLS}

# Errors that mean "the peer could not be reached, verified or spoken to": exit status 1.
NETWORK_ERRORS = (Libp2pError, OSError, EOFError, TimeoutError)


class CliError(Exception):
    """A failure to report on stderr as ``libp2p COMMAND: message``, with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def network_options() -> argparse.ArgumentParser:
    """The options every networked subcommand takes (a parent parser)."""
    p = Parser(add_help=False)
    p.add_argument("--key", metavar="FILE", help="private key protobuf as written by `libp2p keygen --out` "
                   "(default: a fresh Ed25519 identity)")
    p.add_argument("--muxer", action="append", choices=sorted(MUXERS), metavar="{mplex,yamux}",
                   help="stream muxer to offer; repeat to offer several, in order of preference "
                   "(default: yamux, then mplex)")
    p.add_argument("--security", action="append", choices=sorted(SECURITY), metavar="{noise,tls}",
                   help="security channel to offer; repeat to offer several, in order of preference "
                   "(default: noise)")
    p.add_argument("--loop", choices=["auto", "asyncio", "uvloop"], default="auto",
                   help="event loop: uvloop when installed (auto, the default), or force one")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="log to stderr: -v for INFO, -vv for DEBUG")
    p.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], type=str.upper,
                   help="log level on stderr (overrides -v; default WARNING)")
    _websocket.add_options(p)
    return p


def client_options(timeout: float | None, what: str) -> argparse.ArgumentParser:
    """``--json`` and ``--timeout`` for the commands that dial one peer."""
    p = Parser(add_help=False)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    default = "no limit" if timeout is None else f"{timeout:g}"
    p.add_argument("--timeout", type=float, default=timeout, metavar="S",
                   help=f"seconds allowed for {what} (default: {default})")
    return p


def setup_logging(args: argparse.Namespace, default: int = logging.WARNING) -> None:
    if args.log_level:
        level = getattr(logging, args.log_level)
    elif args.verbose:
        level = logging.INFO if args.verbose == 1 else logging.DEBUG
    else:
        level = default
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def load_key(path: str | None) -> PrivateKey | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", 2) from None
    try:
        return unmarshal_private_key(data)
    except (Libp2pError, ValueError) as exc:
        raise CliError(f"{path} is not a libp2p private key: {exc}", 2) from None


def host_options(args: argparse.Namespace) -> dict[str, Any]:
    """``new_host`` keyword arguments from the shared options."""
    muxers = args.muxer or ["yamux", "mplex"]
    security = args.security or ["noise"]
    options: dict[str, Any] = {
        "key": load_key(args.key),
        "muxers": [MUXERS[m] for m in dict.fromkeys(muxers)],
        "security": [SECURITY[s] for s in dict.fromkeys(security)],
    }
    transports = _transports(args)
    if transports is not None:
        options["transports"] = transports
    return options


def _transports(args: argparse.Namespace) -> list[Any] | None:
    """The host's transports when an option changes them; None: the default (TCP and WebSocket).

    ``--tls-cert``/``--tls-key``/``--tls-ca`` configure WebSocket; QUIC is added when an address on
    the command line is ``/quic-v1`` (aioquic takes ~0.15 s to import, so commands that never touch
    QUIC do not load it)."""
    configured: list[Any] | None = _websocket.transports(args)
    values = [v for value in vars(args).values() for v in (value if isinstance(value, list) else [value])]
    if not any(isinstance(v, str) and "/quic-v1" in v for v in values):
        return configured
    try:
        from libp2p.transport.quic import QuicTransport
    except ImportError:
        raise CliError("QUIC needs aioquic: pip install 'aiolibp2p[quic]'", 2) from None
    if configured is None:
        from libp2p.transport.tcp import TcpTransport
        from libp2p.transport.websocket import WebsocketTransport

        configured = [TcpTransport(), WebsocketTransport()]
    return [*configured, QuicTransport()]


def parse_peer_addr(text: str) -> PeerInfo:
    """A dialable ``/…/p2p/<peer id>`` address (the peer ID is what Noise verifies)."""
    try:
        addr = Multiaddr(text)
    except (Libp2pError, ValueError) as exc:
        raise CliError(f"invalid multiaddr {text!r}: {exc}", 2) from None
    if addr.peer_id is None:
        raise CliError(f"{text} does not end in /p2p/<peer id> (`libp2p serve` prints full addresses)", 2)
    return PeerInfo.from_multiaddr(addr)


_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "kib": 2**10,
    "m": 10**6, "mb": 10**6, "mib": 2**20,
    "g": 10**9, "gb": 10**9, "gib": 2**30,
    "t": 10**12, "tb": 10**12, "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d[\d_]*(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """A byte count: ``1048576``, ``1MiB``, ``1.5GB``, ``64k`` (k/M/G/T decimal, KiB/MiB/GiB/TiB binary)."""
    m = _SIZE.fullmatch(text)
    unit = _UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (examples: 1000, 64KiB, 10MB, 1GiB)")
    number = m.group(1).replace("_", "")
    value = int(number) * unit if "." not in number else int(float(number) * unit)
    return value


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise CliError("--loop uvloop: uvloop is not installed (pip install 'aiolibp2p[uvloop]')", 2) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(args: argparse.Namespace, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on the chosen event loop (uvloop when installed, unless ``--loop asyncio``)."""
    factory = _loop_factory(args.loop)
    # This process may move gigabytes: keep glibc from shrinking and regrowing its heap per frame.
    tune_allocator()
    # Everything imported so far lives as long as the process: keep the collector from walking it
    # again (a short `libp2p perf` process ran 210 -> 196 ms, median of 40; benchmarks/RESULTS.md).
    # No collection first: imports leave next to no cyclic garbage (one found 0 objects), and
    # walking ~32k objects cost a `ping -c 1` ~10 ms of CPU.
    gc.freeze()
    resume_gc()
    with asyncio.Runner(loop_factory=factory) as runner:
        logging.getLogger("libp2p.cli").debug("event loop: %s", type(runner.get_loop()).__module__)
        return runner.run(main())


def run_command(
    name: str, args: argparse.Namespace, main: Callable[[], Coroutine[Any, Any, int]], *, client: bool = True
) -> int:
    """Set up logging, run ``main()``, and turn failures into a message on stderr and an exit status:
    1 when the peer could not be reached, verified or spoken to; 2 for bad input; 130 on Ctrl-C.
    A client reports its own failure, so the library's warnings show only with -v or --log-level."""
    setup_logging(args, logging.ERROR if client else logging.WARNING)
    try:
        return run(args, main)
    except CliError as exc:
        print(f"libp2p {name}: {exc}", file=sys.stderr)
        return exc.status
    except NETWORK_ERRORS as exc:
        print(f"libp2p {name}: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, Libp2pError):
        return exc.strerror
    return str(exc) or type(exc).__name__


async def connect(host: Host, info: PeerInfo, timeout: float | None) -> None:
    """Dial and verify the peer, within ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            await host.connect(info)
    except TimeoutError:
        raise CliError(f"could not connect to {info.peer_id} within {timeout:g} s") from None


def stop_event() -> asyncio.Event:
    """An event set on SIGINT or SIGTERM (where the loop supports signal handlers)."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, event.set)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # Windows, or not the main thread: Ctrl-C still ends the run with KeyboardInterrupt
    return event


def identify_service(host: Host) -> IdentifyService:
    """The host's identify service (every CLI host has the default services)."""
    from libp2p.protocols.identify.service import IdentifyService

    service = host.service(IdentifyService)
    if service is None:
        raise CliError("this host runs no identify service")
    return service


def ping_service(host: Host) -> PingService:
    from libp2p.protocols.ping.service import PingService

    service = host.service(PingService)
    if service is None:
        raise CliError("this host runs no ping service")
    return service
