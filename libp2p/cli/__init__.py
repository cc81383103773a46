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


def pure_python_notice() -> str | None:
    """Why the pure-Python twins run, when that was not asked for (pip hides the build's own words)."""
    from libp2p import _accel

    if _accel.IMPLEMENTATION == "cython" or _accel.NO_EXTENSIONS:
        return None
    if _accel.NATIVE_BUILT:
        return f"note: the compiled extension did not load ({_accel.NATIVE_IMPORT_ERROR}); running pure Python"
    return ("note: installed without the compiled extension (no C compiler at install time?): running the "
            "pure-Python twins, which are slower; reinstall with a C compiler, or from a wheel, for them")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import libp2p

        print(f"aiolibp2p {libp2p.__version__} ({libp2p.IMPLEMENTATION})")
        notice = pure_python_notice()
        if notice:
            print(notice, file=sys.stderr)
        return 0
    if args.command is None:
        if interop.env_present():  # a transport-interop container entrypoint runs `libp2p` bare
            return interop.run_from_env()
        parser.print_help(sys.stderr)
        return 2
    result: int = args.run(args)
    return result
