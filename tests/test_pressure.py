"""Under pressure, the kernel's answers: cgroup_mutex and the seed's deadlock, the charge
path per profile (batch, reclaim retries, wait for a move, OOM, retry), OOM victims and
the 6.1 bit-1 rule.  Each test is named after the kernel function whose rule it pins."""
import errno

import pytest

from memcg_emu import SCENARIO_HELPER, Machine, OOMKilled
from memcg_emu.casestudy import run_case
from helpers import MiB, anon, move_while_charging, oom_killed, raises_errno, stat, usage

DEADLOCK_CHAIN = ["cgroup_attach_task", "mem_cgroup_can_attach", "mem_cgroup_recharge_task",
                  "mem_cgroup_charge_common", "mem_cgroup_out_of_memory", "cgroup_lock"]


def seed_move_into_filling_group(kernel, policy):
    """X (40M) moves from A into B (limit 80M, Z 20M); after 1024 pages W fills B with 30M,
    so the seed's page-by-page charge runs out and needs the OOM killer."""
    m = Machine(ram="512M", kernel=kernel, policy=policy)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "100M")
    m.mkdir("B")
    m.write("B", "memory.limit_in_bytes", "80M")
    x = m.spawn("A")
    anon(m, x, 40 * MiB)
    z = m.spawn("B")
    anon(m, z, 20 * MiB)
    w = m.spawn("B")
    w_addr = m.mmap(w, "30M")
    fired = []

    def fill(info):
        if info.phase == "move" and info.pages >= 1024 and not fired:
            fired.append(m.touch(w, w_addr, "30M"))
    m.on_resched(fill)
    return m, x


# ---- cgroup_mutex: the 2.6.26 OOM path under attach ----

def test_mem_cgroup_out_of_memory_takes_cgroup_lock_under_attach_deadlocks_2_6_26():
    m, x = seed_move_into_filling_group("2.6.26", "seed")
    err = raises_errno(errno.EDEADLK, m.move, x, "B")
    assert "machine deadlocked at mem_cgroup_out_of_memory" in str(err)
    assert m.last_attach.outcome == "deadlock"
    assert m.deadlock == {"lock": "cgroup_mutex", "held_at": "cgroup_attach_task",
                          "wanted_at": "mem_cgroup_out_of_memory", "chain": DEADLOCK_CHAIN}
    assert "WARNING: possible recursive locking detected" in m.dmesg
    assert " *** DEADLOCK ***" in m.dmesg
    m.on_resched(None)
    # the writer hung: X never left A, nothing rolled back, the page in flight is charged nowhere
    assert m.cgroup_of(x) == "A"
    assert int(m.read("A", "memcg_emu.leaked_bytes")) == 4096
    assert usage(m, "B") == 80 * MiB
    # every later call that needs cgroup_mutex finds the machine hung
    for call, args in ((m.mkdir, ("C",)), (m.spawn, ("A",)), (m.move, (x, "")), (m.rmdir, ("B",)),
                       (m.fork, (x,))):
        assert "machine deadlocked at mem_cgroup_out_of_memory" in str(raises_errno(errno.EDEADLK, call, *args))
    m.read("A", "memory.usage_in_bytes")   # what needs no cgroup_mutex still answers
    m.check()


def test_mem_cgroup_out_of_memory_without_cgroup_lock_kills_instead():
    """2.6.29 dropped cgroup_lock() from the memcg OOM path: the same move goes OOM and fails."""
    m, x = seed_move_into_filling_group("2.6.26", "seed-2.6.29")
    raises_errno(errno.ENOMEM, m.move, x, "B")
    assert m.deadlock is None and m.last_attach.outcome == "refused"
    assert m.last_attach.oom_victims
    m.on_resched(None)
    m.mkdir("C")
    m.check()


def test_cgroup_lock_from_a_resched_hook_is_another_task_and_nests():
    """The on_resched hook stands for another task: its cgroup calls are no self-deadlock."""
    m = Machine(ram="256M", kernel="2.6.26", policy="seed")
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    anon(m, x, 8 * MiB)
    spawned = []
    m.on_resched(lambda info: spawned.append(m.spawn("B")) if not spawned else None)
    m.move(x, "B")
    assert m.cgroup_of(x) == "B" and m.cgroup_of(spawned[0]) == "B"
    m.mkdir("C")    # released for good after the move


