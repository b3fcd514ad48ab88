"""CPUs and their per-CPU state: the charge stock (mm/memcontrol.c memcg_stock, 2.6.33 on) and the
LRU add batches (mm/swap.c)."""
import errno

import pytest

from helpers import PAGE, raw_stat, stat

from memcg_emu import Machine


def raw_usage(m, cg):
    """memory.usage_in_bytes as read, the stocks included (helpers.usage drains first)."""
    return int(m.read(cg, "memory.usage_in_bytes"))


def touch_pages(m, pid, n):
    addr = m.mmap(pid, n * PAGE)
    m.touch(pid, addr, n * PAGE)
    return addr


@pytest.mark.parametrize("kernel, batch", [("6.1", 64), ("6.13", 64), ("3.4", 32), ("2.6.34", 32),
                                           ("2.6.26", 1)])
def test_refill_stock_one_touched_page_charges_a_batch(machine, kernel, batch):
    """try_charge_memcg(): the counters are charged a whole batch, the rest waits in the CPU's
    stock (MEMCG_CHARGE_BATCH 64 in 6.1, CHARGE_BATCH 32 before; no stock before 2.6.33)."""
    m = machine(kernel=kernel)
    m.mkdir("A")
    touch_pages(m, m.spawn("A"), 1)
    assert raw_usage(m, "A") == batch * PAGE
    m.drain()
    assert raw_usage(m, "A") == PAGE


def test_consume_stock_hands_out_the_batch_without_charging_again(m):
    m.mkdir("A")
    pid = m.spawn("A")
    touch_pages(m, pid, 64)                  # the first page's batch covers all 64
    assert raw_usage(m, "A") == 64 * PAGE
    touch_pages(m, pid, 1)                   # the stock is empty: a second batch
    assert raw_usage(m, "A") == 128 * PAGE
    m.drain()
    assert raw_usage(m, "A") == 65 * PAGE


def test_consume_stock_is_per_cpu(machine):
    """A task on CPU 1 cannot use what CPU 0's stock holds: each CPU charges its own batch."""
    m = machine(cpus=2)
    m.mkdir("A")
    p, q = m.spawn("A"), m.spawn("A")
    assert (m.cpu_of(p), m.cpu_of(q)) == (0, 1)          # round-robin placement
    touch_pages(m, p, 1)
    touch_pages(m, q, 1)
    assert raw_usage(m, "A") == 128 * PAGE
    m.set_cpu(q, 0)
    touch_pages(m, q, 1)                     # from CPU 0's stock now
    assert raw_usage(m, "A") == 128 * PAGE
    m.drain()
    assert raw_usage(m, "A") == 3 * PAGE


def test_refill_stock_of_another_group_gives_the_old_one_back(m):
    """One stock per CPU: a batch for B on the same CPU drains what A's stock held."""
    for g in ("A", "B"):
        m.mkdir(g)
    touch_pages(m, m.spawn("A"), 1)
    touch_pages(m, m.spawn("B"), 1)
    assert (raw_usage(m, "A"), raw_usage(m, "B")) == (PAGE, 64 * PAGE)


def test_mem_cgroup_resize_max_drains_before_refusing(machine):
    """A limit below what the stocks inflate usage to, but above the pages, succeeds: the
    limit write drains every CPU's stock before it reclaims (6.1 mem_cgroup_resize_max())."""
    m = machine(cpus=2)
    m.mkdir("A")
    for _ in range(2):
        touch_pages(m, m.spawn("A"), 1)
    assert raw_usage(m, "A") == 128 * PAGE
    m.write("A", "memory.limit_in_bytes", 10 * PAGE)     # anon, no swap: reclaim frees nothing
    assert raw_usage(m, "A") == 2 * PAGE


def test_try_charge_memcg_drains_other_cpus_stocks_before_oom(machine):
    """A charge that fails while another CPU's stock holds the group's charge drains it
    (drain_all_stock(mem_over_limit)) and succeeds instead of going OOM."""
    m = machine(cpus=2)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", 100 * PAGE)
    p, q = m.spawn("A"), m.spawn("A")
    touch_pages(m, q, 1)                     # CPU 1's stock: 63 pages of A
    touch_pages(m, p, 99)                    # CPU 0 needs them all
    assert raw_usage(m, "A") == 100 * PAGE
    assert stat(m, "A")["rss"] == 100 * PAGE


