"""The resource manager: what peers may make this node hold, in nested scopes (go-libp2p's rcmgr).

Scopes: the whole node (``system``), connections and streams not yet attributed to a peer or a
protocol (``transient``), each peer, each protocol, each service, each connection and each
stream. A connection or stream is admitted by reserving in every scope it belongs to, all or
nothing, before any buffer grows; a refusal raises ``ResourceLimitExceededError`` (the caller
closes the connection or resets the stream) and is counted in ``ResourceManager.refusals``.

Memory is reserved by the muxers before they promise it (a yamux receive window is a promise
to buffer that much), with go's priorities: a reservation of priority ``p`` succeeds while the
scope stays under ``limit * (p + 1) / 256``, so low-priority growth (window auto-tuning) stops
well before high-priority needs (a new stream's initial window).

Defaults scale with the machine as go's ``DefaultLimits.AutoScale()`` does: by an eighth of
the physical memory and half the file-descriptor limit.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import TYPE_CHECKING

from libp2p.errors import Libp2pError

if TYPE_CHECKING:
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = [
    "UNLIMITED",
    "Direction",
    "ScopeLimit",
    "ResourceLimits",
    "ResourceManager",
    "ResourceLimitExceededError",
    "ConnectionScope",
    "StreamScope",
    "ServiceScope",
    "PRIORITY_LOW",
    "PRIORITY_MEDIUM",
    "PRIORITY_HIGH",
    "PRIORITY_ALWAYS",
    "ip_of",
]

log = logging.getLogger("libp2p.resources")

UNLIMITED = sys.maxsize

# go-libp2p's ReservationPriority values.
PRIORITY_LOW = 101  # may use up to ~40% of a limit
PRIORITY_MEDIUM = 152  # ~60%
PRIORITY_HIGH = 203  # ~80%
PRIORITY_ALWAYS = 255  # the whole limit

_MIB = 1 << 20
_GIB = 1 << 30


class Direction(Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ResourceLimitExceededError(Libp2pError):
    """A reservation would take a scope past its limit."""

    def __init__(self, scope: str, resource: str, detail: str = "") -> None:
        self.scope = scope
        self.resource = resource
        super().__init__(f"resource limit exceeded: {resource} in {scope}" + (f" ({detail})" if detail else ""))


@dataclass(frozen=True, slots=True)
class ScopeLimit:
    """Limits of one scope; ``UNLIMITED`` (the default) for no limit."""

    memory: int = UNLIMITED
    conns_inbound: int = UNLIMITED
    conns_outbound: int = UNLIMITED
    conns: int = UNLIMITED
    streams_inbound: int = UNLIMITED
    streams_outbound: int = UNLIMITED
    streams: int = UNLIMITED
    fd: int = UNLIMITED


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * _GIB


def _fd_limit() -> int:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return 1024
    return soft if soft != getattr(resource, "RLIM_INFINITY", -1) and soft > 0 else 1 << 16


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """Every scope's limits. ``ResourceLimits.scaled()`` (the default) sizes them to the machine."""

    system: ScopeLimit
    transient: ScopeLimit
    peer: ScopeLimit
    conn: ScopeLimit
    stream: ScopeLimit
    protocol: ScopeLimit
    protocol_peer: ScopeLimit
    service: ScopeLimit
    service_peer: ScopeLimit
    # Overrides for particular protocols, services and peers (e.g. a bulk protocol, a trusted peer).
    protocols: Mapping[str, ScopeLimit] = field(default_factory=dict)
    services: Mapping[str, ScopeLimit] = field(default_factory=dict)
    peers: Mapping[PeerId, ScopeLimit] = field(default_factory=dict)
    # ... and for one peer's use of a particular protocol or service (go's AddProtocolPeerLimit,
    # AddServicePeerLimit).
    protocol_peers: Mapping[str, ScopeLimit] = field(default_factory=dict)
    service_peers: Mapping[str, ScopeLimit] = field(default_factory=dict)
    # Allowlisted connections and their streams count against these instead of system/transient.
    allowlisted_system: ScopeLimit = ScopeLimit()
    allowlisted_transient: ScopeLimit = ScopeLimit()

    @classmethod
    def scaled(cls, memory: int | None = None, fds: int | None = None) -> ResourceLimits:
        """go-libp2p's default limits scaled to ``memory`` bytes (default: an eighth of the
        physical memory) and ``fds`` file descriptors (default: half the soft limit)."""
        mem = memory if memory is not None else _total_memory() // 8
        fd = fds if fds is not None else max(64, _fd_limit() // 2)
        g = max(0.0, (mem - 128 * _MIB) / _GIB)  # GiB above go's 128 MiB base

        def n(base: int, per_gib: int) -> int:
            return int(base + per_gib * g)

        return cls(
            system=ScopeLimit(
                memory=max(128 * _MIB, mem), conns_inbound=n(64, 64), conns_outbound=n(128, 128), conns=n(128, 128),
                streams_inbound=n(2048, 2048), streams_outbound=n(4096, 4096), streams=n(4096, 4096), fd=fd,
            ),
            transient=ScopeLimit(
                memory=n(32 * _MIB, 128 * _MIB), conns_inbound=n(32, 16), conns_outbound=n(64, 32), conns=n(64, 32),
                # Streams still negotiating their protocol: a few peers' worth of the per-peer limit.
                streams_inbound=n(512, 256), streams_outbound=n(512, 256), streams=n(1024, 512), fd=max(16, fd // 4),
            ),
            peer=ScopeLimit(
                memory=n(64 * _MIB, 128 * _MIB), conns_inbound=8, conns_outbound=8, conns=8,
                streams_inbound=n(256, 128), streams_outbound=n(512, 256), streams=n(512, 256), fd=8,
            ),
            conn=ScopeLimit(memory=32 * _MIB, conns_inbound=1, conns_outbound=1, conns=1, fd=1),
            stream=ScopeLimit(memory=16 * _MIB, streams_inbound=1, streams_outbound=1, streams=1),
            protocol=ScopeLimit(streams_inbound=n(512, 256), streams_outbound=n(2048, 1024), streams=n(2048, 1024)),
            protocol_peer=ScopeLimit(streams_inbound=128, streams_outbound=256, streams=256),
            service=ScopeLimit(streams_inbound=n(1024, 512), streams_outbound=n(4096, 2048), streams=n(4096, 2048)),
            service_peer=ScopeLimit(streams_inbound=128, streams_outbound=256, streams=256),
        )

    @classmethod
    def unlimited(cls) -> ResourceLimits:
        free = ScopeLimit()
        return cls(free, free, free, free, free, free, free, free, free)

    def with_overrides(self, **changes: object) -> ResourceLimits:
        return replace(self, **changes)  # type: ignore[arg-type]


_SCOPE_LIMIT_FIELDS = tuple(f.name for f in fields(ScopeLimit))


def _within(declared: ScopeLimit, general: ScopeLimit) -> ScopeLimit:
    """``declared``, except that what ``general`` leaves unlimited stays unlimited."""
    return ScopeLimit(**{
        name: UNLIMITED if getattr(general, name) == UNLIMITED else getattr(declared, name)
        for name in _SCOPE_LIMIT_FIELDS
    })


class _Scope:
    """One scope's usage against its limit."""

    __slots__ = ("name", "about", "key", "limit", "memory", "conns_in", "conns_out", "streams_in", "streams_out",
                 "fd", "refs", "owner", "named")

    def __init__(
        self, name: str, limit: ScopeLimit, about: tuple[object, ...] = (), key: tuple[str, str, PeerId | None] | None = None
    ) -> None:
        self.name = name  # the kind of scope: what refusals are counted by
        # What the log calls it besides its kind (a protocol, a peer): formatted only when logged,
        # as a peer ID's text costs more than the rest of a stream's bookkeeping.
        self.about = about
        self.key = key  # where the manager keeps it (peer, protocol and service scopes)
        self.limit = limit
        self.memory = 0
        self.conns_in = 0
        self.conns_out = 0
        self.streams_in = 0
        self.streams_out = 0
        self.fd = 0
        self.refs = 0  # connections/streams attached (peer, protocol and service scopes are freed at 0)
        # A per-peer protocol or service scope: the peer scope it is kept with while idle.
        self.owner: _Scope | None = None
        # A peer scope: the keys of its per-peer protocol and service scopes, dropped with it.
        self.named: list[tuple[str, str, PeerId | None]] | None = None

    @property
    def label(self) -> str:
        """What the log says: the kind, with the peer or protocol."""
        return " ".join([self.name.split("-")[0], *map(str, self.about)]) if self.about else self.name

    def check_memory(self, n: int, priority: int) -> str | None:
        limit = self.limit.memory
        if limit == UNLIMITED:
            return None
        if self.memory + n > limit * (priority + 1) // 256:
            return f"memory: {self.memory} + {n} of {limit}"
        return None

    def check_conn(self, inbound: bool, fd: bool) -> str | None:
        lim = self.limit
        if self.conns_in + self.conns_out + 1 > lim.conns:
            return "conns"
        if inbound and self.conns_in + 1 > lim.conns_inbound:
            return "conns_inbound"
        if not inbound and self.conns_out + 1 > lim.conns_outbound:
            return "conns_outbound"
        if fd and self.fd + 1 > lim.fd:
            return "fd"
        return None

    def add_conn(self, inbound: bool, fd: bool, sign: int) -> None:
        if inbound:
            self.conns_in += sign
        else:
            self.conns_out += sign
        if fd:
            self.fd += sign

    def check_stream(self, inbound: bool) -> str | None:
        lim = self.limit
        if self.streams_in + self.streams_out + 1 > lim.streams:
            return "streams"
        if inbound and self.streams_in + 1 > lim.streams_inbound:
            return "streams_inbound"
        if not inbound and self.streams_out + 1 > lim.streams_outbound:
            return "streams_outbound"
        return None

    def add_stream(self, inbound: bool, sign: int) -> None:
        if inbound:
            self.streams_in += sign
        else:
            self.streams_out += sign

    def usage(self) -> dict[str, int]:
        return {
            "memory": self.memory, "conns_inbound": self.conns_in, "conns_outbound": self.conns_out,
            "streams_inbound": self.streams_in, "streams_outbound": self.streams_out, "fd": self.fd,
        }


class _Reserver:
    """Memory accounting shared by connection, stream and service scopes."""

    __slots__ = ("manager", "memory", "_own")

    manager: ResourceManager
    _own: _Scope
    memory: int

    def _chain(self) -> list[_Scope]:
        raise NotImplementedError

    def reserve_memory(self, n: int, priority: int = PRIORITY_HIGH) -> None:
        """Reserve ``n`` bytes in this scope and every scope above it, or raise."""
        if n <= 0:
            return
        chain = self._chain()
        for scope in chain:
            problem = scope.check_memory(n, priority)
            if problem is not None:
                raise self.manager._refused(scope, "memory", problem)
        for scope in chain:
            scope.memory += n
        self.memory += n

    def try_reserve_memory(self, n: int, priority: int = PRIORITY_HIGH) -> bool:
        """``reserve_memory`` that answers False instead of raising (the refusal is still counted)."""
        try:
            self.reserve_memory(n, priority)
        except ResourceLimitExceededError:
            return False
        return True

    def release_memory(self, n: int) -> None:
        n = min(n, self.memory)
        if n <= 0:
            return
        for scope in self._chain():
            scope.memory -= n
        self.memory -= n


class ConnectionScope(_Reserver):
    """One connection: in the transient scope until ``set_peer``, then in its peer's."""

    # Slotted, with the connection's own memory scope made on first use: most connections never
    # reserve memory on the connection itself, and this is built once per connection admitted.
    __slots__ = ("direction", "inbound", "allowlisted", "uses_fd", "peer", "_conn_scope", "_peer_scope", "_done",
                 "_system", "_transient")

    def __init__(self, manager: ResourceManager, direction: Direction, allowlisted: bool, uses_fd: bool) -> None:
        self.manager = manager
        self.direction = direction
        # a plain attribute, not a property: read several times per connection and stream admitted
        self.inbound = direction is Direction.INBOUND
        self.allowlisted = allowlisted
        self.uses_fd = uses_fd
        self.peer: PeerId | None = None
        self.memory = 0
        self._conn_scope: _Scope | None = None
        self._peer_scope: _Scope | None = None
        self._done = False
        # The system and transient scopes it counts in: attributes, read several times per
        # connection and per stream (the bookkeeping is a good part of a connection's set-up).
        self._system = manager._allowlisted_system if allowlisted else manager._system
        self._transient = manager._allowlisted_transient if allowlisted else manager._transient

    @property
    def _own(self) -> _Scope:  # type: ignore[override]
        scope = self._conn_scope
        if scope is None:
            scope = self._conn_scope = _Scope("conn", self.manager.limits.conn)
        return scope

    def _chain(self) -> list[_Scope]:
        own = self._conn_scope
        if own is None:  # (made here, not through the property: a stream's reservation walks this)
            own = self._conn_scope = _Scope("conn", self.manager.limits.conn)
        middle = self._peer_scope if self._peer_scope is not None else self._transient
        return [own, middle, self._system]

    def set_peer(self, peer: PeerId) -> None:
        """The handshake named the peer: move from the transient scope into the peer's, or raise."""
        if self._done or self._peer_scope is not None:
            return
        m = self.manager
        scope = m._peers.get(peer)
        if scope is None:
            scope = m._new_peer_scope(peer)
        inbound = self.inbound
        fd = 1 if self.uses_fd else 0
        if not self.allowlisted:
            # _Scope.check_conn and check_memory, inline: this runs once per connection.
            lim = scope.limit
            problem = None
            if scope.conns_in + scope.conns_out + 1 > lim.conns:
                problem = "conns"
            elif inbound and scope.conns_in + 1 > lim.conns_inbound:
                problem = "conns_inbound"
            elif not inbound and scope.conns_out + 1 > lim.conns_outbound:
                problem = "conns_outbound"
            elif fd and scope.fd + 1 > lim.fd:
                problem = "fd"
            elif self.memory:
                problem = scope.check_memory(self.memory, PRIORITY_ALWAYS)
            if problem is not None:
                m._maybe_drop_peer(peer, scope)
                raise m._refused(scope, problem.split(":")[0], problem)
        transient = self._transient
        if inbound:
            transient.conns_in -= 1
            scope.conns_in += 1
        else:
            transient.conns_out -= 1
            scope.conns_out += 1
        if fd:
            transient.fd -= 1
            scope.fd += 1
        if self.memory:
            transient.memory -= self.memory
            scope.memory += self.memory
        scope.refs += 1
        self._peer_scope = scope
        self.peer = peer

    def open_stream(self, direction: Direction) -> StreamScope:
        """Admit a new stream on this connection (raises when a stream limit is hit)."""
        stream = StreamScope(self.manager, self, direction)
        stream._admit()
        return stream

    def done(self) -> None:
        """The connection is gone: release everything it held (idempotent)."""
        if self._done:
            return
        self._done = True
        if self.memory:
            self.release_memory(self.memory)
        peer_scope = self._peer_scope
        middle = peer_scope if peer_scope is not None else self._transient
        system = self._system
        if self.inbound:
            middle.conns_in -= 1
            system.conns_in -= 1
        else:
            middle.conns_out -= 1
            system.conns_out -= 1
        if self.uses_fd:
            middle.fd -= 1
            system.fd -= 1
        if peer_scope is not None:
            peer_scope.refs -= 1
            if peer_scope.refs <= 0 and not peer_scope.memory:
                # _maybe_drop_peer, inline; one lookup (the scope is the peer's while a ref is held)
                m = self.manager
                peers = m._peers
                current = peers.pop(self.peer, None)  # type: ignore[arg-type]
                if current is not None and current is not peer_scope:
                    peers[self.peer] = current  # type: ignore[index]
                if peer_scope.named:
                    m._forget_named_of(peer_scope)


class StreamScope(_Reserver):
    """One stream: in the transient scope until ``set_protocol``, then in its protocol's."""

    __slots__ = ("conn", "direction", "inbound", "protocol", "service", "_counted", "_protocol_scopes",
                 "_service_scopes", "_done")

    def __init__(self, manager: ResourceManager, conn: ConnectionScope, direction: Direction) -> None:
        self.manager = manager
        self.conn = conn
        self.direction = direction
        self.inbound = direction is Direction.INBOUND
        self.memory = 0
        self.protocol: str | None = None
        self.service: str | None = None
        # The scopes whose stream counts include this stream (besides its own): its peer's, the
        # transient scope until it is attributed (then its protocol's and service's), the system.
        self._counted: list[_Scope] = []
        self._protocol_scopes: tuple[_Scope, ...] = ()  # protocol, protocol-peer
        self._service_scopes: tuple[_Scope, ...] = ()  # service, service-peer
        self._done = False

    @property
    def _own(self) -> _Scope:  # type: ignore[override]
        # Only this stream reserves in its own scope, so ``memory`` is that scope's usage: no
        # scope object is kept per stream; this one is made for a refusal's report.
        scope = _Scope("stream", self.manager.limits.stream)
        scope.memory = self.memory
        return scope

    def _chain(self) -> list[_Scope]:
        # Memory counts in the stream, its connection, the peer (or transient) and the system;
        # protocol and service scopes count streams only.
        return [self._own, *self.conn._chain()]

    def reserve_memory(self, n: int, priority: int = PRIORITY_HIGH) -> None:
        """Reserve ``n`` bytes in this stream, its connection, its peer and the system, or raise."""
        problem = self._reserve(n, priority)
        if problem is not None:
            raise self.manager._refused(*problem)

    def try_reserve_memory(self, n: int, priority: int = PRIORITY_HIGH) -> bool:
        """``reserve_memory`` that answers False instead of raising (the refusal is still counted)."""
        problem = self._reserve(n, priority)
        if problem is None:
            return True
        self.manager._refused(*problem)
        return False

    def _reserve(self, n: int, priority: int) -> tuple[_Scope, str, str] | None:
        # ``_Reserver.reserve_memory`` with the chain walked inline: unread data of every stream
        # passes here (twice per one-message stream, with the release).
        if n <= 0:
            return None
        limit = self.manager.limits.stream.memory
        if limit != UNLIMITED and self.memory + n > limit * (priority + 1) // 256:
            return self._own, "memory", f"memory: {self.memory} + {n} of {limit}"
        conn = self.conn
        own = conn._conn_scope
        if own is None:
            own = conn._conn_scope = _Scope("conn", self.manager.limits.conn)
        middle = conn._peer_scope
        if middle is None:
            middle = conn._transient
        system = conn._system
        for scope in (own, middle, system):
            limit = scope.limit.memory
            if limit != UNLIMITED and scope.memory + n > limit * (priority + 1) // 256:
                return scope, "memory", f"memory: {scope.memory} + {n} of {limit}"
        own.memory += n
        middle.memory += n
        system.memory += n
        self.memory += n
        return None

    def release_memory(self, n: int) -> None:
        n = min(n, self.memory)
        if n <= 0:
            return
        conn = self.conn
        own = conn._conn_scope
        if own is not None:  # (made by the reservation this gives back)
            own.memory -= n
        middle = conn._peer_scope
        if middle is None:
            middle = conn._transient
        middle.memory -= n
        conn._system.memory -= n
        self.memory -= n

    def _admit(self) -> None:
        conn = self.conn
        peer = conn._peer_scope
        scopes = [conn._transient, conn._system] if peer is None else [peer, conn._transient, conn._system]
        inbound = self.inbound
        for scope in scopes:
            # _Scope.check_stream, inline: three scopes per stream opened
            lim = scope.limit
            n_in = scope.streams_in
            n_out = scope.streams_out
            if n_in + n_out + 1 > lim.streams:
                raise self.manager._refused(scope, "streams")
            if inbound:
                if n_in + 1 > lim.streams_inbound:
                    raise self.manager._refused(scope, "streams_inbound")
            elif n_out + 1 > lim.streams_outbound:
                raise self.manager._refused(scope, "streams_outbound")
        if inbound:
            for scope in scopes:
                scope.streams_in += 1
        else:
            for scope in scopes:
                scope.streams_out += 1
        self._counted = scopes

    def _attribute(self, kind: str, name: str) -> tuple[_Scope, ...]:
        """Join ``kind``'s scope for ``name`` and its per-peer one, leaving the transient scope on
        the stream's first attribution; raises (and joins nothing) when a limit is hit."""
        m = self.manager
        conn = self.conn
        peer = conn.peer
        named = m._named
        # (the scopes are usually there already: kept while idle, see ``_maybe_drop_named``)
        general = named.get((kind, name, None)) or m._attributed_scope(kind, name)
        if peer is None:
            joined: tuple[_Scope, ...] = (general,)
        else:
            joined = (general, named.get((kind, name, peer)) or m._attributed_scope(kind, name, peer, conn._peer_scope))
        inbound = self.inbound
        for scope in joined:
            problem = scope.check_stream(inbound)
            if problem is not None:
                for s in joined:
                    m._maybe_drop_named(s)
                raise m._refused(scope, problem)
        counted = self._counted
        if not self._protocol_scopes and not self._service_scopes:
            transient = conn._transient
            if inbound:
                transient.streams_in -= 1
            else:
                transient.streams_out -= 1
            counted.remove(transient)
        for scope in joined:
            if inbound:
                scope.streams_in += 1
            else:
                scope.streams_out += 1
            scope.refs += 1
            counted.append(scope)
        return joined

    def set_protocol(self, protocol: str) -> None:
        """The stream speaks ``protocol``: it leaves the transient scope for the protocol's, or raises."""
        if self._done or self.protocol is not None:
            return
        self._protocol_scopes = self._attribute("protocol", protocol)
        self.protocol = protocol

    def set_service(self, service: str) -> None:
        """The stream belongs to ``service`` (a service calls this from its handler), or raises."""
        if self._done or self.service is not None:
            return
        self._service_scopes = self._attribute("service", service)
        self.service = service

    def done(self) -> None:
        if self._done:
            return
        self._done = True
        if self.memory:
            self.release_memory(self.memory)
        if self.inbound:
            for scope in self._counted:
                scope.streams_in -= 1
        else:
            for scope in self._counted:
                scope.streams_out -= 1
        if self._protocol_scopes or self._service_scopes:
            m = self.manager
            for scope in self._protocol_scopes + self._service_scopes:
                scope.refs -= 1
                if scope.refs <= 0:
                    m._maybe_drop_named(scope)


class ServiceScope(_Reserver):
    """Memory a service reserves for itself (caches, queues), counted in the system scope."""

    def __init__(self, manager: ResourceManager, name: str) -> None:
        self.manager = manager
        self.name = name
        self.memory = 0
        self._own = manager._attributed_scope("service", name)
        self._own.refs += 1

    def _chain(self) -> list[_Scope]:
        return [self._own, self.manager._system]


_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Idle protocol and service scopes kept for reuse (not per peer; those go with their peer's).
_IDLE_NAMED_KEPT = 1024


def _idle(scope: _Scope) -> bool:
    return scope.refs <= 0 and not scope.memory and not scope.streams_in and not scope.streams_out


def ip_of(addr: Multiaddr | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if addr is None:
        return None
    # Fast path for what connections carry, /ip4/… or /ip6/… first: read the binary form.
    raw = bytes(addr)
    if raw[:1] == b"\x04" and len(raw) >= 5:  # ip4 (code 4), 4 bytes
        return _packed_ip(raw[1:5])
    if raw[:1] == b"\x29" and len(raw) >= 17:  # ip6 (code 41), 16 bytes
        return _packed_ip(raw[1:17])
    from libp2p.multiaddr import P_IP4, P_IP6

    for comp in addr.components():
        if comp.protocol.code in (P_IP4, P_IP6) and comp.value is not None:
            return _ip_address(comp.value)
    return None


@functools.lru_cache(maxsize=1024)
def _packed_ip(packed: bytes) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(packed)


@functools.lru_cache(maxsize=1024)
def _ip_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # Parsed several times per connection (admission, per-subnet limits) and mostly the same few
    # addresses: ipaddress takes ~20 µs each time.
    return ipaddress.ip_address(text)


class ResourceManager:
    """Admits connections and streams against ``ResourceLimits``; counts and logs what it refuses."""

    def __init__(
        self,
        limits: ResourceLimits | None = None,
        *,
        allowlist: Iterable[str | Multiaddr | _Network] = (),
    ) -> None:
        self.limits = limits if limits is not None else ResourceLimits.scaled()
        self._system = _Scope("system", self.limits.system)
        self._transient = _Scope("transient", self.limits.transient)
        self._allowlisted_system = _Scope("allowlisted system", self.limits.allowlisted_system)
        self._allowlisted_transient = _Scope("allowlisted transient", self.limits.allowlisted_transient)
        self._peers: dict[PeerId, _Scope] = {}
        self._named: dict[tuple[str, str, PeerId | None], _Scope] = {}
        self._allowlist: list[_Network] = []
        self._allowlisted_peers: set[PeerId] = set()
        for entry in allowlist:
            self.allow(entry)
        # Protocols the given limits name: limits a service declares do not replace these.
        self._named_by_user = (frozenset(self.limits.protocols), frozenset(self.limits.protocol_peers))
        #: refusals counted by ``"<scope kind>:<resource>"``, e.g. ``"peer:streams_inbound"``
        self.refusals: Counter[str] = Counter()
        self._warned: set[str] = set()

    # --- allowlist --------------------------------------------------------------------------------

    def allow(self, entry: str | Multiaddr | _Network) -> None:
        """Allowlist an IP network (``"10.0.0.0/8"``), a multiaddr (``/ip4/1.2.3.4``, optionally
        ending in ``/p2p/<id>``: then only that peer from there), or a ``/p2p/<id>``."""
        from libp2p.multiaddr import Multiaddr

        if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
            self._allowlist.append(entry)
            return
        if isinstance(entry, str) and not entry.startswith("/"):
            self._allowlist.append(ipaddress.ip_network(entry, strict=False))
            return
        ma = entry if isinstance(entry, Multiaddr) else Multiaddr(entry)
        ip = ip_of(ma)
        if ip is not None:
            self._allowlist.append(ipaddress.ip_network(ip))
        elif ma.peer_id is not None:
            self._allowlisted_peers.add(ma.peer_id)

    def is_allowlisted(self, addr: Multiaddr | None) -> bool:
        """Whether ``addr`` is on the allowlist (its connections bypass the system limits)."""
        if not self._allowlist:
            return False
        ip = ip_of(addr)
        return ip is not None and any(ip in net for net in self._allowlist)

    # --- admission ----------------------------------------------------------------------------------

    def open_connection(
        self, direction: Direction, remote_addr: Multiaddr | None = None, *, uses_fd: bool = True
    ) -> ConnectionScope:
        """Admit a connection (before its handshake): counts in the transient and system scopes."""
        allowlisted = bool(self._allowlist) and self.is_allowlisted(remote_addr)
        scope = ConnectionScope(self, direction, allowlisted, uses_fd)
        inbound = direction is Direction.INBOUND
        transient, system = scope._transient, scope._system
        # _Scope.check_conn and add_conn, inline (once per connection admitted)
        for counted in (transient, system):
            lim = counted.limit
            n_in = counted.conns_in
            n_out = counted.conns_out
            if n_in + n_out + 1 > lim.conns:
                raise self._refused(counted, "conns")
            if inbound:
                if n_in + 1 > lim.conns_inbound:
                    raise self._refused(counted, "conns_inbound")
            elif n_out + 1 > lim.conns_outbound:
                raise self._refused(counted, "conns_outbound")
            if uses_fd and counted.fd + 1 > lim.fd:
                raise self._refused(counted, "fd")
        if inbound:
            transient.conns_in += 1
            system.conns_in += 1
        else:
            transient.conns_out += 1
            system.conns_out += 1
        if uses_fd:
            transient.fd += 1
            system.fd += 1
        return scope

    def _open_stream(self, conn: ConnectionScope, direction: Direction) -> StreamScope:
        stream = StreamScope(self, conn, direction)
        stream._admit()
        return stream

    def service_scope(self, name: str) -> ServiceScope:
        """A scope in which a service reserves memory for itself."""
        return ServiceScope(self, name)

    def declare_protocol_limits(
        self, protocol: str, *, limit: ScopeLimit | None = None, peer_limit: ScopeLimit | None = None
    ) -> None:
        """Limits a service declares for its own protocol (as go-libp2p's ``SetDefaultServiceLimits``
        does for identify, ping and relay): ``limit`` for all peers together, ``peer_limit`` for
        each peer. They replace the general protocol limits for ``protocol`` unless the limits this
        manager was built with name ``protocol`` already; and a resource the general limit leaves
        unlimited (``ResourceLimits.unlimited()``) stays unlimited."""
        by_protocol, by_protocol_peer = self._named_by_user
        limits = self.limits
        changes: dict[str, object] = {}
        if limit is not None and protocol not in by_protocol:
            changes["protocols"] = {**limits.protocols, protocol: _within(limit, limits.protocol)}
        if peer_limit is not None and protocol not in by_protocol_peer:
            changes["protocol_peers"] = {**limits.protocol_peers, protocol: _within(peer_limit, limits.protocol_peer)}
        if not changes:
            return
        self.limits = limits.with_overrides(**changes)
        for (kind, name, peer), scope in self._named.items():  # scopes already open take the new limit too
            if kind == "protocol" and name == protocol:
                scope.limit = (self.limits.protocol_peers.get(name, self.limits.protocol_peer) if peer is not None
                               else self.limits.protocols.get(name, self.limits.protocol))

    # --- scopes by name ------------------------------------------------------------------------------

    def _peer_scope(self, peer: PeerId) -> _Scope:
        scope = self._peers.get(peer)
        if scope is None:
            scope = self._new_peer_scope(peer)
        return scope

    def _new_peer_scope(self, peer: PeerId) -> _Scope:
        # The overrides are usually empty: no lookup (a peer ID hashes in Python) then.
        limits = self.limits
        limit = limits.peers.get(peer, limits.peer) if limits.peers else limits.peer
        if self._allowlisted_peers and peer in self._allowlisted_peers:
            limit = ScopeLimit()
        scope = self._peers[peer] = _Scope("peer", limit, (peer,))
        return scope

    def _maybe_drop_peer(self, peer: PeerId, scope: _Scope) -> None:
        if scope.refs <= 0 and not scope.memory and self._peers.get(peer) is scope:
            del self._peers[peer]
            if scope.named:
                self._forget_named_of(scope)

    def _forget_named_of(self, peer_scope: _Scope) -> None:
        """``peer_scope`` was dropped: so are its idle protocol and service scopes (busy ones go
        when idle, as they no longer belong to the peer's current scope)."""
        keys, peer_scope.named = peer_scope.named, None
        named = self._named
        for key in keys or ():
            scope = named.get(key)
            if scope is not None and scope.owner is peer_scope and _idle(scope):
                del named[key]

    def _attributed_scope(
        self, kind: str, name: str, peer: PeerId | None = None, peer_scope: _Scope | None = None
    ) -> _Scope:
        """The scope of protocol or service ``name`` (``kind``), or of that and one peer (whose
        scope, ``peer_scope``, keeps it while idle)."""
        key = (kind, name, peer)
        scope = self._named.get(key)
        if scope is None:
            limits = self.limits
            if kind == "protocol":
                limit = (limits.protocol_peers.get(name, limits.protocol_peer) if peer is not None
                         else limits.protocols.get(name, limits.protocol))
            else:
                limit = (limits.service_peers.get(name, limits.service_peer) if peer is not None
                         else limits.services.get(name, limits.service))
            about = (name,) if peer is None else (name, "of", peer)
            scope = self._named[key] = _Scope(kind if peer is None else f"{kind}-peer", limit, about, key)
            if peer_scope is not None:
                scope.owner = peer_scope
                if peer_scope.named is None:
                    peer_scope.named = []
                peer_scope.named.append(key)
        return scope

    def _maybe_drop_named(self, scope: _Scope) -> None:
        """An idle protocol or service scope is kept for the next stream while its peer is
        connected (per-peer ones) or while few are (the others: a host's protocols), instead of
        being made again for each stream; otherwise it is dropped."""
        if scope.refs > 0 or scope.memory or scope.streams_in or scope.streams_out:  # ``_idle``, inline
            return
        key = scope.key
        if key is None:
            return
        peer = key[2]
        if peer is None:
            if len(self._named) <= _IDLE_NAMED_KEPT:
                return
        elif scope.owner is not None and self._peers.get(peer) is scope.owner:
            return
        if self._named.get(key) is scope:
            del self._named[key]

    # --- refusals --------------------------------------------------------------------------------

    def _refused(self, scope: _Scope, resource: str, detail: str = "") -> ResourceLimitExceededError:
        resource = resource.split(":")[0]
        key = f"{scope.name}:{resource}"
        self.refusals[key] += 1
        # The first refusal of each kind is a warning; the rest (a flood) are debug lines.
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        log.log(level, "refused: %s limit of the %s scope reached%s", resource, scope.label, f" ({detail})" if detail else "")
        return ResourceLimitExceededError(scope.name, resource, detail)

    # --- inspection -------------------------------------------------------------------------------

    def stat(self) -> dict[str, dict[str, int]]:
        """Current usage of the system and transient scopes, and of each peer with anything open."""
        out = {"system": self._system.usage(), "transient": self._transient.usage()}
        for peer, scope in self._peers.items():
            out[f"peer:{peer}"] = scope.usage()
        for (kind, name, owner), named in self._named.items():
            if not _idle(named):  # (idle ones are kept for reuse, and hold nothing)
                out[f"{kind}:{name}" + (f":{owner}" if owner is not None else "")] = named.usage()
        return out

    def peer_usage(self, peer: PeerId) -> dict[str, int]:
        """What the peer holds now: connections, streams, memory."""
        scope = self._peers.get(peer)
        return scope.usage() if scope is not None else _Scope("peer", ScopeLimit()).usage()