def test_casestudy_seed_deadlocks_on_its_base_kernel_and_seed_2_6_29_does_not():
    seed = run_case("seed", "b-filled")
    assert seed["kernel"] == "2.6.26" and seed["outcome"] == "deadlock" and seed["error"] == "EDEADLK"
    assert seed["lock_chain"] == DEADLOCK_CHAIN and seed["oom_killed"] == []
    fixed = run_case("seed-2.6.29", "b-filled")
    assert fixed["kernel"] == "2.6.26" and (fixed["outcome"], fixed["error"]) == ("refused", "ENOMEM")
    assert fixed["oom_killed"] == ["task_Z"] and fixed["lock_chain"] is None
    assert run_case("upstream", "room")["kernel"] == "6.1"
    assert run_case("seed", "room", kernel="6.1")["kernel"] == "6.1"


# ---- the charge path per profile ----

def group_g(kernel, ram, limit):
    """A machine with one group G of ``limit`` (no page tables charged: usage is the pages')."""
    m = Machine(ram=ram, kernel=kernel, thp="never", kmem=False)
    m.mkdir("G")
    m.write("G", "memory.limit_in_bytes", limit)
    return m


def z_and_w_in_100m(kernel):
    """Z holds 60M of a 100M group; W faults 60M more."""
    m = group_g(kernel, "1G", "100M")
    z = m.spawn("G")
    anon(m, z, 60 * MiB)
    w = m.spawn("G")
    return m, z, w, m.mmap(w, "60M")


def test_try_charge_memcg_retries_after_the_oom_kill_6_1():
    """6.1: the OOM killer takes Z and W's charge retries (passed_oom): W gets its 60M.
    failcnt (4 KiB pages): for the one charge that needed the killer the batch and the page
    (2), the retry after drain_all_stock() (1) and MAX_RECLAIM_RETRIES (16)."""
    m, z, w, addr = z_and_w_in_100m("6.1")
    m.touch(w, addr, "60M")
    raises_errno(errno.ESRCH, m.cgroup_of, z)
    assert usage(m, "G") == 60 * MiB
    assert int(m.read("G", "memory.failcnt")) == 19
    assert oom_killed(m) == [z]
    m.check()


def test_mem_cgroup_charge_common_fails_the_fault_after_the_kill_2_6_26():
    """2.6.26: MEM_CGROUP_RECLAIM_RETRIES (5) rounds, then mem_cgroup_out_of_memory() and the
    charge fails all the same: W stops at 40M with OOMKilled, six failed charges counted."""
    m, z, w, addr = z_and_w_in_100m("2.6.26")
    with pytest.raises(OOMKilled) as info:
        m.touch(w, addr, "60M")
    assert info.value.victim == z
    assert usage(m, "G") == 40 * MiB and m.cgroup_of(w) == "G"
    assert int(m.read("G", "memory.failcnt")) == 6
    m.check()


def test_mem_cgroup_wait_acct_move_only_after_fruitless_reclaim():
    """A charger over the old group's limit during an upstream move reclaims first; it waits
    for the move (mem_cgroup_wait_acct_move) only when reclaim made no progress.  Here A
    has 15M of clean page cache, so the charger never waits."""
    m = Machine(ram="512M")
    m.mkdir("A")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.write("A", "memory.limit_in_bytes", "100M")
    x = m.spawn("A")
    anon(m, x, 80 * MiB)
    y = m.spawn("A")
    m.file_write(y, "/cache", "15M")
    y_addr = m.mmap(y, "10M")
    events = move_while_charging(m, x, "B", lambda: m.touch(y, y_addr, "10M"))
    assert events == ["move", "charged", "waiters:0"]
    assert stat(m, "A")["rss"] == 10 * MiB and stat(m, "A")["cache"] < 15 * MiB
    m.check()


