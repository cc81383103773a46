"""Events of the identify reader core."""

from __future__ import annotations

from dataclasses import dataclass

from libp2p.protocols.identify.wire import IdentifyInfo

__all__ = ["IdentifyEvent", "IdentifyReceived"]


@dataclass(frozen=True, slots=True)
class IdentifyEvent:
    """Base of identify events."""


@dataclass(frozen=True, slots=True)
class IdentifyReceived(IdentifyEvent):
    """The remote finished its Identify (the stream ended); ``info`` merges every message."""

    info: IdentifyInfo
