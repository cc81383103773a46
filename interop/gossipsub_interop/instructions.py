"""The node contract of libp2p/test-plans ``gossipsub-interop`` (``test-specs/implementation.md``,
``script_instruction.py``): the ``params.json`` script, node ids, keys and message ids.

Everything here is pure (no I/O) so the runner, our node and the tests share one parser.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Union

from libp2p.errors import InvalidArgumentError
from libp2p.identity.keys import Ed25519PrivateKey
from libp2p.identity.peer_id import PeerId
from libp2p.protocols.pubsub import GossipSubConfig

__all__ = [
    "AddPartialMessage",
    "Connect",
    "ExperimentParams",
    "IfNodeIDEquals",
    "InitGossipSub",
    "Instruction",
    "InstructionError",
    "Publish",
    "PublishPartial",
    "SetTopicValidationDelay",
    "SubscribeToTopic",
    "WaitUntil",
    "applies_to",
    "gossipsub_config",
    "message_id",
    "node_id_from_hostname",
    "node_key",
    "node_peer_id",
    "parse_instruction",
    "parse_params",
    "publish_payload",
    "script_for",
]

MAX_SCRIPT_INSTRUCTIONS = 1_000_000
MAX_NESTING = 16
MAX_MESSAGE_SIZE = 10 << 20  # the harness' go node: WithMaxMessageSize(10 MiB)


class InstructionError(InvalidArgumentError):
    """The params file is not a valid gossipsub-interop script."""


@dataclass(frozen=True, slots=True)
class Connect:
    connect_to: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class IfNodeIDEquals:
    node_id: int
    instruction: Instruction


@dataclass(frozen=True, slots=True)
class WaitUntil:
    elapsed_seconds: int


@dataclass(frozen=True, slots=True)
class Publish:
    message_id: int
    message_size_bytes: int
    topic_id: str


@dataclass(frozen=True, slots=True)
class SubscribeToTopic:
    topic_id: str
    partial: bool = False


@dataclass(frozen=True, slots=True)
class SetTopicValidationDelay:
    topic_id: str
    delay_seconds: float


@dataclass(frozen=True, slots=True)
class InitGossipSub:
    #: the ``gossipSubParams`` object as given (go-libp2p-pubsub ``GossipSubParams`` field names,
    #: durations in nanoseconds); see :func:`gossipsub_config`
    params: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AddPartialMessage:
    topic_id: str
    group_id: int
    parts: int


@dataclass(frozen=True, slots=True)
class PublishPartial:
    topic_id: str
    group_id: int
    publish_to_node_ids: tuple[int, ...] = ()


Instruction = Union[
    Connect, IfNodeIDEquals, WaitUntil, Publish, SubscribeToTopic, SetTopicValidationDelay, InitGossipSub,
    AddPartialMessage, PublishPartial,
]


@dataclass(frozen=True, slots=True)
class ExperimentParams:
    script: tuple[Instruction, ...]


# --- parsing ------------------------------------------------------------------------------------


def _field(obj: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...) -> Any:
    if name not in obj or obj[name] is None:
        if default is ...:
            raise InstructionError(f"{obj.get('type')!r} instruction lacks {name!r}")
        return default
    value = obj[name]
    # JSON has no int/bool distinction problems except bool being an int in Python
    if isinstance(value, bool) and kind is not bool:
        raise InstructionError(f"{name!r} must not be a boolean")
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise InstructionError(f"{name!r} of a {obj.get('type')!r} instruction has the wrong type")
    return value


def _node_id(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << 31:
        raise InstructionError(f"{what} must be a node id (0 <= id < 2^31)")
    return value


def _uint64(value: int, what: str) -> int:
    if not 0 <= value < 1 << 64:
        raise InstructionError(f"{what} must fit an unsigned 64-bit integer")
    return value


def _node_ids(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise InstructionError(f"{what} must be a list of node ids")
    return tuple(_node_id(v, what) for v in value)


def parse_instruction(obj: Any, depth: int = 0) -> Instruction:
    """One instruction from its JSON object (``type`` picks the kind, as the harness' pydantic
    union does). Unknown fields are ignored, as go's ``json.Unmarshal`` does."""
    if depth > MAX_NESTING:
        raise InstructionError("ifNodeIDEquals nested too deeply")
    if not isinstance(obj, dict):
        raise InstructionError("an instruction must be a JSON object")
    kind = obj.get("type")
    if kind == "connect":
        return Connect(_node_ids(_field(obj, "connectTo", list), "connectTo"))
    if kind == "ifNodeIDEquals":
        return IfNodeIDEquals(_node_id(_field(obj, "nodeID", int), "nodeID"),
                              parse_instruction(_field(obj, "instruction", dict), depth + 1))
    if kind == "waitUntil":
        seconds = _field(obj, "elapsedSeconds", int)
        if seconds < 0:
            raise InstructionError("elapsedSeconds must be >= 0")
        return WaitUntil(seconds)
    if kind == "publish":
        size = _field(obj, "messageSizeBytes", int)
        if not 8 <= size <= MAX_MESSAGE_SIZE:
            raise InstructionError(f"messageSizeBytes must be in [8, {MAX_MESSAGE_SIZE}] (the id takes 8 bytes)")
        return Publish(_uint64(_field(obj, "messageID", int), "messageID"), size, _field(obj, "topicID", str))
    if kind == "subscribeToTopic":
        return SubscribeToTopic(_field(obj, "topicID", str), _field(obj, "partial", bool, False))
    if kind == "setTopicValidationDelay":
        delay = _field(obj, "delaySeconds", float)
        if not (math.isfinite(delay) and 0 <= delay <= 3600):
            raise InstructionError("delaySeconds must be in [0, 3600]")
        return SetTopicValidationDelay(_field(obj, "topicID", str), delay)
    if kind == "initGossipSub":
        params = _field(obj, "gossipSubParams", dict, {})
        gossipsub_config(params)  # refuse bad parameters when the file is read, not mid-run
        return InitGossipSub(params)
    if kind == "addPartialMessage":
        parts = _field(obj, "parts", int)
        if not 0 <= parts <= 0xFF:
            raise InstructionError("parts must be a uint8 bitmap")
        return AddPartialMessage(_field(obj, "topicID", str), _uint64(_field(obj, "groupID", int), "groupID"), parts)
    if kind == "publishPartial":
        return PublishPartial(_field(obj, "topicID", str), _uint64(_field(obj, "groupID", int), "groupID"),
                              _node_ids(_field(obj, "publishToNodeIDs", list, []), "publishToNodeIDs"))
    raise InstructionError(f"unknown instruction type {kind!r}")


