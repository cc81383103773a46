"""The stream-muxer options the upgrader takes: ``new_host(muxers=[Yamux(YamuxConfig(...)), Mplex()])``.

Each carries its protocol id and its configuration and makes one session core per connection.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from libp2p.abc import MuxerSession
    from libp2p.muxer.mplex.core import MplexConfig
    from libp2p.muxer.yamux.core import YamuxConfig

__all__ = ["Yamux", "Mplex", "YAMUX", "MPLEX"]

YAMUX = "/yamux/1.0.0"
MPLEX = "/mplex/6.7.0"

# A full yamux data frame (12-byte header + payload) fills exactly one Noise message (65519
# bytes of plaintext), so the receiver finds whole frames in each decrypted message instead of
# reassembling frames that straddle two.
_NOISE_MAX_PLAINTEXT = 65535 - 16


class Yamux:
    protocol_id = YAMUX

    def __init__(self, config: YamuxConfig | None = None) -> None:
        # The core loads with the option, so when a host is made, not inside its first
        # connection's upgrade (a new process's first dial paid for importing it).
        from libp2p.muxer.yamux.core import YamuxConfig, YamuxSession

        self.config = config
        self._session = YamuxSession
        self._session_config = config or YamuxConfig(max_message_size=_NOISE_MAX_PLAINTEXT)

    def new_session(self, is_initiator: bool) -> MuxerSession:
        return self._session(is_initiator, self._session_config)

    def __repr__(self) -> str:
        return f"Yamux({self.config!r})" if self.config is not None else "Yamux()"


class Mplex:
    protocol_id = MPLEX

    def __init__(self, config: MplexConfig | None = None) -> None:
        self.config = config

    def new_session(self, is_initiator: bool) -> MuxerSession:
        from libp2p.muxer.mplex.core import MplexSession

        return MplexSession(is_initiator, self.config)

    def __repr__(self) -> str:
        return f"Mplex({self.config!r})" if self.config is not None else "Mplex()"
