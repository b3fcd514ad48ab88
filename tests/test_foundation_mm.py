"""Charge accounting of the memory-management paths, byte for byte (kernel 6.1 profile unless named).

Every machine comes from the ``machine``/``m`` fixtures, which run
``m.check()`` (the README's invariants) when the test ends; many tests also check
in the middle, right after the step that could break an invariant.
"""
import errno

import pytest

from helpers import MiB, PAGE, anon, limit, oom_killed, raises_errno, stat, tasks, usage
from memcg_emu import OOMKilled

# ---------------------------------------------------------------- anon and the zero page


def test_anon_write_charges_every_page(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, "8M")
    assert usage(m, "A") == 0                       # mmap alone charges nothing
    m.touch(pid, addr, "3M")
    assert usage(m, "A") == 3 * MiB
    m.touch(pid, addr, "8M")                        # the first 3M again: no new charge
    s = stat(m, "A")
    assert usage(m, "A") == 8 * MiB and s["rss"] == 8 * MiB and s["cache"] == 0
    assert s["inactive_anon"] + s["active_anon"] == 8 * MiB
    assert s["pgpgin"] == 2048 and s["pgfault"] == 2048
    assert usage(m, "") == 8 * MiB                  # the root counts its children (6.1)


def test_touch_rounds_to_pages(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, 10 * PAGE + 1)               # 11 pages
    m.touch(pid, addr + 100, 1)                     # one byte inside the first page
    assert usage(m, "A") == PAGE
    m.touch(pid, addr + PAGE - 1, 2)                # straddles pages 0 and 1
    assert usage(m, "A") == 2 * PAGE
    m.touch(pid, addr, 10 * PAGE + 1)
    assert usage(m, "A") == 11 * PAGE


def test_read_touch_maps_the_zero_page(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, "8M")
    m.touch(pid, addr, "8M", write=False)
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["rss"] == 0 and s["pgpgin"] == 0
    assert s["pgfault"] == 2048                     # faults, but no charge
    m.touch(pid, addr, "2M", write=True)            # write over the zero page: a new page each
    assert usage(m, "A") == 2 * MiB
    m.touch(pid, addr, "8M", write=False)           # reading again changes nothing
    assert usage(m, "A") == 2 * MiB
    m.check()
    m.munmap(pid, addr, "8M")
    assert usage(m, "A") == 0


# ---------------------------------------------------------------- fork and COW


def test_fork_charges_nothing_until_written(m):
    m.mkdir("C")
    parent = m.spawn("C")
    anon(m, parent, "16M")
    child = m.fork(parent)
    assert m.cgroup_of(child) == "C"
    assert usage(m, "C") == 16 * MiB
    assert stat(m, "C")["pgpgin"] == 4096
    m.check()


def test_cow_parent_write_copies_child_then_reuses(m):
    m.mkdir("C")
    parent = m.spawn("C")
    addr = anon(m, parent, "16M")
    child = m.fork(parent)
    m.touch(parent, addr, "4M")                     # parent's write: a copy each
    assert usage(m, "C") == 20 * MiB
    m.touch(child, addr, "4M")                      # child now maps those pages alone: reused
    assert usage(m, "C") == 20 * MiB
    m.touch(parent, addr, "4M")                     # the parent's copies are its own
    assert usage(m, "C") == 20 * MiB
    m.check()
    m.exit(child)                                   # the child's 4M originals and 12M shares
    assert usage(m, "C") == 16 * MiB
    m.exit(parent)
    assert usage(m, "C") == 0


def test_cow_copy_is_charged_to_the_writer_group(m):
    m.mkdir("C")
    m.mkdir("D")
    parent = m.spawn("C")
    addr = anon(m, parent, "16M")
    child = m.fork(parent)
    m.move(child, "D")                              # policy none: nothing moves
    assert usage(m, "C") == 16 * MiB and usage(m, "D") == 0
    m.touch(child, addr, "4M")
    assert usage(m, "C") == 16 * MiB and usage(m, "D") == 4 * MiB
    m.touch(child, addr + 8 * MiB, "2M", write=False)   # reading a shared page copies nothing
    assert usage(m, "D") == 4 * MiB
    m.exit(parent)                                  # the child still maps 12M of C's pages
    assert usage(m, "C") == 12 * MiB and usage(m, "D") == 4 * MiB
    m.check()
    m.exit(child)
    assert usage(m, "C") == 0 and usage(m, "D") == 0


def test_fork_of_a_read_only_zero_page_mapping(m):
    m.mkdir("A")
    parent = m.spawn("A")
    addr = m.mmap(parent, "4M")
    m.touch(parent, addr, "4M", write=False)
    child = m.fork(parent)
    m.touch(child, addr, "1M")
    m.touch(parent, addr, "1M")
    assert usage(m, "A") == 2 * MiB                 # each writer gets its own page


