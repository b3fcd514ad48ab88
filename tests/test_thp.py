"""Transparent huge pages, each rule after the 6.1 kernel function that makes it.

Mappings here are 2 MiB multiples, so they start 2 MiB aligned (the emulator's mmap base is).
"""
import errno

import pytest

from helpers import MiB, PAGE, raises_errno, stat, usage
from memcg_emu import Machine, OOMKilled
from memcg_emu.scenario import run

HPAGE = 2 * MiB


def thp_machine(machine, **kw):
    kw.setdefault("thp", "always")
    m = machine(**kw)
    m.mkdir("A")
    return m, m.spawn("A")


def test_thp_default_per_profile():
    assert Machine(ram="64M").thp == "always"          # 6.1, as the reference kernel's config
    assert Machine(ram="64M", kernel="6.13").thp == "always"
    assert Machine(ram="64M", kernel="3.4").thp == "madvise"
    assert Machine(ram="64M", kernel="2.6.26").thp == "never"
    with pytest.raises(ValueError):
        Machine(ram="64M", kernel="2.6.35", thp="always")   # no THP before 2.6.38
    with pytest.raises(ValueError):
        Machine(ram="64M", thp="sometimes")


def test_do_huge_pmd_anonymous_page_charges_hpage_pmd_nr_at_once(machine):
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "4M")
    m.touch(pid, addr, 1)                           # one byte: the whole aligned 2 MiB
    s = stat(m, "A")
    assert usage(m, "A") == HPAGE and s["rss"] == s["rss_huge"] == HPAGE
    assert s["pgfault"] == 1 and s["pgpgin"] == 1 and s["inactive_anon"] + s["active_anon"] == HPAGE
    m.touch(pid, addr, "4M")
    assert stat(m, "A")["rss_huge"] == 4 * MiB and stat(m, "A")["pgfault"] == 2


def test_do_huge_pmd_anonymous_page_read_fault_and_small_vma_stay_small(machine):
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M", write=False)           # the zero page, 4 KiB at a time
    m.touch(pid, addr, PAGE)                        # the PMD is taken: 4 KiB from now on
    small = m.mmap(pid, HPAGE - PAGE)               # covers no aligned 2 MiB
    m.touch(pid, small, HPAGE - PAGE)
    s = stat(m, "A")
    assert s["rss_huge"] == 0 and s["rss"] == PAGE + HPAGE - PAGE


def test_do_huge_pmd_anonymous_page_falls_back_when_the_charge_fails(machine):
    """VM_FAULT_FALLBACK: the huge charge may not reclaim (GFP_TRANSHUGE_LIGHT); 4 KiB pages fit."""
    m, pid = thp_machine(machine)
    m.write("A", "memory.limit_in_bytes", "3M")
    addr = m.mmap(pid, "4M")
    m.touch(pid, addr, "3M")
    s = stat(m, "A")
    assert usage(m, "A") == 3 * MiB and s["rss_huge"] == HPAGE
    assert int(m.read("A", "memory.failcnt")) == 1    # the refused huge charge only
    with pytest.raises(OOMKilled):
        m.touch(pid, addr, "4M")


def test_hugepage_madvise_under_madvise_and_always(machine):
    """hugepage_madvise(): VM_HUGEPAGE is needed under "madvise"; VM_NOHUGEPAGE wins under "always"."""
    m, pid = thp_machine(machine, thp="madvise")
    addr = m.mmap(pid, "4M")
    m.madvise(pid, addr + HPAGE, "2M", "hugepage")   # the upper half only
    m.touch(pid, addr, "4M")
    assert stat(m, "A")["rss_huge"] == HPAGE and stat(m, "A")["rss"] == 4 * MiB
    m2, pid2 = thp_machine(machine)
    addr = m2.mmap(pid2, "4M")
    m2.madvise(pid2, addr, "2M", "nohugepage")      # splits the VMA
    m2.touch(pid2, addr, "4M")
    assert stat(m2, "A")["rss_huge"] == HPAGE and stat(m2, "A")["rss"] == 4 * MiB
    raises_errno(errno.ENOMEM, m2.madvise, pid2, 0x10000, "2M", "hugepage")
    with pytest.raises(ValueError):
        m2.madvise(pid2, addr, "2M", "mergeable")


