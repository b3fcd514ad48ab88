"""A reference model of memcg-emu's charge accounting, in plain Python (tests only).

It imports nothing from ``memcg_emu``: every rule is written out again here,
as plainly as possible, from the README (API, policies, invariants) and the policy
docstrings.  What it keeps:

* for each page: its kind (anon, file page cache, shmem), who maps it (a
  list of (mm, address) PTEs), whether a file holds it, and which group it is
  charged to (or, for a seed leak, which group it leaked from);
* for each group: limit, usage, max_usage and failcnt of its res_counter
  (hierarchical: a charge goes up to the root, 6.1), its statistics, and its
  LRU lists *in order* -- inactive and active, anon and file, unevictable
  (reclaim takes the oldest page first, and which page goes decides who is
  charged when it comes back);
* for each page its PG_active and PG_referenced bits, for each PTE its
  accessed bit (set by the fault that made it and by every later access,
  clear in a child after fork);
* for each task: its group, its mm (VMAs, PTEs, which PTE tables exist, the
  next mmap address) and its oom_score_adj.

Under pressure it follows 6.1, one function per rule, each stating it: the charge
path (``try_charge``: stock and batch, reclaim, drain, retries, OOM and retry), the
victim (``oom_kill``), reclaim by priority rounds over the subtree (``try_to_free``,
``prepare_scan_count``, ``get_scan_count``, ``shrink``), a second chance for pages whose
PTEs were accessed and activation on the second (``check_references``), aging of an active
list whose inactive partner is low (``shrink_active``), the bit-1 rule (``mc_target``), and the seed's rollback of every
subsystem (``move``, ``cancel_seed``).

Swap (``swap_pages``): anon pages go out through reclaim to slots that record
their group (memory+swap keeps the entry), through the 6.1 swap cache, and
come back charged to the recorded group (``swap_out``, ``do_swap_page``).
Page tables charged as kmem (``kmem``: ``pte_alloc``, ``free_pgtables``).
Transparent huge pages (``thp``): a write into an empty aligned PTE table of a
private anon VMA maps a huge page charged as 512 (``do_huge_pmd_anonymous_page``).
A COW after fork, a partial munmap and mlock split its PMD (``split_huge_pmd``):
PTEs then map its frames (each frame's own maps) and it stays charged whole; a
frame losing its last PTE queues it for a deferred split, which reclaim runs for
each group at each priority (``deferred_split_scan``); mlock and the RFD's walk
split it at once (``split_huge_page``: 512 pages charged as the head, in order
next to it on its LRU list, the unmapped ones freed).
CPUs (``cpus``): each task runs on one, placed round-robin within its cpuset at
spawn and fork (``place``); what a task does runs on its CPU (``on_task_cpu``),
everything else on CPU 0; each CPU has its own charge stock and LRU add batch.

Kernels (``kernel``): 6.1, or 2.6.26 (the seed's base) without memory
pressure: no hierarchy and no charge stock, an LRU add batch per list
(inactive, active) that memory.stat counts at charge, new anon pages active,
an anon page uncharged at its last unmap, force_empty and rmdir dropping a
group's charges, and a page no group is charged for charged by its first
mapping (``try_charge`` raises ``NotModelled`` where 2.6.26 would reclaim);
or 3.4 without limits: no hierarchy, a stock of 32 for single-page charges, an
LRU add batch per evictable list, new anon pages active, an anon page
uncharged at its last unmap unless it is in the swap cache, then as it leaves
the cache (``delete_from_swap_cache``), swap-cache pages in no memcg statistic
but rss, force_empty and rmdir handing pages to the parent (``move_to_parent``).
Its reclaim is 6.1's: the state machine reclaims a 3.4 group only whole.

Scope (what the state machine drives): RAM never exhausted, no swap-out of shmem or of a huge page (``Model`` raises
``NotModelled`` if a run would go there; the thp runs have no swap, so reclaim
never scans an anon list there); moves run one at a time, and work on
another CPU in a move (``Work``: a fault waiting for the move on mc.waitq, an
mlock waiting for the mmap_lock) runs in turn with the mover, never at once.  Moves are generators: they yield
``(phase, pages)`` at every cond_resched() point, so a test can run the
emulator's on_resched hook and the model in lock step and interfere with
both at the same moment; an exception thrown into the generator is the hook
raising at that point.
"""
import contextlib
import errno
import functools
import itertools
import math
import threading

PAGE = 4096
PMD = 1 << 21                  # one PTE table maps 2M
PTRS = 512                     # pages per PTE table: the natural cond_resched() batch
RETRIES = 5                    # MEM_CGROUP_RECLAIM_RETRIES (force_empty)
CHARGE_RETRIES = 16            # MAX_RECLAIM_RETRIES: the 6.1 charge path
CHARGE_BATCH = {"6.1": 64, "3.4": 32}      # MEMCG_CHARGE_BATCH (6.1), CHARGE_BATCH (3.4)
PAGEVEC_SIZE = {"6.1": 15, "3.4": 14, "2.6.26": 14}     # the LRU add batch (include/linux/pagevec.h)
COSTLY = 8                     # 1 << PAGE_ALLOC_COSTLY_ORDER
SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
RES_MAX = (1 << 64) - 1
PAGE_COUNTER_MAX_BYTES = ((1 << 63) - 1) // PAGE * PAGE
MMAP_BASE = 0x7f0000000000
MMAP_MIN_ADDR = 0x10000
TASK_SIZE = 1 << 47
MAX_VICTIMS = 16               # MOVE_MAX_VICTIMS
DEADLOCK = -2                  # recharge_private(): the charge's OOM path deadlocked (2.6.26)
ANON_LRU, ACTIVE_ANON, FILE_LRU, ACTIVE_FILE, UNEVICTABLE = (
    "inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")
EVICTABLE = (ANON_LRU, ACTIVE_ANON, FILE_LRU, ACTIVE_FILE)     # enum lru_list order
LRU_NAMES = EVICTABLE + (UNEVICTABLE,)          # the order rmdir empties them in
VM_SWAPPINESS = 60
STATS = ("cache", "rss", "rss_huge", "shmem", "mapped_file", "swap", "pgpgin", "pgpgout", "wrong", "leaked",
         "swapcache")  # the last: anon pages in the swap cache, which count in both rss and cache


class NotModelled(Exception):
    """The run left the model's scope (RAM exhausted, ...): the test must not go there."""


class ModelOOM(OSError):
    """A fault that ended in the memcg OOM killer (``victim`` 0: no task to kill)."""

    def __init__(self, victim):
        super().__init__(errno.ENOMEM, f"out of memory, victim {victim}")
        self.victim = victim


def err(code, what=""):
    return OSError(code, what or errno.errorcode[code])


# ---------------------------------------------------------------------------- objects

class Group:
    """A memory cgroup: a res_counter, statistics and five LRU lists (index 0 = oldest)."""

    def __init__(self, path, gid, parent, hierarchy=True):
        self.path, self.id, self.parent = path, gid, parent
        self.res_parent = parent if hierarchy else None    # use_hierarchy: counters charge up
        self.children = {}
        self.limit = RES_MAX
        self.usage = self.max_usage = self.failcnt = 0
        self.swapx = 0             # memory+swap minus memory: the swap entries its memsw holds
        self.kmem = 0              # page-table pages charged to it (memcg->kmem, its own)
        self.anon_cost = self.file_cost = 0    # lru_note_cost(): pages reclaim wrote out
        self.stat = dict.fromkeys(STATS, 0)
        self.lru = {name: [] for name in LRU_NAMES}
        self.move_charge = 0
        # memory.swappiness: a new group starts with its parent's; the root's is vm.swappiness
        self.swappiness = parent.swappiness if parent is not None else VM_SWAPPINESS
        self.cpus = set()          # cpuset.cpus (a new group's: its parent's)
        self.dead = False

    def chain(self):
        """This group and the ancestors its charges reach (none without use_hierarchy): the
        counters a charge goes through, the groups whose reclaim and OOM see its pages."""
        g = self
        while g is not None:
            yield g
            g = g.res_parent

    def under(self, other):
        return any(g is other for g in self.chain())

    def __repr__(self):
        return f"<group {self.path!r}>"


class Zone:
    """The zone's own lists: pages in use that are charged to no group (seed leaks)."""

    def __init__(self):
        self.lru = {name: [] for name in LRU_NAMES}


class Page:
    def __init__(self, kind, file=None, index=None):
        self.kind = kind           # "anon" | "file" | "shm"
        self.nr = 1                # pages: HPAGE_PMD_NR for a huge page
        self.file, self.index = file, index
        self.maps = []             # (mm, addr) of every PTE that maps it
        self.in_cache = False      # a file (page cache or shmem object) holds it
        self.isolated = False      # off the LRU on a move's list
        self.pins = 0              # transient references (a fault holding it across a charge)
        self.lru = None            # the LRU list it is on
        self.memcg = None          # the group it is charged to
        self.cache = False         # charged as cache (PCG_CACHE)
        self.wrong = False         # lazy: WRONG_CHARGE
        self.recharge = False      # lazy-move: may be recharged by reclaim
        self.leaked_from = None    # seed: in use, charged nowhere, counted in this group
        self.mlocked = False       # PG_mlocked (and PG_unevictable with it)
        self.active = False        # PG_active: on the active list of its type
        self.referenced = False    # PG_referenced: reclaim saw its PTEs accessed once
        self.batched = False       # in the CPU's LRU add batch, which holds a reference
        self.swapcache = None      # the Slot whose swap-cache page this is (PG_swapcache)
        self.freed = False
        self.compound = None       # a frame of this huge page (whose charge, LRU place and
                                   # references it shares) until the huge page is split
        self.frames = None         # a huge page: its 512 frames, once a PMD of it was split

    @property
    def swapbacked(self):
        return self.kind != "file"

    def __repr__(self):
        return f"<page {self.kind} {self.index if self.file else ''} {self.memcg}>"


class Slot:
    """A swap slot: its references (swap PTEs, the swap-cache page) and the group its
    swap_cgroup record names (None: no record)."""

    def __init__(self):
        self.refs = 1              # the swap cache's (add_to_swap())
        self.cache = None          # the swap-cache page
        self.memcg = None

    def __repr__(self):
        return f"<slot refs={self.refs} {self.memcg}>"


class File:
    def __init__(self, path, shmem):
        self.path, self.shmem = path, shmem
        self.slots = {}            # index -> Page
        self.size = 0              # pages; a write(2) extends from here
        self.refs = 1              # shmem: VMAs that reference it
        self.i_mmap = []           # the VMAs that map it, in the order they were linked


class Vma:
    created = itertools.count()

    def __init__(self, mm, start, end, kind, file, shared):
        self.mm = mm
        # rmap order: a VMA joins its anon_vma's list at the tail when made (fork, split),
        # so the kernel walks an anon page's mappings oldest VMA first (anon_vma_link())
        self.seq = next(Vma.created)
        self.start, self.end, self.kind, self.file, self.shared = start, end, kind, file, shared
        self.pgoff = 0
        self.locked = False

    def copy(self, mm):
        v = Vma(mm, self.start, self.end, self.kind, self.file, self.shared)
        v.pgoff, v.locked = self.pgoff, self.locked
        return v

    def addr_of(self, index):
        """Where file page ``index`` would be mapped in this VMA, or None."""
        if self.file is None or not self.pgoff <= index < self.pgoff + (self.end - self.start) // PAGE:
            return None
        return self.start + (index - self.pgoff) * PAGE

    def __repr__(self):
        return f"<vma {self.kind} {self.start:#x}-{self.end:#x}{' L' if self.locked else ''}>"


class Pte:
    __slots__ = ("page", "write", "young", "slot")

    def __init__(self, page, write, young=True, slot=None):
        self.page, self.write = page, write    # page None: the zero page, or a swap entry
        self.young = young                     # the accessed bit: set by every access
        self.slot = slot                       # a swap entry's slot


class Mm:
    def __init__(self, owner):
        self.owner = owner
        self.vmas = []             # sorted by address
        self.ptes = {}             # addr -> Pte
        self.tables = set()        # addr >> 21 of every PTE table that exists
        self.dirs = set()          # ("pud", addr >> 39) and ("pmd", addr >> 30) that exist
        self.huge = {}             # addr >> 21 -> the Pte of a huge PMD (the table's 2M)
        self.kmem = []             # the group each page-table page is charged to (kmem)
        self.kobj_pages = 0        # its other kernel objects (PGD, mm_struct, VMAs), in pages
        self.kobjs = []            # ... and the group each is charged to (kmem)
        self.fac = MMAP_BASE       # free_area_cache: the next mapping ends here
        self.users = 1
        self.readers = 0           # mmap_lock: who holds it for read, for write, waits to write
        self.writer = False
        self.writers_waiting = 0

    def find_vma(self, addr):
        for v in self.vmas:
            if v.end > addr:
                return v
        return None

    def rss(self):
        """get_mm_rss() + MM_SWAPENTS: mapped pages and swap entries (oom_badness())."""
        return (sum(1 for p in self.ptes.values() if p.page is not None or p.slot is not None)
                + PTRS * len(self.huge))


class Task:
    def __init__(self, pid, group, mm):
        self.pid, self.group, self.mm = pid, group, mm
        self.adj = 0
        self.cpu = 0
        self.dead = False
        self.memdie = False


class AttachResult:
    """What m.last_attach reports."""

    def __init__(self):
        self.outcome = None
        self.pages_moved = 0
        self.pages_leaked = 0
        self.pages_marked = 0       # lazy: WRONG_CHARGE pages (owed, not moved)
        self.oom_victims = []


class MoveCtx:
    """One pass of a move over a task's pages (struct move_ctx)."""

    def __init__(self, task, frm, to):
        self.task, self.frm, self.to = task, frm, to
        self.mm = task.mm
        self.isolated, self.moved = [], []
        self.counted = set()       # seed: the moved pages nr_moved counts (ids)
        self.nr_isolated = self.nr_moved = self.nr_leaked = self.nr_skipped = 0
        self.precharge = self.moved_charge = 0
        self.moved_swap = self.swap_settled = 0
        self.move_type = 0
        self.victims = []


