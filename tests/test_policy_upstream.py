"""The upstream policy (memory.move_charge_at_immigrate) and its kernel profiles."""
import errno
import os

import pytest

from memcg_emu import Machine
from memcg_emu.scenario import load, run
from helpers import PAGE, MiB, alive, move_while_charging, stat, usage

P = 65 * PAGE
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# LTP memcg_move_charge_at_immigrate_test.sh: mappings, mask -> b rss, b cache, a rss, a cache
LTP = [
    (("anon",), 0, (0, 0, P, 0)),
    (("anon", "shm", "shm"), 1, (P, 0, 0, 2 * P)),
    (("anon", "shm", "shm"), 2, (0, 2 * P, P, 0)),
    (("anon", "shm"), 3, (P, P, 0, 0)),
]


def groups(mask, kernel="6.1", **kw):
    """A machine with groups A and B, B's move_charge_at_immigrate set to ``mask``; and task X in A."""
    kw.setdefault("thp", "never")      # 4 KiB user pages, exactly (test_thp.py, test_kmem.py)
    kw.setdefault("kmem", False)
    m = Machine(ram="256M", kernel=kernel, policy="upstream", **kw)
    m.mkdir("A")
    m.mkdir("B")
    if mask:
        m.write("B", "memory.move_charge_at_immigrate", mask)
    return m, m.spawn("A")


def ltp_case(kernel, kinds, mask):
    m = Machine(ram="256M", kernel=kernel, policy="upstream", thp="never", kmem=False)
    m.mkdir("a")
    pid = m.spawn("a")
    for kind in kinds:          # SysV shm and a shared /dev/zero mapping are both shmem
        m.touch(pid, m.mmap(pid, P, kind=kind), P)
    m.mkdir("b")
    try:
        m.write("b", "memory.move_charge_at_immigrate", mask)
    except OSError as e:
        assert e.errno == errno.EINVAL   # LTP writes without checking
    m.write("b", "tasks", pid)
    m.check()
    b, a = stat(m, "b"), stat(m, "a")
    return b["rss"], b["cache"], a["rss"], a["cache"]


@pytest.mark.parametrize("kinds,mask,expected", LTP)
def test_ltp_move_charge_at_immigrate_6_1(kinds, mask, expected):
    assert ltp_case("6.1", kinds, mask) == expected


@pytest.mark.parametrize("kinds,mask,expected", LTP)
def test_ltp_on_2_6_34_bit_1_is_rejected(kinds, mask, expected):
    got = ltp_case("2.6.34", kinds, mask)
    if mask in (2, 3):    # the knob refuses bit 1: nothing moves
        total = len(kinds) * P
        assert got == (0, 0, P, total - P)
    else:                 # mask 1 moves anon; VM_SHARED areas are skipped anyway
        assert got == expected


@pytest.mark.parametrize("kinds,mask,expected", LTP)
def test_ltp_on_6_13_only_mask_0_holds(kinds, mask, expected):
    got = ltp_case("6.13", kinds, mask)
    assert got == (0, 0, P, (len(kinds) - 1) * P)
    assert (got == expected) == (mask == 0)


@pytest.mark.parametrize("case", [1, 2, 3, 4])
def test_ltp_scenario_files(case):
    kinds, mask, expected = LTP[case - 1]
    result = run(load(os.path.join(ROOT, "scenarios", f"ltp-move-charge-{case}.json")))
    reads = {r["label"]: r["value"] for r in result["reads"]}
    assert (reads["b.stat"]["rss"], reads["b.stat"]["cache"],
            reads["a.stat"]["rss"], reads["a.stat"]["cache"]) == expected
    assert [mv["status"] for mv in result["moves"]] == ["ok"]


def cow_shared(kernel, sharers):
    """X's 4M of anon shared COW with sharers-1 forked children; returns (B usage, A usage)."""
    m, x = groups(1, kernel)
    m.touch(x, m.mmap(x, "4M"), "4M")
    for _ in range(sharers - 1):
        m.fork(x)
    m.move(x, "B")
    m.check()
    return usage(m, "B"), usage(m, "A")


