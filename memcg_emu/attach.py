"""cgroup_attach_task() with subsystems and rollback (kernel/cgroup.c as the seed changes it).

Every bound subsystem's can_attach runs in the kernel's order; when one
fails, the subsystems that already said yes are undone (the seed's
attach_rollback, upstream's cancel_attach) and the write fails with that
errno; when all say yes, every attach runs.
"""
import errno

from ._core import lib
from .errors import check_ret

__all__ = ["SUBSYSTEMS", "PHASES", "AttachHooks", "AttachContext", "cgroup_attach_task"]

PHASES = {
    lib.EMU_PHASE_WALK: "walk",
    lib.EMU_PHASE_ROOM: "room",
    lib.EMU_PHASE_MOVE: "move",
    lib.EMU_PHASE_PUTBACK: "putback",
    lib.EMU_PHASE_ROLLBACK: "rollback",
    lib.EMU_PHASE_PRECHARGE: "precharge",
}


class AttachContext:
    """One task's migration: who moves where under which policy, and what happened."""

    def __init__(self, machine, pid, src, dst, policy):
        self.machine = machine
        self.pid = pid
        self.src = src
        self.dst = dst
        self.policy = policy
        self.state = None          # the policy's own in-flight state
        self.pages_moved = 0
        self.pages_marked = 0      # lazy policies: pages marked WRONG_CHARGE
        self.pages_leaked = 0
        self.outcome = None        # "moved", "refused", "half-moved", "deadlock"
        self.call_path = ()        # kernel functions between attach and a charge (a deadlock's chain)
        self.oom_victims = []      # tasks the OOM killer took during the move
        self.phases = {}           # seconds spent in each phase of the move (see policies.PHASE_OF)


class AttachHooks:
    """What a subsystem (or a charge-moving policy) does at a migration; by default nothing.

    ``can_attach(ctx)`` may raise OSError to refuse; ``cancel(ctx)`` undoes it when a
    later subsystem refuses; ``attach(ctx)`` runs once the task is in its new group.
    """

    name = None

    def can_attach(self, ctx):
        pass

    def cancel(self, ctx):
        pass

    def attach(self, ctx):
        pass


class Cpuset(AttachHooks):
    """cpuset_can_attach(), kernel/cpuset.c: no cpus or no mems, no tasks (ENOSPC)."""

    name = "cpuset"

    def can_attach(self, ctx):
        if not ctx.dst.cpus or not ctx.dst.mems:
            raise OSError(errno.ENOSPC, f"cgroup {ctx.dst.path!r} has no cpus or mems")

    def attach(self, ctx):
        """cpuset_attach(): the task may run only on the new group's CPUs (gone: nothing to do)."""
        try:
            ctx.machine._keep_on_cpus(ctx.pid, ctx.dst.cpus)
        except ProcessLookupError:
            pass


class Memory(AttachHooks):
    """The memory controller: the policy decides what happens to the charges."""

    name = "memory"

    def can_attach(self, ctx):
        ctx.policy.can_attach(ctx)

    def cancel(self, ctx):
        ctx.policy.cancel(ctx)

    def attach(self, ctx):
        """mem_cgroup_move_task(): even if the task died since can_attach (an OOM kill in an
        on_resched hook), the policy finishes with the mm it holds and releases what it took."""
        try:
            check_ret(lib.emu_task_attach(ctx.machine._m, ctx.pid, ctx.dst.memcg_id))
        finally:
            ctx.policy.attach(ctx)


class Devices(AttachHooks):
    """The devices controller: no control files here, it only takes part in attach."""

    name = "devices"


_SUBSYS = (Cpuset(), Memory(), Devices())
SUBSYSTEMS = tuple(ss.name for ss in _SUBSYS)


def cgroup_attach_task(machine, pid, dst, policy):
    """Move task ``pid`` into cgroup ``dst``; returns the AttachContext, raises OSError on refusal."""
    with machine._cgroup_mutex("cgroup_attach_task"):
        try:
            return _attach_locked(machine, pid, dst, policy)
        except OSError as e:
            if e.errno == errno.EDEADLK:   # the writer hangs in the kernel: nothing more runs
                machine.last_attach.outcome = "deadlock"
                machine._note_deadlock(machine.last_attach.call_path)
            raise


def _attach_locked(machine, pid, dst, policy):
    """cgroup_attach_task() with cgroup_mutex held: every can_attach, then every attach."""
    src = machine._by_memcg[check_ret(lib.emu_task_memcg(machine._m, pid))]
    ctx = AttachContext(machine, pid, src, dst, policy)
    machine.last_attach = ctx
    if src is dst:
        ctx.outcome = "moved"
        return ctx
    done = []
    for ss in _SUBSYS:
        try:
            injected = machine._fail_next.pop(ss.name, None)
            if injected:
                raise OSError(injected, f"{ss.name}: can_attach refused (injected)")
            ss.can_attach(ctx)
        except BaseException as e:
            if isinstance(e, OSError) and e.errno == errno.EDEADLK:
                raise       # hung: nothing rolls back
            # the seed's cgroup_attach_task() rolls back every subsystem, in order
            for prev in _SUBSYS if policy.rollback_every_subsys else reversed(done):
                prev.cancel(ctx)
            ctx.outcome = "refused"
            raise
        done.append(ss)
    errors = []
    for ss in done:         # every attach runs; the first error is reported after
        try:
            ss.attach(ctx)
        except OSError as e:
            errors.append(e)
    if errors:
        ctx.outcome = "refused"
        raise errors[0]
    ctx.outcome = ctx.outcome or "moved"
    return ctx
