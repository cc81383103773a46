"""mDNS peer discovery (libp2p/specs ``discovery/mdns.md``): ``wire`` (DNS messages), ``core``
(sans-IO query/response rules), ``events`` (``PeerDiscovered``), ``service`` (the host service)."""

from libp2p.discovery.mdns.core import MdnsConfig, MdnsCore
from libp2p.discovery.mdns.events import PeerDiscovered
from libp2p.discovery.mdns.service import MdnsService, MdnsServiceConfig

__all__ = ["MdnsConfig", "MdnsCore", "MdnsService", "MdnsServiceConfig", "PeerDiscovered"]
