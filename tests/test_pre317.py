"""Charge lifetimes of the older kernels: 2.6.26's force_empty and rmdir drop a group's
charges (2.6.28 on hand them to the parent), and before 3.17 an anon page is uncharged
when its last mapping goes, not when it is freed.  Each test is named after the kernel
function whose rule it pins."""
import errno

import pytest

from helpers import MiB, PAGE, anon, raises_errno, raw_stat, stat, usage

PRE_317 = ("2.6.26", "2.6.34", "2.6.35", "3.4")


def profile_machine(machine, kernel, **kw):
    if kernel in ("3.4", "6.1", "6.13"):
        kw.setdefault("thp", "never")
        kw.setdefault("kmem", False)
    return machine(kernel=kernel, **kw)


def left_behind(machine, kernel):
    """Task X in A with 4M of anon and 2M of mapped page cache (and 1M of it unmapped), then
    moved to B under policy none: A keeps the charges, X maps the pages from B."""
    m = profile_machine(machine, kernel)
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    addr = anon(m, x, "4M")
    m.file_write(x, "/data/f", "3M")
    fmap = m.mmap(x, "3M", kind="file", path="/data/f")
    m.touch(x, fmap, "2M", write=False)
    m.move(x, "B")
    assert usage(m, "A") == 7 * MiB and usage(m, "B") == 0
    return m, x, addr, fmap


# ---- mem_cgroup_force_empty(): 2.6.26 drops, 2.6.28 on moves to the parent ----

def test_mem_cgroup_force_empty_drops_every_charge_2_6_26(machine):
    """mem_cgroup_force_empty_list(), 2.6.26: each page on the group's lists loses its
    page_cgroup (mem_cgroup_uncharge_page() ignoring the references): usage 0, nothing
    reclaimed, nothing to the parent; the pages stay mapped and charged nowhere, so X's exit
    later uncharges nothing.  A group with tasks is refused, EBUSY, while it has charges left
    (cgroup->count, looked at in the loop); children do not matter."""
    m, x, addr, fmap = left_behind(machine, "2.6.26")
    w = m.spawn("A")
    raises_errno(errno.EBUSY, m.write, "A", "memory.force_empty", "0")
    assert usage(m, "A") == 7 * MiB
    m.mkdir("A/C")
    m.move(w, "A/C")
    m.write("A/C", "memory.force_empty", "0")               # tasks but no usage: nothing to do
    m.write("A", "memory.force_empty", "0")                  # a child does not matter
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["rss"] == 0 and s["cache"] == 0
    assert usage(m, "") == 0 and usage(m, "B") == 0         # nobody took them
    m.check()                                                # in use, PCG_DROPPED
    m.touch(x, addr, "4M")                                   # still X's pages: no fault charges
    m.exit(x)
    assert usage(m, "A") == 0 and usage(m, "B") == 0 and usage(m, "") == 0


@pytest.mark.parametrize("kernel", ["2.6.34", "3.4"])
def test_mem_cgroup_force_empty_moves_what_reclaim_leaves_to_the_parent(machine, kernel):
    """mem_cgroup_force_empty(free_all), 2.6.28-3.x: EBUSY with tasks or children; reclaim
    takes the page cache, and the anon it cannot swap goes to the parent
    (mem_cgroup_move_parent())."""
    m, x, addr, fmap = left_behind(machine, kernel)
    m.mkdir("A/C")
    raises_errno(errno.EBUSY, m.write, "A", "memory.force_empty", "0")
    m.rmdir("A/C")
    m.write("A", "memory.force_empty", "0")
    assert usage(m, "A") == 0 and usage(m, "") == 4 * MiB and stat(m, "")["rss"] == 4 * MiB
    m.exit(x)
    assert usage(m, "") == 0


