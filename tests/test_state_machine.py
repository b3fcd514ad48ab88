"""The emulator and the reference model (tests/model.py), driven side by side.

A RuleBasedStateMachine makes and removes groups, writes limits (below usage
too), move_charge_at_immigrate, cpuset.cpus and resets; spawns, forks, execs
and ends tasks; maps anon, shm and file memory (shared and private), touches,
mlocks and unmaps ranges of it, writes files; puts groups under reclaim
pressure; runs groups out of memory with chosen oom_score_adj values; and
moves tasks under every policy and every mask, with interference at chosen
cond_resched() points of the move (other tasks charging or freeing in the old
or new group, reclaim, limit writes, the hook raising), between groups whose
limits are set just around what the move needs, after an earlier move left
the task's charges in a third group, or refused by a later subsystem.

Each run draws its machine (``VARIANTS``): 4 KiB pages only; swap (1024 slots:
reclaim swaps anon pages out, a touch swaps them in, ``swap_move_refault``
swaps a whole group out, moves its task and faults everything back) with page
tables charged as kmem; or transparent huge pages, split by fork's COW, partial
munmaps, mlock and the RFD's walks (``huge_split`` splits one and then reclaims
its group down to the deferred split, or moves its task under upstream); or
kernel 2.6.26, the seed's base, with no limits (the ``modern`` rules left out):
no hierarchy and no charge stock, an LRU add batch per list that memory.stat
counts at charge, new anon pages active, anon pages uncharged at their last
unmap, force_empty and rmdir dropping charges that a page's next first mapping
takes again, and moves under the seed or none; or kernel 3.4 with the swap device,
no limits either and moves under none only: a charge stock of 32 for single
pages, no hierarchy, an LRU add batch per list, anon pages uncharged at their last
unmap unless in the swap cache, then as they leave it, swap-cache pages not
counted in cache, force_empty and rmdir handing what is left to the parent, and
reclaim only of a whole group whose anon pages all find a slot (``swap_fits``).
Every machine has two CPUs (``CPUS``): tasks are placed round-robin within
their cpuset (cpuset.cpus writes move them), each CPU charges through its own
stock and LRU add batch, and ``move_forking`` forks a task on the other CPU in
the middle of a move, where it sleeps on the move's cgroup_mutex, and
``move_past_a_writer`` has two threads of the moving task there hold up its
mmap_lock (a fault sleeping on mc.waitq, an mlock waiting to write) until the
move's trylock has failed and woken them a few times.  A task's
program has kernel objects (kmem) that exec charges and each fork again.
A 6.1 run starts with steps where some rules show at once
(``setup_steps``): reclaim of page cache another group's task maps, an
rmdir whose pages keep their age order in the parent, a fork of a program
with kernel objects and an OOM kill that oom_score_adj decides, a seed move
rolled back over pages it had recharged in place (thp runs: huge pages split
three ways instead), and (4 KiB runs) a seed move that leaks and a move past
a writer.

The rules that make the rare states likely (``move_squeezed``, ``move_tight``,
``move_on``, ``oom``, a move's ``refuse``) are there so that the derandomized
``ci`` profile reaches them: tools/mutate.py checks that it kills every
mutant in tools/mutants.toml.  After every step, and at every cond_resched() point of a move:
check() passes and every group's usage, max_usage, failcnt, limit, cache,
rss, shmem, mapped_file, pgpgin/pgpgout, LRU sizes, wrong_charge and leaked
bytes and tasks equal the model's.

Each policy's documented cost is asserted as a bound as well (see
``bounds_in_move`` and ``bounds_after_move``): reserve's double counting is at
most the task's target set and ends with the move, lazy exceeds a limit by at
most WRONG_CHARGE bytes, half leaves exactly the unmoved pages behind, seed
leaks only when a move is refused, exactly the pages that could not go back.

Explicit regression tests pin what the search found (end of file).
"""
import errno
import itertools

import hypothesis_profiles  # noqa: F401  (registers and loads the profile)
import pytest
from hypothesis import event as _event, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from memcg_emu import Machine, ProcessImage
from model import PAGE, PAGEVEC_SIZE, Model, ModelOOM

RAM = "256M"
PATHS = ("A", "B", "A/C", "B/D", "A/C/E")
ALL_PATHS = ("",) + PATHS
POLICIES = ("none", "seed", "reserve", "half", "lazy", "lazy-move", "upstream")
POLICY = st.sampled_from(POLICIES + ("seed", "upstream", "half"))
FILES = ("/f0", "/f1")
MAX_TASKS = 6
MAX_VMAS = 4
SIZES = st.sampled_from([1, 2, 3, 5, 8, 13, 20, 33, 64, 100, 300, 515, 1030])
LIMITS = st.sampled_from([0, 1, 2, 5, 8, 16, 30, 64, 100, 200, 600, 1100, 3000, None])
ADJ = st.sampled_from([-1000, -1000, -1000, 0, 500])
SETUP_LIMITS = st.sampled_from([100, 40, 600, 1100, 3000, 8, 0, None])    # simplest first: limited
SEL = st.integers(0, 1 << 16)
KOBJS = st.sampled_from([6, 0, 1])
CPUS = 2
CPUSETS = {"0": {0}, "1": {1}, "0-1": {0, 1}, "": set()}     # cpuset.cpus as written, as a set
SWAPPINESS = st.sampled_from([200, 0, 1, 100, 60, 150])
PMD_PAGES = 512                 # the pages of a huge page
# The machines a run drives, (swap, kmem, thp, kernel): 6.1 with 4 KiB pages only, as the
# model's first rules had them; a swap device of 1024 slots with page tables charged as kernel
# memory (the model does not swap shmem: that run maps none); transparent huge pages "always"
# (the moves under the policies of THP_POLICIES only); or 2.6.26, the seed's base kernel, with
# no limits (the rules of ``modern`` left out) and the policies of OLD_POLICIES only; or 3.4 with
# the swap device, no limits either, and moves under none only
VARIANTS = {"4k": ("0", False, "never", "6.1"), "swap": ("4M", True, "never", "6.1"),
            "thp": ("0", False, "always", "6.1"), "2.6.26": ("0", False, "never", "2.6.26"),
            "3.4": ("4M", False, "never", "3.4")}
# the policies a thp run moves under: lazy's WRONG_CHARGE pages make reclaim scan the anon lists,
# and the model does not reclaim (split at reclaim) huge pages; the seed's rollback is left out too
THP_POLICIES = ("none", "upstream", "reserve", "half")
OLD_POLICIES = ("none", "seed")
# the rules a 2.6.26 or 3.4 run leaves out: limits and what needs them (reclaim but of a whole
# group, OOM), files 2.6.26 does not have, mlock (no unevictable list in 2.6.26), and
# interference in a move
modern = precondition(lambda self: self.model.kernel == "6.1")


def event(text):
    """hypothesis.event(), and nothing when a regression test replays the machine by hand."""
    try:
        _event(text)
    except Exception:
        pass


class HookAbort(Exception):
    """What an interfering on_resched hook raises to fail the move at that point."""


def stat_of(m, cg):
    return {k: int(v) for k, v in (line.split() for line in m.read(cg, "memory.stat").splitlines())}


def outcome(fn, *args, **kw):
    """(result, exception) of a call: exceptions the API documents are values here."""
    try:
        return fn(*args, **kw), None
    except (OSError, ValueError, HookAbort) as e:
        return None, e


def same_error(e_emu, e_model, what):
    assert (e_emu is None) == (e_model is None), f"{what}: emulator {e_emu!r}, model {e_model!r}"
    if e_emu is None:
        return
    assert type(e_emu) is type(e_model) or (isinstance(e_emu, OSError) and isinstance(e_model, OSError)), \
        f"{what}: emulator {e_emu!r}, model {e_model!r}"
    if isinstance(e_emu, OSError):
        assert e_emu.errno == e_model.errno, f"{what}: emulator {e_emu!r}, model {e_model!r}"
        victim = getattr(e_emu, "victim", 0)
        assert victim == getattr(e_model, "victim", 0), f"{what}: OOM victim {victim} vs model {e_model!r}"


def range_of(v, lo, hi):
    """A page range inside VMA ``v`` from two selectors."""
    pages = (v.end - v.start) // PAGE
    a, b = sorted((lo % pages, hi % pages))
    return v.start + a * PAGE, (b - a + 1) * PAGE


