"""``libp2p dht``: find peers, the closest peers to a key, providers and values on the Kademlia DHT.

Every subcommand starts a short-lived DHT node (client mode: it asks, it does not answer),
bootstraps it from ``--bootstrap`` (DHT servers such as ``libp2p serve --dht server``), does
one thing and prints the answer; ``provide`` keeps announcing until SIGINT/SIGTERM.

KEY is a peer ID, a CID (the DHT key is its multihash), ``hex:`` followed by the raw key bytes,
or text starting with ``/`` (its UTF-8 bytes, e.g. ``/test/hello``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from libp2p.cli import Parser, _common
from libp2p.protocols.kad.records import (
    InvalidRecordError,
    NamespacedValidator,
    PermissiveValidator,
    default_validator,
    split_key,
)
from libp2p.protocols.kad.wire import PROTOCOL_ID

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.peerstore import PeerInfo
    from libp2p.protocols.kad.service import KadDHT

__all__ = ["TEST_NAMESPACE", "PermissiveValidator", "add_parser", "bootstrap_server", "make_validator", "protocol_id"]

DEFAULT_TIMEOUT = 30.0
DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"
TEST_NAMESPACE = "test"

log = logging.getLogger("libp2p.cli")


# --- the /test namespace -----------------------------------------------------------------------------


def make_validator(permissive: bool) -> NamespacedValidator:
    """The usual ``/pk`` and ``/ipns`` validators, plus ``/test`` (anything goes) when ``permissive``."""
    validator = default_validator()
    if permissive:
        validator.validators[TEST_NAMESPACE] = PermissiveValidator()
    return validator


# --- arguments -----------------------------------------------------------------------------------------


def _bootstrap_option(required: bool) -> argparse.ArgumentParser:
    p = Parser(add_help=False)
    p.add_argument("--bootstrap", action="append", metavar="MULTIADDR", required=required,
                   help="a DHT server to start from, ending in /p2p/<peer id>; repeatable")
    p.add_argument("--protocol", type=protocol_id, default=PROTOCOL_ID, metavar="PROTOCOL",
                   help=f"the DHT's protocol ID (default: {PROTOCOL_ID}; a network of its own uses "
                   "<prefix>/kad/1.0.0, e.g. /ipfs/lan/kad/1.0.0)")
    return p


def protocol_id(text: str) -> str:
    """An ``argparse`` type: a protocol ID as multistream-select carries it."""
    if not text.startswith("/") or any(c.isspace() for c in text) or len(text.encode()) > 1000:
        raise argparse.ArgumentTypeError(f"invalid protocol ID {text!r} (it starts with / and has no spaces)")
    return text


def add_parser(commands: Any) -> None:
    dht = commands.add_parser(
        "dht",
        help="query the Kademlia DHT (find-peer, closest, provide, find-providers, put, get)",
        description="Query the Kademlia DHT (/ipfs/kad/1.0.0) through the servers given with --bootstrap "
        "(e.g. nodes run with `libp2p serve --dht server`). KEY is a peer ID, a CID (the DHT key is its "
        "multihash), `hex:` followed by the raw key bytes, or text starting with / (its UTF-8 bytes). "
        "Exits 1 when nothing is found or no bootstrap peer answers in time, 2 on bad input.",
    )
    sub = dht.add_subparsers(dest="dht_command", metavar="SUBCOMMAND", required=True)
    parents = [
        _common.network_options(),
        _common.client_options(DEFAULT_TIMEOUT, "bootstrapping and the query"),
        _bootstrap_option(required=True),
    ]

    p = sub.add_parser("find-peer", parents=parents, help="print a peer's addresses",
                       description='Look PEER_ID up; print its addresses one per line, or with --json '
                       '{"peer_id": ..., "multiaddrs": [...]}. Exits 1 when it is not found.')
    p.add_argument("peer", metavar="PEER_ID")
    p.set_defaults(run=_runner("find-peer", _find_peer))

    p = sub.add_parser("closest", parents=parents, help="print the k closest peers to a key",
                       description='Print the (up to 20) closest DHT servers to KEY, one peer ID per line, or '
                       'with --json {"key": HEX, "peers": [{"peer_id": ..., "multiaddrs": [...]}, ...]}.')
    p.add_argument("dht_key", metavar="KEY")  # not "key": --key is the identity
    p.set_defaults(run=_runner("closest", _closest))

    p = sub.add_parser("provide", parents=parents, help="announce that we provide a CID, until stopped",
                       description='Announce to the closest DHT servers that this node provides CID, print one '
                       'JSON line {"cid": ..., "key": HEX, "peer_id": ..., "multiaddrs": [...], "peers": N} '
                       "(N servers accepted the record) once the first announcement is done, then keep the "
                       "node up (and republish) until SIGINT or SIGTERM; exit 0. Exits 1 when no server "
                       "accepts the announcement.")
    p.add_argument("cid", metavar="CID")
    p.add_argument("--listen", action="append", metavar="MULTIADDR",
                   help=f"address to listen on, announced with the record; repeatable (default: {DEFAULT_LISTEN})")
    p.add_argument("--mode", choices=["client", "server"], default="client",
                   help="also answer DHT requests (server) or not (client, the default)")
    p.add_argument("--republish", type=float, default=22 * 3600.0, metavar="S",
                   help="seconds between announcements (default: 22 hours)")
    p.set_defaults(run=_runner("provide", _provide))

    p = sub.add_parser("find-providers", parents=parents, help="print the providers of a CID",
                       description="Print the peers that announced CID: one line per provider (its peer ID "
                       'then its addresses), or with --json {"cid": ..., "providers": [{"peer_id": ..., '
                       '"multiaddrs": [...]}, ...]}. Exits 1 when none is found.')
    p.add_argument("cid", metavar="CID")
    p.add_argument("-n", "--count", type=int, default=20,
                   help="stop after this many providers; 0 = every one a full lookup finds (default: 20)")
    p.set_defaults(run=_runner("find-providers", _find_providers))

    record_help = ("--namespace NS makes the record key /NS/<KEY bytes>; the key must have a namespace a "
                   "validator knows: pk, ipns, or test (anything valid, first value wins) with --namespace "
                   "test or --permissive. The servers must accept it too (`libp2p serve --dht server "
                   "--permissive`).")
    p = sub.add_parser("put", parents=parents, help="store a value",
                       description="Store VALUE (UTF-8 text, or hex: followed by bytes) under KEY on the closest "
                       f'DHT servers; print "stored on N peers" or with --json {{"key": HEX, "stored": N}}. '
                       f"{record_help} Exits 1 when no server accepts it.")
    p.add_argument("dht_key", metavar="KEY")  # not "key": --key is the identity
    p.add_argument("value", metavar="VALUE")
    _record_options(p)
    p.set_defaults(run=_runner("put", _put))

    p = sub.add_parser("get", parents=parents, help="fetch a value",
                       description="Fetch the best value for KEY and write its bytes to stdout, or with --json "
                       '{"key": HEX, "value": TEXT or null if not UTF-8, "value_hex": HEX}. '
                       f"{record_help} Exits 1 when no value is found.")
    p.add_argument("dht_key", metavar="KEY")  # not "key": --key is the identity
    _record_options(p)
    p.set_defaults(run=_runner("get", _get))


def _record_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--namespace", metavar="NS", help="prefix the key with /NS/ (e.g. test, pk, ipns)")
    p.add_argument("--permissive", action="store_true",
                   help=f"accept any value under /{TEST_NAMESPACE}/ (implied by --namespace {TEST_NAMESPACE})")


def _runner(name: str, body: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        if args.timeout is not None and args.timeout <= 0:
            print(f"libp2p dht {name}: --timeout must be > 0", file=sys.stderr)
            return 2
        if getattr(args, "count", 0) < 0 or getattr(args, "republish", 1.0) <= 0:
            print(f"libp2p dht {name}: --count must be >= 0 and --republish > 0", file=sys.stderr)
            return 2
        result: int = _common.run_command(f"dht {name}", args, lambda: body(args), client=name != "provide")
        return result

    return run


def parse_key(text: str) -> bytes:
    """KEY as DHT key bytes (see the module docstring)."""
    from libp2p.errors import DecodeError
    from libp2p.identity.multiformats import decode_cid
    from libp2p.identity.peer_id import PeerId

    if text.startswith("hex:"):
        try:
            raw = bytes.fromhex(text[4:])
        except ValueError:
            raise _common.CliError(f"invalid hex key {text!r}", 2) from None
        if not raw:
            raise _common.CliError("empty key", 2)
        return raw
    if text.startswith("/"):
        return text.encode()
    try:
        return PeerId.from_string(text).to_bytes()
    except (DecodeError, ValueError):
        pass
    try:
        return decode_cid(text).multihash
    except (DecodeError, ValueError):
        raise _common.CliError(f"{text!r} is neither a peer ID, a CID, hex:… nor /…", 2) from None


def _parse_peer_id(text: str) -> PeerId:
    from libp2p.errors import DecodeError
    from libp2p.identity.peer_id import PeerId

    try:
        return PeerId.from_string(text)
    except (DecodeError, ValueError) as exc:
        raise _common.CliError(f"invalid peer ID {text!r}: {exc}", 2) from None


def _parse_cid(text: str) -> Any:
    from libp2p.errors import DecodeError
    from libp2p.identity.multiformats import decode_cid

    try:
        return decode_cid(text)
    except (DecodeError, ValueError) as exc:
        raise _common.CliError(f"invalid CID {text!r}: {exc}", 2) from None


def _record_key(args: argparse.Namespace) -> bytes:
    if args.namespace is not None and not args.dht_key.startswith(("hex:", "/")):
        # Under a namespace, a key that is no peer ID or CID is text: --namespace test hello
        try:
            key = parse_key(args.dht_key)
        except _common.CliError:
            key = args.dht_key.encode()
    else:
        key = parse_key(args.dht_key)
    if args.namespace is not None:
        if not args.namespace or "/" in args.namespace or not args.namespace.isascii():
            raise _common.CliError(f"invalid namespace {args.namespace!r}", 2)
        key = b"/" + args.namespace.encode() + b"/" + key
    return key


def _namespace_hint(key: bytes) -> str:
    try:
        ns, _ = split_key(key)
    except InvalidRecordError:
        return " (give --namespace NS, or a key like /test/KEY)"
    if ns == TEST_NAMESPACE:
        return f" (/{TEST_NAMESPACE} records need --permissive, here and on the servers: " \
               "`libp2p serve --dht server --permissive`)"
    if ns not in ("pk", "ipns"):
        return f" (only /pk, /ipns and, with --permissive, /{TEST_NAMESPACE} have validators)"
    return ""


def _permissive(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "permissive", False) or getattr(args, "namespace", None) == TEST_NAMESPACE)


# --- running a DHT node --------------------------------------------------------------------------------


def _full_addrs(peer: PeerId, addrs: Sequence[Any]) -> list[str]:
    from libp2p.multiaddr import Multiaddr

    out = []
    for addr in addrs:
        if addr.peer_id is None:
            addr = addr.encapsulate(Multiaddr(f"/p2p/{peer}"))
        out.append(str(addr))
    return list(dict.fromkeys(out))


async def bootstrap_server(dht: KadDHT, peers: Sequence[PeerInfo], timeout: float | None) -> int:
    """Bootstrap ``dht`` from ``peers`` within ``timeout``; the routing table's size (0 when none answered)."""
    try:
        async with asyncio.timeout(timeout):
            return await dht.bootstrap(peers)
    except TimeoutError:
        log.warning("DHT bootstrap did not finish within %g s", timeout)
        return len(dht.routing_table)


