"""Run every atheris target (or the named ones) for N inputs each and record the counts.

    python fuzz/run_all.py --runs 1000001 --jobs 2                # every target
    python fuzz/run_all.py --runs 1000001 varint multiaddr        # some of them

Each target starts from the seeds in ``seeds.py`` (written to ``fuzz/corpus/<name>/``, where
libFuzzer also keeps what it finds) and runs with ``-max_len=4096 -timeout=10
-rss_limit_mb=2048``: an input that takes more than 10 s is a hang, one that makes the process
grow past 2 GiB an unbounded allocation, and both stop the run like a crash. Logs go to
``fuzz/logs/<name>.log``, crash inputs to ``fuzz/artifacts/``; one JSON line per target is
appended to ``fuzz/logs/results.jsonl``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = sorted(p.stem.removeprefix("fuzz_") for p in HERE.glob("fuzz_*.py"))


def _write_seeds(name: str, corpus: Path) -> None:
    sys.path.insert(0, str(HERE))
    from seeds import SEEDS

    corpus.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(SEEDS[name]()):
        (corpus / f"seed-{i:02d}").write_bytes(seed)


def run_target(name: str, runs: int, max_len: int) -> dict[str, object]:
    corpus = HERE / "corpus" / name
    _write_seeds(name, corpus)
    (HERE / "artifacts").mkdir(exist_ok=True)
    (HERE / "logs").mkdir(exist_ok=True)
    log_path = HERE / "logs" / f"{name}.log"
    cmd = [
        sys.executable,
        str(HERE / f"fuzz_{name}.py"),
        f"-atheris_runs={runs}",
        f"-max_len={max_len}",
        "-timeout=10",
        "-rss_limit_mb=2048",
        "-print_final_stats=1",
        f"-artifact_prefix={HERE / 'artifacts'}/{name}-",
        str(corpus),
    ]
    start = time.monotonic()
    with log_path.open("w") as log:
        rc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
    elapsed = time.monotonic() - start
    text = log_path.read_text(errors="replace")
    done = re.search(r"^Done (\d+) in (\d+) second", text, re.M)
    units = re.search(r"stat::number_of_executed_units: (\d+)", text)
    inputs = int(done.group(1)) if done else int(units.group(1)) if units else 0
    hangs = len(re.findall(r"ERROR: libFuzzer: timeout", text))
    ooms = len(re.findall(r"ERROR: libFuzzer: out-of-memory", text))
    crashes = 0 if rc == 0 else max(1, len(re.findall(r"=== Uncaught Python exception", text))) - hangs - ooms
    return {
        "target": name,
        "inputs": inputs,
        "seconds": round(elapsed, 1),
        "exec_per_s": round(inputs / elapsed) if elapsed else 0,
        "crashes": max(crashes, 0),
        "hangs": hangs,
        "ooms": ooms,
        "rc": rc,
        "command": " ".join(["python", f"fuzz/fuzz_{name}.py", *cmd[2:-2], f"fuzz/corpus/{name}"]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", choices=[[], *TARGETS], default=[], metavar="target")
    parser.add_argument("--runs", type=int, default=1_000_001)
    parser.add_argument("--max-len", type=int, default=4096)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    names = args.targets or TARGETS
    failed = False
    with ThreadPoolExecutor(args.jobs) as pool:
        for result in pool.map(lambda n: run_target(n, args.runs, args.max_len), names):
            print(json.dumps(result), flush=True)
            with (HERE / "logs" / "results.jsonl").open("a") as out:
                out.write(json.dumps(result) + "\n")
            failed |= result["rc"] != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