class MemcgMachine(RuleBasedStateMachine):
    """One emulated machine and its model; every rule does the same to both."""

    def __init__(self):
        super().__init__()
        self.m = self.model = None      # made by setup(), for the variant it draws
        self.failcnt = {}
        self.rare = 0           # rare move outcomes seen: what targeted search climbs towards
        self.hook = None
        self.works = []         # work on the other CPU in a move: (emulator's, model's)

    def make(self, variant):
        self.variant = variant
        swap, kmem, thp, kernel = VARIANTS[variant]
        self.m = Machine(ram=RAM, swap=swap, policy="none", kernel=kernel, thp=thp, kmem=kmem, cpus=CPUS)
        self.model = Model(self.m.ram_pages, self.m.swap_pages, kmem, thp == "always", CPUS, kernel)
        self.m.on_resched(self._on_resched)

    # ---- comparing ----
    def compare(self, where, check=True):
        m, md = self.m, self.model
        for path, g in md.groups.items():
            got = {
                "usage": int(m.read(path, "memory.usage_in_bytes")),
                "max_usage": int(m.read(path, "memory.max_usage_in_bytes")),
                "failcnt": int(m.read(path, "memory.failcnt")),
                "limit": int(m.read(path, "memory.limit_in_bytes")),
                "kmem": int(m.read(path, "memory.kmem.usage_in_bytes")),
                "wrong": int(m.read(path, "memcg_emu.wrong_charge_bytes")),
                "leaked": int(m.read(path, "memcg_emu.leaked_bytes")),
                "tasks": [int(p) for p in m.read(path, "tasks").split()],
            }
            stat = stat_of(m, path)
            want = {
                "usage": g.usage, "max_usage": g.max_usage, "failcnt": g.failcnt,
                "kmem": sum(h.kmem for h in md.groups.values() if h.under(g)) * PAGE,
                "limit": md.show_limit(g), "wrong": g.stat["wrong"] * PAGE,
                "leaked": g.stat["leaked"] * PAGE, "tasks": [t.pid for t in md.live_tasks(g)],
            }
            if not md.v2626:        # memory+swap accounting came in 2.6.29
                got["memsw"] = int(m.read(path, "memory.memsw.usage_in_bytes"))
                want["memsw"] = g.usage + g.swapx * PAGE
            view = md.stat_view(g)
            got.update({k: stat[k] for k in view})
            want.update(view)
            if got != want:
                diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
                raise AssertionError(f"{where}: group {path!r} differs (emulator, model): {diff}")
        for pid, t in md.tasks.items():
            cg, e = outcome(m.cgroup_of, pid)
            if t.dead:
                assert e is not None and e.errno == errno.ESRCH, f"{where}: task {pid} should be gone"
            else:
                assert e is None and cg == t.group.path, f"{where}: task {pid} in {cg!r}/{e}, model {t.group.path!r}"
                assert m.cpu_of(pid) == t.cpu, f"{where}: task {pid} on CPU {m.cpu_of(pid)}, model {t.cpu}"
        if check and not self.works:        # check() wants no other thread in the machine
            m.check()

    def both(self, what, emu, model):
        """Run the same call on both; errors must agree; returns the emulator's result."""
        r1, e1 = outcome(emu)
        r2, e2 = outcome(model)
        same_error(e1, e2, what)
        return r1, r2

    # ---- picking ----
    def tasks(self):
        return self.model.live_tasks()

    def pick_task(self, sel, exclude=None):
        ts = [t for t in self.tasks() if t.pid != exclude]
        return ts[sel % len(ts)] if ts else None

    def pick_mover(self, sel):
        """Half the time the task with the most resident pages (a move with something to move)."""
        if sel % 2:
            return self.pick_task(sel // 2)
        return max(self.tasks(), key=lambda t: (t.mm.rss(), -t.pid))

    @staticmethod
    def movable(t):
        """The task's present anon pages no other mm maps: what every policy may move."""
        return sum(1 for p in t.mm.ptes.values() if p.page is not None and p.page.kind == "anon" and len(p.page.maps) == 1)

    def pick_vma(self, t, sel):
        return t.mm.vmas[sel % len(t.mm.vmas)] if t.mm.vmas else None

    # ---- setup ----
    @initialize(groups=st.lists(st.sampled_from(PATHS[2:]), max_size=2), a_limit=SETUP_LIMITS, b_limit=SETUP_LIMITS,
                b_mask=st.sampled_from([0, 1, 2, 3, 3]), size=SIZES, adj=ADJ,
                helper_a=st.sampled_from([0, 8, 40, 300, 600]), helper_b=st.sampled_from([0, 8, 40, 300, 600]),
                variant=st.sampled_from(sorted(VARIANTS)), kobj_pages=KOBJS,
                swappiness=st.sampled_from([60, 0, 200, 100]),
                split=st.tuples(st.sampled_from(["munmap", "fork", "mlock"]), st.sampled_from(["reclaim", "move"]),
                                st.integers(0, PMD_PAGES - 1), st.integers(0, PMD_PAGES - 1)),
                deadlock=st.sampled_from([True, False]))
    def setup(self, groups, a_limit, b_limit, b_mask, size, adj, helper_a, helper_b, variant, kobj_pages,
              swappiness, split, deadlock):
        """The machine of ``variant`` with vm.swappiness ``swappiness`` (the root's, which the
        groups take); A and B (and maybe more), their limits, B's move_charge_at_immigrate, one
        task in A running a program with ``kobj_pages`` of kernel objects and some anon memory.
        A thp run starts with a task in the root whose huge page ``huge_split`` splits as
        ``split`` says (how, then, a, b).  A 2.6.26 run: ``setup_2626``."""
        self.make(variant)
        if self.model.v2626:
            self.setup_2626(groups, size, adj, helper_a, helper_b, kobj_pages, deadlock)
            return
        if self.model.v34:
            self.setup_34(groups, size, adj, helper_a, helper_b)
            return
        self.swappiness(0, swappiness)
        for path in ["A", "B"] + groups:
            self.mkdir(PATHS.index(path))
        self.setup_steps(swappiness)
        if a_limit is not None:
            self.set_limit(1, a_limit * PAGE)
        if b_limit is not None:
            self.set_limit(2, b_limit * PAGE)
        for which, path in enumerate(ALL_PATHS):
            if path in self.model.groups:
                self.move_charge(which, b_mask)
        self.spawn(1, adj)
        self.exec(0, kobj_pages)
        self.mmap(0, "anon", size, 0, False)
        self.touch(0, 0, 0, size - 1, True)
        for which, pages in ((1, helper_a), (2, helper_b)):    # helpers to interfere with
            self.spawn(which, -1000)
            if pages:
                self.mmap(len(self.tasks()) - 1, "anon", pages, 0, False)
        if self.model.thp:
            self.spawn(0, -1000)
            self.huge_split(len(self.tasks()) - 1, *split, which=0, mask=3)

    def run_by(self, path, adj):
        """A new task in ``path`` (``oom_score_adj`` adj): its pid."""
        self.spawn(ALL_PATHS.index(path), adj)
        return self.tasks()[-1].pid

    def setup_steps(self, swappiness):
        """Steps every 6.1 run begins with, each where a wrong rule shows at once (the search
        draws such states too seldom to be sure of them).  Each step's tasks exit, and its
        group goes if the run did not draw it."""
        self.step_foreign_references()
        self.step_rmdir_age_order()
        self.step_oom_score_adj(swappiness)
        if not self.model.thp:
            self.step_seed_rollback_in_place()
        else:
            self.step_huge_splits()
        if self.variant == "4k":
            self.step_seed_leak()
            drawn = self.take_group("A/C")
            w = self.run_by("A/C", -1000)
            self.fault_new(self.model.tasks[w], 8, "A/C")
            self.past_a_writer(self.model.tasks[w], self.model.groups["B"], 8, 1)
            self.exit_pid(w)
            self.drop_group("A/C", drawn)

    def step_foreign_references(self):
        """A task of A maps the oldest 8 pages of B's page cache (64) and reads them, and B is
        reclaimed (SWAP_CLUSTER_MAX pages): folio_referenced() counts no access from another
        group's mm, so those go first."""
        m, md = self.m, self.model
        a, b = self.run_by("A", -1000), self.run_by("B", -1000)
        self.faulting(f"file_write {b}", lambda: m.file_write(b, FILES[1], 64 * PAGE),
                      lambda: md.file_write(b, FILES[1], 64 * PAGE))
        addr, _ = self.both(f"mmap {a}", lambda: m.mmap(a, 8 * PAGE, "file", FILES[1]),
                            lambda: md.mmap(a, 8 * PAGE, "file", FILES[1]))
        self.faulting(f"touch {a}", lambda: m.touch(a, addr, 8 * PAGE, False),
                      lambda: md.touch(a, addr, 8 * PAGE, False))
        self.drain()            # the pages on B's lists, for reclaim to find
        self.reclaim(ALL_PATHS.index("B"), 1)
        self.exit_pid(a)
        self.exit_pid(b)

    def step_rmdir_age_order(self):
        """A task of X/Y (X and X/Y: groups of this step's own) writes 40 pages of /f0 and then
        40 more, and X/Y goes: its pages go to X oldest first, so X's reclaim (32 pages)
        takes the first 40's, and reading those back charges X again.  Then X goes, emptied."""
        m, md = self.m, self.model
        for path in ("X", "X/Y"):
            self.both(f"mkdir {path}", lambda: m.mkdir(path), lambda: md.mkdir(path))
        x, _ = self.both("spawn X/Y", lambda: m.spawn("X/Y"), lambda: md.spawn("X/Y"))
        for pages in (40, 80):
            self.faulting(f"file_write {x}", lambda: m.file_write(x, FILES[0], pages * PAGE),
                          lambda: md.file_write(x, FILES[0], pages * PAGE))
        self.exit_pid(x)
        self.drain()
        self.both("rmdir X/Y", lambda: m.rmdir("X/Y"), lambda: md.rmdir("X/Y"))
        self.reclaim_path("X", 1)
        y, _ = self.both("spawn X", lambda: m.spawn("X"), lambda: md.spawn("X"))
        addr, _ = self.both(f"mmap {y}", lambda: m.mmap(y, 40 * PAGE, "file", FILES[0]),
                            lambda: md.mmap(y, 40 * PAGE, "file", FILES[0]))
        self.faulting(f"touch {y}", lambda: m.touch(y, addr, 40 * PAGE, False),
                      lambda: md.touch(y, addr, 40 * PAGE, False))
        self.compare("X's reclaim, then the oldest pages read back")
        self.exit_pid(y)
        self.both("force_empty X", lambda: m.write("X", "memory.force_empty", "0"),
                  lambda: md.force_empty(md.groups["X"]))
        self.both("rmdir X", lambda: m.rmdir("X"), lambda: md.rmdir("X"))

    def step_oom_score_adj(self, swappiness):
        """In B/D a program with kernel objects forks (the child's mm charges its own) and runs
        out of memory with the child at oom_score_adj 1000: where the adj weighs (a swap device
        of 1024 slots: 1 point per 1/1000 of it), the child is the victim though the parent
        holds more.  memory.swappiness 0 there, so that reclaim does not swap the parent out
        first."""
        md = self.model
        drawn = self.take_group("B/D")
        which = ALL_PATHS.index("B/D")
        self.swappiness(which, 0)
        parent = self.run_by("B/D", 0)
        self.exec(len(self.tasks()) - 1, 6)
        self.fork(len(self.tasks()) - 1, 1000)
        self.fault_new(md.tasks[parent], 64, "B/D")
        self.drain()
        self.set_limit(which, md.groups["B/D"].usage + 8 * PAGE)
        self.fault_new(md.tasks[parent], 16, "oom in 'B/D'")
        for t in md.live_tasks(md.groups["B/D"]):
            self.exit_pid(t.pid)
        if drawn:
            self.swappiness(which, swappiness)
        self.drop_group("B/D", drawn)

    def step_seed_rollback_in_place(self):
        """A task whose first 8 pages are charged to B (it left B under none) and next 8 to A
        moves back to B under the seed, and the hook raises before the second batch: the
        rollback uncounts only the pages that moved (none: B's were recharged in place)."""
        m, md = self.m, self.model
        x = self.run_by("B", -1000)
        addr, _ = self.both(f"mmap {x}", lambda: m.mmap(x, 16 * PAGE), lambda: md.mmap(x, 16 * PAGE, "anon"))
        for half in (0, 1):
            if half:
                self.do_move(x, "A", "none", [])
            self.faulting(f"touch {x}", lambda: m.touch(x, addr + 8 * half * PAGE, 8 * PAGE, True),
                          lambda: md.touch(x, addr + 8 * half * PAGE, 8 * PAGE, True))
        self.drain()
        self.do_move(x, "B", "seed", [(("move", 1), ("raise",))])
        self.exit_pid(x)

    def step_seed_leak(self):
        """A task of A with 8 pages moves to B under the seed, both groups filling behind it
        (``seed_rolled_back``): the rollback leaks the pages it cannot charge back.  B's page
        cache goes first (force_empty), else reclaim would make room there."""
        self.force_empty(ALL_PATHS.index("B"))
        x = self.run_by("A", -1000)
        self.fault_new(self.model.tasks[x], 8, "A")
        self.seed_squeezed_both_ways(self.model.tasks[x], "B", 0)
        for t in self.tasks():
            self.exit_pid(t.pid)
        for path in ("A", "B"):
            self.set_limit(ALL_PATHS.index(path), None)

    def step_huge_splits(self):
        """``huge_split`` three ways, by a task of the root: a fork whose child and then
        parent write into a huge page (the parent may not reuse it: the child's PTEs map it);
        a munmap of one page of a huge page (its frames' PTEs keep it, queued for the
        deferred split) and reclaim (the split frees that page); the same munmap and a move
        under upstream (the PTEs do not move the huge page, which stays with its head)."""
        x = self.run_by("", -1000)
        for how, then, a, b in (("fork", "none", 1, 2), ("munmap", "reclaim", 1, 0), ("munmap", "move", 1, 0)):
            self.huge_split(self.tasks().index(self.model.tasks[x]), how, then, a, b, which=0, mask=3)
        for t in self.tasks():
            self.exit_pid(t.pid)

    def exit_pid(self, pid):
        self.both(f"exit {pid}", lambda: self.m.exit(pid), lambda: self.model.exit(pid))

    def take_group(self, path):
        """Before a setup step in ``path``: the group, made if the run did not draw it; whether
        the run drew it."""
        drawn = path in self.model.groups
        if not drawn:
            self.mkdir(PATHS.index(path))
        return drawn

    def drop_group(self, path, drawn):
        """After a setup step in ``path``: its limit goes if the run drew the group, else the group."""
        if drawn:
            self.set_limit(ALL_PATHS.index(path), None)
        else:
            self.rmdir(PATHS.index(path))

    def setup_2626(self, groups, size, adj, helper_a, helper_b, kobj_pages, deadlock):
        """2.6.26, with no limits, goes through its own rules at once: A and B (and maybe more);
        a task in A touches ``size`` + 1 anon pages (active, in the CPU's LRU add batch) and
        unmaps the last (uncharged at the unmap, while the batch still holds it); a helper in A
        maps anon memory; a helper in B reads file pages in and exits, force_empty drops B's
        charges, and A's task maps the pages (its first mapping charges them); and if
        ``deadlock``, ``seed_deadlock``."""
        for path in ["A", "B"] + groups:
            self.mkdir(PATHS.index(path))
        self.spawn(1, adj)
        self.exec(0, kobj_pages)
        self.mmap(0, "anon", size + 1, 0, False)
        self.touch(0, 0, 0, size, True)
        self.munmap(0, 0, size, size)
        self.compare("setup, the batched page unmapped")
        self.spawn(1, -1000)
        if helper_a:
            self.mmap(1, "anon", helper_a, 0, False)
        self.spawn(2, -1000)
        self.file_write(2, 0, max(helper_b, 8))
        self.exit(2)
        self.force_empty(2)
        self.file_map_unmap(0, 0, 5, False)
        if deadlock:
            self.seed_deadlock(0, 0)

    def setup_34(self, groups, size, adj, helper_a, helper_b):
        """3.4, with no limits: A and B (and maybe more); a task in A writes 8 anon pages,
        A is swapped out whole, the task reads its pages back (they stay in the swap cache,
        charged to A and counted in rss only) and unmaps 4 of them (each keeps its charge at
        the unmap, in the swap cache, and loses it as it leaves the cache) and exits; then a
        task in A with ``size`` anon pages, and helpers in A and B."""
        for path in ["A", "B"] + groups:
            self.mkdir(PATHS.index(path))
        x = self.run_by("A", -1000)
        self.fault_new(self.model.tasks[x], 8, "setup")
        addr = self.model.tasks[x].mm.vmas[-1].start
        self.drain()            # the pages on A's lists, for reclaim to find
        self.swap_out(self.model.groups["A"])
        self.faulting(f"touch {x}", lambda: self.m.touch(x, addr, 8 * PAGE, False),
                      lambda: self.model.touch(x, addr, 8 * PAGE, False))
        self.both(f"munmap {x}", lambda: self.m.munmap(x, addr, 4 * PAGE), lambda: self.model.munmap(x, addr, 4 * PAGE))
        self.compare("setup, swap-cache pages unmapped")
        self.exit_pid(x)
        self.spawn(1, adj)
        self.mmap(0, "anon", size, 0, False)
        self.touch(0, 0, 0, size - 1, True)
        for which, pages in ((1, helper_a), (2, helper_b)):
            self.spawn(which, -1000)
            if pages:
                self.mmap(len(self.tasks()) - 1, "anon", pages, 0, False)

    # ---- the cgroup tree and its files ----
    @rule(which=st.integers(0, len(PATHS) - 1))
    def mkdir(self, which):
        path = PATHS[which]
        self.both(f"mkdir {path}", lambda: self.m.mkdir(path), lambda: self.model.mkdir(path))

    @rule(which=st.integers(0, len(PATHS) - 1))
    def rmdir(self, which):
        path = PATHS[which]
        self.both(f"rmdir {path}", lambda: self.m.rmdir(path), lambda: self.model.rmdir(path))

    def group_or_error(self, path):
        g = self.model.groups.get(path)
        if g is None:
            raise OSError(errno.ENOENT, path)
        return g

    @modern
    @rule(which=st.integers(0, len(ALL_PATHS) - 1), pages=LIMITS)
    def limit(self, which, pages):
        self.set_limit(which, None if pages is None else pages * PAGE + (which * 1000) % PAGE)

    @modern
    @rule(which=st.integers(1, len(ALL_PATHS) - 1), below=st.integers(-3, 40))
    def limit_near_usage(self, which, below):
        g = self.model.groups.get(ALL_PATHS[which])
        if g is not None:
            self.set_limit(which, max(0, g.usage - below * PAGE))

    def set_limit(self, which, value):
        path = ALL_PATHS[which]
        text = "-1" if value is None else (f"{value // 1024}K" if value % 1024 == 0 and value % 3 == 0
                                           else str(value))
        self.both(f"limit {path}={text}", lambda: self.m.write(path, "memory.limit_in_bytes", text),
                  lambda: self.model.write_limit(self.group_or_error(path), value))

    @modern
    @rule(which=st.integers(0, len(ALL_PATHS) - 1), mask=st.integers(0, 3))
    def move_charge(self, which, mask):
        path = ALL_PATHS[which]

        def model():
            self.group_or_error(path).move_charge = mask
        self.both(f"move_charge {path}={mask}",
                  lambda: self.m.write(path, "memory.move_charge_at_immigrate", str(mask)), model)

    @rule(op=st.sampled_from(["cpuset", "fail_next", "reset", "force_empty", "swappiness"]),
          which=st.integers(0, len(ALL_PATHS) - 1), flag=st.booleans(),
          subsys=st.sampled_from(["cpuset", "memory", "devices"]),
          err=st.sampled_from([errno.EPERM, errno.EACCES, errno.EBUSY]), swappiness=SWAPPINESS,
          cpus=st.sampled_from(sorted(CPUSETS)))
    def control(self, op, which, flag, subsys, err, swappiness, cpus):
        """The less used files, one rule: cpuset.cpus, injected refusals, resets, force_empty,
        memory.swappiness (0 to 200: the ends, where one type is not scanned, and between).
        A 3.4 run writes no swappiness (its reclaim is 6.1's only where everything goes),
        and empties a group only where everything can go (``swap_fits``)."""
        if op == "swappiness" and self.model.kernel != "6.1":
            op = "force_empty"          # no memory.swappiness before 2.6.28
        if op == "force_empty" and self.model.v34 and not self.swap_fits(ALL_PATHS[which]):
            return
        if op == "swappiness":
            self.swappiness(which, swappiness)
        elif op == "cpuset":
            self.cpuset(max(which, 1), cpus)
        elif op == "fail_next":
            self.fail_next(subsys, err)
        elif op == "reset":
            self.reset(which, flag)
        else:
            self.force_empty(which)

    def swappiness(self, which, value):
        path = ALL_PATHS[which]
        self.both(f"swappiness {path}={value}", lambda: self.m.write(path, "memory.swappiness", str(value)),
                  lambda: self.model.write_swappiness(self.group_or_error(path), value))

    def cpuset(self, which, cpus):
        path = ALL_PATHS[which]
        self.both(f"cpus {path}={cpus!r}", lambda: self.m.write(path, "cpuset.cpus", cpus),
                  lambda: self.model.write_cpus(self.group_or_error(path), CPUSETS[cpus]))

    @rule()
    def drain(self):
        self.both("drain", self.m.drain, self.model.drain)

    def fail_next(self, subsys, err):
        self.m.fail_next_can_attach(subsys, err)
        self.model.fail_next[subsys] = err

    def reset(self, which, failcnt):
        path = ALL_PATHS[which]
        name = "memory.failcnt" if failcnt else "memory.max_usage_in_bytes"

        def model():
            g = self.group_or_error(path)
            if failcnt:
                g.failcnt = 0
                self.failcnt[g] = 0
            else:
                g.max_usage = g.usage
        self.both(f"reset {name}", lambda: self.m.write(path, name, "0"), model)

    def force_empty(self, which):
        path = ALL_PATHS[which]
        self.both(f"force_empty {path}", lambda: self.m.write(path, "memory.force_empty", "0"),
                  lambda: self.model.force_empty(self.group_or_error(path)))

    @modern
    @rule(which=st.integers(0, len(ALL_PATHS) - 1), pages=SIZES)
    def reclaim(self, which, pages):
        self.reclaim_path(ALL_PATHS[which], pages)

    def reclaim_path(self, path, pages):
        r1, r2 = self.both(f"reclaim {path}", lambda: self.m.reclaim(path, pages * PAGE),
                           lambda: self.model.reclaim(self.group_or_error(path), pages) * PAGE)
        assert r1 == r2, f"reclaim {path}: emulator freed {r1}, model {r2}"

    # ---- tasks ----
    @precondition(lambda self: len(self.tasks()) < MAX_TASKS)
    @rule(which=st.integers(0, len(ALL_PATHS) - 1), adj=ADJ)
    def spawn(self, which, adj):
        path = ALL_PATHS[which]
        r1, r2 = self.both(f"spawn {path}", lambda: self.m.spawn(path), lambda: self.model.spawn(path))
        assert r1 == r2
        if r1 is not None:
            self.adjust(r1, adj)

    def adjust(self, pid, adj):
        self.m.set_oom_score_adj(pid, adj)
        self.model.tasks[pid].adj = adj

    @modern
    @precondition(lambda self: self.tasks())
    @rule(task=SEL, adjs=st.lists(st.sampled_from([0, 500, -500, 1000, -1000]), min_size=1, max_size=MAX_TASKS),
          pages=SIZES, big=st.sampled_from([False, False, False, True]))
    def oom(self, task, adjs, pages, big):
        """A task's group runs out of memory: its tasks' oom_score_adj set from ``adjs``, its limit
        set to its usage -- ``big``: to at least 1024 pages, room the task fills first, so that
        oom_score_adj (per mille of the limit) weighs -- and the task faults ``pages`` new anon
        pages.  The victim must be the model's (oom_badness(): resident pages and swap entries,
        oom_score_adj per mille of the limit and swap, -1000 never)."""
        t = self.pick_task(task)
        for u, adj in zip(self.model.live_tasks(t.group), adjs):
            self.adjust(u.pid, adj)
        room = 0
        if t.group.parent is not None:
            self.drain()    # else the charge stock's pages ahead are room under the new limit
            limit = max(t.group.usage, 1024 * PAGE) if big else t.group.usage
            room = (limit - t.group.usage) // PAGE
            self.set_limit(ALL_PATHS.index(t.group.path), limit)
        self.fault_new(t, pages + room, f"oom in {t.group.path!r}")

    @precondition(lambda self: self.tasks() and self.model.swap_pages)
    @rule(task=SEL, which=SEL, policy=POLICY, write=st.booleans())
    def swap_move_refault(self, task, which, policy, write):
        """Swap a task's group out (reclaim it whole: every anon page that a slot can take goes,
        whatever the order), move the task under ``policy``, and fault all its memory back:
        a swap-in charges the group the slot records (upstream bit 0 moved the record along),
        not the task's."""
        t = self.pick_mover(task)
        if t.group.usage > 2048 * PAGE:     # the model's reclaim is quadratic in a list's length
            return
        if self.model.v34 and not self.swap_fits(t.group.path):
            return
        self.swap_out(t.group)
        self.do_move(t.pid, self.pick_dst(t, which), self.runnable(policy), [])
        if not t.dead:
            for v in list(t.mm.vmas):
                if t.dead:
                    break
                self.faulting(f"refault {t.pid} {v.start:#x}", lambda: self.m.touch(t.pid, v.start, v.end - v.start, write),
                              lambda: self.model.touch(t.pid, v.start, v.end - v.start, write))

    def swap_out(self, g):
        """Reclaim of ``g`` whole, compared at once (before a swap-in could hang on a slot freed
        too early)."""
        self.reclaim_path(g.path, (1 << 40) // PAGE)
        self.compare(f"swapped {g.path!r} out")

    def swap_fits(self, path):
        """Can reclaim take everything of the group at ``path`` (a slot for each anon page not
        in the swap cache yet)?  Then what it frees does not depend on the order it scans in:
        a 3.4 run reclaims only so (the model's reclaim is 6.1's)."""
        g = self.model.groups.get(path)
        pages = itertools.chain(self.model.batched_pages(), *g.lru.values()) if g else ()
        return sum(1 for p in pages if p.memcg is g and p.swapbacked and p.swapcache is None) <= self.model.swap_free

    @precondition(lambda self: self.tasks() and len(self.tasks()) < MAX_TASKS)
    @rule(task=SEL, adj=ADJ)
    def fork(self, task, adj):
        t = self.pick_task(task)
        r1, r2 = self.both(f"fork {t.pid}", lambda: self.m.fork(t.pid), lambda: self.model.fork(t.pid))
        assert r1 == r2
        if r1 is not None:          # a fork whose page tables cannot be charged fails
            self.adjust(r1, adj)

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, kobj_pages=KOBJS)
    def exec(self, task, kobj_pages):
        """execve() of a program whose mm has ``kobj_pages`` of kernel objects besides its page
        tables (kmem: charged at exec, and again at each fork of it)."""
        t = self.pick_task(task)
        image = ProcessImage(kernel_pages=kobj_pages) if kobj_pages else None
        self.both(f"exec {t.pid}", lambda: self.m.exec(t.pid, image), lambda: self.model.exec(t.pid, kobj_pages))

    @precondition(lambda self: self.tasks())
    @rule(task=SEL)
    def exit(self, task):
        self.exit_pid(self.pick_task(task).pid)

    # ---- memory ----
    @precondition(lambda self: self.tasks())
    @rule(task=SEL, kind=st.sampled_from(["anon", "anon", "file", "shm"]), pages=SIZES,
          file=st.integers(0, len(FILES) - 1), private=st.booleans())
    def mmap(self, task, kind, pages, file, private):
        t = self.pick_task(task)
        if len(t.mm.vmas) >= MAX_VMAS:
            return
        if kind == "shm" and self.model.swap_pages:
            kind = "anon"
        path = FILES[file] if kind == "file" else None
        private = private if kind == "file" else False
        r1, r2 = self.both(f"mmap {t.pid}", lambda: self.m.mmap(t.pid, pages * PAGE, kind, path, private),
                           lambda: self.model.mmap(t.pid, pages * PAGE, kind, path, private))
        assert r1 == r2, f"mmap at {r1:#x}, model {r2:#x}"

    def faulting(self, what, emu, model):
        """A call that may fault: an OOMKilled must name the model's victim."""
        _, e = outcome(emu)
        r2, e2 = outcome(model)
        same_error(e, e2, what)
        if e is not None:
            event(f"fault: {type(e).__name__} {errno.errorcode.get(e.errno, e.errno)}"
                  f"{' victim' if getattr(e, 'victim', 0) else ''}")

    def fault_new(self, t, pages, what):
        """Task ``t`` maps ``pages`` new anon pages and writes them all."""
        r1, r2 = self.both(f"{what}: mmap {t.pid}", lambda: self.m.mmap(t.pid, pages * PAGE),
                           lambda: self.model.mmap(t.pid, pages * PAGE, "anon"))
        if r1 is not None:
            assert r1 == r2
            self.faulting(f"{what}: touch {t.pid}", lambda: self.m.touch(t.pid, r1, pages * PAGE, True),
                          lambda: self.model.touch(t.pid, r1, pages * PAGE, True))

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, vma=SEL, lo=SEL, hi=SEL, write=st.booleans())
    def touch(self, task, vma, lo, hi, write):
        t = self.pick_task(task)
        v = self.pick_vma(t, vma)
        if v is None:
            return
        addr, size = range_of(v, lo, hi)
        self.faulting(f"touch {t.pid} {addr:#x}+{size}", lambda: self.m.touch(t.pid, addr, size, write),
                      lambda: self.model.touch(t.pid, addr, size, write))

    @modern
    @precondition(lambda self: self.tasks())
    @rule(task=SEL, vma=SEL, lo=SEL, hi=SEL)
    def mlock(self, task, vma, lo, hi):
        t = self.pick_task(task)
        v = self.pick_vma(t, vma)
        if v is None:
            return
        addr, size = range_of(v, lo, hi)
        self.faulting(f"mlock {t.pid} {addr:#x}+{size}", lambda: self.m.mlock(t.pid, addr, size),
                      lambda: self.model.mlock(t.pid, addr, size))

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, vma=SEL, lo=SEL, hi=SEL)
    def munmap(self, task, vma, lo, hi):
        t = self.pick_task(task)
        v = self.pick_vma(t, vma)
        if v is None:
            return
        addr, size = range_of(v, lo, hi)
        self.both(f"munmap {t.pid} {addr:#x}+{size}", lambda: self.m.munmap(t.pid, addr, size),
                  lambda: self.model.munmap(t.pid, addr, size))

    @precondition(lambda self: self.tasks() and self.model.thp)
    @rule(task=SEL, how=st.sampled_from(["fork", "munmap", "mlock"]), then=st.sampled_from(["reclaim", "move", "none"]),
          a=st.integers(0, PMD_PAGES - 1), b=st.integers(0, PMD_PAGES - 1), which=SEL, mask=st.sampled_from([1, 3]))
    def huge_split(self, task, how, then, a, b, which, mask):
        """A task writes 4 MiB (a huge page at least, where its group has the room) and the huge
        page is split: ``fork``: a child writes page ``a`` of it (its PMD splits, a 4 KiB copy),
        then the parent writes page ``b`` (its PMD is not reused: the child's PTEs hold the huge
        page); ``munmap``: page ``a`` is unmapped (the frame queued for a deferred split);
        ``mlock``: page ``a`` is mlocked (split_huge_page() at once).  Then ``reclaim``: the
        task's group is reclaimed down to priority 0 (deferred_split_scan() frees the frames
        no PTE maps); or ``move``: the task moves under upstream with ``mask`` to a group
        without a limit (part of a split PMD stays with its head)."""
        t = self.pick_task(task)
        if len(t.mm.vmas) >= MAX_VMAS:
            return
        pages = 2 * PMD_PAGES
        r1, r2 = self.both(f"huge_split: mmap {t.pid}", lambda: self.m.mmap(t.pid, pages * PAGE),
                           lambda: self.model.mmap(t.pid, pages * PAGE, "anon"))
        assert r1 == r2
        self.faulting(f"huge_split: touch {t.pid}", lambda: self.m.touch(t.pid, r1, pages * PAGE, True),
                      lambda: self.model.touch(t.pid, r1, pages * PAGE, True))
        huge = (r1 + PMD_PAGES * PAGE - 1) & ~(PMD_PAGES * PAGE - 1)
        if t.dead:
            return
        if how == "fork" and len(self.tasks()) < MAX_TASKS:
            c, _ = self.both(f"fork {t.pid}", lambda: self.m.fork(t.pid), lambda: self.model.fork(t.pid))
            for pid, page in ((c, a), (t.pid, b)):
                if pid is not None and not self.model.tasks[pid].dead:
                    self.faulting(f"huge_split: write {pid}", lambda: self.m.touch(pid, huge + page * PAGE, PAGE, True),
                                  lambda: self.model.touch(pid, huge + page * PAGE, PAGE, True))
        elif how == "munmap":
            self.both(f"huge_split: munmap {t.pid}", lambda: self.m.munmap(t.pid, huge + a * PAGE, PAGE),
                      lambda: self.model.munmap(t.pid, huge + a * PAGE, PAGE))
        elif how == "mlock":
            self.faulting(f"huge_split: mlock {t.pid}", lambda: self.m.mlock(t.pid, huge + a * PAGE, PAGE),
                          lambda: self.model.mlock(t.pid, huge + a * PAGE, PAGE))
        if t.dead:
            return
        if then == "reclaim":
            self.reclaim(ALL_PATHS.index(t.group.path), 1 << 12)
        elif then == "move":
            path = self.pick_dst(t, which)
            if path in self.model.groups:       # with room for what the walk counts
                self.move_charge(ALL_PATHS.index(path), mask)
                self.set_limit(ALL_PATHS.index(path), None)
            self.do_move(t.pid, path, "upstream", [])

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, file=st.integers(0, len(FILES) - 1), pages=st.sampled_from([1, 5, 33, 100]),
          write=st.booleans())
    def file_map_unmap(self, task, file, pages, write):
        """A shared file mapping faulted in whole and unmapped again: the page cache stays
        charged to the group that read it in (only mapped_file drops)."""
        t = self.pick_task(task)
        path = FILES[file]
        r1, r2 = self.both(f"mmap {t.pid} {path}", lambda: self.m.mmap(t.pid, pages * PAGE, "file", path),
                           lambda: self.model.mmap(t.pid, pages * PAGE, "file", path))
        if r1 is None:
            return
        assert r1 == r2
        self.faulting(f"touch {t.pid} {path}", lambda: self.m.touch(t.pid, r1, pages * PAGE, write),
                      lambda: self.model.touch(t.pid, r1, pages * PAGE, write))
        if not t.dead:
            self.both(f"munmap {t.pid} {path}", lambda: self.m.munmap(t.pid, r1, pages * PAGE),
                      lambda: self.model.munmap(t.pid, r1, pages * PAGE))

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, file=st.integers(0, len(FILES) - 1), pages=SIZES)
    def file_write(self, task, file, pages):
        t = self.pick_task(task)
        path = FILES[file]
        self.faulting(f"file_write {t.pid} {path}", lambda: self.m.file_write(t.pid, path, pages * PAGE),
                      lambda: self.model.file_write(t.pid, path, pages * PAGE))

    # ---- moves ----
    # Hypothesis prefers the first choices: the first ones here are the most interesting
    ROLE = st.sampled_from(["dst", "src", "any"])
    FILL = st.tuples(st.just("fill"), ROLE, SEL)
    LIMIT = st.tuples(st.just("limit"), ROLE, LIMITS)
    SQUEEZE = st.tuples(st.just("squeeze"), ROLE, SEL)
    ACTION = st.one_of(
        SQUEEZE, FILL, LIMIT,
        st.tuples(st.just("touch"), ROLE, SEL, SEL, SEL, SEL, st.booleans()),
        st.tuples(st.just("file_write"), ROLE, SEL, st.integers(0, len(FILES) - 1), SIZES),
        st.tuples(st.just("munmap"), ROLE, SEL, SEL, SEL, SEL),
        st.tuples(st.just("exit"), ROLE, SEL),
        st.tuples(st.just("reclaim"), ROLE, SIZES),
        st.tuples(st.just("limit"), ROLE, LIMITS),
        st.tuples(st.just("raise")),
        st.tuples(st.just("fork"), ROLE, SEL),
    )
    # when: the n-th cond_resched() of a phase of the move
    WHEN = st.tuples(st.sampled_from(["move", "rollback", "walk", "putback", "room", "precharge"]),
                     st.integers(0, 2))

    # Interleavings worth trying at every state: another task fills the new or the old group
    # ("squeeze") at a point of the move, or at two points.  The search finds where they bite.
    RECIPES = [
        [(("move", 0), "dst")],
        [(("move", 1), "dst")],
        [(("move", 0), "dst"), (("rollback", 0), "src")],
        [(("move", 1), "dst"), (("move", 1), "src")],
        [(("move", 1), "dst"), (("rollback", 0), "src")],
        [(("move", 0), "src")],
        [(("walk", 0), "dst")],
        [(("walk", 0), "src")],
        [(("room", 0), "dst")],
        [(("precharge", 0), "dst")],
        [(("putback", 0), "src"), (("putback", 0), "dst")],
    ]

    @modern
    @precondition(lambda self: self.tasks())
    @rule(task=SEL, which=SEL, policy=POLICY, recipe=st.sampled_from(range(len(RECIPES))), sel=SEL)
    def move_squeezed(self, task, which, policy, recipe, sel):
        t = self.pick_mover(task)
        actions = [(when, ("squeeze", role, sel)) for when, role in self.RECIPES[recipe]]
        self.do_move(t.pid, self.pick_dst(t, which), self.runnable(policy), actions)

    @modern
    @precondition(lambda self: self.tasks() and not self.model.thp)
    @rule(task=SEL, which=SEL, policy=POLICY, sel=SEL)
    def move_forking(self, task, which, policy, sel):
        """At the move's first cond_resched() another task forks on another CPU: copy_process()
        sleeps on the cgroup_mutex the move holds (cgroup_fork) and goes on once it is let go."""
        t = self.pick_mover(task)
        self.do_move(t.pid, self.pick_dst(t, which), policy, [("first", ("fork", "any", sel))])

    @modern
    @precondition(lambda self: self.tasks() and not self.model.thp and not self.model.swap_pages)
    @rule(task=SEL, which=SEL, sel=SEL)
    def seed_rolled_back(self, task, which, sel):
        """A seed move between two limited groups (room for the task's pages and 8 more) whose
        new group fills at the move's first point and whose old group fills at the rollback's:
        the rollback cannot charge every page back (the RFD's leak; with swap, reclaim would
        make room).  Small tasks with something to move only: each page that does not fit
        costs the model's reclaim six scans."""
        movers = [u for u in self.tasks() if u.group.parent is not None and 0 < self.movable(u) and u.mm.rss() <= 64]
        if not movers:
            return
        t = movers[task % len(movers)]
        others = [p for p in sorted(self.model.groups) if p and p != t.group.path]
        if others:
            self.seed_squeezed_both_ways(t, others[which % len(others)], sel)

    def seed_squeezed_both_ways(self, t, path, sel):
        """``seed_rolled_back``'s move of ``t`` to ``path``."""
        for group in (path, t.group.path):
            # the squeezes fill a group through another task there: start one now if there is
            # none (a fork inside the move would wait for the cgroup_mutex the move holds)
            if not any(u.group.path == group and u is not t for u in self.tasks()):
                self.spawn(ALL_PATHS.index(group), -1000)
        # the squeeze may charge on the other CPU: the old group's pages in the stock of the
        # mover's CPU would be room for the rollback
        self.drain()
        for group in (path, t.group.path):
            self.set_limit(ALL_PATHS.index(group), self.model.groups[group].usage + (self.movable(t) + 8) * PAGE)
        actions = [(("move", 0), ("squeeze", "dst", sel)), (("rollback", 0), ("squeeze", "src", sel))]
        self.do_move(t.pid, path, "seed", actions)

    ROOM = st.one_of(st.none(), st.integers(-1, 3), st.sampled_from([8, 40, 600]))

    @modern
    @precondition(lambda self: self.tasks())
    @rule(task=SEL, which=SEL, policy=POLICY, recipe=st.sampled_from(range(len(RECIPES))), sel=SEL,
          dst_room=ROOM, src_room=ROOM)
    def move_tight(self, task, which, policy, recipe, sel, dst_room, src_room):
        """A move between groups whose limits are first set just around what they hold: the new
        group with room for the task's movable pages and ``dst_room`` more, the old one with
        ``src_room`` more (None: leave it); then a recipe of interference."""
        t = self.pick_mover(task)
        path = self.pick_dst(t, which)
        movable = self.movable(t)
        for g, room in ((self.model.groups.get(path), None if dst_room is None else movable + dst_room),
                        (t.group, src_room)):
            if g is not None and g.parent is not None and room is not None:
                self.set_limit(ALL_PATHS.index(g.path), max(0, g.usage + room * PAGE))
        actions = [(when, ("squeeze", role, sel)) for when, role in self.RECIPES[recipe]]
        self.do_move(t.pid, path, self.runnable(policy), actions)

    @precondition(lambda self: self.variant == "4k" and self.tasks() and not self.model.fail_next)
    @rule(task=SEL, which=SEL, pages=st.sampled_from([1, 8, 70]), retries=st.integers(1, 2))
    def move_past_a_writer(self, task, which, pages, retries):
        """``past_a_writer`` for a task and a group unrelated to its own (4 KiB pages without
        swap only: so that nothing the other CPU does can overlap what the mover does)."""
        t = self.pick_mover(task)
        src, md = t.group, self.model
        if src.parent is None or len(t.mm.vmas) >= MAX_VMAS:
            return
        if any(md.file_pages_under(src)):
            return          # page cache its fault's reclaim could free
        others = [g for p, g in sorted(md.groups.items()) if not g.under(src) and not src.under(g)]
        if others:
            self.past_a_writer(t, others[which % len(others)], pages, retries)

    def past_a_writer(self, t, dst, pages, retries):
        """An upstream move of ``t`` to ``dst`` while two of its threads on the other CPU hold
        up its mmap_lock: its group is full (limit = usage, nothing to reclaim), and at the
        move's first count step one thread faults ``pages`` new pages in (it sleeps on
        mc.waitq, holding mmap_lock for read) and one mlocks them (it waits for mmap_lock, to
        write).  The move's mmap trylock fails: each time it gives the precharge back and wakes
        the waiters (the fault retries and sleeps again); after ``retries`` failures the old
        group's limit goes, the fault and the mlock end, and the move walks.  ``dst`` and its
        ancestors lose their limits, and so do the old group's ancestors."""
        src, md = t.group, self.model
        for g in itertools.chain(dst.chain(), list(src.chain())[1:]):
            if g.parent is not None and g.limit != md.root.limit:
                self.set_limit(ALL_PATHS.index(g.path), None)
        self.move_charge(ALL_PATHS.index(dst.path), dst.move_charge | 1)
        self.drain()
        self.set_limit(ALL_PATHS.index(src.path), src.usage)
        addr, _ = self.both(f"mmap {t.pid}", lambda: self.m.mmap(t.pid, pages * PAGE),
                            lambda: md.mmap(t.pid, pages * PAGE, "anon"))
        actions = [(("walk", 0), ("threads", addr, pages * PAGE)), (("move", retries - 1), ("limit", "src", None))]
        self.do_move(t.pid, dst.path, "upstream", actions)
        event("move past a writer")

    @precondition(lambda self: self.model.v2626 and self.tasks())
    @rule(task=SEL, which=SEL)
    def seed_deadlock(self, task, which):
        """2.6.26: the seed's per-page charges arm the OOM killer, which takes cgroup_lock()
        under the cgroup_mutex the write to tasks holds.  A task with pages to move goes to a
        group limited to its usage plus them; at the move's first cond_resched() the group's
        tasks, on the other CPU (cpuset.cpus 1), fault in fewer new pages than an LRU add batch
        holds (so the group's lists stay empty: its reclaim scans nothing); the charge that no
        longer fits hangs the writer (outcome "deadlock"), and the machine is rebooted."""
        t = self.pick_mover(task)
        path = self.pick_dst(t, which)
        dst = self.model.groups.get(path)
        pages = self.movable(t)
        if dst is None or dst is t.group or dst.parent is None or not pages:
            return
        which = ALL_PATHS.index(path)
        self.drain()
        self.cpuset(which, "1")
        if not self.model.live_tasks(dst) and len(self.tasks()) < MAX_TASKS:
            self.spawn(which, -1000)
        if any(dst.lru.values()) or any(u.cpu != 1 for u in self.model.live_tasks(dst)):
            return          # its reclaim would scan pages (not modelled for 2.6.26)
        self.set_limit(which, dst.usage + pages * PAGE)
        self.do_move(t.pid, path, "seed", [(("move", 0), ("new", "dst", 0, min(pages, PAGEVEC_SIZE["2.6.26"] - 1)))])
        if self.m.last_attach is not None and self.m.last_attach.outcome == "deadlock":
            event("seed deadlock")
            self.reboot()
        elif path in self.model.groups:
            self.set_limit(which, None)

    def reboot(self):
        """A fresh machine of the same kind for a hung one: A and B, and a task in A."""
        self.m.on_resched(None)
        self.make(self.variant)
        self.failcnt = {}
        for path in ("A", "B"):
            self.mkdir(PATHS.index(path))
        self.spawn(1, 0)

    def runnable(self, policy):
        """``policy``, or upstream in a thp run where ``policy`` is not one of THP_POLICIES,
        the seed in a 2.6.26 run where it is not one of OLD_POLICIES, none in a 3.4 run."""
        if self.model.v34:
            return "none"
        if self.model.thp and policy not in THP_POLICIES:
            return "upstream"
        return "seed" if self.model.v2626 and policy not in OLD_POLICIES else policy

    def pick_dst(self, t, which):
        """Mostly another existing group than the task's; now and then its own, or one that is
        not there."""
        if which % 16 == 15:
            missing = [p for p in PATHS if p not in self.model.groups]
            if missing:
                return missing[which % len(missing)]
        paths = sorted(self.model.groups, key=lambda p: (p == "", p))      # the root last
        others = [p for p in paths if p != t.group.path]
        if which % 16 == 14 or not others:
            return t.group.path
        return others[which % len(others)]

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, which=SEL, policy=POLICY, refuse=st.sampled_from([None, "devices", None, "memory"]))
    def move(self, task, which, policy, refuse):
        """A move; now and then one a subsystem refuses (injected): the devices controller after
        the memory one has said yes (every earlier can_attach is cancelled), or memory itself."""
        t = self.pick_mover(task)
        if refuse:
            self.fail_next(refuse, errno.EPERM)
        self.do_move(t.pid, self.pick_dst(t, which), self.runnable(policy), [])

    @precondition(lambda self: self.tasks())
    @rule(task=SEL, first=SEL, then=SEL, policy=POLICY)
    def move_on(self, task, first, then, policy):
        """A move that leaves the charges behind (policy none), then one to a third group under
        ``policy``: the task's pages are charged to a group that is neither its old nor its new
        one (upstream counts and moves none of them: get_mctgt_type() wants the old group)."""
        t = self.pick_mover(task)
        self.do_move(t.pid, self.pick_dst(t, first), "none", [])
        if not t.dead:
            self.do_move(t.pid, self.pick_dst(t, then), self.runnable(policy), [])

    @modern
    @precondition(lambda self: self.tasks())
    @rule(task=SEL, which=SEL, policy=POLICY,
          actions=st.lists(st.tuples(WHEN, ACTION), min_size=1, max_size=3))
    def move_interfered(self, task, which, policy, actions):
        t = self.pick_mover(task)
        self.do_move(t.pid, self.pick_dst(t, which), self.runnable(policy), actions)

    def do_move(self, pid, path, policy, actions):
        m, md = self.m, self.model
        before = self.snapshot()
        src = md.tasks[pid].group.path if pid in md.tasks else None
        self.hook = {"gen": None, "pending": None, "n": 0, "actions": list(actions), "seen": {},
                     "mover": pid, "src": src, "dst": path, "policy": policy, "walked": 0,
                     "failure": None, "acted": False, "info": None, "forks": [],
                     "huge": md.nr_compound}
        e2 = None
        self.hook["gen"] = md.move(pid, path, policy)
        _, e1 = outcome(m.move, pid, path, policy=policy)
        hook, self.hook = self.hook, None
        if hook["failure"] is not None:
            raise hook["failure"]
        self.join_works(f"after move {pid}->{path!r}")
        try:                                # the model's move must end where the emulator's did
            extra = self.advance(hook)
            raise AssertionError(f"move {pid}->{path!r} {policy}: the model expected a "
                                 f"cond_resched() at {extra} the emulator did not make")
        except StopIteration:
            pass
        except (OSError, HookAbort) as e:
            e2 = e
        for work, parent in hook["forks"]:     # the move let go of cgroup_mutex: each fork goes on
            r1, r2 = self.both(f"fork {parent} on CPU {CPUS - 1} after the move", work.join,
                               lambda: self.model.fork(parent))
            assert r1 == r2
            if r1 is not None:
                self.adjust(r1, -1000)
        same_error(e1, e2, f"move {pid}->{path!r} under {policy}")
        la, lm = m.last_attach, md.last_attach
        event(f"move {policy}: {type(e1).__name__ if e1 else (la.outcome if la else '-')}"
              f"{' +interference' if hook['acted'] else ''}")
        if la is not None and la.pages_leaked:
            event("seed leak")
            if la.outcome == "refused":     # not a 2.6.26 deadlock's: each reboots the machine
                self.rare += 20
        if la is not None and la.oom_victims:
            event("OOM kill inside a move")
            self.rare += 5
        points = {phase: k + 1 for phase, k in hook["seen"].items()}     # cond_resched()s per phase
        self.rare += 3 * points.get("rollback", 0) + points.get("room", 0) + points.get("precharge", 0)
        if la is not None and la.outcome == "half-moved":
            self.rare += 2
        if la is not None or lm is not None:
            got = (la.outcome, la.pages_moved, la.pages_leaked, getattr(la, "pages_marked", 0), la.oom_victims)
            want = (lm.outcome, lm.pages_moved, lm.pages_leaked, lm.pages_marked, lm.oom_victims)
            assert got == want, f"move {pid}->{path!r} {policy}: last_attach {got}, model {want}"
        self.compare(f"after move {pid}->{path!r} under {policy}")
        self.bounds_after_move(policy, before, hook, e1)

    def advance(self, hook):
        gen = hook["gen"]
        pending, hook["pending"] = hook["pending"], None
        return gen.throw(pending) if pending is not None else next(gen)

    def _on_resched(self, info):
        hook = self.hook
        if hook is None:
            return
        if hook["failure"] is not None:
            if self.works:          # a move that works hold up would wait for them for ever
                raise HookAbort()
            return
        try:
            where = f"move under {hook['policy']}, cond_resched #{hook['n']} ({info.phase}, {info.pages})"
            try:
                want = self.advance(hook)
            except StopIteration:
                raise AssertionError(f"{where}: the model's move had already ended") from None
            except (OSError, HookAbort) as e:
                raise AssertionError(f"{where}: the model's move had already failed with {e!r}") from None
            assert (info.phase, info.pages) == want, f"{where}: the model is at {want}"
            hook["info"] = info
            if info.phase == "walk":
                hook["walked"] = info.pages
            hook["phase"] = info.phase
            self.sync_works(where)
            assert not (self.works and hook["seen"].get("move", 0) > 8), f"{where}: the trylock keeps failing"
            self.compare(where)
            self.bounds_in_move(hook)
            hook["n"] += 1
            k = hook["seen"][info.phase] = hook["seen"].get(info.phase, -1) + 1
            for when, action in hook["actions"]:
                if when == (info.phase, k) or (when == "first" and hook["n"] == 1):
                    hook["acted"] = True
                    self.interfere(action, hook, where)
        except HookAbort:
            hook["pending"] = HookAbort()
            raise hook["pending"] from None
        except BaseException as e:      # reported after the move: a hook error may be swallowed
            hook["failure"] = e
            if self.works:
                raise HookAbort() from None

    def role_task(self, hook, role, sel):
        """Another task than the mover: one in the move's old or new group, or any."""
        others = [t for t in self.tasks() if t.pid != hook["mover"]]
        if role != "any":
            inside = [t for t in others if t.group.path == hook[role]]
            others = inside or others
        return others[sel % len(others)] if others else None

    def sync_works(self, where):
        """Let each work on the other CPU go on as far as it can now (the model says which can:
        those a wake-up or an unlock let go), then wait for the emulator's to sleep again or
        end, and compare what each sleeps on."""
        going = True
        while going:
            going = False
            for work, model in self.works:
                if model.runnable():
                    self.expect_sleep(work, model.run(), where)
                    going = True

    def join_works(self, where):
        """After the move: every work ends, with the model's result."""
        self.sync_works(where)
        works, self.works = self.works, []
        for work, model in works:
            assert model.done, f"{where}: the model's work still sleeps on {model.sleeping!r}"
            _, e = outcome(work.join)
            same_error(e, model.error, f"{where}: a work on CPU {CPUS - 1}")

    def start_threads(self, hook, addr, size):
        """Two threads of the mover on the other CPU: one faults ``size`` bytes at ``addr`` in
        (mmap_lock for read), and then one mlocks them (for write)."""
        pid = hook["mover"]
        mm = self.model.tasks[pid].mm
        md = self.model
        for emu, model in ((lambda: self.m.touch(pid, addr, size, True),
                            lambda: md.under_mmap_lock(mm, False, md.touch, pid, addr, size, True)),
                           (lambda: self.m.mlock(pid, addr, size),
                            lambda: md.under_mmap_lock(mm, True, md.mlock, pid, addr, size))):
            self.works.append((hook["info"].run_on(CPUS - 1, emu), md.start_work(CPUS - 1, model)))
            self.expect_sleep(self.works[-1][0], self.works[-1][1].sleeping, "as it starts")

    @staticmethod
    def expect_sleep(work, want, where):
        """Wait for the emulator's work to sleep or end: it must sleep on what the model's
        does (``want``; None: it ended)."""
        got = work.wait_blocked_or_done()
        assert got == want, f"{where}: a work on CPU {CPUS - 1} sleeps on {got!r}, model {want!r}"

    def interfere(self, action, hook, where):
        """One interfering step on another task (or a group) at this cond_resched() point."""
        kind = action[0]
        if kind == "raise":
            raise HookAbort(where)
        if kind == "threads":
            self.start_threads(hook, action[1], action[2])
            self.compare(f"{where}, after {kind}")
            return
        if kind in ("reclaim", "limit"):
            path = hook[action[1]] if action[1] != "any" else "A"
            if path not in self.model.groups:
                return
            if kind == "reclaim":
                r1, r2 = self.both(f"{where}: reclaim", lambda: self.m.reclaim(path, action[2] * PAGE),
                                   lambda: self.model.reclaim(self.group_or_error(path), action[2]) * PAGE)
                assert r1 == r2
            elif path:
                self.set_limit(ALL_PATHS.index(path), None if action[2] is None else action[2] * PAGE)
            self.compare(f"{where}, after {kind}")
            return
        t = self.role_task(hook, action[1], action[2])
        if kind in ("squeeze", "new") and action[1] != "any" and (t is None or t.group.path != hook[action[1]]):
            return      # nobody else in that group, and no fork while the move holds cgroup_mutex
        if t is None:
            return
        if kind == "new":
            self.fault_new(t, action[3], f"{where}: new")
        elif kind == "squeeze":
            # charge exactly the room the task's group has left: it is full at this moment
            pages = self.model.margin(t.group) // PAGE
            if not 0 < pages <= 2048:
                return
            self.fault_new(t, pages, f"{where}: squeeze")
        elif kind == "exit":
            self.both(f"{where}: exit {t.pid}", lambda: self.m.exit(t.pid), lambda: self.model.exit(t.pid))
        elif kind == "fork":
            # on another CPU: copy_process() waits for the cgroup_mutex the move holds (cgroup_fork)
            if len(self.tasks()) + len(hook["forks"]) >= MAX_TASKS:
                return
            work = hook["info"].run_on(CPUS - 1, lambda: self.m.fork(t.pid))
            sleeps_on = work.wait_blocked_or_done()
            hook["forks"].append((work, t.pid))
            assert sleeps_on == "cgroup_mutex", f"{where}: a fork on another CPU sleeps on {sleeps_on!r}"
        elif kind == "file_write":
            path = FILES[action[3]]
            self.both(f"{where}: file_write", lambda: self.m.file_write(t.pid, path, action[4] * PAGE),
                      lambda: self.model.file_write(t.pid, path, action[4] * PAGE))
        else:
            v = self.pick_vma(t, action[3] if kind != "fill" else action[2])
            if v is None:
                return
            if kind == "fill":
                addr, size, write = v.start, v.end - v.start, True
            else:
                addr, size = range_of(v, action[4], action[5])
                write = action[6] if kind == "touch" else None
            if kind == "munmap":
                self.both(f"{where}: munmap {t.pid}", lambda: self.m.munmap(t.pid, addr, size),
                          lambda: self.model.munmap(t.pid, addr, size))
            else:
                self.faulting(f"{where}: {kind} {t.pid}", lambda: self.m.touch(t.pid, addr, size, write),
                              lambda: self.model.touch(t.pid, addr, size, write))
        self.compare(f"{where}, after {kind}")

    # ---- the policies' documented costs, as bounds ----
    def snapshot(self):
        md = self.model
        # a group's anon pages but the unmapped ones that only the LRU add batch still holds
        # (a drain in the move frees them)
        def pages(g):
            held = sum(1 for p in md.batched_pages() if p.memcg is g and p.kind == "anon" and not p.maps)
            return g.stat["rss"] - held
        return {path: (g.usage, pages(g), g.stat["leaked"], g.stat["wrong"])
                for path, g in md.groups.items()}

    def subtree_charged(self, g):
        return sum(self.model.charged_pages(h) + self.model.stocked_pages(h)
                   for h in self.model.groups.values() if h.under(g)) * PAGE

    def bounds_in_move(self, hook):
        """Inside a move: a group's usage is its pages plus what the move holds; reserve holds
        at most the task's target set (its double counting)."""
        for path, g in self.model.groups.items():
            extra = int(self.m.read(path, "memory.usage_in_bytes")) - self.subtree_charged(g)
            assert extra >= 0, f"group {path!r}: usage below its pages in a move"
            if hook["policy"] in ("reserve", "seed", "half", "lazy", "lazy-move"):
                assert extra <= hook["walked"] * PAGE, \
                    f"group {path!r}: {extra} bytes held beyond its pages, more than the task's targets"

    def bounds_after_move(self, policy, before, hook, error):
        m = self.m
        after = self.snapshot()
        # every policy: once the move is over, no group holds anything but its pages
        # (reserve's double counting and upstream's precharge end with the move)
        for path, g in self.model.groups.items():
            assert int(m.read(path, "memory.usage_in_bytes")) == self.subtree_charged(g), \
                f"{policy}: group {path!r} still holds charges after the move"
        la = m.last_attach
        leaked = sum(int(m.read(p, "memcg_emu.leaked_bytes")) for p in self.model.groups) // PAGE
        leaked_before = sum(v[2] for p, v in before.items() if p in self.model.groups)
        if policy != "seed":
            assert leaked <= leaked_before, f"{policy} leaked"
        elif la is not None and la.pages_leaked:
            # the seed leaks only when the move is refused (rollback), exactly what could not go back
            assert error is not None and la.outcome in ("refused", "deadlock"), "seed leaked in a move that went through"
        if policy == "half" and not hook["acted"] and error is None and la.outcome in ("moved", "half-moved") \
                and not la.oom_victims and not self.model.swap_pages \
                and not any(b[3] for b in before.values()):
            # half leaves exactly the unmoved pages behind: the destination gained exactly the
            # pages that moved, the others lost them, and no rss appeared or vanished (without swap:
            # reclaim in the move would swap some out)
            gained = after[la.dst][1] - before[la.dst][1]
            if hook["huge"] == self.model.nr_compound:
                assert gained == la.pages_moved, f"half: {la.dst!r} gained {gained} pages, moved {la.pages_moved}"
                assert sum(a[1] for a in after.values()) == sum(b[1] for p, b in before.items() if p in after)
            else:   # a huge page split in the move freed the frames no PTE mapped, charge moved or not
                assert gained <= la.pages_moved, f"half: {la.dst!r} gained {gained} pages, moved {la.pages_moved}"

    @invariant()
    def matches_the_model(self):
        self.compare("after the step")
        m, md = self.m, self.model
        for path, g in md.groups.items():
            # failcnt never decreases except when reset; max_usage >= usage
            assert g.failcnt >= self.failcnt.get(g, 0), f"failcnt of {path!r} went down"
            self.failcnt[g] = g.failcnt
            assert g.max_usage >= g.usage
        # lazy: a group's tasks use more than its limit by at most the WRONG_CHARGE bytes
        wrong_total = sum(int(m.read(p, "memcg_emu.wrong_charge_bytes")) for p in md.groups)
        for path, g in md.groups.items():
            owned = md.wrong_pages_owned_by(g) * PAGE
            over = g.usage + owned - md.show_limit(g)
            assert over <= owned <= wrong_total, f"{path!r}: over its limit by {over} (wrong {wrong_total})"

    def teardown(self):
        for _, model in self.works:
            model.abandon()
        if self.m is not None:
            self.m.on_resched(None)
        try:
            # not a thp run's: its big moves' many cond_resched()s would draw the search there
            thp = self.model is not None and self.model.thp
            target(0.0 if thp else float(self.rare), label="rare move outcomes")
        except Exception:      # replayed by hand: no search to steer
            pass


