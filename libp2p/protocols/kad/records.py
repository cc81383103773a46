"""Value records and provider records: validators, selectors, and a bounded in-memory store.

Value records live under namespaced keys ``/<namespace>/<rest>``; each namespace has a
``Validator`` (``validate`` raises ``InvalidRecordError``; ``select`` picks the best of several
values). Built in: ``/pk`` (public keys) and ``/ipns`` (IPNS records, V2 signatures). A record
under a namespace without a validator is refused, as go-libp2p-record's NamespacedValidator does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from libp2p.errors import DecodeError, InvalidArgumentError, Libp2pError
from libp2p.identity.keys import unmarshal_public_key
from libp2p.identity.peer_id import PeerId
from libp2p.multiaddr import Multiaddr
from libp2p.protocols.kad.ipns import IpnsError, decode_ipns_record, verify_ipns_record

__all__ = [
    "MAX_RECORD_AGE",
    "PROVIDER_ADDR_TTL",
    "PROVIDER_RECORD_TTL",
    "PROVIDER_REPUBLISH_INTERVAL",
    "InvalidRecordError",
    "IpnsValidator",
    "FunctionValidator",
    "MemoryRecordStore",
    "NamespacedValidator",
    "PermissiveValidator",
    "ProviderEntry",
    "PublicKeyValidator",
    "RecordStore",
    "StoreFullError",
    "StoredRecord",
    "Validator",
    "default_validator",
    "split_key",
]

# go-libp2p-kad-dht (amino defaults): provider records expire after 48 h and are republished
# every 22 h; provider addresses are kept 24 h; stored value records are dropped after 48 h.
PROVIDER_RECORD_TTL = 48 * 3600.0
PROVIDER_REPUBLISH_INTERVAL = 22 * 3600.0
PROVIDER_ADDR_TTL = 24 * 3600.0
MAX_RECORD_AGE = 48 * 3600.0


class InvalidRecordError(DecodeError):
    """A value record failed its namespace's validation."""


class StoreFullError(Libp2pError):
    """The record store is at one of its limits."""


def split_key(key: bytes) -> tuple[str, bytes]:
    """``/ns/rest`` → (``ns``, ``rest``)."""
    if not key.startswith(b"/"):
        raise InvalidRecordError("record key has no namespace")
    ns, sep, rest = key[1:].partition(b"/")
    if not sep or not ns:
        raise InvalidRecordError("record key has no namespace")
    try:
        return ns.decode("ascii"), rest
    except UnicodeDecodeError:
        raise InvalidRecordError("record namespace is not ASCII") from None


class Validator(Protocol):
    def validate(self, key: bytes, value: bytes) -> None:
        """Raise ``InvalidRecordError`` unless ``value`` may be stored under ``key``."""

    def select(self, key: bytes, values: Sequence[bytes]) -> int:
        """The index of the best of several valid ``values``."""


def _peer_of(rest: bytes, what: str) -> PeerId:
    try:
        return PeerId(rest)
    except DecodeError:
        raise InvalidRecordError(f"{what} key does not name a peer ID") from None


class PublicKeyValidator:
    """``/pk/<peer id bytes>`` → the peer's marshalled public key; any valid value is as good."""

    def validate(self, key: bytes, value: bytes) -> None:
        ns, rest = split_key(key)
        if ns != "pk":
            raise InvalidRecordError("not a /pk key")
        pid = _peer_of(rest, "/pk")
        try:
            public = unmarshal_public_key(value)
        except Libp2pError as exc:
            raise InvalidRecordError(f"/pk value is not a public key: {exc}") from None
        if not pid.matches_public_key(public):
            raise InvalidRecordError("/pk value is another peer's key")

    def select(self, key: bytes, values: Sequence[bytes]) -> int:
        if not values:
            raise InvalidArgumentError("nothing to select from")
        return 0


