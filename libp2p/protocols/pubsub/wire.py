"""The pubsub wire format: uvarint-length-prefixed ``pubsub.pb.RPC`` protobufs on one long-lived
stream per direction, message signing (``libp2p-pubsub:`` prefix) and message ids.

Decoding bounds everything a hostile RPC could use to make us allocate or loop: the frame
length is checked against ``max_rpc_size`` before the frame is buffered (``FrameReader``), and
the counts of subscriptions, messages and control ids and the length of topic names are
checked right after parsing, before the router looks at any of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError as ProtobufDecodeError

from libp2p._accel import FrameReader, varint_encode
from libp2p.errors import DecodeError, InvalidSignatureError, RemoteProtocolError
from libp2p.identity.keys import PrivateKey, PublicKey, unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.pb import pubsub_pb2

__all__ = [
    "DEFAULT_MAX_RPC_SIZE",
    "FLOODSUB_PROTOCOL_ID",
    "GOSSIPSUB_PROTOCOLS",
    "MAX_CONTROL_IDS",
    "MAX_MESSAGES_PER_RPC",
    "MAX_SUBSCRIPTIONS_PER_RPC",
    "MAX_TOPIC_LENGTH",
    "MESHSUB_V10",
    "MESHSUB_V11",
    "MESHSUB_V12",
    "MESHSUB_V13",
    "SIGN_PREFIX",
    "FrameReader",
    "PubsubDecodeError",
    "PubsubMessage",
    "PubsubProtocolError",
    "content_message_id",
    "decode_rpc",
    "encode_publish_field",
    "default_message_id",
    "frame_rpc",
    "message_author",
    "sign_message",
    "topic_text",
    "verify_message_signature",
    "without_ihave",
]

FLOODSUB_PROTOCOL_ID = "/floodsub/1.0.0"
MESHSUB_V10 = "/meshsub/1.0.0"
MESHSUB_V11 = "/meshsub/1.1.0"
MESHSUB_V12 = "/meshsub/1.2.0"
# v1.3 adds only the extensions control message (gossipsub-v1.3.md); we announce no extension.
MESHSUB_V13 = "/meshsub/1.3.0"
# Best first: multistream-select takes the first one the remote also speaks.
GOSSIPSUB_PROTOCOLS = (MESHSUB_V13, MESHSUB_V12, MESHSUB_V11, MESHSUB_V10, FLOODSUB_PROTOCOL_ID)

# go-libp2p-pubsub: DefaultMaxMessageSize = 1 << 20, for a whole RPC.
DEFAULT_MAX_RPC_SIZE = 1 << 20
# Bounds on one decoded RPC. go has no explicit ones beyond the size; these are far above what a
# well-behaved peer sends (go's MaxIHaveLength is 5000 ids, a topic name is tens of bytes) and
# keep a 1 MiB RPC of tiny entries from turning into ~100k Python objects we then walk.
MAX_SUBSCRIPTIONS_PER_RPC = 1000
MAX_MESSAGES_PER_RPC = 1000
MAX_CONTROL_IDS = 5000 * 2
MAX_TOPIC_LENGTH = 1024

SIGN_PREFIX = b"libp2p-pubsub:"


class PubsubDecodeError(DecodeError):
    """A pubsub RPC is malformed, too large, or carries too many entries."""


class PubsubProtocolError(RemoteProtocolError):
    """A peer broke the pubsub protocol (a bad message, a bad signature, a missing field)."""


def topic_text(raw: bytes) -> str:
    """A topic name from the wire: UTF-8 and at most ``MAX_TOPIC_LENGTH`` bytes."""
    if len(raw) > MAX_TOPIC_LENGTH:
        raise PubsubDecodeError(f"topic name of {len(raw)} bytes exceeds {MAX_TOPIC_LENGTH}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PubsubDecodeError("topic name is not UTF-8") from exc


def _read_varint(buf: memoryview, i: int, end: int) -> int:
    """A protobuf varint at ``buf[i:end]`` as ``(value, next)``; -1 for a truncated or overlong one
    (the caller then leaves the frame to the full parser, which reports it)."""
    value = shift = 0
    while i < end and shift < 64:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value << 32 | i  # packed to avoid a tuple per field
        shift += 7
    return -1


def _skip_field(buf: memoryview, tag: int, i: int, end: int) -> int:
    """The offset after the value of a field with ``tag`` starting at ``i``; -1 if unknown or cut."""
    wire_type = tag & 7
    if wire_type == 0:
        packed = _read_varint(buf, i, end)
        return -1 if packed < 0 else packed & 0xFFFFFFFF
    if wire_type == 2:
        packed = _read_varint(buf, i, end)
        if packed < 0:
            return -1
        after = (packed & 0xFFFFFFFF) + (packed >> 32)
        return after if after <= end else -1
    if wire_type == 1:
        return i + 8 if i + 8 <= end else -1
    if wire_type == 5:
        return i + 4 if i + 4 <= end else -1
    return -1  # groups: never in this schema; the full parser decides


def without_ihave(data: bytes | bytearray | memoryview) -> bytes | None:
    """The RPC ``data`` with every ``control.ihave`` entry cut out, from the raw bytes and without
    parsing the ids: what the router uses when it will not read a peer's IHAVE (its score is
    below the gossip threshold or its IHAVE budget for this heartbeat is spent), so a flood of
    100 KB IHAVEs costs a scan of a few field headers, not 5000 objects each. None when the
    frame does not scan cleanly (the caller parses it whole and reports what is wrong)."""
    buf = memoryview(data)
    end = len(buf)
    out: list[bytes | memoryview] = []
    i = 0
    kept = 0  # start of the bytes not yet copied to ``out``
    while i < end:
        packed = _read_varint(buf, i, end)
        if packed < 0:
            return None
        tag, start = packed >> 32, packed & 0xFFFFFFFF
        if tag != 0x1A:  # not RPC.control (field 3, length-delimited): keep as is
            i = _skip_field(buf, tag, start, end)
            if i < 0:
                return None
            continue
        packed = _read_varint(buf, start, end)
        if packed < 0:
            return None
        body, body_end = packed & 0xFFFFFFFF, (packed & 0xFFFFFFFF) + (packed >> 32)
        if body_end > end:
            return None
        parts: list[memoryview] = []
        j = body
        while j < body_end:
            packed = _read_varint(buf, j, body_end)
            if packed < 0:
                return None
            sub_tag, sub_start = packed >> 32, packed & 0xFFFFFFFF
            sub_end = _skip_field(buf, sub_tag, sub_start, body_end)
            if sub_end < 0:
                return None
            if sub_tag != 0x0A:  # ControlMessage.ihave is field 1, length-delimited
                parts.append(buf[j:sub_end])
            j = sub_end
        out.append(buf[kept:i])
        control = b"".join(parts)
        out.append(b"\x1a" + varint_encode(len(control)) + control)
        i = kept = body_end
    if kept == 0:
        return bytes(data)
    out.append(buf[kept:end])
    return b"".join(out)


def decode_rpc(
    data: bytes | bytearray | memoryview, max_rpc_size: int = DEFAULT_MAX_RPC_SIZE, *, skip_ihave: bool = False
) -> pubsub_pb2.RPC:
    """Parse one RPC (the frame without its length prefix) and check its counts. ``skip_ihave``:
    drop the IHAVE entries before parsing (``without_ihave``); their ids are never decoded."""
    if len(data) > max_rpc_size:
        raise PubsubDecodeError(f"RPC of {len(data)} bytes exceeds {max_rpc_size}")
    rpc = pubsub_pb2.RPC()
    raw = without_ihave(data) if skip_ihave else None
    try:
        rpc.ParseFromString(raw if raw is not None else bytes(data))
    except ProtobufDecodeError as exc:
        raise PubsubDecodeError(f"malformed RPC: {exc}") from exc
    if skip_ihave and raw is None and rpc.HasField("control"):
        del rpc.control.ihave[:]
    if len(rpc.subscriptions) > MAX_SUBSCRIPTIONS_PER_RPC:
        raise PubsubDecodeError(f"{len(rpc.subscriptions)} subscriptions in one RPC")
    if len(rpc.publish) > MAX_MESSAGES_PER_RPC:
        raise PubsubDecodeError(f"{len(rpc.publish)} messages in one RPC")
    if rpc.HasField("control"):
        ctl = rpc.control
        ihave, iwant, idontwant = ctl.ihave, ctl.iwant, ctl.idontwant
        entries = len(ihave) + len(iwant) + len(ctl.graft) + len(ctl.prune) + len(idontwant)
        ids = 0
        if entries <= MAX_CONTROL_IDS:  # entries first: a flood of empty ones is not walked
            for group in (ihave, iwant, idontwant):
                for entry in group:
                    ids += len(entry.messageIDs)
        if ids > MAX_CONTROL_IDS or entries > MAX_CONTROL_IDS:
            raise PubsubDecodeError(f"control message with {ids} ids and {entries} entries")
    return rpc


def frame_rpc(rpc: pubsub_pb2.RPC) -> bytes:
    payload = rpc.SerializeToString()
    return varint_encode(len(payload)) + payload


def encode_publish_field(msg: pubsub_pb2.Message) -> bytes:
    """``msg`` as one ``RPC.publish`` field (tag 2, length, bytes). RPC frames are built by
    concatenating such fields after the control part (protobuf fields may come in any order and
    concatenate), so a message forwarded to many peers is serialized once, not once per peer."""
    raw = msg.SerializeToString()
    return b"\x12" + varint_encode(len(raw)) + raw


def default_message_id(msg: pubsub_pb2.Message) -> bytes:
    """go's DefaultMsgIdFn: ``from || seqno`` as raw bytes (never decoded as text)."""
    author: bytes = getattr(msg, "from")
    return author + msg.seqno


