"""DCUtR (``/libp2p/dcutr``): after a relayed connection, a direct one by TCP simultaneous open."""

from libp2p.protocols.dcutr.core import HolePunchInitiator, HolePunchResponder, punchable_addrs
from libp2p.protocols.dcutr.events import DialNow, HolePunchFailed, HolePunchSucceeded
from libp2p.protocols.dcutr.service import DcutrConfig, DcutrError, DcutrService
from libp2p.protocols.dcutr.wire import PROTOCOL_ID

__all__ = ["PROTOCOL_ID", "DcutrConfig", "DcutrError", "DcutrService", "DialNow", "HolePunchFailed", "HolePunchInitiator",
           "HolePunchResponder", "HolePunchSucceeded", "punchable_addrs"]