# ---------------------------------------------------------------- page cache


def test_shared_file_charged_once_to_its_first_toucher(m):
    m.mkdir("D")
    m.mkdir("E")
    u, v = m.spawn("D"), m.spawn("E")
    au = m.mmap(u, "8M", kind="file", path="/tmp/shared_f")
    m.touch(u, au, "8M", write=False)
    av = m.mmap(v, "8M", kind="file", path="/tmp/shared_f")
    m.touch(v, av, "8M", write=True)               # a shared write: the same pages
    d, e = stat(m, "D"), stat(m, "E")
    assert d["cache"] == 8 * MiB and d["mapped_file"] == 8 * MiB and d["rss"] == 0
    assert d["shmem"] == 8 * MiB                    # /tmp is tmpfs: swap-backed, on the anon lists
    assert d["inactive_anon"] + d["active_anon"] == 8 * MiB
    assert e["cache"] == 0 and e["rss"] == 0 and usage(m, "E") == 0
    m.munmap(u, au, "8M")                           # still mapped by v
    assert stat(m, "D")["mapped_file"] == 8 * MiB
    m.munmap(v, av, "8M")                           # mapped by nobody: charged until reclaimed
    d = stat(m, "D")
    assert d["mapped_file"] == 0 and d["cache"] == 8 * MiB and usage(m, "D") == 8 * MiB


def file_writer(m, path, size):
    """A task in new group A that wrote ``size`` bytes of file ``path``."""
    m.mkdir("A")
    pid = m.spawn("A")
    m.file_write(pid, path, size)
    return pid


@pytest.mark.parametrize("path", ["/tmp/t", "/dev/shm/t"])
def test_shmem_get_folio_tmpfs_paths_swap_out_and_back(machine, path):
    """shmem_get_folio()/shmem_writepage(): a file on tmpfs is shmem; with swap, reclaim swaps it."""
    m = machine(swap="64M")
    pid = file_writer(m, path, "4M")
    s = stat(m, "A")
    assert s["cache"] == s["shmem"] == 4 * MiB and s["inactive_file"] + s["active_file"] == 0
    assert m.reclaim("A", "4M") == 4 * MiB
    s = stat(m, "A")
    assert s["cache"] == s["shmem"] == 0 and s["swap"] == 4 * MiB
    assert int(m.read("A", "memory.memsw.usage_in_bytes")) == 4 * MiB
    m.check()
    f = m.mmap(pid, "4M", kind="file", path=path)
    m.touch(pid, f, "4M", write=False)              # swapped back in through the file
    s = stat(m, "A")
    assert s["shmem"] == s["mapped_file"] == 4 * MiB and s["swap"] == 0


def test_shmem_get_folio_tmpfs_without_swap_stays(m):
    file_writer(m, "/tmp/t", "4M")
    assert m.reclaim("A", "4M") == 0
    m.write("A", "memory.force_empty", "0")         # force_empty keeps what it cannot reclaim
    assert stat(m, "A")["shmem"] == 4 * MiB and usage(m, "A") == 4 * MiB


def test_ramfs_get_inode_mapping_unevictable(m):
    """ramfs_get_inode(): mapping_set_unevictable(): its pages sit on the unevictable list for good."""
    pid = file_writer(m, "/ramfs/r", "2M")
    f = m.mmap(pid, "2M", kind="file", path="/ramfs/r")
    m.touch(pid, f, "2M", write=False)
    s = stat(m, "A")
    assert s["cache"] == s["unevictable"] == s["mapped_file"] == 2 * MiB and s["shmem"] == 0
    assert m.reclaim("A", "2M") == 0
    m.mlock(pid, f, "2M")
    m.munmap(pid, f, "2M")                          # munlock: still unevictable
    s = stat(m, "A")
    assert s["unevictable"] == s["cache"] == 2 * MiB and s["inactive_file"] == 0


def test_file_write_charges_page_cache_unmapped(m):
    m.mkdir("A")
    pid = m.spawn("A")
    m.file_write(pid, "/data/log", "6M")
    s = stat(m, "A")
    assert s["cache"] == 6 * MiB and s["mapped_file"] == 0 and s["rss"] == 0 and s["shmem"] == 0
    m.file_write(pid, "/data/log", "4M")            # shorter: nothing new
    m.file_write(pid, "/data/log", "8M")            # extends by 2M
    assert usage(m, "A") == 8 * MiB
    addr = m.mmap(pid, "8M", kind="file", path="/data/log")
    m.touch(pid, addr, "8M", write=False)          # already cached: mapping charges nothing
    assert usage(m, "A") == 8 * MiB and stat(m, "A")["mapped_file"] == 8 * MiB