@asynccontextmanager
async def _session(
    args: argparse.Namespace, *, mode: str = "client", listen: Sequence[str] = (), refresh: bool = False,
    republish: float | None = None,
) -> AsyncIterator[tuple[Host, KadDHT]]:
    """A host and a started, bootstrapped DHT node."""
    from libp2p.errors import Libp2pError
    from libp2p.host.host import HostConfig
    from libp2p.host.service import Service
    from libp2p.node import new_host
    from libp2p.protocols.echo import EchoService
    from libp2p.protocols.kad.service import KadDHT

    peers = [_common.parse_peer_addr(a) for a in args.bootstrap]
    dial_timeout = 10.0 if args.timeout is None else min(10.0, args.timeout)
    options: dict[str, Any] = {} if republish is None else {"republish_interval": republish}
    dht = KadDHT("server" if mode == "server" else "client", validator=make_validator(_permissive(args)),
                 protocol_id=args.protocol, refresh=refresh, **options)
    services: list[Service] = [EchoService(), dht] if listen else [dht]
    try:
        host = new_host(listen_addrs=listen, config=HostConfig(dial_timeout=dial_timeout), services=services,
                        **_common.host_options(args))
    except (Libp2pError, ValueError) as exc:
        raise _common.CliError(str(exc), 2) from None
    try:
        await host.start()
    except (Libp2pError, OSError) as exc:
        raise _common.CliError(f"cannot listen: {_common.describe(exc)}") from None
    try:
        try:
            async with asyncio.timeout(args.timeout):
                size = await dht.bootstrap(peers)
        except TimeoutError:
            raise _common.CliError(f"bootstrap did not finish within {args.timeout:g} s") from None
        if size == 0:
            raise _common.CliError("could not reach any bootstrap peer")
        log.info("routing table: %d peers", size)
        yield host, dht
    finally:
        await host.close()