def content_message_id(msg: pubsub_pb2.Message) -> bytes:
    """SHA-256 of the data: the StrictNoSign default (as js-libp2p), and a content id as Ethereum
    uses (which hashes a domain and the decompressed data instead)."""
    return hashlib.sha256(msg.data).digest()


def _signed_bytes(msg: pubsub_pb2.Message) -> bytes:
    unsigned = pubsub_pb2.Message()
    unsigned.CopyFrom(msg)
    unsigned.ClearField("signature")
    unsigned.ClearField("key")
    return SIGN_PREFIX + unsigned.SerializeToString()


def sign_message(key: PrivateKey, msg: pubsub_pb2.Message) -> None:
    """Sign ``msg`` in place (its ``from`` must be ``key``'s peer id); inline the public key when
    the peer id does not carry it (RSA, ECDSA, large keys)."""
    msg.signature = key.sign(_signed_bytes(msg))
    author = PeerId.from_bytes(getattr(msg, "from"))
    if author.public_key is None:
        msg.key = key.public_key.marshal()


def message_author(msg: pubsub_pb2.Message) -> PeerId:
    """The ``from`` field as a peer id (``PubsubProtocolError`` when absent or malformed)."""
    raw = getattr(msg, "from")
    if not raw:
        raise PubsubProtocolError("message without a from field")
    try:
        return PeerId.from_bytes(raw)
    except DecodeError as exc:
        raise PubsubProtocolError(f"message with a malformed from field: {exc}") from exc


