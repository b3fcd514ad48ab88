"""Control files: the text each prints and the errors each write gives, per kernel profile.

The 6.1 facts come from a real 6.1 kernel (tests/data/kernel-6.1); the older
profiles follow the kernel source of their version (res_counter era:
limits round up, and "unlimited" is RESOURCE_MAX = LLONG_MAX until 3.12).
"""
import errno
import json

import pytest

from helpers import (GiB, KiB, MiB, PAGE_COUNTER_MAX_BYTES, anon, kernel_data, limit, raises_errno,
                      stat, tasks, usage)

LLONG_MAX = (1 << 63) - 1
MOVE_CHARGE_WARNING = ("Cgroup memory moving (move_charge_at_immigrate) is deprecated. Please report "
                       "your usecase to linux-mm@kvack.org if you depend on this functionality.")


# ---------------------------------------------------------------- memory.limit_in_bytes

@pytest.mark.parametrize("text, shown", [
    ("4097", 4096),                     # 6.1 rounds down to a page (limits.json: lim4097)
    ("4095", 0),
    ("1G", GiB), ("1g", GiB),
    ("2M", 2 * MiB), ("2m", 2 * MiB),
    ("12k", 12 * KiB), ("12K", 12 * KiB),
    ("1T", 1 << 40),
    ("0x100000", MiB), ("0X100000", MiB),   # base 0: hex
    ("04000000", MiB),                  # base 0: octal
    ("0x10k", 16 * KiB),                # a suffix after a hex number
    ("-1", PAGE_COUNTER_MAX_BYTES),
    (" 8M\n", 8 * MiB),                 # strstrip()
    ("15E", PAGE_COUNTER_MAX_BYTES),    # clamped to PAGE_COUNTER_MAX
    ("0", 0),
])
def test_limit_memparse_61(m, text, shown):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", text)
    assert m.read("A", "memory.limit_in_bytes") == f"{shown}\n"


def test_limit_takes_an_int_too(m):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", 8 * MiB + 1)
    assert limit(m, "A") == 8 * MiB


@pytest.mark.parametrize("text", [
    "abc", "-2", "-1K", "+5", "1.5G", "8 M", "1Gb", "0x", "--1",
    "99999999999999999999",             # does not fit in 64 bits
    "16E",                              # 16 << 60 overflows
])
def test_limit_bad_value_einval_and_unchanged(m, text):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "64M")
    raises_errno(errno.EINVAL, m.write, "A", "memory.limit_in_bytes", text)
    assert limit(m, "A") == 64 * MiB


def test_limit_default_is_unlimited_61(m):
    m.mkdir("A")
    assert m.read("A", "memory.limit_in_bytes") == "9223372036854771712\n"
    assert m.read("", "memory.limit_in_bytes") == "9223372036854771712\n"


@pytest.mark.parametrize("kernel", ["2.6.26", "2.6.34", "3.4"])
@pytest.mark.parametrize("text, shown", [
    ("4097", 8192), ("1", 4096), ("12k", 12 * KiB), ("1G", GiB), ("0x1001", 8192), ("0", 0),
])
def test_limit_rounds_up_in_res_counter_kernels(machine, kernel, text, shown):
    m = machine(kernel=kernel)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", text)
    assert m.read("A", "memory.limit_in_bytes") == f"{shown}\n"


@pytest.mark.parametrize("kernel", ["2.6.26", "2.6.34", "3.4"])
def test_unlimited_reads_llong_max_before_3_12(machine, kernel):
    # res_counter_init(): counter->limit = RESOURCE_MAX = (unsigned long long)LLONG_MAX;
    # RESOURCE_MAX became ULLONG_MAX (RES_COUNTER_MAX) only in 3.12.
    m = machine(kernel=kernel)
    m.mkdir("A")
    assert m.read("A", "memory.limit_in_bytes") == f"{LLONG_MAX}\n"