def test_zap_huge_pmd_frees_a_whole_huge_page(machine):
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "4M")
    m.touch(pid, addr, "4M")
    m.munmap(pid, addr, "2M")
    assert usage(m, "A") == HPAGE and stat(m, "A")["rss_huge"] == HPAGE


def partly_unmapped(machine, **kw):
    """A 2 MiB huge page whose second half is unmapped: its PMD split, the page PTE-mapped."""
    m, pid = thp_machine(machine, **kw)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    m.munmap(pid, addr + MiB, "1M")
    return m, pid, addr


def test___split_huge_pmd_keeps_the_page_charged_after_a_partial_munmap(machine):
    """zap_pmd_range() splits the PMD only (__split_huge_pmd()): the compound page stays whole,
    PTE-mapped, and charged for all 512 pages; rss_huge (NR_ANON_THPS) goes with its last PMD;
    page_remove_rmap() queues it for a deferred split (check() insists it is queued)."""
    m, pid, addr = partly_unmapped(machine)
    s = stat(m, "A")
    assert usage(m, "A") == HPAGE and s["rss_huge"] == 0 and s["rss"] == HPAGE
    m.check()
    m.exit(pid)
    assert usage(m, "A") == 0


def test_deferred_split_scan_uncharges_the_unmapped_part(machine):
    """Memory pressure runs the deferred split shrinker: split_huge_page() frees the unmapped
    half and its charge; the mapped half stays, in 4 KiB pages."""
    m, pid, addr = partly_unmapped(machine)
    assert usage(m, "A") == HPAGE
    m.reclaim("A", "1M")                            # no swap: only the shrinker frees anything
    s = stat(m, "A")
    assert usage(m, "A") == MiB and s["rss"] == MiB and s["rss_huge"] == 0
    m.touch(pid, addr, "1M")                        # still mapped, nothing new charged
    assert usage(m, "A") == MiB


def test_deferred_split_scan_makes_room_for_a_charge_under_the_limit(machine):
    """A charge over the limit reclaims; with nothing on the lists to reclaim, do_shrink_slab()
    reaches the deferred split queue at the lowest priorities, and the charge fits without OOM."""
    m, pid, addr = partly_unmapped(machine)
    m.write("A", "memory.limit_in_bytes", "3M")
    small = m.mmap(pid, "2M")
    m.madvise(pid, small, "2M", "nohugepage")
    m.touch(pid, small, "2M")
    assert usage(m, "A") == 3 * MiB and int(m.read("A", "memory.failcnt")) > 0


def test_split_vma_splits_a_straddling_huge_pmd_only(machine):
    """vma_adjust_trans_huge(): madvise on half a huge page splits its PMD, not the page: all
    of it stays charged and on the LRU as one, PTE-mapped (so rss_huge is 0), and is freed as
    one (a single pgpgout event, where 512 pages would make 512)."""
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    m.madvise(pid, addr, "1M", "nohugepage")
    s = stat(m, "A")
    assert s["rss_huge"] == 0 and s["rss"] == HPAGE and usage(m, "A") == HPAGE
    assert s["inactive_anon"] + s["active_anon"] == HPAGE
    m.exit(pid)
    assert stat(m, "A")["pgpgout"] == 1


def test_split_vma_splits_a_straddling_huge_pmd(machine):
    """vma_adjust_trans_huge(): mlock of half a huge page splits it; its pages go unevictable."""
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    m.mlock(pid, addr, "1M")
    s = stat(m, "A")
    assert s["rss_huge"] == 0 and s["unevictable"] == MiB and usage(m, "A") == HPAGE


