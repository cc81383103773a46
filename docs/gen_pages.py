"""Pages generated at build time (mkdocs-gen-files): the CLI reference from the argument parser,
and the benchmark results with their chart, from benchmarks/RESULTS.md."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import mkdocs_gen_files

from libp2p.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal; make it the same everywhere


def _subcommands(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, argparse.ArgumentParser]]:
    found: list[tuple[str, argparse.ArgumentParser]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((f"{prefix} {name}", sub))
                found.extend(_subcommands(sub, f"{prefix} {name}"))
    return found


def cli_reference() -> str:
    parser = build_parser()
    out = [
        "# CLI reference",
        "",
        "The `libp2p` command (also `python -m libp2p`). This page is generated from its argument parser",
        "when the site is built, so it always matches the installed version.",
        "",
        "Exit status: 0 on success, 1 when the peer could not be reached, verified or spoken to, 2 for bad",
        "input (an invalid address, key or option), 130 on Ctrl-C.",
        "",
        "```text",
        parser.format_help().rstrip(),
        "```",
    ]
    for name, sub in _subcommands(parser, "libp2p"):
        out += ["", f"## `{name}`", "", "```text", sub.format_help().rstrip(), "```"]
    return "\n".join(out) + "\n"


def benchmarks() -> str:
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    for image in re.findall(r"!\[[^\]]*\]\((results/[^)]+\.png)\)", text):
        with mkdocs_gen_files.open(f"benchmarks/{image}", "wb") as f:
            f.write((ROOT / "benchmarks" / image).read_bytes())
        text = text.replace(f"]({image})", f"](benchmarks/{image})")
    note = ("!!! note\n    Copied from `benchmarks/RESULTS.md` when the site is built; the commands that produce "
            "each table are given beside it.\n\n")
    first_newline = text.index("\n")
    return text[: first_newline + 1] + "\n" + note + text[first_newline + 1 :]


with mkdocs_gen_files.open("cli.md", "w") as f:
    f.write(cli_reference())
with mkdocs_gen_files.open("benchmarks.md", "w") as f:
    f.write(benchmarks())