@pytest.mark.parametrize("kernel", ["3.4", "6.1"])
def test_mem_cgroup_force_empty_list_hands_the_oldest_page_over_first(machine, kernel):
    """rmdir hands a group's pages to its parent oldest first (list->prev in
    mem_cgroup_force_empty_list(), 2.6.28-3.x), each to the young end of the parent's list,
    so the parent's lists keep their age order and its reclaim still takes the oldest: the
    page cache of /f0, written before /f1's, goes and /f1's stays.  (6.1 leaves the pages on
    the removed group's lists, where the parent's reclaim finds them in the same order.)"""
    m = profile_machine(machine, kernel)
    m.mkdir("B")
    if kernel == "3.4":
        m.write("B", "memory.use_hierarchy", "1")
    m.mkdir("B/C")
    x = m.spawn("B/C")
    m.file_write(x, "/f0", 40 * PAGE)
    m.file_write(x, "/f1", 40 * PAGE)
    m.exit(x)
    m.drain()
    m.rmdir("B/C")
    assert 0 < m.reclaim("B", 8 * PAGE) < 40 * PAGE
    y = m.spawn("B")
    reread = []
    for path in ("/f1", "/f0"):
        before = raw_stat(m, "B")["pgpgin"]
        m.touch(y, m.mmap(y, 40 * PAGE, kind="file", path=path), 40 * PAGE, write=False)
        reread.append(raw_stat(m, "B")["pgpgin"] - before)
    assert reread[0] == 0 and reread[1] > 0
    m.check()


@pytest.mark.parametrize("kernel, parent_mib", [("2.6.26", 0), ("2.6.34", 7), ("3.4", 7)])
def test_mem_cgroup_pre_destroy_rmdir(machine, kernel, parent_mib):
    """rmdir: mem_cgroup_pre_destroy() runs force_empty -- 2.6.26 drops the charges (the
    pages are charged to no group), 2.6.28 on move them to the parent (commit f817ed48535a)."""
    m, x, addr, fmap = left_behind(machine, kernel)
    m.rmdir("A")
    assert usage(m, "") == parent_mib * MiB and usage(m, "B") == 0
    m.check()
    m.exit(x)
    assert usage(m, "") == (parent_mib and 3 * MiB)          # the page cache stays in the root


def test_mem_cgroup_force_empty_dropped_pages_later_charges_2_6_26(machine):
    """What happens to a dropped page after 2.6.26's rmdir: a fork shares it with no charge
    (page_dup_rmap()), a COW copy charges only the copy; a page-cache page nothing maps is
    charged to the first mm to map it again, as mapped (rss), by __do_fault()'s
    mem_cgroup_charge(), and uncharged again when that mapping goes (page_remove_rmap());
    one X still maps gives the new mapping's charge back at once (page_add_file_rmap())."""
    m, x, addr, fmap = left_behind(machine, "2.6.26")
    m.rmdir("A")
    child = m.fork(x)
    assert usage(m, "B") == 0
    m.touch(child, addr, "1M")                               # COW: 256 new pages
    assert usage(m, "B") == 1 * MiB
    y = m.spawn("B")
    f = m.mmap(y, "3M", kind="file", path="/data/f")
    m.touch(y, f, "3M", write=False)
    s = stat(m, "B")
    assert usage(m, "B") == 2 * MiB and s["rss"] == 2 * MiB and s["cache"] == 0
    m.check()
    m.munmap(y, f, "3M")
    assert usage(m, "B") == 1 * MiB
    m.check()


# ---- page_remove_rmap() -> mem_cgroup_uncharge_page(): before 3.17, at the last unmap ----

@pytest.mark.parametrize("kernel", PRE_317 + ("6.1", "6.13"))
def test_page_remove_rmap_uncharges_the_last_mapping_before_3_17(machine, kernel):
    """An anon page unmapped while its CPU's LRU add batch still holds it: before 3.17
    page_remove_rmap() uncharges it there and then (its rss goes at munmap); from 3.17 it
    stays charged until the batch drains and frees it."""
    m = profile_machine(machine, kernel)
    m.mkdir("A")
    x = m.spawn("A")
    anon(m, x, "1M")
    m.drain()
    addr = anon(m, x, 4 * PAGE)                             # in the batch, not yet on a list
    before = raw_stat(m, "A")["rss"]
    m.munmap(x, addr, 4 * PAGE)
    gone = before - raw_stat(m, "A")["rss"]
    assert gone == (4 * PAGE if kernel in PRE_317 else 0)
    m.check()
    assert stat(m, "A")["rss"] == 1 * MiB and usage(m, "A") == 1 * MiB