def test_private_file_write_copies_into_anon(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, "4M", kind="file", path="/data/p", private=True)
    m.touch(pid, addr, "2M", write=False)          # read: the page cache, mapped
    s = stat(m, "A")
    assert s["cache"] == 2 * MiB and s["mapped_file"] == 2 * MiB and s["rss"] == 0
    m.touch(pid, addr, "4M", write=True)           # write: an anon copy each; the cache stays
    s = stat(m, "A")
    assert s["rss"] == 4 * MiB and s["cache"] == 4 * MiB and s["mapped_file"] == 0
    assert usage(m, "A") == 8 * MiB
    m.check()
    m.munmap(pid, addr, "4M")                       # the copies go, the cache stays
    s = stat(m, "A")
    assert s["rss"] == 0 and s["cache"] == 4 * MiB and usage(m, "A") == 4 * MiB


def test_private_file_write_does_not_change_the_file_for_others(m):
    m.mkdir("A")
    m.mkdir("B")
    writer, reader = m.spawn("A"), m.spawn("B")
    m.file_write(writer, "/data/q", "2M")
    pw = m.mmap(writer, "2M", kind="file", path="/data/q", private=True)
    m.touch(writer, pw, "2M")
    pr = m.mmap(reader, "2M", kind="file", path="/data/q")
    m.touch(reader, pr, "2M", write=False)
    assert stat(m, "A")["rss"] == 2 * MiB and stat(m, "A")["cache"] == 2 * MiB
    assert usage(m, "B") == 0 and stat(m, "A")["mapped_file"] == 2 * MiB   # B maps A's cache


def test_shm_counts_as_cache_shmem_and_mapped_on_the_anon_lru(m):
    m.mkdir("E")
    pid = m.spawn("E")
    addr = m.mmap(pid, "4M", kind="shm")
    m.touch(pid, addr, "4M")
    s = stat(m, "E")
    assert s["cache"] == 4 * MiB and s["shmem"] == 4 * MiB and s["mapped_file"] == 4 * MiB
    assert s["rss"] == 0
    assert s["inactive_anon"] + s["active_anon"] == 4 * MiB
    assert s["inactive_file"] + s["active_file"] == 0
    child = m.fork(pid)
    m.touch(child, addr, "4M")                      # shared: the child writes the same pages
    assert usage(m, "E") == 4 * MiB
    m.munmap(pid, addr, "4M")                       # still mapped by the child
    assert stat(m, "E")["mapped_file"] == 4 * MiB
    m.exit(child)                                   # the last mapping: the object goes
    s = stat(m, "E")
    assert usage(m, "E") == 0 and s["shmem"] == 0 and s["cache"] == 0


def test_shm_read_touch_allocates(m):
    m.mkdir("E")
    pid = m.spawn("E")
    addr = m.mmap(pid, "2M", kind="shm")
    m.touch(pid, addr, "2M", write=False)
    assert stat(m, "E")["shmem"] == 2 * MiB


# ---------------------------------------------------------------- munmap, exec, exit


def test_munmap_uncharges_anon_keeps_page_cache(m):
    m.mkdir("A")
    pid = m.spawn("A")
    a = anon(m, pid, "8M")
    f = m.mmap(pid, "4M", kind="file", path="/data/kept")
    m.touch(pid, f, "4M", write=False)
    assert usage(m, "A") == 12 * MiB
    m.munmap(pid, a + 2 * MiB, "4M")                # the middle of the anon mapping
    assert stat(m, "A")["rss"] == 4 * MiB
    raises_errno(errno.EFAULT, m.touch, pid, a + 2 * MiB, PAGE)
    m.touch(pid, a, "2M")                           # both ends still there
    m.touch(pid, a + 6 * MiB, "2M")
    assert stat(m, "A")["rss"] == 4 * MiB
    m.check()
    m.munmap(pid, f, "4M")
    s = stat(m, "A")
    assert s["cache"] == 4 * MiB and s["mapped_file"] == 0 and usage(m, "A") == 8 * MiB
    m.reclaim("A", "4M")                            # clean cache goes under reclaim
    assert stat(m, "A")["cache"] == 0 and usage(m, "A") == 4 * MiB


