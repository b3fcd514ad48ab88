"""The cgroup tree and its control files (kernel/cgroup.c, the cftypes of mm/memcontrol.c and kernel/cpuset.c).

One hierarchy with the cpuset, memory and devices subsystems bound, cgroup v1
names and text formats.  Values are formatted and parsed as the machine's
kernel profile does; C holds the counters.
"""
import errno

from ._core import ffi, lib
from .errors import check_ret
from .profiles import HIERARCHY_WARNING, SOFT_LIMIT_WARNING
from .sizes import memparse, parse_u64

__all__ = ["Cgroup", "read_file", "write_file", "parse_cpulist"]

PAGE_SIZE = 4096
VM_SWAPPINESS = 60      # /proc/sys/vm/swappiness: the root group's value

# The order of memory.stat in 6.1 (memcg1_stat_format); the swap lines only with swap.
STAT_LOCAL = [
    ("cache", lib.EMU_STAT_CACHE, PAGE_SIZE),
    ("rss", lib.EMU_STAT_RSS, PAGE_SIZE),
    ("rss_huge", lib.EMU_STAT_RSS_HUGE, PAGE_SIZE),
    ("shmem", lib.EMU_STAT_SHMEM, PAGE_SIZE),
    ("mapped_file", lib.EMU_STAT_MAPPED_FILE, PAGE_SIZE),
    ("dirty", None, 0),
    ("writeback", None, 0),
    ("workingset_refault_anon", None, 0),
    ("workingset_refault_file", None, 0),
    ("swap", lib.EMU_STAT_SWAP, PAGE_SIZE),
    ("pgpgin", lib.EMU_STAT_PGPGIN, 1),
    ("pgpgout", lib.EMU_STAT_PGPGOUT, 1),
    ("pgfault", lib.EMU_STAT_PGFAULT, 1),
    ("pgmajfault", lib.EMU_STAT_PGMAJFAULT, 1),
    ("inactive_anon", lib.EMU_STAT_INACTIVE_ANON, PAGE_SIZE),
    ("active_anon", lib.EMU_STAT_ACTIVE_ANON, PAGE_SIZE),
    ("inactive_file", lib.EMU_STAT_INACTIVE_FILE, PAGE_SIZE),
    ("active_file", lib.EMU_STAT_ACTIVE_FILE, PAGE_SIZE),
    ("unevictable", lib.EMU_STAT_UNEVICTABLE, PAGE_SIZE),
]


class Cgroup:
    """One directory of the hierarchy: its memcg id in C and the non-memory subsystems' state."""

    def __init__(self, path, memcg_id, parent):
        self.path = path
        self.memcg_id = memcg_id
        self.parent = parent
        self.children = {}
        self.cpus = parent.cpus if parent else set()
        self.mems = parent.mems if parent else set()
        self.move_charge_at_immigrate = 0
        self.use_hierarchy = parent.use_hierarchy if parent else 0
        self.soft_limit = lib.EMU_RES_MAX
        self.oom_kill_disable = 0
        # mem_cgroup_css_alloc(): a new group starts with its parent's swappiness (the root's
        # is vm_swappiness)
        self.swappiness = parent.swappiness if parent else VM_SWAPPINESS
        self.zombies = []      # memcg ids of removed children: their swap records live on

    def descendants(self):
        yield self
        for child in self.children.values():
            yield from child.descendants()


def parse_cpulist(text, limit, what):
    """cpulist_parse(), lib/bitmap.c: '0-2,4' into a set; EINVAL outside [0, limit)."""
    text = text.strip()
    result = set()
    if not text:
        return result
    for part in text.split(","):
        lo, sep, hi = part.partition("-")
        try:
            lo_v = int(lo, 10)
            hi_v = int(hi, 10) if sep else lo_v
        except ValueError:
            raise OSError(errno.EINVAL, f"{what}: {text!r} is not a list like 0-2,4") from None
        if lo_v < 0 or hi_v < lo_v or hi_v >= limit:
            raise OSError(errno.EINVAL, f"{what}: {part!r} is outside 0-{limit - 1}")
        result.update(range(lo_v, hi_v + 1))
    return result