def parse_params(text: str | bytes) -> ExperimentParams:
    """The ``ExperimentParams`` JSON of ``params.json``: ``{"script": [instruction, ...]}``."""
    try:
        obj = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InstructionError(f"params is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InstructionError("params must be a JSON object")
    script = obj.get("script") or []
    if not isinstance(script, list) or len(script) > MAX_SCRIPT_INSTRUCTIONS:
        raise InstructionError("script must be a list of instructions")
    return ExperimentParams(tuple(parse_instruction(item) for item in script))


# --- gossipSubParams -> GossipSubConfig ---------------------------------------------------------

_NS = 1e-9
# go field -> (our field, scale): scale None keeps an int count, a float converts nanoseconds to s
_PARAM_MAP: dict[str, tuple[str, float | None]] = {
    "D": ("d", None),
    "Dlo": ("d_lo", None),
    "Dhi": ("d_hi", None),
    "Dscore": ("d_score", None),
    "Dout": ("d_out", None),
    "HistoryLength": ("history_length", None),
    "HistoryGossip": ("history_gossip", None),
    "Dlazy": ("d_lazy", None),
    "GossipFactor": ("gossip_factor", 1.0),
    "GossipRetransmission": ("gossip_retransmission", None),
    "HeartbeatInitialDelay": ("heartbeat_initial_delay", _NS),
    "HeartbeatInterval": ("heartbeat_interval", _NS),
    "FanoutTTL": ("fanout_ttl", _NS),
    "PrunePeers": ("prune_peers", None),
    "PruneBackoff": ("prune_backoff", _NS),
    "UnsubscribeBackoff": ("unsubscribe_backoff", _NS),
    "DirectConnectTicks": ("direct_connect_ticks", None),
    "OpportunisticGraftTicks": ("opportunistic_graft_ticks", None),
    "OpportunisticGraftPeers": ("opportunistic_graft_peers", None),
    "GraftFloodThreshold": ("graft_flood_threshold", _NS),
    "MaxIHaveLength": ("max_ihave_length", None),
    "MaxIHaveMessages": ("max_ihave_messages", None),
    # go: ids in one IDONTWANT / IDONTWANT messages a peer may send per heartbeat
    "MaxIDontWantLength": ("max_idontwant_length", None),
    "MaxIDontWantMessages": ("max_idontwant_messages", None),
    "IWantFollowupTime": ("iwant_followup_time", _NS),
    "IDontWantMessageThreshold": ("idontwant_message_size_threshold", None),
    "IDontWantMessageTTL": ("idontwant_ttl_heartbeats", None),  # go: heartbeats, an int
}
# accepted and without effect here: a log threshold, and the PX dialer's pool (ours is fixed)
IGNORED_PARAMS = frozenset({
    "SlowHeartbeatWarning", "Connectors", "MaxPendingConnections", "ConnectionTimeout", "DirectConnectInitialDelay",
})


def gossipsub_config(params: Mapping[str, Any], base: GossipSubConfig | None = None) -> GossipSubConfig:
    """Our ``GossipSubConfig`` from the harness' ``gossipSubParams`` (go names; durations in
    nanoseconds, as go's ``time.Duration`` marshals). Absent or null fields keep go's defaults,
    which are ours; unknown fields are ignored as go ignores them."""
    changes: dict[str, Any] = {}
    for name, value in params.items():
        if value is None or name in IGNORED_PARAMS or name not in _PARAM_MAP:
            continue
        ours, scale = _PARAM_MAP[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InstructionError(f"gossipSubParams.{name} must be a number")
        if value < 0:
            raise InstructionError(f"gossipSubParams.{name} must be >= 0")
        if scale is None:
            if value != int(value):
                raise InstructionError(f"gossipSubParams.{name} must be an integer")
            changes[ours] = int(value)
        else:
            changes[ours] = float(value) * scale
    try:
        return replace(base or GossipSubConfig(), **changes)
    except InvalidArgumentError as exc:
        raise InstructionError(f"gossipSubParams: {exc}") from None


# --- identities and messages ----------------------------------------------------------------------

_HOSTNAME = re.compile(r"node(\d+)")


def node_id_from_hostname(hostname: str) -> int:
    """``node<N>`` (Shadow's host names; go reads it with ``Sscanf("node%d")``)."""
    match = _HOSTNAME.match(hostname)
    if match is None:
        raise InstructionError(f"host name {hostname!r} is not node<N>")
    return _node_id(int(match.group(1)), "the host name's node id")


def node_key(node_id: int) -> Ed25519PrivateKey:
    """The contract's key: the Ed25519 seed is the node id, little-endian, zero-padded to 32 bytes
    (rust writes an i32, go a u64: the same bytes for every valid id)."""
    return Ed25519PrivateKey.from_seed(_node_id(node_id, "node id").to_bytes(8, "little") + bytes(24))


def node_peer_id(node_id: int) -> PeerId:
    return PeerId.from_public_key(node_key(node_id).public_key)


def message_id(data: bytes | bytearray | memoryview) -> int:
    """The contract's message id: the first 8 bytes of the payload as a big-endian u64."""
    if len(data) < 8:
        raise InstructionError("a message shorter than 8 bytes has no id")
    return int.from_bytes(bytes(data[:8]), "big")


def publish_payload(message: Publish) -> bytes:
    """``messageSizeBytes`` bytes: the id as a big-endian u64, then zeros (as go's node)."""
    return message.message_id.to_bytes(8, "big") + bytes(message.message_size_bytes - 8)


def applies_to(instruction: Instruction, node_id: int) -> list[Instruction]:
    """What ``instruction`` means for ``node_id`` with ``ifNodeIDEquals`` unwrapped."""
    while isinstance(instruction, IfNodeIDEquals):
        if instruction.node_id != node_id:
            return []
        instruction = instruction.instruction
    return [instruction]


def script_for(params: ExperimentParams, node_id: int) -> list[Instruction]:
    out: list[Instruction] = []
    for instruction in params.script:
        out.extend(applies_to(instruction, node_id))
    return out
