"""The host's event stream: typed events, taken by callbacks or awaited as an async iterator.

As go-libp2p's event bus and js-libp2p's ``addEventListener``: the host emits connection and
peer events and its own address and protocol changes; services emit theirs (identify emits
``PeerIdentified``, AutoNAT will emit ``LocalReachabilityChanged``). Callbacks run at once,
inside ``emit``; an iterator gets a bounded queue of its own, and a subscriber that falls
more than ``maxsize`` events behind loses the oldest ones (counted in ``dropped``), so a slow
consumer can never make the host hold memory without bound or stall the emitter.
"""

from __future__ import annotations

import asyncio
import logging
from libp2p.errors import UnexpectedEOFError
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from libp2p.abc import Connection
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = [
    "HostEvent",
    "ConnectionOpened",
    "ConnectionClosed",
    "PeerConnected",
    "PeerDisconnected",
    "PeerProtocolsUpdated",
    "LocalProtocolsUpdated",
    "LocalAddressesUpdated",
    "Reachability",
    "LocalReachabilityChanged",
    "EventBus",
    "EventSubscription",
]

log = logging.getLogger("libp2p.host.events")

E = TypeVar("E", bound="HostEvent")


@dataclass(frozen=True, slots=True)
class HostEvent:
    """Base of every event on a host's stream."""


@dataclass(frozen=True, slots=True)
class ConnectionOpened(HostEvent):
    """A connection finished its upgrade (or arrived secured and multiplexed) and is in use."""

    connection: Connection


@dataclass(frozen=True, slots=True)
class ConnectionClosed(HostEvent):
    connection: Connection


@dataclass(frozen=True, slots=True)
class PeerConnected(HostEvent):
    """The first connection to a peer opened."""

    peer_id: PeerId


@dataclass(frozen=True, slots=True)
class PeerDisconnected(HostEvent):
    """The last connection to a peer closed."""

    peer_id: PeerId


@dataclass(frozen=True, slots=True)
class PeerProtocolsUpdated(HostEvent):
    """The protocols a peer says it speaks changed (identify or identify/push)."""

    peer_id: PeerId
    added: frozenset[str]
    removed: frozenset[str]


@dataclass(frozen=True, slots=True)
class LocalProtocolsUpdated(HostEvent):
    """A stream handler was set or removed on this host."""

    added: frozenset[str]
    removed: frozenset[str]


@dataclass(frozen=True, slots=True)
class LocalAddressesUpdated(HostEvent):
    """This host's listen addresses changed."""

    current: tuple[Multiaddr, ...]
    removed: tuple[Multiaddr, ...] = ()


class Reachability(Enum):
    UNKNOWN = "unknown"
    PUBLIC = "public"
    PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class LocalReachabilityChanged(HostEvent):
    """What AutoNAT concluded about whether others can dial us."""

    reachability: Reachability


class EventSubscription(Generic[E]):
    """An async iterator over the events of the types it was made for, until closed."""

    def __init__(self, bus: EventBus, types: tuple[type[E], ...], maxsize: int) -> None:
        self._bus = bus
        self.types = types
        self._queue: deque[E] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        #: events lost because this subscriber fell ``maxsize`` behind
        self.dropped = 0

    def _put(self, event: E) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped == 1:
                log.warning("an event subscriber fell %d events behind; dropping the oldest", self._maxsize)
        self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        """Stop receiving; an ``async for`` over it ends once it has taken what was queued."""
        if not self._closed:
            self._closed = True
            self._bus._unsubscribe(self)
            self._wake()

    def __aiter__(self) -> AsyncIterator[E]:
        return self

    async def __anext__(self) -> E:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    async def next(self, timeout: float | None = None) -> E:
        """The next event (``TimeoutError`` after ``timeout`` s; ``EOFError`` once closed)."""
        async with asyncio.timeout(timeout):
            try:
                return await self.__anext__()
            except StopAsyncIteration:
                raise UnexpectedEOFError("the subscription is closed") from None

    def get_nowait(self) -> E | None:
        return self._queue.popleft() if self._queue else None

    def __enter__(self) -> EventSubscription[E]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class EventBus:
    """One per host. ``subscribe(types, callback)`` or ``with bus.stream(types) as events: async for ...``."""

    def __init__(self) -> None:
        self._callbacks: list[tuple[tuple[type[HostEvent], ...], Callable[[Any], None]]] = []
        # event class -> its callbacks, in subscription order; rebuilt after (un)subscribing.
        # A host emits a few events per connection to a dozen subscriptions.
        self._dispatch: dict[type[HostEvent], list[Callable[[Any], None]]] = {}
        self._streams: list[EventSubscription[Any]] = []
        self._closed = False

    def subscribe(
        self, types: type[E] | tuple[type[E], ...], callback: Callable[[E], None]
    ) -> Callable[[], None]:
        """Call ``callback(event)`` for each event of ``types`` (classes, subclasses included);
        returns a function that unsubscribes."""
        entry = (types if isinstance(types, tuple) else (types,), callback)
        self._callbacks.append(entry)
        self._dispatch = {}

        def remove() -> None:
            if entry in self._callbacks:
                self._callbacks.remove(entry)
                self._dispatch = {}

        return remove

    def stream(self, *types: type[E], maxsize: int = 1024) -> EventSubscription[E]:
        """An async iterator over events of ``types`` (every event when none is given)."""
        sub: EventSubscription[E] = EventSubscription(self, types or (HostEvent,), maxsize)  # type: ignore[arg-type]
        if self._closed:
            sub._closed = True
        else:
            self._streams.append(sub)
        return sub

    def wants(self, cls: type[HostEvent]) -> bool:
        """Whether an event of class ``cls`` has a subscriber now: an emitter may skip building
        one that nobody would get (the host's per-connection events, under connection churn)."""
        callbacks = self._dispatch.get(cls)
        if callbacks is None:
            callbacks = self._dispatch[cls] = [cb for types, cb in self._callbacks if issubclass(cls, types)]
        if callbacks:
            return True
        return any(issubclass(cls, sub.types) for sub in self._streams) if self._streams else False

    def emit(self, event: HostEvent) -> None:
        """Deliver ``event`` to its subscribers (callbacks now, streams queued)."""
        cls = type(event)
        callbacks = self._dispatch.get(cls)
        if callbacks is None:
            # A new list each time: one being iterated is never changed by a callback that subscribes.
            callbacks = self._dispatch[cls] = [cb for types, cb in self._callbacks if issubclass(cls, types)]
        for callback in callbacks:
            try:
                callback(event)
            except Exception:  # noqa: BLE001 - one subscriber's bug must not break the host
                log.exception("event callback for %s failed", cls.__name__)
        if not self._streams:
            return
        for sub in list(self._streams):
            if isinstance(event, sub.types):
                sub._put(event)

    def _unsubscribe(self, sub: EventSubscription[Any]) -> None:
        if sub in self._streams:
            self._streams.remove(sub)

    def close(self) -> None:
        """The host closed: every open iterator ends after what it has queued."""
        self._closed = True
        for sub in list(self._streams):
            sub.close()
        self._callbacks.clear()
        self._dispatch = {}