def format_cpulist(cpus):
    out, run = [], []
    for c in sorted(cpus):
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def memcg_res(machine, cg, memsw=0):
    res = ffi.new("struct emu_res *")
    check_ret(lib.emu_memcg_res(machine._m, cg.memcg_id, memsw, res))
    return res


def memcg_stat_id(machine, memcg_id):
    out = ffi.new("long long[]", lib.EMU_NR_STATS)
    check_ret(lib.emu_memcg_stat(machine._m, memcg_id, out))
    return list(out)


def memcg_stat(machine, cg):
    return memcg_stat_id(machine, cg.memcg_id)


def hierarchical_limit(machine, cg, memsw=0):
    """hierarchical_memory_limit: the tightest limit on the way up through hierarchical links."""
    limit = memcg_res(machine, cg, memsw).limit
    while cg.parent is not None and cg.parent.use_hierarchy:
        cg = cg.parent
        limit = min(limit, memcg_res(machine, cg, memsw).limit)
    return limit


# 2.6.26's memory.stat (mem_control_stat_show()): four counters, then the active and
# inactive lists (no split LRU, no unevictable list: mlocked pages count as active).
STAT_2_6_26 = [
    ("cache", (lib.EMU_STAT_CACHE,), PAGE_SIZE),
    ("rss", (lib.EMU_STAT_RSS,), PAGE_SIZE),
    ("pgpgin", (lib.EMU_STAT_PGPGIN,), 1),
    ("pgpgout", (lib.EMU_STAT_PGPGOUT,), 1),
    ("active", (lib.EMU_STAT_ACTIVE_ANON, lib.EMU_STAT_ACTIVE_FILE, lib.EMU_STAT_UNEVICTABLE), PAGE_SIZE),
    ("inactive", (lib.EMU_STAT_INACTIVE_ANON, lib.EMU_STAT_INACTIVE_FILE), PAGE_SIZE),
]


def format_stat(machine, cg):
    profile = machine.profile
    swap = profile.swap_account     # with swap accounting, even without a swap device
    local = memcg_stat(machine, cg)
    if profile.version == lib.EMU_KERNEL_2_6_26:
        return "".join(f"{name} {sum(local[i] for i in idx) * unit}\n" for name, idx, unit in STAT_2_6_26)
    if cg.use_hierarchy:
        ids = [d.memcg_id for d in cg.descendants()] + [z for d in cg.descendants() for z in d.zombies]
        subtree = [memcg_stat_id(machine, i) for i in ids]
    else:
        subtree = [local]
    lines = []

    def emit(prefix, values):
        for name, idx, unit in STAT_LOCAL:
            if name == "swap" and not swap:
                continue
            lines.append(f"{prefix}{name} {values(idx) * unit if idx is not None else 0}")

    emit("", lambda idx: local[idx])
    lines.append(f"hierarchical_memory_limit {profile.show_limit(hierarchical_limit(machine, cg))}")
    if swap:
        lines.append(f"hierarchical_memsw_limit {profile.show_limit(hierarchical_limit(machine, cg, 1))}")
    emit("total_", lambda idx: sum(s[idx] for s in subtree))
    return "\n".join(lines) + "\n"


def format_numa_stat(machine, cg):
    """memcg_numa_stat_show(), mm/memcontrol.c: LRU pages per node (one node, N0); 3.16+ adds
    the hierarchical_ lines."""
    lru = {"total": (lib.EMU_STAT_INACTIVE_ANON, lib.EMU_STAT_ACTIVE_ANON, lib.EMU_STAT_INACTIVE_FILE,
                     lib.EMU_STAT_ACTIVE_FILE, lib.EMU_STAT_UNEVICTABLE),
           "file": (lib.EMU_STAT_INACTIVE_FILE, lib.EMU_STAT_ACTIVE_FILE),
           "anon": (lib.EMU_STAT_INACTIVE_ANON, lib.EMU_STAT_ACTIVE_ANON),
           "unevictable": (lib.EMU_STAT_UNEVICTABLE,)}
    local = memcg_stat(machine, cg)
    lines = [f"{name}={sum(local[i] for i in idx)} N0={sum(local[i] for i in idx)}"
             for name, idx in lru.items()]
    if machine.profile.version >= lib.EMU_KERNEL_6_1:
        ids = [d.memcg_id for d in cg.descendants()] + [z for d in cg.descendants() for z in d.zombies]
        tree = [memcg_stat_id(machine, i) for i in ids]
        for name, idx in lru.items():
            n = sum(s[i] for s in tree for i in idx)
            lines.append(f"hierarchical_{name}={n} N0={n}")
    return "\n".join(lines) + "\n"


