"""Reclaim as the kernel scans (mm/vmscan.c): active and inactive lists, the accessed bit of
each PTE and PG_referenced, aging by list ratio, and get_scan_count()'s anon/file balance with
memory.swappiness.  Each test is named after the kernel function whose rule it pins."""
import pytest

from memcg_emu import Machine

from helpers import MiB, anon, stat


def group_a(kernel, swap=0):
    m = Machine(ram="64M", swap=swap, kernel=kernel, kmem=False)
    m.mkdir("A")
    return m, m.spawn("A")


@pytest.mark.parametrize("kernel,active", [("2.6.26", True), ("3.4", True), ("6.1", False)])
def test_lru_cache_add_inactive_or_unevictable_new_anon_6_1(kernel, active):
    """A new anon page starts on the active list before 5.9 (lru_cache_add_active(),
    lru_cache_add_active_or_unevictable()) and on the inactive list from 5.9
    (lru_cache_add_inactive_or_unevictable())."""
    m, x = group_a(kernel)
    anon(m, x, MiB)
    s = stat(m, "A")
    if kernel == "2.6.26":
        assert (s["active"], s["inactive"]) == ((MiB, 0) if active else (0, MiB))
    else:
        assert (s["active_anon"], s["inactive_anon"]) == ((MiB, 0) if active else (0, MiB))


def test_folio_check_references_spares_a_mapped_page_once_6_1():
    """A page whose PTE was accessed goes round the inactive list once more with
    PG_referenced (FOLIOREF_KEEP), so the unmapped page cache written after it goes first;
    not accessed again, PG_referenced alone does not save it the next time."""
    m, x = group_a("6.1")
    f = m.mmap(x, "1M", kind="file", path="/data/mapped")
    m.touch(x, f, "1M", write=False)
    m.file_write(x, "/data/written", "1M")          # newer, unmapped
    assert m.reclaim("A", "1M") >= MiB              # the last round may free a little more
    s = stat(m, "A")
    assert s["cache"] == s["mapped_file"] > MiB // 2    # every unmapped page went first
    assert m.reclaim("A", "1M") == s["mapped_file"]
    assert stat(m, "A")["cache"] == 0


def test_folio_check_references_activates_on_the_second_access_6_1():
    """Accessed again after the first look (PG_referenced already set), the page is
    activated (FOLIOREF_ACTIVATE) instead of reclaimed."""
    m, x = group_a("6.1")
    f = m.mmap(x, "1M", kind="file", path="/data/mapped")
    m.touch(x, f, "1M", write=False)
    m.file_write(x, "/data/written", "1M")
    m.reclaim("A", "1M")                            # the mapped pages get PG_referenced
    m.touch(x, f, "1M", write=False)
    m.reclaim("A", "128K", retries=0)
    assert stat(m, "A")["active_file"] > 0


def test_page_check_references_activates_a_referenced_swap_backed_page_3_4():
    """2.6.34 - 5.8 activate a swap-backed page on its first accessed PTE (PAGEREF_ACTIVATE);
    6.1 gives it a second trip round the inactive list first (FOLIOREF_KEEP)."""
    for kernel, active in (("3.4", True), ("6.1", False)):
        m, x = group_a(kernel, swap="64M")
        shm = m.mmap(x, "1M", kind="shm")          # page cache: starts inactive
        m.touch(x, shm, "1M")
        m.reclaim("A", "128K", retries=0)
        assert (stat(m, "A")["active_anon"] > 0) == active, kernel


def test_shrink_active_list_clears_the_accessed_bits_and_deactivates_3_4():
    """An active list is aged when its inactive partner is low (inactive_list_is_low()):
    its pages go to the inactive list with their PTEs' accessed bits cleared, so the next
    pass reclaims them -- a fresh 1M anon task on 3.4 (all active) is swapped out whole."""
    m, x = group_a("3.4", swap="64M")
    anon(m, x, MiB)
    assert stat(m, "A")["active_anon"] == MiB
    assert m.reclaim("A", "1M") == MiB
    assert stat(m, "A")["swap"] == MiB


def test_get_scan_count_swappiness_0_scans_no_anon():
    """memory.swappiness 0: a group's reclaim scans no anon page while it has swap
    (SCAN_FILE); at 60 the same reclaim swaps anon out too."""
    for swappiness, swapped in (("0", False), ("60", True)):
        m, x = group_a("6.1", swap="64M")
        m.write("A", "memory.swappiness", swappiness)
        anon(m, x, MiB)
        m.file_write(x, "/data/written", "1M")
        freed = m.reclaim("A", "2M", retries=0)
        s = stat(m, "A")
        assert (s["swap"] > 0) == swapped, swappiness
        if not swapped:
            assert freed == MiB and s["rss"] == MiB and s["cache"] == 0


def test_get_scan_count_swappiness_0_global_reclaim_never_scans_anon():
    """Global reclaim (the root's) of a group whose memory.swappiness is 0, with swap: not
    SCAN_FILE (that is for a group's own reclaim), and no SCAN_EQUAL at priority 0 (only
    "!sc->priority && swappiness"): anon's share of the scan stays 0, nothing is swapped."""
    for swappiness, swapped in (("0", False), ("60", True)):
        m, x = group_a("6.1", swap="64M")
        m.write("A", "memory.swappiness", swappiness)
        anon(m, x, MiB)
        m.reclaim("", "1M")        # rounds enough for a page's second look
        assert (stat(m, "A")["swap"] > 0) == swapped, swappiness


def test_get_scan_count_no_swap_no_anon_scan():
    """Without free swap anon pages are not scanned at all (SCAN_FILE): they keep their list."""
    m, x = group_a("6.1")
    anon(m, x, MiB)
    assert m.reclaim("A", "1M") == 0
    s = stat(m, "A")
    assert (s["inactive_anon"], s["active_anon"]) == (MiB, 0)


def test_folio_referenced_counts_only_the_reclaimed_groups_tasks_6_1():
    """mm_match_cgroup(): accesses by a task outside the group under reclaim do not count,
    so pages it keeps using are never activated there (compare
    test_folio_check_references_activates_on_the_second_access_6_1)."""
    m, x = group_a("6.1")
    m.mkdir("B")
    f = m.mmap(x, "1M", kind="file", path="/data/mapped")
    m.touch(x, f, "1M", write=False)               # charged to A
    m.move(x, "B")                                  # move_charge_at_immigrate 0: they stay in A
    m.file_write(x, "/data/written", "1M")          # charged to B
    for _ in range(2):
        m.reclaim("A", "128K", retries=0)
        m.touch(x, f, "1M", write=False)
    assert stat(m, "A")["active_file"] == 0


def test_inactive_is_low_keeps_the_active_list_while_the_inactive_one_is_big_6_1():
    """shrink_list() ages an active list only when inactive_is_low() (or when a reclaim
    freed nothing otherwise): pages two tasks use are activated at the first look
    (two accessed PTEs), and stay active while the written cache outnumbers them."""
    m, x = group_a("6.1")
    y = m.spawn("A")
    for pid in (x, y):
        f = m.mmap(pid, "256K", kind="file", path="/data/shared")
        m.touch(pid, f, "256K", write=False)
    m.file_write(x, "/data/written", "2M")
    m.reclaim("A", "128K", retries=0)
    assert stat(m, "A")["active_file"] == 256 * 1024
    m.reclaim("A", "128K", retries=0)
    assert stat(m, "A")["active_file"] == 256 * 1024