def test_force_empty_and_rmdir_drain_the_stocks(machine):
    m = machine(cpus=2)
    m.mkdir("A")
    m.mkdir("B")
    pid = m.spawn("A")
    m.set_cpu(pid, 1)
    addr = touch_pages(m, pid, 1)
    m.munmap(pid, addr, PAGE)
    m.write("A", "memory.force_empty", "0")
    assert raw_usage(m, "A") == 0
    q = m.spawn("B")
    touch_pages(m, q, 1)
    m.exit(q)
    # the stock outlives the task, and so does its page: CPU 0's LRU add batch still holds it
    assert raw_usage(m, "") == 64 * PAGE
    m.rmdir("B")
    assert raw_usage(m, "") == 0


def test_set_cpu_within_the_cpuset(machine):
    """sched_setaffinity(): EINVAL for a CPU outside the task's cpuset or the machine."""
    m = machine(cpus=4)
    m.mkdir("A")
    m.write("A", "cpuset.cpus", "2-3")
    pid = m.spawn("A")
    assert m.cpu_of(pid) in (2, 3)
    for bad in (0, 4, -1):
        with pytest.raises(OSError) as e:
            m.set_cpu(pid, bad)
        assert e.value.errno == errno.EINVAL
    m.set_cpu(pid, 3)
    assert m.cpu_of(pid) == 3


def test_update_tasks_cpumask_moves_tasks_off_removed_cpus(machine):
    """Writing cpuset.cpus moves the group's tasks off the CPUs it took away; moving a task to a
    group with other CPUs (cpuset_attach()) does the same."""
    m = machine(cpus=4)
    for g in ("A", "B"):
        m.mkdir(g)
    m.write("B", "cpuset.cpus", "0")
    pid = m.spawn("A")
    m.set_cpu(pid, 3)
    m.write("A", "cpuset.cpus", "1-2")
    assert m.cpu_of(pid) in (1, 2)
    child = m.fork(pid)
    assert m.cpu_of(child) in (1, 2)
    m.move(pid, "B")
    assert m.cpu_of(pid) == 0


def test_mem_cgroup_wait_acct_move_work_on_another_cpu_waits_for_the_move(machine):
    """A charger on CPU 1 over the old group's limit waits on mc_waitq while the mover on
    CPU 0 goes on, and charges once the move has ended (mem_cgroup_clear_mc() wakes it)."""
    m = machine(ram="256M", policy="upstream", cpus=2)
    for g in ("A", "B"):
        m.mkdir(g)
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.write("A", "memory.limit_in_bytes", "100M")
    x, y = m.spawn("A"), m.spawn("A")
    m.set_cpu(x, 0)
    m.set_cpu(y, 1)
    m.touch(x, m.mmap(x, "80M"), "80M")
    y_addr = m.mmap(y, "30M")
    events = []

    def hook(info):
        if info.phase == "move" and not events:
            work = info.run_on(1, lambda: m.touch(y, y_addr, "30M"))
            events.append(("blocked", work.wait_blocked_or_done()))
            m.drain()
            events.append(("A while Y waits", raw_usage(m, "A")))   # full: X's 80M, 20M of Y's
            events.append(work)
    m.on_resched(hook)
    m.move(x, "B")
    m.on_resched(None)
    work = events.pop()
    work.join()                                  # woken by the move's end, then charged
    assert events == [("blocked", "mc_waitq"), ("A while Y waits", 100 << 20)]
    m.drain()
    assert (raw_usage(m, "A"), raw_usage(m, "B")) == (30 << 20, 80 << 20)


# ---- the LRU add batches (mm/swap.c cpu_fbatches.lru_add, lru_add_pvecs before) ----

def on_lists(m, cg):
    """Pages on the group's LRU lists, as memory.stat's lines read right now."""
    s = raw_stat(m, cg)
    return sum(s.get(k, 0) for k in ("inactive_anon", "active_anon", "inactive_file",
                                      "active_file", "unevictable", "active", "inactive")) // PAGE


