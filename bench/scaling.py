#!/usr/bin/env python3
"""How faults scale over emulated CPUs, and what a move costs a fault on another CPU.

1. Faults: for N = 1 .. the host's cores, a machine with N CPUs and N groups,
   task i in group i on CPU i with its own anon mapping.  The same faults are
   timed twice on fresh machines: one host thread faulting every task's
   mapping in turn, then N host threads, one per task, started together
   (4 KiB pages: thp="never").
   speedup = one thread's time / N threads' time (ideal: N); cpu_per_page = the CPU time
   the N threads spent / one thread's (1.0: running beside each other cost nothing; above
   1, the host's shared caches and memory slow each thread down, whatever the code does).
2. Move beside a fault: on a 2-CPU machine, task X (group A, moved to B
   with move_charge_at_immigrate 1) and task F faulting into an unrelated
   group C on CPU 1.  Each is timed alone, then both at once; each keeps
   ``kept`` = concurrent rate / solo rate of its own.

    python bench/scaling.py [--pages N] [--move-pages N] [--json FILE]

The host's load matters: run it on an idle machine, and compare within one run.
"""
import argparse
import json
import os
import threading
import time

from memcg_emu import Machine

PAGE = 4096


def fault_world(ncpus, pages):
    m = Machine(ram=(ncpus * pages * PAGE + (64 << 20)), cpus=ncpus, policy="none", thp="never")
    jobs = []
    for i in range(ncpus):
        m.mkdir(f"G{i}")
        pid = m.spawn(f"G{i}")
        m.set_cpu(pid, i)
        jobs.append((pid, m.mmap(pid, pages * PAGE)))
    return m, jobs


def run_threads(fns):
    """Start every fn at once; each one's own (start, end, thread CPU seconds)."""
    barrier = threading.Barrier(len(fns) + 1)
    times = [None] * len(fns)

    def body(i, fn):
        barrier.wait()
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        times[i] = (t0, time.perf_counter(), time.thread_time() - c0)
    threads = [threading.Thread(target=body, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    return times


def bench_faults(ncpus, pages):
    m, jobs = fault_world(ncpus, pages)
    t0, c0 = time.perf_counter(), time.thread_time()
    for pid, addr in jobs:
        m.touch(pid, addr, pages * PAGE)
    one, one_cpu = time.perf_counter() - t0, time.thread_time() - c0
    m.check()
    m, jobs = fault_world(ncpus, pages)
    times = run_threads([lambda p=pid, a=addr: m.touch(p, a, pages * PAGE) for pid, addr in jobs])
    many = max(e for _, e, _ in times) - min(s for s, _, _ in times)
    m.check()
    total = ncpus * pages
    return {"cpus": ncpus, "pages": total, "one_thread_s": one, "threads_s": many,
            "one_thread_pages_per_s": total / one, "threads_pages_per_s": total / many,
            "speedup": one / many, "cpu_per_page": sum(c for _, _, c in times) / one_cpu}


def move_world(move_pages, fault_pages):
    m = Machine(ram=(move_pages + fault_pages) * PAGE + (64 << 20), cpus=2, policy="upstream", thp="never")
    for g in ("A", "B", "C"):
        m.mkdir(g)
    m.write("B", "memory.move_charge_at_immigrate", 1)
    x = m.spawn("A")
    m.set_cpu(x, 0)
    m.touch(x, m.mmap(x, move_pages * PAGE), move_pages * PAGE)
    f = m.spawn("C")
    m.set_cpu(f, 1)
    addr = m.mmap(f, fault_pages * PAGE)
    return m, (lambda: m.move(x, "B")), (lambda: m.touch(f, addr, fault_pages * PAGE))


def bench_move_beside_fault(move_pages, fault_pages):
    _, move, _ = move_world(move_pages, fault_pages)
    move_alone = run_threads([move])[0]
    _, _, fault = move_world(move_pages, fault_pages)
    fault_alone = run_threads([fault])[0]
    m, move, fault = move_world(move_pages, fault_pages)
    both = run_threads([move, fault])
    m.check()

    def rate(pages, se):
        return pages / (se[1] - se[0])
    out = {"move_pages": move_pages, "fault_pages": fault_pages,
           "move_alone_pages_per_s": rate(move_pages, move_alone),
           "fault_alone_pages_per_s": rate(fault_pages, fault_alone),
           "move_concurrent_pages_per_s": rate(move_pages, both[0]),
           "fault_concurrent_pages_per_s": rate(fault_pages, both[1])}
    out["move_kept"] = out["move_concurrent_pages_per_s"] / out["move_alone_pages_per_s"]
    out["fault_kept"] = out["fault_concurrent_pages_per_s"] / out["fault_alone_pages_per_s"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pages", type=int, default=1 << 17, help="pages each task faults (default 2^17)")
    ap.add_argument("--move-pages", type=int, default=1 << 18, help="pages of the moved task (default 2^18)")
    ap.add_argument("--json", help="write the records to this file")
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    faults = []
    print(f"host: {cores} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'cpus':>4} {'pages':>9} {'1 thread p/s':>14} {'N threads p/s':>14} {'speedup':>8} "
          f"{'cpu/page':>8}")
    for n in range(1, cores + 1):
        r = bench_faults(n, args.pages)
        faults.append(r)
        print(f"{n:>4} {r['pages']:>9} {r['one_thread_pages_per_s']:>14,.0f} "
              f"{r['threads_pages_per_s']:>14,.0f} {r['speedup']:>8.2f} {r['cpu_per_page']:>8.2f}")
    mv = bench_move_beside_fault(args.move_pages, args.pages)
    print(f"move {mv['move_pages']} pages: {mv['move_alone_pages_per_s']:,.0f} p/s alone, "
          f"{mv['move_concurrent_pages_per_s']:,.0f} beside a fault (kept {mv['move_kept']:.2f})")
    print(f"fault {mv['fault_pages']} pages: {mv['fault_alone_pages_per_s']:,.0f} p/s alone, "
          f"{mv['fault_concurrent_pages_per_s']:,.0f} beside a move (kept {mv['fault_kept']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"host_cores": cores, "loadavg": os.getloadavg()[0], "faults": faults,
                       "move_beside_fault": mv}, f, indent=1)


if __name__ == "__main__":
    main()
