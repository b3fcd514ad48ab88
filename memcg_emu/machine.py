"""The emulated machine: RAM, swap, tasks and the cgroup tree, over the C core."""
import contextlib
import dataclasses
import errno
import threading

from . import attach, cgroup, trace as _trace
from ._core import ffi, lib
from .errors import OOMKilled, check_ret, last_error
from .policies import POLICIES, get_policy
from .profiles import get_profile
from .sizes import parse_size

__all__ = ["Machine", "ProcessImage", "SCENARIO_HELPER"]

PAGE_SIZE = 4096
KINDS = {"anon": lib.EMU_VMA_ANON, "file": lib.EMU_VMA_FILE, "shm": lib.EMU_VMA_SHM}
THP_MODES = {"never": lib.EMU_THP_NEVER, "madvise": lib.EMU_THP_MADVISE, "always": lib.EMU_THP_ALWAYS}
MADVICE = {"hugepage": lib.EMU_MADV_HUGEPAGE, "nohugepage": lib.EMU_MADV_NOHUGEPAGE}


@dataclasses.dataclass(frozen=True)
class ProcessImage:
    """What a program's execve() and start leave in its memory cgroup (``Machine.exec``).

    ``data_pages`` of data, bss and heap at the binary's link address and ``stack_pages``
    below the top of the address space, written as the program starts (anon rss, with
    their page tables as kmem); ``kernel_pages`` of the mm's kernel objects besides page
    tables (PGD, mm_struct, VMAs), charged as kmem where the profile accounts it and
    again for each fork; the mmap base ``mmap_rnd_pages`` below its usual place -- the
    layout's random draw, which decides how a later mapping lines up with huge pages.
    """
    data_pages: int = 0
    stack_pages: int = 0
    kernel_pages: int = 0
    mmap_rnd_pages: int = 0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 40:
                raise ValueError(f"ProcessImage.{f.name} must be an integer from 0 to 2^40 - 1, not {v!r}")