def test_minus_one_is_unlimited_in_3_4(machine):
    m = machine(kernel="3.4")
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "8M")
    m.write("A", "memory.limit_in_bytes", "-1")
    assert limit(m, "A") > 8 * MiB
    assert limit(m, "A") == int(m.read("", "memory.limit_in_bytes"))   # the same "unlimited"
    raises_errno(errno.EINVAL, m.write, "A", "memory.limit_in_bytes", "-2")
    raises_errno(errno.EINVAL, m.write, "A", "memory.limit_in_bytes", "abc")


@pytest.mark.parametrize("kernel", ["6.1", "3.4"])
def test_root_limit_einval(machine, kernel):
    m = machine(kernel=kernel)
    before = m.read("", "memory.limit_in_bytes")
    raises_errno(errno.EINVAL, m.write, "", "memory.limit_in_bytes", "1G")
    raises_errno(errno.EINVAL, m.write, "", "memory.limit_in_bytes", "-1")
    assert m.read("", "memory.limit_in_bytes") == before


def test_limit_below_usage_ebusy_changes_nothing(m):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "64M")
    pid = m.spawn("A")
    anon(m, pid, "8M")
    m.drain()                       # the refused write reclaims, and reclaim drains this CPU's batch
    before = {f: m.read("A", f) for f in ("memory.usage_in_bytes", "memory.max_usage_in_bytes",
                                          "memory.limit_in_bytes", "memory.stat")}
    raises_errno(errno.EBUSY, m.write, "A", "memory.limit_in_bytes", "4M")
    after = {f: m.read("A", f) for f in before}
    assert after == before
    # the same write at the usage itself is fine
    m.write("A", "memory.limit_in_bytes", "8M")
    assert limit(m, "A") == 8 * MiB


def test_limit_below_usage_reclaims_cache_first(m):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "8M")
    m.file_write(pid, "/data/cache", "8M")
    assert usage(m, "A") == 16 * MiB
    m.write("A", "memory.limit_in_bytes", "12M")       # reclaimable: succeeds
    assert limit(m, "A") == 12 * MiB
    s = stat(m, "A")
    assert usage(m, "A") <= 12 * MiB and s["rss"] == 8 * MiB
    assert usage(m, "A") == s["rss"] + s["cache"]
    # below the anon: reclaim takes all the cache it can, then EBUSY with the old limit
    raises_errno(errno.EBUSY, m.write, "A", "memory.limit_in_bytes", "4M")
    assert limit(m, "A") == 12 * MiB
    s = stat(m, "A")
    assert s["cache"] == 0 and s["rss"] == 8 * MiB and usage(m, "A") == 8 * MiB


# ---------------------------------------------------------------- usage, max_usage, failcnt

def test_usage_write_einval(m):
    m.mkdir("A")
    raises_errno(errno.EINVAL, m.write, "A", "memory.usage_in_bytes", "0")


@pytest.mark.parametrize("name", ["memory.usage_in_bytes", "memory.stat", "memory.kmem.usage_in_bytes",
                                  "memcg_emu.wrong_charge_bytes", "memcg_emu.leaked_bytes"])
def test_read_only_files_einval(m, name):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "1M")
    before = m.read("A", name)
    raises_errno(errno.EINVAL, m.write, "A", name, "0")
    assert m.read("A", name) == before


def test_usage_and_max_usage_follow_charges(m):
    m.mkdir("A")
    assert m.read("A", "memory.usage_in_bytes") == "0\n"
    assert m.read("A", "memory.max_usage_in_bytes") == "0\n"
    pid = m.spawn("A")
    addr = anon(m, pid, "16M")
    m.munmap(pid, addr, "12M")
    assert m.read("A", "memory.usage_in_bytes") == f"{4 * MiB}\n"
    assert m.read("A", "memory.max_usage_in_bytes") == f"{16 * MiB}\n"


