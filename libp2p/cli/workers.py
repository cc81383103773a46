"""``libp2p serve --workers N``: N processes serve the same identity on the same TCP port(s).

One Python process runs on one core. With ``--workers N`` the command starts N worker processes
that listen on the same TCP addresses with SO_REUSEPORT (the kernel spreads incoming connections
over them) under one identity, so a node accepts and secures connections on every core. This
process (the supervisor) picks the ports (for ``/tcp/0``), hands each worker the parsed options
and the private key over a pipe, prints the one ready line once every worker listens, reports a
worker that dies, and on SIGINT/SIGTERM stops them all (SIGTERM, then SIGKILL after a grace
period). A worker whose supervisor vanishes sees its pipe close and stops too.

Each worker is a whole node: a peer's connections, streams and identify state live in the worker
that accepted it. So options that keep node-wide state (the DHT, pubsub, relay, AutoNAT, hole
punching, mDNS) and listeners other than TCP (QUIC, WebSocket) are refused with ``--workers``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libp2p.cli import _common, resume_gc

if TYPE_CHECKING:
    from libp2p.identity.keys import PrivateKey

__all__ = ["WorkerSetup", "parse_workers", "run", "worker_main"]

log = logging.getLogger("libp2p.cli.workers")

READY_TIMEOUT = 60.0  # seconds for every worker to print its ready line
STOP_GRACE = 10.0  # seconds a worker has to close after SIGTERM before SIGKILL
_LEN = struct.Struct(">I")

# serve options a multi-process node cannot honour: each keeps node-wide state
_NODE_WIDE = ("dht", "pubsub", "subscribe", "relay_service", "relay", "autonat", "hole_punch", "mdns")


def parse_workers(text: str) -> int:
    """``--workers``: a count >= 1, or ``0``/``auto`` for one per CPU."""
    if text == "auto":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid worker count {text!r} (a number, or auto)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("--workers must be >= 0 (0 or auto: one per CPU)")
    return value


def worker_count(requested: int) -> int:
    return requested if requested > 0 else max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker gets from its supervisor besides the parsed options."""

    key: bytes  # the node's private key (protobuf, as `libp2p keygen --out` writes)
    index: int

    def host_options(self) -> dict[str, Any]:
        """``new_host`` keyword arguments: the shared identity, and TCP listening with SO_REUSEPORT."""
        from libp2p.identity.keys import unmarshal_private_key
        from libp2p.transport.tcp import TcpConfig, TcpTransport

        return {"key": unmarshal_private_key(self.key), "transports": [TcpTransport(TcpConfig(reuse_port=True))]}


# -- the supervisor ------------------------------------------------------------------------------


def _check_options(args: argparse.Namespace) -> None:
    used = [name for name in _NODE_WIDE if getattr(args, name, None)]
    if used:
        flags = ", ".join("--" + name.replace("_", "-") for name in used)
        raise _common.CliError(f"--workers cannot be combined with {flags} (each worker is a separate node)", 2)


def _reserve_ports(listen: list[str]) -> tuple[list[str], list[socket.socket]]:
    """The listen addresses with every ``/tcp/0`` replaced by a free port, and the sockets that hold
    those ports (bound with SO_REUSEPORT, not listening) until the workers have bound them too."""
    from libp2p.errors import Libp2pError
    from libp2p.multiaddr import Multiaddr
    from libp2p.transport.tcp import tcp_endpoint

    resolved: list[str] = []
    holders: list[socket.socket] = []
    try:
        for text in listen:
            try:
                addr = Multiaddr(text)
            except (Libp2pError, ValueError) as exc:
                raise _common.CliError(f"invalid multiaddr {text!r}: {exc}", 2) from None
            endpoint = tcp_endpoint(addr)
            if endpoint is None or len(addr.components()) != 2:
                raise _common.CliError(f"--workers listens on TCP only (/ip4|ip6/…/tcp/PORT), not {text}", 2)
            host, port, family = endpoint
            if port == 0:
                holder = socket.socket(family, socket.SOCK_STREAM)
                holders.append(holder)
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                try:
                    holder.bind((host, 0))
                except OSError as exc:
                    raise _common.CliError(f"cannot listen: {_common.describe(exc)}") from None
                port = holder.getsockname()[1]
            proto = "ip6" if family == socket.AF_INET6 else "ip4"
            resolved.append(f"/{proto}/{host}/tcp/{port}")
    except BaseException:
        for holder in holders:
            holder.close()
        raise
    return resolved, holders


def _node_key(args: argparse.Namespace) -> PrivateKey:
    key = _common.load_key(args.key)
    if key is None:
        from libp2p.identity.keys import generate_key_pair

        key = generate_key_pair()
    return key