async def _bounded(args: argparse.Namespace, what: str, coro: Any) -> Any:
    try:
        async with asyncio.timeout(args.timeout):
            return await coro
    except TimeoutError:
        raise _common.CliError(f"{what} did not finish within {args.timeout:g} s") from None


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --- the subcommands -----------------------------------------------------------------------------------


async def _find_peer(args: argparse.Namespace) -> int:
    target = _parse_peer_id(args.peer)
    async with _session(args) as (_host, dht):
        info = await _bounded(args, "the lookup", dht.find_peer(target))
    if info is None:
        raise _common.CliError(f"peer {target} not found")
    addrs = _full_addrs(target, info.addrs)
    if args.json:
        _emit({"peer_id": str(target), "multiaddrs": addrs})
    else:
        for addr in addrs:
            print(addr)
    return 0


async def _closest(args: argparse.Namespace) -> int:
    key = parse_key(args.dht_key)
    async with _session(args) as (host, dht):
        peers: list[PeerId] = await _bounded(args, "the lookup", dht.get_closest_peers(key))
        if not peers:
            raise _common.CliError("no DHT server answered the lookup")
        found = [(p, _full_addrs(p, host.peerstore.addrs(p))) for p in peers]
    if args.json:
        _emit({"key": key.hex(), "peers": [{"peer_id": str(p), "multiaddrs": a} for p, a in found]})
    else:
        for p, _ in found:
            print(p)
    return 0


