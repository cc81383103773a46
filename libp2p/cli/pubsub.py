"""``libp2p pubsub subscribe|publish`` and ``libp2p chat``: GossipSub from the command line.

``chat`` speaks the message format of go-libp2p's pubsub chat example (a JSON object with
``Message``, ``SenderID`` and ``SenderNick``), so it can chat with that example on the same topic.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.protocols.pubsub import GossipSub, PubsubMessage
    from libp2p.protocols.pubsub.service import FloodSub

DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"
MDNS_LISTEN = "/ip4/0.0.0.0/tcp/0"  # with --mdns: loopback is never announced, so listen where the LAN reaches
DEFAULT_TIMEOUT = 10.0

log = logging.getLogger("libp2p.cli")


def _bootstrap_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bootstrap", action="append", metavar="MULTIADDR",
                   help="a peer to connect to, ending in /p2p/<peer id> (as `serve` and `chat` print); repeatable")


def _router_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--router", choices=["gossipsub", "floodsub"], default="gossipsub",
                   help="the pubsub router (default: gossipsub)")
    p.add_argument("--no-sign", action="store_true",
                   help="StrictNoSign: send messages without author, seqno and signature (default: StrictSign)")


def add_parser(commands: Any) -> None:
    p = commands.add_parser("pubsub", help="publish or subscribe on a GossipSub topic")
    sub = p.add_subparsers(dest="pubsub_command", metavar="{subscribe,publish}", required=True)
    s = sub.add_parser(
        "subscribe", parents=[_common.network_options()],
        help="print every message on the topics until SIGINT/SIGTERM",
        description="Join the topics and print each message as one JSON line {\"topic\", \"from\", \"seqno\", "
        "\"data\"} (data as UTF-8 text, undecodable bytes replaced; seqno as hex); --json adds "
        "\"data_base64\" with the exact bytes.",
    )
    s.add_argument("topics", nargs="+", metavar="TOPIC")
    _bootstrap_option(s)
    _router_option(s)
    s.add_argument("--listen", action="append", metavar="MULTIADDR", help=f"address to listen on (default: {DEFAULT_LISTEN})")
    s.add_argument("--json", action="store_true", help="add data_base64 to each line")
    s.set_defaults(run=_run_subscribe)
    pub = sub.add_parser(
        "publish", parents=[_common.network_options(), _common.client_options(DEFAULT_TIMEOUT, "finding a peer")],
        help="publish one message and exit",
        description="Connect to the --bootstrap peers, wait (up to --timeout) until a peer is on the topic, "
        "publish MESSAGE, print how many peers it was sent to, and exit.",
    )
    pub.add_argument("topic", metavar="TOPIC")
    pub.add_argument("message", metavar="MESSAGE")
    _bootstrap_option(pub)
    _router_option(pub)
    pub.set_defaults(run=_run_publish)


def add_chat_parser(commands: Any) -> None:
    p = commands.add_parser(
        "chat", parents=[_common.network_options()], help="chat on a GossipSub topic (stdin in, messages out)",
        description="Print the address line first (as `serve` does), then publish each line of stdin and print "
        "each message others send (\"nick: text\", or one JSON line each with --json); exit 0 at end of "
        "input. Two terminals are enough to chat; a third joins by bootstrapping to either.",
    )
    p.add_argument("topic", metavar="TOPIC")
    _bootstrap_option(p)
    p.add_argument("--listen", action="append", metavar="MULTIADDR",
                   help=f"address to listen on (default: {DEFAULT_LISTEN}, or {MDNS_LISTEN} with --mdns)")
    p.add_argument("--nick", help="the name shown to others (default: the end of the peer ID)")
    p.add_argument("--json", action="store_true", help="print each message as a JSON line")
    p.add_argument("--mdns", action="store_true",
                   help="find chat peers on the local network by mDNS (_p2p._udp.local) and dial them, "
                   "no --bootstrap needed")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"with --bootstrap or --mdns: seconds to wait for a peer on the topic before sending "
                   f"a line (default: {DEFAULT_TIMEOUT:g})")
    p.set_defaults(run=_run_chat)


def make_service(router: str, no_sign: bool) -> GossipSub | FloodSub:
    from libp2p.protocols.pubsub import FloodSub, GossipSub, SignaturePolicy

    policy = SignaturePolicy.STRICT_NO_SIGN if no_sign else SignaturePolicy.STRICT_SIGN
    return FloodSub(signature_policy=policy) if router == "floodsub" else GossipSub(signature_policy=policy)


async def connect_bootstrap(host: Host, addrs: list[str] | None, timeout: float) -> int:
    """Connect to each ``--bootstrap`` peer (concurrently, within ``timeout``); the number reached.
    Fails only when peers were given and none could be reached."""
    infos = [_common.parse_peer_addr(a) for a in addrs or ()]
    if not infos:
        return 0

    async def one(info: Any) -> bool:
        try:
            await _common.connect(host, info, timeout)
        except (*_common.NETWORK_ERRORS, _common.CliError) as exc:
            log.warning("could not reach %s: %s", info.peer_id, _common.describe(exc))
            return False
        return True

    reached = sum(await asyncio.gather(*(one(i) for i in infos)))
    if not reached:
        raise _common.CliError("could not reach any --bootstrap peer")
    return reached


def message_line(msg: PubsubMessage, with_base64: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "topic": msg.topic,
        "from": str(msg.from_peer) if msg.from_peer is not None else None,
        "seqno": msg.seqno.hex() if msg.seqno is not None else None,
        "data": msg.data.decode("utf-8", errors="replace"),
    }
    if with_base64:
        line["data_base64"] = base64.b64encode(msg.data).decode("ascii")
    return line


def _write_line(obj: object) -> None:
    sys.stdout.write((json.dumps(obj) if not isinstance(obj, str) else obj) + "\n")
    sys.stdout.flush()


def _new_host(args: argparse.Namespace, ps: Any, listen: list[str] | None) -> Host:
    from libp2p.errors import Libp2pError
    from libp2p.node import new_host

    services = [ps]
    if getattr(args, "mdns", False):
        from libp2p.discovery.mdns import MdnsService

        services.append(MdnsService())
    try:
        return new_host(listen_addrs=listen or [], services=services, **_common.host_options(args))
    except (Libp2pError, ValueError) as exc:
        raise _common.CliError(str(exc), 2) from None


# --- subscribe ---------------------------------------------------------------------------------


def _run_subscribe(args: argparse.Namespace) -> int:
    return _common.run_command("pubsub subscribe", args, lambda: _subscribe(args), client=False)


async def _subscribe(args: argparse.Namespace) -> int:
    ps = make_service(args.router, args.no_sign)
    host = _new_host(args, ps, args.listen or [DEFAULT_LISTEN])
    stop = _common.stop_event()
    async with host:
        subs = [ps.subscribe(t) for t in dict.fromkeys(args.topics)]
        await connect_bootstrap(host, args.bootstrap, DEFAULT_TIMEOUT)
        log.info("subscribed as %s on %s", host.peer_id, ", ".join(str(a) for a in host.full_addrs()))
        queue: asyncio.Queue[PubsubMessage] = asyncio.Queue(maxsize=1024)

        async def pump(sub: Any) -> None:
            async for msg in sub:
                await queue.put(msg)

        pumps = [asyncio.create_task(pump(s)) for s in subs]
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                _write_line(message_line(getter.result(), args.json))
        finally:
            stopper.cancel()
            for task in pumps:
                task.cancel()
    return 0


# --- publish -----------------------------------------------------------------------------------


def _run_publish(args: argparse.Namespace) -> int:
    return _common.run_command("pubsub publish", args, lambda: _publish(args))


async def _publish(args: argparse.Namespace) -> int:
    ps = make_service(args.router, args.no_sign)
    host = _new_host(args, ps, None)
    async with host:
        await connect_bootstrap(host, args.bootstrap, args.timeout)
        try:
            await ps.wait_for_topic_peers(args.topic, 1, timeout=args.timeout)
        except TimeoutError:
            raise _common.CliError(f"no peer on topic {args.topic!r} within {args.timeout:g} s") from None
        sent = await ps.publish(args.topic, args.message.encode())
        await ps.flush()
    if args.json:
        _write_line({"topic": args.topic, "peers": sent})
    else:
        _write_line(f"published to {sent} peer{'s' if sent != 1 else ''}")
    return 0


# --- chat --------------------------------------------------------------------------------------


def _run_chat(args: argparse.Namespace) -> int:
    return _common.run_command("chat", args, lambda: _chat(args), client=False)


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None]) -> None:
    """Read stdin in a daemon thread (works for pipes, files and terminals alike; a daemon thread
    never holds up the exit)."""
    def reader() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\r\n"))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=reader, name="chat stdin", daemon=True).start()


async def _chat(args: argparse.Namespace) -> int:
    ps = make_service("gossipsub", False)
    host = _new_host(args, ps, args.listen or [MDNS_LISTEN if args.mdns else DEFAULT_LISTEN])
    stop = _common.stop_event()
    async with host:
        nick = args.nick or str(host.peer_id)[-8:]
        sub = ps.subscribe(args.topic)
        _write_line({"peer_id": str(host.peer_id), "multiaddrs": [str(a) for a in host.full_addrs()]})
        await connect_bootstrap(host, args.bootstrap, args.timeout)

        async def show() -> None:
            async for msg in sub:
                if msg.from_peer == host.peer_id:
                    continue
                try:
                    body = json.loads(msg.data)
                    text, sender_nick = str(body["Message"]), str(body.get("SenderNick") or "")
                except (ValueError, KeyError, TypeError):
                    text, sender_nick = msg.data.decode("utf-8", errors="replace"), ""
                sender = str(msg.from_peer) if msg.from_peer is not None else ""
                if args.json:
                    _write_line({"topic": msg.topic, "from": sender, "nick": sender_nick, "text": text})
                else:
                    _write_line(f"{sender_nick or sender[-8:]}: {text}")

        shower = asyncio.create_task(show())
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        _stdin_lines(asyncio.get_running_loop(), lines)
        stopper = asyncio.create_task(stop.wait())
        try:
            while True:
                getter = asyncio.create_task(lines.get())
                done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    break
                line = getter.result()
                if line is None:
                    break
                if not line:
                    continue
                if (args.bootstrap or args.mdns) and not ps.topic_peers(args.topic):
                    try:
                        await ps.wait_for_topic_peers(args.topic, 1, timeout=args.timeout)
                    except TimeoutError:
                        log.warning("no peer on %r yet; sending anyway", args.topic)
                payload = {"Message": line, "SenderID": str(host.peer_id), "SenderNick": nick}
                await ps.publish(args.topic, json.dumps(payload).encode())
            try:
                await ps.flush()
            except TimeoutError:
                log.warning("some messages were still queued at exit")
        finally:
            stopper.cancel()
            shower.cancel()
            sub.cancel()
    return 0


__all__ = ["add_chat_parser", "add_parser", "connect_bootstrap", "make_service", "message_line"]