def test_do_huge_pmd_wp_page_falls_back_to_a_4k_copy(machine):
    """Fork shares the huge PMD (copy_huge_pmd()); a write by the child splits the child's PMD
    alone and copies 4 KiB (VM_FAULT_FALLBACK, then do_wp_page()): the parent's PMD still maps
    the page, so rss_huge stays.  A write by the parent then finds the page held by the
    child's PTEs: its PMD splits too and 4 KiB more are copied."""
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    child = m.fork(pid)
    assert usage(m, "A") == HPAGE and stat(m, "A")["rss_huge"] == HPAGE
    m.touch(child, addr, PAGE)
    assert usage(m, "A") == HPAGE + PAGE and stat(m, "A")["rss_huge"] == HPAGE
    m.check()
    m.touch(pid, addr + PAGE, PAGE)
    assert usage(m, "A") == HPAGE + 2 * PAGE and stat(m, "A")["rss_huge"] == 0
    m.check()


def test_do_huge_pmd_wp_page_reuses_once_the_child_is_gone(machine):
    """The child's PTEs gone, nothing but the parent's PMD holds the page: reused whole."""
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    child = m.fork(pid)
    m.touch(child, addr, PAGE)
    m.exit(child)
    m.touch(pid, addr, "2M")
    assert usage(m, "A") == HPAGE and stat(m, "A")["rss_huge"] == HPAGE


def test_do_huge_pmd_wp_page_reuses_a_page_mapped_once(machine):
    m, pid = thp_machine(machine)
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    m.exit(m.fork(pid))
    m.touch(pid, addr, "2M")
    assert stat(m, "A")["rss_huge"] == HPAGE and usage(m, "A") == HPAGE


def test_mem_cgroup_move_charge_pte_range_moves_huge_pages_whole(machine):
    """get_mctgt_type_thp() and the huge-PMD branch: bit 0 moves the page as one."""
    m, pid = thp_machine(machine, policy="upstream")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.touch(pid, m.mmap(pid, "8M"), "8M")
    m.move(pid, "B")
    a, b = stat(m, "A"), stat(m, "B")
    assert (usage(m, "A"), usage(m, "B")) == (0, 8 * MiB)
    assert b["rss_huge"] == 8 * MiB and a["rss_huge"] == 0
    assert b["pgpgin"] == 4 and a["pgpgout"] == 4   # one event per huge page
    assert m.last_attach.pages_moved == 8 * MiB // PAGE


def test_mem_cgroup_move_charge_pte_range_leaves_a_pte_mapped_huge_page(machine):
    """6.1 moves no part of a split PMD (PageTransCompound): that huge page stays in the old
    group whole; the one still PMD-mapped moves whole."""
    m, pid = thp_machine(machine, policy="upstream")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    addr = m.mmap(pid, "4M")
    m.touch(pid, addr, "4M")
    m.madvise(pid, addr, "1M", "nohugepage")
    m.move(pid, "B")
    assert (usage(m, "A"), usage(m, "B")) == (HPAGE, HPAGE)
    assert stat(m, "A")["rss_huge"] == 0 and stat(m, "B")["rss_huge"] == HPAGE


def test_mem_cgroup_count_precharge_counts_hpage_pmd_nr(machine):
    """mem_cgroup_count_precharge(): a huge page needs HPAGE_PMD_NR pages of room in the new group."""
    m, pid = thp_machine(machine, policy="upstream")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.write("B", "memory.limit_in_bytes", "3M")
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    raises_errno(errno.ENOMEM, m.move, pid, "B")
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["rss_huge"] == 4 * MiB


