"""Chat over one stream: each line you type is a length-prefixed message to the peer.

    python examples/chat.py --listen            # wait for a peer; prints its address
    python examples/chat.py ADDRESS             # connect to it; type lines, Ctrl-D to leave
    python examples/chat.py --demo              # two peers in this process say hello
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from libp2p import Host, Stream, messages, new_host, write_message

PROTOCOL = "/example/chat/1.0.0"


async def _stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


async def chat(stream: Stream) -> None:
    """Print what the peer sends while sending what we type; ends when either side leaves."""

    async def receive() -> None:
        async for message in messages(stream):
            print(f"{str(stream.remote_peer_id)[-6:]}> {message.decode(errors='replace')}", flush=True)
        print("(the peer left)", flush=True)

    async def send() -> None:
        lines = await _stdin_lines()
        while line := await lines.readline():
            await write_message(stream, line.rstrip(b"\n"))
        await stream.close()  # Ctrl-D: we are done talking

    receiving = asyncio.ensure_future(receive())
    sending = asyncio.ensure_future(send())
    await receiving
    sending.cancel()


async def demo() -> None:
    said: asyncio.Queue[bytes] = asyncio.Queue()

    async def listener(stream: Stream) -> None:
        async for message in messages(stream):
            await said.put(message)
            await write_message(stream, b"nice to meet you, " + message.split(b" ")[-1])

    async with new_host(listen_addrs="/ip4/127.0.0.1/tcp/0") as alice, new_host() as bob:
        alice.set_stream_handler(PROTOCOL, listener)
        stream = await bob.dial_protocol(alice.full_addrs()[0], PROTOCOL)
        await write_message(stream, b"hello, I am bob")
        print("alice got:", (await said.get()).decode())
        async for reply in messages(stream):
            print("bob got:  ", reply.decode())
            break
        await stream.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", nargs="?", help="the listening peer's /ip4/…/tcp/…/p2p/… address")
    parser.add_argument("--listen", action="store_true")
    parser.add_argument("--listen-addr", default="/ip4/127.0.0.1/tcp/0")
    parser.add_argument("--demo", action="store_true")
    args = parser.parse_args()
    if args.demo or not (args.listen or args.address):
        await demo()
    elif args.listen:
        done = asyncio.Event()

        async def one_chat(stream: Stream) -> None:
            print(f"{stream.remote_peer_id} joined", flush=True)
            await chat(stream)
            done.set()

        host: Host
        async with new_host(listen_addrs=args.listen_addr) as host:
            host.set_stream_handler(PROTOCOL, one_chat)
            for addr in host.full_addrs():
                print(addr, flush=True)
            await done.wait()
    else:
        async with new_host() as host:
            stream = await host.dial_protocol(args.address, PROTOCOL)
            print(f"connected to {stream.remote_peer_id}; type lines, Ctrl-D to leave", flush=True)
            await chat(stream)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
