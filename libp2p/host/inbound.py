"""An inbound connection's upgrade, driven from the connection's data callbacks.

The listener's side of the upgrade needs no coroutine in the common case: the multistream
round for the security protocol and the Noise responder are one sans-IO core
(``InboundHandshake``, a twin: in C when compiled), so the bytes are fed to it as they arrive
(``RawConnection.set_receiver``), what it answers is written at once, and when Noise completes
with the muxer chosen inside the handshake (go, rust, js and we offer it) the connection is
built and handed to the swarm in the same callback. No task, no future, no
``asyncio.timeout``: one timer bounds the whole upgrade. Per connection that saves the task,
the six coroutine levels resumed per received segment and the read futures.

Whatever this path does not cover continues on the coroutine path of ``Upgrader`` from the
state reached, with the same behaviour: a security protocol without a sans-IO responder here
(TLS), or a dialer that did not choose a muxer inside the handshake (a second multistream round
over the secure channel). The same timer still bounds it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final, Protocol

from libp2p._accel import NOISE_PROTOCOL_ID
from libp2p.errors import DecodeError, Libp2pError
from libp2p.negotiate.core import MultistreamListener
from libp2p.negotiate.errors import DataAfterRefusalError
from libp2p.negotiate.service import _EOFError
from libp2p.security.noise.errors import HandshakeError, HandshakeTimeoutError
from libp2p.security.noise.service import NoiseSession, session_of
from libp2p.transport.connection import ConnectionClosedError

if TYPE_CHECKING:
    from libp2p._pure.noise_inbound import InboundHandshake
    from libp2p.abc import SecureSession
    from libp2p.driver import DeadlineSlot
    from libp2p.host.upgrader import Upgrader
    from libp2p.muxer.connection import MuxedConnection
    from libp2p.resources import ConnectionScope
    from libp2p.security.noise.core import NoiseHandshake
    from libp2p.transport.connection import RawConnection

__all__ = ["InboundOwner", "InboundUpgrade"]

log = logging.getLogger("libp2p.host.upgrader")

# States of an inbound upgrade.
_NEGOTIATING: Final = 0  # multistream-select for the security protocol
_NOISE: Final = 1  # the Noise XX handshake, as responder
_COROUTINE: Final = 2  # continued by the upgrader's coroutines in a task
_OVER: Final = 3  # handed to the swarm, failed, or dropped


class InboundOwner(Protocol):
    """What an inbound upgrade reports to (the swarm)."""

    def inbound_upgraded(self, upgrade: InboundUpgrade, conn: MuxedConnection) -> None:
        """``conn`` (not started) is ready for the connection table."""

    def inbound_failed(self, upgrade: InboundUpgrade, exc: BaseException) -> None:
        """The upgrade ended with ``exc`` (a typed error, a timeout, or cancellation): drop it."""

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[Any]:
        """Run the rest of an upgrade that needs coroutines, as a task the host cancels on close."""


class InboundUpgrade:
    """One inbound connection from its first byte until it is secured and multiplexed.

    Made by ``Upgrader.inbound``; ``start`` takes the connection's input. Ends in exactly one
    report to the owner: ``inbound_upgraded`` or ``inbound_failed``, unless ``cancel`` ended it
    first (the owner dropped it).
    """

    __slots__ = ("raw", "scope", "task", "_core", "_deadline", "_hs", "_listener", "_loop", "_owner", "_state",
                 "_slot", "_slot_is_noise", "_upgrader")

    _slot: DeadlineSlot[InboundUpgrade] | None  # the deadline slot this upgrade waits in

    def __init__(
        self, upgrader: Upgrader, raw: RawConnection, scope: ConnectionScope | None, owner: InboundOwner
    ) -> None:
        self.raw = raw
        self.scope = scope
        #: the task that runs the coroutine part, when one is needed
        self.task: asyncio.Task[Any] | None = None
        self._upgrader = upgrader
        self._owner = owner
        self._listener: MultistreamListener | None = None  # made when the first segment is not the usual one
        self._hs: NoiseHandshake | None = None
        # multistream and Noise in one core, when the host offers Noise; else the cores above
        template = upgrader._inbound_core
        self._core: InboundHandshake | None = template.fresh() if template is not None else None
        self._state = _NEGOTIATING
        self._slot = None
        self._slot_is_noise = False
        self._deadline = 0.0
        loop = upgrader._loop  # the attribute once known: no property call
        self._loop = loop if loop is not None else upgrader.loop

    def start(self) -> None:
        """Arm the upgrade's deadline and take the connection's bytes (and its end) from here on."""
        upgrader = self._upgrader
        self._deadline = self._loop.time() + upgrader.timeout
        deadlines = upgrader._deadlines  # (Deadlines has a __len__: no truth test)
        if deadlines is None:
            deadlines = upgrader.deadlines
        self._slot = deadlines.add(self, self._deadline)
        self.raw.set_receiver(self._on_data if self._core is None else self._on_core_data, self._on_eof, self._on_lost)

    def cancel(self) -> None:
        """The owner dropped this upgrade (evicted, timed out, failed): stop everything, report nothing."""
        self._state = _OVER
        slot = self._slot
        if slot is not None:
            self._slot = None
            slot.discard(self)
        task = self.task
        if task is not None:
            self.task = None
            task.cancel()

    # --- input ------------------------------------------------------------------------------

    def _on_core_data(self, data: memoryview) -> None:
        """Input while the inbound core negotiates the security protocol and runs Noise."""
        raw = self.raw
        raw.last_activity = self._loop.time()
        core = self._core
        if core is None or self._state > _NOISE:
            return
        try:
            out = core.receive_data(data)
            if out:
                raw.write(out)  # the multistream answers, and message 2 once message 1 came
            if core.complete:
                self._secured(NoiseSession(core, *core.transport()))
            elif self._state == _NEGOTIATING and (chosen := core.protocol) is not None and (
                    chosen != NOISE_PROTOCOL_ID or self._upgrader._noise_timeout is not None):
                self._agreed(core, chosen)  # Noise goes on in the core, unless a timeout is to be armed
        except DataAfterRefusalError as exc:
            raw.write_later(core.data_to_send())  # the refusal goes out when the connection is dropped
            self._fail(exc)
        except Exception as exc:  # noqa: BLE001 - reported, typed errors and bugs alike
            self._fail(exc)

    def _agreed(self, core: InboundHandshake, chosen: str) -> None:
        """The core agreed on ``chosen``; Noise goes on in it, anything else as without the core."""
        if chosen == NOISE_PROTOCOL_ID:
            self._state = _NOISE
            timeout = self._upgrader._noise_timeout  # a configured NoiseConfig.handshake_timeout
            if timeout is not None and self._loop.time() + timeout < self._deadline:
                self._rearm(self._loop.time() + timeout, noise=True)
            return
        self._core = None
        self.raw.set_receiver(self._on_data, self._on_eof, self._on_lost)
        leftover = self._secure(chosen, core.unused_data())
        hs = self._hs
        if hs is not None and leftover:
            self._drive(hs, leftover)

    def _on_data(self, data: memoryview) -> None:
        raw = self.raw
        raw.last_activity = self._loop.time()
        try:
            hs = self._hs
            if hs is None:
                if self._state != _NEGOTIATING:
                    return
                leftover = self._negotiate(data)
                hs = self._hs
                if hs is None or not leftover:
                    return
                self._drive(hs, leftover)
            elif self._state == _NOISE:
                self._drive(hs, data)
        except Exception as exc:  # noqa: BLE001 - reported, typed errors and bugs alike
            self._fail(exc)

    def _drive(self, hs: NoiseHandshake, data: bytes | memoryview) -> None:
        hs.receive_data(data)
        out = hs.data_to_send()
        if out:
            self.raw.write(out)  # message 2, behind the multistream answer held back for it
        if hs.complete:
            self._secured(session_of(hs))
        elif not out:
            self.raw.flush_later()  # the dialer may wait for the answer before its message 1

    def _negotiate(self, data: memoryview) -> bytes | memoryview:
        """Feed the multistream negotiation; once it agreed, start the security handshake and
        return the bytes that followed the proposal (the handshake's first)."""
        raw = self.raw
        listener = self._listener
        if listener is None:
            # The usual first segment: the header and one proposal we take (an optimistic dialer's
            # message 1 behind them). Our answer is the same bytes, as the listener core's would be.
            for flight, proposal in self._upgrader._security_flights:
                if data[: len(flight)] == flight:
                    raw.write_later(flight)
                    return self._secure(proposal, data[len(flight):])
            listener = self._listener = MultistreamListener(
                self._upgrader._security_accepts, listed=self._upgrader._security_listed)
        try:
            listener.receive_data(data)
        except DecodeError:
            if not listener.refused:
                raise
            # An optimistic dialer's data after a proposal we refused: the refusal goes out
            # first (when the connection is dropped), so it learns "not supported".
            raw.write_later(listener.data_to_send())
            raise DataAfterRefusalError("data followed a refused proposal") from None
        # The answer goes out with the handshake's message 2, or before we wait for the dialer.
        raw.write_later(listener.data_to_send())
        chosen = listener.protocol
        if chosen is None:
            raw.flush_later()
            return b""
        return self._secure(chosen, listener.unused_data())

    def _secure(self, chosen: str, leftover: bytes | memoryview) -> bytes | memoryview:
        """``chosen`` was agreed: start its handshake; returns ``leftover`` when it is Noise's to take."""
        raw = self.raw
        upgrader = self._upgrader
        responder = getattr(upgrader.security_options[chosen], "responder", None)
        if responder is None:  # no sans-IO responder here (TLS): the coroutine path secures it
            raw.clear_receiver()
            raw.unread(bytes(leftover))
            self._continue_in_task(upgrader._secure_and_multiplex(raw, chosen, None, self.scope))
            return b""
        hs = self._hs = responder(upgrader.identity_key, upgrader.muxers, self._loop.time())
        self._state = _NOISE
        noise_deadline = hs.get_timer()  # a configured NoiseConfig.handshake_timeout
        if noise_deadline is not None and noise_deadline < self._deadline:
            self._rearm(noise_deadline, noise=True)
        if not leftover:
            raw.flush_later()
        return leftover

    def _secured(self, secure: SecureSession) -> None:
        if self._slot_is_noise:
            self._rearm(self._deadline, noise=False)
        muxer = secure.early_muxer
        if muxer is None:  # the dialer offered no muxer in the handshake: multistream over Noise
            self.raw.clear_receiver()
            self._continue_in_task(self._upgrader._multiplex(self.raw, secure, self.scope))
            return
        conn = self._upgrader.multiplexed(self.raw, secure, muxer, b"".join(secure.pending_plaintext), self.scope)
        self._core = None
        self._done(conn)

    def _on_eof(self) -> None:
        self._fail(self._closed_error())

    def _on_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self._fail(ConnectionClosedError(f"connection lost: {exc}"))
        else:
            self._fail(self._closed_error())

    def _closed_error(self) -> Exception:
        # What the coroutine path raises when its read returns the end of the stream.
        core = self._core
        if self._hs is None and (core is None or core.protocol is None):
            return _EOFError("connection closed during protocol negotiation")
        return HandshakeError("connection closed during the Noise handshake")

    # --- time ---------------------------------------------------------------------------------

    def _rearm(self, when: float, *, noise: bool) -> None:
        if self._slot is not None:
            self._slot.discard(self)
        self._slot = self._upgrader.deadlines.add(self, when)
        self._slot_is_noise = noise

    def _on_timer(self) -> None:
        """Its deadline passed (the upgrader's ``Deadlines`` calls this)."""
        self._slot = None
        if self._state == _OVER:
            return
        hs = self._hs
        if self._slot_is_noise and hs is None and self._core is not None:
            self._fail(HandshakeTimeoutError(
                f"Noise handshake did not complete within {self._upgrader._noise_timeout} s"))
            return
        if self._slot_is_noise and hs is not None:
            noise_deadline = hs.get_timer()
            if noise_deadline is not None:
                try:
                    hs.handle_timer(noise_deadline)  # raises the handshake's own timeout error
                except Exception as exc:  # noqa: BLE001 - HandshakeTimeoutError
                    self._fail(exc)
                    return
        from libp2p.host.upgrader import UpgradeError

        self._fail(UpgradeError(f"connection upgrade timed out after {self._upgrader.timeout} s"))

    # --- the coroutine part -------------------------------------------------------------------

    def _continue_in_task(self, coro: Coroutine[Any, Any, MuxedConnection]) -> None:
        self._state = _COROUTINE
        self.task = self._owner.spawn(self._run(coro), "inbound upgrade")

    async def _run(self, coro: Coroutine[Any, Any, MuxedConnection]) -> None:
        try:
            conn = await coro
        except BaseException as exc:
            self.task = None  # ending: whoever drops this upgrade has no task to cancel
            self._fail(exc)
            if not isinstance(exc, (Libp2pError, OSError, EOFError)):
                raise
            return
        self.task = None
        self._done(conn)

    # --- the end --------------------------------------------------------------------------------

    def _done(self, conn: MuxedConnection) -> None:
        if self._state == _OVER:
            return
        self._state = _OVER
        slot = self._slot
        if slot is not None:
            self._slot = None
            slot.discard(self)
        try:
            self._owner.inbound_upgraded(self, conn)
        except Exception as exc:  # noqa: BLE001 - a bug: never leave the socket open
            log.error("inbound connection from %s failed unexpectedly", self.raw.remote_addr, exc_info=exc)
            self.raw.abort()

    def _fail(self, exc: BaseException) -> None:
        if self._state == _OVER:
            return
        self._owner.inbound_failed(self, exc)
        self.cancel()  # also when the owner no longer held it
