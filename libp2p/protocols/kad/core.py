"""The Kademlia DHT as a sans-IO core: routing table, record store, answers, iterative lookups.

No I/O and no clock: every call takes ``now`` (monotonic seconds), and what must go on the wire
comes out as events (``RequestIssued``). The service sends each request and reports back with
``on_response`` or ``on_failure``; ``get_timer``/``handle_timer`` drive request timeouts.

Lookups follow the Kademlia paper as libp2p uses it: start from the k closest known peers, keep
α requests in flight, learn closer peers from each answer, and finish once the β closest peers
not known to have failed have all answered (β = k by default, the spec's rule; go uses β = 3
with α = 10). A peer that answers garbage (reported as a failure) or nothing (a timeout) drops
out of the window, so it never stalls a lookup.
"""

from __future__ import annotations

import bisect
import enum
import itertools
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from libp2p._accel import xor_distance
from libp2p.errors import DecodeError, InvalidArgumentError, RemoteProtocolError
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.kad.events import (
    KadEvent,
    LookupFinished,
    LookupKind,
    LookupResult,
    LookupStats,
    PeerCheckRequested,
    RequestIssued,
    RoutingTableUpdated,
)
from libp2p.protocols.kad.ipns import format_rfc3339
from libp2p.protocols.kad.records import (
    InvalidRecordError,
    MemoryRecordStore,
    RecordStore,
    StoreFullError,
    Validator,
    default_validator,
)
from libp2p.protocols.kad.routing import K_VALUE, MAX_REFRESH_CPL, AddOutcome, RoutingTable, kad_key
from libp2p.protocols.kad.wire import (
    REQUEST_TIMEOUT,
    ConnectionType,
    KadMessage,
    KadPeer,
    KadRecord,
    MessageType,
)

__all__ = ["MAX_PROVIDER_KEY_SIZE", "ClosestPeersLookup", "KadConfig", "KadCore", "KadRequestRejected", "PeerState"]

# go-libp2p-kad-dht refuses GET_PROVIDERS/ADD_PROVIDER keys longer than this (a multihash fits).
MAX_PROVIDER_KEY_SIZE = 80

_LOOKUP_REQUEST = {
    LookupKind.FIND_NODE: MessageType.FIND_NODE,
    LookupKind.GET_VALUE: MessageType.GET_VALUE,
    LookupKind.GET_PROVIDERS: MessageType.GET_PROVIDERS,
}


class KadRequestRejected(RemoteProtocolError):
    """An inbound request was refused (invalid record, bad key); go answers these by resetting."""


@dataclass(frozen=True, slots=True)
class KadConfig:
    """Defaults from go-libp2p-kad-dht, except α = 3 (the paper's and rust-libp2p's)."""

    k: int = K_VALUE
    alpha: int = 3
    beta: int | None = None  # closest peers that must answer before a lookup ends; None = k
    request_timeout: float = REQUEST_TIMEOUT
    lookup_timeout: float | None = None
    refresh_interval: float = 600.0  # go: RoutingTableRefreshPeriod, 10 min
    max_refresh_cpl: int = MAX_REFRESH_CPL
    provider_count: int = K_VALUE  # FindProviders stops after this many (0 = full lookup)
    quorum: int = 0  # GetValue stops after this many valid records (0 = full lookup)


class PeerState(enum.Enum):
    NOT_CONTACTED = 0
    WAITING = 1
    SUCCEEDED = 2
    FAILED = 3


@dataclass(slots=True)
class _Candidate:
    peer: PeerId
    distance: bytes
    hops: int
    state: PeerState = PeerState.NOT_CONTACTED
    deadline: float = 0.0


