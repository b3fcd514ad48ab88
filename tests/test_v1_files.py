"""The cgroup-v1 files that came after 2.6.26 (memory.oom_control, memory.soft_limit_in_bytes,
memory.swappiness, memory.numa_stat) in each profile's format and errnos, and the OOM killer's
dmesg lines as each profile's kernel words them."""
import errno

import pytest

from helpers import MiB, PAGE, PAGE_COUNTER_MAX_BYTES, raises_errno

LLONG_MAX = (1 << 63) - 1
def task_over_limit(m):
    """Group A limited to 8M and a task in it with 16M mapped, not yet touched: (pid, address)."""
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "8M")
    x = m.spawn("A")
    return x, m.mmap(x, "16M")


NEW_FILES = ("memory.oom_control", "memory.soft_limit_in_bytes", "memory.swappiness", "memory.numa_stat")


def test_none_of_them_in_2_6_26(machine):
    m = machine(kernel="2.6.26")
    m.mkdir("A")
    for name in NEW_FILES:
        raises_errno(errno.ENOENT, m.read, "A", name)
        raises_errno(errno.ENOENT, m.write, "A", name, "0")


def test_numa_stat_came_in_3_0(machine):
    m = machine(kernel="2.6.35")
    raises_errno(errno.ENOENT, m.read, "", "memory.numa_stat")
    assert m.read("", "memory.oom_control") == "oom_kill_disable 0\nunder_oom 0\n"


@pytest.mark.parametrize("kernel, text", [
    ("3.4", "oom_kill_disable 0\nunder_oom 0\n"),
    ("6.1", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n"),
])
def test_mem_cgroup_oom_control_read(machine, kernel, text):
    m = machine(kernel=kernel)
    m.mkdir("A")
    assert m.read("A", "memory.oom_control") == text
    m.write("A", "memory.oom_control", "1")
    assert m.read("A", "memory.oom_control").startswith("oom_kill_disable 1\n")


@pytest.mark.parametrize("kernel", ["3.4", "6.1"])
def test_mem_cgroup_oom_control_write(machine, kernel):
    m = machine(kernel=kernel)
    m.mkdir("A")
    for bad in ("2", "-1", "yes", ""):
        raises_errno(errno.EINVAL, m.write, "A", "memory.oom_control", bad)
    raises_errno(errno.EINVAL, m.write, "", "memory.oom_control", "1")      # never on the root
    m.write("A", "memory.use_hierarchy" if kernel == "3.4" else "memory.oom_control", "1")
    m.mkdir("A/B")
    if kernel == "3.4":     # a flag for the subhierarchy: only at its top, before children
        raises_errno(errno.EINVAL, m.write, "A/B", "memory.oom_control", "1")
        raises_errno(errno.EINVAL, m.write, "A", "memory.oom_control", "1")
    else:
        m.write("A/B", "memory.oom_control", "1")


def test_oom_kill_disable_kills_no_one_and_oom_kill_counts_the_victims(machine):
    m = machine(kernel="6.1")
    x, addr = task_over_limit(m)
    m.write("A", "memory.oom_control", "1")
    raises_errno(errno.ENOMEM, m.touch, x, addr, "16M")
    assert m.cgroup_of(x) == "A" and m.usage("A") <= 8 * MiB
    assert m.read("A", "memory.oom_control").endswith("oom_kill 0\n")
    m.write("A", "memory.oom_control", "0")
    with pytest.raises(OSError):
        m.touch(x, addr, "16M")
    raises_errno(errno.ESRCH, m.cgroup_of, x)
    assert m.read("A", "memory.oom_control").endswith("oom_kill 1\n")


@pytest.mark.parametrize("kernel, unlimited, rounded", [
    ("3.4", LLONG_MAX, 8192),                   # res_counter: rounds up
    ("6.1", PAGE_COUNTER_MAX_BYTES, 4096),      # page_counter: rounds down
])
def test_mem_cgroup_write_soft_limit(machine, kernel, unlimited, rounded):
    m = machine(kernel=kernel)
    m.mkdir("A")
    assert int(m.read("A", "memory.soft_limit_in_bytes")) == unlimited
    m.write("A", "memory.soft_limit_in_bytes", "5000")
    assert int(m.read("A", "memory.soft_limit_in_bytes")) == rounded
    m.write("A", "memory.soft_limit_in_bytes", "1G")
    assert int(m.read("A", "memory.soft_limit_in_bytes")) == 1 << 30
    m.write("A", "memory.soft_limit_in_bytes", "-1")
    assert int(m.read("A", "memory.soft_limit_in_bytes")) == unlimited
    m.write("", "memory.soft_limit_in_bytes", "1G")           # the root group takes one too
    for bad in ("1.5G", "abc", "-2"):
        raises_errno(errno.EINVAL, m.write, "A", "memory.soft_limit_in_bytes", bad)
    assert m.dmesg == []


def test_soft_limit_is_deprecated_in_6_13(machine):
    m = machine(kernel="6.13")
    m.mkdir("A")
    m.write("A", "memory.soft_limit_in_bytes", "1G")
    m.write("A", "memory.soft_limit_in_bytes", "2G")
    assert m.dmesg == ["soft_limit_in_bytes is deprecated and will be removed. Please report your "
                       "usecase to linux-mm@kvack.org if you depend on this functionality."]


@pytest.mark.parametrize("kernel", ["2.6.34", "3.4"])
def test_mem_cgroup_swappiness_write_before_4_x(machine, kernel):
    m = machine(kernel=kernel)
    m.mkdir("A")
    assert m.read("", "memory.swappiness") == "60\n" == m.read("A", "memory.swappiness")
    m.write("A", "memory.swappiness", "100")
    raises_errno(errno.EINVAL, m.write, "A", "memory.swappiness", "101")
    raises_errno(errno.EINVAL, m.write, "", "memory.swappiness", "10")   # the root's is vm.swappiness
    m.mkdir("A/B")
    assert m.read("A/B", "memory.swappiness") == "100\n"                 # inherited at mkdir
    m.mkdir("C")
    m.write("C", "memory.use_hierarchy", "1")
    m.mkdir("C/D")
    raises_errno(errno.EINVAL, m.write, "C/D", "memory.swappiness", "10")
    raises_errno(errno.EINVAL, m.write, "C", "memory.swappiness", "10")


def test_mem_cgroup_swappiness_write_6_1(machine):
    m = machine(kernel="6.1")
    m.mkdir("A")
    m.write("A", "memory.swappiness", "200")
    raises_errno(errno.EINVAL, m.write, "A", "memory.swappiness", "201")
    raises_errno(errno.EINVAL, m.write, "A", "memory.swappiness", "x")
    m.write("", "memory.swappiness", "10")                 # vm_swappiness
    assert (m.read("", "memory.swappiness"), m.read("A", "memory.swappiness")) == ("10\n", "200\n")
    m.mkdir("B")
    assert m.read("B", "memory.swappiness") == "10\n"
    m.mkdir("A/C")
    m.write("A/C", "memory.swappiness", "0")


@pytest.mark.parametrize("kernel", ["3.4", "6.1"])
def test_memcg_numa_stat_show(machine, kernel):
    m = machine(kernel=kernel)
    m.mkdir("A")
    m.mkdir("A/B")
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "4M"), "4M")
    m.mlock(x, m.mmap(x, "1M"), "1M")
    y = m.spawn("A/B")
    m.file_write(y, "/f", "2M")
    anon, unevictable, file = 4 * MiB // PAGE, MiB // PAGE, 2 * MiB // PAGE
    m.drain()                       # the LRU add batches onto their lists: numa_stat counts lists
    own = [f"total={anon + unevictable} N0={anon + unevictable}", "file=0 N0=0",
           f"anon={anon} N0={anon}", f"unevictable={unevictable} N0={unevictable}"]
    tree = [f"hierarchical_total={anon + unevictable + file} N0={anon + unevictable + file}",
            f"hierarchical_file={file} N0={file}", f"hierarchical_anon={anon} N0={anon}",
            f"hierarchical_unevictable={unevictable} N0={unevictable}"]
    assert m.read("A", "memory.numa_stat").splitlines() == own + (tree if kernel == "6.1" else [])
    raises_errno(errno.EINVAL, m.write, "A", "memory.numa_stat", "0")


