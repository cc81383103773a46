"""DCUtR as a host service: after a relayed connection, punch a direct one (TCP simultaneous open).

When a relayed connection arrives (we are the spec's B, the peer behind NAT that was reached
through a relay), we run the initiator core over ``/libp2p/dcutr`` on it and dial the other
side's addresses from our TCP listen port RTT/2 after SYNC; the other side (the responder,
the spec's A) dials ours when SYNC arrives. Above TCP the responder is the client (security and
muxer initiator) and we are the server, whoever's SYN got through, so a connection that is the
result of a simultaneous open is upgraded in those roles (``host.adopt_connection``). Up to
three attempts, as the spec says; the first direct connection wins, and the host then prefers
it to the relayed one, which it closes once idle.

Hole punching needs the TCP transport to listen and dial on the same port
(``TcpConfig(reuse_port=True)``): NATs then map our connection to the relay, and our punch,
to the port the relay observed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from libp2p.errors import DecodeError, Libp2pError, UnexpectedEOFError
from libp2p.host.events import ConnectionOpened
from libp2p.host.host import is_limited
from libp2p.host.service import Service
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.dcutr.core import HolePunchInitiator, HolePunchResponder, punchable_addrs
from libp2p.protocols.dcutr.events import DialNow, HolePunchFailed, HolePunchSucceeded
from libp2p.protocols.dcutr.wire import MAX_MESSAGE_SIZE, PROTOCOL_ID, DcutrDecodeError, HolePunch, decode_holepunch
from libp2p.protocols.identify.service import IdentifyService
from libp2p.protocols.relay.core import MessageReader
from libp2p.transport.circuit import CircuitTransport, is_circuit_addr

if TYPE_CHECKING:
    from libp2p.abc import Connection, Stream
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId

__all__ = ["DcutrService", "DcutrConfig", "DcutrError"]

log = logging.getLogger("libp2p.protocols.dcutr")


class DcutrError(Libp2pError):
    """A hole punch attempt that went wrong on our side of the protocol."""


@dataclass(frozen=True, slots=True)
class DcutrConfig:
    """go-libp2p's holepunch defaults where it has one."""

    attempts: int = 3
    stream_timeout: float = 60.0
    # One simultaneous open: TCP connect (SYN retransmits included) and the upgrade.
    punch_timeout: float = 15.0
    # Between attempts (fresh CONNECT/SYNC each time).
    retry_delay: float = 1.0
    # Waiting for identify on the relayed connection, and the plain dial to what it announced.
    identify_timeout: float = 5.0


def _relayed(conn: Connection) -> bool:
    remote = conn.remote_addr
    return is_limited(conn) or (remote is not None and is_circuit_addr(remote))


async def _read(stream: Stream, timeout: float) -> HolePunch:
    reader = MessageReader(MAX_MESSAGE_SIZE)
    async with asyncio.timeout(timeout):
        while True:
            data = await stream.read(reader.wanted())
            if not data:
                raise UnexpectedEOFError("the DCUtR stream ended")
            try:
                if reader.receive_data(data):
                    break
            except DecodeError as exc:
                raise DcutrDecodeError(str(exc)) from None
    assert reader.message is not None
    return decode_holepunch(reader.message)


async def dial_when_due(core: HolePunchInitiator, clock: Callable[[], float]) -> DialNow:
    """Wait out the initiator's RTT/2 timer and return its ``DialNow``."""
    timer = core.get_timer()
    if timer is None:
        raise DcutrError("the initiator set no dial timer after the responder's CONNECT")
    await asyncio.sleep(max(0.0, timer - clock()))
    # The sleep has run the timer out even when the clock reads a little before it (uvloop's
    # loop clock counts whole milliseconds): the dial must not be lost.
    core.handle_timer(max(clock(), timer))
    event = core.next_event()
    if not isinstance(event, DialNow):
        raise DcutrError(f"no dial after SYNC ({event!r})")
    return event