def read_file(machine, cg, name):
    """The text of control file ``name`` of ``cg``, exactly as the kernel prints it."""
    profile = machine.profile
    if name in ("tasks", "cgroup.procs"):
        return "".join(f"{pid}\n" for pid in machine._pids_in(cg))
    if name == "cpuset.cpus":
        return format_cpulist(cg.cpus) + "\n"
    if name == "cpuset.mems":
        return format_cpulist(cg.mems) + "\n"
    memsw = int(name.startswith("memory.memsw."))
    what = name[len("memory.memsw."):] if memsw else name[len("memory."):]
    if what in _COUNTER_FIELDS and name.startswith("memory.") and (not memsw or profile.swap_account):
        value = getattr(memcg_res(machine, cg, memsw), _COUNTER_FIELDS[what])
        return f"{profile.show_limit(value) if what == 'limit_in_bytes' else value}\n"
    if name == "memory.stat":
        return format_stat(machine, cg)
    if name == "memory.use_hierarchy" and profile.has_use_hierarchy:
        return f"{cg.use_hierarchy}\n"
    if name == "memory.move_charge_at_immigrate":
        return f"{profile.show_move_charge(cg.move_charge_at_immigrate)}\n"
    if name == "memory.kmem.usage_in_bytes":
        # page tables (0 where the kernel accounts no kmem); a page_counter: the subtree's
        out = ffi.new("unsigned long long *")
        total = 0
        for d in cg.descendants() if cg.use_hierarchy else [cg]:
            check_ret(lib.emu_memcg_kmem(machine._m, d.memcg_id, out))
            total += out[0]
        return f"{total}\n"
    if name == "memory.soft_limit_in_bytes" and profile.version >= lib.EMU_KERNEL_2_6_34:
        return f"{profile.show_limit(cg.soft_limit)}\n"
    if name == "memory.swappiness" and profile.version >= lib.EMU_KERNEL_2_6_34:
        return f"{cg.swappiness}\n"
    if name == "memory.oom_control" and profile.version >= lib.EMU_KERNEL_2_6_34:
        # mem_cgroup_oom_control_read(); under_oom stays 0: no task here waits out an OOM
        text = f"oom_kill_disable {cg.oom_kill_disable}\nunder_oom 0\n"
        if profile.version >= lib.EMU_KERNEL_6_1:      # 4.13+: the kills of the group's tasks
            text += f"oom_kill {check_ret(lib.emu_memcg_oom_kills(machine._m, cg.memcg_id))}\n"
        return text
    if name == "memory.numa_stat" and profile.version >= lib.EMU_KERNEL_3_4:
        return format_numa_stat(machine, cg)
    if name == "memcg_emu.wrong_charge_bytes":
        return f"{memcg_stat(machine, cg)[lib.EMU_STAT_WRONG_CHARGE] * PAGE_SIZE}\n"
    if name == "memcg_emu.leaked_bytes":
        return f"{memcg_stat(machine, cg)[lib.EMU_STAT_LEAKED] * PAGE_SIZE}\n"
    if name == "memory.force_empty":
        raise OSError(errno.EINVAL, "memory.force_empty is write-only")
    raise OSError(errno.ENOENT, f"no control file {name!r}")


# memory.memsw.X: the res_counter field it shows
_COUNTER_FIELDS = {"usage_in_bytes": "usage", "max_usage_in_bytes": "max_usage",
                   "limit_in_bytes": "limit", "failcnt": "failcnt"}


def _parse_limit(machine, text):
    """page_counter_memparse(buf, "-1") (3.19+) or res_counter_memparse_write_strategy()."""
    text = text.strip()
    if text == "-1":
        return lib.EMU_RES_MAX
    value, rest = memparse(text)
    if rest:
        raise OSError(errno.EINVAL, f"{text!r} is not a size")
    return machine.profile.round_limit(value)


