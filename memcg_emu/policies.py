"""Charge-moving policies: what happens to a task's charges when it changes memory cgroup.

Each policy has the same hooks, called by cgroup_attach_task():
``can_attach(ctx)`` (may raise OSError to refuse the move), ``cancel(ctx)``
(undo can_attach because a later subsystem refused) and ``attach(ctx)``
(after the task is in its new group).
"""

import errno
import time

from ._core import ffi, lib
from .attach import AttachHooks
from .errors import check_ret, last_error

__all__ = ["POLICIES", "Policy", "get_policy"]

PAGE_SIZE = 4096
SWAP_CLUSTER_MAX = 32

# What each C step of a move is, for AttachContext.phases (seconds per phase).
PHASE_OF = {
    lib.emu_seed_isolate: "walk+isolate",
    lib.emu_seed_recharge: "move",
    lib.emu_move_putback: "putback",
    lib.emu_reserve_charge: "reserve/room",
    lib.emu_reserve_move: "move",
    lib.emu_half_move: "move",
    lib.emu_lazy_mark: "move",
    lib.emu_upstream_can_attach: "walk+reserve",
    lib.emu_upstream_move: "move",
    lib.emu_upstream_clear: "accounting",
}


class MoveContext:
    """A C move context (struct move_ctx) for one pass over a task's pages.

    Use as a context manager: leaving puts back whatever is still isolated
    and frees it.  ``call(fn)`` runs one C step and re-raises an exception
    the on_resched hook raised during it.
    """

    def __init__(self, ctx, target):
        self.machine = ctx.machine
        self.attach = ctx
        self.target = target
        out = ffi.new("struct move_ctx **")
        check_ret(lib.emu_move_begin(self.machine._m, ctx.pid, target.memcg_id, out))
        self.ptr = out[0]
        self.machine._move_info = {"policy": ctx.policy.name, "pid": ctx.pid,
                                   "src": ctx.src.path, "dst": target.path}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.ptr is not None:
            self.machine._move_info = None
            check_ret(lib.emu_move_end(self.ptr))
            self.ptr = None

    def hook_error(self):
        err, self.machine._resched_error = self.machine._resched_error, None
        return err

    def call(self, fn, *args):
        """Run a C step, timed into the attach's phases; an exception from the hook wins."""
        ret = self.timed(fn, *args)
        err = self.hook_error()
        if err is not None:
            raise err
        return check_ret(ret)

    def timed(self, fn, *args):
        t0 = time.perf_counter()
        ret = fn(self.ptr, *args)
        name = PHASE_OF.get(fn, "other")
        self.attach.phases[name] = self.attach.phases.get(name, 0.0) + time.perf_counter() - t0
        return ret

    def resched(self, phase, pages):
        """A cond_resched() point reached from Python (the policy's own loops)."""
        if self.machine._run_resched_hook(phase, pages):
            raise self.hook_error()

    def stats(self):
        st = ffi.new("struct emu_move_stats *")
        lib.emu_move_stats(self.ptr, st)
        return st

    def record(self, towards_dst=True):
        """Add this pass to the attach's totals; a pass back to the source counts negative."""
        st = self.stats()
        self.attach.pages_moved += st.moved if towards_dst else -st.moved
        self.attach.pages_leaked += st.leaked
        self.attach.oom_victims += list(st.victims)[:st.nr_victims]


def margin(machine, cg):
    out = ffi.new("unsigned long long *")
    check_ret(lib.emu_memcg_margin(machine._m, cg.memcg_id, out))
    return out[0]