def test_exec_uncharges_the_old_mm(m):
    m.mkdir("A")
    pid = m.spawn("A")
    a = anon(m, pid, "8M")
    f = m.mmap(pid, "2M", kind="file", path="/bin/tool")
    m.touch(pid, f, "2M", write=False)
    shm = m.mmap(pid, "1M", kind="shm")
    m.touch(pid, shm, "1M")
    m.exec(pid)
    s = stat(m, "A")
    assert s["rss"] == 0 and s["shmem"] == 0 and s["cache"] == 2 * MiB and s["mapped_file"] == 0
    assert m.cgroup_of(pid) == "A" and tasks(m, "A") == [pid]
    raises_errno(errno.EFAULT, m.touch, pid, a, PAGE)   # a fresh, empty address space
    anon(m, pid, "1M")
    assert stat(m, "A")["rss"] == 1 * MiB


def test_exit_uncharges_and_frees_the_group(m):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "8M")
    m.file_write(pid, "/data/x", "1M")
    m.exit(pid)
    assert tasks(m, "A") == [] and usage(m, "A") == 1 * MiB   # the page cache stays
    for call in (m.exit, m.exec, m.fork, m.cgroup_of):
        raises_errno(errno.ESRCH, call, pid)
    raises_errno(errno.ESRCH, m.mmap, pid, "1M")
    m.rmdir("A")


# ---------------------------------------------------------------- the memcg OOM killer


def big_small_toucher(m):
    """A (16M): big holds 10M, small 2M; toucher has 8M mapped, untouched."""
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "16M")
    big, small, toucher = m.spawn("A"), m.spawn("A"), m.spawn("A")
    anon(m, big, "10M")
    anon(m, small, "2M")
    return big, small, toucher, m.mmap(toucher, "8M")


def test_oom_kills_the_largest_task_and_the_fault_goes_on_6_1(m):
    """try_charge_memcg(), 6.1: after the kill the charge retries (passed_oom) and succeeds."""
    big, small, toucher, addr = big_small_toucher(m)
    m.touch(toucher, addr, "8M")
    assert oom_killed(m) == [big]
    assert tasks(m, "A") == sorted([small, toucher]) and usage(m, "A") == 10 * MiB
    raises_errno(errno.ESRCH, m.cgroup_of, big)


def test_oom_kills_the_largest_task_and_the_fault_fails_2_6_26(machine):
    """mem_cgroup_charge_common(), 2.6.26: after the kill the charge fails all the same."""
    m = machine(kernel="2.6.26")
    big, small, toucher, addr = big_small_toucher(m)
    with pytest.raises(OOMKilled) as info:
        m.touch(toucher, addr, "8M")
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOMEM
    assert info.value.victim == big
    assert tasks(m, "A") == sorted([small, toucher])
    raises_errno(errno.ESRCH, m.cgroup_of, big)
    # the toucher got the 4M that fitted before the charge failed; the victim's 10M are gone
    assert usage(m, "A") == 6 * MiB
    assert int(m.read("A", "memory.failcnt")) > 0
    m.check()
    m.touch(toucher, addr, "8M")                    # now it fits
    assert usage(m, "A") == 10 * MiB


def test_oom_kills_the_toucher_when_it_is_the_largest(m):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "16M")
    x = m.spawn("A")
    y = m.spawn("A")
    anon(m, y, "1M")
    addr = m.mmap(x, "32M")
    with pytest.raises(OOMKilled) as info:
        m.touch(x, addr, "32M")
    assert info.value.victim == x
    assert tasks(m, "A") == [y] and usage(m, "A") == 1 * MiB
    raises_errno(errno.ESRCH, m.touch, x, addr, PAGE)


def test_oom_in_a_parent_limit_kills_across_the_subtree(m):
    m.mkdir("A")
    m.mkdir("A/B")
    m.write("A", "memory.limit_in_bytes", "16M")
    big = m.spawn("A/B")
    anon(m, big, "12M")
    x = m.spawn("A")
    addr = m.mmap(x, "8M")
    m.touch(x, addr, "8M")
    assert oom_killed(m) == [big]
    assert usage(m, "A/B") == 0 and usage(m, "A") == 8 * MiB


def test_oom_badness_counts_swapped_out_pages(machine):
    # oom_badness(), 6.1: points = rss + MM_SWAPENTS + page tables
    m = machine(swap="16M")
    m.mkdir("A")
    x = m.spawn("A")
    anon(m, x, "15M")
    m.reclaim("A", "15M")                           # all of x goes to swap
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 15 * MiB
    m.write("A", "memory.limit_in_bytes", "8M")
    y = m.spawn("A")
    addr = m.mmap(y, "12M")
    m.touch(y, addr, "12M")                         # swap fills, then the killer runs
    assert oom_killed(m) == [x]                     # 15M swapped beats ~9M of y


# ---------------------------------------------------------------- swap


