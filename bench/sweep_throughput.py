#!/usr/bin/env python3
"""Sweep throughput, and what the trace points cost when tracing is off.

1. Points per second of a 200-point sweep of the case study (5 policies x
   8 limits of group_B x 5 sizes of task_X), run sequentially in this
   process and on a process pool (--workers, default 2).  The rows of both
   runs must agree (seconds aside).
2. Move throughput of the C core as installed (trace points in, tracing off)
   against a copy built in the same run with -DEMU_NO_TRACE (every trace
   point compiled out), and with tracing on: the upstream and seed moves of
   a task of 2^16 pages, there and back, through the C entry points, the
   builds interleaved round by round; the median of the rounds.

    python bench/sweep_throughput.py [--workers N] [--rounds R] [--pages N] [--json FILE]
"""
import argparse
import csv
import importlib
import json
import os
import statistics
import sys
import tempfile
import time

from memcg_emu import _core
from memcg_emu._build import make_builder
from memcg_emu.progress import progress
from memcg_emu.sweep import sweep

GRID = {"policy": ["none", "seed", "reserve", "half", "upstream"],
        "limit.group_B": ["600M", "800M", "1G", "1200M", "1400M", "1600M", "1800M", "2G"],
        "bytes.task_X": ["100M", "200M", "400M", "600M", "800M"]}
PAGE = 4096


def sweep_rates(workers, tmp):
    spec = {"scenario": "casestudy", "grid": GRID}
    out, rates = {}, {}
    for name, n in (("sequential", 1), (f"pool of {workers}", workers)):
        path = os.path.join(tmp, name.replace(" ", "-"))
        t0 = time.perf_counter()
        summary = sweep(spec, path, workers=n)
        seconds = time.perf_counter() - t0
        assert summary["ran"] == 200 and summary["errors"] == 0, summary
        rates[name] = 200 / seconds
        with open(os.path.join(path, "rows.csv"), newline="") as f:
            out[name] = sorted(({k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)),
                               key=lambda r: r["point"])
    first, second = out.values()
    if first != second:
        raise SystemExit("the pool's rows differ from the sequential run's")
    return rates


def build_notrace(tmp):
    """The C core again, as module _core_notrace, with every trace point compiled out."""
    builder = make_builder("_core_notrace", ["EMU_NO_TRACE"], absolute=True)
    builder.compile(tmpdir=tmp)
    sys.path.insert(0, tmp)
    mod = importlib.import_module("_core_notrace")
    # its long loops ask for pending signals as the installed core's do; nothing interrupts here
    mod.ffi.def_extern("emu_py_signal_pending")(lambda: 0)
    return mod


def check(ret, lib, ffi):
    if ret < 0:
        buf = ffi.new("char[]", 256)
        lib.emu_last_error(buf, 256)
        raise SystemExit(f"C core: {ffi.string(buf).decode()} ({ret})")
    return ret


class World:
    """A machine with task X's private anon pages in group A, B ready, on one build of the core."""

    def __init__(self, mod, pages, trace=False):
        lib, ffi = mod.lib, mod.ffi
        self.lib, self.ffi = lib, ffi
        out = ffi.new("struct machine **")
        check(lib.emu_machine_new(pages + 65536, 0, lib.EMU_KERNEL_6_1, 1, out), lib, ffi)
        self.m = ffi.gc(out[0], lib.emu_machine_free)
        if trace:
            check(lib.emu_trace_start(self.m), lib, ffi)
        self.a = check(lib.emu_memcg_create(self.m, 0), lib, ffi)
        self.b = check(lib.emu_memcg_create(self.m, 0), lib, ffi)
        self.x = check(lib.emu_task_new(self.m, self.a), lib, ffi)
        addr = ffi.new("unsigned long long *")
        check(lib.emu_mmap(self.m, self.x, pages * PAGE, lib.EMU_VMA_ANON, ffi.NULL, 0, addr), lib, ffi)
        check(lib.emu_touch(self.m, self.x, addr[0], pages * PAGE, 1, ffi.NULL), lib, ffi)
        self.buf = ffi.new("struct emu_trace_event[]", 4096) if trace else None

    def move(self, policy, to):
        """One move of X to group ``to`` by the policy's C steps; seconds."""
        lib, ffi = self.lib, self.ffi
        ctx_out = ffi.new("struct move_ctx **")
        t0 = time.perf_counter()
        check(lib.emu_move_begin(self.m, self.x, to, ctx_out), lib, ffi)
        ctx = ctx_out[0]
        if policy == "upstream":
            check(lib.emu_upstream_can_attach(ctx, lib.EMU_MOVE_ANON), lib, ffi)
            check(lib.emu_task_attach(self.m, self.x, to), lib, ffi)
            check(lib.emu_upstream_move(ctx), lib, ffi)
            check(lib.emu_upstream_clear(ctx), lib, ffi)
        else:
            check(lib.emu_seed_isolate(ctx), lib, ffi)
            check(lib.emu_seed_recharge(ctx), lib, ffi)
            check(lib.emu_move_putback(ctx), lib, ffi)
            check(lib.emu_task_attach(self.m, self.x, to), lib, ffi)
        check(lib.emu_move_end(ctx), lib, ffi)
        seconds = time.perf_counter() - t0
        if self.buf is not None:      # drain, as Machine.trace does, outside the timing
            while lib.emu_trace_read(self.m, self.buf, 4096) == 4096:
                pass
        return seconds


def trace_cost(pages, rounds, tmp):
    builds = {"trace points in, tracing off": (_core, False),
              "trace points compiled out": (build_notrace(tmp), False),
              "tracing on": (_core, True)}
    results = {}
    for policy in ("upstream", "seed"):
        worlds = {name: World(mod, pages, trace) for name, (mod, trace) in builds.items()}
        times = {name: [] for name in worlds}
        names = list(worlds)
        for i in progress(range(rounds), desc=f"{policy} moves"):
            for name in names[i % 3:] + names[:i % 3]:   # interleaved, order rotated: drift hits all
                w = worlds[name]
                times[name].append(w.move(policy, w.b) + w.move(policy, w.a))
        base = times["trace points compiled out"]
        results[policy] = {name: {"pages_per_s": 2 * pages / statistics.median(t),
                                  # paired by round: the host's load changes between rounds
                                  "vs_compiled_out": statistics.median(b / x for b, x in zip(base, t))}
                           for name, t in times.items()}
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=41)
    ap.add_argument("--pages", type=int, default=1 << 16)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rates = sweep_rates(args.workers, tmp)
        moves = trace_cost(args.pages, args.rounds, tmp)
    seq, pool = rates.values()
    # the pool's speed-up needs idle CPUs: say how busy the host was
    print(f"sweep of 200 case-study points on {os.cpu_count()} CPUs "
          f"(load average {os.getloadavg()[0]:.1f} at the end):")
    for name, r in rates.items():
        print(f"  {name:<16} {r:7.1f} points/s")
    print(f"  pool / sequential  {pool / seq:5.2f}x")
    print(f"move throughput, {args.pages} pages there and back, median of {args.rounds} rounds (pages/s):")
    for policy, by in moves.items():
        for name, r in by.items():
            print(f"  {policy:<9} {name:<30} {r['pages_per_s'] / 1e6:7.2f} M  "
                  f"{100 * (r['vs_compiled_out'] - 1):+6.1f}% (median of per-round ratios)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sweep_points_per_s": rates, "move_pages_per_s": moves,
                       "load_average": os.getloadavg()[0]}, f, indent=1)


if __name__ == "__main__":
    main()
