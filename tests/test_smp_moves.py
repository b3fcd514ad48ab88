"""A move with work on another CPU (``info.run_on``): who waits for whom, deterministically.

The hook starts the work on CPU 1 and lets the mover go on only once the work has
finished or sleeps (``wait_blocked_or_done()`` says on what), so every ordering
below is the same on every run, without a sleep.
"""
from helpers import MiB, anon, stat, usage

from memcg_emu import OOMKilled


def b_filled(m, w_bytes="200M"):
    """The case study's b-filled, scaled down: A (limit 100M) holds X's 80M, B (limit 140M) Z's
    50M; at the 256th page moved, W in B faults ``w_bytes`` on CPU 1.  Returns (x, w, w_addr,
    events, work): events gets what the work sleeps on, B's usage and X's group then."""
    for g, lim in (("A", "100M"), ("B", "140M")):
        m.mkdir(g)
        m.write(g, "memory.limit_in_bytes", lim)
    if m.profile.has_move_charge():
        m.write("B", "memory.move_charge_at_immigrate", "1")
    x, z = m.spawn("A"), m.spawn("B")
    w = m.spawn("B")
    m.set_cpu(x, 0)
    m.set_cpu(w, 1)
    anon(m, x, "80M")
    anon(m, z, "50M")
    w_addr = m.mmap(w, w_bytes)
    events, work = [], []

    def hook(info):
        if info.phase == "move" and info.pages >= 256 and not work:
            work.append(info.run_on(1, lambda: m.touch(w, w_addr, w_bytes)))
            events.append(work[0].wait_blocked_or_done())
            events.append(usage(m, "B") // MiB)
            events.append(m.cgroup_of(x))
    m.on_resched(hook)
    return x, w, w_addr, events, work


def test_mem_cgroup_wait_acct_move_another_cpus_charger_runs_after_the_move_6_1(machine):
    """Upstream: W's charge finds B full of the precharge, reclaims in vain and sleeps on
    mc.waitq while the move goes on; the whole task moves, and only then does W run: its
    OOM kill takes X, the largest task of B, and W's 20M all fit."""
    m = machine(ram="512M", policy="upstream", cpus=2)
    x, w, w_addr, events, work = b_filled(m, "20M")
    res = m.move(x, "B")
    m.on_resched(None)
    work[0].join()
    # W slept with B at its limit (Z, 80M precharged, W's first 10M), X still alive
    assert events == ["mc_waitq", 140, "B"]
    assert (res.outcome, res.pages_moved, res.oom_victims) == ("moved", 80 * MiB // 4096, [])
    assert x not in m.tasks("B") and w in m.tasks("B")
    assert (usage(m, "A"), usage(m, "B")) == (0, 70 * MiB)


def test_mem_cgroup_out_of_memory_on_another_cpu_waits_for_cgroup_mutex_2_6_26(machine):
    """reserve on 2.6.26 (no wait for a move): W's charge fails with B full of the
    reservation and its OOM path takes cgroup_lock(), which the mover holds across the
    attach: W sleeps on cgroup_mutex, not a self-deadlock, and the OOM kill runs once the
    attach has released it: X (in B by then, the largest) dies, W's fault fails, W's
    refault fits.  The mover's own OOM under cgroup_mutex stays a self-deadlock
    (test_mem_cgroup_out_of_memory_takes_cgroup_lock_under_attach_deadlocks_2_6_26)."""
    m = machine(ram="512M", policy="reserve", kernel="2.6.26", cpus=2)
    x, w, w_addr, events, work = b_filled(m, "20M")
    m.drain()           # X's last pages out of the LRU add batch, where the RFD walk misses them
    res = m.move(x, "B")
    m.on_resched(None)
    try:
        work[0].join()
    except OOMKilled as e:
        assert e.victim == x
    else:
        raise AssertionError("W's fault should fail after its OOM kill (2.6.26)")
    assert events == ["cgroup_mutex", 140, "B"]          # the OOM kill waits: X lives on
    assert (res.outcome, res.pages_moved, res.oom_victims) == ("moved", 80 * MiB // 4096, [])
    assert x not in m.tasks("B") and any("Memory cgroup out of memory" in line for line in m.dmesg)
    m.touch(w, w_addr, "20M")                        # the refault: room since X died
    assert usage(m, "B") == 70 * MiB                    # Z and W


def test_mem_cgroup_move_charge_mmap_read_trylock_fails_gives_the_precharge_back_2_6_35(machine):
    """2.6.35 on: X's mlock on another CPU holds X's mmap_lock for write and sleeps on
    mc.waitq (its group A is full).  mem_cgroup_move_charge()'s mmap read trylock fails: the
    mover gives its precharge back, wakes the waiters, cond_resched()s and retries, until
    the writer has finished (here once A's limit is raised); then the walk moves what is
    charged to A, charging B a page at a time since the precharge is gone."""
    m = machine(ram="512M", policy="upstream", kernel="2.6.35", cpus=2)
    for g, lim in (("A", "20M"), ("B", "32M")):
        m.mkdir(g)
        m.write(g, "memory.limit_in_bytes", lim)
    m.write("B", "memory.move_charge_at_immigrate", "1")
    x, z = m.spawn("A"), m.spawn("B")
    anon(m, x, "16M")
    locked = m.mmap(x, "8M")
    m.file_write(z, "/data/z", "24M")         # B's page cache: the bulk precharge needs reclaim
    events, work = [], []

    def hook(info):
        if info.phase == "precharge" and not work:      # X still in A, no mmap_lock held
            work.append(info.run_on(1, lambda: m.mlock(x, locked, "8M")))
            events.append(("writer", work[0].wait_blocked_or_done()))
        elif info.phase == "move" and info.pages == 0 and work:      # a failed trylock
            if len(events) == 1:     # the writer retries its page for A: B is as it stands
                events.append(("given back", usage(m, "B") - stat(m, "B")["cache"]))
            events.append(("retry", work[0].wait_blocked_or_done()))
            if events[-1][1] is not None:
                m.write("A", "memory.limit_in_bytes", "64M")        # room for the writer
    m.on_resched(hook)
    res = m.move(x, "B")
    m.on_resched(None)
    work[0].join()
    # the writer slept on mc.waitq holding the lock; the first retry left B no precharge
    # and woke it, it slept again (A still full); after the limit write, it finished
    assert events == [("writer", "mc_waitq"), ("given back", 0), ("retry", "mc_waitq"),
                      ("retry", None)]
    # moved: X's 16M, the 4M mlocked before A filled and the page that waited; the rest of
    # the mlock faulted in once X was in B, and was charged there
    assert (res.outcome, res.pages_moved) == ("moved", 20 * MiB // 4096 + 1)
    assert usage(m, "A") == 0
    assert stat(m, "B")["rss"] == 24 * MiB and stat(m, "B")["unevictable"] == 8 * MiB


def test_down_write_killable_from_another_cpu_waits_for_the_move(machine):
    """The moving task's munmap from a hook on the mover's thread is EDEADLK (it would wait
    on itself); from another CPU it is an ordinary writer: it sleeps on mmap_lock until the
    move walk drops it, then unmaps."""
    m = machine(policy="upstream", cpus=2)
    m.mkdir("A")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    x = m.spawn("A")
    addr = anon(m, x, "8M")
    events, work = [], []

    def hook(info):
        if info.phase == "move" and not work:
            work.append(info.run_on(1, lambda: m.munmap(x, addr, "4M")))
            events.append(work[0].wait_blocked_or_done())
            events.append(usage(m, "B"))                   # nothing unmapped yet
    m.on_resched(hook)
    m.move(x, "B")
    m.on_resched(None)
    work[0].join()
    assert events == ["mmap_lock", 8 * MiB]
    assert usage(m, "B") == 4 * MiB and usage(m, "A") == 0