async def _provide(args: argparse.Namespace) -> int:
    cid = _parse_cid(args.cid)
    stop = _common.stop_event()
    listen = args.listen or [DEFAULT_LISTEN]
    async with _session(args, mode=args.mode, listen=listen, refresh=True, republish=args.republish) as (host, dht):
        told: int = await _bounded(args, "the announcement", dht.provide(cid))
        if told == 0:
            raise _common.CliError("no DHT server accepted the provider record")
        _emit({
            "cid": cid.encode(), "key": cid.multihash.hex(), "peer_id": str(host.peer_id),
            "multiaddrs": [str(a) for a in host.full_addrs()], "peers": told,
        })
        log.info("providing %s; announced to %d peers", cid.encode(), told)
        await stop.wait()
        log.info("stopping")
        dht.stop_providing(cid)
    return 0


async def _find_providers(args: argparse.Namespace) -> int:
    cid = _parse_cid(args.cid)
    async with _session(args) as (_host, dht):
        providers: list[PeerInfo] = await _bounded(args, "the lookup", dht.find_providers(cid, count=args.count))
    if not providers:
        raise _common.CliError(f"no providers found for {cid.encode()}")
    found = [(p.peer_id, _full_addrs(p.peer_id, p.addrs)) for p in providers]
    if args.json:
        _emit({"cid": cid.encode(), "providers": [{"peer_id": str(p), "multiaddrs": a} for p, a in found]})
    else:
        for p, addrs in found:
            print(p)
            for addr in addrs:
                print(f"  {addr}")
    return 0


def _parse_value(text: str) -> bytes:
    if text.startswith("hex:"):
        try:
            return bytes.fromhex(text[4:])
        except ValueError:
            raise _common.CliError(f"invalid hex value {text!r}", 2) from None
    return text.encode()


async def _put(args: argparse.Namespace) -> int:
    key = _record_key(args)
    value = _parse_value(args.value)
    try:
        make_validator(_permissive(args)).validate(key, value)
    except InvalidRecordError as exc:
        raise _common.CliError(f"cannot put this record: {exc}{_namespace_hint(key)}", 2) from None
    async with _session(args) as (_host, dht):
        stored: int = await _bounded(args, "the put", dht.put_value(key, value))
    if stored == 0:
        hint = ""
        if split_key(key)[0] == TEST_NAMESPACE:
            hint = " (servers take /test records only with `libp2p serve --dht server --permissive`)"
        raise _common.CliError(f"no DHT server accepted the record{hint}")
    if args.json:
        _emit({"key": key.hex(), "stored": stored})
    else:
        print(f"stored on {stored} peers")
    return 0


async def _get(args: argparse.Namespace) -> int:
    from libp2p.protocols.kad.service import RecordNotFoundError

    key = _record_key(args)
    try:
        ns, _ = split_key(key)
    except InvalidRecordError as exc:
        raise _common.CliError(f"invalid record key: {exc}", 2) from None
    if ns not in make_validator(_permissive(args)).validators:
        raise _common.CliError(f"no validator for namespace /{ns}{_namespace_hint(key)}", 2)
    async with _session(args) as (_host, dht):
        try:
            value: bytes = await _bounded(args, "the lookup", dht.get_value(key))
        except RecordNotFoundError:
            raise _common.CliError(f"no value found for {args.dht_key}") from None
    if args.json:
        try:
            text: str | None = value.decode()
        except UnicodeDecodeError:
            text = None
        _emit({"key": key.hex(), "value": text, "value_hex": value.hex()})
    else:
        sys.stdout.buffer.write(value if value.endswith(b"\n") else value + b"\n")
        sys.stdout.flush()
    return 0
