"""A delayed Ethernet link between two network namespaces, built in userspace: what ``tc qdisc
add ... netem delay`` does, for kernels without ``sch_netem`` (the testbed's ``tests/netns/testbed.py``).

Each link is two TAP devices (``IFF_TAP | IFF_NO_PI``), one created in each namespace (this process
enters the namespace with ``setns`` before it opens ``/dev/net/tun``, and the device stays in the
namespace it was created in), and this process copies every frame the kernel sends on one device to
the other after that direction's one-way delay. TAP rather than TUN so that an end can be a bridge
port and ARP works as on a veth pair. Each direction is a bounded FIFO (a constant delay keeps the
order): a frame that finds it full is dropped, as a qdisc drops at its limit. The devices are not
persistent: they vanish when this process exits, so stopping it removes the link.

Run as ``python -m tests.netns.delay_link --link NS_A,DEV_A,NS_B,DEV_B,MS_A_TO_B,MS_B_TO_A ...``
(root). It prints one JSON line ``{"ready": [...]}`` once every device exists (then the caller
configures them with ``ip``) and forwards until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import fcntl
import json
import os
import selectors
import signal
import struct
import sys
import time
from collections import deque
from dataclasses import dataclass, field

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
MAX_FRAME = 65536 + 64  # the largest MTU a TAP device takes, plus the Ethernet header
READS_PER_WAKEUP = 64  # frames taken from one device before the others get a turn
DEFAULT_LIMIT = 1000  # frames queued per direction (netem's default limit)

_libc = ctypes.CDLL(None, use_errno=True)


def _setns(netns: str) -> None:
    fd = os.open(os.path.join(NETNS_DIR, netns), os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {netns}: {os.strerror(err)}")
    finally:
        os.close(fd)


def open_tap(netns: str, name: str) -> int:
    """A non-blocking fd for a new TAP device ``name`` in ``netns`` (this thread stays there)."""
    _setns(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


@dataclass
class Direction:
    """Frames read from ``src`` wait ``delay`` seconds, then are written to ``dst``."""

    src: int
    dst: int
    delay: float
    limit: int
    queue: deque[tuple[float, bytes]] = field(default_factory=deque)
    dropped: int = 0

    def take(self, now: float) -> None:
        for _ in range(READS_PER_WAKEUP):
            try:
                frame = os.read(self.src, MAX_FRAME)
            except BlockingIOError:
                return
            if len(self.queue) >= self.limit:
                self.dropped += 1
            else:
                self.queue.append((now + self.delay, frame))

    def deliver(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            _, frame = self.queue.popleft()
            try:
                os.write(self.dst, frame)
            except OSError as exc:  # the other end is down or full: the frame is lost, as on a wire
                if exc.errno not in (errno.EAGAIN, errno.EIO, errno.ENOBUFS, errno.EINVAL):
                    raise
                self.dropped += 1

    def due(self) -> float | None:
        return self.queue[0][0] if self.queue else None


class _Stopped(Exception):
    pass


@dataclass(frozen=True)
class LinkSpec:
    ns_a: str
    dev_a: str
    ns_b: str
    dev_b: str
    ms_a_to_b: float
    ms_b_to_a: float

    @classmethod
    def parse(cls, text: str) -> LinkSpec:
        parts = text.split(",")
        if len(parts) != 6:
            raise argparse.ArgumentTypeError(f"want NS_A,DEV_A,NS_B,DEV_B,MS_A_TO_B,MS_B_TO_A, got {text!r}")
        ns_a, dev_a, ns_b, dev_b, ab, ba = parts
        return cls(ns_a, dev_a, ns_b, dev_b, float(ab), float(ba))


def run(links: list[LinkSpec], limit: int) -> int:
    directions: list[Direction] = []
    for link in links:
        fd_a = open_tap(link.ns_a, link.dev_a)
        fd_b = open_tap(link.ns_b, link.dev_b)
        directions.append(Direction(fd_a, fd_b, link.ms_a_to_b / 1000, limit))
        directions.append(Direction(fd_b, fd_a, link.ms_b_to_a / 1000, limit))

    def stop(_signum: int, _frame: object) -> None:
        raise _Stopped  # select() would resume after a handler that returns (PEP 475)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"ready": [f"{s.ns_a}/{s.dev_a}<->{s.ns_b}/{s.dev_b}" for s in links]}), flush=True)
    with selectors.DefaultSelector() as selector:
        for direction in directions:
            selector.register(direction.src, selectors.EVENT_READ, direction)
        try:
            while True:
                now = time.monotonic()
                dues = [d for d in (x.due() for x in directions) if d is not None]
                ready = selector.select(max(0.0, min(dues) - now) if dues else None)
                now = time.monotonic()
                for key, _ in ready:
                    key.data.take(now)
                for direction in directions:
                    direction.deliver(now)
        except _Stopped:
            pass
    dropped = sum(d.dropped for d in directions)
    if dropped:
        print(f"delay_link: {dropped} frames dropped", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.netns.delay_link", description=__doc__.split("\n\n")[0])
    parser.add_argument("--link", type=LinkSpec.parse, action="append", required=True,
                        help="NS_A,DEV_A,NS_B,DEV_B,MS_A_TO_B,MS_B_TO_A (repeatable)")
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="frames queued per direction")
    args = parser.parse_args(argv)
    return run(args.link, args.limit)


if __name__ == "__main__":
    sys.exit(main())