def run(args: argparse.Namespace) -> int:
    """Supervise ``worker_count(args.workers)`` serving processes (``serve --workers``)."""
    _common.setup_logging(args, logging.WARNING)
    try:
        if not hasattr(socket, "SO_REUSEPORT"):
            raise _common.CliError("--workers needs SO_REUSEPORT, which this platform lacks", 2)
        _check_options(args)
        count = worker_count(args.workers)
        key = _node_key(args)
        listen, holders = _reserve_ports(args.listen or ["/ip4/127.0.0.1/tcp/0"])
        try:
            resume_gc()  # the supervisor runs as long as its workers: with the collector on
            return asyncio.run(_supervise(args, count, key.marshal(), listen, holders))
        finally:
            for holder in holders:
                holder.close()
    except _common.CliError as exc:
        print(f"libp2p serve: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130


class _Worker:
    def __init__(self, index: int, proc: asyncio.subprocess.Process) -> None:
        self.index = index
        self.proc = proc

    def describe(self) -> str:
        return f"worker {self.index} (pid {self.proc.pid})"

    def signal(self, sig: int) -> None:
        if self.proc.returncode is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass


async def _start_worker(args: argparse.Namespace, index: int, key: bytes, listen: list[str]) -> _Worker:
    worker_args = argparse.Namespace(**vars(args))
    worker_args.listen = listen
    worker_args.key = None
    worker_args.workers = 1
    worker_args.worker = WorkerSetup(key=key, index=index)
    payload = pickle.dumps(worker_args)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from libp2p.cli.workers import worker_main; worker_main()",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
    )
    assert proc.stdin is not None
    # The pipe stays open: when this process goes away, the worker reads EOF and stops.
    proc.stdin.write(_LEN.pack(len(payload)) + payload)
    await proc.stdin.drain()
    return _Worker(index, proc)


async def _ready_line(worker: _Worker) -> dict[str, Any]:
    assert worker.proc.stdout is not None
    line = await worker.proc.stdout.readline()
    if not line:
        status = await worker.proc.wait()
        raise _common.CliError(f"{worker.describe()} exited with status {status} before listening")
    try:
        info: dict[str, Any] = json.loads(line)
    except ValueError:
        raise _common.CliError(f"{worker.describe()} printed {line[:200]!r} instead of its address line") from None
    return info


async def _drain(worker: _Worker) -> None:
    """Pass on what a worker prints after its ready line (nothing, in the options allowed)."""
    assert worker.proc.stdout is not None
    while line := await worker.proc.stdout.readline():
        sys.stdout.write(line.decode(errors="replace"))
        sys.stdout.flush()


async def _stop(workers: list[_Worker]) -> None:
    for w in workers:
        w.signal(signal.SIGTERM)
    try:
        async with asyncio.timeout(STOP_GRACE):
            await asyncio.gather(*(w.proc.wait() for w in workers))
    except TimeoutError:
        for w in workers:
            if w.proc.returncode is None:
                print(f"libp2p serve: {w.describe()} did not stop within {STOP_GRACE:g} s; killing it",
                      file=sys.stderr)
                w.signal(signal.SIGKILL)
        await asyncio.gather(*(w.proc.wait() for w in workers))
    for w in workers:
        if w.proc.stdin is not None:
            w.proc.stdin.close()


async def _supervise(args: argparse.Namespace, count: int, key: bytes, listen: list[str],
                     holders: list[socket.socket]) -> int:
    stop = _common.stop_event()
    workers: list[_Worker] = []
    try:
        for index in range(count):
            workers.append(await _start_worker(args, index, key, listen))
        async with asyncio.timeout(READY_TIMEOUT):
            lines = await asyncio.gather(*(_ready_line(w) for w in workers))
    except TimeoutError:
        await _stop(workers)
        raise _common.CliError(f"the workers did not all listen within {READY_TIMEOUT:g} s") from None
    except BaseException:
        await _stop(workers)
        raise
    for holder in holders:  # every worker holds the ports now
        holder.close()
    first = lines[0]
    for w, info in zip(workers, lines):
        if info.get("peer_id") != first.get("peer_id") or info.get("multiaddrs") != first.get("multiaddrs"):
            await _stop(workers)
            raise _common.CliError(f"{w.describe()} listens as {info}, not as worker 0: {first}")
    sys.stdout.write(json.dumps({**first, "workers": [w.proc.pid for w in workers]}) + "\n")
    sys.stdout.flush()
    log.info("serving %s with %d workers", first.get("peer_id"), count)

    drains = [asyncio.ensure_future(_drain(w)) for w in workers]
    exits = {asyncio.ensure_future(w.proc.wait()): w for w in workers}
    stopping = asyncio.ensure_future(stop.wait())
    status = 0
    try:
        while exits:
            done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                break
            for finished in done:
                w = exits.pop(finished)
                status = 1
                print(f"libp2p serve: {w.describe()} exited with status {w.proc.returncode}; "
                      f"{len(exits)} of {count} still serving", file=sys.stderr, flush=True)
        else:
            print("libp2p serve: every worker exited", file=sys.stderr)
            return 1
    finally:
        stopping.cancel()
        await _stop(workers)
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
    return status


# -- a worker ------------------------------------------------------------------------------------


def _read_exactly(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError("the supervisor closed the pipe")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def worker_main() -> None:
    """Entry point of a worker process: options from the supervisor's pipe, then ``serve``."""
    from libp2p.cli import serve

    fd = sys.stdin.fileno()
    (size,) = _LEN.unpack(_read_exactly(fd, _LEN.size))
    # The supervisor is this program's own parent process: what it pickled, it built.
    args = pickle.loads(_read_exactly(fd, size))
    if not isinstance(args, argparse.Namespace) or not isinstance(getattr(args, "worker", None), WorkerSetup):
        raise SystemExit("libp2p serve worker: unexpected set-up from the supervisor")

    async def serve_until_orphaned() -> int:
        loop = asyncio.get_running_loop()

        def supervisor_gone() -> None:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                os.kill(os.getpid(), signal.SIGTERM)  # the same graceful stop as a signal

        loop.add_reader(fd, supervisor_gone)
        return await serve.serve_main(args)

    sys.exit(_common.run_command("serve", args, serve_until_orphaned, client=False))