class HookState:
    """A policy's in-flight state between can_attach and attach (AttachContext.state)."""

    def __init__(self):
        self.ctx = None


class WorkAbandoned(BaseException):
    """Raised on a work's thread when its test is over: the work unwinds and ends."""


class Work:
    """Work on another CPU (the emulator's ``info.run_on``): the model runs it on a thread of
    its own, strictly in turn with its caller -- ``run()`` lets it go until it sleeps again
    or ends -- so the model's state is never touched by two threads at once.  What each
    thread's call has of its own (its CPU, the charging task, its OOM report) is swapped in
    and out with it."""
    OWN = ("cpu", "current", "oom_report", "oom_seen")

    def __init__(self, model, cpu, fn):
        self.model, self.fn = model, fn
        self.own = {"cpu": cpu, "current": 0, "oom_report": [], "oom_seen": False}
        self.until = None           # what it waits for: a predicate
        self.sleeping = None        # what it sleeps on ("mc_waitq", "mmap_lock"); None when done
        self.done = self.abandoned = False
        self.result = self.error = None
        self.turn = "caller"
        self.cv = threading.Condition()
        threading.Thread(target=self._main, daemon=True).start()

    def _main(self):
        try:
            self._wait_turn()
            self.result = self.fn()
        except WorkAbandoned:
            pass
        except Exception as e:      # handed to whoever joins
            self.error = e
        self.done, self.sleeping = True, None
        self._hand("caller")

    def _hand(self, to):
        with self.cv:
            self.turn = to
            self.cv.notify_all()

    def _wait_for(self, turn):
        with self.cv:
            while self.turn != turn:
                self.cv.wait()

    def _wait_turn(self):
        self._wait_for("work")
        if self.abandoned:
            raise WorkAbandoned

    def sleep(self, on, until):
        """On the work's thread: sleep on ``on`` until ``until()`` holds (no sleep if it does)."""
        while not until():
            self.sleeping, self.until = on, until
            self._hand("caller")
            self._wait_turn()
        self.until = None

    def runnable(self):
        return not self.done and (self.until is None or self.until())

    def run(self):
        """Let the work go until it sleeps again or ends: what it sleeps on, None when done."""
        m = self.model
        caller = {f: getattr(m, f) for f in self.OWN}
        for f, v in self.own.items():
            setattr(m, f, v)
        m.work = self
        self._hand("work")
        self._wait_for("caller")
        m.work = None
        self.own = {f: getattr(m, f) for f in self.OWN}
        for f, v in caller.items():
            setattr(m, f, v)
        return self.sleeping

    def abandon(self):
        if not self.done:
            self.abandoned = True
            self._hand("work")
            self._wait_for("caller")


def chunks(start, end):
    """walk_page_range(): [start, end) cut at every PTE table boundary."""
    addr = start
    while addr < end:
        nxt = min((addr + PMD) & ~(PMD - 1), end)
        yield addr, nxt
        addr = nxt


# ---------------------------------------------------------------------------- the machine

def on_task_cpu(op):
    """What a task does runs on its CPU (the emulator's ON_TASK_CPU); the caller's after."""
    @functools.wraps(op)
    def run(self, pid, *args, **kw):
        saved, t = self.cpu, self.tasks.get(pid)
        if t is not None and not t.dead:
            self.cpu = t.cpu
        try:
            return op(self, pid, *args, **kw)
        finally:
            self.cpu = saved
    return run


