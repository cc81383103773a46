"""Chat on a GossipSub topic: every line you type is published; what others publish is printed.

    python examples/pubsub_chat.py --listen           # join the topic; prints its address
    python examples/pubsub_chat.py ADDRESS            # join through that peer; type lines, Ctrl-D to leave
    python examples/pubsub_chat.py --demo             # two peers in this process say hello

A third process joins by giving either address; GossipSub relays every message to all of them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from libp2p import Host, new_host
from libp2p.protocols.pubsub import GossipSub, PeerJoinedTopic, PubsubMessage, Subscription, ValidationResult

TOPIC = "example-chat"
MAX_MESSAGE = 1000  # bytes; longer messages are rejected by the validator, and their sender penalised


def short_messages(message: PubsubMessage) -> ValidationResult:
    """A topic validator: runs on every message before it is delivered or forwarded."""
    return ValidationResult.ACCEPT if 0 < len(message.data) <= MAX_MESSAGE else ValidationResult.REJECT


def chat_service() -> GossipSub:
    pubsub = GossipSub()  # GossipSubConfig() defaults: go-libp2p-pubsub's; messages signed (StrictSign)
    pubsub.add_validator(TOPIC, short_messages)
    return pubsub


async def _stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def chat(host: Host, pubsub: GossipSub, subscription: Subscription) -> None:
    """Print what others publish while publishing what we type; ends at the end of input."""

    async def receive() -> None:
        async for message in subscription:
            if message.from_peer != host.peer_id:  # our own messages come back too
                print(f"{str(message.from_peer)[-6:]}> {message.data.decode(errors='replace')}", flush=True)

    receiving = asyncio.ensure_future(receive())
    try:
        lines = await _stdin_lines()
        while line := await lines.readline():
            text = line.rstrip(b"\n")
            if not text:
                continue
            if not pubsub.topic_peers(TOPIC):
                await pubsub.wait_for_topic_peers(TOPIC, 1, timeout=10)  # TimeoutError: nobody is there
            await pubsub.publish(TOPIC, text)
        await pubsub.flush()  # Ctrl-D: write what is queued before leaving
    finally:
        receiving.cancel()


async def demo() -> None:
    alice_pubsub, bob_pubsub = chat_service(), chat_service()
    async with (new_host(listen_addrs="/ip4/127.0.0.1/tcp/0", services=[alice_pubsub]) as alice,
                new_host(services=[bob_pubsub]) as bob,
                alice_pubsub.subscribe(TOPIC) as alice_sub,
                bob_pubsub.subscribe(TOPIC) as bob_sub):
        await bob.connect(alice.full_addrs()[0])  # bootstrap: one connection is enough to join the topic
        await bob_pubsub.wait_for_topic_peers(TOPIC)
        await bob_pubsub.publish(TOPIC, b"hello, I am bob")
        heard = await alice_sub.get()
        print("alice got:", heard.data.decode())
        await alice_pubsub.publish(TOPIC, b"nice to meet you, " + heard.data.split(b" ")[-1])
        async for reply in bob_sub:
            if reply.from_peer == alice.peer_id:
                print("bob got:  ", reply.data.decode())
                break


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", nargs="?", help="a chatting peer's /ip4/…/tcp/…/p2p/… address")
    parser.add_argument("--listen", action="store_true")
    parser.add_argument("--listen-addr", default="/ip4/127.0.0.1/tcp/0")
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    if args.demo or not (args.listen or args.address):
        await demo()
        return
    pubsub = chat_service()
    async with new_host(listen_addrs=args.listen_addr, services=[pubsub]) as host, pubsub.subscribe(TOPIC) as sub:
        host.events.subscribe(PeerJoinedTopic, lambda event: print(f"{event.peer_id} joined", flush=True))
        if args.listen:
            for addr in host.full_addrs():
                print(addr, flush=True)
        else:
            await host.connect(args.address)
            print(f"connected to {args.address}; type lines, Ctrl-D to leave", flush=True)
        await chat(host, pubsub, sub)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
