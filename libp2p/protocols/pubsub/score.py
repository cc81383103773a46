"""The gossipsub v1.1 peer score (P1–P7), sans-IO: every call takes ``now``.

Counters follow the spec's definitions: P1 time in mesh (quanta, capped), P2 first deliveries,
P3 mesh delivery deficit squared after the activation window, P3b sticky failure penalty, P4
invalid deliveries squared, P5 application score, P6 IP colocation surplus squared, P7 behaviour
penalty squared. Counters decay every ``decay_interval``; a departed peer's record is kept
``retain_score`` seconds (so disconnecting does not wash out a penalty), bounded in number.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass, field

from libp2p.identity.peer_id import PeerId
from libp2p.protocols.pubsub.config import PeerScoreParams, TopicScoreParams

__all__ = ["PeerScore"]

_DELIVERY_PENDING, _DELIVERY_VALID, _DELIVERY_INVALID, _DELIVERY_IGNORED = range(4)


@dataclass(slots=True)
class _TopicStats:
    in_mesh: bool = False
    graft_time: float = 0.0
    mesh_time: float = 0.0
    first_deliveries: float = 0.0
    mesh_deliveries: float = 0.0
    mesh_deliveries_active: bool = False
    mesh_failure_penalty: float = 0.0
    invalid_deliveries: float = 0.0


@dataclass(slots=True)
class _PeerStats:
    connected: bool = True
    expire: float = 0.0
    ip: str | None = None
    topics: dict[str, _TopicStats] = field(default_factory=dict)
    behaviour_penalty: float = 0.0


@dataclass(slots=True)
class _Delivery:
    topic: str
    first_seen: float
    status: int
    peers: set[PeerId]


class PeerScore:
    """Score bookkeeping for the router; ``score(peer, now)`` is the number the router acts on."""

    def __init__(self, params: PeerScoreParams, *, delivery_ttl: float, max_deliveries: int) -> None:
        self.params = params
        self._peers: dict[PeerId, _PeerStats] = {}
        self._retained: OrderedDict[PeerId, None] = OrderedDict()
        self._ips: dict[str, set[PeerId]] = {}
        self._deliveries: OrderedDict[bytes, _Delivery] = OrderedDict()
        self._delivery_ttl = delivery_ttl
        self._max_deliveries = max_deliveries
        self._last_decay: float | None = None
        self._whitelist = [ipaddress.ip_network(n, strict=False) for n in params.ip_colocation_factor_whitelist]

    # --- membership --------------------------------------------------------------------------

    def _topic_params(self, topic: str) -> TopicScoreParams | None:
        return self.params.topics.get(topic, self.params.default_topic_params)

    def _stats(self, peer: PeerId) -> _PeerStats:
        stats = self._peers.get(peer)
        if stats is None:
            stats = self._peers[peer] = _PeerStats()
        return stats

    def add_peer(self, peer: PeerId, ip: str | None) -> None:
        stats = self._stats(peer)
        stats.connected = True
        self._retained.pop(peer, None)
        if stats.ip is not None:
            self._ips.get(stats.ip, set()).discard(peer)
        stats.ip = ip
        if ip is not None and not self._whitelisted(ip):
            self._ips.setdefault(ip, set()).add(peer)

    def remove_peer(self, peer: PeerId, now: float) -> None:
        stats = self._peers.get(peer)
        if stats is None:
            return
        if stats.ip is not None:
            peers = self._ips.get(stats.ip)
            if peers is not None:
                peers.discard(peer)
                if not peers:
                    del self._ips[stats.ip]
        # Keep the record only if it holds something that should outlive the connection.
        if self.score(peer, now) > 0:
            del self._peers[peer]
            return
        for tstats in stats.topics.values():
            tstats.first_deliveries = 0.0  # a positive part must not be carried over
            self._leave_mesh(tstats, peer)
        stats.connected = False
        stats.expire = now + self.params.retain_score
        self._retained[peer] = None
        while len(self._retained) > self.params.max_retained_peers:
            old, _ = self._retained.popitem(last=False)
            self._peers.pop(old, None)

    def _whitelisted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return True
        return any(addr in net for net in self._whitelist)

    # --- mesh ----------------------------------------------------------------------------------

    def graft(self, peer: PeerId, topic: str, now: float) -> None:
        if self._topic_params(topic) is None:
            return
        tstats = self._stats(peer).topics.setdefault(topic, _TopicStats())
        tstats.in_mesh = True
        tstats.graft_time = now
        tstats.mesh_time = 0.0
        tstats.mesh_deliveries_active = False

    def prune(self, peer: PeerId, topic: str) -> None:
        stats = self._peers.get(peer)
        tstats = stats.topics.get(topic) if stats is not None else None
        if tstats is not None:
            self._leave_mesh(tstats, peer, topic)

    def _leave_mesh(self, tstats: _TopicStats, peer: PeerId, topic: str | None = None) -> None:
        if not tstats.in_mesh:
            return
        params = self._topic_params(topic) if topic is not None else None
        if params is not None and tstats.mesh_deliveries_active:
            deficit = params.mesh_message_deliveries_threshold - tstats.mesh_deliveries
            if deficit > 0:
                tstats.mesh_failure_penalty += deficit * deficit
        # P3 is for mesh members; once out, the deficit lives on only as P3b.
        tstats.mesh_deliveries_active = False
        tstats.in_mesh = False

    # --- deliveries ----------------------------------------------------------------------------

    def _delivery(self, msg_id: bytes, topic: str, now: float) -> _Delivery:
        record = self._deliveries.get(msg_id)
        if record is None:
            record = self._deliveries[msg_id] = _Delivery(topic, now, _DELIVERY_PENDING, set())
            while len(self._deliveries) > self._max_deliveries:
                self._deliveries.popitem(last=False)
        return record

    def validate_message(self, peer: PeerId, msg_id: bytes, topic: str, now: float) -> None:
        """A new message arrived from ``peer`` and went into validation."""
        self._delivery(msg_id, topic, now).peers.add(peer)

    def deliver_message(self, peer: PeerId, msg_id: bytes, topic: str, now: float) -> None:
        """The message ``peer`` delivered first was validated: P2 for it, P3 for every mesh peer
        that delivered it while it was in validation."""
        record = self._delivery(msg_id, topic, now)
        record.status = _DELIVERY_VALID
        record.first_seen = now
        params = self._topic_params(topic)
        if params is None:
            return
        tstats = self._stats(peer).topics.setdefault(topic, _TopicStats())
        tstats.first_deliveries = min(tstats.first_deliveries + 1, params.first_message_deliveries_cap)
        for other in record.peers | {peer}:
            self._mesh_delivery(other, topic, params)
        record.peers.add(peer)

    def _mesh_delivery(self, peer: PeerId, topic: str, params: TopicScoreParams) -> None:
        stats = self._peers.get(peer)
        tstats = stats.topics.get(topic) if stats is not None else None
        if tstats is not None and tstats.in_mesh:
            tstats.mesh_deliveries = min(tstats.mesh_deliveries + 1, params.mesh_message_deliveries_cap)

    def reject_message(self, peer: PeerId, msg_id: bytes | None, topic: str, now: float) -> None:
        """The message was invalid: P4 for ``peer`` and anyone else who delivered it."""
        peers = {peer}
        if msg_id is not None:
            record = self._delivery(msg_id, topic, now)
            record.status = _DELIVERY_INVALID
            peers |= record.peers
            record.peers.clear()
        for p in peers:
            self._invalid(p, topic)

    def ignore_message(self, msg_id: bytes, topic: str, now: float) -> None:
        record = self._delivery(msg_id, topic, now)
        record.status = _DELIVERY_IGNORED
        record.peers.clear()

    def _invalid(self, peer: PeerId, topic: str) -> None:
        if self._topic_params(topic) is None:
            return
        tstats = self._stats(peer).topics.setdefault(topic, _TopicStats())
        tstats.invalid_deliveries += 1

    def duplicate_message(self, peer: PeerId, msg_id: bytes, topic: str, now: float) -> None:
        record = self._deliveries.get(msg_id)
        if record is None or peer in record.peers:
            return
        if record.status == _DELIVERY_PENDING:
            record.peers.add(peer)
        elif record.status == _DELIVERY_VALID:
            record.peers.add(peer)
            params = self._topic_params(topic)
            if params is not None and now - record.first_seen <= params.mesh_message_deliveries_window:
                self._mesh_delivery(peer, topic, params)
        elif record.status == _DELIVERY_INVALID:
            self._invalid(peer, topic)

    def add_penalty(self, peer: PeerId, count: float = 1.0) -> None:
        self._stats(peer).behaviour_penalty += count

    # --- score -------------------------------------------------------------------------------

    def score(self, peer: PeerId, now: float) -> float:
        stats = self._peers.get(peer)
        if stats is None:
            return 0.0
        params = self.params
        topic_score = 0.0
        for topic, tstats in stats.topics.items():
            tparams = self._topic_params(topic)
            if tparams is None:
                continue
            s = 0.0
            if tstats.in_mesh:
                mesh_time = max(tstats.mesh_time, now - tstats.graft_time)
                p1 = min(mesh_time / tparams.time_in_mesh_quantum, tparams.time_in_mesh_cap)
                s += tparams.time_in_mesh_weight * p1
            s += tparams.first_message_deliveries_weight * tstats.first_deliveries
            if tstats.in_mesh and now - tstats.graft_time >= tparams.mesh_message_deliveries_activation:
                tstats.mesh_deliveries_active = True
            if tstats.mesh_deliveries_active and tstats.mesh_deliveries < tparams.mesh_message_deliveries_threshold:
                deficit = tparams.mesh_message_deliveries_threshold - tstats.mesh_deliveries
                s += tparams.mesh_message_deliveries_weight * deficit * deficit
            s += tparams.mesh_failure_penalty_weight * tstats.mesh_failure_penalty
            s += tparams.invalid_message_deliveries_weight * tstats.invalid_deliveries * tstats.invalid_deliveries
            topic_score += s * tparams.topic_weight
        if params.topic_score_cap > 0 and topic_score > params.topic_score_cap:
            topic_score = params.topic_score_cap
        score = topic_score
        if params.app_specific_score is not None:
            score += params.app_specific_weight * params.app_specific_score(peer)
        if stats.ip is not None:
            surplus = len(self._ips.get(stats.ip, ())) - params.ip_colocation_factor_threshold
            if surplus > 0:
                score += params.ip_colocation_factor_weight * surplus * surplus
        excess = stats.behaviour_penalty - params.behaviour_penalty_threshold
        if excess > 0:
            score += params.behaviour_penalty_weight * excess * excess
        return score

    def refresh(self, now: float) -> None:
        """Decay the counters (once per ``decay_interval``), forget expired records and deliveries."""
        if self._last_decay is None:
            self._last_decay = now
        params = self.params
        while now - self._last_decay >= params.decay_interval:
            self._last_decay += params.decay_interval
            self._decay()
        while self._retained:
            peer = next(iter(self._retained))
            stats = self._peers.get(peer)
            if stats is not None and stats.expire > now:
                break
            del self._retained[peer]
            self._peers.pop(peer, None)
        while self._deliveries:
            first = next(iter(self._deliveries.values()))
            if now - first.first_seen < self._delivery_ttl:
                break
            self._deliveries.popitem(last=False)

    def _decay(self) -> None:
        zero = self.params.decay_to_zero
        for stats in self._peers.values():
            for topic, tstats in stats.topics.items():
                tparams = self._topic_params(topic)
                if tparams is None:
                    continue
                tstats.first_deliveries = _decayed(tstats.first_deliveries, tparams.first_message_deliveries_decay, zero)
                tstats.mesh_deliveries = _decayed(tstats.mesh_deliveries, tparams.mesh_message_deliveries_decay, zero)
                tstats.mesh_failure_penalty = _decayed(
                    tstats.mesh_failure_penalty, tparams.mesh_failure_penalty_decay, zero
                )
                tstats.invalid_deliveries = _decayed(
                    tstats.invalid_deliveries, tparams.invalid_message_deliveries_decay, zero
                )
            stats.behaviour_penalty = _decayed(stats.behaviour_penalty, self.params.behaviour_penalty_decay, zero)


def _decayed(value: float, factor: float, zero: float) -> float:
    value *= factor
    return 0.0 if value < zero else value