def kernel_reads(name):
    import json
    from pathlib import Path
    result = json.loads((Path(__file__).parent / "data" / "kernel-6.1" / f"{name}.result.json").read_text())
    return {r["label"]: r["value"] for r in result["reads"]}


def test_mem_cgroup_do_precharge_failcnt_agrees_with_the_kernel_a_b1g_mc1():
    """mem_cgroup_do_precharge(), 6.1: the bulk charge without reclaim fails once; page by page
    with __GFP_NORETRY, each page charged while B's margin is under one batch (64 pages) has
    its batch refused once, and the last page is refused three times (batch, page, after
    drain_all_stock()).  So failcnt is B's margin modulo 64 plus 4, and to agree with the real
    kernel's 43 (a_b1g_mc1) within 10% B must hold what it held there to a few pages: its tasks
    run the kernel runner's helper program (its pages, page tables and kernel objects), and Z's
    500 MiB, below an mmap base off the 2 MiB grid, is 249 huge pages and 512 small ones."""
    want = kernel_reads("a_b1g_mc1")
    m = Machine(ram="2G", kernel="6.1")
    for cg in ("A", "B"):
        m.mkdir(cg)
        m.write(cg, "memory.limit_in_bytes", "1G")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    x = m.spawn("A")
    m.exec(x, SCENARIO_HELPER)
    anon(m, x, 800 * MiB)
    z = m.spawn("B")
    m.exec(z, SCENARIO_HELPER)
    anon(m, z, 500 * MiB)
    m.drain()
    assert abs(usage(m, "B") - want["B.usage.before"]) <= 2 * 4096
    assert int(stat(m, "B")["rss_huge"]) == want["B.stat.before"]["rss_huge"]
    raises_errno(errno.ENOMEM, m.move, x, "B")
    got = int(m.read("B", "memory.failcnt"))
    assert abs(got - want["B.failcnt.after"]) <= 0.1 * want["B.failcnt.after"], got
    assert int(m.read("B", "memory.max_usage_in_bytes")) == want["B.max_usage"]
    m.check()


# ---- the OOM killer's choice per profile ----

def fault_through_oom(m, pid, size):
    """Map and fault ``size``; the fault may fail after the kill (2.6.26) or go on (later)."""
    try:
        m.touch(pid, m.mmap(pid, size), size)
    except OOMKilled:
        pass

def pqr(kernel):
    """A 4G machine, a 1G group: P holds 200M, Q 500M at oom_score_adj -100; R faults 400M."""
    m = group_g(kernel, "4G", "1G")
    p = m.spawn("G")
    anon(m, p, 200 * MiB)
    q = m.spawn("G")
    anon(m, q, 500 * MiB)
    m.set_oom_score_adj(q, -100)
    r = m.spawn("G")
    return m, p, q, r, m.mmap(r, "400M")


def test_oom_badness_scales_oom_score_adj_by_mem_cgroup_get_max_6_1():
    """oom_badness(), 6.1: adj counts per mille of the group's limit (1G), not of RAM (4G):
    Q's 500M less 10% of 1G beats R's ~300M; the kill lets R's fault go on."""
    m, p, q, r, addr = pqr("6.1")
    m.touch(r, addr, "400M")
    assert oom_killed(m) == [q]
    assert usage(m, "G") == 600 * MiB
    m.check()


def test_oom_score_adj_spares_the_largest_task_6_1():
    """oom_badness(), 6.1: Q's 500M at oom_score_adj -500 score nothing (less half of the 1G
    limit), so R, which has faulted about 300M when the group fills, is the largest and dies."""
    m, p, q, r, addr = pqr("6.1")
    m.set_oom_score_adj(q, -500)
    with pytest.raises(OOMKilled):
        m.touch(r, addr, "400M")
    assert oom_killed(m) == [r]
    m.check()


def test_oom_badness_per_mille_of_the_limit_clamped_3_4():
    """oom_badness(), 3.4: (rss+swap) per mille of the limit plus oom_score_adj: Q 488-100 > R."""
    m, p, q, r, addr = pqr("3.4")
    m.touch(r, addr, "400M")
    assert oom_killed(m) == [q]


