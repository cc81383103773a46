"""Turn a pytest-benchmark JSON file into the twin table of RESULTS.md.

    python benchmarks/report.py RESULTS_JSON [--save COPY_JSON]

``--save`` writes the file again without each benchmark's raw samples (pytest-benchmark keeps
every round: hundreds of MB), which is what belongs in ``benchmarks/results/``.

Pairs each ``name[python…]`` with its ``name[cython…]`` and prints median ns per op for both
and the ratio python/cython. Benchmarks without a twin pair are listed alone.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict


def _fmt(ns: float) -> str:
    return f"{ns:,.0f}" if ns >= 100 else f"{ns:.1f}"


def main(path: str, save: str | None = None) -> int:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if save is not None:
        for bench in data["benchmarks"]:
            bench["stats"].pop("data", None)
            # fixture values are reprs of the twin modules, with this checkout's path in them
            for params in (bench.get("params") or {}, bench.get("extra_info") or {}):
                for k, v in params.items():
                    if isinstance(v, str) and "libp2p._" in v and " from " in v:
                        params[k] = "libp2p._native" if "libp2p._native" in v else "libp2p._pure"
        with open(save, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        name = bench["name"]
        m = re.match(r"(?P<base>[^\[]+)\[(?P<params>.*)\]$", name)
        params = m.group("params").split("-") if m else []
        impl = next((p for p in params if p in ("python", "cython")), "-")
        rest = "-".join(p for p in params if p not in ("python", "cython"))
        base = (m.group("base") if m else name).removeprefix("test_")
        label = f"{base}[{rest}]" if rest else base
        rows[(bench["group"] or "", label)][impl] = bench["stats"]["median"] * 1e9
    machine = data.get("machine_info", {})
    print(f"machine: {machine.get('cpu', {}).get('brand_raw', '?')}, python {machine.get('python_version', '?')}")
    print()
    print("| group | benchmark | python (ns) | cython (ns) | python/cython |")
    print("|---|---|---:|---:|---:|")
    for (group, label), impls in sorted(rows.items()):
        py, cy = impls.get("python"), impls.get("cython")
        other = impls.get("-")
        if py is not None and cy is not None:
            print(f"| {group} | {label} | {_fmt(py)} | {_fmt(cy)} | {py / cy:.1f}× |")
        elif other is not None:
            print(f"| {group} | {label} | {_fmt(other)} | | |")
        else:
            only = py if py is not None else cy
            assert only is not None
            col = f"| {_fmt(only)} | |" if py is not None else f"| | {_fmt(only)} |"
            print(f"| {group} | {label} {col} |")
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 3 and args[1] == "--save":
        sys.exit(main(args[0], args[2]))
    if len(args) != 1:
        sys.exit(__doc__)
    sys.exit(main(args[0]))