class ClosestPeersLookup:
    """One iterative lookup towards a 256-bit ``target``."""

    def __init__(
        self,
        target: bytes,
        *,
        local: PeerId | None = None,
        k: int = K_VALUE,
        alpha: int = 3,
        beta: int | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        now: float = 0.0,
    ) -> None:
        if alpha < 1 or k < 1 or (beta is not None and beta < 1):
            raise InvalidArgumentError("k, alpha and beta must be at least 1")
        self.target = target
        self.local = local
        self.k = k
        self.alpha = alpha
        self.window = min(beta, k) if beta is not None else k
        self.request_timeout = request_timeout
        self.stats = LookupStats(started=now)
        self._cands: dict[PeerId, _Candidate] = {}
        self._order: list[tuple[bytes, PeerId]] = []
        self._waiting = 0
        self.finished = False

    def __contains__(self, peer: object) -> bool:
        return peer in self._cands

    def state(self, peer: PeerId) -> PeerState | None:
        c = self._cands.get(peer)
        return None if c is None else c.state

    def depth(self, peer: PeerId) -> int:
        """1 for a seed, n + 1 for a peer first named by an answer from depth n; 0 if unknown."""
        c = self._cands.get(peer)
        return 0 if c is None else c.hops

    def add_peers(self, peers: Iterable[PeerId], hops: int = 1) -> int:
        added = 0
        for peer in peers:
            if peer in self._cands or peer == self.local:
                continue
            distance = xor_distance(self.target, kad_key(peer.to_bytes()))
            self._cands[peer] = _Candidate(peer, distance, hops)
            bisect.insort(self._order, (distance, peer))
            added += 1
        return added

    def _expire(self, now: float) -> None:
        if not self._waiting:
            return
        for c in self._cands.values():
            if c.state is PeerState.WAITING and c.deadline <= now:
                c.state = PeerState.FAILED
                self._waiting -= 1
                self.stats.failures += 1
                self.stats.timeouts += 1

    def next_requests(self, now: float) -> list[PeerId]:
        """Apply timeouts, then pick the peers to ask now (the caller sends to each)."""
        if self.finished:
            return []
        self._expire(now)
        issued: list[PeerId] = []
        seen = 0
        done = True
        for _, peer in self._order:
            c = self._cands[peer]
            if c.state is PeerState.FAILED:
                continue
            seen += 1
            if c.state is PeerState.NOT_CONTACTED:
                done = False
                if self._waiting < self.alpha:
                    c.state = PeerState.WAITING
                    c.deadline = now + self.request_timeout
                    self._waiting += 1
                    self.stats.requests += 1
                    issued.append(peer)
            elif c.state is PeerState.WAITING:
                done = False
            if seen >= self.window:
                break
        if done and not issued:
            self.finished = True
            self.stats.finished = now
            closest = self.closest(1)
            if closest:
                self.stats.hops = self._cands[closest[0]].hops
            self.stats.max_hops = max((self._cands[p].hops for p in self.closest()), default=0)
        return issued

    def on_success(self, peer: PeerId, closer: Sequence[PeerId], now: float) -> bool:
        """``peer`` answered with ``closer`` peers. False when the answer came too late to count."""
        c = self._cands.get(peer)
        if c is None or c.state is not PeerState.WAITING:
            return False
        c.state = PeerState.SUCCEEDED
        self._waiting -= 1
        self.stats.successes += 1
        self.add_peers(closer, c.hops + 1)
        return True

    def on_failure(self, peer: PeerId, now: float) -> None:
        c = self._cands.get(peer)
        if c is None or c.state is not PeerState.WAITING:
            return
        c.state = PeerState.FAILED
        self._waiting -= 1
        self.stats.failures += 1

    def next_deadline(self) -> float | None:
        if self.finished or not self._waiting:
            return None
        return min(c.deadline for c in self._cands.values() if c.state is PeerState.WAITING)

    def closest(self, count: int | None = None) -> list[PeerId]:
        """The closest peers that answered, closest first."""
        n = self.k if count is None else count
        out: list[PeerId] = []
        for _, peer in self._order:
            if self._cands[peer].state is PeerState.SUCCEEDED:
                out.append(peer)
                if len(out) >= n:
                    break
        return out

    def finish(self, now: float) -> None:
        if not self.finished:
            self.finished = True
            self.stats.finished = now
            closest = self.closest(1)
            if closest:
                self.stats.hops = self._cands[closest[0]].hops
            self.stats.max_hops = max((self._cands[p].hops for p in self.closest()), default=0)