def test_badness_total_vm_and_children_2_6_26():
    """badness(), 2.6.26: the address space's size (total_vm, touched or not) plus half of each
    forked child's, shifted by oom_adj.  X (100M) with a forked child outscores Y (140M); on
    6.1 the resident pages decide and Y goes."""
    for kernel, worst in (("2.6.26", "X"), ("6.1", "Y")):
        m = group_g(kernel, "1G", "256M")
        x = m.spawn("G")
        anon(m, x, 100 * MiB)
        m.fork(x)
        y = m.spawn("G")
        anon(m, y, 140 * MiB)
        fault_through_oom(m, m.spawn("G"), "32M")
        assert oom_killed(m) == [dict(X=x, Y=y)[worst]], kernel
        m.check()


@pytest.mark.parametrize("kernel,later", [("6.1", True), ("3.4", False), ("2.6.26", False)])
def test_select_bad_process_tie(kernel, later):
    """oom_evaluate_task(), 6.1: a tie goes to the later task; before, the first one keeps it."""
    m = group_g(kernel, "256M", "24M")
    a, b = m.spawn("G"), m.spawn("G")
    for pid in (a, b):
        anon(m, pid, 10 * MiB)
    r = m.spawn("G")
    m.set_oom_score_adj(r, -1000)
    fault_through_oom(m, r, "8M")            # r is never chosen; one of a, b goes
    assert oom_killed(m)[0] == (b if later else a)



# ---- the 6.1 bit-1 rule ----

@pytest.mark.parametrize("kernel,moved_mib", [("6.1", 1), ("3.4", 2)])
def test_get_mctgt_type_skips_page_cache_mapped_elsewhere_6_1(kernel, moved_mib):
    """get_mctgt_type(), 6.1: a page-cache page behind an empty PTE of the moving task that
    another task maps is counted but not moved (page_mapped() could change under the move);
    3.4 moves it.  X maps 2M of /data and faults none of it but the first page; Y maps and
    faults the first 1M; the other 1M is nobody's mapping."""
    m = Machine(ram="256M", kernel=kernel)
    for cg in ("A", "B"):
        m.mkdir(cg)
    m.write("B", "memory.move_charge_at_immigrate", "3")
    x, y = m.spawn("A"), m.spawn("A")
    m.file_write(x, "/data", "2M")
    x_addr = m.mmap(x, "2M", kind="file", path="/data")
    m.touch(x, x_addr + 2 * MiB - 4096, 4096, write=False)   # the PTE table exists, one page mapped
    m.touch(y, m.mmap(y, "1M", kind="file", path="/data"), "1M", write=False)
    m.move(x, "B")
    assert stat(m, "B")["cache"] == moved_mib * MiB
    assert stat(m, "A")["cache"] == (2 - moved_mib) * MiB
    m.check()


# ---- the seed as posted: slips that show ----

def test_seed_int_necessary_wraps_at_2_GiB():
    """mem_cgroup_recharge_task(): ``int necessary = info.count * PAGE_SIZE`` -- a 2 GiB task
    wraps to -2^31, and u64 usage + necessary exceeds any limit of an empty group: refused
    after fruitless reclaim, though B (6G) has room for it three times over."""
    m = Machine(ram="3G", kernel="2.6.26", policy="seed")
    for cg in ("A", "B"):
        m.mkdir(cg)
    m.write("B", "memory.limit_in_bytes", "6G")
    x = m.spawn("A")
    anon(m, x, 2 << 30)
    m.drain()                       # every page on its list: the walk counts all 2^19
    err = raises_errno(errno.ENOMEM, m.move, x, "B")
    assert "reclaim makes no progress" in str(err)
    assert m.cgroup_of(x) == "A" and usage(m, "B") == 0


