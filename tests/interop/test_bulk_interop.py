"""Beyond ping with js-libp2p and py-libp2p: identify both ways and 16 concurrent 4 MiB streams.

The same shared flows as the go and rust tests (``tests/interop/foreign.py``), over yamux and mplex,
in both directions, with signed peer records verified on each side (a js or py-libp2p dialer has no
listen address and sends none, so only ours is checked when they dial).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from libp2p.host.host import Host
from libp2p.identity.keys import generate_key_pair
from tests.interop.foreign import (
    ECHO,
    HASH,
    MUXER_IDS,
    TEST_TIMEOUT,
    Foreign,
    Served,
    check_dialer_result,
    check_served,
    failing_with_stderr,
    foreign_dials,
    our_host,
    python_dials,
)
from tests.interop.js_peer import JsPeer, require_js_peer, run_js_dialer_async
from tests.interop.pylibp2p_peer import PyLibp2pPeer, require_pylibp2p_peer, run_pylibp2p_dialer_async

JS = Foreign(name="js", agent_prefix="js-libp2p/", dial=run_js_dialer_async)
PY = Foreign(name="py-libp2p", agent_prefix="py-libp2p/", dial=run_pylibp2p_dialer_async)


@pytest.fixture(params=["js", "py-libp2p"])
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def program(impl: str) -> tuple[Foreign, Callable[..., AbstractContextManager[Any]], dict[str, Path]]:
    if impl == "js":
        return JS, JsPeer.listen, {"peer_dir": require_js_peer()}
    return PY, PyLibp2pPeer.listen, {"peer_dir": require_pylibp2p_peer()}


@pytest.fixture(params=list(MUXER_IDS))
def muxer(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def served() -> Served:
    return []


@pytest.fixture
async def host(muxer: str, served: Served) -> AsyncIterator[Host]:
    async with our_host(generate_key_pair(), muxer, served) as h:
        yield h


async def test_python_dials(program: tuple[Foreign, Any, dict[str, Path]], host: Host, muxer: str) -> None:
    _, listen, kwargs = program
    with listen(muxer=muxer, **kwargs) as peer, failing_with_stderr(peer):
        async with asyncio.timeout(TEST_TIMEOUT):
            out = await python_dials(host, peer, muxer)
            # their signed peer record, verified here before its addresses were used
            assert out.info.signed_peer_record is not None
            assert out.info.certified_addrs is not None
            # ours, verified by them
            assert out.their_identify["signed_peer_record"] is not None


@pytest.mark.parametrize("stream_protocol", ["hash", "echo"])
async def test_foreign_dials(program: tuple[Foreign, Any, dict[str, Path]], host: Host, served: Served,
                             muxer: str, stream_protocol: str) -> None:
    foreign, _, kwargs = program
    async with asyncio.timeout(TEST_TIMEOUT):
        result = await foreign_dials(foreign, host, muxer, stream_protocol=stream_protocol, **kwargs)
        dialer = check_dialer_result(result, host, muxer)
        check_served(served, dialer, HASH if stream_protocol == "hash" else ECHO)
        assert result["signed_peer_record"] is not None, f"{foreign.name} did not accept our signed record"