@pytest.mark.parametrize("kernel, size", [("6.1", 15), ("6.13", 31), ("3.4", 14), ("2.6.34", 14)])
def test_folio_add_lru_batches_pagevec_size_pages(machine, kernel, size):
    """folio_add_lru() / __lru_cache_add(): a new page waits in its CPU's batch, on no list and
    in no LRU line of memory.stat (update_lru_size() runs as it joins); the batch's last page
    moves them all (PAGEVEC_SIZE: 14 until 4.14, 15 from 4.15, 31 from 6.10)."""
    m = machine(kernel=kernel)
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, 2 * size * PAGE)
    m.touch(pid, addr, (size - 1) * PAGE)
    assert on_lists(m, "A") == 0 and raw_stat(m, "A")["rss"] == (size - 1) * PAGE
    m.touch(pid, addr, size * PAGE)
    assert on_lists(m, "A") == size
    m.touch(pid, addr, (size + 3) * PAGE)
    assert on_lists(m, "A") == size
    m.drain()                                # lru_add_drain_all()
    assert on_lists(m, "A") == size + 3


def test_mem_cgroup_charge_on_2_6_26_counts_batched_pages_on_the_groups_list(machine):
    """2.6.26 put a page on its group's own list at charge (mem_cgroup_charge_common()), so
    memory.stat counts a page that is still in the zone LRU's pagevec."""
    m = machine(kernel="2.6.26")
    m.mkdir("A")
    pid = m.spawn("A")
    m.touch(pid, m.mmap(pid, 5 * PAGE), 5 * PAGE)
    assert on_lists(m, "A") == 5


def test_folio_batch_reference_keeps_a_freed_page_charged(m):
    """The batch holds a reference (folio_get() in folio_add_lru()): a page unmapped while
    batched is freed, and uncharged, only when the batch moves."""
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, 3 * PAGE)
    m.touch(pid, addr, 3 * PAGE)
    m.munmap(pid, addr, 3 * PAGE)
    assert raw_stat(m, "A")["rss"] == 3 * PAGE
    m.check()
    m.drain()
    assert raw_stat(m, "A")["rss"] == 0 and raw_usage(m, "A") == 0


def test_isolate_lru_page_misses_a_batched_page_under_the_seed(machine):
    """The RFD's walk isolates with isolate_lru_page(), -EBUSY for a page not on an LRU: the
    pages still in CPU 1's batch stay charged to the old group; on their lists, they move."""
    m = machine(policy="seed", cpus=2)
    for g in ("A", "B", "C"):
        m.mkdir(g)
    pid = m.spawn("A")
    m.set_cpu(pid, 1)
    m.touch(pid, m.mmap(pid, 20 * PAGE), 20 * PAGE)     # 15 on the list, 5 in CPU 1's batch
    m.move(pid, "B")
    assert m.last_attach.pages_moved == 15
    assert (stat(m, "A")["rss"], stat(m, "B")["rss"]) == (5 * PAGE, 15 * PAGE)
    m.move(pid, "C")                         # stat()'s drain put the 5 on their list
    assert m.last_attach.pages_moved == 20
    assert stat(m, "C")["rss"] == 20 * PAGE


def test_mem_cgroup_move_charge_drains_every_cpus_batch_first(machine):
    """6.1 mem_cgroup_move_charge() starts with lru_add_drain_all(): a page in another CPU's
    batch is on its list when the walk isolates it, and moves."""
    m = machine(policy="upstream", cpus=2)
    for g in ("A", "B"):
        m.mkdir(g)
    m.write("B", "memory.move_charge_at_immigrate", "1")
    pid = m.spawn("A")
    m.set_cpu(pid, 1)
    m.touch(pid, m.mmap(pid, 20 * PAGE), 20 * PAGE)
    assert on_lists(m, "A") == 15
    m.move(pid, "B")                         # the mover runs on CPU 0
    assert m.last_attach.pages_moved == 20
    assert (raw_stat(m, "A")["rss"], raw_stat(m, "B")["rss"]) == (0, 20 * PAGE)


