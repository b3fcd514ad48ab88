#!/usr/bin/env python3
"""Page-move throughput of every charge-moving policy, against the hardware limit and pure Python.

For each policy and task size (2^10 ... 2^22 private anon pages in 4 KiB pages;
--large adds 2^24; --quick stops at 2^14) a fresh machine moves the task from A to B and
the move is timed end to end through Machine.move(), with its phases
(AttachContext.phases).  The moved bytes are checked, not assumed.  In the
same run:
- the limit: a minimal C loop over the same structures doing only the
  irreducible per-page work (read the PTE, find the page, lock its
  page_cgroup, switch the owner, unlock) -- each policy is reported as a
  fraction of it;
- a pure-Python baseline: the seed's algorithm over plain Python objects,
  on the sizes up to 2^16, reported as a speed-up;
- the same move with a second thread charging in the destination group;
- host memory per emulated page (the RSS the faulted task added);
- "upstream-thp": the same task in transparent huge pages (thp="always"), moved by
  upstream a huge page at a time.

    python bench/move_throughput.py [--quick] [--large] [--json FILE] [--policy P ...]

prints a table and, with --json, writes one record per (policy, size):
{"policy", "pages", "seconds", "pages_per_s", "limit_pages_per_s",
 "python_pages_per_s", "bytes_per_page", "phases", "concurrent_pages_per_s"};
for lazy and lazy-move, phases["later reclaim"] times the reclaim that settles
what the move left owing (swap-out for lazy, recharge for lazy-move).
"""
import argparse
import gc
import json
import os
import sys
import threading
import time

from memcg_emu import Machine
from memcg_emu._core import lib
from memcg_emu.progress import progress

PAGE = 4096
MOVING = ("seed", "reserve", "upstream", "half", "lazy", "lazy-move")


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def world(policy, pages, thp="never"):
    """A machine with task X in A holding `pages` private anon pages, B ready to take them.

    The lazy policies get swap as large as the task, for the reclaim that settles them later.
    """
    ram = (pages * PAGE + (256 << 20)) // (1 << 20) << 20
    swap = pages * PAGE + (1 << 20) if policy == "lazy" else 0
    rss0 = rss_bytes()
    m = Machine(ram=ram, swap=swap, policy=policy, thp=thp)
    m.mkdir("A")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", 1)
    x = m.spawn("A")
    addr = m.mmap(x, pages * PAGE)
    m.touch(x, addr, pages * PAGE)
    m.drain()       # the last pages out of the LRU add batch: the RFD walks isolate only listed pages
    return m, x, rss_bytes() - rss0


def validate(m, policy, pages):
    """The move did what it says: the bytes are in B (or owed there, for the lazy policies)."""
    if policy.startswith("lazy"):
        got = int(m.read("A", "memcg_emu.wrong_charge_bytes"))
    else:
        # neither the 6.1 charge stock's pages ahead nor the second thread's page tables
        # (kmem) are moved bytes
        m.drain()
        got = int(m.read("B", "memory.usage_in_bytes")) - int(m.read("B", "memory.kmem.usage_in_bytes"))
    if got != pages * PAGE:
        raise SystemExit(f"{policy} {pages} pages: {got} bytes moved, expected {pages * PAGE}")


def time_move(policy, pages, concurrent=False, thp="never"):
    m, x, rss = world(policy, pages, thp)
    stop = threading.Event()
    thread = None
    if concurrent:
        z = m.spawn("B")
        z_addr = m.mmap(z, "16M")

        running = threading.Event()

        def charge_in_b():
            addr = z_addr
            while not stop.is_set():
                m.touch(z, addr, "16M")
                running.set()
                m.munmap(z, addr, "16M")
                addr = m.mmap(z, "16M")
        thread = threading.Thread(target=charge_in_b)
        thread.start()
        running.wait()          # the second thread is charging before the move starts
    gc.collect()    # as timeit does: no collection of earlier rows' garbage inside the timed move
    gc.disable()
    try:
        t0 = time.perf_counter()
        m.move(x, "B")
        seconds = time.perf_counter() - t0
    finally:
        gc.enable()
    if thread:
        stop.set()
        thread.join()
    validate(m, policy, pages)
    phases = dict(m.last_attach.phases)
    if policy.startswith("lazy"):
        # the later reclaim that settles what lazy left owing: swap-out (lazy) or recharge (lazy-move)
        t0 = time.perf_counter()
        freed = m.reclaim("A", pages * PAGE)
        phases["later reclaim"] = time.perf_counter() - t0
        if freed < pages * PAGE or int(m.read("A", "memcg_emu.wrong_charge_bytes")):
            raise SystemExit(f"{policy}: the later reclaim settled {freed} of {pages * PAGE} bytes")
    return seconds, phases, rss