@dataclass(slots=True)
class _Query:
    id: int
    kind: LookupKind
    key: bytes
    lookup: ClosestPeersLookup
    deadline: float | None
    target_peer: PeerId | None = None
    quorum: int = 0
    count: int = 0
    records: list[tuple[PeerId | None, KadRecord]] = field(default_factory=list)
    invalid_from: set[PeerId] = field(default_factory=set)
    providers: dict[PeerId, KadPeer] = field(default_factory=dict)
    target_found: bool = False
    target_hops: int = 0


def _no_addrs(peer: PeerId) -> Sequence[Multiaddr]:
    return ()


class KadCore:
    """One DHT node without I/O: answers requests and runs lookups."""

    def __init__(
        self,
        local: PeerId,
        *,
        config: KadConfig | None = None,
        validator: Validator | None = None,
        store: RecordStore | None = None,
        addr_book: Callable[[PeerId], Sequence[Multiaddr]] = _no_addrs,
        wall_clock: Callable[[], float] | None = None,
        randbytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.local = local
        self.config = config or KadConfig()
        self.routing = RoutingTable(local, k=self.config.k)
        self.validator: Validator = validator if validator is not None else default_validator()
        self.store: RecordStore = store if store is not None else MemoryRecordStore()
        self.addr_book = addr_book
        self.wall_clock = wall_clock
        self.randbytes = randbytes
        self.counters: Counter[str] = Counter()
        self._queries: dict[int, _Query] = {}
        self._ids = itertools.count(1)
        self._events: deque[KadEvent] = deque()

    # --- the sans-IO face ------------------------------------------------------------------------

    def next_event(self) -> KadEvent | None:
        return self._events.popleft() if self._events else None

    def get_timer(self) -> float | None:
        deadlines = []
        for q in self._queries.values():
            d = q.lookup.next_deadline()
            if d is not None:
                deadlines.append(d)
            if q.deadline is not None:
                deadlines.append(q.deadline)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> None:
        for query in list(self._queries.values()):
            if query.deadline is not None and now >= query.deadline:
                self._finish(query, now, stopped_early=True, error="lookup timed out")
            else:
                self._step(query, now)

    # --- routing table ---------------------------------------------------------------------------

    def add_peer(self, peer: PeerId, now: float) -> AddOutcome:
        """Offer a peer known to be a DHT server (identify said so, or it answered a request)."""
        outcome, check = self.routing.add(peer, now)
        if outcome is AddOutcome.ADDED:
            self._events.append(RoutingTableUpdated(peer, True))
        elif outcome is AddOutcome.PENDING and check is not None:
            self._events.append(PeerCheckRequested(check))
        return outcome

    def remove_peer(self, peer: PeerId) -> None:
        if self.routing.remove(peer):
            self._events.append(RoutingTableUpdated(peer, False))

    def check_result(self, peer: PeerId, alive: bool, now: float) -> None:
        """The outcome of a ``PeerCheckRequested``."""
        present = peer in self.routing
        replacement = self.routing.check_result(peer, alive, now)
        if present and peer not in self.routing:
            self._events.append(RoutingTableUpdated(peer, False))
        if replacement is not None:
            self._events.append(RoutingTableUpdated(replacement, True))

    def refresh_keys(self, now: float) -> list[bytes]:
        """Keys to look up to refresh stale buckets: our own ID first, then one random key per
        stale bucket. Lookups mark their bucket fresh when they finish."""
        cpls = self.routing.stale_buckets(now, self.config.refresh_interval, self.config.max_refresh_cpl)
        if not cpls:
            return []
        return [self.local.to_bytes()] + [self.routing.random_key_for_cpl(c, self.randbytes) for c in cpls]

    # --- answering (server mode) -----------------------------------------------------------------

    def _peer_entry(self, peer: PeerId) -> KadPeer | None:
        addrs = tuple(self.addr_book(peer))
        if not addrs:
            return None
        return KadPeer(peer, addrs, ConnectionType.NOT_CONNECTED)

    def closer_peers(self, key: bytes, requester: PeerId | None) -> list[KadPeer]:
        """What we answer for ``key``: up to k peers closest to it, each with addresses."""
        out: list[KadPeer] = []
        target = kad_key(key)
        for peer in self.routing.closest(target, self.config.k + 1):
            if peer == requester or peer == self.local:
                continue
            entry = self._peer_entry(peer)
            if entry is not None:
                out.append(entry)
            if len(out) >= self.config.k:
                break
        return out

    def handle_request(self, sender: PeerId, msg: KadMessage, now: float) -> KadMessage | None:
        """Answer one inbound request (``None``: no answer is due). Raises ``KadRequestRejected``."""
        self.counters["requests_received"] += 1
        if msg.dropped:
            self.counters["dropped_entries"] += msg.dropped
        mtype = msg.type
        if mtype is MessageType.FIND_NODE:
            closer = self.closer_peers(msg.key, sender)
            try:
                wanted = PeerId(msg.key)
            except DecodeError:
                wanted = None
            if wanted is not None and wanted != sender and all(p.peer_id != wanted for p in closer):
                entry = KadPeer(wanted, tuple(self.addr_book(wanted))) if wanted == self.local else self._peer_entry(wanted)
                if entry is not None and entry.addrs:
                    closer = [entry, *closer[: self.config.k - 1]]
            return KadMessage(MessageType.FIND_NODE, msg.key, closer_peers=tuple(closer))
        if mtype is MessageType.GET_VALUE:
            if not msg.key:
                self._reject("empty GET_VALUE key", "rejected_requests")
            record = self._local_record(msg.key, now)
            return KadMessage(
                MessageType.GET_VALUE, msg.key, record=record, closer_peers=tuple(self.closer_peers(msg.key, sender))
            )
        if mtype is MessageType.PUT_VALUE:
            self._put_from(sender, msg, now)
            return msg
        if mtype is MessageType.GET_PROVIDERS:
            if not msg.key or len(msg.key) > MAX_PROVIDER_KEY_SIZE:
                self._reject(f"GET_PROVIDERS key of {len(msg.key)} bytes", "rejected_requests")
            providers = []
            for stored in self.store.providers(msg.key, now):
                addrs = stored.addrs or tuple(self.addr_book(stored.peer_id))
                providers.append(KadPeer(stored.peer_id, addrs))
            return KadMessage(
                MessageType.GET_PROVIDERS,
                msg.key,
                closer_peers=tuple(self.closer_peers(msg.key, sender)),
                provider_peers=tuple(providers),
            )
        if mtype is MessageType.ADD_PROVIDER:
            self._add_providers_from(sender, msg, now)
            return None
        if mtype is MessageType.PING:
            return KadMessage(MessageType.PING)
        self._reject(f"unexpected message type {mtype}", "rejected_requests")
        return None  # pragma: no cover - _reject raises

    def _reject(self, why: str, counter: str) -> None:
        self.counters[counter] += 1
        raise KadRequestRejected(why)

    def _local_record(self, key: bytes, now: float) -> KadRecord | None:
        stored = self.store.get(key, now)
        if stored is None:
            return None
        try:
            self.validator.validate(key, stored.value)  # it may have expired since (IPNS EOL)
        except InvalidRecordError:
            self.store.remove(key)
            return None
        return KadRecord(key, stored.value, stored.time_received)

    def _time_received(self) -> str:
        return format_rfc3339(self.wall_clock()) if self.wall_clock is not None else ""

    def validate_and_store(self, key: bytes, value: bytes, now: float) -> None:
        """Store a record if it is valid and at least as good as the one we hold."""
        try:
            self.validator.validate(key, value)
        except InvalidRecordError as exc:
            self.counters["rejected_records"] += 1
            raise KadRequestRejected(f"invalid record: {exc}") from None
        existing = self._local_record(key, now)
        if (
            existing is not None
            and existing.value != value
            and self.validator.select(key, [value, existing.value]) != 0
        ):
            self.counters["outdated_records"] += 1
            raise KadRequestRejected("a better record is already stored")
        try:
            self.store.put(key, value, now, self._time_received())
        except StoreFullError as exc:
            self.counters["store_full"] += 1
            raise KadRequestRejected(str(exc)) from None

    def _put_from(self, sender: PeerId, msg: KadMessage, now: float) -> None:
        record = msg.record
        if record is None or not msg.key or record.key != msg.key:
            self._reject("PUT_VALUE without a record for its key", "rejected_records")
            return
        self.validate_and_store(msg.key, record.value, now)

    def _add_providers_from(self, sender: PeerId, msg: KadMessage, now: float) -> None:
        if not msg.key or len(msg.key) > MAX_PROVIDER_KEY_SIZE:
            self._reject(f"ADD_PROVIDER key of {len(msg.key)} bytes", "rejected_requests")
        for entry in msg.provider_peers:
            if entry.peer_id != sender:
                # Only a peer may announce itself (spec); anything else is someone impersonated.
                self.counters["rejected_providers"] += 1
                continue
            try:
                self.store.add_provider(msg.key, sender, entry.addrs, now)
                self.counters["providers_stored"] += 1
            except StoreFullError:
                self.counters["store_full"] += 1

    def add_local_provider(self, key: bytes, now: float) -> None:
        self.store.add_provider(key, self.local, (), now)

    # --- lookups (client side) ---------------------------------------------------------------------

    def start_lookup(
        self,
        kind: LookupKind,
        key: bytes,
        now: float,
        *,
        seeds: Iterable[PeerId] | None = None,
        target_peer: PeerId | None = None,
        quorum: int | None = None,
        count: int | None = None,
        timeout: float | None = None,
    ) -> int:
        """Start a lookup; returns its id. Requests come out as ``RequestIssued`` events and the end
        as ``LookupFinished`` (possibly at once, when there is nobody to ask)."""
        cfg = self.config
        qid = next(self._ids)
        target = kad_key(key)
        lookup = ClosestPeersLookup(
            target, local=self.local, k=cfg.k, alpha=cfg.alpha, beta=cfg.beta,
            request_timeout=cfg.request_timeout, now=now,
        )
        lookup.add_peers(seeds if seeds is not None else self.routing.closest(target, cfg.k))
        timeout = cfg.lookup_timeout if timeout is None else timeout
        query = _Query(
            qid, kind, key, lookup,
            deadline=None if timeout is None else now + timeout,
            target_peer=target_peer,
            quorum=cfg.quorum if quorum is None else quorum,
            count=cfg.provider_count if count is None else count,
        )
        self._queries[qid] = query
        if kind is LookupKind.GET_VALUE:
            local = self._local_record(key, now)
            if local is not None:
                query.records.append((None, local))
        elif kind is LookupKind.GET_PROVIDERS:
            for stored in self.store.providers(key, now):
                addrs = stored.addrs or tuple(self.addr_book(stored.peer_id))
                query.providers[stored.peer_id] = KadPeer(stored.peer_id, addrs)
        if self._should_stop(query):
            self._finish(query, now, stopped_early=True)
        else:
            self._step(query, now)
        return qid

    def cancel_lookup(self, query_id: int, now: float) -> None:
        query = self._queries.get(query_id)
        if query is not None:
            self._finish(query, now, stopped_early=True, error="cancelled")

    @property
    def active_lookups(self) -> int:
        return len(self._queries)

    def _request_for(self, query: _Query) -> KadMessage:
        return KadMessage(_LOOKUP_REQUEST[query.kind], query.key)

    def _step(self, query: _Query, now: float) -> None:
        issued = query.lookup.next_requests(now)
        if issued:
            request = self._request_for(query)
            for peer in issued:
                self._events.append(RequestIssued(query.id, peer, request))
        if query.lookup.finished:
            self._finish(query, now, stopped_early=False)

    def _should_stop(self, query: _Query) -> bool:
        if query.kind is LookupKind.GET_VALUE:
            return query.quorum > 0 and len(query.records) >= query.quorum
        if query.kind is LookupKind.GET_PROVIDERS:
            return query.count > 0 and len(query.providers) >= query.count
        return query.target_found

    def on_response(self, query_id: int, peer: PeerId, msg: KadMessage, now: float) -> None:
        """``peer`` answered the request ``query_id`` made of it."""
        query = self._queries.get(query_id)
        if query is None or query.lookup.state(peer) is not PeerState.WAITING:
            self.counters["late_responses"] += 1
            return
        if msg.type is not _LOOKUP_REQUEST[query.kind]:
            self.counters["bad_responses"] += 1
            self.on_failure(query_id, peer, now)
            return
        if msg.dropped:
            self.counters["dropped_entries"] += msg.dropped
        closer = [p.peer_id for p in msg.closer_peers if p.peer_id != self.local]
        if len(closer) > self.config.k:
            self.counters["truncated_peers"] += len(closer) - self.config.k
            del closer[self.config.k :]
        # It answered on the DHT protocol, so it is a DHT server.
        self.add_peer(peer, now)
        if query.kind is LookupKind.GET_VALUE and msg.record is not None:
            self._take_record(query, peer, msg.record)
        elif query.kind is LookupKind.GET_PROVIDERS:
            for entry in msg.provider_peers:
                if entry.peer_id not in query.providers and (query.count <= 0 or len(query.providers) < query.count):
                    query.providers[entry.peer_id] = entry
        elif (
            query.kind is LookupKind.FIND_NODE
            and query.target_peer is not None
            and not query.target_found
            and (peer == query.target_peer or query.target_peer in closer)
        ):
            query.target_found = True
            # a candidate already: the rounds it took to learn of it; else this answer's round
            known = query.lookup.depth(query.target_peer)
            query.target_hops = known - 1 if known else query.lookup.depth(peer)
        query.lookup.on_success(peer, closer, now)
        if self._should_stop(query):
            self._finish(query, now, stopped_early=True)
        else:
            self._step(query, now)

    def _take_record(self, query: _Query, peer: PeerId, record: KadRecord) -> None:
        if record.key != query.key:
            self.counters["rejected_records"] += 1
            query.invalid_from.add(peer)
            return
        try:
            self.validator.validate(query.key, record.value)
        except InvalidRecordError:
            self.counters["rejected_records"] += 1
            query.invalid_from.add(peer)
            return
        query.records.append((peer, KadRecord(record.key, record.value)))

    def on_failure(self, query_id: int, peer: PeerId, now: float, *, unreachable: bool = False) -> None:
        """The request to ``peer`` failed (no answer, garbage, reset). ``unreachable``: the peer
        could not be dialed or does not speak the protocol, so it leaves the routing table."""
        if unreachable:
            self.remove_peer(peer)
        query = self._queries.get(query_id)
        if query is None:
            return
        query.lookup.on_failure(peer, now)
        self._step(query, now)

    def _finish(self, query: _Query, now: float, *, stopped_early: bool, error: str | None = None) -> None:
        self._queries.pop(query.id, None)
        query.lookup.finish(now)
        closest = tuple(query.lookup.closest())
        best: KadRecord | None = None
        outdated: tuple[PeerId, ...] = ()
        if query.records:
            values = [r.value for _, r in query.records]
            try:
                index = self.validator.select(query.key, values)
            except (InvalidRecordError, ValueError):
                index = 0
            best = query.records[index][1]
            with_best = {p for p, r in query.records if r.value == best.value}
            outdated = tuple(p for p in closest if p not in with_best)
        if not error:
            self.routing.mark_refreshed(query.lookup.target, now)
        result = LookupResult(
            kind=query.kind,
            key=query.key,
            closest=closest,
            stats=query.lookup.stats,
            records=tuple(query.records),
            best=best,
            outdated=outdated,
            providers=tuple(query.providers.values()),
            target_found=query.target_found,
            target_hops=query.target_hops,
            stopped_early=stopped_early,
            error=error,
        )
        self._events.append(LookupFinished(query.id, result))