def _write_limit(machine, cg, text, memsw=0):
    if cg.parent is None:
        raise OSError(errno.EINVAL, "the root group has no limit to set")
    check_ret(lib.emu_memcg_resize_limit(machine._m, cg.memcg_id, memsw, _parse_limit(machine, text)))


def _hierarchy_restricted(cg):
    """2.6.34-3.x (until 4.x): a knob for a subhierarchy is set only at its top, before children."""
    return cg.parent.use_hierarchy or (cg.use_hierarchy and cg.children)


def _write_soft_limit(machine, cg, text):
    """mem_cgroup_write(RES_SOFT_LIMIT): the root group too; 6.13 warns once it is deprecated."""
    limit = _parse_limit(machine, text)
    if machine.profile.name == "6.13":
        machine.dmesg.extend(machine.profile.warn_once(SOFT_LIMIT_WARNING))
    cg.soft_limit = limit


def _write_swappiness(machine, cg, text):
    """mem_cgroup_swappiness_write(): 0-100 (0-200 from 5.8); the root's is vm_swappiness (4.x+)."""
    value = parse_u64(text)
    modern = machine.profile.version >= lib.EMU_KERNEL_6_1
    if value > (200 if modern else 100):
        raise OSError(errno.EINVAL, f"memory.swappiness takes 0 to {200 if modern else 100}")
    if cg.parent is None:
        if not modern:
            raise OSError(errno.EINVAL, "the root group's swappiness is vm.swappiness")
    elif not modern and _hierarchy_restricted(cg):
        raise OSError(errno.EINVAL, "under use_hierarchy only the top group, before it has children, "
                      "sets memory.swappiness")
    check_ret(lib.emu_memcg_set_swappiness(machine._m, cg.memcg_id, value))
    cg.swappiness = value           # the root's: vm_swappiness


def _write_oom_control(machine, cg, text):
    """mem_cgroup_oom_control_write(): 0 or 1, never on the root group."""
    value = parse_u64(text)
    if cg.parent is None or value not in (0, 1):
        raise OSError(errno.EINVAL, "memory.oom_control takes 0 or 1, and not on the root group")
    if machine.profile.version < lib.EMU_KERNEL_6_1 and _hierarchy_restricted(cg):
        raise OSError(errno.EINVAL, "under use_hierarchy only the top group, before it has children, "
                      "sets oom_kill_disable")
    check_ret(lib.emu_memcg_set_oom_kill_disable(machine._m, cg.memcg_id, value))
    cg.oom_kill_disable = value


def _write_use_hierarchy(machine, cg, text):
    value = parse_u64(text)
    if machine.profile.always_hierarchical:
        if value != 1:
            machine.dmesg.extend(machine.profile.warn_once(HIERARCHY_WARNING))
            raise OSError(errno.EINVAL, "non-hierarchical mode is gone in this kernel")
        return
    # mem_cgroup_hierarchy_write(), mm/memcontrol.c 2.6.29-5.x
    if value not in (0, 1) or (cg.parent is not None and cg.parent.use_hierarchy):
        raise OSError(errno.EINVAL, "memory.use_hierarchy takes 0 or 1, and only below a "
                      "non-hierarchical parent")
    if cg.children:
        raise OSError(errno.EBUSY, "the group has children")
    check_ret(lib.emu_memcg_set_use_hierarchy(machine._m, cg.memcg_id, value))
    cg.use_hierarchy = value


def _write_move_charge(machine, cg, text):
    if not machine.profile.has_move_charge():
        raise OSError(errno.ENOENT, f"kernel {machine.profile.name} has no memory.move_charge_at_immigrate")
    value = parse_u64(text)
    machine.dmesg.extend(machine.profile.move_charge_warning())
    machine.profile.check_move_charge(value)
    cg.move_charge_at_immigrate = value


def _write_cpuset(machine, cg, attr, text):
    limit = machine.cpus if attr == "cpus" else 1
    new = parse_cpulist(text, limit, f"cpuset.{attr}")
    if cg.parent is not None and not new <= getattr(cg.parent, attr):
        raise OSError(errno.EACCES, f"cpuset.{attr} must be a subset of the parent's")
    if not new and machine._pids_in(cg):
        raise OSError(errno.ENOSPC, f"cpuset.{attr} cannot be emptied while the group has tasks")
    if any(not new >= getattr(c, attr) for c in cg.children.values()):
        raise OSError(errno.EBUSY, f"a child uses cpuset.{attr} outside the new value")
    setattr(cg, attr, new)
    if attr == "cpus":      # update_tasks_cpumask(): tasks leave the CPUs taken away
        for pid in machine._pids_in(cg):
            machine._keep_on_cpus(pid, new)


