"""`serve --max-connections N` / `--resource-limits`: the limits a node is started with."""

from __future__ import annotations

import argparse
import resource

import pytest

from libp2p.cli import limits
from libp2p.host.connmgr import ConnManagerConfig
from libp2p.resources import UNLIMITED, ResourceLimits


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    limits.add_arguments(p)
    return p.parse_args(list(argv))


def test_defaults_leave_go_limits_alone() -> None:
    assert limits.host_limits(_parse()) == {}


def test_max_connections_raises_watermarks_limits_and_the_fd_limit() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    options = limits.host_limits(_parse("--max-connections", "1000"))
    cm = options["connection_manager"]
    assert isinstance(cm, ConnManagerConfig) and (cm.low_water, cm.high_water) == (833, 1000)
    system = options["resource_limits"].system
    default = ResourceLimits.scaled().system
    assert system.conns_inbound >= 1250 and system.conns_inbound >= default.conns_inbound
    assert system.conns >= 1250 + system.conns_outbound - 1 and system.fd >= 1250
    # the soft open-file limit now covers them (as far as the hard limit allows)
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert soft == resource.RLIM_INFINITY or soft >= min(hard if hard != resource.RLIM_INFINITY else 1 << 20, 1250 + 64)


def test_unlimited_resource_limits() -> None:
    options = limits.host_limits(_parse("--resource-limits", "unlimited"))
    assert options == {"resource_limits": ResourceLimits.unlimited()}
    assert options["resource_limits"].system.conns_inbound == UNLIMITED
    both = limits.host_limits(_parse("--resource-limits", "unlimited", "--max-connections", "50"))
    assert both["resource_limits"] == ResourceLimits.unlimited() and both["connection_manager"].high_water == 50


@pytest.mark.parametrize("bad", ["0", "-3", "many"])
def test_max_connections_must_be_a_positive_integer(bad: str) -> None:
    with pytest.raises(SystemExit):
        _parse("--max-connections", bad)
