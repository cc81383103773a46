"""The libp2p/test-plans gossipsub-interop node contract, pure parts: the params script parser,
the gossipSubParams mapping (nanosecond durations), node keys, message ids, and the log parser
and summary the runner uses. No processes, no network (the runner test does those)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest

from interop.gossipsub_interop.analysis import LogError, parse_log, summarize
from interop.gossipsub_interop.instructions import (
    AddPartialMessage,
    Connect,
    IfNodeIDEquals,
    InitGossipSub,
    InstructionError,
    Publish,
    PublishPartial,
    SetTopicValidationDelay,
    SubscribeToTopic,
    WaitUntil,
    gossipsub_config,
    message_id,
    node_id_from_hostname,
    node_peer_id,
    parse_instruction,
    parse_params,
    publish_payload,
    script_for,
)
from interop.gossipsub_interop.node import rfc3339_now
from interop.gossipsub_interop.scenarios import scenario, subscribers


def test_every_harness_instruction_parses() -> None:
    # one of each type of script_instruction.py, as its pydantic models serialise them
    script = [
        {"type": "ifNodeIDEquals", "nodeID": 3, "instruction": {
            "type": "initGossipSub", "gossipSubParams": {"D": 8, "HeartbeatInitialDelay": 100_400_000}}},
        {"type": "connect", "connectTo": [1, 2]},
        {"type": "waitUntil", "elapsedSeconds": 120},
        {"type": "publish", "messageID": 5, "messageSizeBytes": 98304, "topicID": "a-subnet"},
        {"type": "subscribeToTopic", "topicID": "a-subnet", "partial": False},
        {"type": "setTopicValidationDelay", "topicID": "a-subnet", "delaySeconds": 0.005},
        {"type": "addPartialMessage", "parts": 255, "topicID": "t", "groupID": 7},
        {"type": "publishPartial", "topicID": "t", "groupID": 7, "publishToNodeIDs": None},
        {"type": "publishPartial", "topicID": "t", "groupID": 7, "publishToNodeIDs": [1, 2]},
    ]
    params = parse_params(json.dumps({"script": script}))
    first = params.script[0]
    assert isinstance(first, IfNodeIDEquals) and first.node_id == 3
    assert isinstance(first.instruction, InitGossipSub) and first.instruction.params["D"] == 8
    assert params.script[1:] == (
        Connect((1, 2)), WaitUntil(120), Publish(5, 98304, "a-subnet"), SubscribeToTopic("a-subnet", False),
        SetTopicValidationDelay("a-subnet", 0.005), AddPartialMessage("t", 7, 255), PublishPartial("t", 7, ()),
        PublishPartial("t", 7, (1, 2)),
    )
    # ifNodeIDEquals unwraps for its node only
    assert len(script_for(params, 3)) == len(script) and len(script_for(params, 4)) == len(script) - 1


@pytest.mark.parametrize("bad", [
    {"type": "nope"},
    {"type": "connect"},
    {"type": "connect", "connectTo": [-1]},
    {"type": "connect", "connectTo": [True]},
    {"type": "waitUntil", "elapsedSeconds": -1},
    {"type": "waitUntil", "elapsedSeconds": "5"},
    {"type": "publish", "messageID": 1, "messageSizeBytes": 7, "topicID": "t"},  # no room for the id
    {"type": "publish", "messageID": 1 << 64, "messageSizeBytes": 8, "topicID": "t"},
    {"type": "publish", "messageID": 1, "messageSizeBytes": 11 << 20, "topicID": "t"},
    {"type": "subscribeToTopic"},
    {"type": "setTopicValidationDelay", "topicID": "t", "delaySeconds": -0.1},
    {"type": "addPartialMessage", "parts": 256, "topicID": "t", "groupID": 1},
    {"type": "initGossipSub", "gossipSubParams": {"D": 3, "Dlo": 5}},  # D below Dlo
    {"type": "initGossipSub", "gossipSubParams": {"HeartbeatInterval": "1s"}},
    {"type": "initGossipSub", "gossipSubParams": {"D": 6.5}},
    [],
])
def test_bad_instructions_are_refused(bad: object) -> None:
    with pytest.raises(InstructionError):
        parse_instruction(bad)


def test_nesting_and_file_shape_are_bounded() -> None:
    nested: dict[str, object] = {"type": "waitUntil", "elapsedSeconds": 1}
    for _ in range(40):
        nested = {"type": "ifNodeIDEquals", "nodeID": 0, "instruction": nested}
    with pytest.raises(InstructionError):
        parse_instruction(nested)
    for text in ("", "[]", "{\"script\": 5}", "\xff"):
        with pytest.raises(InstructionError):
            parse_params(text)
    assert parse_params("{}").script == ()


def test_gossipsub_params_use_go_names_and_nanoseconds() -> None:
    config = gossipsub_config({
        "D": 8, "Dlo": 6, "Dhi": 12, "Dlazy": 0, "GossipFactor": 0, "HeartbeatInterval": 700_000_000,
        "HeartbeatInitialDelay": 100_100_000.0, "FanoutTTL": 60_000_000_000, "PruneBackoff": 60e9,
        "IWantFollowupTime": 3_000_000_000, "IDontWantMessageThreshold": 1000, "IDontWantMessageTTL": 3,
        "MaxIHaveLength": 5000, "SlowHeartbeatWarning": 0.1, "Connectors": 8, "SomethingNew": 1, "Dout": None,
    })
    assert (config.d, config.d_lo, config.d_hi, config.d_lazy, config.gossip_factor) == (8, 6, 12, 0, 0.0)
    assert config.heartbeat_interval == pytest.approx(0.7)
    assert config.heartbeat_initial_delay == pytest.approx(0.1001)
    assert config.fanout_ttl == pytest.approx(60.0) and config.prune_backoff == pytest.approx(60.0)
    assert config.iwant_followup_time == pytest.approx(3.0)
    assert config.idontwant_message_size_threshold == 1000 and config.idontwant_ttl_heartbeats == 3
    assert config.d_out == 2  # null keeps go's default


def test_node_keys_match_go_rust_and_jvm() -> None:
    # the harness' cross-implementation check (go main_test.go, jvm NodeKeyTest.kt): SHA-256 over
    # ">N:<peer id>\n" for node ids 0..9999
    digest = hashlib.sha256()
    for node_id in range(10_000):
        digest.update(f">{node_id}:{node_peer_id(node_id)}\n".encode())
    assert digest.hexdigest() == "11395ea896d00ca25f7f648ebb336488ee092096a5498d90d76b92eaec27867a"


def test_node_id_from_hostname() -> None:
    assert node_id_from_hostname("node0") == 0
    assert node_id_from_hostname("node417") == 417
    for bad in ("host1", "node", "nodex"):
        with pytest.raises(InstructionError):
            node_id_from_hostname(bad)


def test_message_id_is_the_first_eight_bytes_big_endian() -> None:
    payload = publish_payload(Publish(0x0102030405060708, 100, "t"))
    assert len(payload) == 100 and payload[8:] == bytes(92)
    assert message_id(payload) == 0x0102030405060708
    assert message_id(publish_payload(Publish((1 << 64) - 1, 8, "t"))) == (1 << 64) - 1
    with pytest.raises(InstructionError):
        message_id(b"1234567")


def _line(msg: str, at: datetime, **fields: object) -> str:
    return json.dumps({"time": at.isoformat(), "level": "INFO", "msg": msg, **fields})


def test_logs_parse_and_summarise_as_the_harness_counts() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    ms = timedelta(milliseconds=1)
    logs = [
        parse_log([_line("PeerID", t0, id="A", node_id=0), _line("Published Message", t0, id="7", topic="t"),
                   _line("Received Message", t0 + 9 * ms, id="7", topic="t")]),  # its own message, back
        parse_log([_line("PeerID", t0, id="B", node_id=1), _line("Received Message", t0 + 2 * ms, id="7"),
                   _line("Received Message", t0 + 3 * ms, id="7"), _line("Received Message", t0 + 4 * ms, id="7")]),
        parse_log([_line("PeerID", t0, id="C", node_id=2), _line("Received Message", t0 + 4 * ms, id="7"), ""]),
        parse_log([_line("PeerID", t0, id="D", node_id=3)]),  # subscribed, never got it
    ]
    s = summarize(logs, {"t": {0, 1, 2, 3}})
    assert (s.messages, s.expected_deliveries, s.deliveries) == (1, 3, 2)
    assert s.missing == (("7", 3),)
    assert s.latency_p50 == pytest.approx(0.004) and s.latency_max == pytest.approx(0.004)
    assert s.duplicates_per_delivery == pytest.approx(3 / 2)  # two at B, one echo at A
    assert s.harness_avg_duplicates == pytest.approx(3 / 4)


@pytest.mark.parametrize("lines", [
    ["not json"],
    [json.dumps({"time": "2026-01-01T00:00:00Z", "msg": "Received Message", "id": "1"})],  # before PeerID
    [json.dumps({"msg": "PeerID", "id": "A", "node_id": 0})],  # no time
    [json.dumps({"time": "2026-01-01T00:00:00Z", "msg": "PeerID", "id": "A", "node_id": "0"})],
    [json.dumps({"time": "2026-01-01T00:00:00Z", "msg": "PeerID", "id": "A", "node_id": 0}),
     json.dumps({"time": "2026-01-01T00:00:00Z", "msg": "Received Message", "id": "0x01"})],
    [],
])
def test_logs_that_break_the_contract_are_refused(lines: list[str]) -> None:
    with pytest.raises(LogError):
        parse_log(lines)


def test_our_timestamps_are_rfc3339_and_read_back() -> None:
    stamp = rfc3339_now()
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == 10  # nine digits and Z
    assert datetime.fromisoformat(stamp).tzinfo is not None


def test_scenarios_are_harness_scripts() -> None:
    params = scenario("simple-fanout", 10, seed=3, connections=4, num_messages=5)
    parsed = parse_params(json.dumps(params))
    for node_id in range(10):
        mine = script_for(parsed, node_id)
        assert isinstance(mine[0], InitGossipSub)
        assert sum(isinstance(i, SubscribeToTopic) for i in mine) == 1
    assert subscribers(params, 10) == {"topic-a": {0, 2, 4, 6, 8}, "topic-b": {1, 3, 5, 7, 9}}
    blob = scenario("subnet-blob-msg", 6, connections=20)
    assert subscribers(blob, 6) == {"a-subnet": set(range(6))}
    links = {(n, t) for i in parse_params(json.dumps(blob)).script
             if isinstance(i, IfNodeIDEquals) and isinstance(i.instruction, Connect)
             for n in [i.node_id] for t in i.instruction.connect_to}
    assert len({frozenset(link) for link in links}) == 15  # 6 nodes, min(20, 5) links each: complete