MemcgMachine.TestCase.settings = settings(settings.default)
TestMemcgStateMachine = MemcgMachine.TestCase


# ---- failcnt, verified on its own ----

def test_failcnt_one_refused_fault_counts_every_retry():
    """A charge that nothing can make room for is tried MEM_CGROUP_RECLAIM_RETRIES + 1 = 6 times;
    each refusal bumps the failcnt of the counter that refused (here the parent's), and the child's
    counter, charged and uncharged on each try, shows the attempt in max_usage (the second
    page's batch of 64 on top of the first page: 65 pages)."""
    m, md = Machine(ram="64M", kmem=False), Model(16384)
    for path in ("A", "A/C"):
        m.mkdir(path)
        md.mkdir(path)
    m.write("A", "memory.limit_in_bytes", PAGE)
    md.write_limit(md.group("A"), PAGE)
    x = m.spawn("A/C")
    md.spawn("A/C")
    m.set_oom_score_adj(x, -1000)
    md.tasks[x].adj = -1000
    addr = m.mmap(x, 2 * PAGE)
    assert md.mmap(x, 2 * PAGE, "anon") == addr
    with pytest.raises(OSError) as e:
        m.touch(x, addr, 2 * PAGE)
    with pytest.raises(ModelOOM) as e2:
        md.touch(x, addr, 2 * PAGE, True)
    assert e.value.errno == errno.ENOMEM and "no task to kill" in str(e.value) and e2.value.victim == 0
    # 6.1: the batch (1) for the first page; for the second the batch and the page (2), the
    # charge after drain_all_stock() (1) and MAX_RECLAIM_RETRIES (16)
    assert int(m.read("A", "memory.failcnt")) == md.group("A").failcnt == 20
    assert int(m.read("A/C", "memory.failcnt")) == md.group("A/C").failcnt == 0
    assert int(m.read("A/C", "memory.max_usage_in_bytes")) == md.group("A/C").max_usage == 65 * PAGE
    assert int(m.read("A", "memory.usage_in_bytes")) == md.group("A").usage == PAGE