# The helper program the reference Linux 6.1 runs for a scenario's task, as measured
# there: 14-16 pages of rss (data, bss, heap and stack), 6 pages of kmem besides its
# page tables, and a 64 MiB anon mapping that lines up with 31 huge pages, not 32 (its
# mapping ended 0x87000 bytes past a 2 MiB boundary in the recorded run).
SCENARIO_HELPER = ProcessImage(data_pages=12, stack_pages=3, kernel_pages=6,
                               mmap_rnd_pages=(0x200000 - 0x87000) // PAGE_SIZE)


@ffi.def_extern(error=-1)
def emu_py_resched(handle, phase, pages):
    """cond_resched() from C: run the machine's hook; an exception fails the move."""
    machine = ffi.from_handle(handle)
    return machine._run_resched_hook(phase, pages)


# What run_on work can be found asleep on (enum emu_wait).
WAITS = {lib.EMU_WAIT_MC_WAITQ: "mc_waitq", lib.EMU_WAIT_CGROUP_MUTEX: "cgroup_mutex",
         lib.EMU_WAIT_OOM_LOCK: "oom_lock", lib.EMU_WAIT_MMAP_LOCK: "mmap_lock",
         lib.EMU_WAIT_PAGE_LOCK: "page_lock"}


class WorkOnCPU:
    """Work a hook started on another CPU (``info.run_on``): its own host thread."""

    def __init__(self, machine, cpu, fn):
        if not isinstance(cpu, int) or isinstance(cpu, bool) or not 0 <= cpu < machine.cpus:
            raise ValueError(f"cpu must be an int from 0 to {machine.cpus - 1}, not {cpu!r}")
        if not callable(fn):
            raise ValueError("run_on takes a callable")
        self._m, self._work = machine._m, ffi.new("struct emu_work *")
        self.result = self.error = None
        self._thread = threading.Thread(target=self._run, args=(cpu, fn), daemon=True)
        self._thread.start()

    def _run(self, cpu, fn):
        try:
            check_ret(lib.emu_work_begin(self._m, self._work, cpu))
            self.result = fn()
        except BaseException as e:     # handed to whoever joins
            self.error = e
        finally:
            lib.emu_work_done(self._m, self._work)

    def wait_blocked_or_done(self):
        """Sleep until the work goes to sleep once more since the last call, or has finished.

        Returns what it sleeps on: "mc_waitq" (waiting for an upstream move to end),
        "cgroup_mutex", "oom_lock", "mmap_lock" or "page_lock"; None once it has finished.
        """
        return WAITS.get(lib.emu_wait_blocked_or_done(self._m, self._work))

    def join(self):
        """Wait for the work to finish; its result, or its exception raised here."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.result


class ReschedInfo:
    """What the on_resched hook is told: which policy, which phase, pages done in it;
    ``run_on(cpu, fn)`` starts ``fn()`` on CPU ``cpu``, on its own host thread, while the
    move goes on (returns a WorkOnCPU handle)."""

    __slots__ = ("policy", "phase", "pages", "pid", "src", "dst", "_machine")

    def __init__(self, policy, phase, pages, pid, src, dst, machine):
        self.policy, self.phase, self.pages = policy, phase, pages
        self.pid, self.src, self.dst = pid, src, dst
        self._machine = machine

    def run_on(self, cpu, fn):
        return WorkOnCPU(self._machine, cpu, fn)

    def __repr__(self):
        return f"<resched {self.policy} {self.phase} pages={self.pages} pid={self.pid}>"


class Machine:
    """An emulated machine with the cgroup-v1 memory controller.

    Machine(ram="4G", swap="0", page_size=4096, policy="upstream", kernel="6.1", cpus=1)

    - ``ram``, ``swap``: sizes, as everywhere in the API: bytes (an int) or a size
      string as the kernel's memparse() reads it: digits (0x.. hex, 0.. octal) with an
      optional K, M, G, T, P or E suffix, any case ("800M", "1g", "4096").
    - ``policy``: what happens to a task's charges when it moves (default for move()
      and writes to ``tasks``): none, seed, seed-2.6.29, reserve, lazy, lazy-move, half,
      upstream (memcg_emu.POLICIES; each is described in memcg_emu.policies).
    - ``kernel``: the kernel profile whose rules the control files and moves follow:
      2.6.26, 2.6.34, 2.6.35, 3.4, 6.1, 6.13 (memcg_emu.PROFILES).
    - ``cpus``: 1 to 1024, for cpuset.cpus.

    Cgroups are paths: "A", "A/B"; the root is "".  Errors are OSError with the
    kernel's errno (OOMKilled when a charge ended in the OOM killer), ValueError for
    arguments no kernel call could take.

    >>> m = Machine(ram="1G")
    >>> m.mkdir("A")
    >>> pid = m.spawn("A")
    >>> addr = m.mmap(pid, "8M")
    >>> m.touch(pid, addr, "8M")
    >>> m.read("A", "memory.usage_in_bytes")
    '8388608\\n'

    ``trace=True`` records trace events (every phase of every move, failed
    charges, reclaim, OOM kills): ``m.trace.write("t.json")`` writes a
    timeline that Perfetto and chrome://tracing open (see memcg_emu.trace).
    """

    def __init__(self, ram="4G", swap="0", page_size=4096, policy="upstream", kernel="6.1", cpus=1,
                 trace=False, thp=None, kmem=None):
        if page_size != PAGE_SIZE:
            raise ValueError(f"page_size must be {PAGE_SIZE} (x86-64 base pages); got {page_size!r}")
        if kmem not in (None, True, False):
            raise ValueError(f"kmem must be True, False or None, not {kmem!r}")
        ram_bytes = parse_size(ram, "ram")
        swap_bytes = parse_size(swap, "swap")
        if ram_bytes % PAGE_SIZE or swap_bytes % PAGE_SIZE:
            raise ValueError("ram and swap must be whole pages")
        if not isinstance(cpus, int) or isinstance(cpus, bool) or not 1 <= cpus <= 1024:
            raise ValueError(f"cpus must be an int from 1 to 1024, not {cpus!r}")
        self.profile = get_profile(kernel)
        self.policy = get_policy(policy).name
        # page tables charged as kernel memory; False is cgroup.memory=nokmem; None: the profile's way
        self.kmem = self.profile.kmem if kmem is None else kmem
        if self.kmem and not self.profile.kmem:
            raise ValueError(f"kernel {kernel} charges no kernel memory here")
        # transparent_hugepage/enabled; None: the profile's default
        self.thp = (self.profile.thp or "never") if thp is None else thp
        if self.thp not in THP_MODES or (self.thp != "never" and self.profile.thp is None):
            raise ValueError(f"thp must be one of {', '.join(THP_MODES)} (kernel {kernel}: "
                             f"{'never' if self.profile.thp is None else 'any'}), not {thp!r}")
        self.ram_pages = ram_bytes // PAGE_SIZE
        self.swap_pages = swap_bytes // PAGE_SIZE
        self.cpus = cpus
        self._dmesg = []
        out = ffi.new("struct machine **")
        check_ret(lib.emu_machine_new(self.ram_pages, self.swap_pages, self.profile.version, cpus, out))
        self._m = ffi.gc(out[0], lib.emu_machine_free)
        check_ret(lib.emu_machine_set_thp(self._m, THP_MODES[self.thp]))
        check_ret(lib.emu_machine_set_kmem(self._m, self.kmem))
        self._handle = ffi.new_handle(self)
        self._resched_fn = None
        self._resched_error = None
        self._move_info = None
        self._fail_next = {}
        self.last_attach = None    # the AttachResult of the latest write to tasks
        self.deadlock = None       # what hung the machine (see _cgroup_mutex), once it is hung
        self._next_cpu = 0         # round-robin placement of new tasks
        root = cgroup.Cgroup("", 0, None)
        root.cpus = set(range(cpus))
        root.mems = {0}
        root.use_hierarchy = 1 if self.profile.always_hierarchical else 0
        self._root = root
        self._by_memcg = {0: root}
        self.trace = _trace.Recorder(self) if trace else None

    # ---- cgroup_mutex ----
    @contextlib.contextmanager
    def _cgroup_mutex(self, where):
        """cgroup_lock() in ``where``: the C core's checked mutex (EDEADLK once the machine is hung)."""
        check_ret(lib.emu_cgroup_lock(self._m, where.encode()))
        try:
            yield
        finally:
            lib.emu_cgroup_unlock(self._m)

    def _note_deadlock(self, via):
        """After an EDEADLK: the lock chain in ``deadlock`` and lockdep's report in dmesg, once."""
        info = ffi.new("struct emu_deadlock *")
        if self.deadlock is not None or not lib.emu_deadlock_info(self._m, info):
            return
        held, wanted = ffi.string(info.held_at).decode(), ffi.string(info.wanted_at).decode()
        self.deadlock = {"lock": "cgroup_mutex", "held_at": held, "wanted_at": wanted,
                         "chain": [held] + list(via) + [wanted, "cgroup_lock"]}
        self.dmesg.extend([
            "============================================",
            "WARNING: possible recursive locking detected",
            "--------------------------------------------",
            "memcg-emu is trying to acquire lock:",
            f" (cgroup_mutex), at: {wanted}",
            "but task is already holding lock:",
            f" (cgroup_mutex), at: {held}",
            " Possible unsafe locking scenario:",
            "       CPU0",
            "       ----",
            "  lock(cgroup_mutex);",
            "  lock(cgroup_mutex);",
            " *** DEADLOCK ***",
            "call chain: " + " -> ".join(self.deadlock["chain"]),
        ])

    # ---- the cgroup tree ----
    def _cg(self, path):
        if not isinstance(path, str):
            raise ValueError(f"cgroup path must be a string, not {path!r}")
        node = self._root
        for part in [p for p in path.strip("/").split("/") if p]:
            node = node.children.get(part)
            if node is None:
                raise OSError(errno.ENOENT, f"no cgroup {path!r}")
        return node

    def mkdir(self, path):
        """Create cgroup ``path`` ("A", "A/B"); EEXIST, ENOENT for a missing parent."""
        if not isinstance(path, str):
            raise ValueError(f"cgroup path must be a string, not {path!r}")
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            raise OSError(errno.EEXIST, "the root cgroup exists")
        if any(p in (".", "..") or len(p) > 255 or "\0" in p for p in parts):
            raise OSError(errno.EINVAL, f"bad cgroup name in {path!r}")
        with self._cgroup_mutex("cgroup_mkdir"):
            parent = self._cg("/".join(parts[:-1]))
            if parts[-1] in parent.children:
                raise OSError(errno.EEXIST, f"cgroup {path!r} exists")
            memcg_id = check_ret(lib.emu_memcg_create(self._m, parent.memcg_id))
            node = cgroup.Cgroup("/".join(parts), memcg_id, parent)
            parent.children[parts[-1]] = node
            self._by_memcg[memcg_id] = node

    def rmdir(self, path):
        """Remove an empty cgroup; its remaining charges go to the parent (2.6.26: are dropped);
        EBUSY with tasks or children."""
        with self._cgroup_mutex("cgroup_rmdir"):
            node = self._cg(path)
            if node.parent is None:
                raise OSError(errno.EBUSY, "the root cgroup cannot be removed")
            if node.children:
                raise OSError(errno.EBUSY, f"cgroup {path!r} has children")
            if self._pids_in(node):
                raise OSError(errno.EBUSY, f"cgroup {path!r} has tasks")
            check_ret(lib.emu_memcg_destroy(self._m, node.memcg_id))
            node.parent.zombies += [node.memcg_id] + node.zombies
            del node.parent.children[node.path.rsplit("/", 1)[-1]]
            del self._by_memcg[node.memcg_id]

    def read(self, path, name):
        """The text of a control file, exactly as the kernel prints it."""
        return cgroup.read_file(self, self._cg(path), name)

    def write(self, path, name, value):
        """Write a control file; OSError with the kernel's errno when it refuses."""
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ValueError(f"control files take str or int, not {value!r}")
        if isinstance(value, str) and "\0" in value:
            raise OSError(errno.EINVAL, "NUL in a control-file write")
        cgroup.write_file(self, self._cg(path), name, value)

    def usage(self, path):
        """memory.usage_in_bytes of cgroup ``path``, as an int."""
        return int(self.read(path, "memory.usage_in_bytes"))

    def stat(self, path):
        """memory.stat of cgroup ``path`` as a dict of ints ({"rss": ..., "cache": ...})."""
        return {k: int(v) for k, v in (line.split() for line in self.read(path, "memory.stat").splitlines())}

    def tasks(self, path):
        """The pids in cgroup ``path`` (its tasks file), as a list of ints."""
        return self._pids_in(self._cg(path))

    def ls(self, path=""):
        """The paths of ``path``'s child cgroups, sorted ("A/B" below "A")."""
        return sorted(child.path for child in self._cg(path).children.values())

    def __repr__(self):
        groups = sum(1 for _ in self._root.descendants())
        return (f"<Machine ram={self.ram_pages * PAGE_SIZE >> 20}M swap={self.swap_pages * PAGE_SIZE >> 20}M "
                f"policy={self.policy} kernel={self.profile.name} cpus={self.cpus}: {groups} cgroups, "
                f"{sum(len(self._pids_in(cg)) for cg in self._root.descendants())} tasks>")

    def _pids_in(self, cg):
        n = check_ret(lib.emu_memcg_tasks(self._m, cg.memcg_id, ffi.NULL, 0))
        while True:
            buf = ffi.new("int[]", max(n, 1))
            got = check_ret(lib.emu_memcg_tasks(self._m, cg.memcg_id, buf, n))
            if got <= n:
                return list(buf)[:got]
            n = got

    # ---- tasks ----
    @staticmethod
    def _pid(pid):
        if not isinstance(pid, int) or isinstance(pid, bool):
            raise ValueError(f"pid must be an int, not {pid!r}")
        if not 0 < pid < 1 << 31:
            raise OSError(errno.ESRCH, f"no task with pid {pid}")
        return pid

    def spawn(self, path=""):
        """A new task with an empty address space in cgroup ``path``; returns its pid."""
        with self._cgroup_mutex("cgroup_fork"):
            node = self._cg(path)
            if not node.cpus or not node.mems:
                raise OSError(errno.ENOSPC, f"cgroup {path!r} has no cpus or mems")
            pid = check_ret(lib.emu_task_new(self._m, node.memcg_id))
            self._place(pid, node.cpus)
            return pid

    def cgroup_of(self, pid):
        """The path of the cgroup task ``pid`` is in ("" for the root)."""
        return self._by_memcg[check_ret(lib.emu_task_memcg(self._m, self._pid(pid)))].path

    def fork(self, pid):
        """fork(): the child shares every page copy-on-write, in the parent's cgroup."""
        with self._cgroup_mutex("cgroup_fork"):  # no fork while a task moves
            child = check_ret(lib.emu_task_fork(self._m, self._pid(pid)))
            self._place(child, self._by_memcg[check_ret(lib.emu_task_memcg(self._m, child))].cpus)
            return child

    def exec(self, pid, image=None):
        """execve(): a fresh address space, the old one torn down. Empty, or laid out and
        started as ``image`` (a ProcessImage) says; a charge that fails on the way is ENOMEM
        (its kernel objects) or OOMKilled (its first writes), as for the real program."""
        pid = self._pid(pid)
        if image is None:
            check_ret(lib.emu_task_exec(self._m, pid, ffi.NULL))
            return
        if not isinstance(image, ProcessImage):
            raise TypeError(f"image must be a ProcessImage, not {type(image).__name__}")
        img = ffi.new("struct emu_image *", {
            "data_len": image.data_pages * PAGE_SIZE, "stack_len": image.stack_pages * PAGE_SIZE,
            "mmap_rnd": image.mmap_rnd_pages * PAGE_SIZE, "kernel_pages": image.kernel_pages})
        check_ret(lib.emu_task_exec(self._m, pid, img))
        if image.data_pages:
            self.touch(pid, img.data_addr, image.data_pages * PAGE_SIZE)
        if image.stack_pages:
            self.touch(pid, img.stack_addr, image.stack_pages * PAGE_SIZE)

    def exit(self, pid):
        """The task exits: its address space is torn down and its pages uncharged."""
        check_ret(lib.emu_task_exit(self._m, self._pid(pid)))

    # ---- CPUs ----
    def _place(self, pid, cpus):
        """Put a new task on the next of ``cpus`` in turn (the scheduler's spreading, simplified)."""
        allowed = sorted(cpus)
        cpu = allowed[self._next_cpu % len(allowed)]
        self._next_cpu += 1
        check_ret(lib.emu_task_set_cpu(self._m, pid, cpu))

    def _keep_on_cpus(self, pid, cpus):
        """set_cpus_allowed_ptr(): a task on a CPU no longer allowed moves to an allowed one."""
        if check_ret(lib.emu_task_cpu(self._m, pid)) not in cpus:
            self._place(pid, cpus)

    def set_cpu(self, pid, cpu):
        """sched_setaffinity() to the one CPU ``cpu``: EINVAL outside the task's cpuset.cpus."""
        if not isinstance(cpu, int) or isinstance(cpu, bool):
            raise ValueError(f"cpu must be an int, not {cpu!r}")
        if cpu not in self._cg(self.cgroup_of(pid)).cpus:
            raise OSError(errno.EINVAL, f"CPU {cpu} is not in the cpuset of task {pid}")
        check_ret(lib.emu_task_set_cpu(self._m, self._pid(pid), cpu))

    def cpu_of(self, pid):
        """The CPU task ``pid`` runs on."""
        return check_ret(lib.emu_task_cpu(self._m, self._pid(pid)))

    def set_oom_score_adj(self, pid, adj):
        """/proc/<pid>/oom_score_adj: -1000 never OOM-killed ... 1000 killed first."""
        if not isinstance(adj, int) or isinstance(adj, bool):
            raise ValueError(f"oom_score_adj must be an int, not {adj!r}")
        check_ret(lib.emu_task_set_oom_score_adj(self._m, self._pid(pid), max(min(adj, 1 << 30), -(1 << 30))))

    # ---- memory ----
    def mmap(self, pid, size, kind="anon", path=None, private=False):
        """Map ``size`` bytes: kind anon | file (page cache of ``path``) | shm; returns the address."""
        if not isinstance(kind, str) or kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
        if kind == "file":
            if not isinstance(path, str) or not path or "\0" in path:
                raise ValueError("a file mapping needs a path (a non-empty string)")
        elif path is not None:
            raise ValueError(f"a {kind} mapping takes no path")
        length = parse_size(size)
        if length == 0:
            raise OSError(errno.EINVAL, "mmap of 0 bytes")
        addr = ffi.new("unsigned long long *")
        cpath = path.encode() if path else ffi.NULL
        check_ret(lib.emu_mmap(self._m, self._pid(pid), length, KINDS[kind], cpath, bool(private), addr))
        return addr[0]

    def _fault_call(self, fn, pid, *args):
        info = ffi.new("struct emu_fault_info *")
        ret = fn(self._m, pid, *args, info)
        if ret < 0 and info.oom_victim:
            cg = self._by_memcg.get(info.oom_memcg)
            raise OOMKilled(last_error(), info.oom_victim, cg.path if cg else None)
        check_ret(ret)
        return info

    @staticmethod
    def _addr(addr):
        if not isinstance(addr, int) or isinstance(addr, bool) or not 0 <= addr < 1 << 64:
            raise ValueError(f"address must be an int from 0 to 2**64-1, not {addr!r}")
        return addr

    def touch(self, pid, addr, size, write=True):
        """Fault in every page of [addr, addr+size): a write charges, a read of anon maps the zero page.

        EFAULT if any of it is unmapped (and nothing is touched); OOMKilled when a
        charge ended in the OOM killer.
        """
        self._fault_call(lib.emu_touch, self._pid(pid), self._addr(addr), parse_size(size), bool(write))

    def mlock(self, pid, addr, size):
        """mlock(): fault the range in and pin it on the unevictable list."""
        self._fault_call(lib.emu_mlock, self._pid(pid), self._addr(addr), parse_size(size))

    def madvise(self, pid, addr, size, advice):
        """madvise(MADV_HUGEPAGE) or (MADV_NOHUGEPAGE) on a mapped range: ``advice`` is
        "hugepage" or "nohugepage"."""
        if advice not in MADVICE:
            raise ValueError(f"advice must be one of {', '.join(MADVICE)}, not {advice!r}")
        check_ret(lib.emu_madvise(self._m, self._pid(pid), self._addr(addr), parse_size(size),
                                  MADVICE[advice]))

    def munmap(self, pid, addr, size):
        """munmap(): unmap [addr, addr+size); pages no one else maps are freed and uncharged
        (a huge page unmapped in part stays whole, and charged, until its deferred split)."""
        check_ret(lib.emu_munmap(self._m, self._pid(pid), self._addr(addr), parse_size(size)))

    def file_write(self, pid, path, size):
        """write(2) ``path`` up to ``size`` bytes: new page cache is charged to the task's group."""
        if not isinstance(path, str) or not path or "\0" in path:
            raise ValueError("file_write needs a path (a non-empty string)")
        self._fault_call(lib.emu_file_write, self._pid(pid), path.encode(), parse_size(size))

    def reclaim(self, path, size, retries=16):
        """Memory pressure: try to reclaim ``size`` bytes from a cgroup; returns bytes freed.

        As cgroup v2's memory.reclaim (6.1 memory_reclaim()): 32 pages a round until
        ``size`` is freed or ``retries`` rounds more have freed nothing (MAX_RECLAIM_RETRIES;
        a round may only age the LRU lists, so the next one frees)."""
        pages = (parse_size(size) + PAGE_SIZE - 1) // PAGE_SIZE
        return check_ret(lib.emu_memcg_reclaim(self._m, self._cg(path).memcg_id, pages,
                                               retries)) * PAGE_SIZE

    def drain(self):
        """Flush every CPU's charge stock back to the counters (what usage reads then excludes)
        and its LRU add batches onto the lists (lru_add_drain_all())."""
        check_ret(lib.emu_drain(self._m))

    # ---- moving ----
    def move(self, pid, path, policy=None):
        """Write ``pid`` into ``path``'s tasks file under ``policy`` (default: the machine's).

        Returns an AttachResult (outcome "moved" or "half-moved", pages moved, ...);
        a refused move raises OSError, and ``last_attach`` still says what happened.
        """
        return self._attach(self._pid(pid), self._cg(path), policy)

    def _attach(self, pid, cg, policy):
        return attach.cgroup_attach_task(self, pid, cg, get_policy(policy or self.policy))

    def fail_next_can_attach(self, subsys, err):
        """Make subsystem ``subsys``'s next can_attach fail with errno ``err`` (one shot)."""
        if subsys not in attach.SUBSYSTEMS:
            raise ValueError(f"subsys must be one of {', '.join(attach.SUBSYSTEMS)}, not {subsys!r}")
        if not isinstance(err, int) or isinstance(err, bool) or err <= 0:
            raise ValueError(f"errno must be a positive int, not {err!r}")
        self._fail_next[subsys] = err

    def on_resched(self, fn):
        """Run ``fn(info)`` at every cond_resched() point of a move; None removes it."""
        if fn is not None and not callable(fn):
            raise ValueError("on_resched takes a callable or None")
        self._resched_fn = fn
        lib.emu_set_resched_hook(self._m, self._handle if fn else ffi.NULL)

    @contextlib.contextmanager
    def _hook_muted(self):
        """No on_resched hook while undoing a move the hook itself broke off."""
        fn, self._resched_fn = self._resched_fn, None
        try:
            yield
        finally:
            self._resched_fn = fn

    def _run_resched_hook(self, phase, pages):
        fn, info = self._resched_fn, self._move_info
        if fn is None or info is None:
            return 0
        try:
            fn(ReschedInfo(info["policy"], attach.PHASES.get(phase, str(phase)), pages,
                           info["pid"], info["src"], info["dst"], self))
        except BaseException as e:  # handed back to the mover, which re-raises it
            self._resched_error = e
            return -1
        return 0

    def check(self):
        """Walk every page and counter; AssertionError naming the first broken invariant."""
        ret = lib.emu_check(self._m)
        if ret < 0:
            raise AssertionError(last_error())

    @property
    def dmesg(self):
        """The kernel log lines so far: warnings and OOM kills, worded as the profile's kernel."""
        while True:
            buf = ffi.new("struct emu_oom_record[]", 16)
            n = check_ret(lib.emu_oom_log_drain(self._m, buf, 16))
            for r in buf[0:n]:
                self._dmesg.extend(self.profile.oom_kill_lines(r))
            if n < 16:
                return self._dmesg

    @property
    def policies(self):
        """The policy names move() takes."""
        return POLICIES
