"""AutoNAT v2 (``/libp2p/autonat/2/dial-request``, ``/dial-back``): per-address reachability, with
the dial-data protection against amplification and the nonce check."""

from libp2p.protocols.autonatv2.core import AutonatV2Config
from libp2p.protocols.autonatv2.service import AddressChecked, AutonatV2Service
from libp2p.protocols.autonatv2.wire import DIAL_BACK_PROTOCOL, DIAL_REQUEST_PROTOCOL, DialStatus, ResponseStatus

__all__ = ["DIAL_BACK_PROTOCOL", "DIAL_REQUEST_PROTOCOL", "AddressChecked", "AutonatV2Config", "AutonatV2Service",
           "DialStatus", "ResponseStatus"]