@pytest.mark.parametrize("value", ["5", "0", "abc", 7])
def test_max_usage_any_write_resets_to_usage(m, value):
    m.mkdir("A")
    pid = m.spawn("A")
    addr = anon(m, pid, "16M")
    m.munmap(pid, addr + 4 * MiB, "12M")
    m.drain()                       # the last page faulted stays charged while its LRU batch holds it
    assert int(m.read("A", "memory.max_usage_in_bytes")) == 16 * MiB
    m.write("A", "memory.max_usage_in_bytes", value)
    assert m.read("A", "memory.max_usage_in_bytes") == f"{4 * MiB}\n"
    anon(m, pid, "2M")
    assert int(m.read("A", "memory.max_usage_in_bytes")) == 6 * MiB


@pytest.mark.parametrize("value", ["0", "7", "abc"])
def test_failcnt_counts_failed_charges_and_any_write_resets(m, value):
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "4M")
    pid = m.spawn("A")
    assert m.read("A", "memory.failcnt") == "0\n"
    m.file_write(pid, "/data/big", "8M")       # page cache over the limit: reclaimed as it goes
    assert usage(m, "A") <= 4 * MiB
    failcnt = int(m.read("A", "memory.failcnt"))
    assert failcnt > 0
    anon(m, pid, "1M")                          # more pressure: failcnt never decreases
    assert int(m.read("A", "memory.failcnt")) >= failcnt
    m.write("A", "memory.failcnt", value)
    assert m.read("A", "memory.failcnt") == "0\n"
    assert limit(m, "A") == 4 * MiB             # resetting failcnt touches nothing else


def test_kmem_usage_is_zero(m):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "4M")
    assert m.read("A", "memory.kmem.usage_in_bytes") == "0\n"


# ---------------------------------------------------------------- memory.force_empty

def test_force_empty_reclaims_cache_keeps_anon_without_swap(m):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "4M")
    m.file_write(pid, "/data/f", "8M")
    assert usage(m, "A") == 12 * MiB
    m.write("A", "memory.force_empty", "0")     # never fails, even when anon stays
    s = stat(m, "A")
    assert s["cache"] == 0 and s["rss"] == 4 * MiB and usage(m, "A") == 4 * MiB


