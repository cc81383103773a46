"""Pubsub: GossipSub v1.2/v1.1/v1.0 and FloodSub (libp2p/specs ``pubsub/``).

```python
ps = GossipSub(GossipSubConfig(), signature_policy=SignaturePolicy.STRICT_SIGN)
async with new_host(services=[ps]) as host:
    async with ps.subscribe("topic") as sub:
        await ps.publish("topic", b"data")
        async for msg in sub: ...
```
"""

from libp2p.protocols.pubsub.config import (
    GossipSubConfig,
    PeerScoreParams,
    PeerScoreThresholds,
    SignaturePolicy,
    TopicScoreParams,
    ValidationResult,
)
from libp2p.protocols.pubsub.core import PubsubRouter
from libp2p.protocols.pubsub.events import (
    ConnectRequested,
    Grafted,
    MessageReceived,
    PeerJoinedTopic,
    PeerLeftTopic,
    Pruned,
    PubsubEvent,
    ValidationRequested,
)
from libp2p.protocols.pubsub.service import FloodSub, GossipSub, MessageRejectedError, Subscription, Validator
from libp2p.protocols.pubsub.wire import (
    FLOODSUB_PROTOCOL_ID,
    GOSSIPSUB_PROTOCOLS,
    MESHSUB_V10,
    MESHSUB_V11,
    MESHSUB_V12,
    MESHSUB_V13,
    PubsubDecodeError,
    PubsubMessage,
    content_message_id,
    default_message_id,
)

__all__ = [
    "FLOODSUB_PROTOCOL_ID",
    "GOSSIPSUB_PROTOCOLS",
    "MESHSUB_V10",
    "MESHSUB_V11",
    "MESHSUB_V12",
    "MESHSUB_V13",
    "ConnectRequested",
    "FloodSub",
    "GossipSub",
    "GossipSubConfig",
    "Grafted",
    "MessageReceived",
    "MessageRejectedError",
    "PeerJoinedTopic",
    "PeerLeftTopic",
    "PeerScoreParams",
    "PeerScoreThresholds",
    "Pruned",
    "PubsubDecodeError",
    "PubsubEvent",
    "PubsubMessage",
    "PubsubRouter",
    "SignaturePolicy",
    "Subscription",
    "TopicScoreParams",
    "ValidationRequested",
    "ValidationResult",
    "Validator",
    "content_message_id",
    "default_message_id",
]