@pytest.mark.parametrize("kernel,sharers,moves", [
    ("2.6.34", 1, True), ("2.6.34", 2, False),          # mapcount must be 1
    ("2.6.35", 2, True), ("2.6.35", 3, False),          # the "> 2" slip
    ("3.4", 3, True), ("6.1", 3, True),                 # no mapcount check
])
def test_profiles_anon_mapcount_rules(kernel, sharers, moves):
    assert cow_shared(kernel, sharers) == ((4 * MiB, 0) if moves else (0, 4 * MiB))


def test_only_pages_charged_to_the_old_group_move():
    m = Machine(ram="256M", thp="never", kmem=False)
    for cg in ("A", "B", "C"):
        m.mkdir(cg)
    m.write("B", "memory.move_charge_at_immigrate", 3)
    y = m.spawn("C")
    m.touch(y, m.mmap(y, "2M", kind="file", path="/lib"), "2M", write=False)   # cache charged to C
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "2M", kind="file", path="/lib"), "2M", write=False)
    m.touch(x, m.mmap(x, "1M"), "1M")
    m.move(x, "B")
    assert usage(m, "B") == MiB and usage(m, "C") == 2 * MiB and usage(m, "A") == 0
    # the precharge counted A's 256 pages only (mem_cgroup_count_precharge()): with C's 512
    # cache pages it would have taken B to 3M
    assert int(m.read("B", "memory.max_usage_in_bytes")) < 2 * MiB
    m.check()


def test_unfaulted_page_cache_in_a_mapped_range_moves_with_bit_1():
    m, x = groups(2)
    m.file_write(x, "/data", "3M")                  # page cache charged to A, never mapped
    addr = m.mmap(x, "2M", kind="file", path="/data")   # one PTE table's worth, 2M aligned
    m.touch(x, addr, PAGE, write=False)             # the table exists; 511 PTEs stay empty
    m.move(x, "B")
    assert stat(m, "B")["cache"] == 2 * MiB and stat(m, "B")["mapped_file"] == PAGE
    assert stat(m, "A")["cache"] == MiB
    m.check()


def test_no_page_table_no_target():
    """The walks have no pte_hole: page cache behind a range never faulted stays (as in the kernel)."""
    m, x = groups(2)
    m.file_write(x, "/data", "2M")
    m.mmap(x, "2M", kind="file", path="/data")
    m.move(x, "B")
    assert stat(m, "A")["cache"] == 2 * MiB and usage(m, "B") == 0
    m.check()


def test_refused_precharge_changes_nothing_but_the_watermark():
    m = Machine(ram="512M", thp="never", kmem=False)
    m.mkdir("A")
    m.mkdir("B")
    m.write("B", "memory.limit_in_bytes", "64M")
    m.write("B", "memory.move_charge_at_immigrate", 1)
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "80M"), "80M")
    z = m.spawn("B")
    m.touch(z, m.mmap(z, "16M"), "16M")
    with pytest.raises(OSError) as e:
        m.move(x, "B")
    assert e.value.errno == errno.ENOMEM and m.cgroup_of(x) == "A"
    assert usage(m, "A") == 80 * MiB and usage(m, "B") == 16 * MiB
    assert int(m.read("B", "memory.max_usage_in_bytes")) == 64 * MiB   # one by one up to the limit
    assert stat(m, "A")["pgpgout"] == 0
    m.check()


def test_move_counts_pgpgin_pgpgout_and_keeps_lru_lists():
    m, x = groups(1)
    m.touch(x, m.mmap(x, "4M"), "4M")
    m.move(x, "B")
    a, b = stat(m, "A"), stat(m, "B")
    assert a["pgpgin"] == 1024 and a["pgpgout"] == 1024 and a["rss"] == 0
    assert b["pgpgin"] == 1024 and b["rss"] == 4 * MiB and b["inactive_anon"] == 4 * MiB
    m.check()


