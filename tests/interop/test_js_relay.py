"""Our circuit relay v2 (hop) serving js-libp2p clients (@libp2p/circuit-relay-v2, interop/js/relay.mjs)
on loopback: a js node reserves a slot on our relay; we, and another js node, reach it through the
relay (ping, and an echo checked byte for byte, over the limited relayed connection); and a js node
reaches one of ours through it.

Skips locally when node/npm are missing; fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from libp2p.multiaddr import Multiaddr
from libp2p.node import new_host
from libp2p.protocols.ping.service import PingService
from libp2p.protocols.relay import CircuitOpened, RelayClient, RelayService, ReservationAccepted, ReservationMade
from tests.interop.js_peer import _node, require_js_peer

TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def js_dir() -> Path:
    return require_js_peer()


@asynccontextmanager
async def js_program(js_dir: Path, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``node relay.mjs ARGS``, stopped through its handle (stdin closed, then SIGKILL if need be)."""
    proc = await asyncio.create_subprocess_exec(_node(), str(js_dir / "relay.mjs"), *args, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def json_line(proc: asyncio.subprocess.Process) -> dict[str, Any]:
    assert proc.stdout is not None and proc.stderr is not None
    line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
    if not line:
        await proc.wait()
        raise AssertionError(f"js exited ({proc.returncode}): {(await proc.stderr.read()).decode()[-3000:]}")
    result: dict[str, Any] = json.loads(line)
    return result


async def js_dial(js_dir: Path, to: str, echo_bytes: int = 0) -> dict[str, Any]:
    async with js_program(js_dir, "dial", "--to", to, "--echo-bytes", str(echo_bytes)) as proc:
        result = await json_line(proc)
        assert await asyncio.wait_for(proc.wait(), TIMEOUT) == 0
        return result


async def test_our_relay_serves_js_clients(js_dir: Path) -> None:
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[RelayService()]) as relay:
        relay_addr = f"{relay.listen_addrs[0]}/p2p/{relay.peer_id}"
        with relay.events.stream(ReservationAccepted) as accepted, relay.events.stream(CircuitOpened) as circuits:
            async with js_program(js_dir, "listen", "--relay", relay_addr) as js_listener:
                listening = await json_line(js_listener)
                granted = await asyncio.wait_for(accepted.next(), TIMEOUT)
                assert str(granted.peer_id) == listening["peer_id"]
                circuit_addr = f"{relay_addr}/p2p-circuit/p2p/{listening['peer_id']}"
                assert circuit_addr in listening["relayed_addrs"]

                # we reach the js node through our relay (a limited connection: ping opts in)
                async with new_host(services=[RelayClient()]) as ours:
                    await ours.connect(circuit_addr)
                    ping = ours.service(PingService)
                    assert ping is not None
                    assert len(await ping.ping(Multiaddr(circuit_addr).peer_id, 2)) == 2  # type: ignore[arg-type]
                opened = await asyncio.wait_for(circuits.next(), TIMEOUT)
                assert (str(opened.source), str(opened.target)) == (str(ours.peer_id), listening["peer_id"])

                # and so does another js node: ping and a 64 KiB echo through the circuit
                result = await js_dial(js_dir, circuit_addr, echo_bytes=64 * 1024)
                assert result["echo_ok"] is True, result
                assert result["rtt_ms"] >= 0 and "/p2p-circuit" in result["remote_addr"], result
                assert result["limited"] is True, result  # our relay's default per-circuit limits


async def test_js_reaches_ours_through_our_relay(js_dir: Path) -> None:
    async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[RelayService()]) as relay:
        relay_addr = f"{relay.listen_addrs[0]}/p2p/{relay.peer_id}"
        async with new_host(listen_addrs=["/ip4/127.0.0.1/tcp/0"], services=[RelayClient([relay_addr])]) as target:
            client = target.service(RelayClient)
            assert client is not None
            with target.events.stream(ReservationMade) as made:
                async with asyncio.timeout(TIMEOUT):
                    while not client.reservations:
                        await made.next()
            result = await js_dial(js_dir, f"{relay_addr}/p2p-circuit/p2p/{target.peer_id}")
            assert result["rtt_ms"] >= 0 and "/p2p-circuit" in result["remote_addr"], result
