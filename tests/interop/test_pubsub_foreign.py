"""The pubsub role of the go, rust, js and py-libp2p peer programs, among themselves.

This proves the programs' ``listen --pubsub ...`` role (``interop/README.md``, "pubsub") before our
own GossipSub joins them in ``test_pubsub_mixed.py``:

* eight gossipsub nodes, two of each implementation, on one topic, connected as a ring with two
  chords (every edge joins two different implementations, and no node is connected to all others),
  so most messages are forwarded, across implementations, before they arrive. Every node publishes
  (two rounds), and every node receives every other node's message exactly once, with the author
  fields and the message id (from + seqno, or sha256(data)) its signature policy defines, under
  StrictSign and under StrictNoSign;
* a floodsub pair go <-> js, both ways.

Skipped when a toolchain is missing (failed under ``CI=true``). Every process is stopped by its own
handle; every wait is bounded.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.interop.pubsub_mesh import (
    TOPIC,
    check_deliveries,
    check_peer_lines,
    check_ready_protocols,
    check_paths,
    connect_edges,
    gather_rounds,
    is_connected,
    require_programs,
    ring_with_chords,
    start_programs,
    wait_for_mesh,
)

KINDS = ["go", "rust", "js", "py-libp2p"]
#: two of each, interleaved so that every ring edge joins two implementations
MESH = [(f"{kind}-{i}", kind) for i in range(2) for kind in KINDS]
CHORDS = [(0, 5), (2, 7)]
TEST_TIMEOUT = 55.0


@pytest.fixture(scope="module")
def programs() -> None:
    require_programs(KINDS)


@pytest.mark.parametrize("sign", ["strict", "none"])
async def test_eight_foreign_gossipsub_nodes_deliver_every_message_exactly_once(programs: None,
                                                                                 sign: str) -> None:
    edges = ring_with_chords(len(MESH), CHORDS)
    assert all(is_connected(len(MESH), edges, without=i) for i in range(len(MESH)))  # no single relay
    assert all(MESH[a][1] != MESH[b][1] for a, b in edges)
    with start_programs(MESH, "gossipsub", sign) as nodes:
        async with asyncio.timeout(TEST_TIMEOUT):
            await connect_edges(nodes, edges)
            await wait_for_mesh(nodes, edges)
            await check_peer_lines(nodes, edges)
            check_ready_protocols(nodes)
            rounds = await gather_rounds(nodes, sign)
            check_deliveries(nodes, rounds, sign)
            check_paths(nodes, edges, rounds)


async def test_commands_answer_alike_in_every_program(programs: None) -> None:
    """One node of each program, alone: the same answers to the same commands."""
    with start_programs([(kind, kind) for kind in KINDS], "gossipsub", "strict") as nodes:
        async with asyncio.timeout(TEST_TIMEOUT):
            for node in nodes:
                peer = node.peer
                assert peer.ready["pubsub_sign"] == "strict"
                reply = await peer.command_async(f"pubsub-peers {TOPIC}")
                assert (reply["ok"], reply["topic"], reply["mesh"], reply["subscribers"]) == (True, TOPIC, [], []), \
                    (node.name, reply)
                for bad in ("pubsub-unsubscribe never-subscribed", f"pubsub-publish {TOPIC} not*base64",
                            "pubsub-peers"):
                    reply = await peer.command_async(bad)
                    assert reply["ok"] is False and reply["error"], (node.name, bad, reply)
                for line in ("pubsub-subscribe second", "pubsub-subscribe second", "pubsub-unsubscribe second"):
                    reply = await peer.command_async(line)
                    assert reply["ok"] is True and reply["topic"] == "second", (node.name, line, reply)


async def test_floodsub_go_and_js_both_ways(programs: None) -> None:
    with start_programs([("go", "go"), ("js", "js")], "floodsub", "strict") as nodes:
        async with asyncio.timeout(TEST_TIMEOUT):
            await connect_edges(nodes, [(0, 1)])
            await wait_for_mesh(nodes, [(0, 1)])
            await check_peer_lines(nodes, [(0, 1)])
            check_ready_protocols(nodes)
            rounds = await gather_rounds(nodes, "strict")
            check_deliveries(nodes, rounds, "strict")
            check_paths(nodes, [(0, 1)], rounds)
            # an unsubscription reaches the other side, as a pubsub-peers line
            go, js = nodes
            mark = len(go.peer.events)
            reply = await js.peer.command_async(f"pubsub-unsubscribe {TOPIC}")
            assert reply["ok"] is True, reply
            await go.peer.await_event("pubsub-peers", topic=TOPIC, after=mark, timeout=10,
                                      predicate=lambda e: e["subscribers"] == [] and e["mesh"] == [])