class IpnsValidator:
    """``/ipns/<peer id bytes>`` → an IPNS record: V2 signature by the name's key, not expired.
    Select: highest sequence, then the latest end of validity, then the first seen."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    def validate(self, key: bytes, value: bytes) -> None:
        ns, rest = split_key(key)
        if ns != "ipns":
            raise InvalidRecordError("not an /ipns key")
        name = _peer_of(rest, "/ipns")
        try:
            verify_ipns_record(name, value, self.clock())
        except IpnsError as exc:
            raise InvalidRecordError(str(exc)) from None

    def select(self, key: bytes, values: Sequence[bytes]) -> int:
        best, best_rank = -1, (-1, float("-inf"))
        for i, value in enumerate(values):
            try:
                record = decode_ipns_record(value)
                rank = (record.sequence, record.eol)
            except IpnsError:
                continue
            if rank > best_rank:
                best, best_rank = i, rank
        if best < 0:
            raise InvalidArgumentError("no valid IPNS record to select from")
        return best


class NamespacedValidator:
    """Dispatches on the key's namespace; unknown namespaces are invalid."""

    def __init__(self, validators: Mapping[str, Validator]) -> None:
        self.validators = dict(validators)

    def _for(self, key: bytes) -> Validator:
        ns, _ = split_key(key)
        validator = self.validators.get(ns)
        if validator is None:
            raise InvalidRecordError(f"no validator for namespace /{ns}")
        return validator

    def validate(self, key: bytes, value: bytes) -> None:
        """Validate with the validator of the key's namespace."""
        self._for(key).validate(key, value)

    def select(self, key: bytes, values: Sequence[bytes]) -> int:
        """Select with the validator of the key's namespace."""
        return self._for(key).select(key, values)


def default_validator(clock: Callable[[], float] = time.time, **custom: Validator) -> NamespacedValidator:
    """``/pk`` and ``/ipns``, plus a validator per extra namespace: ``default_validator(app=MyValidator())``."""
    return NamespacedValidator({"pk": PublicKeyValidator(), "ipns": IpnsValidator(clock), **custom})


class PermissiveValidator:
    """Any value is valid under its namespace and the first one wins: for tests and experiments
    (the CLI's ``/test`` namespace). A network of strangers needs a validator that checks values."""

    def validate(self, key: bytes, value: bytes) -> None:
        """Accept any value under a namespaced key."""
        split_key(key)  # it must still be a namespaced key

    def select(self, key: bytes, values: Sequence[bytes]) -> int:
        """The first value."""
        if not values:
            raise InvalidArgumentError("nothing to select from")
        return 0


class FunctionValidator:
    """A validator for an application's own namespace, made of two plain functions.

    ``check(key, value)`` returns True when ``value`` may be stored under ``key`` (or raises
    ``InvalidRecordError`` with a reason); ``better(a, b)``, if given, returns True when value
    ``a`` should win over ``b`` (default: the first value seen wins)::

        validator = default_validator(
            chat=FunctionValidator(lambda key, value: len(value) <= 1024, better=lambda a, b: a > b)
        )
        dht = KadDHT("server", validator=validator)
    """

    def __init__(
        self,
        check: Callable[[bytes, bytes], bool],
        better: Callable[[bytes, bytes], bool] | None = None,
    ) -> None:
        self.check = check
        self.better = better

    def validate(self, key: bytes, value: bytes) -> None:
        """Raise ``InvalidRecordError`` unless ``check(key, value)`` accepts it."""
        split_key(key)
        if not self.check(key, value):
            raise InvalidRecordError(f"value rejected by the validator of {key[:64]!r}")

    def select(self, key: bytes, values: Sequence[bytes]) -> int:
        """The index of the best value (``better``), else the first."""
        if not values:
            raise InvalidArgumentError("nothing to select from")
        best = 0
        if self.better is not None:
            for i in range(1, len(values)):
                if self.better(values[i], values[best]):
                    best = i
        return best


# --- the store -----------------------------------------------------------------------------------


@dataclass(slots=True)
class StoredRecord:
    key: bytes
    value: bytes
    received_at: float  # the store's clock (monotonic)
    time_received: str  # RFC 3339 wall time, as go writes into Record.timeReceived


@dataclass(slots=True)
class ProviderEntry:
    peer_id: PeerId
    addrs: tuple[Multiaddr, ...]
    expires_at: float
    addrs_expire_at: float = field(default=0.0)


class RecordStore(Protocol):
    """What the DHT needs from a store. Times are the caller's monotonic clock."""

    def put(self, key: bytes, value: bytes, now: float, time_received: str = "") -> None: ...

    def get(self, key: bytes, now: float) -> StoredRecord | None: ...

    def remove(self, key: bytes) -> None: ...

    def add_provider(self, key: bytes, peer: PeerId, addrs: Iterable[Multiaddr], now: float) -> None: ...

    def providers(self, key: bytes, now: float) -> list[ProviderEntry]: ...

    def prune(self, now: float) -> None: ...