def best(fn, repeat):
    runs = [fn() for _ in range(repeat)]
    return min(runs, key=lambda r: r[0])


def limit_rate(pages, repeat):
    """pages/s of the minimal C loop on the same structures (there and back, best time)."""
    m, x, _ = world("none", pages)
    a, b = m._cg("A").memcg_id, m._cg("B").memcg_id
    times = []
    for _ in range(repeat):
        for dst in (b, a):
            t0 = time.perf_counter()
            n = lib.emu_bench_min_loop(m._m, x, dst)
            times.append(time.perf_counter() - t0)
            if n != pages:
                raise SystemExit(f"minimal loop switched {n} of {pages} pages")
    m.check()
    return pages / min(times)


# ---- the pure-Python baseline: the seed's algorithm over plain Python objects ----

class PyResCounter:
    """res_counter with its lock and its parent (the root counts every charge)."""

    def __init__(self, parent=None, limit=1 << 62):
        self.lock = threading.Lock()
        self.usage, self.max_usage, self.limit, self.parent = 0, 0, limit, parent

    def charge(self, n):
        done = []
        c = self
        while c:
            with c.lock:
                if c.usage + n > c.limit:
                    for d in done:
                        d.uncharge_one(n)
                    return False
                c.usage += n
                c.max_usage = max(c.max_usage, c.usage)
            done.append(c)
            c = c.parent
        return True

    def uncharge_one(self, n):
        with self.lock:
            self.usage -= n

    def uncharge(self, n):
        c = self
        while c:
            c.uncharge_one(n)
            c = c.parent


class PyMemcg:
    def __init__(self, parent=None):
        self.res = PyResCounter(parent.res if parent else None)
        self.stat = {"rss": 0, "pgpgin": 0, "pgpgout": 0}
        self.lru_lock = threading.Lock()
        self.lru = {}                          # the inactive anon list, in order


class PyPage:
    __slots__ = ("memcg", "mapcount", "count", "anon", "lock", "on_lru")

    def __init__(self, memcg):
        self.memcg, self.mapcount, self.count, self.anon = memcg, 1, 1, True
        self.lock, self.on_lru = threading.Lock(), True


