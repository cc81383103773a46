"""The NAT traversal scenarios in the namespace testbed (tests/netns/testbed.py).

First scenario: peer A behind NAT reserves on the public relay; peer B behind another NAT cannot
reach A directly, and reaches it through the relay: ping and identify work over the relayed
connection (``libp2p serve --relay``, ``libp2p ping``/``id`` on the ``/p2p-circuit`` address).
"""

from __future__ import annotations

from pathlib import Path

import json

from tests.netns.testbed import PEER_A_IP, PEER_B_IP, RELAY_IP, ROUTER_A_IP, nat_testbed

START_TIMEOUT = 60.0


def test_relay_across_two_nats(tmp_path: Path) -> None:
    with nat_testbed(tmp_path) as bed:
        relay = bed.spawn("relay", ["serve", "--listen", f"/ip4/{RELAY_IP}/tcp/4001", "--relay-service"])
        relay_info = relay.json_line(START_TIMEOUT)
        relay_addr = next(a for a in relay_info["multiaddrs"] if RELAY_IP in a)

        a = bed.spawn("peer-a", ["serve", "--listen", f"/ip4/{PEER_A_IP}/tcp/4001", "--relay", relay_addr])
        a_info = a.json_line(START_TIMEOUT)
        (relayed,) = a_info["relayed_addrs"]
        assert relayed == f"{relay_addr}/p2p-circuit/p2p/{a_info['peer_id']}"

        # B cannot reach A's private address (no route to another home network)...
        direct = bed.run("peer-b", ["ping", "-c", "1", "--timeout", "3",
                                    f"/ip4/{PEER_A_IP}/tcp/4001/p2p/{a_info['peer_id']}"])
        assert direct.returncode == 1
        # ...nor A's router, which drops what nobody inside asked for
        through_nat = bed.run("peer-b", ["ping", "-c", "1", "--timeout", "3",
                                         f"/ip4/{ROUTER_A_IP}/tcp/4001/p2p/{a_info['peer_id']}"])
        assert through_nat.returncode == 1

        # through the relay it works
        ping = bed.run("peer-b", ["ping", "--json", "-c", "3", "-i", "0", relayed])
        assert ping.returncode == 0, ping.stderr
        rtts = json.loads(ping.stdout)["rtt_ms"]
        assert len(rtts) == 3
        assert min(rtts) >= bed.relayed_rtt_ms  # B -> relay -> A and back, every link's delay
        ident = bed.run("peer-b", ["id", "--json", relayed])
        assert ident.returncode == 0, ident.stderr
        info = json.loads(ident.stdout)
        assert info["peer_id"] == a_info["peer_id"]
        assert relayed.rsplit("/p2p/", 1)[0] in info["listen_addrs"]


def test_hole_punch_across_two_nats(tmp_path: Path) -> None:
    """A behind NAT reserves on the relay, B behind the other NAT dials A through it, DCUtR
    upgrades to a direct connection (TCP simultaneous open through both NATs) and B pings A over
    the direct one (test-plans' hole-punch contract: one JSON line with the RTT)."""
    with nat_testbed(tmp_path) as bed:
        relay = bed.spawn("relay", ["serve", "--listen", f"/ip4/{RELAY_IP}/tcp/4001", "--relay-service"])
        relay_addr = next(a for a in relay.json_line(START_TIMEOUT)["multiaddrs"] if RELAY_IP in a)
        a = bed.spawn("peer-a", ["serve", "--listen", f"/ip4/{PEER_A_IP}/tcp/4001", "--relay", relay_addr,
                                 "--hole-punch", "-v"])
        a_info = a.json_line(START_TIMEOUT)
        (relayed,) = a_info["relayed_addrs"]
        b = bed.spawn("peer-b", [f"/ip4/{PEER_B_IP}/tcp/4001", relay_addr, relayed],
                      module="tests.netns.holepunch_peer")
        try:
            result = b.json_line(120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\npeer-a stderr: {a.stderr()}") from None
        # the direct connection goes to A's router's public address (A's NAT mapping), not the relay
        assert result["direct_addr"].startswith(f"/ip4/{ROUTER_A_IP}/tcp/"), result
        assert "/p2p-circuit" not in result["ping_over"], result
        # over the direct path: through both routers' delayed links, not the relay's
        assert result["rtt_to_holepunched_peer_millis"] >= bed.direct_rtt_ms, result


def test_autonat_private_behind_nat_public_for_the_relay(tmp_path: Path) -> None:
    """AutoNAT v1 in the testbed: the relay learns it is public (the peers behind NAT dial it back),
    A and B learn they are private (the relay's dial back dies at their routers)."""
    with nat_testbed(tmp_path) as bed:
        relay = bed.spawn("relay", ["serve", "--listen", f"/ip4/{RELAY_IP}/tcp/4001", "--relay-service",
                                    "--autonat", "--autonat-threshold", "2"])
        relay_addr = next(a for a in relay.json_line(START_TIMEOUT)["multiaddrs"] if RELAY_IP in a)
        peers = [bed.spawn(role, ["serve", "--listen", f"/ip4/{ip}/tcp/4001", "--relay", relay_addr,
                                  "--autonat", "--autonat-threshold", "1"])
                 for role, ip in (("peer-a", PEER_A_IP), ("peer-b", PEER_B_IP))]
        for peer in peers:
            peer.json_line(START_TIMEOUT)
        assert relay.json_line(60) == {"reachability": "public"}
        for peer in peers:
            assert peer.json_line(60) == {"reachability": "private"}
        # asked directly: the relay can dial a host in its own network, not one behind a NAT
        direct = bed.run("peer-a", ["autonat", "--json", relay_addr])
        assert direct.returncode == 0, direct.stderr
        assert json.loads(direct.stdout)["status"] == "E_DIAL_ERROR"


def test_autonat_v2_per_address(tmp_path: Path) -> None:
    """AutoNAT v2 against the relay: from behind NAT our observed address is not reachable; from the
    public network it is (and the answer counted only with the server's nonce-carrying dial-back)."""
    with nat_testbed(tmp_path) as bed:
        relay = bed.spawn("relay", ["serve", "--listen", f"/ip4/{RELAY_IP}/tcp/4001", "--autonat"])
        relay_addr = next(a for a in relay.json_line(START_TIMEOUT)["multiaddrs"] if RELAY_IP in a)
        natted = bed.run("peer-a", ["autonat", "--v2", "--json", "--listen", f"/ip4/{PEER_A_IP}/tcp/4002", relay_addr])
        assert natted.returncode == 0, natted.stderr
        out = json.loads(natted.stdout)
        assert out["addr"].startswith(f"/ip4/{ROUTER_A_IP}/tcp/"), out  # the NAT's mapping, as observed
        assert out["reachable"] is False and out["dial_status"] == "E_DIAL_ERROR", out
        public = bed.run("relay", ["autonat", "--v2", "--json", "--listen", f"/ip4/{RELAY_IP}/tcp/4003", relay_addr])
        assert public.returncode == 0, public.stderr
        out = json.loads(public.stdout)
        assert out["reachable"] is True and out["addr"] == f"/ip4/{RELAY_IP}/tcp/4003", out
