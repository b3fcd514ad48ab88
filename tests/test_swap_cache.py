"""The swap cache (mm/swap_state.c, 6.1): a swapped-in page stays there while its slot is
still referenced, or while swap is less than half full, and each rule is named after the
kernel function that makes it."""
from helpers import MiB, anon, stat, usage


PAGE = 4096


def memsw(m, cg):
    return int(m.read(cg, "memory.memsw.usage_in_bytes"))


def swapped(machine, policy="none", swap="64M"):
    """Task X in A with 4M of anon, all of it swapped out by force_empty."""
    m = machine(swap=swap, policy=policy, thp="never", kmem=False)
    m.mkdir("A")
    pid = m.spawn("A")
    addr = anon(m, pid, "4M")
    m.write("A", "memory.force_empty", "1")
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 4 * MiB
    return m, pid, addr


def test_mem_cgroup_swapin_uncharge_swap_drops_the_slot_charge_at_swap_in(machine):
    """A swap-in charges the page and drops the slot's swap charge, though a forked child's
    entry keeps the slot (and the page in the swap cache): memsw counts the data once."""
    m, pid, addr = swapped(machine)
    m.fork(pid)
    m.touch(pid, addr, "4M", write=False)
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["swap"] == 0 and memsw(m, "A") == 4 * MiB


def test_lookup_swap_cache_shares_the_page_between_mms(machine):
    """do_swap_page(): the second mm to fault a COW-shared entry maps the cached page."""
    m, pid, addr = swapped(machine)
    child = m.fork(pid)
    m.touch(child, addr, "4M", write=False)
    m.touch(pid, addr, "4M", write=False)
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["rss"] == 4 * MiB


def test_try_to_unmap_swaps_out_pages_shared_after_fork(machine):
    """shrink_page_list(): add_to_swap() then try_to_unmap() gives every mm's PTE the same slot."""
    m = machine(swap="64M", thp="never", kmem=False)
    m.mkdir("A")
    pid = m.spawn("A")
    addr = anon(m, pid, "4M")
    child = m.fork(pid)
    m.write("A", "memory.force_empty", "1")
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 4 * MiB
    m.touch(child, addr, "4M", write=False)
    m.touch(pid, addr, "4M", write=False)
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["swap"] == 0


def test_remove_mapping_reclaims_a_swap_cache_page_into_its_slot(machine):
    """__remove_mapping(): a clean swap-cache page goes back to the slot it came from
    (mem_cgroup_swapout() records it again), taking no new slot."""
    m, pid, addr = swapped(machine)
    child = m.fork(pid)
    m.touch(child, addr, "4M", write=False)
    m.write("A", "memory.force_empty", "1")
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 4 * MiB and memsw(m, "A") == 4 * MiB


def test_free_swap_and_cache_frees_the_cached_page_with_the_last_entry(machine):
    """free_pages_and_swap_cache() keeps a zapped page cached while another mm's entry holds
    its slot; free_swap_and_cache() frees it when that entry goes."""
    m, pid, addr = swapped(machine)
    child = m.fork(pid)
    m.touch(child, addr, "4M", write=False)
    m.exit(child)
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["swap"] == 0
    m.exit(pid)
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 0 and memsw(m, "A") == 0


def test_mc_handle_swap_pte_moves_a_swap_cache_page_as_a_page(machine):
    """mc_handle_swap_pte(): behind a swap PTE, a page in the swap cache is MC_TARGET_PAGE."""
    m, pid, addr = swapped(machine, policy="upstream")
    child = m.fork(pid)
    m.touch(child, addr, "4M", write=False)
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.move(pid, "B")
    assert usage(m, "B") == 4 * MiB and stat(m, "B")["swap"] == 0
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 0


def test_recharge_qualifies_skips_a_page_in_the_swap_cache(machine):
    """The RFD's page_count() == 2 test: a page swapped in by a read, still in the swap
    cache, holds a third reference, so the seed leaves it in the old group."""
    m, pid, addr = swapped(machine, policy="seed")
    m.touch(pid, addr, "4M", write=False)
    m.mkdir("B")
    m.move(pid, "B")
    assert usage(m, "A") == 4 * MiB and usage(m, "B") == 0


def test_should_try_to_free_swap_on_a_write_or_with_swap_over_half_full(machine):
    """do_swap_page(): a write fault on an exclusive page, or vm_swap_full(), drops the page
    from the swap cache, and then the seed recharges it."""
    m, pid, addr = swapped(machine, policy="seed")
    m.touch(pid, addr, "4M", write=True)
    m.mkdir("B")
    m.move(pid, "B")
    assert usage(m, "A") == 0 and usage(m, "B") == 4 * MiB
    # 1024 of 1535 slots in use: full (free * 2 < total) until 768 are free again,
    # so the first 257 swap-ins leave the cache and the rest stay
    m, pid, addr = swapped(machine, policy="seed", swap="6M")
    m.touch(pid, addr, "4M", write=False)
    m.mkdir("B")
    m.move(pid, "B")
    assert usage(m, "B") == 257 * PAGE and usage(m, "A") == 767 * PAGE


def test___add_to_swap_cache_counts_the_page_in_cache(machine):
    """__add_to_swap_cache() adds NR_FILE_PAGES, v1's "cache": a page swapped in while a
    forked child's entry keeps its slot counts in cache as well as rss, and leaves cache
    with __delete_from_swap_cache() when the child's entries, then the mapping, go."""
    m, pid, addr = swapped(machine)
    child = m.fork(pid)
    m.touch(pid, addr, "4M", write=False)
    st = stat(m, "A")
    assert st["cache"] == 4 * MiB and st["rss"] == 4 * MiB and usage(m, "A") == 4 * MiB
    m.exit(child)
    assert stat(m, "A")["cache"] == 4 * MiB
    m.munmap(pid, addr, "2M")
    st = stat(m, "A")
    assert st["cache"] == 2 * MiB and st["rss"] == 2 * MiB and usage(m, "A") == 2 * MiB
