"""The WebSocket options of the networked subcommands: a certificate to serve ``/wss`` with, and
a CA to trust when dialing ``/wss`` (a self-signed test certificate)."""

from __future__ import annotations

import argparse
import ssl
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from libp2p.abc import Transport

__all__ = ["add_options", "transports"]


def add_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tls-cert", metavar="PEM", help="certificate chain for listening on /wss or /tls/ws")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert (default: in the --tls-cert file)")
    p.add_argument("--tls-ca", metavar="PEM",
                   help="trust this CA (or self-signed certificate) when dialing /wss, instead of the system's CAs")


def transports(args: argparse.Namespace) -> list[Transport] | None:
    """TCP and WebSocket configured from the options, or None for the host's defaults."""
    cert, key, ca = getattr(args, "tls_cert", None), getattr(args, "tls_key", None), getattr(args, "tls_ca", None)
    if cert is None and key is None and ca is None:
        return None
    from libp2p.cli._common import CliError
    from libp2p.transport.tcp import TcpTransport
    from libp2p.transport.websocket import WebsocketConfig, WebsocketTransport

    if key is not None and cert is None:
        raise CliError("--tls-key needs --tls-cert", 2)
    client = None
    try:
        if ca is not None:
            client = ssl.create_default_context(cafile=ca)
        if cert is not None:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise CliError(f"cannot load the TLS certificate or CA: {exc}", 2) from None
    config = WebsocketConfig(tls_cert=cert, tls_key=key, tls_client_context=client)
    return [TcpTransport(), WebsocketTransport(config)]