def test_swap_entries_move_with_bit_0():
    m, x = groups(1, swap="64M")
    addr = m.mmap(x, "8M")
    m.touch(x, addr, "8M")
    m.write("A", "memory.limit_in_bytes", "6M")      # 2M goes to swap (and what the last
    swapped = stat(m, "A")["swap"]                   # priority round of reclaim took more)
    assert 2 * MiB <= swapped < 3 * MiB
    m.move(x, "B")
    assert stat(m, "B")["swap"] == swapped and stat(m, "A")["swap"] == 0
    assert usage(m, "B") == 8 * MiB - swapped and usage(m, "A") == 0
    m.touch(x, addr, "8M")                          # swap-in charges the new owner of the record
    assert usage(m, "B") == 8 * MiB and stat(m, "B")["swap"] == 0
    m.check()


def test_partial_move_when_the_extra_charge_fails():
    """More targets appear during the walk than were counted; B has no room for them."""
    m, x = groups(3)
    m.write("B", "memory.limit_in_bytes", 8 * MiB + PAGE)
    shm = m.mmap(x, "2M", kind="shm")               # one PTE table
    m.touch(x, shm, PAGE)                           # its first page: the table exists
    anon = m.mmap(x, "8M")                          # lower address: walked first
    m.touch(x, anon, "8M")
    y = m.fork(x)                                   # shares the shm object, in A
    fired = []

    def hook(info):
        if info.phase == "move" and not fired:
            fired.append(info.pages)
            m.touch(y, shm, "1M")                    # 255 new shmem pages, charged to A, in X's range
    m.on_resched(hook)
    m.move(x, "B")                                  # precharged 2049 pages: B is full
    assert m.cgroup_of(x) == "B" and m.last_attach.outcome == "half-moved"
    assert usage(m, "B") == 8 * MiB + PAGE and usage(m, "A") == MiB - PAGE
    assert stat(m, "A")["shmem"] == MiB - PAGE
    m.check()


def test_cancel_releases_the_precharge():
    m, x = groups(1)
    m.touch(x, m.mmap(x, "4M"), "4M")
    m.fail_next_can_attach("devices", errno.EPERM)
    with pytest.raises(PermissionError):
        m.move(x, "B")
    assert usage(m, "B") == 0 and int(m.read("B", "memory.max_usage_in_bytes")) == 4 * MiB
    assert usage(m, "A") == 4 * MiB and m.cgroup_of(x) == "A"
    m.check()


def test_precharge_is_visible_inside_the_move():
    m, x = groups(1)
    m.touch(x, m.mmap(x, "4M"), "4M")
    seen = []

    def hook(info):
        if info.phase == "move":
            seen.append((usage(m, "A"), usage(m, "B")))
            m.check()
    m.on_resched(hook)
    m.move(x, "B")
    assert seen[0] == (4 * MiB, 4 * MiB)            # counted twice until clear_mc
    assert (usage(m, "A"), usage(m, "B")) == (0, 4 * MiB)


def test_mask_0_moves_nothing_by_default():
    m, x = groups(0)
    m.touch(x, m.mmap(x, "4M"), "4M")
    m.move(x, "B")
    assert usage(m, "A") == 4 * MiB and usage(m, "B") == 0
    m.check()


def test_a_charger_over_the_old_groups_limit_waits_for_the_move_instead_of_oom():
    """mem_cgroup_wait_acct_move(): a real wait, on another thread, until clear_mc()."""
    m, x = groups(1)
    m.write("A", "memory.limit_in_bytes", "100M")
    m.touch(x, m.mmap(x, "80M"), "80M")
    y = m.spawn("A")
    y_addr = m.mmap(y, "30M")
    # A holds X's 80M until the move ends: no room before, and nothing to reclaim
    events = move_while_charging(m, x, "B", lambda: m.touch(y, y_addr, "30M"))
    assert events == ["move", "waiters:1", "charged"]
    assert (usage(m, "A"), usage(m, "B")) == (30 * MiB, 80 * MiB)
    assert alive(m, x) and alive(m, y)
    m.check()