class MemoryRecordStore:
    """In memory, with limits on values, records, providers per key and provider records in all."""

    def __init__(
        self,
        *,
        max_records: int = 4096,
        max_value_size: int = 64 * 1024,
        max_provider_keys: int = 16384,
        max_providers_per_key: int = 64,
        max_provider_records: int = 65536,
        record_ttl: float = MAX_RECORD_AGE,
        provider_ttl: float = PROVIDER_RECORD_TTL,
        provider_addr_ttl: float = PROVIDER_ADDR_TTL,
    ) -> None:
        self.max_records = max_records
        self.max_value_size = max_value_size
        self.max_provider_keys = max_provider_keys
        self.max_providers_per_key = max_providers_per_key
        self.max_provider_records = max_provider_records
        self.record_ttl = record_ttl
        self.provider_ttl = provider_ttl
        self.provider_addr_ttl = provider_addr_ttl
        self._records: dict[bytes, StoredRecord] = {}
        self._providers: dict[bytes, dict[PeerId, ProviderEntry]] = {}
        self._provider_count = 0

    # values

    def put(self, key: bytes, value: bytes, now: float, time_received: str = "") -> None:
        if len(value) > self.max_value_size:
            raise StoreFullError(f"value of {len(value)} bytes exceeds {self.max_value_size}")
        if key not in self._records and len(self._records) >= self.max_records:
            self.prune(now)
            if len(self._records) >= self.max_records:
                raise StoreFullError(f"record store holds {self.max_records} records")
        self._records[key] = StoredRecord(key, value, now, time_received)

    def get(self, key: bytes, now: float) -> StoredRecord | None:
        record = self._records.get(key)
        if record is not None and now - record.received_at >= self.record_ttl:
            del self._records[key]
            return None
        return record

    def remove(self, key: bytes) -> None:
        self._records.pop(key, None)

    def __len__(self) -> int:
        return len(self._records)

    # providers

    def add_provider(self, key: bytes, peer: PeerId, addrs: Iterable[Multiaddr], now: float) -> None:
        entries = self._providers.get(key)
        if entries is None:
            if len(self._providers) >= self.max_provider_keys:
                self.prune(now)
                if len(self._providers) >= self.max_provider_keys:
                    raise StoreFullError(f"provider store holds {self.max_provider_keys} keys")
            entries = self._providers[key] = {}
        old = entries.get(peer)
        if old is None:
            if len(entries) >= self.max_providers_per_key:
                self._prune_key(key, entries, now)
                if len(entries) >= self.max_providers_per_key:
                    raise StoreFullError(f"key already has {self.max_providers_per_key} providers")
            if self._provider_count >= self.max_provider_records:
                self.prune(now)
                if self._provider_count >= self.max_provider_records:
                    raise StoreFullError(f"provider store holds {self.max_provider_records} records")
            self._provider_count += 1
        addr_list = tuple(addrs) or (old.addrs if old is not None else ())
        entries[peer] = ProviderEntry(peer, addr_list, now + self.provider_ttl, now + self.provider_addr_ttl)

    def providers(self, key: bytes, now: float) -> list[ProviderEntry]:
        entries = self._providers.get(key)
        if not entries:
            return []
        self._prune_key(key, entries, now)
        return [
            e if e.addrs_expire_at > now else ProviderEntry(e.peer_id, (), e.expires_at, e.addrs_expire_at)
            for e in entries.values()
        ]

    def provider_keys(self) -> list[bytes]:
        return list(self._providers)

    def _prune_key(self, key: bytes, entries: dict[PeerId, ProviderEntry], now: float) -> None:
        for peer in [p for p, e in entries.items() if e.expires_at <= now]:
            del entries[peer]
            self._provider_count -= 1
        if not entries:
            self._providers.pop(key, None)

    def prune(self, now: float) -> None:
        for key in [k for k, r in self._records.items() if now - r.received_at >= self.record_ttl]:
            del self._records[key]
        for key, entries in list(self._providers.items()):
            self._prune_key(key, entries, now)