def _check_force_empty(machine, cg):
    """mem_cgroup_force_empty() refuses a group with tasks -- 2.6.26 only while it has usage
    left (cgroup->count, looked at in the loop) -- and 2.6.28-3.x one with children too
    (cgroup_task_count(), cgrp->children); 6.1 empties any group."""
    version = machine.profile.version
    if version >= lib.EMU_KERNEL_6_1:
        return
    if machine._pids_in(cg) and (version >= lib.EMU_KERNEL_2_6_34 or memcg_res(machine, cg, 0).usage):
        raise OSError(errno.EBUSY, f"cgroup {cg.path!r} has tasks")
    if version >= lib.EMU_KERNEL_2_6_34 and cg.children:
        raise OSError(errno.EBUSY, f"cgroup {cg.path!r} has children")


# writable v1 files that came after 2.6.26: file -> (writer, first profile with it)
V1_FILES = {
    "memory.soft_limit_in_bytes": (_write_soft_limit, lib.EMU_KERNEL_2_6_34),    # 2.6.32
    "memory.swappiness": (_write_swappiness, lib.EMU_KERNEL_2_6_34),             # 2.6.28
    "memory.oom_control": (_write_oom_control, lib.EMU_KERNEL_2_6_34),           # 2.6.34
}


def write_file(machine, cg, name, value):
    """Write ``value`` (str or int) to control file ``name``: OSError as the kernel fails."""
    text = str(value)
    memsw = int(name.startswith("memory.memsw."))
    memsw_ok = not memsw or machine.profile.swap_account
    if name in ("tasks", "cgroup.procs"):
        try:
            pid = parse_u64(text)
        except OSError:
            pid = -1
        if not 0 <= pid < 1 << 31:      # cgroup_procs_write(): kstrtoint()
            raise OSError(errno.EINVAL, f"{text.strip()!r} is not a pid")
        machine._attach(pid, cg, None)
    elif name in ("memory.limit_in_bytes", "memory.memsw.limit_in_bytes") and memsw_ok:
        _write_limit(machine, cg, text, memsw)
    elif name in ("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes") and memsw_ok:
        check_ret(lib.emu_memcg_reset_max_usage(machine._m, cg.memcg_id, memsw))  # any value resets
    elif name in ("memory.failcnt", "memory.memsw.failcnt") and memsw_ok:
        check_ret(lib.emu_memcg_reset_failcnt(machine._m, cg.memcg_id, memsw))
    elif name == "memory.force_empty":
        if cg.parent is None:
            raise OSError(errno.EINVAL, "memory.force_empty is refused on the root group")
        _check_force_empty(machine, cg)
        check_ret(lib.emu_memcg_force_empty(machine._m, cg.memcg_id))
    elif name == "memory.use_hierarchy" and machine.profile.has_use_hierarchy:
        _write_use_hierarchy(machine, cg, text)
    elif name == "memory.move_charge_at_immigrate":
        _write_move_charge(machine, cg, text)
    elif name in V1_FILES and machine.profile.version >= V1_FILES[name][1]:
        V1_FILES[name][0](machine, cg, text)
    elif name in ("cpuset.cpus", "cpuset.mems"):
        _write_cpuset(machine, cg, name.split(".")[1], text)
    elif name in ("memory.usage_in_bytes", "memory.stat", "memory.kmem.usage_in_bytes",
                  "memcg_emu.wrong_charge_bytes", "memcg_emu.leaked_bytes") or (
                      name == "memory.memsw.usage_in_bytes" and memsw_ok) or \
            (name == "memory.numa_stat" and machine.profile.version >= lib.EMU_KERNEL_3_4):
        raise OSError(errno.EINVAL, f"{name} is read-only")
    else:
        raise OSError(errno.ENOENT, f"no control file {name!r}")
