"""A/B of listener handshakes per CPU-second with both listeners dialed at the same time.

Run: ``python benchmarks/handshake_pair_ab.py ROUNDS SECONDS NAME=PYTHON NAME=PYTHON``
(e.g. ``main=../main/.venv/bin/python mine=.venv/bin/python``).

Each round starts ``libp2p serve --perf`` under each interpreter and dials all of them at once,
each with its own process of ``suites/handshakes.py``'s ``_dial`` (16 loops: TCP + /noise + Noise
XX with yamux in the handshake + one yamux ping, then close), and divides the handshakes each
listener completed in the window by the CPU it used in that same window. Run side by side, the
listeners share whatever else loads the machine, so on a busy machine the paired ratio of a round
is far steadier than the rates of listeners run one after another. Prints per round, the medians
and, for two variants, the paired ratios.
"""
import json, os, subprocess, sys, time, statistics
from pathlib import Path
rounds, dur = int(sys.argv[1]), float(sys.argv[2])
variants = [s.split("=", 1) for s in sys.argv[3:]]
DIAL = str(Path(__file__).resolve().parent / "suites" / "handshakes.py")
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
res = {n: [] for n, _ in variants}
for r in range(rounds):
    srvs = {}
    for name, py in variants:
        code = "import sys; sys.argv=['libp2p','serve','--perf']; from libp2p.cli import main; sys.exit(main())"
        srv = subprocess.Popen([py, "-c", code], stdout=subprocess.PIPE, text=True, cwd=os.path.expanduser("~"))
        srvs[name] = (srv, json.loads(srv.stdout.readline())["multiaddrs"][0])
    start = time.time() + 2.0
    dialers = {name: subprocess.Popen([sys.executable, DIAL, "_dial", "--to", addr, "--concurrency", "16", "--start", f"{start}",
                          "--warmup", "1", "--duration", str(dur)], stdout=subprocess.PIPE, text=True) for name, (srv, addr) in srvs.items()}
    time.sleep(start + 1 - time.time()); c0 = {n: cpu(s.pid) for n, (s, _) in srvs.items()}
    time.sleep(start + 1 + dur - time.time()); c1 = {n: cpu(s.pid) for n, (s, _) in srvs.items()}
    line = [f"round {r}"]
    for name, d in dialers.items():
        out = json.loads(d.communicate()[0].splitlines()[-1])
        rate = out["count"] / (c1[name] - c0[name])
        res[name].append(rate)
        line.append(f"{name} {rate:7.0f}/cpu-s ({out['count']/dur:5.0f}/s wall, errors {out['errors']})")
    for s, _ in srvs.values():
        s.terminate(); s.wait()
    print("  ".join(line), flush=True)
names = list(res)
for n, v in res.items(): print(n, "median", round(statistics.median(v)), [round(x) for x in v])
if len(names) == 2:
    ratios = [b / a for a, b in zip(res[names[0]], res[names[1]])]
    print(f"{names[1]} / {names[0]} paired: median {statistics.median(ratios):.3f}", [round(x, 3) for x in ratios])