def c_int(value):
    """``value`` stored into a C int (32 bits, two's complement)."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def seed_room(machine, cg, necessary):
    """The seed's room check, ``usage + necessary > limit`` in u64 with an int ``necessary``:
    a negative one wraps, and fits only where the usage is at least its size."""
    if necessary >= 0:
        return margin(machine, cg) >= necessary
    return int(machine.read(cg.path, "memory.usage_in_bytes")) >= -necessary


class Policy(AttachHooks):
    """A charge-moving policy: the memory subsystem's hooks, by name.

    ``rollback_every_subsys``: a refused move rolls back every subsystem (the
    seed's patched cgroup_attach_task()), not only those that said yes.
    """

    rollback_every_subsys = False


class NonePolicy(Policy):
    """RFD policy 2, and cgroup v2: the task moves, its charges stay where they are."""

    name = "none"


class SeedPolicy(Policy):
    """The RFD patch "memcg: Move Usage at Task Move" (2008) as posted, phases 0-5.

    can_attach: (1) walk the page tables and isolate every present private
    anon page mapped once; (2) reclaim in the new group until it has room,
    ENOMEM if reclaim makes no progress; (3) uncharge/charge page by page,
    reclaim and OOM killer armed; on a failed charge roll back best-effort,
    leaking what the old group no longer takes; (4) put the pages back.
    (5) is the later subsystems' can_attach: when one refuses, cancel() is
    the patch's mem_cgroup_attach_rollback(): the same algorithm again,
    towards the group the task is still in.

    The posted patch has slips; this is what it means:
    - ``if (newcg->res.limit > necessary) rc = -ENOMEM;`` is dead: the next
      if/else overwrites rc.  The room loop only compares usage + needed with
      the limit (here: with the tightest level of the hierarchy).
    - a missing brace in __recharge_get_page_range() puts pte_unmap_unlock()
      and cond_resched() inside the PTE loop; they belong after it.
    - ``rCU_read_lock()`` in mem_cgroup_attach_rollback() is rcu_read_lock().
    - ``goto rollback;;``: a stray semicolon, harmless.
    - the patched cgroup_attach_task() calls every subsystem's
      attach_rollback, the one that refused included, and before any said
      yes: memory's rollback runs whenever a move is refused.  It is no
      no-op: the same algorithm towards the group the task is in reclaims
      there until X's pages would fit a second time (evicting the old
      group's page cache) and recharges pages a failed rollback leaked.
      It returns void: its own failure is ignored.
    - ``int necessary = info.count * PAGE_SIZE`` truncates to a C int: a
      task of 2 GiB or more wraps, negative for 2-4 GiB, and the room check
      (u64 usage + necessary > limit) then holds only when the group's usage
      exceeds the wrapped amount: into an empty group such a task is refused
      after fruitless reclaim, whatever the limit.
    - the OOM killer its per-page charges may call takes cgroup_lock() on its
      base kernel (2.6.26), under the cgroup_mutex that cgroup_attach_task()
      holds: the writer deadlocks (the move's outcome "deadlock").
      ``seed-2.6.29`` is the patch on a kernel without that lock.

    Its base kernel (profile 2.6.26) differs from later ones where the seed
    meets it: a limit write below usage is accepted (res_counter_write(), no
    reclaim, no EBUSY); memory.stat has its six 2.6.26 lines; the charge has
    no batch, 5 retries, and after the OOM kill the fault fails; an anon
    page is uncharged at its last unmap (page_remove_rmap()), so a page the
    walk isolated and its task then unmaps is charged nowhere and no longer
    qualifies; force_empty and rmdir drop a group's charges
    (mem_cgroup_force_empty_list()), so a page they dropped is charged again
    only by the recharge's own charge.
    """

    name = "seed"
    oom_takes_cgroup_lock = True   # as the kernel profile says (2.6.26: yes)
    rollback_every_subsys = True

    def can_attach(self, ctx):
        try:
            self.recharge_task(ctx, ctx.dst, "mem_cgroup_can_attach")
        except BaseException as e:
            # a hook raised at putback, after the pages moved: take them back (a hung machine
            # after a deadlock runs nothing more)
            if ctx.pages_moved and getattr(e, "errno", None) != errno.EDEADLK:
                with ctx.machine._hook_muted():
                    self.recharge_task(ctx, ctx.src, "mem_cgroup_attach_rollback")
            raise

    def cancel(self, ctx):
        """mem_cgroup_attach_rollback(): void, so only a deadlock gets out of it."""
        try:
            self.recharge_task(ctx, ctx.src, "mem_cgroup_attach_rollback")
        except OSError as e:
            if e.errno == errno.EDEADLK:
                raise

    def recharge_task(self, ctx, target, hook):
        """mem_cgroup_recharge_task(): move the task's movable charges to ``target``.

        Its charges run the OOM killer under cgroup_mutex: on 2.6.26 that is a
        self-deadlock (EDEADLK), after which nothing rolls back.
        """
        machine = ctx.machine
        ctx.call_path = (hook, "mem_cgroup_recharge_task", "mem_cgroup_charge_common")
        with MoveContext(ctx, target) as mc:
            if not self.oom_takes_cgroup_lock:
                lib.emu_move_oom_unlocked(mc.ptr)
            isolated = mc.call(lib.emu_seed_isolate)
            necessary = c_int(isolated * PAGE_SIZE)      # the posted `int necessary`
            t0 = time.perf_counter()
            while not seed_room(machine, target, necessary):
                short = max((necessary - margin(machine, target) + PAGE_SIZE - 1) // PAGE_SIZE,
                            SWAP_CLUSTER_MAX)
                # one fruitless try_to_free_mem_cgroup_pages() is ENOMEM, as posted
                if not machine.reclaim(target.path, short * PAGE_SIZE, retries=0):
                    raise OSError(errno.ENOMEM, f"cannot make room for {necessary} bytes in "
                                  f"{target.path!r}: reclaim makes no progress")
                mc.resched(lib.EMU_PHASE_ROOM, short)
            ctx.phases["reserve/room"] = ctx.phases.get("reserve/room", 0.0) + time.perf_counter() - t0
            try:
                mc.call(lib.emu_seed_recharge)
            except BaseException as e:
                hung = isinstance(e, OSError) and e.errno == errno.EDEADLK
                rolled = 0 if hung else lib.emu_seed_rollback(mc.ptr)
                hang = OSError(errno.EDEADLK, last_error()) if rolled == -errno.EDEADLK else None
                mc.hook_error()
                mc.record(target is ctx.dst)
                mc.call(lib.emu_move_putback)
                if hang is not None:
                    raise hang from e
                raise
            mc.record(target is ctx.dst)
            mc.call(lib.emu_move_putback)


class Seed2629Policy(SeedPolicy):
    """The seed as posted, on a kernel whose memcg OOM path no longer takes cgroup_lock()
    (2.6.29): what the patch would have done once that deadlock was gone."""

    name = "seed-2.6.29"
    oom_takes_cgroup_lock = False


class ReservePolicy(Policy):
    """RFD policy 1: reserve first.

    can_attach isolates the seed's targets and charges their whole size to
    the new group at once (reclaiming there; ENOMEM and nothing changed when
    that fails).  attach hands the pages over against the reservation and
    uncharges the old group only at the end: meanwhile the task is counted
    twice (max_usage shows it).  cancel releases the reservation, which is
    all there is to undo.
    """

    name = "reserve"

    def can_attach(self, ctx):
        mc = MoveContext(ctx, ctx.dst)
        try:
            mc.call(lib.emu_seed_isolate)
            mc.call(lib.emu_reserve_charge)
        except BaseException:
            mc.close()
            raise
        ctx.state = mc

    def cancel(self, ctx):
        mc, ctx.state = ctx.state, None
        if mc is not None:
            lib.emu_reserve_cancel(mc.ptr)
            mc.close()

    def attach(self, ctx):
        mc, ctx.state = ctx.state, None
        try:
            mc.call(lib.emu_reserve_move)
            mc.record()
            ctx.outcome = "moved"   # even if a hook raises at putback
            mc.call(lib.emu_move_putback)
        finally:
            mc.close()


class HalfPolicy(Policy):
    """RFD policy 4: allow a half-moved state and abandon rollback.

    The task always moves; then its pages move one by one (charge the new
    group with reclaim, never OOM) until the first that does not fit.  The
    rest stay charged to the old group; nothing rolls back.
    """

    name = "half"

    def attach(self, ctx):
        with MoveContext(ctx, ctx.dst) as mc:
            mc.call(lib.emu_seed_isolate)
            ret = mc.timed(lib.emu_half_move)
            err = mc.hook_error()
            mc.record()
            ctx.outcome = "half-moved" if ret < 0 or err is not None else "moved"
            mc.call(lib.emu_move_putback)
            if err is not None:
                raise err


class LazyPolicy(Policy):
    """RFD policy 3: the lazy manner.

    The task moves, its charges do not: each target page still charged
    elsewhere is marked WRONG_CHARGE (memcg_emu.wrong_charge_bytes of the
    group that holds it) and rotated to the reclaim end of that group's
    inactive list.  Reclaim takes them first; a refault charges the task's
    new group.  Until then the new group's tasks may use more than its limit,
    by at most the WRONG_CHARGE bytes.  Mlocked pages never leave.
    """

    name = "lazy"
    recharge = False

    def attach(self, ctx):
        with MoveContext(ctx, ctx.dst) as mc:
            mc.call(lib.emu_seed_isolate)
            mc.call(lib.emu_lazy_mark, self.recharge)
            ctx.pages_marked = mc.stats().moved     # owed, not moved


class LazyMovePolicy(LazyPolicy):
    """RFD policy 3, "lazy manner and allow moving of usage instead of freeing it".

    As lazy, but when reclaim reaches a WRONG_CHARGE page whose task's group
    has room, the charge moves there instead of the page being freed.
    """

    name = "lazy-move"
    recharge = True


class UpstreamPolicy(Policy):
    """Linux cgroup v1 ``memory.move_charge_at_immigrate`` (2.6.34 to 6.12), per kernel profile.

    can_attach counts the targets the destination's bits select (bit 0: anon
    and its swap; bit 1: file and shmem pages in the task's mapped ranges,
    unfaulted page cache included) among pages charged to the old group, and
    precharges them on the new group (bulk without reclaim, then one at a
    time with reclaim): ENOMEM refuses the move and changes nothing.  After
    the task is in its new group, the move walk hands each page over
    (charging one more page whenever the precharge runs out, stopping there
    if that fails: a partial move), then the old group is uncharged at once
    and the leftover precharge cancelled.  Chargers over the limit of either
    group wait for the move to end instead of reclaiming and going OOM.
    """

    name = "upstream"

    def can_attach(self, ctx):
        move_type = ctx.dst.move_charge_at_immigrate if ctx.machine.profile.has_move_charge() else 0
        if not move_type:
            return
        mc = MoveContext(ctx, ctx.dst)
        try:
            mc.call(lib.emu_upstream_can_attach, move_type)
        except BaseException:
            mc.close()
            raise
        ctx.state = mc

    def cancel(self, ctx):
        """mem_cgroup_cancel_attach(): release the precharge."""
        if ctx.state is not None:
            lib.emu_upstream_clear(ctx.state.ptr)
            ctx.state.close()
            ctx.state = None

    def attach(self, ctx):
        """mem_cgroup_move_task() (post_attach in 6.1): move, then mem_cgroup_clear_mc()."""
        mc = ctx.state
        if mc is None:
            return
        ctx.state = None
        try:
            ret = mc.timed(lib.emu_upstream_move)
            err = mc.hook_error()
            check_ret(mc.timed(lib.emu_upstream_clear))
            mc.record()
            if ret < 0 and err is None:
                ctx.outcome = "half-moved"
            if err is not None:
                raise err
        finally:
            mc.close()


_POLICIES = {p.name: p for p in (NonePolicy, SeedPolicy, Seed2629Policy, ReservePolicy, LazyPolicy,
                                  LazyMovePolicy, HalfPolicy, UpstreamPolicy)}
POLICIES = tuple(_POLICIES)


def get_policy(name):
    if isinstance(name, Policy):
        return name
    if not isinstance(name, str) or name not in _POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return _POLICIES[name]()
