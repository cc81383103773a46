"""Our node for libp2p/test-plans ``gossipsub-interop``: reads ``--params params.json``, runs its
script and prints the contract's newline-delimited JSON events on stdout (diagnostics on stderr).

    python -m interop.gossipsub_interop.node --params params.json             # node id from `hostname`
    python -m interop.gossipsub_interop.node --params p.json --node-id 3 --loopback-base-port 20000

In Shadow (the harness' simulator) the node id comes from the host name ``node<N>``, the node
listens on ``0.0.0.0:9000`` and finds ``node<M>`` by name. ``--node-id`` (or the environment
variable ``GOSSIPSUB_INTEROP_NODE_ID``) overrides the host name, and ``--loopback-base-port P``
(or ``GOSSIPSUB_INTEROP_BASE_PORT``) puts node N on ``127.0.0.1:P+N``, for runs without Shadow.
``--start-time UNIX_NS`` gives all nodes of a run one time origin for ``waitUntil``; when it lies in the
future the node listens at once and starts its script then.
"""

from __future__ import annotations

import argparse
import contextlib
import asyncio
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import IO, Any

from libp2p import Host, new_host
from libp2p.errors import Libp2pError
from libp2p.identity.peer_id import PeerId
from libp2p.pb import pubsub_pb2
from libp2p.protocols.pubsub import GossipSub, GossipSubConfig, PubsubMessage, SignaturePolicy, Subscription, ValidationResult

from interop.gossipsub_interop.instructions import (
    MAX_MESSAGE_SIZE,
    AddPartialMessage,
    Connect,
    IfNodeIDEquals,
    InitGossipSub,
    Instruction,
    InstructionError,
    Publish,
    PublishPartial,
    SetTopicValidationDelay,
    SubscribeToTopic,
    WaitUntil,
    gossipsub_config,
    node_id_from_hostname,
    node_key,
    node_peer_id,
    parse_params,
    publish_payload,
)

log = logging.getLogger("libp2p.interop.gossipsub")

SHADOW_PORT = 9000
CONNECT_DEADLINE = 30.0  # s to reach a peer (on loopback the other processes may still be starting)
CONNECT_ATTEMPT_TIMEOUT = 5.0


class UnsupportedInstruction(InstructionError):
    """An instruction this node cannot run (partial messages: aiolibp2p lacks that extension)."""


def rfc3339_now() -> str:
    """UTC, nanosecond digits (go's slog gives milliseconds; Python's ``fromisoformat`` reads both)."""
    ns = time.time_ns()
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


