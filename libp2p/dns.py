"""Resolving /dns, /dns4, /dns6 and /dnsaddr multiaddrs (multiaddr DNSADDR.md), asyncio.

Kept apart from the ``Multiaddr`` value type, which never does I/O.

* ``/dns4/<host>`` becomes ``/ip4/<a>`` per A record, ``/dns6/<host>`` ``/ip6/<aaaa>`` per AAAA
  record, ``/dns/<host>`` both; the rest of the address is kept. These go through
  ``loop.getaddrinfo`` (so /etc/hosts and the system resolver apply).
* ``/dnsaddr/<host>`` is replaced by the multiaddrs in the ``dnsaddr=<multiaddr>`` TXT records
  of ``_dnsaddr.<host>``, looked up with dnspython's asyncio resolver, recursively. When the
  dnsaddr address has a suffix (normally ``/p2p/<id>``), only results ending in that suffix
  are kept; a record that already ends in another ``/p2p/<id>`` is dropped unresolved.

Limits (go-libp2p's swarm resolves dnsaddr at most 4 levels deep and keeps at most 100
addresses; js allows 32 levels): ``max_depth`` nested dnsaddr levels, ``max_addresses``
results, ``max_lookups`` DNS queries per ``resolve()`` call, and ``timeout`` seconds per query.
A failing lookup of the address given to ``resolve()`` raises ``DNSResolutionError``; a failing
lookup of a nested record (or one past a limit) only drops that record.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from libp2p.errors import DNSResolutionError, InvalidArgumentError, MultiaddrError
from libp2p.multiaddr import P_DNS, P_DNS4, P_DNS6, P_DNSADDR, P_IP4, P_IP6, P_P2P, Multiaddr

__all__ = [
    "DEFAULT_MAX_ADDRESSES",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LOOKUPS",
    "DEFAULT_TIMEOUT",
    "DNSResolver",
    "IpLookup",
    "TxtLookup",
]

DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_DEPTH = 4
DEFAULT_MAX_ADDRESSES = 100
DEFAULT_MAX_LOOKUPS = 32

# (name) -> the TXT records of ``name``, each record's strings joined; NXDOMAIN may raise
# DNSResolutionError or return nothing.
TxtLookup = Callable[[str], Awaitable[Iterable[str]]]
# (host, family) -> IP address strings; family is AF_INET, AF_INET6 or AF_UNSPEC.
IpLookup = Callable[[str, int], Awaitable[Iterable[str]]]

_DNS_CODES = frozenset((P_DNS, P_DNS4, P_DNS6, P_DNSADDR))
_FAMILY = {P_DNS: socket.AF_UNSPEC, P_DNS4: socket.AF_INET, P_DNS6: socket.AF_INET6}
_DNSADDR_PREFIX = "dnsaddr="


def _ip_component(ip: str) -> bytes | None:
    """The binary /ip4 or /ip6 component of an address string, or None if it is neither."""
    ip = ip.partition("%")[0]  # getaddrinfo may append a scope to link-local addresses
    for family, code in ((socket.AF_INET, P_IP4), (socket.AF_INET6, P_IP6)):
        try:
            packed = socket.inet_pton(family, ip)
        except (OSError, ValueError):
            continue
        return bytes((code,)) + packed  # both codes fit in one varint byte
    return None


def _keep_server_name(suffix: bytes, host: str) -> bytes:
    """``/tcp/<p>/wss`` or ``/tcp/<p>/tls/ws`` after a DNS name becomes ``/tcp/<p>/tls/sni/<host>/ws``:
    the TLS handshake still needs the name the address was resolved from (go's ws Resolve)."""
    try:
        parts = Multiaddr.from_bytes(suffix).split() if suffix else []
    except MultiaddrError:
        return suffix
    names = [p.protocols()[0].name for p in parts]
    if names[:1] != ["tcp"]:
        return suffix
    if names[1:2] == ["wss"]:
        rest = parts[2:]
    elif names[1:3] == ["tls", "ws"]:
        rest = parts[3:]
    else:
        return suffix
    try:
        sni = Multiaddr(f"/tls/sni/{host}/ws")
    except (MultiaddrError, ValueError):
        return suffix
    return bytes(parts[0]) + bytes(sni) + b"".join(bytes(p) for p in rest)


def _ends_with(addr: Multiaddr, suffix: bytes) -> bool:
    """Whether ``addr`` ends with the whole components ``suffix`` (non-empty)."""
    data = bytes(addr)
    if not data.endswith(suffix):
        return False
    cut = len(data) - len(suffix)
    offset = 0
    for part in addr.split():  # the match must start on a component boundary
        if offset == cut:
            return True
        offset += len(bytes(part))
    return False


class _Budget:
    __slots__ = ("lookups",)

    def __init__(self, lookups: int) -> None:
        self.lookups = lookups


class DNSResolver:
    """Expands DNS multiaddrs into IP multiaddrs; other multiaddrs pass through unchanged.

    ``nameservers``/``port`` choose the servers for TXT lookups (default: the system's
    resolv.conf). ``txt_lookup`` and ``ip_lookup`` replace the lookups entirely (tests, caches).
    """

    __slots__ = (
        "_ip_lookup",
        "_max_addresses",
        "_max_depth",
        "_max_lookups",
        "_nameservers",
        "_port",
        "_resolver",
        "_timeout",
        "_txt_lookup",
    )

    def __init__(
        self,
        *,
        nameservers: Sequence[str] | None = None,
        port: int = 53,
        timeout: float = DEFAULT_TIMEOUT,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_addresses: int = DEFAULT_MAX_ADDRESSES,
        max_lookups: int = DEFAULT_MAX_LOOKUPS,
        txt_lookup: TxtLookup | None = None,
        ip_lookup: IpLookup | None = None,
    ) -> None:
        if timeout <= 0:
            raise InvalidArgumentError("timeout must be positive")
        self._nameservers = list(nameservers) if nameservers is not None else None
        self._port = port
        self._timeout = timeout
        self._max_depth = max_depth
        self._max_addresses = max_addresses
        self._max_lookups = max_lookups
        self._txt_lookup = txt_lookup
        self._ip_lookup = ip_lookup
        self._resolver: Any = None

    # --- public ---

    async def resolve(self, addr: Multiaddr | str | bytes) -> list[Multiaddr]:
        """Every IP multiaddr ``addr`` stands for, in record order, without duplicates."""
        ma = addr if isinstance(addr, Multiaddr) else Multiaddr(addr)
        out: list[Multiaddr] = []
        await self._expand(ma, 0, (), True, out, set(), _Budget(self._max_lookups))
        return out

    async def lookup_txt(self, name: str) -> list[str]:
        """The TXT records of ``name`` (each record's strings joined), with the timeout applied."""
        try:
            async with asyncio.timeout(self._timeout):
                if self._txt_lookup is not None:
                    return list(await self._txt_lookup(name))
                return await self._dnspython_txt(name)
        except TimeoutError:
            raise DNSResolutionError(f"TXT lookup of {name} timed out after {self._timeout}s") from None

    async def lookup_ip(self, host: str, family: int) -> list[str]:
        """IP address strings of ``host`` for ``family``, deduplicated, with the timeout applied."""
        try:
            async with asyncio.timeout(self._timeout):
                if self._ip_lookup is not None:
                    found = list(await self._ip_lookup(host, family))
                else:
                    found = await self._getaddrinfo(host, family)
        except TimeoutError:
            raise DNSResolutionError(f"address lookup of {host} timed out after {self._timeout}s") from None
        return list(dict.fromkeys(found))

    # --- resolution ---

    async def _expand(
        self,
        ma: Multiaddr,
        depth: int,
        suffixes: tuple[bytes, ...],
        top: bool,
        out: list[Multiaddr],
        seen: set[bytes],
        budget: _Budget,
    ) -> None:
        if len(out) >= self._max_addresses:
            return
        parts = ma.split()
        index = next((i for i, p in enumerate(parts) if p.protocols()[0].code in _DNS_CODES), None)
        if index is None:
            key = bytes(ma)
            if key not in seen and all(_ends_with(ma, s) for s in suffixes):
                seen.add(key)
                out.append(ma)
            return
        prefix = b"".join(bytes(p) for p in parts[:index])
        suffix = b"".join(bytes(p) for p in parts[index + 1 :])
        component = parts[index]
        code = component.protocols()[0].code
        host = component.value_for_protocol(code)
        if budget.lookups <= 0:
            if top:
                raise DNSResolutionError(f"too many DNS lookups resolving {ma}")
            return
        budget.lookups -= 1
        try:
            if code == P_DNSADDR:
                records = await self._dnsaddr_records(host)
            else:
                ips = await self.lookup_ip(host, _FAMILY[code])
        except DNSResolutionError:
            if top:
                raise
            return
        if code != P_DNSADDR:
            family_codes = {P_DNS4: (P_IP4,), P_DNS6: (P_IP6,)}.get(code, (P_IP4, P_IP6))
            suffix = _keep_server_name(suffix, host)
            for ip in ips:
                packed = _ip_component(ip)
                if packed is None or packed[0] not in family_codes:
                    continue
                try:
                    expanded = Multiaddr.from_bytes(prefix + packed + suffix)
                except MultiaddrError:
                    continue  # over the size limit
                await self._expand(expanded, depth, suffixes, top, out, seen, budget)
            return
        if depth >= self._max_depth:
            if top:
                raise DNSResolutionError(f"dnsaddr nesting deeper than {self._max_depth} levels at {ma}")
            return
        if suffix:
            suffixes = (*suffixes, suffix)
        for record in records:
            if len(out) >= self._max_addresses:
                return
            protocols = record.protocols()
            ends_in_peer = bool(protocols) and protocols[-1].code == P_P2P
            if suffix and ends_in_peer and not _ends_with(record, suffix):
                continue  # another peer's address
            try:
                expanded = Multiaddr.from_bytes(prefix + bytes(record)) if prefix else record
            except MultiaddrError:
                continue
            await self._expand(expanded, depth + 1, suffixes, False, out, seen, budget)

    async def _dnsaddr_records(self, host: str) -> list[Multiaddr]:
        records = []
        for text in await self.lookup_txt("_dnsaddr." + host):
            if not text.startswith(_DNSADDR_PREFIX):
                continue  # other TXT records may share the name
            try:
                records.append(Multiaddr(text[len(_DNSADDR_PREFIX) :]))
            except MultiaddrError:
                continue  # one bad record does not spoil the others
        return records

    # --- default lookups ---

    async def _getaddrinfo(self, host: str, family: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, family=family, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
            raise DNSResolutionError(f"address lookup of {host} failed: {exc}") from None
        wanted = (socket.AF_INET, socket.AF_INET6) if family == socket.AF_UNSPEC else (family,)
        return [str(info[4][0]) for info in infos if info[0] in wanted]

    def _get_resolver(self) -> Any:
        if self._resolver is None:
            import dns.asyncresolver
            import dns.exception

            try:
                resolver = dns.asyncresolver.Resolver(configure=self._nameservers is None)
            except dns.exception.DNSException as exc:
                raise DNSResolutionError(f"no DNS resolver configuration: {exc}") from None
            if self._nameservers is not None:
                resolver.nameservers = self._nameservers
                resolver.port = self._port
            self._resolver = resolver
        return self._resolver

    async def _dnspython_txt(self, name: str) -> list[str]:
        import dns.exception
        import dns.resolver

        resolver = self._get_resolver()
        try:
            answer = await resolver.resolve(name, "TXT", lifetime=self._timeout, search=False)
        except dns.resolver.NoAnswer:
            return []
        except dns.exception.Timeout:
            raise DNSResolutionError(f"TXT lookup of {name} timed out after {self._timeout}s") from None
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            raise DNSResolutionError(f"TXT lookup of {name} failed: {exc}") from None
        return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
