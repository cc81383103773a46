"""AutoNAT v1 (``/libp2p/autonat/1.0.0``): is this host reachable from outside? A server dials a
requester back; the client turns the answers into the host's reachability."""

from libp2p.protocols.autonat.core import AutonatConfig, ReachabilityTracker, ServerPolicy
from libp2p.protocols.autonat.events import AutonatDialRequested, AutonatProbed
from libp2p.protocols.autonat.service import AutonatService
from libp2p.protocols.autonat.wire import PROTOCOL_ID, DialResponse, ResponseStatus

__all__ = ["PROTOCOL_ID", "AutonatConfig", "AutonatDialRequested", "AutonatProbed", "AutonatService", "DialResponse",
           "ReachabilityTracker", "ResponseStatus", "ServerPolicy"]