def test_failcnt_one_refusal_then_reclaim():
    """When reclaim frees a page cache page the retry succeeds: the batch of 64 and the page
    itself are refused once each (6.1), failcnt 2."""
    m = Machine(ram="64M", kmem=False)
    m.mkdir("A")
    y = m.spawn("A")
    m.file_write(y, "/f", PAGE)                     # one clean page-cache page
    m.write("A", "memory.limit_in_bytes", PAGE)
    m.touch(y, m.mmap(y, PAGE), PAGE)
    assert int(m.read("A", "memory.failcnt")) == 2
    assert int(m.read("A", "memory.usage_in_bytes")) == PAGE


# ---- what the search found ----

def mover_and_filler(policy, a_limit, x_pages, y_pages, x_adj):
    """Groups A (limited to ``a_limit`` pages) and B; task X in A with ``x_pages`` written and
    oom_score_adj ``x_adj``; task Y in A (never OOM-killed) with ``y_pages`` mapped, untouched:
    Y fills A while X moves.  Returns the machine, X, Y and Y's mapping."""
    m = Machine(ram="64M", policy=policy, kmem=False)
    m.mkdir("A")
    m.mkdir("B")
    m.write("A", "memory.limit_in_bytes", a_limit * PAGE)
    x = m.spawn("A")
    m.set_oom_score_adj(x, x_adj)
    m.touch(x, m.mmap(x, x_pages * PAGE), x_pages * PAGE)
    m.drain()                                       # X's pages on their lists, for the walks
    y = m.spawn("A")
    m.set_oom_score_adj(y, -1000)
    return m, x, y, m.mmap(y, y_pages * PAGE)


