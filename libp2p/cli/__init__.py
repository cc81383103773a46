"""The ``libp2p`` command (also ``python -m libp2p``)."""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["main"]

# command -> (module under libp2p.cli, its parser-adding function, the one-line help for `libp2p --help`).
# A command's module (and the stack it needs) is imported only when that command runs, so
# `libp2p --version` and `libp2p keygen` do not load the host, the DHT or pubsub.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "keygen": ("keygen", "add_parser", "generate an identity and print its peer ID"),
    "serve": ("serve", "add_parser", "run a node until SIGINT/SIGTERM"),
    "ping": ("ping", "add_parser", "ping a peer"),
    "id": ("identify", "add_parser", "print a peer's identify information"),
    "perf": ("perf", "add_parser", "measure throughput against a perf server, or run the test-plans perf contract"),
    "transport-interop": ("interop", "add_parser",
                          "the libp2p transport-interop test app (configured by environment variables)"),
    "dht": ("dht", "add_parser", "query the Kademlia DHT (find-peer, closest, provide, find-providers, put, get)"),
    "autonat": ("autonat", "add_parser", "ask a peer whether we are reachable (AutoNAT v1)"),
    "pubsub": ("pubsub", "add_parser", "publish or subscribe on a GossipSub topic"),
    "chat": ("pubsub", "add_chat_parser", "chat on a GossipSub topic (stdin in, messages out)"),
}


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size()`` gives it (COLUMNS, then the
    terminal of stdout, then 80)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose help formatters get their width from :func:`_columns`:
    argparse makes a formatter for every ``add_argument`` (to check it), and without a width each
    one imports ``shutil`` (~2.5 ms, with bz2 and lzma) and asks the terminal again."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv`` (the first word that is one; top-level options take no value)."""
    for word in argv:
        if word in COMMANDS:
            return word
        if not word.startswith("-"):
            return None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: every subcommand in full, or with ``command`` only that one (the
    others are listed by name and help, so ``libp2p --help`` still shows them all)."""
    parser = Parser(prog="libp2p", description="aiolibp2p: libp2p for asyncio")
    parser.add_argument("--version", action="store_true", help="print the version and the implementation in use")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, adder, help_text) in COMMANDS.items():
        if command is None or name == command:
            add: Any = getattr(importlib.import_module(f"libp2p.cli.{module}"), adder)
            add(commands)
        else:
            commands.add_parser(name, help=help_text, add_help=False)
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


# Whether main() paused the cyclic collector (resume_gc turns it back on).
_gc_paused = False


def resume_gc() -> None:
    """Turn the cyclic collector back on if :func:`main` paused it (the networked commands call
    this when their event loop starts; every other path gets it back when ``main`` returns)."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    # A command's imports (~380 modules for `ping`) create objects that live as long as the
    # process: the collector would walk that growing heap ~65 times while they load, freeing
    # nothing (benchmarks/RESULTS.md, issue #16 item 6). Paused until the command's loop starts.
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True
    try:
        return _main(argv)
    finally:
        resume_gc()


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_chosen_command(arguments) or "")
    args = parser.parse_args(arguments)
    if args.version:
        import libp2p

        print(f"aiolibp2p {libp2p.__version__} ({libp2p.IMPLEMENTATION})")
        notice = pure_python_notice()
        if notice:
            print(notice, file=sys.stderr)
        return 0
    if args.command is None:
        from libp2p.cli import interop

        if interop.env_present():  # a transport-interop container entrypoint runs `libp2p` bare
            return interop.run_from_env()
        parser.print_help(sys.stderr)
        return 2
    result: int = args.run(args)
    return result
