"""Opt-in loop-lateness watchdog for a `libp2p serve` process (a debugging aid, not a benchmark).

Put this directory on PYTHONPATH and set LIBP2P_LOOP_WATCHDOG to a file: every Python process
started so whose argv names ``serve`` then appends one JSON line per second to it, with

- ``late``: a histogram of how late a 1 ms periodic loop callback ran (ms buckets <0.5, <1, <2,
  <5, <10, <50, >=50, keyed by their upper bound; 999 = the last);
- ``counts``: loop timers armed (``later:``/``at:``) and fired (``fire:``) by callback name, and
  ``cb_ms`` the time spent in each kind (the wrapping costs ~1 us per timer);
- ``cpu_ms``: the process's CPU time in that second (the 1 ms ticker itself costs ~50 ms/s);
- ``gc_n``/``gc_ms``: collections and their time, and ``stalls``: collections over 2 ms and the
  main thread's innermost Python frames sampled whenever the ticker was 4 ms overdue (frames
  ending in ``runners.py`` mean the thread was in the loop's own C code or descheduled).

    PYTHONPATH=benchmarks/loop_watchdog LIBP2P_LOOP_WATCHDOG=/tmp/wd.jsonl \\
        .venv/bin/python benchmarks/compare.py --suite many_conns --only ours --no-write

Only timers armed through the loop object's Python methods are counted (uvloop arms its own
internal ones in C).
"""

import os
import sys

if os.environ.get("LIBP2P_LOOP_WATCHDOG") and "serve" in sys.argv:
    import asyncio
    import collections
    import gc
    import json
    import threading
    import time
    import traceback

    _OUT = os.environ["LIBP2P_LOOP_WATCHDOG"]
    _counts: collections.Counter = collections.Counter()
    _cb_time: collections.Counter = collections.Counter()
    _late: collections.Counter = collections.Counter()
    _state: dict = {"tick": time.perf_counter(), "stalls": [], "max": 0.0, "gc_ms": 0.0, "gc_n": 0, "gc_t": 0.0}
    _BUCKETS = (0.5, 1, 2, 5, 10, 50)

    def _name(cb):
        f = getattr(cb, "__func__", cb)
        return getattr(f, "__qualname__", None) or type(cb).__name__

    def _wrap(kind, cb):
        name = _name(cb)
        _counts[kind + ":" + name] += 1

        def run(*args):
            t = time.perf_counter()
            try:
                return cb(*args)
            finally:
                _counts["fire:" + name] += 1
                _cb_time[name] += time.perf_counter() - t

        run.__qualname__ = name
        run.uncounted = True  # uvloop's call_at goes through call_later: count it once
        return run

    def _counting(cls):
        class CountingLoop(cls):
            def call_later(self, delay, callback, *args, context=None):
                if not hasattr(callback, "uncounted"):
                    callback = _wrap("later", callback)
                return super().call_later(delay, callback, *args, context=context)

            def call_at(self, when, callback, *args, context=None):
                if not hasattr(callback, "uncounted"):
                    callback = _wrap("at", callback)
                return super().call_at(when, callback, *args, context=context)

        return CountingLoop

    def _on_gc(phase, info):
        if phase == "start":
            _state["gc_t"] = time.perf_counter()
            return
        ms = (time.perf_counter() - _state["gc_t"]) * 1e3
        _state["gc_ms"] += ms
        _state["gc_n"] += 1
        if ms > 2:
            _state["stalls"].append((f"gc{info['generation']}", round(ms, 2)))

    def _start(loop):
        main = threading.get_ident()
        call_at = loop.call_at

        def tick(expected):
            now = loop.time()
            late = (now - expected) * 1e3
            _late[next((b for b in _BUCKETS if late < b), 999)] += 1
            _state["max"] = max(_state["max"], late)
            _state["tick"] = time.perf_counter()
            call_at(now + 0.001, tick, now + 0.001)

        tick.uncounted = True
        call_at(loop.time() + 0.001, tick, loop.time() + 0.001)

        def sampler():
            with open(_OUT, "a") as out:
                last = time.perf_counter()
                cpu0 = time.process_time()
                sampled = None
                while True:
                    time.sleep(0.002)
                    t = time.perf_counter()
                    if t - _state["tick"] > 0.004 and sampled != _state["tick"]:
                        sampled = _state["tick"]
                        frame = sys._current_frames().get(main)
                        stack = traceback.extract_stack(frame)[-8:] if frame is not None else []
                        _state["stalls"].append((f"stack@{(t - _state['tick']) * 1e3:.1f}ms",
                                                 [f"{os.path.basename(s.filename)}:{s.lineno}:{s.name}" for s in stack]))
                    if t - last < 1.0:
                        continue
                    cpu = time.process_time()
                    out.write(json.dumps({
                        "pid": os.getpid(), "t": time.time(), "cpu_ms": round((cpu - cpu0) * 1e3, 1),
                        "late": dict(_late), "max_late_ms": round(_state["max"], 2),
                        "gc_n": _state["gc_n"], "gc_ms": round(_state["gc_ms"], 1),
                        "counts": dict(_counts.most_common(15)),
                        "cb_ms": {k: round(v * 1e3, 2) for k, v in _cb_time.most_common(10)},
                        "stalls": _state["stalls"][:20],
                    }) + "\n")
                    out.flush()
                    _counts.clear()
                    _cb_time.clear()
                    _late.clear()
                    _state.update(stalls=[], max=0.0, gc_ms=0.0, gc_n=0)
                    last, cpu0 = t, cpu

        threading.Thread(target=sampler, name="loop-watchdog", daemon=True).start()

    gc.callbacks.append(_on_gc)
    try:
        import uvloop
    except ImportError:
        uvloop = None
    if uvloop is not None:
        _UV = _counting(uvloop.Loop)

        def _new_uvloop():
            loop = _UV()
            loop.call_soon(_start, loop)
            return loop

        uvloop.new_event_loop = _new_uvloop
    _AIO = _counting(asyncio.SelectorEventLoop)

    class _Policy(asyncio.DefaultEventLoopPolicy):
        def new_event_loop(self):
            loop = _AIO()
            loop.call_soon(_start, loop)
            return loop

    asyncio.set_event_loop_policy(_Policy())