def test_check_in_a_move_whose_task_was_killed():
    """Found by the search: check() inside a move whose task an interfering fault OOM-killed
    reported 'mapcount 2 but 1 PTEs map it' (it did not walk the mm the move still holds);
    fixed in ca70ef8."""
    m = Machine(ram="64M", policy="seed", kmem=False)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", PAGE)
    x = m.spawn("A")                                # oom_score_adj 0: killable
    a = m.mmap(x, PAGE)
    m.touch(x, a, PAGE)
    y = m.fork(x)                                   # shares X's page copy-on-write
    m.set_oom_score_adj(y, -1000)
    seen = []

    def hook(info):
        if info.phase == "walk" and not seen:
            with pytest.raises(OSError) as e:
                m.touch(y, a, PAGE)                 # the copy does not fit in A: X is killed
            seen.append(e.value.victim)
            m.check()
    m.on_resched(hook)
    with pytest.raises(ProcessLookupError):
        m.move(x, "")                               # the task is gone when it is attached
    assert seen == [x]


def test_check_in_the_seed_rollback_window():
    """Found by the search: check() at the seed's rollback cond_resched() reported the page whose
    charge had just failed as 'in use with no charge (and is no documented seed leak)' -- the
    RFD's documented window, a page the move holds isolated.  Fixed after it was pinned."""
    m = Machine(ram="64M", policy="seed", kmem=False)
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    m.set_oom_score_adj(x, -1000)
    m.touch(x, m.mmap(x, PAGE), PAGE)
    m.drain()                                       # the page on its list, for the RFD's walk
    seen = []

    def hook(info):
        if info.phase == "move" and not seen:
            m.write("B", "memory.limit_in_bytes", "0")      # no room in B any more
            seen.append(info.phase)
        if info.phase == "rollback":
            try:                    # what the hook raises in the rollback is dropped: keep it
                m.check()
                seen.append("rollback: check passes")
            except AssertionError as e:
                seen.append(f"rollback: {e}")
    m.on_resched(hook)
    with pytest.raises(OSError) as e:
        m.move(x, "B")
    assert e.value.errno == errno.ENOMEM
    assert seen == ["move", "rollback: check passes"]


