"""DNSResolver: dns/dns4/dns6 via (fake or localhost) address lookups, dnsaddr via a local UDP server.

No test touches the network: TXT queries go to a dnspython-built server on 127.0.0.1 (an
ephemeral port) answering from a dict, or to an injected lookup.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import pytest

from libp2p.dns import DNSResolver
from libp2p.errors import DNSResolutionError
from libp2p.multiaddr import Multiaddr

T = TypeVar("T")

QM = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"
ED = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
QN = "QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN"


def run(coro: Awaitable[T]) -> T:
    async def bounded() -> T:
        async with asyncio.timeout(10):  # no test may hang
            return await coro

    return asyncio.run(bounded())


class _TxtServer(asyncio.DatagramProtocol):
    """Answers TXT queries from ``records``; NXDOMAIN for unknown names; drops names in ``silent``."""

    def __init__(self, records: dict[str, list[str]], silent: Iterable[str] = ()) -> None:
        self.records = records
        self.silent = set(silent)
        self.queries: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        self.queries.append(name)
        if name in self.silent:
            return
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        texts = self.records.get(name)
        if texts is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif question.rdtype == dns.rdatatype.TXT:
            rrset = dns.rrset.RRset(question.name, dns.rdataclass.IN, dns.rdatatype.TXT)
            for text in texts:
                raw = text.encode()
                chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
                rrset.add(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks), 60)
            response.answer.append(rrset)
        assert self.transport is not None
        self.transport.sendto(response.to_wire(), addr)


async def _with_server(
    records: dict[str, list[str]],
    body: Callable[[DNSResolver, _TxtServer], Awaitable[T]],
    silent: Iterable[str] = (),
    **kwargs: Any,
) -> T:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(
        lambda: _TxtServer(records, silent), local_addr=("127.0.0.1", 0)
    )
    try:
        port = transport.get_extra_info("sockname")[1]
        resolver = DNSResolver(nameservers=["127.0.0.1"], port=port, **kwargs)
        return await body(resolver, server)
    finally:
        transport.close()


def _fake_ips(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def lookup(host: str, family: int) -> list[str]:
        if host not in table:
            raise DNSResolutionError(f"no such host {host}")
        return table[host]

    return lookup


def _fake_txt(table: dict[str, list[str]]) -> Callable[[str], Awaitable[list[str]]]:
    async def lookup(name: str) -> list[str]:
        if name not in table:
            raise DNSResolutionError(f"NXDOMAIN {name}")
        return table[name]

    return lookup


BOOTSTRAP = {
    "_dnsaddr.bootstrap.example": [
        f"dnsaddr=/dnsaddr/a.bootstrap.example/p2p/{QN}",
        f"dnsaddr=/dnsaddr/b.bootstrap.example/p2p/{QM}",
        "unrelated=text",
        "dnsaddr=/not/a/multiaddr",
    ],
    "_dnsaddr.a.bootstrap.example": [
        f"dnsaddr=/ip4/192.0.2.1/tcp/4001/p2p/{QN}",
        f"dnsaddr=/ip6/2001:db8::1/udp/4001/quic-v1/p2p/{QN}",
        f"dnsaddr=/dns4/node-a.example/tcp/443/wss/p2p/{QN}",
    ],
    "_dnsaddr.b.bootstrap.example": [f"dnsaddr=/ip4/192.0.2.2/tcp/4001/p2p/{QM}"],
}
IPS = {"node-a.example": ["198.51.100.7", "2001:db8::7"]}


def test_dnsaddr_over_udp_server_recursive_and_filtered() -> None:
    async def body(resolver: DNSResolver, server: _TxtServer) -> None:
        found = await resolver.resolve(Multiaddr(f"/dnsaddr/bootstrap.example/p2p/{QN}"))
        # Records in one RRset come in no particular order.
        assert sorted(str(m) for m in found) == sorted(
            [
                f"/ip4/192.0.2.1/tcp/4001/p2p/{QN}",
                f"/ip6/2001:db8::1/udp/4001/quic-v1/p2p/{QN}",
                f"/ip4/198.51.100.7/tcp/443/tls/sni/node-a.example/ws/p2p/{QN}",  # dns4: A only; TLS keeps the name
            ]
        )
        # b.bootstrap.example ends in another peer: dropped without a lookup.
        assert "_dnsaddr.b.bootstrap.example" not in server.queries
        everything = await resolver.resolve("/dnsaddr/bootstrap.example")
        assert len(everything) == 4 and Multiaddr(f"/ip4/192.0.2.2/tcp/4001/p2p/{QM}") in everything

    run(_with_server(BOOTSTRAP, body, ip_lookup=_fake_ips(IPS), timeout=2))


def test_long_txt_records_are_joined() -> None:
    long_addr = f"/dns4/{'x' * 200}.example/tcp/1/p2p/{QN}"
    records = {"_dnsaddr.long.example": [f"dnsaddr={long_addr}"]}

    async def body(resolver: DNSResolver, server: _TxtServer) -> None:
        assert await resolver.lookup_txt("_dnsaddr.long.example") == [f"dnsaddr={long_addr}"]

    run(_with_server(records, body, timeout=2))


def test_nxdomain_and_timeout_raise_at_top_level() -> None:
    async def body(resolver: DNSResolver, server: _TxtServer) -> None:
        with pytest.raises(DNSResolutionError):
            await resolver.resolve("/dnsaddr/missing.example")
        with pytest.raises(DNSResolutionError):
            await resolver.resolve("/dnsaddr/silent.example")

    run(_with_server({}, body, silent={"_dnsaddr.silent.example"}, timeout=0.3))


def test_nested_failures_are_skipped() -> None:
    records = {
        "_dnsaddr.top.example": [
            "dnsaddr=/dnsaddr/missing.example",
            "dnsaddr=/dnsaddr/silent.example",
            "dnsaddr=/dns4/unknown-host.example/tcp/1",
            "dnsaddr=/ip4/192.0.2.9/tcp/1",
        ]
    }

    async def body(resolver: DNSResolver, server: _TxtServer) -> None:
        assert await resolver.resolve("/dnsaddr/top.example") == [Multiaddr("/ip4/192.0.2.9/tcp/1")]

    run(_with_server(records, body, silent={"_dnsaddr.silent.example"}, ip_lookup=_fake_ips({}), timeout=0.3))


def test_dns_families_and_passthrough() -> None:
    table = {"h.example": ["192.0.2.5", "2001:db8::5", "192.0.2.5", "fe80::1%eth0", "garbage"]}
    resolver = DNSResolver(ip_lookup=_fake_ips(table), txt_lookup=_fake_txt({}))

    async def body() -> None:
        assert [str(m) for m in await resolver.resolve("/dns4/h.example/tcp/1")] == ["/ip4/192.0.2.5/tcp/1"]
        assert [str(m) for m in await resolver.resolve("/dns6/h.example/tcp/1")] == [
            "/ip6/2001:db8::5/tcp/1",
            "/ip6/fe80::1/tcp/1",
        ]
        both = await resolver.resolve(f"/dns/h.example/udp/1/quic-v1/p2p/{ED}")
        assert [str(m) for m in both] == [
            f"/ip4/192.0.2.5/udp/1/quic-v1/p2p/{ED}",
            f"/ip6/2001:db8::5/udp/1/quic-v1/p2p/{ED}",
            f"/ip6/fe80::1/udp/1/quic-v1/p2p/{ED}",
        ]
        plain = Multiaddr("/ip4/1.2.3.4/tcp/1")
        assert await resolver.resolve(plain) == [plain]
        assert await resolver.resolve("/") == [Multiaddr("/")]
        with pytest.raises(DNSResolutionError):
            await resolver.resolve("/dns4/nowhere.example/tcp/1")
        # Two DNS components: both are expanded.
        two = await resolver.resolve("/dns4/h.example/tcp/1/p2p-circuit/dns6/h.example/tcp/2")
        assert [str(m) for m in two] == [
            "/ip4/192.0.2.5/tcp/1/p2p-circuit/ip6/2001:db8::5/tcp/2",
            "/ip4/192.0.2.5/tcp/1/p2p-circuit/ip6/fe80::1/tcp/2",
        ]

    run(body())


def test_localhost_via_getaddrinfo() -> None:
    resolver = DNSResolver(txt_lookup=_fake_txt({}), timeout=2)
    try:
        socket.getaddrinfo("localhost", None, socket.AF_INET)
    except OSError:
        pytest.skip("localhost does not resolve here")

    async def body() -> None:
        found = await resolver.resolve("/dns4/localhost/tcp/4001")
        assert Multiaddr("/ip4/127.0.0.1/tcp/4001") in found
        assert all(m.protocols()[0].name == "ip4" for m in found)
        mixed = await resolver.resolve("/dns/localhost/tcp/4001")
        assert Multiaddr("/ip4/127.0.0.1/tcp/4001") in mixed

    run(body())


def test_limits() -> None:
    loop_records = {"_dnsaddr.loop.example": ["dnsaddr=/dnsaddr/loop.example"]}
    many = {"_dnsaddr.many.example": [f"dnsaddr=/ip4/10.0.{i // 256}.{i % 256}/tcp/1" for i in range(500)]}
    chain = {f"_dnsaddr.l{i}.example": [f"dnsaddr=/dnsaddr/l{i + 1}.example"] for i in range(10)}
    chain["_dnsaddr.l10.example"] = ["dnsaddr=/ip4/192.0.2.10/tcp/1"]
    fanout = {"_dnsaddr.fan.example": [f"dnsaddr=/dnsaddr/f{i}.example" for i in range(100)]}
    fanout.update({f"_dnsaddr.f{i}.example": [f"dnsaddr=/ip4/10.1.0.{i}/tcp/1"] for i in range(100)})
    calls: list[str] = []
    base = _fake_txt({**loop_records, **many, **chain, **fanout})

    async def counting(name: str) -> list[str]:
        calls.append(name)
        return await base(name)

    resolver = DNSResolver(txt_lookup=counting, ip_lookup=_fake_ips({}), max_depth=4, max_addresses=100)

    async def body() -> None:
        assert await resolver.resolve("/dnsaddr/loop.example") == []  # cut at max_depth
        assert len(calls) == 5
        assert len(await resolver.resolve("/dnsaddr/many.example")) == 100
        assert await resolver.resolve("/dnsaddr/l0.example") == []  # deeper than 4 levels
        deep = DNSResolver(txt_lookup=counting, max_depth=32)
        assert await deep.resolve("/dnsaddr/l0.example") == [Multiaddr("/ip4/192.0.2.10/tcp/1")]
        calls.clear()
        assert len(await resolver.resolve("/dnsaddr/fan.example")) == 31  # 32 lookups per resolve()
        assert len(calls) == 32

    run(body())


def test_injected_lookup_timeout() -> None:
    async def hang(name: str) -> list[str]:
        await asyncio.sleep(30)
        return []

    resolver = DNSResolver(txt_lookup=hang, timeout=0.05)

    async def body() -> None:
        with pytest.raises(DNSResolutionError):
            await resolver.resolve("/dnsaddr/slow.example")

    run(body())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        DNSResolver(timeout=0)


def test_wss_keeps_the_resolved_name_for_tls() -> None:
    resolver = DNSResolver(ip_lookup=_fake_ips({"h.example": ["192.0.2.5"]}), txt_lookup=_fake_txt({}))

    async def body() -> None:
        for tail in ("wss", "tls/ws"):
            got = await resolver.resolve(f"/dns4/h.example/tcp/443/{tail}/p2p/{ED}")
            assert [str(m) for m in got] == [f"/ip4/192.0.2.5/tcp/443/tls/sni/h.example/ws/p2p/{ED}"]
        plain = await resolver.resolve("/dns4/h.example/tcp/80/ws")
        assert [str(m) for m in plain] == ["/ip4/192.0.2.5/tcp/80/ws"]
        named = await resolver.resolve("/dns4/h.example/tcp/443/tls/sni/other.example/ws")
        assert [str(m) for m in named] == ["/ip4/192.0.2.5/tcp/443/tls/sni/other.example/ws"]

    run(body())
