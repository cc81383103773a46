"""The service interface: what a protocol implementation plugs into a host.

As js-libp2p's ``services: { identify: identify(), ping: ping() }`` and rust-libp2p's
``NetworkBehaviour``: a service is built by the user, handed to ``new_host(services=[...])``
(or ``await host.add_service(...)`` later), started with the host and stopped with it. It
declares the protocols it serves and uses only the host's public API (stream handlers,
``new_stream``, ``connection_to``, ``spawn``, ``events``, ``resources``, ``connmgr``); the host
never imports a service. A started service is reachable as ``host.services[name]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from libp2p.errors import StateError

if TYPE_CHECKING:
    from libp2p.host.host import Host

__all__ = ["Service"]


class Service:
    """Base class of host services. Subclasses set ``name`` and override ``start``/``stop``."""

    #: the key in ``host.services`` (one service per name on a host)
    name: ClassVar[str] = ""

    def __init__(self) -> None:
        self._host: Host | None = None

    @property
    def host(self) -> Host:
        """The host this service runs on (``StateError`` before ``start``)."""
        if self._host is None:
            raise StateError(f"service {self.name!r} is not started on a host")
        return self._host

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocol ids this service answers (its stream handlers)."""
        return ()

    async def start(self, host: Host) -> None:
        """Attach to ``host``: set handlers, subscribe to events, spawn tasks with ``host.spawn``."""
        self._host = host

    async def stop(self) -> None:
        """Detach (the host is closing, or the service is removed). Tasks spawned on the host end
        with it; handlers the service set are removed by the host."""
