"""A host's set-up does its one-time work before its first connection (issue #16, item 6).

A new process's first connection used to pay for work that belongs to making or starting the host:
callbacks that ``start`` scheduled (identify's signed answer, the first step of the host's tasks)
ran in the first connection's loop passes, and the first Noise handshake looked libsodium's AEAD
up and made the first X25519, SHA-256 and signature-check calls of the process.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from typing import Any

from libp2p.host.service import Service
from libp2p.node import new_host
from libp2p.transport import connection as raw_connection
from libp2p.transport.tcp import TcpTransport


class _Scheduling(Service):
    """A service whose start schedules work for a later loop pass."""

    name = "scheduling"

    def __init__(self) -> None:
        self.ran = False

    async def start(self, host: Any) -> None:
        await super().start(host)
        asyncio.get_running_loop().call_soon(self._later)

    def _later(self) -> None:
        self.ran = True


async def test_start_runs_what_it_scheduled_before_returning() -> None:
    service = _Scheduling()
    async with new_host(services=[service]) as host:
        assert service.ran
        # identify's answer (its signed peer record) is ready before the first peer asks
        assert host.services["identify"]._encoded is not None


def test_making_a_host_prepares_the_noise_crypto_once_per_process() -> None:
    # a new process: the once-per-process state starts clean
    code = textwrap.dedent("""
        from libp2p.security.noise import service
        from libp2p.node import new_host
        assert not service._first_use_done
        new_host()
        assert service._first_use_done
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_the_tcp_transport_makes_its_threads_receive_buffer() -> None:
    seen: list[bool] = []

    def in_a_new_thread() -> None:
        before = getattr(raw_connection._local, "view", None) is not None
        TcpTransport()
        seen.extend([before, getattr(raw_connection._local, "view", None) is not None])

    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join(30)
    assert seen == [False, True]


async def test_a_dial_after_the_set_up_still_works() -> None:
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"]) as server, new_host() as client:
        async with asyncio.timeout(20):
            await client.connect(server.full_addrs()[0])
            info = await client.services["identify"].identify(server.peer_id)
        assert info.protocols is not None and "/ipfs/id/1.0.0" in info.protocols