@pytest.mark.parametrize("policy", ["upstream", "reserve"])
def test_mover_killed_during_can_attach_releases_the_move(policy):
    """Found by the search: the moving task OOM-killed between can_attach and attach left the
    upstream precharge / reserve reservation charged to the new group and the dead task's mm
    held (Memory.attach failed with ESRCH before the policy's attach); fixed in the attach."""
    m, x, y, b = mover_and_filler(policy, 3, 2, 2, 0)     # X killable and the largest task in A
    m.write("B", "memory.move_charge_at_immigrate", "3")
    killed = []

    def hook(info):
        if info.phase == "walk" and not killed:
            with pytest.raises(OSError) as e:
                m.touch(y, b, 2 * PAGE)             # A is full: the OOM killer takes X
            killed.append(e.value.victim)
    m.on_resched(hook)
    with pytest.raises(ProcessLookupError):
        m.move(x, "B")
    assert killed == [x]
    m.check()
    m.drain()                   # what the precharge's batch left in the stock goes back too
    assert int(m.read("B", "memory.usage_in_bytes")) == 0          # the precharge is released
    assert int(m.read("A", "memory.usage_in_bytes")) == PAGE        # X's memory is freed


def test_attach_rollback_failure_is_ignored():
    """Found by the search: a later subsystem refused a seed move, and the seed's rollback
    (mem_cgroup_attach_rollback(), the RFD) found the old group full.  The RFD's rollback is
    void and best effort: the write fails with the refusing subsystem's errno, the task stays,
    its pages stay where the failed rollback left them.  The emulator reported the rollback's
    ENOMEM instead and left the attach without an outcome."""
    m, x, y, b = mover_and_filler("seed", 4, 2, 4, -1000)
    filled = []

    def hook(info):
        if info.phase == "putback" and not filled:
            m.touch(y, b, 4 * PAGE)                 # X's pages are in B now: Y fills A
            filled.append(int(m.read("A", "memory.usage_in_bytes")))
    m.on_resched(hook)
    m.fail_next_can_attach("devices", errno.EPERM)
    with pytest.raises(PermissionError):
        m.move(x, "B")
    assert filled == [4 * PAGE]
    assert m.last_attach.outcome == "refused"
    assert m.cgroup_of(x) == "A"
    assert int(m.read("B", "memory.usage_in_bytes")) == 2 * PAGE       # the rollback found no room
    m.check()