class JsonLog:
    """The contract's stdout: one JSON object per line with ``time``, ``level`` and ``msg``."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def event(self, msg: str, **fields: Any) -> None:
        record = {"time": rfc3339_now(), "level": "INFO", "msg": msg, **fields}
        self._out.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._out.flush()


class ScriptedNode:
    def __init__(self, node_id: int, *, base_port: int | None, start_ns: int, out: JsonLog) -> None:
        self.node_id = node_id
        self.base_port = base_port
        self.start_ns = start_ns
        self.log = out
        self.key = node_key(node_id)
        self.peer_id = PeerId.from_public_key(self.key.public_key)
        self.host: Host | None = None
        self.pubsub: GossipSub | None = None
        self.subscriptions: dict[str, Subscription] = {}
        self._readers: list[asyncio.Task[None]] = []

    # --- addresses -------------------------------------------------------------------------------

    def listen_addr(self) -> str:
        if self.base_port is not None:
            return f"/ip4/127.0.0.1/tcp/{self.base_port + self.node_id}"
        return f"/ip4/0.0.0.0/tcp/{SHADOW_PORT}"

    async def peer_addr(self, node_id: int) -> str:
        if self.base_port is not None:
            ip, port = "127.0.0.1", self.base_port + node_id
        else:
            infos = await asyncio.get_running_loop().getaddrinfo(f"node{node_id}", SHADOW_PORT, family=socket.AF_INET)
            if not infos:
                raise InstructionError(f"node{node_id} does not resolve")
            ip, port = str(infos[0][4][0]), SHADOW_PORT
        return f"/ip4/{ip}/tcp/{port}/p2p/{node_peer_id(node_id)}"

    # --- tracing ---------------------------------------------------------------------------------

    def _trace(self, sender: PeerId, msg: pubsub_pb2.Message) -> None:
        data = msg.data
        # the contract's id is a base-10 u64 of the first 8 bytes; a shorter payload has none
        msg_id = str(int.from_bytes(data[:8], "big")) if len(data) >= 8 else ""
        topic = msg.topic.decode("utf-8", "replace") if isinstance(msg.topic, bytes) else msg.topic
        self.log.event("Received Message", service="gossipsub", **{"from": str(sender)}, topic=topic, id=msg_id)

    # --- the script ------------------------------------------------------------------------------

    async def run(self, script: tuple[Instruction, ...]) -> None:
        self.log.event("PeerID", id=str(self.peer_id), node_id=self.node_id)
        async with new_host(self.key, listen_addrs=self.listen_addr()) as host:
            self.host = host
            # a start time in the future: listen now, run the script from then (a runner starts
            # every process first, as Shadow starts all hosts at once)
            delay = (self.start_ns - time.time_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                for instruction in script:
                    await self.run_instruction(instruction)
            finally:
                for task in self._readers:
                    task.cancel()
                for sub in self.subscriptions.values():
                    sub.cancel()
                if self.pubsub is not None:
                    with contextlib.suppress(TimeoutError):  # peers may leave first; go does not wait
                        await self.pubsub.flush(timeout=1.0)

    def _need_pubsub(self) -> GossipSub:
        if self.pubsub is None:
            raise InstructionError("initGossipSub must come before any other instruction")
        return self.pubsub

    async def run_instruction(self, instruction: Instruction) -> None:
        host = self.host
        assert host is not None
        if isinstance(instruction, IfNodeIDEquals):
            if instruction.node_id == self.node_id:
                await self.run_instruction(instruction.instruction)
        elif isinstance(instruction, InitGossipSub):
            if self.pubsub is not None:
                raise InstructionError("initGossipSub given twice")
            config = gossipsub_config(instruction.params, base=harness_config(self._trace))
            self.pubsub = GossipSub(config, signature_policy=SignaturePolicy.STRICT_NO_SIGN)
            await host.add_service(self.pubsub)
        elif isinstance(instruction, Connect):
            for target in instruction.connect_to:
                await self.connect(target)
            print(f"node {self.node_id} connected to {len(host.connected_peers())} peers", file=sys.stderr)
        elif isinstance(instruction, WaitUntil):
            target_ns = self.start_ns + instruction.elapsed_seconds * 1_000_000_000
            delay = (target_ns - time.time_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
        elif isinstance(instruction, Publish):
            pubsub = self._need_pubsub()
            data = publish_payload(instruction)
            self.log.event("Published Message", service="gossipsub", topic=instruction.topic_id,
                           id=str(instruction.message_id))
            await pubsub.publish(instruction.topic_id, data)
        elif isinstance(instruction, SubscribeToTopic):
            pubsub = self._need_pubsub()
            if instruction.partial:
                raise UnsupportedInstruction("subscribeToTopic with partial=true: aiolibp2p has no partial messages")
            if instruction.topic_id not in self.subscriptions:
                sub = self.subscriptions[instruction.topic_id] = pubsub.subscribe(instruction.topic_id)
                self._readers.append(asyncio.ensure_future(self._drain(sub)))
        elif isinstance(instruction, SetTopicValidationDelay):
            delay = instruction.delay_seconds

            async def delayed_accept(_: PubsubMessage) -> ValidationResult:
                await asyncio.sleep(delay)
                return ValidationResult.ACCEPT

            self._need_pubsub().add_validator(instruction.topic_id, delayed_accept)
        elif isinstance(instruction, (AddPartialMessage, PublishPartial)):
            raise UnsupportedInstruction(f"{type(instruction).__name__}: aiolibp2p has no partial messages extension")
        else:  # pragma: no cover - the parser gives only the kinds above
            raise InstructionError(f"unknown instruction {instruction!r}")

    async def _drain(self, sub: Subscription) -> None:
        # deliveries are logged by the tracer (every copy, as the contract asks); reading keeps
        # the subscription's buffer from filling
        async for _ in sub:
            pass

    async def connect(self, target: int) -> None:
        host = self.host
        assert host is not None
        addr = await self.peer_addr(target)
        deadline = time.monotonic() + CONNECT_DEADLINE
        delay = 0.05
        while True:
            try:
                async with asyncio.timeout(CONNECT_ATTEMPT_TIMEOUT):
                    await host.connect(addr)
                return
            except (Libp2pError, OSError, EOFError, TimeoutError) as exc:  # EOF: a handshake cut short
                if time.monotonic() + delay > deadline:
                    raise InstructionError(f"could not connect to node{target} at {addr}: {exc!r}") from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)


def harness_config(tracer: Callable[[PeerId, pubsub_pb2.Message], None]) -> GossipSubConfig:
    """The harness' fixed options, as its go node: ``StrictNoSign`` (the service's policy) with no
    author, the message id from the first 8 bytes, 10 MiB messages, no peer score (its go node sets
    no ``WithPeerScore``), and every received copy traced."""
    return GossipSubConfig(
        message_id_fn=lambda msg: bytes(msg.data[:8]),
        max_rpc_size=MAX_MESSAGE_SIZE + 64 * 1024,
        score_params=None,
        received_message_tracer=tracer,
    )


def _node_id(args: argparse.Namespace) -> int:
    if args.node_id is not None:
        return int(args.node_id)
    env = os.environ.get("GOSSIPSUB_INTEROP_NODE_ID")
    if env:
        return int(env)
    return node_id_from_hostname(socket.gethostname())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gossipsub-interop-node", description=__doc__.split("\n")[0])
    parser.add_argument("--params", required=True, help="the harness' params.json")
    parser.add_argument("--node-id", type=int, help="override the node id from the host name")
    parser.add_argument("--loopback-base-port", type=int,
                        default=int(os.environ["GOSSIPSUB_INTEROP_BASE_PORT"])
                        if os.environ.get("GOSSIPSUB_INTEROP_BASE_PORT") else None,
                        help="node N listens on 127.0.0.1:PORT+N (no Shadow)")
    parser.add_argument("--start-time", type=int, help="time origin of waitUntil, Unix nanoseconds")
    args = parser.parse_args(argv)
    start_ns = args.start_time if args.start_time is not None else time.time_ns()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    try:
        node_id = _node_id(args)
        if not args.params.endswith(".json"):
            raise InstructionError("the params file must be a .json file")
        with open(args.params, "rb") as f:
            params = parse_params(f.read())
    except (InstructionError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    node = ScriptedNode(node_id, base_port=args.loopback_base_port, start_ns=start_ns, out=JsonLog(sys.stdout))
    try:
        asyncio.run(node.run(params.script))
    except UnsupportedInstruction as exc:
        print(f"unsupported: {exc}", file=sys.stderr)
        return 3
    except InstructionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
