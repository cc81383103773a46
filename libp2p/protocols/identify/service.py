"""identify and identify/push: tell peers who we are, learn who they are.

On every new connection we ask the peer (``/ipfs/id/1.0.0``) and answer its questions; when our
protocols or listen addresses change we push (``/ipfs/id/push/1.0.0``) to every connected peer.
Each Identify we send carries a signed peer record; each one we receive is checked against the
connection's authenticated key, and its record's signature is verified before its addresses
are used.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from libp2p.errors import Libp2pError
from libp2p.identity.peer_record import PeerRecord, consume_peer_record
from libp2p.peerstore import ADDRESS_TTL, CONNECTED_ADDR_TTL
from libp2p.protocols.identify.core import IdentifyReader, frame_identify
from libp2p.protocols.identify.events import IdentifyReceived
from libp2p.protocols.identify.wire import (
    PROTOCOL_ID,
    PUSH_PROTOCOL_ID,
    TIMEOUT,
    IdentifyInfo,
    IdentifyMismatchError,
)

if TYPE_CHECKING:
    from libp2p.host.host import Host
    from libp2p.identity.peer_id import PeerId
    from libp2p.multiaddr import Multiaddr
    from libp2p.muxer.connection import MuxedConnection, MuxedStream

__all__ = ["IdentifiedCallback", "IdentifyService"]

#: ``callback(peer, info, pushed)``: called once a peer's identify (or identify/push) was applied
IdentifiedCallback = Callable[["PeerId", IdentifyInfo, bool], None]

log = logging.getLogger("libp2p.protocols.identify")

# Changes are pushed after this quiet period, so a burst of handler registrations is one push.
_PUSH_DELAY = 0.05


class IdentifyService:
    def __init__(self, host: Host) -> None:
        self.host = host
        self._record: bytes | None = None
        self._results: dict[MuxedConnection, asyncio.Future[IdentifyInfo]] = {}
        self._push_handle: asyncio.TimerHandle | None = None
        self.observed_addrs: dict[PeerId, Multiaddr] = {}
        self._listeners: list[IdentifiedCallback] = []
        host.set_stream_handler(PROTOCOL_ID, self._handle_request)
        host.set_stream_handler(PUSH_PROTOCOL_ID, self._handle_push)

    # --- what we say about ourselves -----------------------------------------------------------

    def _signed_record(self) -> bytes:
        if self._record is None:
            record = PeerRecord.new(self.host.peer_id, self.host.addrs)
            self._record = record.seal(self.host.key).marshal()
        return self._record

    def local_info(self, conn: MuxedConnection | None) -> IdentifyInfo:
        return IdentifyInfo(
            public_key=self.host.key.public_key,
            listen_addrs=self.host.addrs,
            protocols=sorted(self.host.protocols),
            observed_addr=conn.remote_addr if conn is not None else None,
            protocol_version=self.host.config.protocol_version,
            agent_version=self.host.config.agent_version,
            signed_peer_record=self._signed_record(),
        )

    async def _handle_request(self, stream: MuxedStream) -> None:
        await stream.write(frame_identify(self.local_info(stream.conn)))
        await stream.close()

    # --- what we learn ----------------------------------------------------------------------------

    def add_listener(self, callback: IdentifiedCallback) -> Callable[[], None]:
        """Call ``callback(peer, info, pushed)`` after each identify or identify/push of a peer is
        applied to the peerstore (e.g. a DHT learning that a peer now serves it); returns a remover."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    async def _read_info(self, stream: MuxedStream) -> IdentifyInfo:
        reader = IdentifyReader()
        async with asyncio.timeout(TIMEOUT):
            while True:
                data = await stream.read()
                if not data:
                    reader.receive_eof()
                    break
                reader.receive_data(data)
        event = reader.next_event()
        assert isinstance(event, IdentifyReceived)
        return event.info

    def _apply(self, conn: MuxedConnection, info: IdentifyInfo, *, push: bool) -> None:
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
        if info.protocols is not None:
            store.set_protocols(peer, info.protocols)
        elif not push:
            store.set_protocols(peer, [])
        if info.agent_version is not None or info.protocol_version is not None:
            store.set_agent(peer, info.agent_version, info.protocol_version)
        if info.observed_addr is not None:
            self.observed_addrs[peer] = info.observed_addr
        for callback in list(self._listeners):
            try:
                callback(peer, info, push)
            except Exception:  # noqa: BLE001 - a listener's bug must not break identify
                log.exception("identify listener failed")

    async def _handle_push(self, stream: MuxedStream) -> None:
        info = await self._read_info(stream)
        self._apply(stream.conn, info, push=True)

    # --- running it --------------------------------------------------------------------------------

    def connected(self, conn: MuxedConnection) -> None:
        """Host hook: identify every new connection in the background."""
        future = asyncio.get_running_loop().create_future()
        self._results[conn] = future
        self.host._spawn(self._identify(conn, future), f"identify {conn.remote_peer_id}")

    async def _identify(self, conn: MuxedConnection, future: asyncio.Future[IdentifyInfo]) -> None:
        try:
            stream = conn.open_stream()
            from libp2p.negotiate.service import select_protocol

            try:
                stream.protocol = await select_protocol(
                    stream.read, stream.write, stream.unread, [PROTOCOL_ID], timeout=TIMEOUT
                )
                await stream.close()
                info = await self._read_info(stream)
            except BaseException:
                await stream.reset()
                raise
            self._apply(conn, info, push=False)
        except Exception as exc:  # noqa: BLE001 - reported through the future
            log.debug("identify with %s failed: %r", conn.remote_peer_id, exc)
            if not future.done():
                future.set_exception(exc)
            future.exception()  # mark retrieved: nobody may be waiting
            return
        finally:
            conn_done = conn.is_closed
            if conn_done:
                self._results.pop(conn, None)
        if not future.done():
            future.set_result(info)

    async def identify(self, peer_id: PeerId, timeout: float = TIMEOUT * 2) -> IdentifyInfo:
        """The Identify of ``peer_id`` on our connection to it (waits for it to finish)."""
        conn = await self.host._connection_to(peer_id)
        future = self._results.get(conn)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._results[conn] = future
            self.host._spawn(self._identify(conn, future), f"identify {peer_id}")
        async with asyncio.timeout(timeout):
            return await asyncio.shield(future)

    def forget(self, conn: MuxedConnection) -> None:
        self._results.pop(conn, None)

    # --- push ----------------------------------------------------------------------------------------

    def protocols_changed(self) -> None:
        self._schedule_push()

    def addrs_changed(self) -> None:
        self._record = None
        self._schedule_push()

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
            self.host._spawn(self._push(conn), f"identify push {conn.remote_peer_id}")

    async def _push(self, conn: MuxedConnection) -> None:
        from libp2p.negotiate.service import select_protocol

        stream = conn.open_stream()
        try:
            stream.protocol = await select_protocol(
                stream.read, stream.write, stream.unread, [PUSH_PROTOCOL_ID], timeout=TIMEOUT
            )
            await stream.write(frame_identify(self.local_info(conn)))
            await stream.close()
        except Exception as exc:  # noqa: BLE001 - a peer that refuses pushes is not an error
            log.debug("identify push to %s failed: %r", conn.remote_peer_id, exc)
            await stream.reset()