class Model:
    def __init__(self, ram_pages, swap_pages=0, kmem=False, thp=False, cpus=1, kernel="6.1"):
        self.ram_pages = ram_pages
        self.kernel = kernel
        self.v2626 = kernel == "2.6.26"             # the seed's base kernel (see the module doc)
        self.v34 = kernel == "3.4"
        self.unmap_uncharges = kernel != "6.1"      # before 3.17: anon pages uncharged at last unmap
        self.swap_pages = swap_pages
        self.swap_free = max(swap_pages - 1, 0)     # slot 0 is the swap header
        self.kmem = kmem                            # page tables charged (6.1 kmem accounting)
        self.thp = thp                              # transparent_hugepage/enabled "always"
        self.frames = 1                             # the zero page
        self.root = Group("", 0, None)
        self.root.cpus = set(range(cpus))
        self.groups = {"": self.root}               # live groups by path
        self.all_groups = [self.root]               # by id, dead ones too
        self.zone = Zone()
        self.tasks = {}                             # pid -> Task, dead ones too
        self.next_pid = 1
        self.files = {}                             # path -> File
        self.fail_next = {}                         # subsystem -> errno
        self.stocks = [(None, 0)] * cpus            # each CPU's charge stock: for which group, how much
        # each CPU's LRU add batches: 6.1 one (cpu_fbatches.lru_add), 3.4 one per evictable list
        # (lru_add_pvecs[]), 2.6.26 lru_add_pvecs and lru_add_active_pvecs
        n = {"6.1": 1, "3.4": len(EVICTABLE), "2.6.26": 2}[kernel]
        self.lru_batches = [[[] for _ in range(n)] for _ in range(cpus)]
        self.cpu = 0                                # the CPU the current call runs on
        self.next_cpu = 0                           # round-robin placement of new tasks
        self.current = 0                            # the task whose fault is charging
        self.oom_report = []                        # where the current charge's OOM kills go
        self.oom_seen = False                       # an OOM ran in the current fault
        self.last_attach = None
        self.nr_compound = 0                        # huge pages in use, not split
        self.split_queue = []                       # deferred split queue, oldest first
        self.work = None                            # the Work running now (None: the caller)
        self.mc = None                              # the upstream move in flight (mc.from, mc.to)
        self.mc_wakeups = 0                         # wake-ups of mc.waitq so far

    # ---- lookups ----
    def group(self, path):
        parts = [p for p in path.strip("/").split("/") if p]
        g = self.root
        for p in parts:
            g = g.children.get(p)
            if g is None:
                raise err(errno.ENOENT)
        return g

    def task(self, pid):
        t = self.tasks.get(pid)
        if t is None or t.dead:
            raise err(errno.ESRCH)
        return t

    def live_tasks(self, g=None):
        return [t for pid, t in sorted(self.tasks.items())
                if not t.dead and (g is None or t.group is g)]

    # ---- res_counter and charging ----
    def res_charge(self, g, pages):
        """res_counter_charge() up the hierarchy; the group whose limit refused, or None."""
        val = pages * PAGE
        done = []
        for c in g.chain():
            if c.usage + val > c.limit:
                c.failcnt += 1
                for u in done:
                    u.usage -= val
                return c
            c.usage += val
            c.max_usage = max(c.max_usage, c.usage)
            done.append(c)
        return None

    def res_uncharge(self, g, pages):
        for c in g.chain():
            assert c.usage >= pages * PAGE, f"model: {c} uncharged below zero"
            c.usage -= pages * PAGE

    def margin(self, g):
        return min(max(c.limit - c.usage, 0) for c in g.chain())

    # ---- the per-CPU charge stock (6.1 memcg_stock) ----
    def stocked_pages(self, g):
        """What the CPUs' stocks hold charged to ``g`` itself (counted in its usage, no page's)."""
        return sum(n for held, n in self.stocks if held is g)

    def drain_local_stock(self, cpu):
        held, n = self.stocks[cpu]
        if held is not None:
            self.res_uncharge(held, n)
        self.stocks[cpu] = (None, 0)

    def drain_stock(self, g=None):
        """drain_all_stock(): every CPU's stock of ``g`` or a group under it (None: any) is
        uncharged."""
        for cpu, (held, _) in enumerate(self.stocks):
            if held is not None and (g is None or held.under(g)):
                self.drain_local_stock(cpu)

    def refill_stock(self, g, pages):
        """refill_stock(): the batch's surplus stays charged in this CPU's stock; another
        group's stock there goes back first, and a stock over one batch gives everything back."""
        if self.stocks[self.cpu][0] is not g:
            self.drain_local_stock(self.cpu)
        _, n = self.stocks[self.cpu]
        self.stocks[self.cpu] = (g, n + pages)
        if n + pages > CHARGE_BATCH[self.kernel]:
            self.drain_local_stock(self.cpu)

    def try_charge(self, g, pages, reclaim, oom=False, noretry=False):
        """try_charge_memcg(), 6.1, step by step:
        1. this CPU's stock holds ``pages`` for g: take them, the counters untouched;
        2. charge a batch of max(64, pages) (the root: ``pages``, it is never stocked); a batch
           that does not fit counts one failure and is retried with ``pages`` alone; a batch
           that fits leaves its surplus charged in the stock (refill_stock);
        3. no reclaim allowed: fail;
        4. reclaim in the group over its limit; room now: retry;
        5. the first time, drain the stock and retry; noretry (__GFP_NORETRY): fail;
        6. reclaim freed something and pages <= 8: retry, no retry spent;
        7. a Work's charge over a limit a move in flight's groups are under waits for the
           move (``wait_acct_move``) and retries;
        8. up to 16 retries;
        9. without ``oom``: fail; the charging task already chosen (after an OOM): fail;
           else the OOM killer (oom_kill) and retry with 16 fresh retries, unless it found
           nothing to kill (or, a second time, a victim still exiting): fail."""
        if self.v2626:
            return self.try_charge_2626(g, pages, reclaim, oom)
        if self.v34:
            return self.try_charge_34(g, pages)
        batch = pages if g.parent is None else max(CHARGE_BATCH["6.1"], pages)
        retries, drained, passed_oom, waited = CHARGE_RETRIES, False, False, False
        while True:
            held, n = self.stocks[self.cpu]
            if pages <= CHARGE_BATCH["6.1"] and held is g and n >= pages:
                self.stocks[self.cpu] = (g, n - pages)
                return True
            over = self.res_charge(g, batch)
            if over is None:
                if batch > pages:
                    self.refill_stock(g, batch - pages)
                return True
            if batch > pages:
                batch = pages
                continue
            if not reclaim:
                return False
            reclaimed = self.try_to_free(over, pages)
            if self.margin(over) >= pages * PAGE:
                continue
            if not drained:
                self.drain_stock(over)
                drained = True
                continue
            if noretry:
                return False
            if reclaimed and pages <= COSTLY:
                continue
            if self.wait_acct_move(over):
                continue
            if retries:
                retries -= 1
                continue
            if not oom or (passed_oom and self.current_dying()):
                return False
            self.oom_seen = True
            if self.margin(over) < pages * PAGE and not self.current_dying():
                victim = self.oom_kill(over)
                if victim == 0 or (victim < 0 and waited):
                    return False
                waited = waited or victim < 0
            passed_oom, retries = True, CHARGE_RETRIES

    def wait_acct_move(self, over):
        """mem_cgroup_wait_acct_move(): a charger other than the mover (a Work: what the
        caller does in a move runs on the mover's thread) over a limit that the move's old or
        new group is under sleeps on mc.waitq until the next wake-up or the move's end."""
        mc = self.mc
        if self.work is None or mc is None or not (mc.frm.under(over) or mc.to.under(over)):
            return False
        seen = self.mc_wakeups
        self.work.sleep("mc_waitq", lambda: self.mc is not mc or self.mc_wakeups != seen)
        return True

    def start_work(self, cpu, fn):
        """``fn`` as work on CPU ``cpu``, run until it first sleeps or ends."""
        work = Work(self, cpu, fn)
        work.run()
        return work

    def under_mmap_lock(self, mm, write, op, *args):
        """A Work's call of ``op`` under the mm's mmap_lock: a reader waits while a writer
        holds it (not behind a waiting one), a writer while anybody holds it."""
        if write:
            mm.writers_waiting += 1
            self.work.sleep("mmap_lock", lambda: not mm.readers and not mm.writer)
            mm.writers_waiting -= 1
            mm.writer = True
        else:
            self.work.sleep("mmap_lock", lambda: not mm.writer)
            mm.readers += 1
        try:
            return op(*args)
        finally:
            if write:
                mm.writer = False
            else:
                mm.readers -= 1

    def try_charge_2626(self, g, pages, reclaim, oom):
        """mem_cgroup_charge_common(), 2.6.26: no stock; a charge that does not fit reclaims in
        the group over its limit (modelled only where its lists hold nothing to scan: the
        reclaim frees nothing after draining this CPU's LRU add batches) and is retried 5
        times, then fails with the OOM killer armed (modelled only in a seed move, whose
        caller deadlocks in it: ``oom`` False there)."""
        for _ in range(RETRIES + 1):
            over = self.res_charge(g, pages)
            if over is None:
                return True
            if not reclaim:
                return False
            self.lru_add_drain()
            if any(over.lru[n] for n in LRU_NAMES):
                raise NotModelled("2.6.26 reclaim of a group with pages on its lists")
        if oom:
            raise NotModelled("2.6.26 OOM kill")
        return False

    def try_charge_34(self, g, pages):
        """__mem_cgroup_try_charge(), 3.4, where the charge fits (a 3.4 run sets no limits): a
        single page comes from this CPU's stock if it holds one of g's; else a batch of
        max(32, pages) is charged (the root: ``pages``) and its surplus stocked."""
        held, n = self.stocks[self.cpu]
        if pages == 1 and held is g and n:
            self.stocks[self.cpu] = (g, n - 1)
            return True
        batch = pages if g.parent is None else max(CHARGE_BATCH["3.4"], pages)
        if self.res_charge(g, batch) is not None:
            raise NotModelled("3.4 reclaim")
        if batch > pages:
            self.refill_stock(g, batch - pages)
        return True

    def page_stats(self, page):
        if page.cache:
            d = {"cache": 1, "shmem": int(page.kind == "shm"), "mapped_file": int(bool(page.maps))}
        else:       # an anon page in the swap cache counts in cache too (NR_FILE_PAGES, 6.1)
            # NR_ANON_THPS: a huge page while some PMD maps it
            cached = int(page.swapcache is not None and self.kernel == "6.1")
            d = {"rss": page.nr, "rss_huge": page.nr if page.nr > 1 and page.maps else 0,
                 "cache": cached, "swapcache": cached}
        d["wrong"] = int(page.wrong)
        return d

    def stat_add(self, g, page, sign):
        for k, v in self.page_stats(page).items():
            g.stat[k] += sign * v

    def commit(self, page, g, cache):
        """__mem_cgroup_commit_charge(): the charged page now belongs to ``g``."""
        if page.leaked_from is not None:
            page.leaked_from.stat["leaked"] -= 1
            page.leaked_from = None
        page.memcg, page.cache, page.wrong, page.recharge = g, cache, False, False
        self.stat_add(g, page, +1)
        g.stat["pgpgin"] += 1

    def charge(self, page, g, cache, oom=True):
        """mem_cgroup_charge_common(): try_charge with reclaim (and OOM), then commit."""
        if not self.try_charge(g, 1, reclaim=True, oom=oom):
            return False
        self.commit(page, g, cache)
        return True

    def uncharge_in_use(self, page):
        """Before 3.17: a page in use loses its charge (2.6.26's force_empty drop, the last
        unmap, 3.4's leaving the swap cache) and moves to the zone's list of uncharged pages."""
        with self.relisted(page):
            self.uncharge(page)

    def uncharge(self, page):
        g = page.memcg
        if g is None:
            if page.leaked_from is not None:     # a seed leak ends with its page
                page.leaked_from.stat["leaked"] -= 1
                page.leaked_from = None
            return
        self.stat_add(g, page, -1)
        g.stat["pgpgout"] += 1
        page.memcg, page.cache, page.wrong, page.recharge = None, False, False, False
        self.res_uncharge(g, page.nr)

    def move_account(self, page, frm, to, uncharge_from):
        """mem_cgroup_move_account(): the page's charge changes hands (page off the LRU)."""
        assert page.lru is None
        if page.memcg is not frm:
            return False
        self.stat_add(frm, page, -1)
        page.wrong = page.recharge = False     # in its task's group now: no longer owed
        page.memcg = to
        self.stat_add(to, page, +1)
        frm.stat["pgpgout"] += 1
        to.stat["pgpgin"] += 1
        if uncharge_from:
            self.res_uncharge(frm, page.nr)
        return True

    # ---- page frames and the LRU ----
    def alloc(self, kind, file=None, index=None):
        if self.frames >= self.ram_pages:
            raise NotModelled("RAM exhausted: the model does not cover global reclaim")
        self.frames += 1
        return Page(kind, file, index)

    def maybe_free(self, page):
        """put_page(): the last reference (PTE, page cache, isolation) frees and uncharges; a
        frame's references are its huge page's."""
        if page.compound is not None:
            page = page.compound
        if self.page_count(page) or page.in_cache or page.swapcache or page.freed:
            return
        if page.lru is not None:
            self.lru_del(page)
        self.uncharge(page)
        page.freed = True
        self.frames -= page.nr
        if page.nr > 1:                         # free_transhuge_page(): off the queue
            self.nr_compound -= 1
            if page in self.split_queue:
                self.split_queue.remove(page)

    @staticmethod
    def page_count(page):
        """page_count() but for the page cache and swap cache: its mappings (a huge page's: its
        PMDs and every PTE of every frame), isolation, the LRU add batch and transient pins."""
        n = len(page.maps) + page.isolated + page.pins + page.batched
        return n + sum(len(f.maps) for f in page.frames) if page.frames else n

    @staticmethod
    def lru_name(page):
        """page_lru(): unevictable when mlocked, else by type (swap-backed: anon) and PG_active."""
        if page.mlocked:
            return UNEVICTABLE
        if page.swapbacked:
            return ACTIVE_ANON if page.active else ANON_LRU
        return ACTIVE_FILE if page.active else FILE_LRU

    def lru_list(self, page):
        owner = page.memcg if page.memcg is not None else self.zone
        return owner.lru[self.lru_name(page)]

    def lru_add(self, page):
        """lru_cache_add(): to the head (the young end)."""
        assert page.lru is None
        page.lru = self.lru_list(page)
        page.lru.append(page)

    def lru_del(self, page):
        page.lru.remove(page)
        page.lru = None

    def lru_cache_add(self, page):
        """folio_add_lru(): a new page waits in this CPU's batch (2.6.26: the one of its
        PG_active; 3.4: the one of its list, but an unevictable page goes straight onto its
        list), with a reference and on no list; a full batch (15 pages, before 4.15 14), or a
        huge page, moves onto the lists."""
        if self.v34 and page.mlocked:
            self.lru_add(page)
            return
        page.batched = True
        if self.v34:
            index = EVICTABLE.index(self.lru_name(page))
        else:
            index = int(page.active) if self.v2626 else 0
        batch = self.lru_batches[self.cpu][index]
        batch.append(page)
        if len(batch) == PAGEVEC_SIZE[self.kernel] or page.nr > 1:
            self.pagevec_lru_move(batch)

    def pagevec_lru_move(self, batch):
        """__pagevec_lru_add(): a batch onto the lists in order, then its references go."""
        pages, batch[:] = list(batch), []
        for page in pages:
            page.batched = False
            self.lru_add(page)
        for page in pages:
            self.maybe_free(page)

    def lru_add_drain(self, cpu=None):
        """lru_add_drain(): this CPU's batches (or ``cpu``'s)."""
        for batch in self.lru_batches[self.cpu if cpu is None else cpu]:
            self.pagevec_lru_move(batch)

    def batched_pages(self):
        return (page for cpu in self.lru_batches for batch in cpu for page in batch)

    def file_pages_under(self, g):
        """The page-cache pages charged to ``g`` or a group under it, batched or on a list."""
        batched = (p for p in self.batched_pages() if p.kind == "file" and p.memcg is not None and p.memcg.under(g))
        listed = (p for h in self.groups.values() if h.under(g) for p in h.lru[FILE_LRU] + h.lru[ACTIVE_FILE])
        return itertools.chain(batched, listed)

    def lru_add_drain_all(self):
        """lru_add_drain_all(): every CPU's batch, CPU by CPU."""
        for cpu in range(len(self.lru_batches)):
            self.lru_add_drain(cpu)

    def drain(self):
        """Machine.drain(): every charge stock and LRU add batch."""
        self.drain_stock()
        self.lru_add_drain_all()

    def isolate(self, page):
        if page.lru is None:
            return False
        self.lru_del(page)
        page.isolated = True
        return True

    def putback(self, page):
        page.isolated = False
        self.lru_add(page)
        self.maybe_free(page)

    @contextlib.contextmanager
    def relisted(self, page):
        """Around a change of what decides a page's list (its charge, PG_mlocked): off its
        list, then onto the one it belongs to now (on none if it was on none)."""
        on = page.lru is not None
        if on:
            self.lru_del(page)
        yield
        if on:
            self.lru_add(page)

    def mlock_page(self, page):
        if not page.mlocked:
            with self.relisted(page):
                page.mlocked = True

    def munlock_page(self, page):
        """munlock_vma_page() once nobody else has it locked: back to an evictable list."""
        if page.mlocked:
            with self.relisted(page):
                page.mlocked = False

    # ---- rmap ----
    def map_page(self, page, mm, addr):
        if page.kind != "anon" and not page.maps and page.memcg is not None and page.cache:
            page.memcg.stat["mapped_file"] += 1
        page.maps.append((mm, addr))

    def unmap_page(self, page, mm, addr):
        """page_remove_rmap() of a PTE: a frame of a huge page losing its last PTE queues the
        huge page for a deferred split."""
        page.maps.remove((mm, addr))
        if page.kind != "anon" and not page.maps and page.memcg is not None and page.cache:
            page.memcg.stat["mapped_file"] -= 1
        if page.compound is not None and not page.maps:
            self.deferred_split(page.compound)
        # page_remove_rmap(), before 3.17: the last unmap uncharges a page charged as mapped
        # (anon, and on 2.6.26 a page-cache page its first mapping charged), whoever else
        # holds it -- on 3.4 not while it is in the swap cache
        if (self.unmap_uncharges and not page.maps and page.memcg is not None and not page.cache
                and not (self.v34 and page.swapcache is not None)):
            self.uncharge_in_use(page)

    # ---- reclaim ----
    def reclaim(self, over, pages, retries=16):
        """Machine.reclaim() (as cgroup v2's memory_reclaim(), 6.1): try_to_free() 32 pages at a
        time, one round at least, until ``pages`` are freed or ``retries`` more rounds have
        freed nothing (a round may only age the lists: the next one frees); how many were
        freed.  The seed's room loop passes retries=0."""
        done = 0
        while True:
            freed = self.try_to_free(over, min(pages - done, SWAP_CLUSTER_MAX))
            done += freed
            if done >= pages:
                return done
            if not freed:
                if not retries:
                    return done
                retries -= 1

    def try_to_free(self, over, pages):
        """try_to_free_mem_cgroup_pages(): rounds from priority 12 down to 0; each round
        first looks at the whole subtree (prepare_scan_count()), then visits every group
        under ``over`` (id order) for its share, get_scan_count(), so reclaim falls on
        groups in proportion to their size, each followed by the deferred split of its queued
        huge pages (shrink_slab()); it ends after the round that has freed
        max(pages, 32).  A reclaim that freed nothing because it left active lists alone
        (skipped_deactivate) starts over once aging them (force_deactivate).  Reclaim for
        the root is global: every task's PTE references count.  Returns how many were
        freed."""
        sc = {"target": None if over is self.root else over, "want": max(pages, SWAP_CLUSTER_MAX),
              "force": False, "skipped": False}
        done = 0
        self.lru_add_drain()                    # shrink_inactive_list(): this CPU's batch
        while True:
            for priority in range(DEF_PRIORITY, -1, -1):
                if done >= sc["want"]:
                    break
                sc["priority"] = priority
                self.prepare_scan_count(over, sc)
                for g in self.all_groups:
                    if not g.dead and g.under(over):
                        done += self.shrink(g, sc)
                        self.deferred_split_scan(g, priority)      # shrink_slab()
            if done or not sc["skipped"] or sc["force"]:
                return done
            sc["force"], sc["skipped"] = True, False

    @staticmethod
    def inactive_is_low(inactive, active):
        """inactive_is_low(), 6.1: the inactive list is low when inactive * sqrt(10 * GiB of
        both) (1 under a GiB) is below active."""
        gb = (inactive + active) >> 18
        return inactive * (math.isqrt(10 * gb) if gb else 1) < active

    def prepare_scan_count(self, over, sc):
        """prepare_scan_count(), 6.1, at each priority: over the whole subtree, an active list
        may be aged when its inactive partner is low (or when forced); cache_trim_mode (file
        only) while the inactive file list >> priority is not zero and the file lists need no
        aging; the reclaim target's costs for get_scan_count()."""
        n = dict.fromkeys(EVICTABLE, 0)
        for g in self.all_groups:
            if not g.dead and g.under(over):
                for name in EVICTABLE:
                    n[name] += self.lru_pages(g.lru[name])
        sc["deact_anon"] = sc["force"] or self.inactive_is_low(n[ANON_LRU], n[ACTIVE_ANON])
        sc["deact_file"] = sc["force"] or self.inactive_is_low(n[FILE_LRU], n[ACTIVE_FILE])
        sc["trim"] = bool(n[FILE_LRU] >> sc["priority"]) and not sc["deact_file"]
        sc["anon_cost"], sc["file_cost"] = over.anon_cost, over.file_cost

    def get_scan_count(self, g, sc):
        """get_scan_count(), 6.1: each list's size >> priority; file only unless anon pages are
        worth scanning (a free swap slot, or lazy-move's WRONG_CHARGE pages), or with
        the scanned group's memory.swappiness 0 in a group's reclaim; both by size at priority 0
        (with swappiness); file only in cache_trim_mode; otherwise anon gets swappiness and file
        200 - swappiness, each over its share of
        the reclaim target's costs (lru_note_cost())."""
        swappiness = g.swappiness
        if not (self.swap_free > 0 or g.stat["wrong"] > 0) or (sc["target"] is not None and not swappiness):
            balance = "file"
        elif sc["priority"] == 0 and swappiness:    # close to OOM: both, before cache_trim_mode
            balance = "equal"
        elif sc["trim"]:
            balance = "file"
        else:
            balance = "fract"
            total = sc["anon_cost"] + sc["file_cost"]
            anon_cost, file_cost = total + sc["anon_cost"], total + sc["file_cost"]
            total = anon_cost + file_cost
            fraction = {False: swappiness * (total + 1) // (anon_cost + 1),
                        True: (200 - swappiness) * (total + 1) // (file_cost + 1)}
            denominator = fraction[False] + fraction[True]
        nr = {}
        for name in EVICTABLE:
            scan = self.lru_pages(g.lru[name]) >> sc["priority"]
            file = name in (FILE_LRU, ACTIVE_FILE)
            if balance == "fract":
                scan = scan * fraction[file] // denominator if denominator else 0
            elif balance == "file" and not file:
                scan = 0
            nr[name] = scan
        return nr

    def shrink(self, g, sc):
        """shrink_lruvec(), 6.1, one group: the four lists in enum order, 32 pages at a time,
        until get_scan_count()'s counts are done (the active anon count alone does not keep
        it going); once the group alone has freed what the reclaim wants, the smaller of anon
        and file stops and the other is cut to the same share of its count.  Then, with a
        free swap slot, the active anon list is aged if the inactive one is low."""
        nr = self.get_scan_count(g, sc)
        targets = dict(nr)
        done, adjusted = 0, False
        while nr[ANON_LRU] or nr[ACTIVE_FILE] or nr[FILE_LRU]:
            for name in EVICTABLE:
                n = min(nr[name], SWAP_CLUSTER_MAX)
                if n:
                    nr[name] -= n
                    done += self.shrink_list(g, name, n, sc)
            if done < sc["want"] or adjusted:
                continue
            nr_file, nr_anon = nr[FILE_LRU] + nr[ACTIVE_FILE], nr[ANON_LRU] + nr[ACTIVE_ANON]
            if not nr_file or not nr_anon:
                break
            if nr_file > nr_anon:
                stop, other = (ANON_LRU, ACTIVE_ANON), (FILE_LRU, ACTIVE_FILE)
                pct = nr_anon * 100 // (targets[ANON_LRU] + targets[ACTIVE_ANON] + 1)
            else:
                stop, other = (FILE_LRU, ACTIVE_FILE), (ANON_LRU, ACTIVE_ANON)
                pct = nr_file * 100 // (targets[FILE_LRU] + targets[ACTIVE_FILE] + 1)
            for name in stop:
                nr[name] = 0
            for name in other:
                scanned = targets[name] - nr[name]
                nr[name] = targets[name] * (100 - pct) // 100
                nr[name] -= min(nr[name], scanned)
            adjusted = True
        if self.swap_free > 0 and self.inactive_is_low(self.lru_pages(g.lru[ANON_LRU]),
                                                       self.lru_pages(g.lru[ACTIVE_ANON])):
            self.shrink_active(g, ACTIVE_ANON, SWAP_CLUSTER_MAX, sc)     # age anon with swap
        return done

    def shrink_list(self, g, name, n, sc):
        """shrink_list(), 6.1: an active list is aged only when prepare_scan_count() allowed
        it (else the reclaim notes it skipped one); an inactive list is reclaimed from."""
        if name in (ACTIVE_ANON, ACTIVE_FILE):
            if sc["deact_file" if name == ACTIVE_FILE else "deact_anon"]:
                self.shrink_active(g, name, n, sc)
            else:
                sc["skipped"] = True
            return 0
        return self.shrink_inactive(g, name, n, sc)

    @staticmethod
    def isolate_tail(lst, n):
        """isolate_lru_pages(): up to n pages from the oldest end, in the order the kernel's
        isolated list then hands them out (the last one taken first)."""
        taken = lst[:n]
        del lst[:n]
        for page in taken:
            page.lru = None
            page.isolated = True
        return list(reversed(taken))

    def shrink_active(self, g, name, n, sc):
        """shrink_active_list(), 6.1: every page taken from the active list goes to the head
        of the inactive one, the accessed bits of its PTEs cleared on the way."""
        for page in self.isolate_tail(g.lru[name], n):
            self.page_referenced(page, sc["target"])
            page.active = False
            self.putback(page)

    def page_referenced(self, page, target):
        """folio_referenced(): test and clear the accessed bit of each PTE mapping the page
        (file: in i_mmap order; anon: in mapping order), skipping mms whose owner is outside
        ``target``'s subtree (mm_match_cgroup()); a VM_LOCKED mapping stops the walk.
        Returns (young PTEs, whether a VM_LOCKED mapping was found)."""
        young = 0
        for mm, addr in self.rmap_order(page):
            if target is not None and not mm.owner.group.under(target):
                continue
            if mm.find_vma(addr).locked:
                return young, True
            pte = mm.ptes[addr]
            if pte.young:
                young += 1
                pte.young = False
        return young, False

    def rmap_order(self, page):
        if page.file is None:
            return list(page.maps)
        order = []
        for v in page.file.i_mmap:
            addr = v.addr_of(page.index)
            if addr is not None and (v.mm, addr) in page.maps:
                order.append((v.mm, addr))
        return order

    def check_references(self, page, sc):
        """folio_check_references(), 6.1: accessed PTEs give the page PG_referenced and another
        trip round the inactive list ("keep"); if it already had PG_referenced, or two PTEs
        were accessed, it is activated.  No accessed PTE: reclaim it (PG_referenced is
        cleared either way).  An mlocked VMA mlocks it ("activate", onto the unevictable
        list)."""
        young, locked = self.page_referenced(page, sc["target"])
        was_referenced, page.referenced = page.referenced, False
        if locked:
            page.mlocked = True
            return "activate"
        if young:
            page.referenced = True
            return "activate" if was_referenced or young > 1 else "keep"
        return "reclaim"

    def shrink_inactive(self, g, name, n, sc):
        """shrink_inactive_list() and shrink_folio_list(): lazy-move's recharge first; then a
        page the references keep goes back to the inactive head, an activated one to the
        active list; one to reclaim is freed if it can be, else activated when it has no
        slot, the swap cache or a VM_LOCKED mapping stop it (activate_locked), else kept.  The
        pages written to swap are the group's anon cost (lru_note_cost())."""
        done = pageout = 0
        for page in self.isolate_tail(g.lru[name], n):
            if not page.mlocked:
                if self.lazy_recharge(page):
                    done += 1
                else:
                    verdict = self.check_references(page, sc)
                    if verdict == "reclaim":
                        verdict = self.reclaim_one(page)
                        if verdict == "freed":
                            done += 1
                            pageout += page.swapbacked
                    if verdict == "activate" and not page.mlocked:
                        page.active = True
            self.putback(page)
        self.lru_note_cost(g, name in (FILE_LRU, ACTIVE_FILE), pageout)
        return done

    def lru_note_cost(self, g, file, pages):
        """lru_note_cost(), 6.1: up the hierarchy, the pages written out add to the file or
        anon cost; once both exceed a quarter of a group's own LRU pages, both halve."""
        for c in g.chain():
            if file:
                c.file_cost += pages
            else:
                c.anon_cost += pages
            if c.file_cost + c.anon_cost > sum(self.lru_pages(c.lru[n]) for n in EVICTABLE) // 4:
                c.file_cost //= 2
                c.anon_cost //= 2

    def reclaim_one(self, page):
        """pageout of one page: "freed", "activate" (no swap slot, a VM_LOCKED mapping) or
        "keep" (someone else still holds it: it stays on the inactive list)."""
        if page.swapbacked:
            return self.swap_out(page)
        # a clean page-cache page: unmap it everywhere (in i_mmap order; a VM_LOCKED mapping
        # stops that and the page is mlocked again), then drop it from its file unless
        # someone else holds a reference (a fault copying it): then it stays, unmapped
        for v in list(page.file.i_mmap):
            addr = v.addr_of(page.index)
            if addr is None or (v.mm, addr) not in page.maps:
                continue
            if v.locked:
                page.mlocked = True
                return "activate"
            del v.mm.ptes[addr]
            self.unmap_page(page, v.mm, addr)
        if page.pins or page.maps:
            return "keep"
        del page.file.slots[page.index]
        page.in_cache = False
        return "freed"

    # ---- swap (mm/swapfile.c, mm/swap_state.c, 6.1) ----
    def swap_full(self):
        """vm_swap_full(): more than half the swap slots are in use."""
        return self.swap_pages and self.swap_free * 2 < self.swap_pages - 1

    def swap_put(self, slot):
        """swap_free(): the last reference frees the slot, and its record goes."""
        slot.refs -= 1
        if not slot.refs:
            self.uncharge_swap(slot)
            self.swap_free += 1

    @staticmethod
    def uncharge_swap(slot):
        """mem_cgroup_uncharge_swap(): the recorded group (a removed one too) drops the entry
        from its swap statistic and memory+swap."""
        g, slot.memcg = slot.memcg, None
        if g is not None:
            g.stat["swap"] -= 1
            for c in g.chain():
                c.swapx -= 1

    @staticmethod
    def swapped(page):
        """folio_swapped(): does a swap PTE still hold the slot of this swap-cache page?"""
        return page.swapcache is not None and page.swapcache.refs > 1

    def swapcache_set(self, page, slot):
        """__add_to_swap_cache() / __delete_from_swap_cache(), 6.1: while in the swap cache a
        page counts in its group's cache (NR_FILE_PAGES; 3.4: in no memcg statistic)."""
        if page.memcg is not None and self.kernel == "6.1":
            for key in ("cache", "swapcache"):
                page.memcg.stat[key] += 1 if slot is not None else -1
        page.swapcache = slot

    def delete_from_swap_cache(self, page):
        """delete_from_swap_cache(); 3.4: a page leaving the cache unmapped loses its charge
        then (mem_cgroup_uncharge_swapcache()), whoever else holds it."""
        slot = page.swapcache
        self.swapcache_set(page, None)
        slot.cache = None
        self.swap_put(slot)
        if self.v34 and not page.maps and page.memcg is not None:
            self.uncharge_in_use(page)
        self.maybe_free(page)

    def try_to_free_swap(self, page):
        """try_to_free_swap(): out of the swap cache unless a swap PTE still holds the slot."""
        if page.swapcache is not None and not self.swapped(page):
            self.delete_from_swap_cache(page)

    def free_swap_cache(self, page):
        """free_swap_cache(): a page unmapped everywhere, through try_to_free_swap()."""
        if not page.maps:
            self.try_to_free_swap(page)

    def free_swap_and_cache(self, slot):
        """free_swap_and_cache(): a zapped swap PTE's reference goes; a cached page that is
        then the slot's only holder leaves the cache if unmapped."""
        self.swap_put(slot)
        if slot.refs == 1 and slot.cache is not None:
            self.free_swap_cache(slot.cache)

    def swap_out(self, page):
        """shrink_page_list() of an anon page, 6.1: a slot unless it is in the swap cache
        already (add_to_swap(); none free: it stays); every PTE mapping it becomes a swap
        entry with a reference of its own (try_to_unmap(), in rmap order: a VM_LOCKED
        mapping stops it and the page is mlocked again); then, if only the cache and reclaim
        hold it (__remove_mapping()), the slot records the page's group -- a WRONG_CHARGE
        page's: the group of the first task unmapped -- whose memory+swap keeps the entry
        (mem_cgroup_swapout()), and the page leaves the cache and is freed.  Otherwise it
        stays in the swap cache."""
        if page.swapcache is None and not self.swap_free:
            return "activate"                   # add_to_swap() / get_swap_page() failed
        if page.kind != "anon" or page.nr > 1 or page.compound is not None:
            raise NotModelled("shmem or huge page swap-out")
        if page.swapcache is None:
            self.swap_free -= 1
            self.swapcache_set(page, Slot())
            page.swapcache.cache = page
        slot = page.swapcache
        task_group = None
        for mm, addr in sorted(page.maps, key=lambda m: self.vma_at(*m).seq):
            if self.vma_at(mm, addr).locked:
                page.mlocked = True
                return "activate"
            task_group = task_group or mm.owner.group
            mm.ptes[addr] = Pte(None, False, slot=slot)
            slot.refs += 1
            self.unmap_page(page, mm, addr)
        if page.pins:
            return "keep"
        rec = page.memcg
        if rec is not None:
            rec = task_group if page.wrong and task_group is not None else rec
            slot.memcg = rec
            rec.stat["swap"] += 1
            for c in rec.chain():
                c.swapx += 1
        slot.cache = None
        self.swapcache_set(page, None)
        self.swap_put(slot)
        return "freed"

    def do_swap_page(self, mm, v, addr, pte, write):
        """do_swap_page(), 6.1: the slot's swap-cache page, or a new one charged to the group
        the slot records while that group lives, else to the mm owner's
        (mem_cgroup_swapin_charge_folio()), after which the page carries the charge and the
        record goes (mem_cgroup_swapin_uncharge_swap()).  The PTE's slot reference goes; the
        page leaves the swap cache when swap is over half full, the VMA is mlocked, or a
        write finds only this PTE and the cache holding it -- and only when no other swap PTE
        holds the slot.  Writable only when out of the cache and mapped once."""
        slot = pte.slot
        page = slot.cache
        if page is None:
            page = self.alloc("anon")
            g = slot.memcg if slot.memcg is not None and not slot.memcg.dead else mm.owner.group
            if not self.charge(page, g, cache=False):
                page.freed = True
                self.frames -= 1
                return False
            self.swapcache_set(page, slot)
            slot.cache = page
            slot.refs += 1
            self.uncharge_swap(slot)
            self.lru_cache_add(page)
        if write and page.lru is None and self.kernel == "6.1":    # the exclusive count below
            self.lru_add_drain()                # must not see this CPU's LRU add batch's reference
        page.maps.append((mm, addr))
        if v.locked:
            self.mlock_page(page)
        self.swap_put(slot)
        if (self.swap_full() or v.locked or page.mlocked
                or (write and len(page.maps) == 1 and not page.isolated and not page.pins
                    and not page.batched)):     # page_count() 2: another CPU's batch holds one more
            self.try_to_free_swap(page)
        mm.ptes[addr] = Pte(page, write and page.swapcache is None and len(page.maps) == 1)
        return True

    # ---- page tables (kmem) ----
    def pte_alloc(self, mm, addr, g, oom=True):
        """pud_alloc(), pmd_alloc(), pte_alloc(): the missing page-table pages of ``addr``,
        each charged as kmem to ``g`` (the mm owner's group; a fork's, the forking task's)
        with reclaim -- and the OOM killer for a fault, not for a fork -- when kmem is
        accounted (__memcg_kmem_charge_page(), 6.1).  False when a charge failed."""
        for have, key in ((mm.dirs, ("pud", addr >> 39)), (mm.dirs, ("pmd", addr >> 30)),
                          (mm.tables, addr >> 21)):
            if key in have:
                continue
            if self.kmem:
                if not self.try_charge(g, 1, reclaim=True, oom=oom):
                    return False
                g.kmem += 1
                mm.kmem.append(g)
            have.add(key)
        return True

    def uncharge_kmem(self, charged):
        """__memcg_kmem_uncharge_page() of each page: from the group charged, or from the
        ancestor its kmem went to once that group was removed."""
        for g in charged:
            while g.dead:
                g = g.parent
            g.kmem -= 1
            self.res_uncharge(g, 1)
        charged.clear()

    def free_pgtables(self, mm):
        """free_pgtables(): every page-table page goes, its kmem uncharged."""
        self.uncharge_kmem(mm.kmem)
        mm.tables.clear()
        mm.dirs.clear()

    def charge_kobjs(self, mm, pages, g):
        """The kernel objects of a new mm besides its page tables (GFP_KERNEL_ACCOUNT), up to
        ``pages`` of them, charged as kmem to ``g`` (its owner's group; at fork the parent's)
        with reclaim but no OOM kill -- the mm is not its task's yet -- when kmem is
        accounted.  False when a charge failed (ENOMEM for the exec or fork)."""
        while mm.kobj_pages < pages:
            if self.kmem:
                if not self.try_charge(g, 1, reclaim=True, oom=False):
                    return False
                g.kmem += 1
                mm.kobjs.append(g)
            mm.kobj_pages += 1
        return True

    def owner_group(self, page):
        """The group of the task whose PTE maps this mapped-once anon page."""
        if page.kind != "anon" or len(page.maps) != 1:
            return None
        return page.maps[0][0].owner.group

    def lazy_recharge(self, page):
        frm = page.memcg
        if frm is None or not page.wrong or not page.recharge:
            return False
        to = self.owner_group(page)
        if to is None or to is frm:
            return False
        if not self.try_charge(to, 1, reclaim=False):
            return False
        self.move_account(page, frm, to, True)
        page.recharge = False
        return True

    # ---- OOM ----
    def current_dying(self):
        t = self.tasks.get(self.current)
        return t is not None and t.memdie

    def oom_kill(self, over):
        """mem_cgroup_out_of_memory(), 6.1: kill the task under ``over`` with the highest
        oom_badness() -- resident pages and swap entries plus oom_score_adj per mille of the
        group's own limit and the swap device (mem_cgroup_get_max(), memory+swap unlimited;
        the machine's RAM and swap at the root), negative scores counting too;
        a tie goes to the later task; oom_score_adj -1000 is never chosen.  -1 while an
        earlier victim is still exiting.  The charging task itself exits when its fault ends
        (oom_synchronize)."""
        totalpages = self.swap_pages + (self.ram_pages if over.parent is None
                                        else min(over.limit, (1 << 63) - 1) // PAGE)
        victim, best = 0, None
        for pid in sorted(self.tasks):
            t = self.tasks[pid]
            if not t.group.under(over):
                continue
            if t.memdie:
                victim = -1
                break
            if t.adj == -1000 or t.mm is None:
                continue
            points = t.mm.rss() + t.adj * (totalpages // 1000)
            if best is None or points >= best:
                best, victim = points, pid
        if victim <= 0:
            return 0 if victim == 0 else -1
        t = self.tasks[victim]
        t.memdie = True
        self.oom_report.append(victim)
        if victim != self.current:
            self.do_exit(t)
        return victim

    def fault_begin(self, pid):
        self.current, self.oom_report, self.oom_seen = pid, [], False

    def oom_synchronize(self, error):
        """The fault has unwound: a charging task the OOM killer chose exits now; a failed
        charge that went through the OOM killer is a ModelOOM naming the last victim."""
        t = self.tasks.get(self.current)
        if t is not None and t.memdie and not t.dead:
            self.do_exit(t)
        self.current = 0
        if error and self.oom_seen:
            raise ModelOOM(self.oom_report[-1] if self.oom_report else 0)
        if error:
            raise error

    # ---- the cgroup tree ----
    def mkdir(self, path):
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            raise err(errno.EEXIST)
        parent = self.group("/".join(parts[:-1]))
        if parts[-1] in parent.children:
            raise err(errno.EEXIST)
        g = Group("/".join(parts), len(self.all_groups), parent, hierarchy=self.kernel == "6.1")
        g.cpus = parent.cpus
        parent.children[parts[-1]] = g
        self.groups[g.path] = g
        self.all_groups.append(g)

    def rmdir(self, path):
        g = self.group(path)
        if g.parent is None or g.children or self.live_tasks(g):
            raise err(errno.EBUSY)
        parent = g.parent
        self.drain_stock(g)                     # mem_cgroup_css_offline()
        self.lru_add_drain_all()
        if self.v2626:
            self.drop_charges(g)
        self.move_to_parent(g)
        g.dead = True
        parent.kmem += g.kmem                   # memcg_reparent_objcgs(): the page tables' kmem
        g.usage -= g.kmem * PAGE
        g.kmem = 0
        del parent.children[path.strip("/").split("/")[-1]]
        del self.groups[g.path]

    def move_to_parent(self, g):
        """Every page of ``g`` goes to its parent, list by list and oldest first (the parent's
        lists keep their age order): 6.1 reparents it (the parent counts it already); 3.4
        (mem_cgroup_move_parent(), no hierarchy) charges the parent."""
        while g.usage > g.kmem * PAGE:
            lst = next((g.lru[n] for n in LRU_NAMES if g.lru[n]), None)
            if lst is None:
                raise NotModelled("a group emptied while its pages are isolated")
            page = lst[0]
            self.lru_del(page)
            if self.v34:
                self.res_charge(g.parent, page.nr)
            self.move_account(page, g, g.parent, self.v34)
            if not self.v34:
                g.usage -= page.nr * PAGE       # res_counter_uncharge_until(parent)
            self.lru_add(page)

    def write_limit(self, g, value):
        """value: bytes, or None for -1; 6.1 rounds down to a page; reclaim while it helps.
        2.6.26 (res_counter_write()) rounds up, and takes a limit below usage as it is."""
        if g.parent is None:
            raise err(errno.EINVAL)
        if self.v2626:
            g.limit = RES_MAX if value is None else -(-value // PAGE) * PAGE
            return
        limit = RES_MAX if value is None else min(value // PAGE * PAGE, PAGE_COUNTER_MAX_BYTES)
        if g.usage > limit:
            self.drain_stock(g)         # mem_cgroup_resize_max(): refused once, drain, retry
        while True:
            if g.usage <= limit:
                g.limit = limit
                return
            if not self.try_to_free(g, 1):
                raise err(errno.EBUSY)

    @staticmethod
    def write_swappiness(g, value):
        """mem_cgroup_swappiness_write(), 6.1: 0 to 200; the root's sets vm.swappiness."""
        if value > 200:
            raise err(errno.EINVAL)
        g.swappiness = value

    def drop_charges(self, g):
        """mem_cgroup_force_empty_list(), 2.6.26: every page on the group's lists, oldest
        first, loses its charge and stays in use, charged to no group."""
        for name in LRU_NAMES:
            while g.lru[name]:
                self.uncharge_in_use(g.lru[name][0])

    def force_empty(self, g):
        if g.parent is None:
            raise err(errno.EINVAL)
        if self.v2626:
            # mem_cgroup_force_empty(), 2.6.26: EBUSY for a group with tasks and usage left
            if self.live_tasks(g) and g.usage:
                raise err(errno.EBUSY)
            self.lru_add_drain_all()
            self.drop_charges(g)
            return
        if self.v34 and (self.live_tasks(g) or g.children):
            raise err(errno.EBUSY)
        retries = RETRIES
        self.lru_add_drain_all()                # mem_cgroup_force_empty()
        self.drain_stock(g)
        while retries and g.usage:
            if not self.try_to_free(g, 1):
                retries -= 1
        if self.v34:                            # 3.4: what reclaim left goes to the parent
            self.lru_add_drain_all()
            self.move_to_parent(g)

    def write_cpus(self, g, cpus):
        """cpuset.cpus (a set): within the parent's (EACCES), not empty with tasks (ENOSPC),
        covering the children's (EBUSY); the group's tasks leave the CPUs taken away
        (update_tasks_cpumask())."""
        if g.parent is not None and not cpus <= g.parent.cpus:
            raise err(errno.EACCES)
        if not cpus and self.live_tasks(g):
            raise err(errno.ENOSPC)
        if any(not c.cpus <= cpus for c in g.children.values()):
            raise err(errno.EBUSY)
        g.cpus = cpus
        for t in self.live_tasks(g):
            self.keep_on_cpus(t, cpus)

    def place(self, t, cpus):
        """A task onto the next of ``cpus`` in turn (Machine's round-robin placement)."""
        allowed = sorted(cpus)
        t.cpu = allowed[self.next_cpu % len(allowed)]
        self.next_cpu += 1

    def keep_on_cpus(self, t, cpus):
        """set_cpus_allowed_ptr(): a task on a CPU no longer allowed moves to an allowed one."""
        if t.cpu not in cpus:
            self.place(t, cpus)

    # ---- tasks ----
    def spawn(self, path):
        g = self.group(path)
        if not g.cpus:
            raise err(errno.ENOSPC)
        t = self.new_task(g, None)
        self.place(t, g.cpus)
        return t.pid

    def new_task(self, g, mm):
        t = Task(self.next_pid, g, None)
        t.mm = mm or Mm(t)
        t.mm.owner = t
        self.tasks[t.pid] = t
        self.next_pid += 1
        return t

    def do_exit(self, t):
        t.dead = True
        mm, t.mm = t.mm, None
        if mm is not None:
            self.mm_put(mm)

    @on_task_cpu
    def exit(self, pid):
        self.do_exit(self.task(pid))

    @on_task_cpu
    def exec(self, pid, kobj_pages=0):
        """exec_mmap(): a fresh mm, with ``kobj_pages`` of kernel objects (an image's) charged
        before the old one is torn down; ENOMEM, and the old mm kept, if they do not fit."""
        t = self.task(pid)
        mm = Mm(t)
        if not self.charge_kobjs(mm, kobj_pages, t.group):
            self.mm_put(mm)
            raise err(errno.ENOMEM)
        old, t.mm = t.mm, mm
        self.mm_put(old)

    def mm_put(self, mm):
        mm.users -= 1
        if mm.users:
            return
        for v in list(mm.vmas):              # each VMA stays visible to rmap until removed
            self.zap(mm, v, v.start, v.end)
            mm.vmas.remove(v)
            self.remove_vma(v)
        self.free_pgtables(mm)
        self.uncharge_kmem(mm.kobjs)
        if mm.owner is not None and mm.owner.mm is not mm:
            mm.owner.memdie = False

    @on_task_cpu
    def fork(self, pid):
        """copy_process(): the child's mm shares every page copy-on-write, a huge PMD too (the
        child's copy old), swap entries too (swap_duplicate()); its page tables are charged to
        the forking task's group, without the OOM killer: a charge that fails fails the fork
        and the half-built mm goes."""
        parent = self.task(pid)
        pm = parent.mm
        cm = Mm(parent)                 # dup_mm(): the parent owns it until the child runs
        cm.fac = pm.fac
        for v in pm.vmas:
            c = v.copy(cm)
            c.locked = False
            if c.file is not None:
                c.file.refs += 1
                c.file.i_mmap.append(c)
            cm.vmas.append(c)
            for lo, hi in chunks(v.start, v.end):
                if lo >> 21 not in pm.tables:
                    continue
                if not self.pte_alloc(cm, lo, parent.group, oom=False):
                    raise self.abandon_fork(cm)
                huge = pm.huge.get(lo >> 21)
                if huge is not None:            # copy_huge_pmd(): both map it, write-protected
                    huge.write = False
                    cm.huge[lo >> 21] = Pte(huge.page, False, young=False)
                    huge.page.maps.append((cm, lo))
                    continue
                for addr in range(lo, hi, PAGE):
                    pte = pm.ptes.get(addr)
                    if pte is None:
                        continue
                    if pte.slot is not None:
                        pte.slot.refs += 1
                        cm.ptes[addr] = Pte(None, False, slot=pte.slot)
                        continue
                    if not v.shared:
                        pte.write = False
                    cm.ptes[addr] = Pte(pte.page, pte.write, young=False)   # pte_mkold()
                    if pte.page is not None:
                        self.map_page(pte.page, cm, addr)
        if not self.charge_kobjs(cm, pm.kobj_pages, parent.group):     # dup_mm()
            raise self.abandon_fork(cm)
        child = self.new_task(parent.group, cm)
        self.place(child, parent.group.cpus)
        return child.pid

    def abandon_fork(self, cm):
        """A fork's charge failed: the half-built mm goes (ENOMEM, the error to raise)."""
        cm.owner = None
        self.mm_put(cm)
        return err(errno.ENOMEM)

    # ---- address space ----
    @on_task_cpu
    def mmap(self, pid, length, kind, path=None, private=False):
        t = self.task(pid)
        if length > TASK_SIZE:
            raise err(errno.EINVAL)
        if kind == "file":
            f = self.files.get(path)
            if f is None:
                f = self.files[path] = File(path, False)
        elif kind == "shm":
            f = File(None, True)
        else:
            f = None
        shared = kind == "shm" or (kind == "file" and not private)
        length = (length + PAGE - 1) // PAGE * PAGE
        mm = t.mm
        if length > mm.fac - MMAP_MIN_ADDR:
            raise err(errno.ENOMEM)
        v = Vma(mm, mm.fac - length, mm.fac, kind, f, shared)
        mm.fac = v.start - PAGE
        if f is not None:
            f.i_mmap.append(v)
        mm.vmas.append(v)
        mm.vmas.sort(key=lambda x: x.start)
        return v.start

    def split_vma(self, mm, v, addr):
        if addr % PMD:          # vma_adjust_trans_huge(): no huge PMD straddles the boundary
            self.split_huge_pmd(mm, addr >> 21)
        new = v.copy(mm)
        new.start = addr
        if v.file is not None:
            new.pgoff += (addr - v.start) // PAGE
            v.file.refs += 1
            v.file.i_mmap.append(new)
        v.end = addr
        mm.vmas.insert(mm.vmas.index(v) + 1, new)

    def split_range(self, mm, start, end):
        v = mm.find_vma(start)
        if v and v.start < start:
            self.split_vma(mm, v, start)
        v = mm.find_vma(end)
        if v and v.start < end:
            self.split_vma(mm, v, end)

    def remove_vma(self, v):
        f = v.file
        if f is not None:
            f.i_mmap.remove(v)
        if f is not None and f.shmem:
            f.refs -= 1
            if f.refs == 0:                     # the shmem object goes with its last mapping
                for index in sorted(f.slots):
                    page = f.slots.pop(index)
                    page.in_cache = False
                    self.maybe_free(page)

    def zap(self, mm, v, start, end):
        for lo, hi in chunks(start, end):
            if lo >> 21 not in mm.tables:
                continue
            if lo >> 21 in mm.huge:
                if hi - lo == PMD:
                    self.unmap_pmd(mm, lo >> 21)
                    continue
                self.split_huge_pmd(mm, lo >> 21)     # zapped in part: its PTEs go below
            munlock = []
            for addr in range(lo, hi, PAGE):
                pte = mm.ptes.pop(addr, None)
                if pte is not None and pte.slot is not None:
                    self.free_swap_and_cache(pte.slot)
                if pte is None or pte.page is None:
                    continue
                page = pte.page
                self.unmap_page(page, mm, addr)
                if v.locked and page.mlocked:
                    page.pins += 1              # munlocked once the table is done
                    munlock.append(page)
                else:
                    self.free_swap_cache(page)  # free_pages_and_swap_cache()
                    self.maybe_free(page)
            for page in munlock:
                if not self.mlocked_elsewhere(page):
                    self.munlock_page(page)
                self.unpin(page)

    @staticmethod
    def vma_at(mm, addr):
        v = mm.find_vma(addr)
        return v if v is not None and v.start <= addr else None

    def mlocked_elsewhere(self, page):
        """try_to_munlock(): does a VM_LOCKED VMA still map the page?"""
        return any(self.vma_at(mm, addr).locked for mm, addr in page.maps)

    @on_task_cpu
    def munmap(self, pid, addr, length):
        t = self.task(pid)
        if addr % PAGE or not length or length > TASK_SIZE or addr > TASK_SIZE - length:
            raise err(errno.EINVAL)
        end = addr + (length + PAGE - 1) // PAGE * PAGE
        mm = t.mm
        self.split_range(mm, addr, end)
        for v in [v for v in mm.vmas if v.start >= addr and v.end <= end]:
            self.zap(mm, v, v.start, v.end)
            mm.vmas.remove(v)
            self.remove_vma(v)

    def range_mapped(self, mm, start, end):
        addr = start
        for v in mm.vmas:
            if v.end <= addr:
                continue
            if addr >= end:
                break
            if v.start > addr:
                return False
            addr = v.end
        return addr >= end

    # ---- faults ----
    def thp_suitable(self, mm, v, addr, write):
        """transhuge_vma_suitable(), thp "always": a write into an empty PTE table whose aligned
        2M a private anon VMA (not VM_LOCKED) covers."""
        haddr = addr & ~(PMD - 1)
        return (self.thp and write and v.file is None and not v.locked
                and v.start <= haddr and haddr + PMD <= v.end
                and not any(a in mm.ptes for a in range(haddr, haddr + PMD, PAGE)))

    def do_huge_pmd_anonymous_page(self, mm, addr):
        """do_huge_pmd_anonymous_page(), 6.1: a huge page charged as 512 pages at once,
        without reclaim (defrag "madvise" and no MADV_HUGEPAGE) and so never the OOM killer;
        False when the charge fails (VM_FAULT_FALLBACK: 4 KiB pages)."""
        if self.frames + PTRS > self.ram_pages:
            raise NotModelled("RAM exhausted: the model does not cover global reclaim")
        if not self.try_charge(mm.owner.group, PTRS, reclaim=False):
            return False
        self.frames += PTRS
        self.nr_compound += 1
        page = Page("anon")
        page.nr = PTRS
        page.maps.append((mm, addr & ~(PMD - 1)))
        self.commit(page, mm.owner.group, cache=False)
        self.lru_cache_add(page)
        mm.huge[addr >> 21] = Pte(page, True)
        return True

    def unmap_pmd(self, mm, key):
        """zap_huge_pmd(): the huge PMD goes, page_remove_rmap() of the compound page: with its
        last PMD its rss_huge goes, and if some frames, not all, are still mapped by PTEs, it
        is queued for a deferred split."""
        page = mm.huge.pop(key).page
        self.pmd_unmapped(page, mm, key)
        if not page.maps and page.frames and 0 < sum(1 for f in page.frames if not f.maps) < PTRS:
            self.deferred_split(page)
        self.maybe_free(page)

    @staticmethod
    def pmd_unmapped(page, mm, key):
        """The PMD mapping of ``mm`` at table ``key`` goes; the last one takes rss_huge along
        (compound_mapcount_update())."""
        page.maps.remove((mm, key << 21))
        if not page.maps and page.memcg is not None:
            page.memcg.stat["rss_huge"] -= PTRS

    def split_huge_pmd(self, mm, key):
        """__split_huge_pmd_locked(), 6.1: the huge PMD of table ``key`` becomes 512 PTEs mapping
        the frames of the same huge page, as writable and as young as the PMD was; the page
        stays whole, and charged whole."""
        huge = mm.huge.pop(key, None)
        if huge is None:
            return
        page = huge.page
        if page.frames is None:
            page.frames = [Page("anon") for _ in range(PTRS)]
            for f in page.frames:
                f.compound = page
        for i, f in enumerate(page.frames):
            addr = (key << 21) + i * PAGE
            f.maps.append((mm, addr))
            mm.ptes[addr] = Pte(f, huge.write, young=huge.young)
        self.pmd_unmapped(page, mm, key)

    def deferred_split(self, page):
        """deferred_split_huge_page(): queued once, at the tail."""
        if page not in self.split_queue:
            self.split_queue.append(page)

    def split_huge_page(self, page):
        """split_huge_page(), 6.1, the caller holding a reference: every PMD still mapping the
        page is split; then, if nothing but its PTEs holds it (can_split_folio()), the 512
        frames become pages of their own (__split_huge_page()): each charged to the head's
        group with its flags; the head keeps its place on its LRU list and the mapped frames
        follow it in order (from the reclaim end: head, frame 1, 2, ...); an unmapped frame
        is freed, its charge with it, and so is the head once the caller's reference goes.
        False when it could not be split."""
        for mm, haddr in list(page.maps):
            self.split_huge_pmd(mm, haddr >> 21)
        if page.pins or page.isolated or page.batched:
            return False
        if page in self.split_queue:
            self.split_queue.remove(page)
        self.nr_compound -= 1
        frames, lst = page.frames, page.lru
        for f in frames:
            f.compound = None
            f.memcg, f.cache = page.memcg, page.cache
            f.active, f.referenced, f.mlocked = page.active, page.referenced, page.mlocked
        page.freed = True                       # it lives on as frame 0
        if lst is not None:
            at = lst.index(page)
            lst[at] = frames[0]
            frames[0].lru, page.lru = lst, None
            for f in frames[1:]:
                if f.maps:
                    at += 1
                    lst.insert(at, f)
                    f.lru = lst
        else:
            for f in frames[1:]:
                if f.maps:
                    self.lru_add(f)
        for f in frames:
            self.maybe_free(f)
        return True

    def split_huge_pages_of_table(self, mm, start, end):
        """split_huge_pages_of_table(): a walker older than THP (mlock, the RFD's walk) splits
        the huge PMD of the table, then every huge page a PTE in [start, end) maps."""
        if not self.nr_compound:
            return
        self.split_huge_pmd(mm, start >> 21)
        for addr in range(start, end, PAGE):
            pte = mm.ptes.get(addr)
            if pte is not None and pte.page is not None and pte.page.compound is not None:
                self.split_huge_page(pte.page.compound)

    def deferred_split_scan(self, g, priority):
        """deferred_split_scan() as do_shrink_slab() runs it for ``g`` at ``priority``: of the
        queued pages charged to g (freeable), scan (freeable >> priority) * 4 / 2, at most
        twice freeable, 128 at a time while at least 128 or all of freeable are left; each
        taken is split, those that cannot be go back to the head of the queue.  What the
        splits free counts in no reclaim total."""
        freeable = sum(1 for p in self.split_queue if p.memcg is g)
        total = min((freeable >> priority) * 4 // 2, freeable * 2)
        while freeable and (total >= 128 or total >= freeable):
            n = min(total, 128)
            total -= n
            taken = [p for p in self.split_queue if p.memcg is g][:n]
            if not taken:
                return
            for p in taken:
                self.split_queue.remove(p)
            back = [p for p in taken if not self.split_huge_page(p)]
            self.split_queue[:0] = back

    def new_anon_page(self, mm, v):
        page = self.alloc("anon")
        if not self.charge(page, mm.owner.group, cache=False):
            page.freed = True
            self.frames -= 1
            return None
        return page

    def install_anon(self, mm, v, addr, page):
        """A new anon page mapped: active before 5.9 (lru_cache_add_active(), 2.6.26;
        lru_cache_add_lru(LRU_ACTIVE_ANON), 3.4)."""
        page.maps.append((mm, addr))
        page.active = self.kernel != "6.1"
        if v.locked:
            page.mlocked = True
        self.lru_cache_add(page)
        mm.ptes[addr] = Pte(page, True)

    def filemap_fault(self, mm, f, index):
        """The page at ``index`` of a file, read in (charged to the mm owner's group) if absent;
        returned with a transient reference (pins) for the caller."""
        page = f.slots.get(index)
        if page is None:
            page = self.alloc("shm" if f.shmem else "file", f, index)
            if not self.charge(page, mm.owner.group, cache=True):
                page.freed = True
                self.frames -= 1
                return None
            page.in_cache = True
            f.slots[index] = page
            f.size = max(f.size, index + 1)
            self.lru_cache_add(page)
        page.pins += 1
        return page

    def unpin(self, page):
        page.pins -= 1
        self.maybe_free(page)

    def fault(self, mm, v, addr, write):
        """handle_mm_fault() for one page: True, or False when a charge failed."""
        if not self.pte_alloc(mm, addr, mm.owner.group):
            return False
        huge = mm.huge.get(addr >> 21)
        if huge is not None:
            # do_huge_pmd_wp_page(), 6.1: reused while nothing else holds any of it
            if not write or huge.write or self.page_count(huge.page) == 1:
                huge.write = huge.write or write
                huge.young = True
                return True
            self.split_huge_pmd(mm, addr >> 21)     # else this PMD is split: 4 KiB COW below
        if self.thp_suitable(mm, v, addr, write) and self.do_huge_pmd_anonymous_page(mm, addr):
            return True
        while True:
            ret = self.fault_once(mm, v, addr, write)
            if ret is not None:
                return ret              # None: the PTE changed under us, fault again

    def fault_once(self, mm, v, addr, write):
        pte = mm.ptes.get(addr)
        if pte is not None and pte.slot is not None:
            return self.do_swap_page(mm, v, addr, pte, write)
        if pte is not None:
            if not write or pte.write:
                pte.young = True                # the access sets the accessed bit
                return True
            old = pte.page
            held = old.compound or old if old is not None else None
            # wp_can_reuse_anon_folio(), 6.1: not while a swap PTE holds its swap-cache slot; a
            # frame of a huge page only while nothing else holds any of the huge page
            if v.shared or (old is not None and old.kind == "anon"
                            and (self.page_count(held) == 1 if old.compound is not None
                                 else len(old.maps) == 1 and not self.swapped(old))):
                pte.write = pte.young = True    # wp_page_reuse(): pte_mkyoung()
                return True
            if held is not None:
                held.pins += 1          # do_wp_page() holds the old page across the charge
            new = self.new_anon_page(mm, v)     # copy on write
            if new is None or mm.ptes.get(addr) is not pte:
                if new is not None:
                    self.maybe_free(new)        # reclaim unmapped the old page meanwhile
                if held is not None:
                    self.unpin(held)
                return False if new is None else None
            if old is not None:
                self.unmap_page(old, mm, addr)
            self.install_anon(mm, v, addr, new)
            if held is not None:
                self.unpin(held)
            return True
        if v.file is None:
            if not write:
                mm.ptes[addr] = Pte(None, False)   # the zero page
                return True
            page = self.new_anon_page(mm, v)
            if page is None:
                return False
            self.install_anon(mm, v, addr, page)
            return True
        index = v.pgoff + (addr - v.start) // PAGE
        page = self.filemap_fault(mm, v.file, index)
        if page is None:
            return False
        if write and not v.shared:              # MAP_PRIVATE: a private copy
            copy = self.new_anon_page(mm, v)
            self.unpin(page)
            if copy is None:
                return False
            self.install_anon(mm, v, addr, copy)
            return True
        if page.memcg is None and not self.charge_first_mapping(mm, page):
            self.unpin(page)
            return False
        page.pins -= 1                          # the reference becomes the PTE's
        self.map_page(page, mm, addr)
        if v.locked:
            self.mlock_page(page)
        mm.ptes[addr] = Pte(page, v.shared)
        return True

    def charge_first_mapping(self, mm, page):
        """2.6.26's __do_fault(): a page-cache page no group is charged for (force_empty
        dropped its charge) is charged to the faulting mm's group, as a mapped page (rss), and
        the charge kept only by its first mapping; False when the charge failed."""
        if not self.v2626:
            return True
        g = mm.owner.group
        if not self.try_charge(g, 1, reclaim=True, oom=True):
            return False
        if page.maps:
            self.res_uncharge(g, 1)             # mem_cgroup_cancel_charge()
            return True
        with self.relisted(page):               # lrucare: from the zone's list to the group's
            self.commit(page, g, cache=False)
        return True

    @on_task_cpu
    def touch(self, pid, addr, length, write):
        """Fault in [addr, addr+length) page by page, stopping at the first failed charge."""
        t = self.task(pid)
        if not length or length > TASK_SIZE or addr > TASK_SIZE - length:
            raise err(errno.EINVAL)
        start, end = addr & ~(PAGE - 1), (addr + length + PAGE - 1) & ~(PAGE - 1)
        mm = t.mm
        if not self.range_mapped(mm, start, end):
            raise err(errno.EFAULT)
        self.fault_begin(pid)
        failed = None
        for a in range(start, end, PAGE):
            if not self.fault(mm, mm.find_vma(a), a, write):
                failed = err(errno.ENOMEM)
                break
        self.oom_synchronize(failed)

    @on_task_cpu
    def mlock(self, pid, addr, length):
        t = self.task(pid)
        if not length or length > TASK_SIZE or addr > TASK_SIZE - length:
            raise err(errno.EINVAL)
        start, end = addr & ~(PAGE - 1), (addr + length + PAGE - 1) & ~(PAGE - 1)
        mm = t.mm
        if not self.range_mapped(mm, start, end):
            raise err(errno.ENOMEM)
        self.fault_begin(pid)
        self.split_range(mm, start, end)
        vmas = [v for v in mm.vmas if v.end > start and v.start < end]
        for v in vmas:
            v.locked = True
        failed = None
        for v in vmas:
            for a in range(v.start, v.end, PAGE):
                if not self.fault(mm, v, a, not v.shared):
                    failed = err(errno.ENOMEM)
                    break
                self.split_huge_pages_of_table(mm, a, a + PAGE)    # 4 KiB mlocked pages
                pte = mm.ptes.get(a)
                # mlock_pte_range(), 6.1: a frame of a huge page is not mlocked
                if pte is not None and pte.page is not None and pte.page.compound is None:
                    self.mlock_page(pte.page)
            if failed:
                break
        self.oom_synchronize(failed)

    @on_task_cpu
    def file_write(self, pid, path, length):
        t = self.task(pid)
        if length > TASK_SIZE:
            raise err(errno.EFBIG)
        f = self.files.get(path)
        if f is None:
            f = self.files[path] = File(path, False)
        self.fault_begin(pid)
        failed = None
        for index in range(f.size, (length + PAGE - 1) // PAGE):
            page = self.filemap_fault(t.mm, f, index)
            if page is None:
                failed = err(errno.ENOMEM)
                break
            self.unpin(page)
        self.oom_synchronize(failed)

    # ---- moving: cgroup_attach_task() and the policies, as generators ----
    @staticmethod
    def resched(phase, pages):
        """cond_resched(): the hook runs here; returns what it raised, or None."""
        try:
            yield (phase, pages)
        except Exception as e:       # thrown in by the driver: the hook raised here
            return e
        return None

    def begin(self, task, to):
        if task.dead:                   # emu_move_begin(): no move context for a task that is gone
            raise err(errno.ESRCH)
        ctx = MoveCtx(task, task.group, to)
        if ctx.mm is not None:
            ctx.mm.users += 1
        return ctx

    def putback_ctx(self, ctx):
        pages, ctx.isolated, ctx.moved = ctx.isolated + ctx.moved, [], []
        for page in pages:
            self.putback(page)

    def end(self, ctx):
        if self.mc is ctx:             # mem_cgroup_clear_mc(): the move is over
            self.mc = None
        self.putback_ctx(ctx)
        if ctx.mm is not None:
            mm, ctx.mm = ctx.mm, None
            self.mm_put(mm)

    def record(self, res, ctx, towards_dst=True):
        res.pages_moved += ctx.nr_moved if towards_dst else -ctx.nr_moved
        res.pages_leaked += ctx.nr_leaked
        res.oom_victims += ctx.victims[:MAX_VICTIMS]

    def isolate_targets(self, ctx):
        """The seed's walk: every present anon page mapped once in a private VMA, isolated; each
        huge page it meets split first (one that cannot be stays, and is skipped)."""
        mm = ctx.mm
        if mm is None:
            return None
        for v in list(mm.vmas):
            if v.shared:
                continue
            for lo, hi in chunks(v.start, v.end):
                if lo >> 21 not in mm.tables:
                    continue
                self.split_huge_pages_of_table(mm, lo, hi)     # 4 KiB pages, as the RFD knows
                for addr in range(lo, hi, PAGE):
                    pte = mm.ptes.get(addr)
                    page = pte.page if pte else None
                    if (page is not None and page.kind == "anon" and page.compound is None
                            and len(page.maps) <= 1):
                        if self.isolate(page):
                            ctx.isolated.append(page)
                            ctx.nr_isolated += 1
                e = yield from self.resched("walk", ctx.nr_isolated)
                if e:
                    return e
        return None

    def move(self, pid, path, policy):
        """Write ``pid`` into ``path``'s tasks under ``policy``: a generator (see the module doc)."""
        dst = self.group(path)
        t = self.task(pid)
        res = self.last_attach = AttachResult()
        src = t.group
        if src is dst:
            res.outcome = "moved"
            return res
        state = HookState()
        done = []
        for ss in ("cpuset", "memory", "devices"):
            try:
                injected = self.fail_next.pop(ss, None)
                if injected:
                    raise err(injected, "injected")
                if ss == "cpuset" and not dst.cpus:
                    raise err(errno.ENOSPC)
                if ss == "memory":
                    yield from getattr(self, "can_attach_" + policy.replace("-", "_"))(
                        res, t, src, dst, state)
            except BaseException as e:
                if isinstance(e, OSError) and e.errno == errno.EDEADLK:
                    res.outcome = "deadlock"        # the writer hangs: nothing rolls back
                    raise
                # the seed's patched cgroup_attach_task() rolls back every subsystem, memory
                # included even when it refused or was never asked; the others, those that
                # said yes.  attach_rollback() is void: a failure is ignored.  Undoing what
                # the hook's own exception broke off runs with the hook muted
                res.outcome = "refused"     # whatever the rollback raises, the task stayed
                if policy == "seed" or "memory" in done:
                    cancel = getattr(self, "cancel_" + policy.replace("-", "_"))(res, t, src, dst, state)
                    try:
                        if isinstance(e, OSError):
                            yield from cancel
                        else:               # undoing what a hook's exception broke off: hook muted
                            for _ in cancel:
                                pass
                    except OSError:
                        pass
                raise
            done.append(ss)
        try:
            for ss in done:
                if ss == "cpuset" and not t.dead:    # cpuset_attach()
                    self.keep_on_cpus(t, dst.cpus)
                if ss == "memory":
                    if t.dead:
                        # the task died during can_attach: what it held goes (the kernel's
                        # post_attach always clears the move)
                        if state.ctx is not None:
                            yield from self.cancel_in_flight(res, t, src, dst, state, policy)
                        raise err(errno.ESRCH)
                    t.group = dst
                    yield from getattr(self, "attach_" + policy.replace("-", "_"))(
                        res, t, src, dst, state)
        except BaseException:
            # an error after the task joined dst leaves it there with what moved so far
            res.outcome = (res.outcome or "half-moved") if t.group is dst and not t.dead else "refused"
            raise
        res.outcome = res.outcome or "moved"
        return res

    # none
    def can_attach_none(self, res, t, src, dst, state):
        return
        yield

    cancel_none = attach_none = can_attach_none

    # seed
    def can_attach_seed(self, res, t, src, dst, state):
        try:
            yield from self.seed_recharge_task(res, t, dst, True)
        except BaseException as e:
            # the hook raised at putback: the pages go back, hook muted (not from a hung writer)
            if res.pages_moved and getattr(e, "errno", None) != errno.EDEADLK:
                for _ in self.seed_recharge_task(res, t, src, False):
                    pass
            raise

    def cancel_seed(self, res, t, src, dst, state):
        """mem_cgroup_attach_rollback(): the recharge towards the group the task is in; it
        returns void, so its own failure is dropped."""
        try:
            yield from self.seed_recharge_task(res, t, src, False)
        except OSError:
            pass

    def attach_seed(self, res, t, src, dst, state):
        return
        yield

    def seed_recharge_task(self, res, t, target, towards_dst):
        ctx = self.begin(t, target)
        try:
            e = yield from self.isolate_targets(ctx)
            if e:
                raise e
            # `int necessary`: 2 GiB and more wrap; u64 usage + a negative one fits only where
            # the usage is at least its size
            necessary = (ctx.nr_isolated * PAGE + (1 << 31)) % (1 << 32) - (1 << 31)
            while (self.margin(target) < necessary if necessary >= 0 else target.usage < -necessary):
                short = max((necessary - self.margin(target) + PAGE - 1) // PAGE, SWAP_CLUSTER_MAX)
                if not self.reclaim(target, short, retries=0):
                    raise err(errno.ENOMEM, "no room")
                e = yield from self.resched("room", short)
                if e:
                    raise e
            e = yield from self.seed_recharge_move(ctx)
            if e:
                if getattr(e, "errno", None) != errno.EDEADLK:      # hung: nothing rolls back
                    yield from self.seed_rollback(ctx)
                self.record(res, ctx, towards_dst)
                self.putback_ctx(ctx)
                e2 = yield from self.resched("putback", ctx.nr_moved)
                raise e2 or e
            self.record(res, ctx, towards_dst)
            self.putback_ctx(ctx)
            e = yield from self.resched("putback", ctx.nr_moved)
            if e:
                raise e
        finally:
            self.end(ctx)

    @staticmethod
    def qualifies(page):
        """Still a private anon page mapped once, held only by its PTE and our isolation."""
        return page.kind == "anon" and len(page.maps) == 1 and not page.pins and page.swapcache is None

    def recharge_private(self, page, g, ctx):
        """Uncharge the page and charge it to ``g`` (reclaim and OOM armed): 0 done, 1 left
        alone (it stopped qualifying), -1 the charge failed (the page is charged nowhere),
        DEADLOCK on 2.6.26, whose OOM killer takes the cgroup_mutex the move holds (the page
        stays charged nowhere, a leak of its old group)."""
        if not self.qualifies(page):
            ctx.nr_skipped += 1
            return 1
        was = page.memcg
        self.uncharge(page)
        self.oom_report = ctx.victims       # the OOM kills of this charge are the move's
        if self.charge(page, g, cache=False, oom=not self.v2626):
            return 0
        if self.v2626:
            self.mark_leaked(page, was or ctx.frm)
            ctx.nr_leaked += 1
            return DEADLOCK
        return -1

    @staticmethod
    def mark_leaked(page, g):
        page.leaked_from = g
        g.stat["leaked"] += 1

    @staticmethod
    def take_batch(lst):
        """The emulator's unit of work: up to a PTE table's worth of pages from the head of
        ``lst``, all charged to the group the first one is charged to."""
        n = 0
        while n < len(lst) and n < PTRS and lst[n].memcg is lst[0].memcg:
            n += 1
        return lst[:n], lst[0].memcg

    def move_batch(self, pages, old, to):
        """mem_cgroup_move_account() over a batch; how many moved."""
        return sum(1 for p in pages if self.move_account(p, old, to, False))

    def seed_recharge_move(self, ctx):
        """Phase 3: a batch whose pages all qualify and fit at once is charged to the new
        group and then uncharged from the old one; otherwise the patch's page-by-page
        uncharge/charge.  A cond_resched() before every batch."""
        while ctx.isolated:
            e = yield from self.resched("move", ctx.nr_moved)
            if e:
                return e
            pages, old = self.take_batch(ctx.isolated)
            n = len(pages)
            if (all(self.qualifies(p) for p in pages) and old is not None and old is not ctx.to
                    and self.res_charge(ctx.to, n) is None):
                del ctx.isolated[:n]
                ctx.moved += pages
                moved = self.move_batch(pages, old, ctx.to)
                ctx.counted.update(id(p) for p in pages if p.memcg is ctx.to)
                self.res_uncharge(old, moved)
                if moved < n:
                    self.res_uncharge(ctx.to, n - moved)
                ctx.nr_moved += moved
                ctx.nr_skipped += n - moved
                continue
            for _ in range(n):
                page = ctx.isolated.pop(0)
                ctx.moved.append(page)
                was = page.memcg
                ret = self.recharge_private(page, ctx.to, ctx)
                if ret == DEADLOCK:
                    return err(errno.EDEADLK, "the OOM killer wants cgroup_mutex")
                if ret < 0:
                    return err(errno.ENOMEM, "destination full")
                if ret == 0 and was is not ctx.to:      # recharged in place is no move
                    ctx.counted.add(id(page))
                    ctx.nr_moved += 1
        return None

    def seed_rollback(self, ctx):
        for n, page in enumerate(list(ctx.moved)):
            cur = page.memcg
            if n % PTRS == 0:
                yield from self.resched("rollback", n)     # what the hook raises is dropped
            if cur is ctx.frm:
                continue
            ret = self.recharge_private(page, ctx.frm, ctx)
            if ret == 0 and id(page) in ctx.counted:    # not a page charged to ctx.to before
                ctx.nr_moved -= 1
            if ret == DEADLOCK:
                raise NotModelled("a seed rollback that deadlocks")
            if ret >= 0:
                continue
            if page.memcg is None:                          # leaked: charged nowhere
                self.mark_leaked(page, ctx.frm)
            ctx.nr_leaked += 1

    # reserve
    def can_attach_reserve(self, res, t, src, dst, state):
        ctx = self.begin(t, dst)
        try:
            e = yield from self.isolate_targets(ctx)
            if e:
                raise e
            n = ctx.nr_isolated
            if n:
                if not self.try_charge(dst, n, reclaim=True):
                    raise err(errno.ENOMEM, "cannot reserve")
                ctx.precharge = n
        except BaseException:
            self.end(ctx)
            raise
        state.ctx = ctx

    def cancel_reserve_ctx(self, ctx):
        if ctx.precharge:
            self.res_uncharge(ctx.to, ctx.precharge)
            ctx.precharge = 0

    def cancel_reserve(self, res, t, src, dst, state):
        ctx, state.ctx = state.ctx, None
        if ctx is not None:
            self.cancel_reserve_ctx(ctx)
            self.end(ctx)
        return
        yield

    def attach_reserve(self, res, t, src, dst, state):
        ctx, state.ctx = state.ctx, None
        try:
            e = yield from self.reserve_move(ctx)
            if e:
                raise e
            self.record(res, ctx)
            res.outcome = "moved"
            self.putback_ctx(ctx)
            e = yield from self.resched("putback", ctx.nr_moved)
            if e:
                raise e
        finally:
            self.end(ctx)

    def reserve_move(self, ctx):
        """Hand the pages over against the reservation, one group's batch at a time; the old
        groups keep their charges until all have moved (up to 8 of them; a ninth at once)."""
        e = None
        olds = {}
        while ctx.isolated:
            e = yield from self.resched("move", ctx.nr_moved)
            if e:
                break
            pages, old = self.take_batch(ctx.isolated)
            del ctx.isolated[:len(pages)]
            ctx.moved += pages
            moved = 0
            if old is not None and old is not ctx.to:
                moved = self.move_batch(pages, old, ctx.to)
            ctx.nr_skipped += len(pages) - moved
            if not moved:
                continue
            ctx.precharge -= moved
            ctx.nr_moved += moved
            if old in olds or len(olds) < 8:
                olds[old] = olds.get(old, 0) + moved
            else:
                self.res_uncharge(old, moved)
        for g, k in olds.items():
            self.res_uncharge(g, k)
        self.cancel_reserve_ctx(ctx)
        return e

    # half
    def can_attach_half(self, res, t, src, dst, state):
        return
        yield

    cancel_half = can_attach_half

    def attach_half(self, res, t, src, dst, state):
        ctx = self.begin(t, dst)
        try:
            e = yield from self.isolate_targets(ctx)
            if e:
                raise e
            ret = yield from self.half_move(ctx)
            hook_error = ret if not isinstance(ret, OSError) else None
            self.record(res, ctx)
            res.outcome = "half-moved" if ret is not None else "moved"
            self.putback_ctx(ctx)
            e = yield from self.resched("putback", ctx.nr_moved)
            if e:
                raise e
            if hook_error is not None:
                raise hook_error
        finally:
            self.end(ctx)

    def half_move(self, ctx):
        """One group's batch at a time: charged at once if it fits without reclaim, else page
        by page with reclaim, stopping at the first page that does not fit."""
        while ctx.isolated:
            e = yield from self.resched("move", ctx.nr_moved)
            if e:
                return e
            pages, old = self.take_batch(ctx.isolated)
            n = len(pages)
            if old is None or old is ctx.to:
                del ctx.isolated[:n]
                ctx.moved += pages
                ctx.nr_skipped += n
                continue
            if self.res_charge(ctx.to, n) is None:
                del ctx.isolated[:n]
                ctx.moved += pages
                moved = self.move_batch(pages, old, ctx.to)
                self.res_uncharge(old, moved)
                if moved < n:
                    self.res_uncharge(ctx.to, n - moved)
                ctx.nr_moved += moved
                ctx.nr_skipped += n - moved
                continue
            for page in pages:
                if not self.try_charge(ctx.to, 1, reclaim=True):
                    return err(errno.ENOMEM, "destination full")
                ctx.isolated.remove(page)
                ctx.moved.append(page)
                if not self.move_account(page, old, ctx.to, True):
                    self.res_uncharge(ctx.to, 1)
                    ctx.nr_skipped += 1
                    continue
                ctx.nr_moved += 1
        return None

    # lazy and lazy-move
    def can_attach_lazy(self, res, t, src, dst, state):
        return
        yield

    cancel_lazy = can_attach_lazy_move = cancel_lazy_move = can_attach_lazy

    def attach_lazy(self, res, t, src, dst, state, recharge=False):
        ctx = self.begin(t, dst)
        try:
            e = yield from self.isolate_targets(ctx)
            if e:
                raise e
            for page in ctx.isolated:
                old = page.memcg
                wrong = old is not None and old is not ctx.to
                if old is not None:
                    if page.wrong != wrong:
                        old.stat["wrong"] += 1 if wrong else -1
                    page.wrong = wrong
                    page.recharge = wrong and recharge
                if wrong:
                    ctx.nr_moved += 1
                else:
                    ctx.nr_skipped += 1
                page.isolated = False
                if wrong:                       # deactivated (rotate_reclaimable_page())
                    page.active = False
                self.lru_add(page)
                if wrong:                       # to the reclaim end of its list
                    page.lru.remove(page)
                    page.lru.insert(0, page)
            ctx.isolated = []
            res.pages_marked = ctx.nr_moved
        finally:
            self.end(ctx)

    def attach_lazy_move(self, res, t, src, dst, state):
        yield from self.attach_lazy(res, t, src, dst, state, recharge=True)

    # upstream
    def mc_target(self, ctx, v, addr, moving=False):
        """get_mctgt_type(): the page one PTE offers to the count (or, ``moving``, the move), if
        it is charged to ``from``.  6.1: when moving, page cache behind an empty PTE that some
        other PTE maps is skipped (it could unmap during the move).  Behind a swap PTE (bit
        0): the swap-cache page if it is charged to ``from``, else the slot if its record
        names ``from``."""
        pte = ctx.mm.ptes.get(addr)
        if pte is not None and pte.slot is not None:
            if not ctx.move_type & 1:
                return None
            page = pte.slot.cache
            if page is not None and page.memcg is ctx.frm:
                return page
            return pte.slot if pte.slot.memcg is ctx.frm else None
        if pte is not None:
            page = pte.page
            if page is None:
                return None
            if page.kind == "anon":
                if not ctx.move_type & 1:
                    return None
            elif not ctx.move_type & 2:
                return None
        else:
            if v.file is None or not ctx.move_type & 2:
                return None
            page = v.file.slots.get(v.pgoff + (addr - v.start) // PAGE)
            if moving and page is not None and page.maps:
                return None
        if page is None or (page.compound or page).memcg is not ctx.frm:
            return None         # a frame of a huge page is charged as the huge page
        return page

    def do_precharge(self, ctx, count):
        if self.try_charge(ctx.to, count, reclaim=False):
            ctx.precharge += count
            return None
        for _ in range(count):
            if not self.try_charge(ctx.to, 1, reclaim=True, noretry=True):
                return err(errno.ENOMEM, "precharge failed")
            ctx.precharge += 1
            if ctx.precharge % PTRS == 0:
                e = yield from self.resched("precharge", ctx.precharge)
                if e:
                    return e
        return None

    def can_attach_upstream(self, res, t, src, dst, state):
        if not dst.move_charge:
            return
        ctx = self.begin(t, dst)
        try:
            if ctx.mm is not None:
                ctx.move_type = dst.move_charge
                self.mc = ctx
                count, e = 0, None
                ctx.mm.readers += 1             # the count walks under mmap_lock
                for v in list(ctx.mm.vmas):
                    for lo, hi in chunks(v.start, v.end):
                        if lo >> 21 not in ctx.mm.tables:
                            continue
                        huge = ctx.mm.huge.get(lo >> 21)
                        if huge is not None:            # get_mctgt_type_thp(): 512 pages
                            count += PTRS if self.mc_huge_target(ctx, huge.page) else 0
                        else:
                            count += sum(1 for a in range(lo, hi, PAGE) if self.mc_target(ctx, v, a))
                        e = yield from self.resched("walk", count)
                        if e:
                            break
                    if e:
                        break
                ctx.mm.readers -= 1
                if e:
                    count = 0
                ctx.nr_isolated = count
                ret = yield from self.do_precharge(ctx, count)
                if ret:
                    self.clear_mc(ctx)
                    raise ret
                if e:
                    raise e
        except BaseException:
            self.end(ctx)
            raise
        state.ctx = ctx

    def clear_mc(self, ctx):
        if ctx.precharge:
            self.res_uncharge(ctx.to, ctx.precharge)
            ctx.precharge = 0
        if ctx.moved_charge:
            self.res_uncharge(ctx.frm, ctx.moved_charge)
            ctx.moved_charge = 0
        n = ctx.moved_swap - ctx.swap_settled
        if n:
            # the precharge put the moved swap entries on to's memory counter: only to's
            # memory+swap keeps them, and from's memory+swap lets them go
            for c in ctx.to.chain():
                c.usage -= n * PAGE
                c.swapx += n
            for c in ctx.frm.chain():
                c.swapx -= n
            ctx.swap_settled = ctx.moved_swap
        self.mc_wakeups += 1

    def cancel_upstream(self, res, t, src, dst, state):
        ctx, state.ctx = state.ctx, None
        if ctx is not None:
            self.clear_mc(ctx)
            self.end(ctx)
        return
        yield

    def attach_upstream(self, res, t, src, dst, state):
        ctx, state.ctx = state.ctx, None
        if ctx is None:
            return
        try:
            ret = None
            if ctx.mm is not None and ctx.move_type:
                ret = yield from self.move_charge(ctx)
            self.clear_mc(ctx)
            self.record(res, ctx)
            if ret is not None and not isinstance(ret, OSError):
                raise ret
            if ret is not None:
                res.outcome = "half-moved"
        finally:
            self.end(ctx)

    def move_charge(self, ctx):
        """The move walk: each PTE table's targets move as a batch while the precharge lasts;
        when it runs out with addresses left, charge one more page or stop (partial move)."""
        self.lru_add_drain_all()                # batched pages are on no list
        # mc_mmap_read_lock(), 2.6.35 on: the trylock fails while a writer holds the mmap_lock
        # or waits for it (it may be a charger waiting for this move): give the precharge
        # back, wake the waiters, cond_resched() and try again
        while ctx.mm.writer or ctx.mm.writers_waiting:
            self.clear_mc(ctx)
            ret = yield from self.resched("move", ctx.moved_charge + ctx.moved_swap)
            if ret is not None:
                ctx.nr_moved = ctx.moved_charge
                return ret
        ctx.mm.readers += 1
        try:
            return (yield from self.move_charge_locked(ctx))
        finally:
            ctx.mm.readers -= 1

    def move_charge_locked(self, ctx):
        ret = None
        for v in list(ctx.mm.vmas):
            for lo, hi in chunks(v.start, v.end):
                if lo >> 21 not in ctx.mm.tables:
                    continue
                huge = ctx.mm.huge.get(lo >> 21)
                if huge is not None:
                    # moved whole, or skipped when the precharge left is smaller
                    if ctx.precharge >= PTRS and self.mc_huge_target(ctx, huge.page):
                        self.mc_move_pages(ctx, [huge.page])
                    ret = yield from self.resched("move", ctx.moved_charge + ctx.moved_swap)
                    if ret is not None:
                        break
                    continue
                addr = lo
                while True:
                    batch = []
                    while addr != hi and ctx.precharge > len(batch):
                        target = self.mc_target(ctx, v, addr, moving=True)
                        if isinstance(target, Slot):        # mem_cgroup_move_swap_account()
                            target.memcg = ctx.to
                            ctx.frm.stat["swap"] -= 1
                            ctx.to.stat["swap"] += 1
                            ctx.precharge -= 1
                            ctx.moved_swap += 1
                        elif target is not None and target.compound is None:
                            batch.append(target)    # part of a split PMD stays with its head
                        addr += PAGE
                    if batch:
                        self.mc_move_pages(ctx, batch)
                    if addr != hi:
                        ret = yield from self.do_precharge(ctx, 1)
                        if ret is None:
                            continue
                    break
                if ret is None:
                    ret = yield from self.resched("move", ctx.moved_charge + ctx.moved_swap)
                if ret is not None:
                    break
            if ret is not None:
                break
        ctx.nr_moved = ctx.moved_charge
        return ret

    @staticmethod
    def mc_huge_target(ctx, page):
        """get_mctgt_type_thp(): an anon huge page of the old group is a target with bit 0."""
        return ctx.move_type & 1 and page.memcg is ctx.frm

    def mc_move_pages(self, ctx, batch):
        taken = [p for p in batch if p.lru is not None]
        for page in taken:
            self.lru_del(page)
        moved = sum(page.nr for page in taken if self.move_account(page, ctx.frm, ctx.to, False))
        for page in taken:
            self.lru_add(page)
        ctx.precharge -= moved
        ctx.moved_charge += moved

    # ---- reading ----
    def stat_view(self, g):
        """The memory.stat lines the tests compare (local values, bytes or events)."""
        s = g.stat
        lists = {name: self.lru_pages(g.lru[name]) * PAGE for name in LRU_NAMES}
        if self.v34:        # mem_control_stat_show(), 3.4: no rss_huge, no shmem yet
            return {"cache": s["cache"] * PAGE, "rss": s["rss"] * PAGE, "mapped_file": s["mapped_file"] * PAGE,
                    "swap": s["swap"] * PAGE, "pgpgin": s["pgpgin"], "pgpgout": s["pgpgout"], **lists}
        if self.v2626:      # mem_control_stat_show(): the lists count the batched pages (at charge)
            batched = [p.active for p in self.batched_pages() if p.memcg is g]
            active = sum(batched) + sum(len(g.lru[n]) for n in (ACTIVE_ANON, ACTIVE_FILE, UNEVICTABLE))
            inactive = len(batched) - sum(batched) + len(g.lru[ANON_LRU]) + len(g.lru[FILE_LRU])
            return {"cache": s["cache"] * PAGE, "rss": s["rss"] * PAGE, "pgpgin": s["pgpgin"],
                    "pgpgout": s["pgpgout"], "active": active * PAGE, "inactive": inactive * PAGE}
        return {
            "cache": s["cache"] * PAGE, "rss": s["rss"] * PAGE, "shmem": s["shmem"] * PAGE,
            "mapped_file": s["mapped_file"] * PAGE, "swap": s["swap"] * PAGE, "pgpgin": s["pgpgin"],
            "pgpgout": s["pgpgout"], "rss_huge": s["rss_huge"] * PAGE, **lists,
        }

    def lru_pages(self, lst):
        return sum(p.nr for p in lst) if self.thp else len(lst)

    def show_limit(self, g):
        if self.kernel != "6.1":        # res_counter: RESOURCE_MAX is LLONG_MAX
            return min(g.limit, (1 << 63) - 1)
        return min(g.limit, PAGE_COUNTER_MAX_BYTES)

    def charged_pages(self, g):
        """Pages charged to ``g`` itself, page tables included (what its usage is made of
        outside a move)."""
        return g.stat["cache"] + g.stat["rss"] - g.stat["swapcache"] + g.kmem

    def wrong_pages_owned_by(self, g):
        """Lazy pages charged elsewhere whose task is now in ``g``: its tasks' use beyond usage."""
        if not any(h.stat["wrong"] for h in self.all_groups):
            return 0                # no lazy page anywhere (the common case): no list walk
        n = 0
        for h in self.all_groups:
            for lst in h.lru.values():
                for page in lst:
                    if page.wrong and self.owner_group(page) is g:
                        n += 1
        return n