def python_seed_move(pages):
    """A task with a 4-level page table of PyPages in A, moved to B by the seed's phases 1-4."""
    root = PyMemcg()
    a, b = PyMemcg(root), PyMemcg(root)
    pgd = {}
    for i in range(pages):
        page = PyPage(a)
        a.res.charge(PAGE)
        a.stat["rss"] += 1
        a.lru[id(page)] = page
        pgd.setdefault(i >> 27, {}).setdefault((i >> 18) & 511, {}).setdefault((i >> 9) & 511, {})[i & 511] = page
    t0 = time.perf_counter()
    isolated = []
    for pud in pgd.values():                       # phase 1: walk the tables, isolate
        for pmd in pud.values():
            for pte in pmd.values():
                for page in pte.values():
                    if page.anon and page.mapcount == 1:
                        with page.memcg.lru_lock:
                            if page.on_lru:
                                del page.memcg.lru[id(page)]
                                page.on_lru = False
                                page.count += 1
                                isolated.append(page)
    with b.res.lock:                               # phase 2: room (there is)
        if b.res.usage + len(isolated) * PAGE > b.res.limit:
            raise SystemExit("no room")
    for page in isolated:                          # phase 3: uncharge, charge, page locked
        if page.count != 2 or page.mapcount != 1:
            continue
        with page.lock:
            old = page.memcg
            old.res.uncharge(PAGE)
            old.stat["rss"] -= 1
            old.stat["pgpgout"] += 1
            if not b.res.charge(PAGE):
                raise SystemExit("charge failed")
            page.memcg = b
            b.stat["rss"] += 1
            b.stat["pgpgin"] += 1
    for page in isolated:                          # phase 4: put back
        with page.memcg.lru_lock:
            page.memcg.lru[id(page)] = page
            page.on_lru = True
        page.count -= 1
    seconds = time.perf_counter() - t0
    if b.res.usage != pages * PAGE or a.res.usage != 0 or root.res.usage != pages * PAGE:
        raise SystemExit("the Python baseline moved the wrong amount")
    return seconds


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="sizes 2^10..2^14 only (a smoke run)")
    ap.add_argument("--large", action="store_true", help="add 2^24 pages (64 GiB emulated)")
    ap.add_argument("--json", metavar="FILE", help="write the records here")
    ap.add_argument("--policy", action="append", choices=MOVING, help="only these policies")
    args = ap.parse_args(argv)
    exps = list(range(10, 15)) if args.quick else list(range(10, 23, 2)) + [22]
    exps = sorted(set(exps + ([24] if args.large else [])))
    policies = args.policy or list(MOVING)
    records = []
    limits, pyrates = {}, {}
    for e in progress(exps, desc="sizes"):
        pages = 1 << e
        repeat = 5 if e <= 14 else 3 if e <= 18 else 1
        limits[pages] = limit_rate(pages, repeat)
        if e <= 16:
            pyrates[pages] = pages / min(python_seed_move(pages) for _ in range(2))
        for policy in policies:
            seconds, phases, rss = best(lambda: time_move(policy, pages), repeat)
            conc = None
            if e in (16, 20):
                conc = pages / time_move(policy, pages, concurrent=True)[0]
            records.append({
                "policy": policy, "pages": pages, "seconds": seconds,
                "pages_per_s": pages / seconds, "limit_pages_per_s": limits[pages],
                "python_pages_per_s": pyrates.get(pages),
                # smaller tasks drown in the allocator's reuse of freed host memory
                "bytes_per_page": rss / pages if e >= 20 else None,
                "phases": phases, "concurrent_pages_per_s": conc,
            })
            print(f"{policy:9} 2^{e:<2} {pages / seconds / 1e6:8.2f} M pages/s", file=sys.stderr)
        if "upstream" in policies and e >= 10:
            # the same task in transparent huge pages: upstream moves each as one
            seconds, phases, rss = best(lambda: time_move("upstream", pages, thp="always"), repeat)
            records.append({
                "policy": "upstream-thp", "pages": pages, "seconds": seconds,
                "pages_per_s": pages / seconds, "limit_pages_per_s": limits[pages],
                "python_pages_per_s": None, "bytes_per_page": rss / pages if e >= 20 else None,
                "phases": phases, "concurrent_pages_per_s": None,
            })
            print(f"{'upstream-thp':9} 2^{e:<2} {pages / seconds / 1e6:8.2f} M pages/s", file=sys.stderr)
    print_table(records)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
            f.write("\n")
    return 0


def print_table(records):
    head = ("policy", "pages", "Mpages/s", "of limit", "x Python", "B/page", "w/ 2nd thread",
            "later reclaim Mpages/s", "slowest phase")
    rows = [head]
    for r in records:
        moving = {k: v for k, v in r["phases"].items() if k != "later reclaim"}
        slow = max(moving.items(), key=lambda kv: kv[1])[0] if moving else "-"
        rows.append((r["policy"], f"2^{r['pages'].bit_length() - 1}", f"{r['pages_per_s'] / 1e6:.1f}",
                     f"{r['pages_per_s'] / r['limit_pages_per_s']:.0%}",
                     f"{r['pages_per_s'] / r['python_pages_per_s']:.0f}" if r["python_pages_per_s"] else "-",
                     f"{r['bytes_per_page']:.0f}" if r["bytes_per_page"] else "-",
                     f"{r['concurrent_pages_per_s'] / 1e6:.1f}M" if r["concurrent_pages_per_s"] else "-",
                     f"{r['pages'] / r['phases']['later reclaim'] / 1e6:.1f}" if "later reclaim" in r["phases"]
                     else "-", slow))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for i, row in enumerate(rows):
        print("  ".join(c.rjust(w) if j else c.ljust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    sys.exit(main())
