"""identify and identify/push: tell peers who we are, learn who they are.

On every new connection we ask the peer (``/ipfs/id/1.0.0``) and answer its questions; when our
protocols or listen addresses change we push (``/ipfs/id/push/1.0.0``) to every connected peer.
Each applied Identify is announced on the host's event stream (``PeerIdentified``, and
``PeerProtocolsUpdated`` when the peer's protocols changed). What we keep per connection (the
result, the observed address) is dropped when the connection closes.
Each Identify we send carries a signed peer record; each one we receive is checked against the
connection's authenticated key, and its record's signature is verified before its addresses
are used.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import TYPE_CHECKING

from libp2p._accel import varint_encode
from libp2p.driver import DeadlineSlot, Deadlines, read_into
from libp2p.errors import Libp2pError, UnexpectedEOFError
from libp2p.host.events import (
    ConnectionClosed,
    ConnectionOpened,
    LocalAddressesUpdated,
    LocalProtocolsUpdated,
    PeerProtocolsUpdated,
)
from libp2p.host.service import Service
from libp2p.identity.peer_record import PeerRecord, consume_peer_record
from libp2p.negotiate.core import MultistreamDialer
from libp2p.negotiate.service import finish_select, select_protocol
from libp2p.peerstore import ADDRESS_TTL, CONNECTED_ADDR_TTL
from libp2p.protocols.identify.core import IdentifyReader
from libp2p.protocols.identify.events import IdentifyReceived, PeerIdentified
from libp2p.protocols.identify.wire import (
    PROTOCOL_ID,
    PUSH_PROTOCOL_ID,
    TIMEOUT,
    IdentifyInfo,
    IdentifyMismatchError,
    encode_identify,
    encode_observed_addr,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from libp2p.abc import Connection, Stream
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr

__all__ = ["IdentifyService"]

log = logging.getLogger("libp2p.protocols.identify")

# Changes are pushed after this quiet period, so a burst of handler registrations is one push.
_PUSH_DELAY = 0.05


def _request() -> MultistreamDialer:
    """The dialer of an identify request (not optimistic: the answer is awaited)."""
    return MultistreamDialer([PROTOCOL_ID], optimistic=False)


# Its first flight (header and proposal), the same on every connection.
_REQUEST = _request().data_to_send()


class _Attempt:
    """One identify of one connection, from the request to its result. While the request waits
    for the peer's first bytes on a stream that says when they come (``when_readable``), no task
    runs for it: a connection that closes before its peer answers (a scanner, a failed dial) then
    costs no task at all."""

    __slots__ = ("conn", "stream", "dialer", "requested", "unsent", "task", "timed_out", "finished", "waiters",
                 "deadline_slot")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.stream: Stream | None = None
        self.dialer: MultistreamDialer | None = None  # reads the answer (made once one comes)
        # the first flight went out without its dialer (``_ask``): the task makes one if the peer answers
        self.requested = False
        self.unsent = b""  # what of that flight the stream did not take at once
        self.task: asyncio.Task[IdentifyInfo | Exception] | None = None
        self.timed_out = False
        self.finished = False
        self.waiters: list[asyncio.Future[IdentifyInfo | Exception]] | None = None  # identify() callers
        self.deadline_slot: DeadlineSlot[_Attempt] | None = None  # where it waits for TIMEOUT

    def wait(self) -> asyncio.Future[IdentifyInfo | Exception]:
        waiter: asyncio.Future[IdentifyInfo | Exception] = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append(waiter)
        return waiter


class IdentifyService(Service):
    """identify and identify/push; a default service of every host (``host.services["identify"]``)."""

    name = "identify"

    def __init__(self) -> None:
        super().__init__()
        self._record: bytes | None = None
        # Our Identify without the observed address, encoded once; dropped when our addresses or
        # protocols change. Each answer appends the asking connection's observed address.
        self._encoded: bytes | None = None
        self._prepare_handle: asyncio.Handle | None = None
        # Per open connection: its identify while it runs, then what it ended with (the Identify,
        # or the error ``identify()`` raises).
        self._results: dict[Connection, _Attempt | IdentifyInfo | Exception] = {}
        # The running identifies' deadlines: a timer per slot of TIMEOUT / 20, not per identify
        # (made with the loop, in ``start``).
        self._deadlines: Deadlines[_Attempt] | None = None
        self._push_handle: asyncio.TimerHandle | None = None
        #: the address each connected peer says it sees us at (kept while it is connected)
        self.observed_addrs: dict[PeerId, Multiaddr] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the host's, from ``start``

    @property
    def protocols(self) -> tuple[str, ...]:
        """Identify and identify-push."""
        return (PROTOCOL_ID, PUSH_PROTOCOL_ID)

    async def start(self, host: Host) -> None:
        await super().start(host)
        # kept: CPython 3.11's get_running_loop() costs a getpid(), once per connection otherwise
        self._loop = asyncio.get_running_loop()
        if self._deadlines is None:
            self._deadlines = Deadlines(self._timed_out, TIMEOUT / 20, self._loop)
        # Runs on limited (relayed) connections too, as go's and js's identify do.
        host.set_stream_handler(PROTOCOL_ID, self._handle_request, allow_limited=True)
        host.set_stream_handler(PUSH_PROTOCOL_ID, self._handle_push, allow_limited=True)
        events = host.events
        self._unsubscribe = [
            events.subscribe(ConnectionOpened, self._on_opened),
            events.subscribe(ConnectionClosed, self._on_closed),
            events.subscribe(LocalProtocolsUpdated, lambda e: self._protocols_changed()),
            events.subscribe(LocalAddressesUpdated, lambda e: self._addrs_changed()),
        ]
        for conn in host.connections():
            self._connected(conn)
        self._prepare_answer()

    async def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        if self._prepare_handle is not None:
            self._prepare_handle.cancel()
            self._prepare_handle = None
        if self._push_handle is not None:
            self._push_handle.cancel()
            self._push_handle = None
        attempts = dict.fromkeys(a for a in self._results.values() if isinstance(a, _Attempt))
        if self._deadlines is not None:
            attempts.update(dict.fromkeys(self._deadlines.clear()))
        for attempt in attempts:
            if attempt.task is not None:
                attempt.task.cancel()
            else:
                self._abandon(attempt)
                if attempt.stream is not None:
                    self.host.spawn(attempt.stream.reset(), "identify stopped")
        self._results.clear()

    # --- what we say about ourselves -----------------------------------------------------------

    def _signed_record(self) -> bytes:
        if self._record is None:
            record = PeerRecord.new(self.host.peer_id, self.host.addrs)
            self._record = record.seal(self.host.key).marshal()
        return self._record

    def local_info(self, conn: Connection | None) -> IdentifyInfo:
        """What we tell peers about ourselves: keys, addresses, protocols, agent."""
        return IdentifyInfo(
            public_key=self.host.key.public_key,
            listen_addrs=self.host.addrs,
            protocols=sorted(self.host.protocols),
            observed_addr=conn.remote_addr if conn is not None else None,
            protocol_version=self.host.config.protocol_version,
            agent_version=self.host.config.agent_version,
            signed_peer_record=self._signed_record(),
        )

    def _answer(self, conn: Connection) -> bytes:
        """The framed Identify for ``conn``: ``local_info(conn)`` encoded, from the cached part."""
        if type(self).local_info is not IdentifyService.local_info:  # a subclass decides per connection
            own = encode_identify(self.local_info(conn))
            return varint_encode(len(own)) + own
        body = self._encoded
        if body is None:
            body = self._encoded = encode_identify(self.local_info(None))
        if conn.remote_addr is not None:
            body += encode_observed_addr(conn.remote_addr)
        return varint_encode(len(body)) + body

    async def _handle_request(self, stream: Stream) -> None:
        # The answer and the FIN leave in one send (the FIN joins the flush write_soon scheduled).
        write = stream.write_soon
        await write(self._answer(stream.conn))
        await stream.close()

    # --- what we learn ----------------------------------------------------------------------------

    async def _read_info(self, stream: Stream, timeout: float | None = TIMEOUT) -> IdentifyInfo:
        """One Identify message from ``stream`` (``timeout=None``: the caller's deadline bounds it)."""
        reader = IdentifyReader()
        if timeout is None:
            await read_into(stream, reader)
        else:
            async with asyncio.timeout(timeout):
                await read_into(stream, reader)
        event = reader.next_event()
        assert isinstance(event, IdentifyReceived)
        return event.info

    def _apply(self, conn: Connection, info: IdentifyInfo, *, push: bool) -> None:
        peer = conn.remote_peer_id
        store = self.host.peerstore
        if info.public_key is not None and not peer.matches_public_key(info.public_key):
            raise IdentifyMismatchError(f"Identify from {peer} carries another peer's key")
        if info.signed_peer_record is not None:
            try:
                # legacy: rust-libp2p's identify signs records in RFC 0003's old format
                envelope, record = consume_peer_record(info.signed_peer_record, legacy=True)
            except Libp2pError as exc:
                log.warning("invalid signed peer record from %s: %s", peer, exc)
                info.signed_peer_record = None
            else:
                if record.peer_id != peer:
                    log.warning("%s sent a peer record of %s; ignored", peer, record.peer_id)
                    info.signed_peer_record = None
                else:
                    info.certified_addrs = list(record.addrs)
                    store.consume_peer_record(peer, record.seq, info.signed_peer_record, record.addrs, ADDRESS_TTL)
        if info.certified_addrs is None and info.listen_addrs is not None:
            store.add_addrs(peer, info.listen_addrs, CONNECTED_ADDR_TTL)
        before = set(store.protocols(peer))
        if info.protocols is not None:
            store.set_protocols(peer, info.protocols)
        elif not push:
            store.set_protocols(peer, [])
        if info.agent_version is not None or info.protocol_version is not None:
            store.set_agent(peer, info.agent_version, info.protocol_version)
        if info.observed_addr is not None and not conn.is_closed:
            self.observed_addrs[peer] = info.observed_addr
            self.host.record_observed_addr(conn, info.observed_addr)
        after = set(store.protocols(peer))
        events = self.host.events
        if after != before:
            events.emit(PeerProtocolsUpdated(peer, frozenset(after - before), frozenset(before - after)))
        events.emit(PeerIdentified(peer, info, conn, push))

    async def _handle_push(self, stream: Stream) -> None:
        info = await self._read_info(stream)
        self._apply(stream.conn, info, push=True)

    # --- running it --------------------------------------------------------------------------------

    def _on_opened(self, event: ConnectionOpened) -> None:
        conn = event.connection
        if conn not in self._results:
            self._start(conn)

    def _connected(self, conn: Connection) -> None:
        """Identify every new connection in the background."""
        if conn not in self._results:
            self._start(conn)

    def _start(self, conn: Connection) -> _Attempt:
        attempt = _Attempt(conn)
        if not conn.is_closed:
            self._results[conn] = attempt
        deadlines, loop = self._deadlines, self._loop
        if deadlines is None or loop is None:  # not started: identify() on a host not running it
            loop = self._loop = asyncio.get_running_loop()
            deadlines = self._deadlines = Deadlines(self._timed_out, TIMEOUT / 20, loop)
        attempt.deadline_slot = deadlines.add(attempt, loop.time() + TIMEOUT)
        if not self._ask(attempt):
            attempt.task = self.host.spawn(self._identify(attempt), "identify")  # no per-connection name
        return attempt

    def _ask(self, attempt: _Attempt) -> bool:
        """Open the stream and write the request now, and wait for the answer with no task (True);
        False: a task does the rest (a stream that cannot say when it is readable, a full send
        window, a connection already closed)."""
        try:
            stream = attempt.stream = attempt.conn.open_stream()
        except Exception:  # noqa: BLE001 - the task meets it again and keeps it as the result
            return False
        try:  # a muxed stream of ours has both (no getattr calls per connection)
            when_readable = stream.when_readable
            write_nowait = stream.write_nowait
        except AttributeError:
            return False
        request = _REQUEST
        try:
            # It leaves with what else this loop pass writes (on a new connection: the handshake's
            # last message, the application's first request).
            sent = write_nowait(request)
        except Exception:  # noqa: BLE001 - as above
            return False
        # The dialer that reads the answer is made when one comes (a peer that never answers
        # costs none).
        attempt.requested = True
        if sent < len(request):
            attempt.unsent = request[sent:]
            return False
        when_readable().add_done_callback(functools.partial(self._answered, attempt))
        return True

    def _answered(self, attempt: _Attempt, _: object) -> None:
        """The peer's first bytes (or the end of the stream) arrived: a task reads the rest."""
        if attempt.finished:  # timed out, or the service stopped
            return
        if attempt.conn.is_closed:
            # Closed before the peer said anything: its stream went with it; nothing to learn.
            self._finish(attempt, UnexpectedEOFError("the connection closed before the peer answered identify"))
            return
        attempt.task = self.host.spawn(self._identify(attempt), "identify")

    def _finish(self, attempt: _Attempt, result: IdentifyInfo | Exception) -> None:
        attempt.finished = True
        self._forget_deadline(attempt)
        conn = attempt.conn
        if self._results.get(conn) is attempt:
            self._results[conn] = result  # kept while the connection is open, for identify()
        waiters, attempt.waiters = attempt.waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(result)

    def _abandon(self, attempt: _Attempt) -> None:
        """Cancelled from outside (the host or the service stopping): nobody gets a result."""
        attempt.finished = True
        self._forget_deadline(attempt)
        if self._results.get(attempt.conn) is attempt:
            del self._results[attempt.conn]
        waiters, attempt.waiters = attempt.waiters, None
        for waiter in waiters or ():
            waiter.cancel()

    def _forget_deadline(self, attempt: _Attempt) -> None:
        slot = attempt.deadline_slot
        if slot is not None and self._deadlines is not None:
            attempt.deadline_slot = None
            self._deadlines.leave(attempt, slot)  # the last to leave a slot takes its timer: an idle host keeps none

    def _timed_out(self, attempt: _Attempt) -> None:
        """``attempt``'s TIMEOUT passed (``Deadlines`` calls this, up to TIMEOUT / 20 late)."""
        attempt.deadline_slot = None
        if attempt.finished:
            return
        if attempt.task is not None:
            if not attempt.task.done():
                attempt.timed_out = True
                attempt.task.cancel()
            return
        # The peer said nothing at all: give up and reset the stream.
        error = TimeoutError(f"identify with {attempt.conn.remote_peer_id} timed out after {TIMEOUT} s")
        log.debug("identify with %s failed: %r", attempt.conn.remote_peer_id, error)
        self._finish(attempt, error)
        if attempt.stream is not None:
            self.host.spawn(attempt.stream.reset(), "identify timeout")

    def _on_closed(self, event: ConnectionClosed) -> None:
        # A running identify ends by itself: closing the connection reset its stream.
        conn = event.connection
        self._results.pop(conn, None)
        # The peer's observed address goes with its last connection (checked here, not on
        # PeerDisconnected: a host then builds that event only for the subscribers it has).
        if self.observed_addrs:
            peer = conn.remote_peer_id
            if peer in self.observed_addrs and not self.host.connections(peer):
                del self.observed_addrs[peer]

    async def _identify(self, attempt: _Attempt) -> IdentifyInfo | Exception:
        """Ask ``attempt.conn``'s peer (or finish asking); returns its Identify, or the error."""
        conn = attempt.conn
        result: IdentifyInfo | Exception
        try:
            stream = attempt.stream
            if stream is None:
                stream = attempt.stream = conn.open_stream()
            try:
                # The request and our FIN leave with what else this loop pass writes (on a new
                # connection: the handshake's last message, the application's first request).
                # TIMEOUT bounds the whole exchange (``_timed_out``).
                dialer = attempt.dialer
                if dialer is None and attempt.requested:
                    dialer = attempt.dialer = _request()
                    dialer.data_to_send()  # its first flight, which ``_ask`` wrote
                if dialer is None:
                    stream.protocol = await select_protocol(
                        stream.read, stream.write_soon, stream.unread, [PROTOCOL_ID], timeout=None,
                    )
                else:  # the request went out already (``_ask``)
                    if attempt.unsent:
                        await stream.write(attempt.unsent)
                    stream.protocol = await finish_select(stream.read, stream.write_soon, stream.unread, dialer)
                await stream.close_soon()
                # The peer's Identify comes with the answer to the first request on a new
                # connection: let the streams woken in this loop pass (that request's reader)
                # run before the Identify is parsed, its record's signature checked and stored.
                await asyncio.sleep(0)
                info = await self._read_info(stream, timeout=None)
            except BaseException:
                await stream.reset()
                raise
            self._apply(conn, info, push=False)
            result = info
        except asyncio.CancelledError:
            task = attempt.task
            if not attempt.timed_out or task is None:
                self._abandon(attempt)
                raise
            task.uncancel()  # our own deadline, not a cancellation from outside
            result = TimeoutError(f"identify with {conn.remote_peer_id} timed out after {TIMEOUT} s")
            log.debug("identify with %s failed: %r", conn.remote_peer_id, result)
        except Exception as exc:  # noqa: BLE001 - the result, for identify()
            log.debug("identify with %s failed: %r", conn.remote_peer_id, exc)
            # kept while the connection is open: without its traceback, which holds the frames
            result = exc.with_traceback(None)
        self._finish(attempt, result)
        return result

    async def identify(self, peer_id: PeerId, timeout: float = TIMEOUT * 2) -> IdentifyInfo:
        """The Identify of ``peer_id`` on our connection to it (waits for it to finish)."""
        conn = await self.host.connection_to(peer_id)
        result = self._results.get(conn)
        if result is None:
            result = self._start(conn)
        if isinstance(result, _Attempt):
            async with asyncio.timeout(timeout):
                result = await result.wait()
        if isinstance(result, Exception):
            raise result
        return result

    # --- push ----------------------------------------------------------------------------------------

    def _prepare_answer(self) -> None:
        """Sign our peer record and encode our Identify now (at start, and once our addresses or
        protocols changed), not when the first peer asks: go-libp2p too makes its signed record
        when its addresses change, so a new connection's identify costs no signature."""
        self._prepare_handle = None
        if self._encoded is None and type(self).local_info is IdentifyService.local_info:
            self._encoded = encode_identify(self.local_info(None))

    def _changed(self) -> None:
        self._encoded = None
        if self._prepare_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None  # not running: the first answer prepares it
            if loop is not None:
                # once for a burst of changes (handlers registered one by one, several listen addresses)
                self._prepare_handle = loop.call_soon(self._prepare_answer)
        self._schedule_push()

    def _addrs_changed(self) -> None:
        self._record = None
        self._changed()

    def _protocols_changed(self) -> None:
        self._changed()

    def _schedule_push(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not running yet (handlers registered at construction): nothing to push to
        if self._push_handle is None and self.host.connected_peers():
            self._push_handle = loop.call_later(_PUSH_DELAY, self._push_all)

    def _push_all(self) -> None:
        self._push_handle = None
        for conn in self.host.connections():
            self.host.spawn(self._push(conn), f"identify push {conn.remote_peer_id}")

    async def _push(self, conn: Connection) -> None:
        stream = conn.open_stream()
        try:
            stream.protocol = await select_protocol(
                stream.read, stream.write, stream.unread, [PUSH_PROTOCOL_ID], timeout=TIMEOUT
            )
            await stream.write(self._answer(conn))
            await stream.close()
        except Exception as exc:  # noqa: BLE001 - a peer that refuses pushes is not an error
            log.debug("identify push to %s failed: %r", conn.remote_peer_id, exc)
            await stream.reset()
