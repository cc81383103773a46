"""``serve --max-connections N`` and ``--resource-limits``: how a node is told to hold many peers.

By default a node takes go-libp2p's limits: the resource manager's (scaled to the machine, about
250 inbound connections on 24 GiB) and the connection manager's watermarks (160/192). A node meant
for thousands of peers (a DHT server, a relay, a benchmark target) raises both at once with
``--max-connections``, as a go-libp2p node does with ``rcmgr`` limits and ``connmgr.NewConnManager``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from typing import Any

__all__ = ["add_arguments", "host_limits", "raise_fd_limit"]

log = logging.getLogger("libp2p.cli")

# File descriptors kept beyond the connections themselves (listeners, DNS, logs, the loop).
_FD_HEADROOM = 64


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-connections", type=_positive_int, metavar="N",
                   help="hold up to N connections: the connection manager trims only above N (down to 5/6 of N), "
                   "the resource manager admits N + N/4 connections and file descriptors, and the process raises "
                   "its open-file limit (RLIMIT_NOFILE) to the hard limit (default: go-libp2p's limits, about "
                   "250 inbound connections)")
    p.add_argument("--resource-limits", choices=["scaled", "unlimited"], default="scaled",
                   help="scaled: go-libp2p's default limits scaled to this machine (the default); unlimited: the "
                   "resource manager admits every connection, stream and byte (the connection manager still "
                   "trims above its high water mark, see --max-connections)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as Go's runtime does at start) if it is below
    ``wanted``; returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
        return soft
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if now != resource.RLIM_INFINITY and now < wanted:
        log.warning("the open-file limit is %d (hard limit), below the %d that --max-connections needs", now, wanted)
    return wanted if now == resource.RLIM_INFINITY else now


def host_limits(args: argparse.Namespace) -> dict[str, Any]:
    """``new_host`` keyword arguments (``resource_limits``, ``connection_manager``) from the options;
    empty when neither option is given."""
    from libp2p.host.connmgr import ConnManagerConfig
    from libp2p.resources import ResourceLimits

    n: int | None = args.max_connections
    options: dict[str, Any] = {}
    if n is not None:
        admitted = n + n // 4
        raise_fd_limit(admitted + _FD_HEADROOM)
        options["connection_manager"] = ConnManagerConfig(low_water=n * 5 // 6, high_water=n)
    if args.resource_limits == "unlimited":
        options["resource_limits"] = ResourceLimits.unlimited()
    elif n is not None:
        limits = ResourceLimits.scaled()  # after the fd limit was raised: it scales with it
        system = limits.system
        options["resource_limits"] = limits.with_overrides(system=dataclasses.replace(
            system,
            conns_inbound=max(system.conns_inbound, admitted),
            conns=max(system.conns, admitted + system.conns_outbound),
            fd=max(system.fd, admitted),
        ))
    return options