def test_force_empty_swaps_anon_out_with_swap(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    pid = m.spawn("A")
    addr = anon(m, pid, "4M")
    m.file_write(pid, "/data/f", "4M")
    m.write("A", "memory.force_empty", "1")
    s = stat(m, "A")
    assert usage(m, "A") == 0 and s["swap"] == 4 * MiB
    m.touch(pid, addr, "4M", write=False)       # swap-in charges the group again
    assert usage(m, "A") == 4 * MiB and stat(m, "A")["swap"] == 0


def test_force_empty_root_einval_and_not_readable(m):
    m.mkdir("A")
    raises_errno(errno.EINVAL, m.write, "", "memory.force_empty", "0")
    raises_errno(errno.EINVAL, m.read, "A", "memory.force_empty")
    m.write("A", "memory.force_empty", "0")     # an empty group: fine


# ---------------------------------------------------------------- names, paths, tasks

def test_unknown_file_enoent(m):
    m.mkdir("A")
    raises_errno(errno.ENOENT, m.read, "A", "memory.nonexistent")
    raises_errno(errno.ENOENT, m.write, "A", "memory.nonexistent", "1")
    raises_errno(errno.ENOENT, m.read, "A", "memory.memsw.limit_in_bytes_typo")


def test_unknown_cgroup_enoent(m):
    raises_errno(errno.ENOENT, m.read, "Z", "memory.usage_in_bytes")
    raises_errno(errno.ENOENT, m.write, "Z", "memory.limit_in_bytes", "1M")
    raises_errno(errno.ENOENT, m.rmdir, "Z")
    raises_errno(errno.ENOENT, m.spawn, "Z")
    raises_errno(errno.ENOENT, m.mkdir, "Z/Y")
    pid = m.spawn("")
    raises_errno(errno.ENOENT, m.move, pid, "Z")
    assert m.cgroup_of(pid) == ""


def test_mkdir_existing_eexist(m):
    m.mkdir("A")
    raises_errno(errno.EEXIST, m.mkdir, "A")
    raises_errno(errno.EEXIST, m.mkdir, "")


def test_rmdir_busy_with_tasks_or_children(m):
    m.mkdir("A")
    m.mkdir("A/B")
    pid = m.spawn("A")
    raises_errno(errno.EBUSY, m.rmdir, "A")
    m.exit(pid)
    raises_errno(errno.EBUSY, m.rmdir, "A")          # the child
    raises_errno(errno.EBUSY, m.rmdir, "")           # the root, never
    m.rmdir("A/B")
    m.rmdir("A")
    raises_errno(errno.ENOENT, m.read, "A", "tasks")


def test_tasks_and_procs_list_pids(m):
    m.mkdir("A")
    assert m.read("A", "tasks") == "" and m.read("A", "cgroup.procs") == ""
    p1, p2 = m.spawn("A"), m.spawn("A")
    other = m.spawn("")
    child = m.fork(p1)
    expected = "".join(f"{p}\n" for p in sorted([p1, p2, child]))
    assert m.read("A", "tasks") == expected
    assert m.read("A", "cgroup.procs") == expected
    assert other not in tasks(m, "A") and other in tasks(m, "")
    m.exit(p2)
    assert tasks(m, "A") == sorted([p1, child])


def test_tasks_write_moves_and_rejects(m):
    m.mkdir("A")
    pid = m.spawn("")
    m.write("A", "tasks", str(pid))
    assert m.cgroup_of(pid) == "A" and tasks(m, "A") == [pid]
    m.write("", "cgroup.procs", f" {pid}\n")
    assert m.cgroup_of(pid) == ""
    raises_errno(errno.EINVAL, m.write, "A", "tasks", "abc")
    raises_errno(errno.EINVAL, m.write, "A", "tasks", "-1")
    raises_errno(errno.ESRCH, m.write, "A", "tasks", "31999")
    assert m.cgroup_of(pid) == "" and tasks(m, "A") == []


# ---------------------------------------------------------------- memory.use_hierarchy

def test_use_hierarchy_61_one_ok_zero_einval(m):
    m.mkdir("A")
    assert m.read("A", "memory.use_hierarchy") == "1\n"
    assert m.read("", "memory.use_hierarchy") == "1\n"
    m.write("A", "memory.use_hierarchy", "1")
    for bad in ("0", "2", "abc", "-1"):
        raises_errno(errno.EINVAL, m.write, "A", "memory.use_hierarchy", bad)
    assert m.read("A", "memory.use_hierarchy") == "1\n"


def test_use_hierarchy_61_deprecation_warns_once(m):
    # mem_cgroup_hierarchy_write(): pr_warn_once("Non-hierarchical mode is deprecated. ...")
    m.mkdir("A")
    for _ in range(3):
        raises_errno(errno.EINVAL, m.write, "A", "memory.use_hierarchy", "0")
    lines = [line for line in m.dmesg if "Non-hierarchical mode is deprecated" in line]
    assert len(lines) == 1, m.dmesg


def test_use_hierarchy_34_rules(machine):
    m = machine(kernel="3.4")
    assert m.read("", "memory.use_hierarchy") == "0\n"
    m.mkdir("A")
    assert m.read("A", "memory.use_hierarchy") == "0\n"
    for bad in ("2", "abc"):
        raises_errno(errno.EINVAL, m.write, "A", "memory.use_hierarchy", bad)
    m.write("A", "memory.use_hierarchy", "1")
    m.write("A", "memory.use_hierarchy", "0")
    m.write("A", "memory.use_hierarchy", "1")
    m.mkdir("A/B")
    assert m.read("A/B", "memory.use_hierarchy") == "1\n"       # inherited
    raises_errno(errno.EBUSY, m.write, "A", "memory.use_hierarchy", "0")      # has a child
    raises_errno(errno.EINVAL, m.write, "A/B", "memory.use_hierarchy", "0")   # parent is hierarchical
    assert m.read("A", "memory.use_hierarchy") == "1\n"
    assert m.read("A/B", "memory.use_hierarchy") == "1\n"
    assert m.dmesg == []


def test_use_hierarchy_34_any_write_with_children_ebusy(machine):
    # mem_cgroup_hierarchy_write(), 3.4: with children the write is refused whatever the value
    # (`if (list_empty(&cont->children)) memcg->use_hierarchy = val; else retval = -EBUSY;`)
    m = machine(kernel="3.4")
    m.mkdir("A")
    m.mkdir("A/B")
    raises_errno(errno.EBUSY, m.write, "A", "memory.use_hierarchy", "1")
    raises_errno(errno.EBUSY, m.write, "A", "memory.use_hierarchy", "0")
    assert m.read("A", "memory.use_hierarchy") == "0\n"


# ---------------------------------------------------------------- memory.move_charge_at_immigrate

@pytest.mark.parametrize("kernel, accepted, refused", [
    ("2.6.34", ["0", "1"], ["2", "3", "4"]),
    ("2.6.35", ["0", "1", "2", "3"], ["4", "8"]),
    ("3.4", ["0", "1", "2", "3"], ["4", "8"]),
    ("6.1", ["0", "1", "2", "3"], ["4", "8"]),
    ("6.13", ["0"], ["1", "2", "3", "4"]),
])
def test_move_charge_values_per_profile(machine, kernel, accepted, refused):
    m = machine(kernel=kernel)
    m.mkdir("A")
    assert m.read("A", "memory.move_charge_at_immigrate") == "0\n"
    for value in accepted:
        m.write("A", "memory.move_charge_at_immigrate", value)
        assert m.read("A", "memory.move_charge_at_immigrate") == f"{value}\n"
    m.write("A", "memory.move_charge_at_immigrate", accepted[-1])
    for value in refused + ["abc", "-1"]:
        raises_errno(errno.EINVAL, m.write, "A", "memory.move_charge_at_immigrate", value)
        assert m.read("A", "memory.move_charge_at_immigrate") == f"{accepted[-1]}\n"


def test_move_charge_absent_in_2_6_26(machine):
    m = machine(kernel="2.6.26")
    m.mkdir("A")
    raises_errno(errno.ENOENT, m.read, "A", "memory.move_charge_at_immigrate")
    raises_errno(errno.ENOENT, m.write, "A", "memory.move_charge_at_immigrate", "0")


def test_move_charge_61_deprecation_in_dmesg_once(machine):
    m = machine(kernel="6.1")
    m.mkdir("A")
    m.mkdir("B")
    assert m.dmesg == []
    for value in ("1", "3", "0"):
        m.write("A", "memory.move_charge_at_immigrate", value)
    m.write("B", "memory.move_charge_at_immigrate", "2")
    assert [line for line in m.dmesg if "move_charge_at_immigrate" in line] == [MOVE_CHARGE_WARNING]


def test_move_charge_61_warning_comes_before_the_check(machine):
    # mem_cgroup_move_charge_write(): pr_warn_once() is its first statement, before
    # `if (val & ~MOVE_MASK) return -EINVAL;` -- a refused first write warns too
    m = machine(kernel="6.1")
    m.mkdir("A")
    raises_errno(errno.EINVAL, m.write, "A", "memory.move_charge_at_immigrate", "4")
    assert [line for line in m.dmesg if "move_charge_at_immigrate" in line] == [MOVE_CHARGE_WARNING]
    m.write("A", "memory.move_charge_at_immigrate", "1")
    assert [line for line in m.dmesg if "move_charge_at_immigrate" in line] == [MOVE_CHARGE_WARNING]


def test_move_charge_613_still_warns_once(machine):
    # 6.13 keeps the file: reads 0, takes only 0, and still pr_warn_once()s on a write
    m = machine(kernel="6.13")
    m.mkdir("A")
    m.write("A", "memory.move_charge_at_immigrate", "0")
    raises_errno(errno.EINVAL, m.write, "A", "memory.move_charge_at_immigrate", "1")
    assert [line for line in m.dmesg if "move_charge_at_immigrate" in line] == [MOVE_CHARGE_WARNING]


@pytest.mark.parametrize("kernel", ["2.6.34", "2.6.35", "3.4"])
def test_move_charge_no_warning_before_6_x(machine, kernel):
    m = machine(kernel=kernel)
    m.mkdir("A")
    m.write("A", "memory.move_charge_at_immigrate", "1")
    assert m.dmesg == []


# ---------------------------------------------------------------- cpuset.cpus / cpuset.mems

def test_cpuset_inherited_at_mkdir_and_formatted(machine):
    m = machine(cpus=4)
    assert m.read("", "cpuset.cpus") == "0-3\n"
    assert m.read("", "cpuset.mems") == "0\n"
    m.mkdir("A")
    assert m.read("A", "cpuset.cpus") == "0-3\n" and m.read("A", "cpuset.mems") == "0\n"
    m.write("A", "cpuset.cpus", "0,1,3")
    assert m.read("A", "cpuset.cpus") == "0-1,3\n"
    m.mkdir("A/B")
    assert m.read("A/B", "cpuset.cpus") == "0-1,3\n"
    m.write("A/B", "cpuset.cpus", "3")
    assert m.read("A/B", "cpuset.cpus") == "3\n"
    assert m.read("A", "cpuset.cpus") == "0-1,3\n"


def test_cpuset_bad_values(machine):
    m = machine(cpus=2)
    m.mkdir("A")
    raises_errno(errno.EINVAL, m.write, "A", "cpuset.cpus", "0-7")    # beyond the machine
    raises_errno(errno.EINVAL, m.write, "A", "cpuset.cpus", "x")
    raises_errno(errno.EINVAL, m.write, "A", "cpuset.mems", "1")
    assert m.read("A", "cpuset.cpus") == "0-1\n" and m.read("A", "cpuset.mems") == "0\n"


@pytest.mark.parametrize("attr", ["cpuset.cpus", "cpuset.mems"])
def test_cpuset_empty_refuses_tasks_enospc(m, attr):
    m.mkdir("A")
    m.mkdir("Z")
    pid = m.spawn("A")
    addr = anon(m, pid, "4M")
    m.write("Z", attr, "")
    assert m.read("Z", attr) == "\n"
    raises_errno(errno.ENOSPC, m.spawn, "Z")
    raises_errno(errno.ENOSPC, m.move, pid, "Z")
    raises_errno(errno.ENOSPC, m.write, "Z", "tasks", str(pid))
    assert m.cgroup_of(pid) == "A" and tasks(m, "Z") == []
    assert usage(m, "A") == 4 * MiB and usage(m, "Z") == 0
    m.touch(pid, addr, "4M")
    # a group with tasks cannot be emptied
    raises_errno(errno.ENOSPC, m.write, "A", attr, "")
    assert m.read("A", attr) == "0\n"
    m.write("Z", attr, "0")
    m.move(pid, "Z")
    assert m.cgroup_of(pid) == "Z"


# ---------------------------------------------------------------- memory.stat

def _kernel_stat_keys():
    result = json.load(open(kernel_data("foundation-facts.result.json")))
    reads = [r for r in result["reads"] if r["file"] == "memory.stat"]
    keys = list(reads[0]["value"])
    assert all(list(r["value"]) == keys for r in reads)
    return keys


def test_memcg1_stat_format_swap_lines_without_swap_device(m):
    """memcg1_stat_format(), 6.1: the swap lines follow do_memsw_account(), not a swap device."""
    expected = _kernel_stat_keys()
    assert m.swap_pages == 0
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "1M")
    for cg in ("", "A"):
        text = m.read(cg, "memory.stat")
        assert text.endswith("\n")
        assert [line.split(" ")[0] for line in text.splitlines()] == expected
        assert all(line.split(" ")[1].isdigit() and len(line.split(" ")) == 2
                   for line in text.splitlines())