def test_swap_out_and_in_small_swap(machine):
    m = machine(swap="16M")
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "8M")
    pid = m.spawn("A")
    addr = anon(m, pid, "12M")                      # 4M over the limit: swapped, no OOM
    s = stat(m, "A")
    assert usage(m, "A") <= 8 * MiB and s["rss"] == usage(m, "A")
    assert s["swap"] > 0 and s["rss"] + s["swap"] == 12 * MiB
    m.check()
    m.touch(pid, addr, "12M", write=False)          # swap every page back in, turn by turn
    s = stat(m, "A")
    assert usage(m, "A") <= 8 * MiB and s["rss"] + s["swap"] == 12 * MiB
    assert s["pgmajfault"] > 0
    m.check()
    m.munmap(pid, addr, "12M")                      # frees the swap slots too
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["swap"] == 0


def test_swap_full_ends_in_oom_and_frees_the_slots(machine):
    m = machine(swap="4M")
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "8M")
    pid = m.spawn("A")
    addr = m.mmap(pid, "16M")
    with pytest.raises(OOMKilled) as info:
        m.touch(pid, addr, "16M")
    assert info.value.victim == pid
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["swap"] == 0
    other = m.spawn("A")                            # the slots are free for the next one
    anon(m, other, "11M")
    s = stat(m, "A")
    assert s["rss"] + s["swap"] == 11 * MiB and s["swap"] > 0