@pytest.mark.parametrize("policy", ["seed", "reserve", "half", "lazy-move"])
def test_rfd_policies_split_huge_pages_first(machine, policy):
    """The RFD walks PTEs only: like walk_page_range() for such a walker, it splits huge PMDs
    first, and then every huge page, PMD- or PTE-mapped, into the 4 KiB pages it knows."""
    m, pid = thp_machine(machine, policy=policy)
    m.mkdir("B")
    addr = m.mmap(pid, "4M")
    m.touch(pid, addr, "4M")
    m.madvise(pid, addr, "1M", "nohugepage")       # the first one PTE-mapped
    m.move(pid, "B")
    total = usage(m, "A") + usage(m, "B")
    assert stat(m, "A")["rss_huge"] == stat(m, "B")["rss_huge"] == 0
    assert total == 4 * MiB and stat(m, "A")["rss"] + stat(m, "B")["rss"] == 4 * MiB


def test_shrink_page_list_splits_before_swapping(machine):
    """shrink_page_list(): a huge page is split and swapped out 4 KiB at a time."""
    m, pid = thp_machine(machine, swap="64M")
    m.touch(pid, m.mmap(pid, "2M"), "2M")
    freed = m.reclaim("A", "1M")
    s = stat(m, "A")
    assert freed >= MiB and s["rss_huge"] == 0 and s["swap"] == freed and usage(m, "A") == HPAGE - freed
    assert int(m.read("A", "memory.memsw.usage_in_bytes")) == HPAGE


def test___split_huge_page_puts_the_tails_after_the_head_in_lru_order(machine):
    """__split_huge_page() (lru_add_page_tail(), 6.1): the frames of a huge page split on its LRU
    list stay where it was, from the reclaim end the head, then tail 1, 2, ...: reclaim takes
    the lowest addresses first (in the reverse order it would take the highest)."""
    m, pid = thp_machine(machine, swap="64M")
    addr = m.mmap(pid, "2M")
    m.touch(pid, addr, "2M")
    m.mlock(pid, addr + HPAGE - PAGE, PAGE)         # split in place; the last frame is locked
    assert stat(m, "A")["rss_huge"] == 0
    freed = m.reclaim("A", 32 * PAGE) // PAGE
    swapped = []
    for i in range(HPAGE // PAGE - 1):
        before = stat(m, "A")["pgmajfault"]
        m.touch(pid, addr + i * PAGE, 1, False)
        if stat(m, "A")["pgmajfault"] != before:
            swapped.append(i)
    assert len(swapped) == freed >= 32 and max(swapped) < 128


def test_scenario_vm_thp_and_madvise_are_honoured():
    def scenario(thp, **anon):
        return {"name": "t", "vm": {"mem_mb": 256, "thp": thp}, "emu": {"policy": "none", "image": "empty"}, "steps": [
            {"op": "mkdir", "cg": "A"}, {"op": "spawn", "task": "X", "cg": "A"},
            {"op": "anon", "task": "X", "bytes": 4 * MiB, "label": "X 4M", **anon},
            {"op": "read", "cg": "A", "file": "memory.stat", "label": "stat"}]}

    def rss_huge(result):
        return result["reads"][0]["value"]["rss_huge"]

    assert rss_huge(run(scenario(None), check=True)) == 4 * MiB     # 6.1's default: always
    assert rss_huge(run(scenario("never"), check=True)) == 0
    assert rss_huge(run(scenario("madvise"), check=True)) == 0
    assert rss_huge(run(scenario("madvise", madvise="hugepage"), check=True)) == 4 * MiB
    assert rss_huge(run(scenario("always", madvise="nohugepage"), check=True)) == 0


def test_mem_cgroup_move_parent_takes_a_huge_page_whole(machine):
    """rmdir: a huge page left in the group goes to the parent as one charge."""
    m, pid = thp_machine(machine)
    m.mkdir("B")
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    m.move(pid, "B")                                # policy none: the charges stay in A
    m.rmdir("A")
    s = stat(m, "")
    assert s["total_rss_huge"] == 4 * MiB and usage(m, "") == 4 * MiB and usage(m, "B") == 0
    m.check()
    m.exit(pid)
    assert usage(m, "") == 0