def test_stat_key_order_61_with_swap(machine):
    m = machine(swap="64M")
    m.mkdir("A")
    assert list(stat(m, "A")) == _kernel_stat_keys()
    assert stat(m, "A")["hierarchical_memsw_limit"] == PAGE_COUNTER_MAX_BYTES


def test_stat_values_of_a_simple_group(m):
    m.mkdir("A")
    pid = m.spawn("A")
    anon(m, pid, "8M")
    s = stat(m, "A")
    assert s["rss"] == 8 * MiB and s["cache"] == 0 and s["rss_huge"] == 0
    assert s["inactive_anon"] + s["active_anon"] == 8 * MiB
    assert s["pgpgin"] == 2048 and s["pgpgout"] == 0 and s["pgfault"] == 2048
    assert s["hierarchical_memory_limit"] == PAGE_COUNTER_MAX_BYTES
    assert s["total_rss"] == 8 * MiB


def test_stat_hierarchical_memory_limit_is_the_tightest_ancestor(m):
    m.mkdir("A")
    m.mkdir("A/B")
    m.mkdir("A/B/C")
    m.write("A", "memory.limit_in_bytes", "64M")
    m.write("A/B", "memory.limit_in_bytes", "128M")
    assert stat(m, "A")["hierarchical_memory_limit"] == 64 * MiB
    assert stat(m, "A/B")["hierarchical_memory_limit"] == 64 * MiB
    assert stat(m, "A/B/C")["hierarchical_memory_limit"] == 64 * MiB
    m.write("A/B/C", "memory.limit_in_bytes", "32M")
    assert stat(m, "A/B/C")["hierarchical_memory_limit"] == 32 * MiB


