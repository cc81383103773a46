"""Circuit relay v2 (``/libp2p/circuit/relay/0.2.0/hop`` and ``/stop``): the relay service
(``RelayService``) and the client (``RelayClient``) that reserves on relays, accepts circuits and
dials ``/…/p2p/RELAY/p2p-circuit/p2p/TARGET`` through ``libp2p.transport.circuit``."""

from libp2p.protocols.relay.core import ClientReservation, HopState, RelayConfig
from libp2p.protocols.relay.events import (
    CircuitClosed,
    CircuitOpened,
    CircuitRefused,
    RelayEvent,
    ReservationAccepted,
    ReservationLost,
    ReservationMade,
    ReservationRefused,
)
from libp2p.protocols.relay.service import RelayClient, RelayClientConfig, RelayService
from libp2p.protocols.relay.wire import HOP_PROTOCOL_ID, STOP_PROTOCOL_ID, Limit, RelayStatusError, Status, VoucherError

__all__ = [
    "HOP_PROTOCOL_ID",
    "STOP_PROTOCOL_ID",
    "CircuitClosed",
    "CircuitOpened",
    "CircuitRefused",
    "ClientReservation",
    "HopState",
    "Limit",
    "RelayClient",
    "RelayClientConfig",
    "RelayConfig",
    "RelayEvent",
    "RelayService",
    "RelayStatusError",
    "ReservationAccepted",
    "ReservationLost",
    "ReservationMade",
    "ReservationRefused",
    "Status",
    "VoucherError",
]
