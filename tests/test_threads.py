"""Python threads driving one machine at once: faults, unmaps, forks, exits, a shared file.

Every C entry point releases the GIL, so the threads really race inside the
core.  Each thread keeps a ledger of what its tasks still map; at the end the
machine must pass ``m.check()`` and every group's figures must be exactly
what the ledgers say.  The threads start together on a Barrier; no sleeps.
"""
import random
import threading

import pytest

from helpers import MiB, PAGE, stat, usage

SHARED_FILE = "/data/shared"
SHARED_PAGES = 2048                                  # 8 MiB, mapped by every thread


def run_threads(workers):
    """Run the workers together; re-raise the first exception any of them hit."""
    barrier = threading.Barrier(len(workers))
    errors = []

    def wrap(fn):
        def body():
            try:
                barrier.wait()
                fn()
            except BaseException as e:  # handed to the main thread
                errors.append(e)
                barrier.abort()
        return body

    threads = [threading.Thread(target=wrap(fn)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]


class Worker:
    """One thread's task and the ledger of the private anon pages it still maps."""

    def __init__(self, m, pid, group, seed, iterations, touched_shared, lock):
        self.m, self.pid, self.group = m, pid, group
        self.rng = random.Random(seed)
        self.iterations = iterations
        self.regions = {}                # addr -> pages written (each page private to this task)
        self.private_file_pages = 0
        self.touched_shared = touched_shared
        self.lock = lock
        self.seed = seed

    def step(self, i):
        m, rng, pid = self.m, self.rng, self.pid
        # a new region: part written (charged), part only read (the zero page)
        pages = rng.randint(16, 1024)
        addr = m.mmap(pid, pages * PAGE)
        written = rng.randint(1, pages)
        m.touch(pid, addr, written * PAGE)
        if written < pages:
            m.touch(pid, addr + written * PAGE, (pages - written) * PAGE, write=False)
        self.regions[addr] = (written, pages)

        # fork: the child writes some of this region (COW copies), then goes away
        child = m.fork(pid)
        copies = rng.randint(1, written)
        m.touch(child, addr, copies * PAGE)
        if i % 3 == 0:
            m.exec(child)
            anon_child = m.mmap(child, "64K")
            m.touch(child, anon_child, "64K")
        m.exit(child)

        # the parent writes over pages the child may have copied: its own again, no new charge
        m.touch(pid, addr, copies * PAGE)

        # unmap the front half of an older region (or all of it)
        if len(self.regions) > 2:
            old = rng.choice(sorted(self.regions))
            w, n = self.regions[old]
            cut = rng.choice([n, n // 2]) if n > 1 else n
            m.munmap(pid, old, cut * PAGE)
            if cut == n:
                del self.regions[old]
            else:
                # the rest starts at old + cut pages; written pages beyond the cut survive
                del self.regions[old]
                self.regions[old + cut * PAGE] = (max(0, w - cut), n - cut)

        # the shared file: map its first pages, touch them (read or write), sometimes keep them mapped
        count = rng.randint(1, SHARED_PAGES)
        window = m.mmap(pid, count * PAGE, kind="file", path=SHARED_FILE)
        m.touch(pid, window, count * PAGE, write=rng.random() < 0.5)
        with self.lock:
            self.touched_shared.update(range(count))
        if rng.random() < 0.7:
            m.munmap(pid, window, count * PAGE)

        # a private file of this thread: page cache charged to its group
        if i % 4 == 0:
            self.private_file_pages += 16
            m.file_write(pid, f"/data/private-{self.seed}", self.private_file_pages * PAGE)

    def run(self):
        for i in range(self.iterations):
            self.step(i)


def test_threads_fault_unmap_fork_exit_share_a_file(machine):
    m = machine(ram="2G", cpus=4)          # tasks spread over CPUs: per-CPU stocks and lists race
    for cg in ("S", "T", "U", "V"):
        m.mkdir(cg)
    touched_shared = set()
    lock = threading.Lock()
    # two threads in group S with their own tasks, one more thread in S sharing a task with
    # another (same mm, disjoint regions), and one thread each in T, U, V
    p_s1, p_s2 = m.spawn("S"), m.spawn("S")
    pid_of = {0: p_s1, 1: p_s2, 2: p_s1, 3: m.spawn("T"), 4: m.spawn("U"), 5: m.spawn("V")}
    group_of = {0: "S", 1: "S", 2: "S", 3: "T", 4: "U", 5: "V"}
    workers = [Worker(m, pid_of[t], group_of[t], seed=1000 + t, iterations=120,
                      touched_shared=touched_shared, lock=lock) for t in range(6)]
    run_threads([w.run for w in workers])

    m.check()
    groups = ("S", "T", "U", "V")
    stats = {cg: stat(m, cg) for cg in groups}
    for cg in groups:
        mine = [w for w in workers if w.group == cg]
        anon_bytes = sum(sum(wr for wr, _ in w.regions.values()) for w in mine) * PAGE
        assert stats[cg]["rss"] == anon_bytes, cg
        private = sum(w.private_file_pages for w in mine) * PAGE
        assert stats[cg]["cache"] >= private, cg
        assert usage(m, cg) == stats[cg]["rss"] + stats[cg]["cache"], cg
        # every charge and uncharge was counted once
        assert (stats[cg]["pgpgin"] - stats[cg]["pgpgout"]) * PAGE == usage(m, cg), cg
        assert stats[cg]["shmem"] == 0
    private_total = sum(w.private_file_pages for w in workers) * PAGE
    shared_total = len(touched_shared) * PAGE
    assert sum(stats[cg]["cache"] for cg in groups) == private_total + shared_total
    assert usage(m, "") == sum(usage(m, cg) for cg in groups)

    # tear down: every task exits, only the page cache stays, then reclaim takes it
    for pid in set(pid_of.values()):
        m.exit(pid)
    m.check()
    assert all(stat(m, cg)["rss"] == 0 for cg in groups)
    assert sum(usage(m, cg) for cg in groups) == private_total + shared_total
    for cg in groups:
        m.reclaim(cg, "64M")
        assert usage(m, cg) == 0, cg
    m.check()


@pytest.mark.parametrize("thp", ["never", "always"])
def test_threads_share_one_mm_and_race_cow(machine, thp):
    """Parent and child write the same COW pages at once, while two more threads map and unmap in the parent's mm.

    With THP the first round's pages are huge: both writers split their PMDs and copy 4 KiB at
    a time while the churn splits its own; a huge page whose last frame one of them reuses
    stays charged whole until reclaim's deferred split frees the rest."""
    m = machine(ram="1G", thp=thp, cpus=2)
    m.mkdir("A")
    parent = m.spawn("A")
    base = m.mmap(parent, "8M")
    m.touch(parent, base, "8M")

    def cow_writer(pid):
        return lambda: m.touch(pid, base, "8M")

    def churn():
        for _ in range(3):
            addr = m.mmap(parent, "4M")
            m.touch(parent, addr, "4M")
            m.munmap(parent, addr + 2 * MiB, "2M")
            m.touch(parent, addr, "2M", write=False)
            m.munmap(parent, addr, "2M")

    for _ in range(25):
        child = m.fork(parent)
        run_threads([cow_writer(parent), cow_writer(child), churn, churn])
        if thp == "always":
            m.reclaim("A", "64M")   # no swap: only the deferred split frees anything
        s = stat(m, "A")
        assert usage(m, "A") == 16 * MiB and s["rss"] == 16 * MiB   # each owns 8M of private pages
        if thp == "never":      # a huge charge is one pgpgin event
            assert (s["pgpgin"] - s["pgpgout"]) * PAGE == 16 * MiB
        m.exit(child)
        assert usage(m, "A") == 8 * MiB
    m.check()
    m.exit(parent)
    assert usage(m, "A") == 0


def limited_group_round(m, seed):
    """Four tasks in one limited group write page cache and keep some anon: reclaim races the faults."""
    m.mkdir("L")
    m.write("L", "memory.limit_in_bytes", "16M")
    pids = [m.spawn("L") for _ in range(4)]
    kept = {}

    def worker(n, pid):
        def body():
            rng = random.Random(seed * 10 + n)
            total = 0
            addrs = []
            for i in range(150):
                m.file_write(pid, f"/data/l{n}-{i}", rng.randint(1, 512) * PAGE)
                if total < 2 * MiB:                  # anon stays at 2M a task: 8M of 16M
                    size = min(rng.randint(1, 64) * PAGE, 2 * MiB - total)
                    addr = m.mmap(pid, size)
                    m.touch(pid, addr, size)
                    addrs.append((addr, size))
                    total += size
                if addrs and rng.random() < 0.3:
                    addr, size = addrs.pop(rng.randrange(len(addrs)))
                    m.munmap(pid, addr, size)
                    total -= size
            kept[n] = total
        return body

    run_threads([worker(n, pid) for n, pid in enumerate(pids)])
    m.check()
    s = stat(m, "L")
    assert s["rss"] == sum(kept.values())
    assert usage(m, "L") == s["rss"] + s["cache"] <= 16 * MiB
    assert int(m.read("L", "memory.failcnt")) > 0
    assert int(m.read("L", "memory.max_usage_in_bytes")) <= 16 * MiB
    assert m.read("L", "tasks") == "".join(f"{p}\n" for p in sorted(pids))   # nobody was OOM-killed


def test_threads_under_a_limit_reclaim_page_cache(machine):
    """Concurrent reclaim of one group's page cache, many short rounds (each on a fresh machine)."""
    for seed in range(40):
        limited_group_round(machine(ram="256M", cpus=2), seed)


def test_threads_swap_out_races_exit_and_shmem_teardown(machine):
    """Reclaim swaps out pages of tasks that exit, and shmem that is torn down, at the same moment.

    A slot that reclaim took for a page whose last mapping vanished meanwhile
    must be freed, not left with a count and no reference; a dying shmem
    object's pages are truncated under their page lock, as reclaim expects.
    """
    m = machine(ram="32M", swap="16M", cpus=2)
    m.mkdir("A")

    def exiter():
        for _ in range(200):
            pid = m.spawn("A")
            addr = m.mmap(pid, "4M")
            m.touch(pid, addr, "4M")
            m.exit(pid)

    def shmem_churn():
        pid = m.spawn("A")
        for _ in range(200):
            addr = m.mmap(pid, "2M", kind="shm")
            m.touch(pid, addr, "2M")
            m.munmap(pid, addr, "2M")
        m.exit(pid)

    def toucher():
        tasks = []
        for _ in range(9):
            pid = m.spawn("A")
            tasks.append((pid, m.mmap(pid, "4M")))
        for _ in range(24):
            for pid, addr in tasks:
                m.touch(pid, addr, "4M")     # 36M of anon in 32M of RAM: reclaim swaps
        for pid, _ in tasks:
            m.exit(pid)

    run_threads([exiter, shmem_churn, toucher])
    m.check()
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["rss"] == 0 and s["swap"] == 0 and s["shmem"] == 0


@pytest.mark.parametrize("kernel", ["6.1", "3.4", "2.6.26"])
def test_threads_forked_tasks_share_swap_cache_pages_under_reclaim(machine, kernel):
    """Forked tasks fault in the same swapped-out slots, copy some on write and exit, while
    their group's limit keeps reclaim putting the shared pages back in their slots: each
    slot caches one page, and nothing is leaked.  Before 3.17 the last unmap uncharges
    (2.6.26: in the swap cache too, and a swap-in charges the page again) as the others
    fault, copy and reclaim."""
    m = machine(swap="64M", kernel=kernel)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "6M")
    parent = m.spawn("A")
    addr = m.mmap(parent, "8M")
    m.touch(parent, addr, "8M")                 # 8M in a 6M group: some of it swapped
    kids = [m.fork(parent) for _ in range(3)]

    def toucher(pid, exits):
        def run():
            for i in range(20):
                m.touch(pid, addr, "8M", write=i % 4 == 3)
            if exits:
                m.exit(pid)
        return run

    run_threads([toucher(parent, False)] + [toucher(kid, True) for kid in kids])
    m.check()
    m.exit(parent)
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["rss"] == 0 and s.get("swap", 0) == 0   # 2.6.26: no swap line
