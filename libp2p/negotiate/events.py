"""Events of multistream-select negotiation."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NegotiationEvent", "ProtocolAgreed", "ProtocolRejected", "ProtocolsListed"]


@dataclass(frozen=True, slots=True)
class NegotiationEvent:
    """Base of every negotiation event."""


@dataclass(frozen=True, slots=True)
class ProtocolAgreed(NegotiationEvent):
    """Both sides selected ``protocol``. Bytes that followed the last negotiation message are in
    ``unused_data()`` of the negotiator: they belong to the selected protocol."""

    protocol: str


@dataclass(frozen=True, slots=True)
class ProtocolRejected(NegotiationEvent):
    """The listener refused every protocol the dialer proposed."""

    protocols: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ProtocolsListed(NegotiationEvent):
    """The listener's answer to ``ls``. ``refused`` is true when it answered ``na`` (go-multistream
    no longer implements ``ls``); ``protocols`` is then empty."""

    protocols: tuple[str, ...]
    refused: bool = False