SUMMED = ["cache", "rss", "rss_huge", "shmem", "mapped_file", "dirty", "writeback", "pgpgin", "pgpgout",
          "pgfault", "pgmajfault", "inactive_anon", "active_anon", "inactive_file", "active_file",
          "unevictable"]


def test_stat_total_lines_sum_the_subtree(m):
    for cg in ("A", "A/B", "A/C", "A/B/D", "E"):
        m.mkdir(cg)
    work = {"A": "1M", "A/B": "2M", "A/C": "3M", "A/B/D": "5M", "E": "7M"}
    for cg, size in work.items():
        pid = m.spawn(cg)
        addr = anon(m, pid, size)
        m.munmap(pid, addr, "512K")                                  # some pgpgout
        m.file_write(pid, f"/data/{cg.replace('/', '_')}", size)     # cache
        shm = m.mmap(pid, "1M", kind="shm")
        m.touch(pid, shm, "1M")                                      # shmem, mapped_file
        lock = m.mmap(pid, "256K")
        m.mlock(pid, lock, "256K")                                   # unevictable
    subtree = {"A": ["A", "A/B", "A/C", "A/B/D"], "A/B": ["A/B", "A/B/D"], "A/C": ["A/C"],
               "E": ["E"], "A/B/D": ["A/B/D"]}
    local = {cg: stat(m, cg) for cg in work}
    for cg, members in subtree.items():
        s = stat(m, cg)
        for key in SUMMED:
            assert s[f"total_{key}"] == sum(local[x][key] for x in members), (cg, key)
    root = stat(m, "")
    for key in ("cache", "rss", "shmem", "mapped_file", "unevictable"):
        assert root[f"total_{key}"] == sum(local[x][key] for x in work) + root[key], key
    assert usage(m, "") == sum(usage(m, cg) for cg in ("A", "E"))
