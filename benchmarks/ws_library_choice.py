"""Which WebSocket library carries libp2p bytes fastest on loopback (issue 15, item 1).

Three ways to move binary messages client -> server over ws://127.0.0.1:
- ``websockets-asyncio``: websockets' asyncio API (a task per connection, ``await ws.send``);
- ``aiohttp``: aiohttp's web server and client ``ws_connect``;
- ``websockets-sansio``: websockets' sans-IO ``ClientProtocol``/``ServerProtocol`` driven by a
  plain ``asyncio.Protocol`` (no task per message), the shape ``libp2p.transport.websocket`` uses.

Prints one JSON object with MB/s per library, message size, total, versions and the load
(``os.getloadavg``). Run: ``python benchmarks/ws_library_choice.py [--total-mib 128]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from typing import Any

import aiohttp
import websockets
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.frames import Frame, Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.client import ClientProtocol
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

MAX = 8 << 20


async def bench_websockets_asyncio(total: int, size: int) -> float:
    total -= total % size
    done = asyncio.get_running_loop().create_future()

    async def handler(ws: Any) -> None:
        got = 0
        async for msg in ws:
            got += len(msg)
            if got >= total:
                break
        done.set_result(got)

    async with ws_serve(handler, "127.0.0.1", 0, max_size=MAX, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with ws_connect(f"ws://127.0.0.1:{port}/", max_size=MAX, compression=None) as ws:
            payload = os.urandom(size)
            start = time.perf_counter()
            for _ in range(total // size):
                await ws.send(payload)
            await done
            return total / (time.perf_counter() - start) / 1e6


async def bench_aiohttp(total: int, size: int) -> float:
    total -= total % size
    done = asyncio.get_running_loop().create_future()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX, compress=False)
        await ws.prepare(request)
        got = 0
        async for msg in ws:
            got += len(msg.data)
            if got >= total:
                break
        done.set_result(got)
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"http://127.0.0.1:{port}/", max_msg_size=MAX, compress=0) as ws:
                payload = os.urandom(size)
                start = time.perf_counter()
                for _ in range(total // size):
                    await ws.send_bytes(payload)
                await done
                return total / (time.perf_counter() - start) / 1e6
    finally:
        await runner.cleanup()


class _SansIO(asyncio.Protocol):
    def __init__(self, proto: ClientProtocol | ServerProtocol, on_data: Any = None) -> None:
        self.proto = proto
        self.on_data = on_data
        self.transport: asyncio.Transport | None = None
        self.open = asyncio.get_running_loop().create_future()
        self.paused = False
        self.resumed: asyncio.Event = asyncio.Event()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if isinstance(self.proto, ClientProtocol):
            self.proto.send_request(self.proto.connect())
            self.flush()

    def flush(self) -> None:
        out = self.proto.data_to_send()
        if out:
            assert self.transport is not None
            self.transport.writelines(out)

    def data_received(self, data: bytes) -> None:
        self.proto.receive_data(data)
        for event in self.proto.events_received():
            if isinstance(event, Request):
                assert isinstance(self.proto, ServerProtocol)
                self.proto.send_response(self.proto.accept(event))
                self.open.set_result(None)
            elif isinstance(event, Response):
                self.open.set_result(None)
            elif isinstance(event, Frame) and event.opcode in (Opcode.BINARY, Opcode.CONT):
                self.on_data(event.data)
        self.flush()

    def pause_writing(self) -> None:
        self.resumed.clear()
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.resumed.set()


async def bench_websockets_sansio(total: int, size: int) -> float:
    total -= total % size
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    got = 0

    def count(data: bytes) -> None:
        nonlocal got
        got += len(data)
        if got >= total and not done.done():
            done.set_result(got)

    server = await loop.create_server(
        lambda: _SansIO(ServerProtocol(max_size=MAX), count), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    _, client = await loop.create_connection(
        lambda: _SansIO(ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"), max_size=MAX)), "127.0.0.1", port
    )
    await client.open
    assert client.proto.state is State.OPEN
    payload = os.urandom(size)
    start = time.perf_counter()
    for _ in range(total // size):
        client.proto.send_binary(payload)
        client.flush()
        if client.paused:
            await client.resumed.wait()
    await done
    elapsed = time.perf_counter() - start
    assert client.transport is not None
    client.transport.close()
    server.close()
    return total / elapsed / 1e6


async def handshakes_websockets_asyncio(n: int) -> float:
    async def handler(ws: Any) -> None:
        await ws.wait_closed()

    async with ws_serve(handler, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        start = time.perf_counter()
        for _ in range(n):
            async with ws_connect(f"ws://127.0.0.1:{port}/", compression=None):
                pass
        return n / (time.perf_counter() - start)


async def handshakes_aiohttp(n: int) -> float:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            start = time.perf_counter()
            for _ in range(n):
                async with session.ws_connect(f"http://127.0.0.1:{port}/", compress=0):
                    pass
            return n / (time.perf_counter() - start)
    finally:
        await runner.cleanup()


async def handshakes_websockets_sansio(n: int) -> float:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _SansIO(ServerProtocol(), lambda _: None), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    start = time.perf_counter()
    for _ in range(n):
        _, client = await loop.create_connection(
            lambda: _SansIO(ClientProtocol(parse_uri(f"ws://127.0.0.1:{port}/"))), "127.0.0.1", port
        )
        await client.open
        assert client.transport is not None
        client.transport.close()
    rate = n / (time.perf_counter() - start)
    server.close()
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total-mib", type=int, default=128)
    parser.add_argument("--size", type=int, default=65536 + 18, help="message size (a full Noise frame + length)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--handshakes", type=int, default=300, help="sequential connect + upgrade + close")
    args = parser.parse_args()
    total = args.total_mib << 20
    results: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for name, fn in [
            ("websockets-asyncio", bench_websockets_asyncio),
            ("aiohttp", bench_aiohttp),
            ("websockets-sansio", bench_websockets_sansio),
        ]:
            results.setdefault(name, []).append(round(await fn(total, args.size), 1))
    handshakes: dict[str, float] = {}
    for name, hs in [
        ("websockets-asyncio", handshakes_websockets_asyncio),
        ("aiohttp", handshakes_aiohttp),
        ("websockets-sansio", handshakes_websockets_sansio),
    ]:
        handshakes[name] = round(await hs(args.handshakes), 1)
    print(json.dumps({
        "MB_per_s": results,
        "handshakes_per_s": handshakes,
        "best": {k: max(v) for k, v in results.items()},
        "message_size": args.size,
        "total_bytes": total,
        "versions": {"websockets": websockets.__version__, "aiohttp": aiohttp.__version__,
                     "python": platform.python_version()},
        "loadavg": os.getloadavg(),
        "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    asyncio.run(main())
