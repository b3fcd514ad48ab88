"""Memory+swap accounting (memory.memsw.*, 2.6.29+ with swap accounting on), each rule after the
kernel function that makes it (6.1 names unless a version is given)."""
import errno

import pytest

from helpers import MiB, PAGE_COUNTER_MAX_BYTES, anon, raises_errno, stat, usage
from memcg_emu import OOMKilled


def memsw(m, cg, what="usage_in_bytes"):
    return int(m.read(cg, f"memory.memsw.{what}"))


def swapped_group(machine, policy="none", size="32M"):
    """Group A limited to 16M, task X with ``size`` of anon in it: the rest went to swap."""
    m = machine(swap="256M", policy=policy)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "16M")
    pid = m.spawn("A")
    anon(m, pid, size)
    return m, pid


def test_memsw_files_and_stat_lines_follow_swap_accounting(machine):
    """do_memsw_account(): the files and the swap lines are there even with no swap device."""
    m = machine()
    m.mkdir("A")
    assert memsw(m, "A", "limit_in_bytes") == PAGE_COUNTER_MAX_BYTES
    assert memsw(m, "A") == memsw(m, "A", "max_usage_in_bytes") == memsw(m, "A", "failcnt") == 0
    s = stat(m, "A")
    assert s["swap"] == s["total_swap"] == 0 and s["hierarchical_memsw_limit"] == PAGE_COUNTER_MAX_BYTES
    old = machine(kernel="2.6.26")
    old.mkdir("A")
    raises_errno(errno.ENOENT, old.read, "A", "memory.memsw.usage_in_bytes")
    raises_errno(errno.ENOENT, old.write, "A", "memory.memsw.limit_in_bytes", "1M")
    assert "swap" not in stat(old, "A") and "hierarchical_memsw_limit" not in stat(old, "A")


def test_mem_cgroup_resize_max_keeps_memory_at_or_below_memsw(m):
    """mem_cgroup_resize_max(): memsw below the memory limit, or memory above memsw, is EINVAL."""
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "32M")
    raises_errno(errno.EINVAL, m.write, "A", "memory.memsw.limit_in_bytes", "16M")
    m.write("A", "memory.memsw.limit_in_bytes", "32M")
    raises_errno(errno.EINVAL, m.write, "A", "memory.limit_in_bytes", "48M")
    m.write("A", "memory.limit_in_bytes", "8M")
    assert memsw(m, "A", "limit_in_bytes") == 32 * MiB
    s = stat(m, "A")
    assert s["hierarchical_memsw_limit"] == 32 * MiB and s["hierarchical_memory_limit"] == 8 * MiB
    raises_errno(errno.EINVAL, m.write, "", "memory.memsw.limit_in_bytes", "1G")
    raises_errno(errno.EINVAL, m.write, "A", "memory.memsw.usage_in_bytes", "0")


def test_mem_cgroup_resize_max_memsw_below_usage_is_ebusy(machine):
    """Reclaim for a memsw limit may not swap: anon that cannot shrink leaves the write EBUSY."""
    m, _ = swapped_group(machine)
    swapped = stat(m, "A")["swap"]
    raises_errno(errno.EBUSY, m.write, "A", "memory.memsw.limit_in_bytes", "24M")
    assert memsw(m, "A", "limit_in_bytes") == PAGE_COUNTER_MAX_BYTES
    assert stat(m, "A")["swap"] == swapped and memsw(m, "A") == 32 * MiB


def test_mem_cgroup_swapout_keeps_the_charge_on_memsw(machine):
    """mem_cgroup_swapout(): the page leaves memory but its memsw charge stays with the entry."""
    m, pid = swapped_group(machine)
    s = stat(m, "A")
    assert usage(m, "A") <= 16 * MiB and s["swap"] == 32 * MiB - s["rss"]
    assert memsw(m, "A") == 32 * MiB == usage(m, "A") + s["swap"]
    assert memsw(m, "A", "max_usage_in_bytes") >= 32 * MiB
    m.exit(pid)                                     # mem_cgroup_uncharge_swap(): the entries go
    assert memsw(m, "A") == 0 and stat(m, "A")["swap"] == 0


def test_try_charge_memcg_memsw_limit_ooms_without_swapping(machine):
    """try_charge_memcg(): over memsw, reclaim may not swap, so the charge ends in the OOM killer."""
    m = machine(swap="256M")
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "16M")
    m.write("A", "memory.memsw.limit_in_bytes", "16M")
    pid = m.spawn("A")
    addr = m.mmap(pid, "32M")
    with pytest.raises(OOMKilled):
        m.touch(pid, addr, "32M")
    assert memsw(m, "A", "failcnt") > 0 and stat(m, "A")["swap"] == 0
    m.write("A", "memory.memsw.failcnt", "0")
    m.write("A", "memory.memsw.max_usage_in_bytes", "0")
    assert memsw(m, "A", "failcnt") == 0 and memsw(m, "A", "max_usage_in_bytes") == memsw(m, "A")


def test_mem_cgroup_move_swap_account_moves_memsw(machine):
    """mem_cgroup_move_swap_account() and __mem_cgroup_clear_mc(): with bit 0 the entries' charge moves."""
    m, pid = swapped_group(machine, policy="upstream")
    swapped = stat(m, "A")["swap"]
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.write("B", "memory.limit_in_bytes", "64M")
    m.write("B", "memory.memsw.limit_in_bytes", "64M")
    m.move(pid, "B")
    a, b = stat(m, "A"), stat(m, "B")
    assert a["swap"] == a["rss"] == 0 and memsw(m, "A") == usage(m, "A") == 0
    assert b["swap"] == swapped and memsw(m, "B") == 32 * MiB == usage(m, "B") + b["swap"]


def test_mem_cgroup_precharge_mc_refused_by_memsw(machine):
    """mem_cgroup_can_attach(): the destination's memsw cannot take memory plus swap: ENOMEM."""
    m, pid = swapped_group(machine, policy="upstream")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.write("B", "memory.limit_in_bytes", "24M")
    m.write("B", "memory.memsw.limit_in_bytes", "24M")
    raises_errno(errno.ENOMEM, m.move, pid, "B")
    assert m.cgroup_of(pid) == "A" and memsw(m, "A") == 32 * MiB and memsw(m, "B") == 0