def test_seed_attach_rollback_after_its_own_refusal_reclaims_the_old_group():
    """The patched cgroup_attach_task() rolls back every subsystem, memory included after it
    refused itself: mem_cgroup_attach_rollback() recharges X towards A, whose room check
    (A's usage + X's 800M over 1G) reclaims A's page cache before it gives up."""
    m = Machine(ram="4G", kernel="2.6.26", policy="seed")
    for cg in ("A", "B"):
        m.mkdir(cg)
        m.write(cg, "memory.limit_in_bytes", "1G")
    x = m.spawn("A")
    anon(m, x, 800 * MiB)
    m.file_write(m.spawn("A"), "/cache", "100M")
    anon(m, m.spawn("B"), 500 * MiB)
    raises_errno(errno.ENOMEM, m.move, x, "B")     # B has no room for 800M
    assert stat(m, "A")["cache"] == 0 and usage(m, "A") == 800 * MiB
    m.check()


# ---- the RFD's base kernel, 2.6.26 ----

def test_res_counter_write_accepts_a_limit_below_usage_2_6_26():
    """res_counter_write(), 2.6.26: the limit is stored whatever the usage (no reclaim, no
    EBUSY: mem_cgroup_resize_limit() came in 2.6.27); the next charge is the one that fails."""
    m = group_g("2.6.26", "64M", "16M")
    x = m.spawn("G")
    anon(m, x, 8 * MiB)
    m.write("G", "memory.limit_in_bytes", "4M")
    assert int(m.read("G", "memory.limit_in_bytes")) == 4 * MiB and usage(m, "G") == 8 * MiB
    with pytest.raises(OOMKilled):
        anon(m, x, 4096)
    m6 = group_g("6.1", "64M", "16M")
    anon(m6, m6.spawn("G"), 8 * MiB)
    raises_errno(errno.EBUSY, m6.write, "G", "memory.limit_in_bytes", "4M")


def test_mem_control_stat_show_layout_2_6_26():
    """mem_control_stat_show(), 2.6.26: cache, rss, pgpgin, pgpgout, active, inactive (a new
    anon page starts active, lru_cache_add_active(); page cache inactive)."""
    m = group_g("2.6.26", "64M", "16M")
    x = m.spawn("G")
    anon(m, x, MiB)
    m.file_write(x, "/f", "1M")
    assert m.read("G", "memory.stat") == (f"cache {MiB}\nrss {MiB}\npgpgin 512\npgpgout 0\n"
                                          f"active {MiB}\ninactive {MiB}\n")


@pytest.mark.parametrize("kernel,moves", [("3.4", True), ("2.6.35", True), ("6.1", False)])
def test_mem_cgroup_get_shmem_target_moves_shmem_swap_2_6_35_to_5_9(kernel, moves):
    """Bit 1 from 2.6.35 to 5.9: a shmem page of the task's mapping that is out on swap moves
    its swap record (mc_handle_file_pte() finds the swap entry); 5.10+ leaves it."""
    m = Machine(ram="256M", swap="64M", kernel=kernel, kmem=False)
    for cg in ("A", "B"):
        m.mkdir(cg)
    m.write("B", "memory.move_charge_at_immigrate", "3")
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "1M", kind="shm"), "1M")
    assert m.reclaim("A", "1M") == MiB and stat(m, "A")["swap"] == MiB
    m.move(x, "B")
    assert (stat(m, "B")["swap"], stat(m, "A")["swap"]) == ((MiB, 0) if moves else (0, MiB))
    assert usage(m, "A") == usage(m, "B") == 0
    m.check()


# ---- reclaim ----

def test_shrink_node_memcgs_reclaims_in_proportion_to_size():
    """do_try_to_free_pages()/shrink_node_memcgs(): each priority round takes every group's
    share (its lists >> priority), so a charge in C2 reclaims from C2 as well as from its
    sibling C1 -- before, the children were drained in id order and C1 lost all 16M."""
    m = Machine(ram="256M")
    m.mkdir("P")
    m.write("P", "memory.limit_in_bytes", "32M")
    for c in ("P/C1", "P/C2"):
        m.mkdir(c)
    m.file_write(m.spawn("P/C1"), "/c1", "16M")
    m.file_write(m.spawn("P/C2"), "/c2", "32M")
    c1, c2 = usage(m, "P/C1"), usage(m, "P/C2")
    assert c1 + c2 <= 32 * MiB
    assert 4 * MiB < c1 < 16 * MiB and c2 < 32 * MiB     # both gave; C1 kept part of its share
    m.check()