class DcutrService(Service):
    """``/libp2p/dcutr`` on both sides: when a peer reaches us through a relay, dial what it
    announced, then coordinate a TCP simultaneous open with it (``HolePunchSucceeded`` or
    ``HolePunchFailed`` on ``host.events``). Needs ``TcpConfig(reuse_port=True)`` to punch."""

    name = "dcutr"

    def __init__(self, config: DcutrConfig | None = None) -> None:
        super().__init__()
        self.config = config or DcutrConfig()
        self._unsubscribe: list[Callable[[], None]] = []
        self._punching: set[PeerId] = set()
        #: outcomes: "direct" (a punch worked), "failed"
        self.results: dict[str, int] = {}

    @property
    def protocols(self) -> tuple[str, ...]:
        return (PROTOCOL_ID,)

    async def start(self, host: Host) -> None:
        await super().start(host)
        host.set_stream_handler(PROTOCOL_ID, self._handle, allow_limited=True)
        self._unsubscribe = [host.events.subscribe(ConnectionOpened, self._opened)]

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    # --- what we offer --------------------------------------------------------------------------

    def our_addrs(self) -> tuple[Multiaddr, ...]:
        """Our punchable addresses: what we announce, and what peers observed us at (identify;
        with port reuse that is our NAT's mapping of the listen port)."""
        candidates = list(self.host.addrs)
        identify = self.host.service(IdentifyService)
        if identify is not None:
            candidates += list(identify.observed_addrs.values())
        return punchable_addrs(candidates)

    def _direct(self, peer: PeerId) -> Connection | None:
        return next((c for c in self.host.connections(peer) if not c.is_closed and not _relayed(c)), None)

    # --- the initiator (we were reached through a relay) ---------------------------------------

    def _opened(self, event: ConnectionOpened) -> None:
        conn = event.connection
        peer = conn.remote_peer_id
        if _relayed(conn) and not conn.is_initiator and peer not in self._punching and self._direct(peer) is None:
            self._punching.add(peer)
            self.host.spawn(self._initiate(conn), f"dcutr {peer}")

    async def _initiate(self, conn: Connection) -> None:
        peer = conn.remote_peer_id
        # The spec's plain dial to the addresses the peer announced (it works when the peer is public
        # after all) runs beside the hole punch rather than before it: behind a NAT that drops
        # unsolicited SYNs it ends only at its timeout, and waiting it out delayed every punch to a
        # NATed peer that announces its mapping by identify_timeout. It dials from an ephemeral
        # port, the punch from the listen port, so the two never share a 4-tuple.
        plain = asyncio.ensure_future(self._dial_announced(peer))
        punch = asyncio.ensure_future(self._punch_attempts(conn))
        reason = "no attempt"
        try:
            pending: set[asyncio.Future[Any]] = {plain, punch}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                reversal = plain.result() if plain in done and plain.exception() is None else None
                if reversal is not None:
                    self.results["direct"] = self.results.get("direct", 0) + 1
                    self.host.events.emit(HolePunchSucceeded(peer, reversal, 0))
                    return
                if punch in done:
                    outcome = punch.result()
                    if isinstance(outcome, tuple):
                        addr, attempt = outcome
                        self.results["direct"] = self.results.get("direct", 0) + 1
                        log.info("hole punch to %s: direct connection at %s (attempt %d)", peer, addr, attempt)
                        self.host.events.emit(HolePunchSucceeded(peer, addr, attempt))
                        return
                    reason = outcome
            if plain.exception() is not None:
                log.info("plain dial to %s: %r", peer, plain.exception())
            self.results["failed"] = self.results.get("failed", 0) + 1
            log.info("hole punch to %s failed after %d attempts: %s", peer, self.config.attempts, reason)
            self.host.events.emit(HolePunchFailed(peer, self.config.attempts, reason))
        finally:
            for task in (plain, punch):
                task.cancel()
            await asyncio.gather(plain, punch, return_exceptions=True)
            self._punching.discard(peer)

    async def _punch_attempts(self, conn: Connection) -> tuple[Multiaddr, int] | str:
        """Up to ``attempts`` CONNECT/SYNC rounds: the direct address and attempt that got a direct
        connection, or why none did."""
        peer = conn.remote_peer_id
        reason = "no attempt"
        for attempt in range(1, self.config.attempts + 1):
            if conn.is_closed:
                return "the relayed connection closed"
            try:
                winner = await self._attempt(conn)
            except (Libp2pError, OSError, EOFError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                log.info("hole punch to %s, attempt %d: %s", peer, attempt, reason)
                winner = None
            direct = self._direct(peer)
            if direct is not None:
                return winner or direct.remote_addr or Multiaddr("/p2p-circuit"), attempt
            await asyncio.sleep(self.config.retry_delay)
        return reason

    async def _dial_announced(self, peer: PeerId) -> Multiaddr | None:
        identify = self.host.service(IdentifyService)
        if identify is not None:
            try:
                await identify.identify(peer, timeout=self.config.identify_timeout)
            except (Libp2pError, OSError, EOFError, TimeoutError):
                return None
        addrs = punchable_addrs(self.host.peerstore.addrs(peer))
        if not addrs:
            return None
        return await self._punch(peer, addrs, client=True, from_listen_port=False,
                                 timeout=self.config.identify_timeout)

    async def _attempt(self, conn: Connection) -> Multiaddr | None:
        loop = asyncio.get_running_loop()
        core = HolePunchInitiator(self.our_addrs())
        stream = await self.host.open_stream_on(conn, [PROTOCOL_ID], allow_limited=True)
        try:
            core.start(loop.time())
            await stream.write(core.data_to_send())
            core.receive_message(await _read(stream, self.config.stream_timeout), loop.time())
            await stream.write(core.data_to_send())
            event = await dial_when_due(core, loop.time)
        except BaseException:
            await stream.reset()
            raise
        await stream.close()
        return await self._punch(conn.remote_peer_id, event.addrs, client=False)

    # --- the responder (we dialed through the relay) --------------------------------------------

    async def _handle(self, stream: Stream) -> None:
        if not _relayed(stream.conn):
            await stream.reset()  # only a relayed connection needs upgrading
            return
        loop = asyncio.get_running_loop()
        core = HolePunchResponder(self.our_addrs())
        try:
            core.receive_message(await _read(stream, self.config.stream_timeout), loop.time())
            await stream.write(core.data_to_send())
            core.receive_message(await _read(stream, self.config.stream_timeout), loop.time())
        except DcutrDecodeError as exc:
            log.warning("bad DCUtR message from %s: %s", stream.remote_peer_id, exc)
            await stream.reset()
            return
        event = core.next_event()
        if isinstance(event, DialNow):
            # The dial goes on without the stream: the initiator has closed it by now.
            self.host.spawn(self._punch(stream.remote_peer_id, event.addrs, client=True), "dcutr punch")

    # --- the simultaneous open ------------------------------------------------------------------

    async def _punch(
        self, peer: PeerId, addrs: tuple[Multiaddr, ...], *, client: bool, from_listen_port: bool = True,
        timeout: float | None = None,
    ) -> Multiaddr | None:
        """Dial every address from our listen port at once; the first connection that upgrades
        (as client or server, as DCUtR decides) wins and the others are cancelled."""
        transports = [t for t in self.host.transports if not t.upgraded and not isinstance(t, CircuitTransport)]

        async def one(addr: Multiaddr) -> Multiaddr:
            transport: Any = next((t for t in transports if t.can_dial(addr)), None)
            if transport is None:
                raise Libp2pError(f"no transport for {addr}")
            # the punch dials from the listen port; the plain dial before it from another port, or a
            # dial still pending (dropped by the peer's NAT) would hold the 4-tuple the punch needs
            dial = getattr(transport, "dial_from_listen_port" if from_listen_port else "dial_from_ephemeral_port", None)
            raw = await (dial(addr, limit) if dial is not None else transport.dial(addr, limit, peer_id=peer))
            raw.is_initiator = client
            await self.host.adopt_connection(raw, peer)
            return addr

        limit = timeout if timeout is not None else self.config.punch_timeout
        tasks = [asyncio.ensure_future(one(a)) for a in addrs]
        if not tasks:
            return None
        try:
            async with asyncio.timeout(limit):
                for next_done in asyncio.as_completed(tasks):
                    try:
                        return await next_done
                    except (Libp2pError, OSError, EOFError) as exc:
                        log.debug("punch to %s: %s", peer, exc)
        except TimeoutError:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return None