# Authors whose public key their peer id inlines, with that key: a mesh sees the same few
# publishers again and again, and parsing the id and the key was ~4% of a forwarder's CPU.
_AUTHOR_KEYS: dict[bytes, tuple[PeerId, PublicKey]] = {}
_AUTHOR_KEYS_MAX = 4096


def _author_and_inlined_key(msg: pubsub_pb2.Message) -> tuple[PeerId, PublicKey | None]:
    raw: bytes = getattr(msg, "from")
    cached = _AUTHOR_KEYS.get(raw)
    if cached is not None:
        return cached
    author = message_author(msg)
    try:
        key = author.public_key
    except DecodeError as exc:
        raise InvalidSignatureError(f"the from peer id inlines a malformed key: {exc}") from exc
    if key is not None:
        if len(_AUTHOR_KEYS) >= _AUTHOR_KEYS_MAX:
            _AUTHOR_KEYS.clear()
        _AUTHOR_KEYS[raw] = (author, key)
    return author, key


def verify_message_signature(msg: pubsub_pb2.Message) -> PeerId:
    """Check a StrictSign message: the signature by the ``from`` peer's key (inlined ``key``
    must match the peer id). Returns the author; raises ``InvalidSignatureError``."""
    author, key = _author_and_inlined_key(msg)
    if not msg.HasField("signature"):
        raise InvalidSignatureError("message without a signature")
    if msg.HasField("key"):
        try:
            key = unmarshal_public_key(msg.key)
        except DecodeError as exc:
            raise InvalidSignatureError(f"malformed key field: {exc}") from exc
        if not author.matches_public_key(key):
            raise InvalidSignatureError("the key field does not match the from peer id")
    elif key is None:
        raise InvalidSignatureError("no key field and the peer id does not inline its key")
    if not key.verify(_signed_bytes(msg), msg.signature):
        raise InvalidSignatureError("bad message signature")
    return author


@dataclass(frozen=True, slots=True)
class PubsubMessage:
    """A message as the application sees it. ``from_peer`` and ``seqno`` are None under
    StrictNoSign; ``received_from`` is the peer that forwarded it to us (ourselves if we published)."""

    topic: str
    data: bytes
    from_peer: PeerId | None
    seqno: bytes | None
    message_id: bytes
    received_from: PeerId
