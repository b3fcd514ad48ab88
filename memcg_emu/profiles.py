"""Kernel profiles: the version rules a machine follows (``Machine(kernel=...)``)."""
import errno

from ._core import lib

__all__ = ["PROFILES", "Profile", "get_profile"]

PAGE_SIZE = 4096
U64_MAX = (1 << 64) - 1
# PAGE_COUNTER_MAX * PAGE_SIZE: how 3.19+ kernels show "unlimited"
PAGE_COUNTER_MAX_BYTES = ((1 << 63) - 1) // PAGE_SIZE * PAGE_SIZE
# RESOURCE_MAX before 3.12: res_counter_init() set the limit to LLONG_MAX
LLONG_MAX = (1 << 63) - 1
MOVE_CHARGE_WARNING = ("Cgroup memory moving (move_charge_at_immigrate) is deprecated. Please report "
                       "your usecase to linux-mm@kvack.org if you depend on this functionality.")
SOFT_LIMIT_WARNING = ("soft_limit_in_bytes is deprecated and will be removed. Please report your "
                      "usecase to linux-mm@kvack.org if you depend on this functionality.")
OOM_COMM = "memcg-emu"     # every emulated task's comm
HIERARCHY_WARNING = ("Non-hierarchical mode is deprecated. Please report your usecase to "
                     "linux-mm@kvack.org if you depend on this functionality.")


class Profile:
    def __init__(self, name, version, move_charge_mask, page_counter, always_hierarchical,
                 deprecation_warning=False, thp=None, kmem=False):
        self.name = name
        self.version = version
        self.move_charge_mask = move_charge_mask      # None: no such file
        self.page_counter = page_counter              # 3.19+: limits round down, max is LONG_MAX pages
        self.always_hierarchical = always_hierarchical
        self.deprecation_warning = deprecation_warning
        self.has_use_hierarchy = version >= lib.EMU_KERNEL_2_6_34   # the file came in 2.6.29
        # memory+swap accounting (2.6.29+, on by default): memory.memsw.* and the swap lines
        self.swap_account = version >= lib.EMU_KERNEL_2_6_34
        # transparent huge pages (2.6.38+): the default of transparent_hugepage/enabled, None before
        self.thp = thp
        # page tables charged as kernel memory (memory.kmem.*, 4.5+ by default; 6.x here)
        self.kmem = kmem
        self._warned = set()

    def __repr__(self):
        return f"<kernel profile {self.name}>"

    def round_limit(self, value):
        """page_counter_memparse() (3.19+) rounds down; res_counter_memparse_write_strategy() up."""
        if self.page_counter:
            return min(value // PAGE_SIZE * PAGE_SIZE, PAGE_COUNTER_MAX_BYTES)
        return min((value + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE, lib.EMU_RES_MAX)

    def show_limit(self, limit):
        if self.page_counter:
            return min(limit, PAGE_COUNTER_MAX_BYTES)
        return LLONG_MAX if limit == lib.EMU_RES_MAX else limit

    def has_move_charge(self):
        return self.move_charge_mask is not None

    def check_move_charge(self, value):
        """mem_cgroup_move_charge_write(): EINVAL for bits this version does not know."""
        if self.move_charge_mask is None:
            raise OSError(errno.ENOENT, f"kernel {self.name} has no memory.move_charge_at_immigrate")
        if value & ~self.move_charge_mask:
            raise OSError(errno.EINVAL, f"kernel {self.name} takes only mask "
                          f"{self.move_charge_mask} in memory.move_charge_at_immigrate")

    def show_move_charge(self, value):
        if self.move_charge_mask is None:
            raise OSError(errno.ENOENT, f"kernel {self.name} has no memory.move_charge_at_immigrate")
        return value

    def warn_once(self, text):
        """pr_warn_once(): the dmesg lines a write adds, at most once per text."""
        if text in self._warned:
            return []
        self._warned.add(text)
        return [text]

    def oom_kill_lines(self, r, comm=OOM_COMM):
        """What oom_kill_process() prints for a memcg OOM kill (record ``r``, sizes in pages)."""
        k = PAGE_SIZE // 1024
        if self.version >= lib.EMU_KERNEL_6_1:
            # __oom_kill_process(), mm/oom_kill.c 5.x+; the emulator keeps no page tables' memory
            return [f"Memory cgroup out of memory: Killed process {r.pid} ({comm}) total-vm:{r.total_vm * k}kB, "
                    f"anon-rss:{r.anon_rss * k}kB, file-rss:{r.file_rss * k}kB, shmem-rss:{r.shmem_rss * k}kB, "
                    f"UID:0 pgtables:0kB oom_score_adj:{r.oom_score_adj}"]
        if self.version >= lib.EMU_KERNEL_3_4:
            # oom_kill_process(), mm/oom_kill.c 3.4: shmem counts as file
            return [f"Memory cgroup out of memory: Kill process {r.pid} ({comm}) score {r.points} or sacrifice child",
                    f"Killed process {r.pid} ({comm}) total-vm:{r.total_vm * k}kB, anon-rss:{r.anon_rss * k}kB, "
                    f"file-rss:{(r.file_rss + r.shmem_rss) * k}kB"]
        head = f"Memory cgroup out of memory: kill process {r.pid} ({comm}) score {r.points} or a child"
        if self.version >= lib.EMU_KERNEL_2_6_34:
            # oom_kill_process() and __oom_kill_task(), mm/oom_kill.c 2.6.34
            return [head, f"Killed process {r.pid} ({comm}) vsz:{r.total_vm * k}kB, anon-rss:{r.anon_rss * k}kB, "
                          f"file-rss:{(r.file_rss + r.shmem_rss) * k}kB"]
        return [head, f"Killed process {r.pid} ({comm})"]   # 2.6.26

    def move_charge_warning(self):
        """6.1.y (backported from 6.3) and 6.13 warn once, on any write, before the value check."""
        return self.warn_once(MOVE_CHARGE_WARNING) if self.deprecation_warning else []


def _profiles():
    return {
        "2.6.26": Profile("2.6.26", lib.EMU_KERNEL_2_6_26, None, False, False),
        "2.6.34": Profile("2.6.34", lib.EMU_KERNEL_2_6_34, 1, False, False),
        "2.6.35": Profile("2.6.35", lib.EMU_KERNEL_2_6_35, 3, False, False),
        # 3.4: THP only where madvise()d; 6.x: always, as the reference kernel's config has it
        "3.4": Profile("3.4", lib.EMU_KERNEL_3_4, 3, False, False, thp="madvise"),
        "6.1": Profile("6.1", lib.EMU_KERNEL_6_1, 3, True, True, deprecation_warning=True, thp="always",
                       kmem=True),
        "6.13": Profile("6.13", lib.EMU_KERNEL_6_13, 0, True, True, deprecation_warning=True,
                        thp="always", kmem=True),
    }


PROFILES = tuple(_profiles())


def get_profile(name):
    """A fresh profile object (it remembers its warn-once state) for kernel ``name``."""
    profiles = _profiles()
    if not isinstance(name, str) or name not in profiles:
        raise ValueError(f"unknown kernel profile {name!r}; choose one of {', '.join(PROFILES)}")
    return profiles[name]
