"""``new_host``: a host with the default services, as go's ``libp2p.New`` and js's ``createLibp2p``.

Above both the host and the protocols (the host imports no service), this is where the
defaults are put together: identify and ping, unless replaced or left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from libp2p.host.host import Host
from libp2p.host.upgrader import MPLEX, NOISE, YAMUX
from libp2p.identity.keys import generate_key_pair
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.ping.service import PingService

if TYPE_CHECKING:
    from libp2p.abc import MuxerOption, SecurityOption
    from libp2p.host.service import Service
    from libp2p.identity.keys import PrivateKey
    from libp2p.multiaddr import Multiaddr

__all__ = ["new_host", "standard_services"]


def standard_services() -> list[Service]:
    """What every host runs unless told otherwise: identify and ping (as go and js do)."""
    return [IdentifyService(), PingService()]


def new_host(
    key: PrivateKey | None = None,
    listen_addrs: Sequence[Multiaddr | str] | Multiaddr | str = (),
    muxers: Sequence[MuxerOption | str] = (YAMUX, MPLEX),
    security: Sequence[SecurityOption | str] = (NOISE,),
    *,
    services: Iterable[Service] = (),
    default_services: bool = True,
    **options: Any,
) -> Host:
    """A host with a fresh Ed25519 identity unless ``key`` is given. Use it with ``async with``.

    ``services`` are added to the defaults (identify, ping); a service named like a default
    (``IdentifyService()`` configured otherwise) replaces it; ``default_services=False`` leaves
    the defaults out. Other options go to ``Host`` (transports, config, resource limits, ...).
    """
    chosen = list(services)
    if default_services:
        names = {s.name for s in chosen}
        chosen = [s for s in standard_services() if s.name not in names] + chosen
    return Host(
        key if key is not None else generate_key_pair(),
        listen_addrs=listen_addrs,
        muxers=muxers,
        security=security,
        services=chosen,
        **options,
    )

