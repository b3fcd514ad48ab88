"""CPUs and their per-CPU charge stock (mm/memcontrol.c memcg_stock, 2.6.33 on)."""
import errno

import pytest

from helpers import PAGE, stat

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
    assert events == [("blocked", True), ("A while Y waits", 100 << 20)]
    m.drain()
    assert (raw_usage(m, "A"), raw_usage(m, "B")) == (30 << 20, 80 << 20)
