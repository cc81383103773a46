"""The ``libp2p`` command (also ``python -m libp2p``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from libp2p.cli import autonat, dht, identify, interop, keygen, perf, ping, pubsub, serve

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="libp2p", description="aiolibp2p: libp2p for asyncio")
    parser.add_argument("--version", action="store_true", help="print the version and the implementation in use")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    keygen.add_parser(commands)
    serve.add_parser(commands)
    ping.add_parser(commands)
    identify.add_parser(commands)
    perf.add_parser(commands)
    interop.add_parser(commands)
    dht.add_parser(commands)
    autonat.add_parser(commands)
    pubsub.add_parser(commands)
    pubsub.add_chat_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import libp2p

        print(f"aiolibp2p {libp2p.__version__} ({libp2p.IMPLEMENTATION})")
        return 0
    if args.command is None:
        if interop.env_present():  # a transport-interop container entrypoint runs `libp2p` bare
            return interop.run_from_env()
        parser.print_help(sys.stderr)
        return 2
    result: int = args.run(args)
    return result