@pytest.mark.parametrize("kernel, lines", [
    # badness() before 2.6.36: total_vm (16M + 4M); oom_badness() 3.4: per mille, at most 1000
    ("2.6.26", ["Memory cgroup out of memory: kill process {x} (memcg-emu) score 5120 or a child",
                "Killed process {x} (memcg-emu)"]),
    ("2.6.34", ["Memory cgroup out of memory: kill process {x} (memcg-emu) score 5120 or a child",
                "Killed process {x} (memcg-emu) vsz:20480kB, anon-rss:8192kB, file-rss:0kB"]),
    ("3.4", ["Memory cgroup out of memory: Kill process {x} (memcg-emu) score 1000 or sacrifice child",
             "Killed process {x} (memcg-emu) total-vm:20480kB, anon-rss:8192kB, file-rss:0kB"]),
    ("6.1", ["Memory cgroup out of memory: Killed process {x} (memcg-emu) total-vm:20480kB, "
             "anon-rss:8192kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:0"]),
])
def test_oom_kill_process_lines_in_dmesg(machine, kernel, lines):
    m = machine(kernel=kernel, ram="64M")
    x, addr = task_over_limit(m)
    m.mmap(x, "4M", kind="shm")
    with pytest.raises(OSError):
        m.touch(x, addr, "16M")
    assert m.dmesg == [line.format(x=x) for line in lines]


def test_shmem_rss_apart_from_file_rss(machine):
    m = machine(kernel="6.1", ram="64M")
    x, addr = task_over_limit(m)
    shm = m.mmap(x, "2M", kind="shm")
    m.touch(x, shm, "2M")
    m.set_oom_score_adj(x, 300)
    with pytest.raises(OSError):
        m.touch(x, addr, "16M")
    (line,) = m.dmesg
    assert "anon-rss:6144kB, file-rss:0kB, shmem-rss:2048kB" in line and line.endswith("oom_score_adj:300")