def test_swap_in_charges_the_group_recorded_at_swap_out(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    m.mkdir("B")
    pid = m.spawn("A")
    addr = anon(m, pid, "4M")
    m.reclaim("A", "4M")
    assert usage(m, "A") == 0 and stat(m, "A")["swap"] == 4 * MiB
    m.move(pid, "B")
    m.touch(pid, addr, "4M", write=False)
    assert usage(m, "A") == 4 * MiB and usage(m, "B") == 0
    assert stat(m, "A")["swap"] == 0 and stat(m, "A")["rss"] == 4 * MiB
    assert stat(m, "B")["pgmajfault"] > 0           # major faults count to the faulting mm's group
    assert stat(m, "A")["pgmajfault"] == 0


def test_shm_swaps_out_and_back(machine):
    m = machine(swap="64M")
    m.mkdir("E")
    pid = m.spawn("E")
    addr = m.mmap(pid, "4M", kind="shm")
    m.touch(pid, addr, "4M")
    m.reclaim("E", "4M")
    s = stat(m, "E")
    assert usage(m, "E") == 0 and s["swap"] == 4 * MiB and s["shmem"] == 0
    m.touch(pid, addr, "4M", write=False)
    s = stat(m, "E")
    assert s["shmem"] == 4 * MiB and s["cache"] == 4 * MiB and s["swap"] == 0


def test_cow_shared_pages_stay_counted_with_swap(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    parent = m.spawn("A")
    addr = anon(m, parent, "4M")
    child = m.fork(parent)
    m.reclaim("A", "4M")
    s = stat(m, "A")
    assert s["rss"] + s["swap"] == 4 * MiB          # each shared page counted once, here or in swap
    assert usage(m, "A") == s["rss"]
    m.touch(parent, addr, "4M", write=False)
    m.touch(child, addr, "4M", write=False)
    s = stat(m, "A")
    assert s["rss"] + s["swap"] == 4 * MiB and usage(m, "A") == s["rss"]
    m.check()
    m.exit(child)
    m.exit(parent)
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["swap"] == 0


# ---------------------------------------------------------------- reclaim


def test_reclaim_of_clean_file_pages(m):
    m.mkdir("A")
    pid = m.spawn("A")
    a = anon(m, pid, "2M")
    m.file_write(pid, "/data/clean", "8M")
    m.reclaim("A", "8M")
    s = stat(m, "A")
    assert s["cache"] == 0 and s["rss"] == 2 * MiB and usage(m, "A") == 2 * MiB
    assert s["pgpgout"] == 2048
    # the file is still there: mapping and reading it charges the reader again
    f = m.mmap(pid, "8M", kind="file", path="/data/clean")
    m.touch(pid, f, "8M", write=False)
    assert stat(m, "A")["cache"] == 8 * MiB
    m.touch(pid, a, "2M")


def test_reclaim_returns_what_it_freed(m):
    m.mkdir("A")
    pid = m.spawn("A")
    m.file_write(pid, "/data/big", "8M")
    freed = m.reclaim("A", "1M")
    left = usage(m, "A")
    assert freed == 8 * MiB - left                  # the return value is what went
    assert 1 * MiB <= freed < 8 * MiB               # at least the request, not everything


def test_reclaim_unmaps_mapped_clean_file_pages(m):
    m.mkdir("A")
    pid = m.spawn("A")
    f = m.mmap(pid, "4M", kind="file", path="/data/mapped")
    m.touch(pid, f, "4M", write=False)
    m.reclaim("A", "4M")
    s = stat(m, "A")
    assert s["cache"] == 0 and s["mapped_file"] == 0 and usage(m, "A") == 0
    m.check()
    m.touch(pid, f, "4M", write=False)              # refault: charged again
    assert stat(m, "A")["mapped_file"] == 4 * MiB


def test_reclaim_without_swap_leaves_anon_and_shm(m):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "4M")
    shm = m.mmap(pid, "2M", kind="shm")
    m.touch(pid, shm, "2M")
    m.drain()                       # reclaim drains this CPU's LRU add batch: its pages join the lines
    before = m.read("A", "memory.stat")
    assert m.reclaim("A", "6M") == 0
    assert m.read("A", "memory.stat") == before and usage(m, "A") == 6 * MiB


# ---------------------------------------------------------------- mlock


def test_mlock_is_unevictable_and_never_reclaimed(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "64M")
    pid = m.spawn("A")
    addr = m.mmap(pid, "8M")
    m.mlock(pid, addr, "8M")                        # faults everything in
    s = stat(m, "A")
    assert usage(m, "A") == 8 * MiB and s["rss"] == 8 * MiB and s["unevictable"] == 8 * MiB
    assert s["inactive_anon"] + s["active_anon"] == 0
    assert m.reclaim("A", "8M") == 0
    raises_errno(errno.EBUSY, m.write, "A", "memory.limit_in_bytes", "4M")
    assert limit(m, "A") == 64 * MiB
    m.write("A", "memory.force_empty", "0")
    s = stat(m, "A")
    assert usage(m, "A") == 8 * MiB and s["swap"] == 0 and s["unevictable"] == 8 * MiB
    m.check()
    m.munmap(pid, addr, "8M")
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["unevictable"] == 0


def test_mlock_file_pages_stay_while_any_locker_maps_them(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    a, b = m.spawn("A"), m.spawn("A")
    fa = m.mmap(a, "4M", kind="file", path="/data/locked")
    fb = m.mmap(b, "4M", kind="file", path="/data/locked")
    m.mlock(a, fa, "4M")
    m.mlock(b, fb, "4M")
    assert stat(m, "A")["unevictable"] == 4 * MiB and usage(m, "A") == 4 * MiB
    m.munmap(a, fa, "4M")                           # b still holds them locked
    assert stat(m, "A")["unevictable"] == 4 * MiB
    assert m.reclaim("A", "4M") == 0
    assert stat(m, "A")["cache"] == 4 * MiB and stat(m, "A")["mapped_file"] == 4 * MiB


def test_mlock_then_limit_write_below_it_ebusy(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, "4M")
    m.mlock(pid, addr, "4M")
    m.file_write(pid, "/data/c", "4M")
    m.write("A", "memory.limit_in_bytes", "6M")     # the cache gives way
    assert usage(m, "A") <= 6 * MiB and stat(m, "A")["unevictable"] == 4 * MiB
    raises_errno(errno.EBUSY, m.write, "A", "memory.limit_in_bytes", "2M")
    assert limit(m, "A") == 6 * MiB and stat(m, "A")["unevictable"] == 4 * MiB


def test_mlock_over_the_limit_ooms(m):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "4M")
    pid = m.spawn("A")
    addr = m.mmap(pid, "8M")
    with pytest.raises(OOMKilled) as info:
        m.mlock(pid, addr, "8M")
    assert info.value.victim == pid and usage(m, "A") == 0


def test_mlock_unmapped_range_enomem(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = m.mmap(pid, "1M")
    raises_errno(errno.ENOMEM, m.mlock, pid, addr, "2M")
    assert usage(m, "A") == 0 and stat(m, "A")["unevictable"] == 0


# ---------------------------------------------------------------- hierarchy


def test_hierarchy_61_child_counts_in_parent(m):
    m.mkdir("A")
    m.mkdir("A/B")
    pid = m.spawn("A/B")
    anon(m, pid, "8M")
    assert usage(m, "A/B") == 8 * MiB and usage(m, "A") == 8 * MiB and usage(m, "") == 8 * MiB
    s = stat(m, "A")
    assert s["rss"] == 0 and s["total_rss"] == 8 * MiB


def test_hierarchy_61_parent_limit_binds_the_child(m):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "8M")
    m.mkdir("A/C")
    pid = m.spawn("A/C")
    m.file_write(pid, "/data/c", "16M")             # reclaimed from A/C to stay under A's limit
    assert usage(m, "A") <= 8 * MiB and usage(m, "A/C") == usage(m, "A")
    assert stat(m, "A/C")["hierarchical_memory_limit"] == 8 * MiB


def test_hierarchy_34_off_by_default(machine):
    m = machine(kernel="3.4")
    m.mkdir("A")
    m.mkdir("A/B")
    m.write("A", "memory.limit_in_bytes", "4M")
    pid = m.spawn("A/B")
    anon(m, pid, "8M")                              # A's limit does not reach B
    assert usage(m, "A/B") == 8 * MiB and usage(m, "A") == 0
    s = stat(m, "A")
    assert s["total_rss"] == 0                      # total_ covers only A without hierarchy
    assert stat(m, "A/B")["hierarchical_memory_limit"] == limit(m, "A/B")


def test_hierarchy_34_with_use_hierarchy(machine):
    m = machine(kernel="3.4")
    m.mkdir("A")
    m.write("A", "memory.use_hierarchy", "1")
    m.mkdir("A/B")
    m.write("A", "memory.limit_in_bytes", "16M")
    pid = m.spawn("A/B")
    anon(m, pid, "8M")
    assert usage(m, "A") == 8 * MiB and stat(m, "A")["total_rss"] == 8 * MiB
    assert stat(m, "A/B")["hierarchical_memory_limit"] == 16 * MiB
    addr = m.mmap(pid, "16M")
    with pytest.raises(OOMKilled):
        m.touch(pid, addr, "16M")                   # A's limit binds B now
    assert usage(m, "A") == 0


# ---------------------------------------------------------------- rmdir reparenting


def test_rmdir_61_leaves_charges_with_the_parent(m):
    m.mkdir("A")
    m.mkdir("A/B")
    pid = m.spawn("A/B")
    anon(m, pid, "8M")
    m.file_write(pid, "/data/b", "4M")
    m.move(pid, "A")                                # policy none: the charges stay in B
    assert usage(m, "A/B") == 12 * MiB and usage(m, "A") == 12 * MiB
    m.rmdir("A/B")
    assert usage(m, "A") == 12 * MiB and usage(m, "") == 12 * MiB   # counted once
    s = stat(m, "A")
    assert s["total_rss"] == 8 * MiB and s["total_cache"] == 4 * MiB
    m.check()
    m.reclaim("A", "4M")                            # the parent reclaims the orphaned cache
    assert stat(m, "A")["total_cache"] == 0 and usage(m, "A") == 8 * MiB
    m.exit(pid)                                     # and its task's anon is uncharged from it
    assert usage(m, "A") == 0 and usage(m, "") == 0


def test_rmdir_34_moves_charges_to_a_non_hierarchical_parent(machine):
    m = machine(kernel="3.4")
    m.mkdir("A")
    m.mkdir("A/B")
    pid = m.spawn("A/B")
    m.file_write(pid, "/data/b", "4M")
    m.move(pid, "A")
    assert usage(m, "A") == 0 and usage(m, "A/B") == 4 * MiB
    m.rmdir("A/B")
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["cache"] == 4 * MiB


def test_rmdir_swap_records_follow_to_the_parent(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    m.mkdir("A/B")
    pid = m.spawn("A/B")
    addr = anon(m, pid, "4M")
    m.reclaim("A/B", "4M")
    m.move(pid, "A")
    m.rmdir("A/B")
    assert stat(m, "A")["total_swap"] == 4 * MiB
    m.touch(pid, addr, "4M", write=False)
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["total_swap"] == 0


# ---------------------------------------------------------------- bad input changes nothing


@pytest.fixture
def busy(m):
    """A machine with something in it, and a snapshot of every figure to compare with."""
    m.mkdir("A")
    pid = m.spawn("A")
    addr = anon(m, pid, "4M")
    m.file_write(pid, "/data/f", "1M")

    def snapshot():
        return {cg: (m.read(cg, "memory.stat"), m.read(cg, "memory.usage_in_bytes"),
                     m.read(cg, "memory.max_usage_in_bytes"), m.read(cg, "memory.failcnt"),
                     m.read(cg, "tasks")) for cg in ("", "A")}

    before = snapshot()
    yield m, pid, addr
    assert snapshot() == before
    m.check()


@pytest.mark.parametrize("call", [
    lambda m, pid, addr: m.touch(31000, addr, PAGE),
    lambda m, pid, addr: m.mmap(31000, "1M"),
    lambda m, pid, addr: m.munmap(31000, addr, PAGE),
    lambda m, pid, addr: m.fork(31000),
    lambda m, pid, addr: m.exec(31000),
    lambda m, pid, addr: m.exit(31000),
    lambda m, pid, addr: m.mlock(31000, addr, PAGE),
    lambda m, pid, addr: m.move(31000, "A"),
    lambda m, pid, addr: m.cgroup_of(31000),
    lambda m, pid, addr: m.file_write(31000, "/data/g", "1M"),
    lambda m, pid, addr: m.touch(0, addr, PAGE),
    lambda m, pid, addr: m.exit(-5),
], ids=["touch", "mmap", "munmap", "fork", "exec", "exit", "mlock", "move", "cgroup_of", "file_write",
        "pid0", "negative"])
def test_unknown_pid_esrch(busy, call):
    m, pid, addr = busy
    raises_errno(errno.ESRCH, call, m, pid, addr)


@pytest.mark.parametrize("call, exc", [
    (lambda m, pid, addr: m.mmap(pid, "1M", kind="huge"), ValueError),
    (lambda m, pid, addr: m.mmap(pid, "1M", kind="file"), ValueError),          # no path
    (lambda m, pid, addr: m.mmap(pid, "1M", kind="anon", path="/x"), ValueError),
    (lambda m, pid, addr: m.mmap(pid, "abc"), ValueError),
    (lambda m, pid, addr: m.mmap(pid, -4096), ValueError),
    (lambda m, pid, addr: m.mmap(pid, "1.5M"), ValueError),
    (lambda m, pid, addr: m.mmap(pid, None), ValueError),
    (lambda m, pid, addr: m.touch(pid, addr, "x"), ValueError),
    (lambda m, pid, addr: m.touch(pid, -1, PAGE), ValueError),
    (lambda m, pid, addr: m.touch("1", addr, PAGE), ValueError),
    (lambda m, pid, addr: m.touch(True, addr, PAGE), ValueError),
    (lambda m, pid, addr: m.spawn(None), ValueError),
    (lambda m, pid, addr: m.write("A", "memory.limit_in_bytes", None), ValueError),
    (lambda m, pid, addr: m.write("A", "memory.limit_in_bytes", True), ValueError),
], ids=["unknown-kind", "file-without-path", "anon-with-path", "size-abc", "size-negative", "size-1.5M",
        "size-None", "touch-size-x", "negative-addr", "pid-str", "pid-bool", "cgroup-None",
        "write-None", "write-bool"])
def test_bad_arguments_value_error(busy, call, exc):
    m, pid, addr = busy
    with pytest.raises(exc):
        call(m, pid, addr)


@pytest.mark.parametrize("call, err", [
    (lambda m, pid, addr: m.mmap(pid, 0), errno.EINVAL),
    (lambda m, pid, addr: m.touch(pid, addr, 0), errno.EINVAL),
    (lambda m, pid, addr: m.munmap(pid, addr + 1, PAGE), errno.EINVAL),        # unaligned
    (lambda m, pid, addr: m.munmap(pid, addr, 0), errno.EINVAL),
    (lambda m, pid, addr: m.touch(pid, 0x1000, PAGE), errno.EFAULT),           # nothing there
    (lambda m, pid, addr: m.touch(pid, addr + 4 * MiB, PAGE), errno.EFAULT),   # the guard gap
    (lambda m, pid, addr: m.touch(pid, addr + 3 * MiB, "2M"), errno.EFAULT),   # runs off the end
    (lambda m, pid, addr: m.touch(pid, addr - 2 * MiB, "3M"), errno.EFAULT),   # starts before
    (lambda m, pid, addr: m.mlock(pid, addr + 3 * MiB, "2M"), errno.ENOMEM),
    (lambda m, pid, addr: m.mmap(pid, 1 << 47), errno.ENOMEM),                 # no room
], ids=["mmap-0", "touch-0", "munmap-unaligned", "munmap-0", "touch-unmapped", "touch-guard-gap",
        "touch-past-end", "touch-before-start", "mlock-past-end", "mmap-too-big"])
def test_bad_ranges_fail_and_change_nothing(busy, call, err):
    m, pid, addr = busy
    raises_errno(err, call, m, pid, addr)


def test_efault_touch_charges_nothing_even_partly(m):
    m.mkdir("A")
    pid = m.spawn("A")
    first = m.mmap(pid, "2M")
    second = m.mmap(pid, "2M")                      # below the first, with a gap between
    lo, hi = sorted([first, second])
    raises_errno(errno.EFAULT, m.touch, pid, lo, hi + 2 * MiB - lo)
    assert usage(m, "A") == 0 and stat(m, "A")["pgfault"] == 0
    m.munmap(pid, first, "2M")
    raises_errno(errno.EFAULT, m.touch, pid, first, PAGE)
    assert usage(m, "A") == 0


def test_munmap_of_nothing_is_fine(m):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = anon(m, pid, "1M")
    m.munmap(pid, 0x100000, PAGE)                   # nothing mapped there: no error, no change
    assert usage(m, "A") == 1 * MiB
    m.munmap(pid, addr, 10 * PAGE + 1)              # the length rounds up to 11 pages
    assert usage(m, "A") == 1 * MiB - 11 * PAGE
