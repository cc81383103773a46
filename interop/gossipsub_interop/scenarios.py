"""Scenarios in the harness' ``params.json`` form (the shapes of test-plans ``experiment.py``),
with the harness' long waits (2 min of setup, a message every 12 s, 30 s to flush) scaled down
for loopback runs. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["SCENARIOS", "random_network_mesh", "scenario", "subscribers"]

Json = dict[str, Any]


def _if(node_id: int, instruction: Json) -> Json:
    return {"type": "ifNodeIDEquals", "nodeID": node_id, "instruction": instruction}


def spread_heartbeat_delay(node_count: int, gossipsub_params: Json) -> list[Json]:
    """Each node's initGossipSub, heartbeats started 0.1 s + 0.1 ms * (N+1) in (as the harness;
    durations in nanoseconds)."""
    out = []
    for node_id in range(node_count):
        params = dict(gossipsub_params)
        params["HeartbeatInitialDelay"] = 100_000_000 + (node_id + 1) * 100_000
        out.append(_if(node_id, {"type": "initGossipSub", "gossipSubParams": params}))
    return out


def random_network_mesh(rng: random.Random, node_count: int, connections: int) -> list[Json]:
    """Every node ends with at least ``connections`` distinct neighbours (the harness' algorithm);
    the node that picked a neighbour dials it."""
    linked: dict[int, set[int]] = {n: set() for n in range(node_count)}
    connect_to: dict[int, list[int]] = {n: [] for n in range(node_count)}
    connections = min(connections, node_count - 1)
    for node_id in range(node_count):
        while len(linked[node_id]) < connections:
            target = rng.randrange(node_count)
            if target == node_id or target in linked[node_id]:
                continue
            linked[node_id].add(target)
            linked[target].add(node_id)
            connect_to[node_id].append(target)
    return [_if(n, {"type": "connect", "connectTo": targets}) for n, targets in connect_to.items() if targets]


def _publish_schedule(rng: random.Random, node_count: int, topics: list[str], *, num_messages: int,
                      message_size: int, setup_s: int, interval_s: int, flush_s: int) -> list[Json]:
    out: list[Json] = [{"type": "waitUntil", "elapsedSeconds": setup_s}]
    elapsed = setup_s
    for message_id in range(num_messages):
        publisher = rng.randrange(node_count)
        topic = rng.choice(topics)
        out.append(_if(publisher, {"type": "publish", "messageID": message_id, "topicID": topic,
                                   "messageSizeBytes": message_size}))
        elapsed += interval_s
        out.append({"type": "waitUntil", "elapsedSeconds": elapsed})
    out.append({"type": "waitUntil", "elapsedSeconds": elapsed + flush_s})
    return out


def subnet_blob_msg(node_count: int, *, seed: int = 1, connections: int = 20, num_messages: int = 16,
                    message_size: int = 2 * 1024 * 48, setup_s: int = 10, interval_s: int = 1,
                    flush_s: int = 5, disable_gossip: bool = False) -> Json:
    """test-plans ``subnet-blob-msg``: one topic, 5 ms validation, a random mesh of 20 links per
    node, 16 messages of 96 KiB from random nodes (harness: 120 s setup, 12 s apart, 30 s flush)."""
    rng = random.Random(seed)
    params: Json = {"Dlazy": 0, "GossipFactor": 0} if disable_gossip else {}
    topic = "a-subnet"
    script = spread_heartbeat_delay(node_count, params)
    script.append({"type": "setTopicValidationDelay", "topicID": topic, "delaySeconds": 0.005})
    script += random_network_mesh(rng, node_count, connections)
    script.append({"type": "subscribeToTopic", "topicID": topic})
    script += _publish_schedule(rng, node_count, [topic], num_messages=num_messages, message_size=message_size,
                                setup_s=setup_s, interval_s=interval_s, flush_s=flush_s)
    return {"script": script}


def simple_fanout(node_count: int, *, seed: int = 1, connections: int = 20, num_messages: int = 16,
                  message_size: int = 1024, setup_s: int = 10, interval_s: int = 1, flush_s: int = 5,
                  disable_gossip: bool = False) -> Json:
    """test-plans ``simple-fanout``: even nodes on topic-a, odd on topic-b; random nodes publish
    1 KiB to a random topic (often one they are not in: fanout)."""
    rng = random.Random(seed)
    params: Json = {"Dlazy": 0, "GossipFactor": 0} if disable_gossip else {}
    script = spread_heartbeat_delay(node_count, params)
    script += random_network_mesh(rng, node_count, connections)
    for node_id in range(node_count):
        script.append(_if(node_id, {"type": "subscribeToTopic", "topicID": "topic-a" if node_id % 2 == 0 else "topic-b"}))
    script += _publish_schedule(rng, node_count, ["topic-a", "topic-b"], num_messages=num_messages,
                                message_size=message_size, setup_s=setup_s, interval_s=interval_s, flush_s=flush_s)
    return {"script": script}


SCENARIOS = {"subnet-blob-msg": subnet_blob_msg, "simple-fanout": simple_fanout}


def scenario(name: str, node_count: int, **options: Any) -> Json:
    try:
        make = SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r} (known: {', '.join(sorted(SCENARIOS))})") from None
    return make(node_count, **options)


def subscribers(params: Json, node_count: int) -> dict[str, set[int]]:
    """Which nodes subscribe to which topic, read from the script itself."""
    out: dict[str, set[int]] = {}

    def visit(instruction: Json, nodes: range | list[int]) -> None:
        kind = instruction.get("type")
        if kind == "ifNodeIDEquals":
            node = instruction["nodeID"]
            visit(instruction["instruction"], [node] if node in nodes else [])
        elif kind == "subscribeToTopic":
            out.setdefault(instruction["topicID"], set()).update(nodes)

    for item in params.get("script", []):
        visit(item, range(node_count))
    return out
