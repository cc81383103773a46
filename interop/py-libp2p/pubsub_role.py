"""The pubsub role of ``peer.py listen`` (``--pubsub gossipsub|floodsub [--pubsub-sign strict|none]
[--subscribe TOPIC]...``): py-libp2p's ``libp2p.pubsub`` (gossipsub or floodsub), the ``pubsub-*``
and ``connect`` stdin commands and the ``pubsub-message`` / ``pubsub-peers`` event lines.
See README.md, "pubsub". Loaded by peer.py from beside itself (``python -I`` puts no script
directory on ``sys.path``).

Message ids, the same in every interop peer program and in aiolibp2p's tests: StrictSign:
``from`` (the author's peer id bytes) + ``seqno`` (8 bytes, big-endian), py-libp2p's default;
StrictNoSign: sha256(data) (py-libp2p's own ContentAddressedMessageIDGenerator base64-encodes
the digest, so it is not used).

py-libp2p 0.8.1 has no StrictNoSign: ``strict_signing=False`` still publishes ``from`` and
``seqno``, which go and rust reject under StrictNoSign. So under ``--pubsub-sign none`` this role
builds the message itself (data and topic only) and hands it to ``Pubsub.push_msg``, as
``Pubsub.publish`` would.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr
from libp2p.pubsub.floodsub import PROTOCOL_ID as FLOODSUB
from libp2p.pubsub.floodsub import FloodSub
from libp2p.pubsub.gossipsub import PROTOCOL_ID as MESHSUB_V10
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11 as MESHSUB_V11
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V12 as MESHSUB_V12
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

WATCH_INTERVAL = 0.1
CONNECT_TIMEOUT = 15.0
#: forwarders remembered per message id until the message is printed
MAX_PENDING_FORWARDERS = 10_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pubsub", choices=["gossipsub", "floodsub"])
    p.add_argument("--pubsub-sign", choices=["strict", "none"])
    p.add_argument("--subscribe", action="append", default=[])


def check_options(o: argparse.Namespace, usage_error: type[Exception]) -> None:
    if o.pubsub is None and (o.pubsub_sign is not None or o.subscribe):
        raise usage_error("--pubsub-sign and --subscribe need --pubsub gossipsub|floodsub")
    if o.pubsub is not None and o.pubsub_sign is None:
        o.pubsub_sign = "strict"


def from_seqno_id(msg: rpc_pb2.Message) -> bytes:
    return bytes(msg.from_id) + bytes(msg.seqno)


def content_id(msg: rpc_pb2.Message) -> bytes:
    return hashlib.sha256(msg.data).digest()


class PubsubRole:
    def __init__(self, host: Any, o: argparse.Namespace, report: Callable[[dict[str, Any]], None],
                 nursery: trio.Nursery) -> None:
        self.host = host
        self.router_name: str = o.pubsub
        self.sign = o.pubsub_sign == "strict"
        self.report = report
        self.nursery = nursery
        if self.router_name == "gossipsub":
            # go-libp2p-pubsub's D, D_lo, D_hi and 1 s heartbeat (py-libp2p's default is 120 s);
            # everything runs on 127.0.0.1, so py-libp2p's IP-diversity ("eclipse") and
            # per-topic rate ("spam") protections are off
            self.router: Any = GossipSub(
                protocols=[MESHSUB_V12, MESHSUB_V11, MESHSUB_V10], degree=6, degree_low=5, degree_high=12,
                heartbeat_interval=1, heartbeat_initial_delay=0.1, spam_protection_enabled=False,
                eclipse_protection_enabled=False)
        else:
            self.router = FloodSub(protocols=[FLOODSUB])
        self.pubsub = Pubsub(host, self.router, strict_signing=self.sign,
                             msg_id_constructor=from_seqno_id if self.sign else content_id)
        self.msg_id = from_seqno_id if self.sign else content_id
        if self.router_name == "gossipsub" and not self.sign:
            self._skip_equivocation_check_of_anonymous_messages()
        self.topics: dict[str, trio.CancelScope] = {}
        self.reported: dict[str, str] = {}
        self.forwarders: OrderedDict[bytes, ID] = OrderedDict()
        self._wrap_push_msg()

    def _skip_equivocation_check_of_anonymous_messages(self) -> None:
        """py-libp2p 0.8.1's gossipsub keys its equivocation check ("same from + seqno, other
        content") on from + seqno even when both are absent, so under StrictNoSign every message
        after the first counts as an equivocation and is not forwarded. A message without an
        author cannot equivocate: skip the check for those."""
        original = self.router._check_equivocation

        def check(msg: rpc_pb2.Message) -> bool:
            if not msg.from_id and not msg.seqno:
                return True
            return bool(original(msg))

        self.router._check_equivocation = check

    def _wrap_push_msg(self) -> None:
        """Remember who forwarded each message first (the subscription yields bare messages)."""
        original = self.pubsub.push_msg

        async def push_msg(msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
            mid = self.msg_id(msg)
            if mid not in self.forwarders:
                self.forwarders[mid] = msg_forwarder
                while len(self.forwarders) > MAX_PENDING_FORWARDERS:
                    self.forwarders.popitem(last=False)
            await original(msg_forwarder, msg)

        self.pubsub.push_msg = push_msg  # type: ignore[method-assign]

    # -- topics -------------------------------------------------------------------------------

    async def subscribe(self, topic: str) -> dict[str, Any]:
        if topic not in self.topics:
            sub = await self.pubsub.subscribe(topic)
            scope = trio.CancelScope()
            self.topics[topic] = scope
            self.nursery.start_soon(self._deliver, sub, scope)
        return {"topic": topic}

    async def unsubscribe(self, topic: str) -> dict[str, Any]:
        scope = self.topics.pop(topic, None)
        if scope is None:
            raise ValueError(f"not subscribed to {topic}")
        scope.cancel()
        self.reported.pop(topic, None)
        await self.pubsub.unsubscribe(topic)
        return {"topic": topic}

    async def _deliver(self, sub: Any, scope: trio.CancelScope) -> None:
        with scope:
            async for msg in sub:
                mid = self.msg_id(msg)
                forwarder = self.forwarders.pop(mid, None)
                if forwarder == self.pubsub.my_id:
                    continue  # our own publication (go does the same; rust and js never deliver it)
                frm: str | None = None
                if msg.from_id:
                    try:
                        frm = ID(msg.from_id).to_base58()
                    except Exception:  # noqa: BLE001 - not a peer id
                        frm = msg.from_id.hex()
                for topic in msg.topicIDs:
                    if topic not in self.topics:
                        continue
                    self.report({"event": "pubsub-message", "topic": topic, "from": frm,
                                 "seqno": msg.seqno.hex() if msg.seqno else None,
                                 "data_base64": base64.b64encode(msg.data).decode(),
                                 "message_id": mid.hex(),
                                 "received_from": None if forwarder is None else forwarder.to_base58()})

    async def publish(self, topic: str, data: bytes) -> dict[str, Any]:
        if self.sign:
            await self.pubsub.publish(topic, data)
        else:
            msg = rpc_pb2.Message(data=data, topicIDs=[topic])
            await self.pubsub.push_msg(self.pubsub.my_id, msg)
        return {"topic": topic}

    def peers(self, topic: str) -> dict[str, Any]:
        subscribers = sorted(p.to_base58() for p in self.pubsub.peer_topics.get(topic, ()))
        if self.router_name == "gossipsub":
            mesh = sorted(p.to_base58() for p in self.router.mesh.get(topic, ()))
        else:
            mesh = subscribers  # no mesh: every subscriber gets every message
        return {"topic": topic, "mesh": mesh, "subscribers": subscribers}

    def start_watch(self) -> None:
        """Start the ``pubsub-peers`` lines (after the ready line, which comes first)."""
        self.nursery.start_soon(self.watch)

    async def watch(self) -> None:
        while True:
            for topic in sorted(self.topics):
                j = self.peers(topic)
                key = json.dumps(j)
                if self.reported.get(topic) != key:
                    self.reported[topic] = key
                    self.report({"event": "pubsub-peers", **j})
            await trio.sleep(WATCH_INTERVAL)


@contextlib.asynccontextmanager
async def running(host: Any, o: argparse.Namespace, report: Callable[[dict[str, Any]], None],
                  nursery: trio.Nursery) -> AsyncIterator[PubsubRole | None]:
    """The role for the ``with`` block (None without ``--pubsub``), its topics joined."""
    if o.pubsub is None:
        yield None
        return
    role = PubsubRole(host, o, report, nursery)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(background_trio_service(role.pubsub))
        if isinstance(role.router, GossipSub):  # a service of its own (the heartbeat)
            await stack.enter_async_context(background_trio_service(role.router))
        await role.pubsub.wait_until_ready()
        async with trio.open_nursery() as inner:
            role.nursery = inner
            for topic in o.subscribe:
                await role.subscribe(topic)
            try:
                yield role
            finally:
                inner.cancel_scope.cancel()


async def connect(host: Any, addr: str) -> dict[str, Any]:
    info = info_from_p2p_addr(multiaddr.Multiaddr(addr))
    with trio.fail_after(CONNECT_TIMEOUT):
        await host.connect(info)
    return {"peer": info.peer_id.to_base58()}


async def command(role: PubsubRole | None, host: Any, cmd: str, args: list[str]) -> dict[str, Any]:
    """``connect MA`` and ``pubsub-subscribe|unsubscribe|peers TOPIC``, ``pubsub-publish TOPIC B64``."""
    if cmd == "connect":
        if not args:
            raise ValueError("missing MULTIADDR argument")
        return await connect(host, args[0])
    if role is None:
        raise ValueError("no pubsub: start with --pubsub gossipsub|floodsub")
    if not args:
        raise ValueError("missing TOPIC argument")
    topic = args[0]
    if cmd == "pubsub-subscribe":
        return await role.subscribe(topic)
    if cmd == "pubsub-unsubscribe":
        return await role.unsubscribe(topic)
    if cmd == "pubsub-peers":
        return role.peers(topic)
    if cmd == "pubsub-publish":
        data = base64.b64decode(args[1], validate=True) if len(args) > 1 else b""
        return await role.publish(topic, data)
    raise ValueError(f"unknown command {cmd!r}")
