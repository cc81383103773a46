"""Echo over a protocol of your own: a handler on one host, a stream from another.

    python examples/echo.py                     # both ends in this process
    python examples/echo.py --listen            # a server; prints its address
    python examples/echo.py ADDRESS -m TEXT     # a client of that server
"""

from __future__ import annotations

import argparse
import asyncio

from libp2p import Host, Stream, new_host

PROTOCOL = "/example/echo/1.0.0"


async def echo(stream: Stream) -> None:
    """Send back everything until the client closes its side (the host then closes ours)."""
    while data := await stream.read(65536):
        await stream.write(data)


def server(listen: str) -> Host:
    host = new_host(listen_addrs=listen)
    host.set_stream_handler(PROTOCOL, echo)
    return host


async def ask(host: Host, address: str, message: bytes) -> bytes:
    stream = await host.dial_protocol(address, PROTOCOL)  # connect + open the stream
    await stream.write(message)
    await stream.close()  # half-close: "that is all", the reply can still come
    reply = b""
    while chunk := await stream.read():
        reply += chunk
    return reply


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", nargs="?", help="a server's /ip4/…/tcp/…/p2p/… address")
    parser.add_argument("-m", "--message", default="hello, libp2p")
    parser.add_argument("--listen", action="store_true", help="run a server until Ctrl-C")
    parser.add_argument("--listen-addr", default="/ip4/127.0.0.1/tcp/0")
    args = parser.parse_args()

    if args.listen:
        async with server(args.listen_addr) as host:
            for addr in host.full_addrs():
                print(addr, flush=True)
            await asyncio.Event().wait()  # until Ctrl-C
    elif args.address:
        async with new_host() as client:
            print((await ask(client, args.address, args.message.encode())).decode())
    else:
        async with server(args.listen_addr) as host, new_host() as client:
            reply = await ask(client, str(host.full_addrs()[0]), args.message.encode())
            print(f"sent {args.message!r}, the server echoed {reply.decode()!r}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
