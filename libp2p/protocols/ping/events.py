"""Events of the ping client core."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PingEvent", "PongReceived"]


@dataclass(frozen=True, slots=True)
class PingEvent:
    """Base of ping events."""


@dataclass(frozen=True, slots=True)
class PongReceived(PingEvent):
    """The outstanding ping came back; ``rtt`` in seconds."""

    rtt: float