def test_shrink_lruvec_drains_only_this_cpus_batch(machine):
    """Reclaim starts with lru_add_drain() (shrink_inactive_list()): the reclaiming CPU's
    batch joins the lists, another CPU's stays where it is."""
    m = machine(cpus=2)
    m.mkdir("A")
    p, q = m.spawn("A"), m.spawn("A")
    m.set_cpu(p, 0)
    m.set_cpu(q, 1)
    m.touch(p, m.mmap(p, 4 * PAGE), 4 * PAGE)
    m.touch(q, m.mmap(q, 6 * PAGE), 6 * PAGE)
    assert on_lists(m, "A") == 0
    m.reclaim("A", PAGE)                     # no swap: anon stays, but CPU 0's batch is drained
    assert on_lists(m, "A") == 4


def test_lru_add_batches_under_threads_on_two_cpus(machine):
    """Two host threads faulting and unmapping on two CPUs, each through its own batch; every
    page ends on a list or freed, and the statistics agree with the pages."""
    import threading
    m = machine(cpus=2, ram="256M")
    m.mkdir("A")
    pids = [m.spawn("A"), m.spawn("A")]
    for cpu, pid in enumerate(pids):
        m.set_cpu(pid, cpu)

    def work(pid):
        for _ in range(20):
            addr = m.mmap(pid, 101 * PAGE)
            m.touch(pid, addr, 101 * PAGE)
            m.munmap(pid, addr, 50 * PAGE)
    threads = [threading.Thread(target=work, args=(pid,)) for pid in pids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m.check()
    m.drain()
    assert on_lists(m, "A") == 2 * 20 * 51 and stat(m, "A")["rss"] == 2 * 20 * 51 * PAGE


# ---- per-CPU statistics (6.1 memcg->vmstats_percpu, folded on read) ----

def test_memcg_page_state_folds_every_cpus_counters(machine):
    """A page charged on CPU 0 and freed on CPU 1 leaves +1 on one CPU's counter and -1 on the
    other's: memory.stat shows their fold (mem_cgroup_flush_stats() before memcg_stat_show())."""
    m = machine(cpus=2)
    m.mkdir("A")
    p, q = m.spawn("A"), m.spawn("A")
    m.set_cpu(p, 0)
    m.set_cpu(q, 1)
    addr = m.mmap(p, 10 * PAGE)
    m.touch(p, addr, 10 * PAGE)
    m.touch(q, m.mmap(q, 7 * PAGE), 7 * PAGE)
    m.drain()
    m.set_cpu(p, 1)
    m.munmap(p, addr, 4 * PAGE)               # uncharged on CPU 1
    s = stat(m, "A")
    assert (s["rss"], s["pgfault"], s["pgpgin"], s["pgpgout"]) == (13 * PAGE, 17, 17, 4)
    m.set_cpu(p, 0)
    m.exit(p)
    m.exit(q)
    s = stat(m, "A")
    assert (s["rss"], s["pgpgin"], s["pgpgout"]) == (0, 17, 17)


def test_emu_machine_free_on_a_thread_running_cpu_1_of_another_machine(machine):
    """The garbage collector may free a machine on any host thread, one doing another
    machine's CPU 1 work included; a one-CPU machine's per-CPU lists have no CPU 1, so its
    exits and frees run as CPU 0.  (The overflow went unnoticed without ASan, which reports
    it; the full suite once crashed on it.)"""
    import gc

    small = [Machine(ram="64M", kernel="2.6.26")]
    x = small[0].spawn("")
    small[0].touch(x, small[0].mmap(x, "1M"), "1M")
    m = machine(ram="256M", policy="half", cpus=2)
    m.mkdir("A")
    m.mkdir("B")
    y = m.spawn("A")
    m.touch(y, m.mmap(y, "4M"), "4M")
    freed = []

    def hook(info):
        if not freed:
            work = info.run_on(1, lambda: (small.clear(), gc.collect()))
            work.join()
            freed.append(small == [])
    m.on_resched(hook)
    m.move(y, "B")
    assert freed == [True]