@pytest.mark.parametrize("kernel", PRE_317 + ("6.1",))
def test_mem_cgroup_uncharge_swapcache(machine, kernel):
    """A swapped-in page still in the swap cache (read fault), then unmapped while its LRU add
    batch holds it: 2.6.34-3.4 skip the uncharge at unmap for a swap-cache page but uncharge
    it as it leaves the cache (swapcache_free() -> mem_cgroup_uncharge_swapcache()); 2.6.26
    at the unmap; 6.1 when the batch frees it."""
    m = profile_machine(machine, kernel, swap="64M")
    m.mkdir("A")
    x = m.spawn("A")
    addr = anon(m, x, 4 * PAGE)
    m.reclaim("A", "1M")
    m.drain()
    m.touch(x, addr, 4 * PAGE, write=False)                 # cached, batched
    before = raw_stat(m, "A")["rss"]
    m.munmap(x, addr, 4 * PAGE)
    assert before - raw_stat(m, "A")["rss"] == (4 * PAGE if kernel in PRE_317 else 0)
    m.check()
    assert usage(m, "A") == 0


@pytest.mark.parametrize("kernel", ["2.6.34", "3.4", "6.1"])
def test_add_to_swap_cache_counts_in_cache_from_5_8(machine, kernel):
    """Pages read back from swap stay in the swap cache, charged as anon: 6.1 counts them in
    memory.stat's cache too (memcg NR_FILE_PAGES, which __add_to_swap_cache() raises, 5.8
    on); before, cache counted only pages charged as cache (mem_cgroup_charge_statistics())."""
    m = profile_machine(machine, kernel, swap="64M")
    m.mkdir("A")
    x = m.spawn("A")
    addr = anon(m, x, 4 * PAGE)
    m.drain()
    assert m.reclaim("A", "1M") == 4 * PAGE
    m.touch(x, addr, 4 * PAGE, write=False)
    got = raw_stat(m, "A")
    assert (got["rss"], got["cache"]) == (4 * PAGE, 4 * PAGE if kernel == "6.1" else 0)
    m.check()


@pytest.mark.parametrize("kernel", PRE_317 + ("6.1",))
def test_do_swap_page_charges_a_cached_page_to_the_faulting_mm_2_6_26(machine, kernel):
    """2.6.26's swap cache holds no charge: X swaps its pages in (kept cached: forked child C,
    now in B, still holds the slots) and unmaps them, which uncharges A at once; C's fault then
    charges C's group (mem_cgroup_charge() in do_swap_page()).  Later kernels keep the cached
    page charged to A, and C maps it from there."""
    m = profile_machine(machine, kernel, swap="64M")
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    addr = anon(m, x, "1M")
    c = m.fork(x)
    m.move(c, "B")
    m.reclaim("A", "1M")
    assert usage(m, "A") == 0
    m.touch(x, addr, "1M", write=False)
    m.munmap(x, addr, "1M")
    assert usage(m, "A") == (0 if kernel == "2.6.26" else 1 * MiB)
    m.check()
    m.touch(c, addr, "1M", write=False)
    assert (usage(m, "A"), usage(m, "B")) == ((0, 1 * MiB) if kernel == "2.6.26" else (1 * MiB, 0))
    m.check()


@pytest.mark.parametrize("kernel", ["2.6.26", "3.4", "6.1"])
def test_page_remove_rmap_uncharges_a_page_a_move_holds_isolated(machine, kernel):
    """The RFD's walk isolates all of X's pages first and moves them table by table; X unmaps
    half of them meanwhile.  Before 3.17 their charge leaves A at the unmap, while the move
    holds them, and the move finds them charged to no group (1024 pages moved); from 3.17
    they stay charged until the move puts them back and frees them, and move with the rest."""
    m = profile_machine(machine, kernel, policy="half")
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    anon(m, x, "4M")
    second = anon(m, x, "4M")
    m.drain()
    seen = []

    def unmap_half(info):
        if info.phase == "move" and not seen:
            m.munmap(x, second, "4M")
            seen.append(raw_stat(m, "A")["rss"])
    m.on_resched(unmap_half)
    res = m.move(x, "B")
    pre_317 = kernel in PRE_317
    assert seen == [4 * MiB if pre_317 else 8 * MiB]
    assert res.pages_moved == (1024 if pre_317 else 2048)
    assert usage(m, "A") == 0 and usage(m, "B") == 4 * MiB
