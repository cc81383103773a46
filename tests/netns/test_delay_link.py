"""The userspace delayed link of the netns testbed (tests/netns/delay_link.py): each direction
holds frames for its delay, keeps their order, and drops what finds its queue full (as a qdisc at
its limit). Datagram socket pairs stand in for the TAP devices (one read, one frame)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.netns.delay_link import Direction, LinkSpec


@pytest.fixture
def wires() -> Iterator[tuple[socket.socket, socket.socket, socket.socket, socket.socket]]:
    src_far, src = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    dst, dst_far = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for s in (src, dst, dst_far):
        s.setblocking(False)
    yield src_far, src, dst, dst_far
    for s in (src_far, src, dst, dst_far):
        s.close()


def _received(sock: socket.socket) -> list[bytes]:
    out = []
    for _ in range(100):
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            break
    return out


def test_frames_wait_for_the_delay_in_order(wires: tuple[socket.socket, ...]) -> None:
    src_far, src, dst, dst_far = wires
    direction = Direction(src.fileno(), dst.fileno(), delay=0.05, limit=10)
    for i in range(3):
        src_far.send(b"frame %d" % i)
    direction.take(now=100.0)
    assert direction.due() == pytest.approx(100.05)
    direction.deliver(now=100.049)
    assert _received(dst_far) == []
    direction.deliver(now=100.05)
    assert _received(dst_far) == [b"frame 0", b"frame 1", b"frame 2"]
    assert direction.due() is None and direction.dropped == 0


def test_a_full_queue_drops_new_frames(wires: tuple[socket.socket, ...]) -> None:
    src_far, src, dst, dst_far = wires
    direction = Direction(src.fileno(), dst.fileno(), delay=0.0, limit=2)
    for i in range(5):
        src_far.send(b"frame %d" % i)
    direction.take(now=1.0)
    assert direction.dropped == 3
    direction.deliver(now=1.0)
    assert _received(dst_far) == [b"frame 0", b"frame 1"]


def test_link_spec_parsing() -> None:
    spec = LinkSpec.parse("ns-a,wan,ns-b,port,50,0")
    assert spec == LinkSpec("ns-a", "wan", "ns-b", "port", 50.0, 0.0)
    with pytest.raises(Exception, match="NS_A,DEV_A"):
        LinkSpec.parse("ns-a,wan,50")
