"""The DCUtR initiator's RTT/2 wait in the asyncio adapter: the dial happens when the sleep ends,
even if the loop's clock then reads a little before the timer (uvloop counts whole milliseconds).
Losing that dial left the responder punching alone; the netns hole-punch test failed ~1 in 4."""

from __future__ import annotations

import pytest

from libp2p.multiaddr import Multiaddr
from libp2p.protocols.dcutr import DcutrError, DialNow, HolePunchInitiator, HolePunchResponder
from libp2p.protocols.dcutr.service import dial_when_due
from libp2p.protocols.dcutr.wire import decode_holepunch
from libp2p.protocols.relay.core import MessageReader

A_ADDRS = (Multiaddr("/ip4/203.0.113.7/tcp/4001"),)


def answered_initiator(sent_at: float, answered_at: float) -> HolePunchInitiator:
    initiator = HolePunchInitiator((Multiaddr("/ip4/198.51.100.2/tcp/4001"),))
    responder = HolePunchResponder(A_ADDRS)
    initiator.start(sent_at)
    reader = MessageReader(4096)
    assert reader.receive_data(initiator.data_to_send()) and reader.message is not None
    responder.receive_message(decode_holepunch(reader.message), sent_at)
    reader = MessageReader(4096)
    assert reader.receive_data(responder.data_to_send()) and reader.message is not None
    initiator.receive_message(decode_holepunch(reader.message), answered_at)
    return initiator


async def test_dial_when_the_clock_reads_just_before_the_timer() -> None:
    initiator = answered_initiator(100.0, 100.010)  # timer at 100.015
    event = await dial_when_due(initiator, lambda: 100.0149)  # the sleep woke "early"
    assert isinstance(event, DialNow) and event.addrs == A_ADDRS


async def test_no_timer_is_a_typed_error() -> None:
    initiator = HolePunchInitiator(())
    with pytest.raises(DcutrError):
        await dial_when_due(initiator, lambda: 0.0)
