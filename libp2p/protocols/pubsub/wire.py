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


def decode_rpc(data: bytes | bytearray | memoryview, max_rpc_size: int = DEFAULT_MAX_RPC_SIZE) -> pubsub_pb2.RPC:
    """Parse one RPC (the frame without its length prefix) and check its counts."""
    if len(data) > max_rpc_size:
        raise PubsubDecodeError(f"RPC of {len(data)} bytes exceeds {max_rpc_size}")
    rpc = pubsub_pb2.RPC()
    try:
        rpc.ParseFromString(bytes(data))
    except ProtobufDecodeError as exc:
        raise PubsubDecodeError(f"malformed RPC: {exc}") from exc
    if len(rpc.subscriptions) > MAX_SUBSCRIPTIONS_PER_RPC:
        raise PubsubDecodeError(f"{len(rpc.subscriptions)} subscriptions in one RPC")
    if len(rpc.publish) > MAX_MESSAGES_PER_RPC:
        raise PubsubDecodeError(f"{len(rpc.publish)} messages in one RPC")
    if rpc.HasField("control"):
        ctl = rpc.control
        ids = sum(len(i.messageIDs) for i in ctl.ihave) + sum(len(i.messageIDs) for i in ctl.iwant)
        ids += sum(len(i.messageIDs) for i in ctl.idontwant)
        entries = len(ctl.ihave) + len(ctl.iwant) + len(ctl.graft) + len(ctl.prune) + len(ctl.idontwant)
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


def verify_message_signature(msg: pubsub_pb2.Message) -> PeerId:
    """Check a StrictSign message: the signature by the ``from`` peer's key (inlined ``key``
    must match the peer id). Returns the author; raises ``InvalidSignatureError``."""
    author = message_author(msg)
    if not msg.HasField("signature"):
        raise InvalidSignatureError("message without a signature")
    key: PublicKey | None
    if msg.HasField("key"):
        try:
            key = unmarshal_public_key(msg.key)
        except DecodeError as exc:
            raise InvalidSignatureError(f"malformed key field: {exc}") from exc
        if not author.matches_public_key(key):
            raise InvalidSignatureError("the key field does not match the from peer id")
    else:
        key = author.public_key
        if key is None:
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
