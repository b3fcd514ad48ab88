"""cgroup_attach_task() with subsystems and rollback (kernel/cgroup.c as the seed changes it).

Every bound subsystem's can_attach runs in the kernel's order; when one
fails, the subsystems that already said yes are undone (the seed's
attach_rollback, upstream's cancel_attach) and the write fails with that
errno; when all say yes, every attach runs.
"""
import contextlib
import dataclasses
import errno

from ._core import lib
from .errors import check_ret, errno_name

__all__ = ["SUBSYSTEMS", "PHASES", "OUTCOMES", "AttachHooks", "AttachContext", "AttachResult",
           "cgroup_attach_task"]

# What a move did: the task and all its movable charges are in the new group ("moved"),
# the task is but some charges stayed behind ("half-moved"), the task stayed ("refused"),
# or the writer hangs in the kernel on cgroup_mutex ("deadlock", 2.6.26).
OUTCOMES = ("moved", "half-moved", "refused", "deadlock")

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
        self.error = None          # the errno name a refused or interrupted move failed with

    def result(self):
        return AttachResult(self.pid, self.src.path, self.dst.path, self.policy.name, self.outcome,
                            self.error, self.pages_moved, self.pages_marked, self.pages_leaked,
                            list(self.oom_victims), dict(self.phases))


@dataclasses.dataclass(frozen=True)
class AttachResult:
    """What one move did (``Machine.move()`` returns it; ``Machine.last_attach`` keeps the latest).

    ``outcome`` is one of OUTCOMES; ``error`` the errno name when the move failed (None
    when it went through); ``src``/``dst`` are cgroup paths ("B", root ""); ``phases``
    the seconds spent in each phase of the move.
    """

    pid: int
    src: str
    dst: str
    policy: str
    outcome: str
    error: object = None
    pages_moved: int = 0
    pages_marked: int = 0       # lazy policies: pages marked WRONG_CHARGE (owed, not moved)
    pages_leaked: int = 0       # seed: pages neither group holds any more after a rollback
    oom_victims: list = dataclasses.field(default_factory=list)   # pids the OOM killer took
    phases: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def seconds(self):
        return sum(self.phases.values())

    def to_dict(self, timing=False):
        """A JSON-able dict; the phase timings only with ``timing=True`` (they vary run to run)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "phases"}
        d["oom_victims"] = list(self.oom_victims)
        if timing:
            d["phases"] = dict(self.phases)
        return d

    def __repr__(self):
        moved = f"{self.pages_moved} pages moved"
        extra = "".join(f", {n} pages {what}" for n, what in ((self.pages_marked, "marked"),
                                                              (self.pages_leaked, "leaked")) if n)
        victims = f", OOM-killed {self.oom_victims}" if self.oom_victims else ""
        error = f" ({self.error})" if self.error else ""
        return (f"<AttachResult pid {self.pid} {self.src!r} -> {self.dst!r} under {self.policy}: "
                f"{self.outcome}{error}, {moved}{extra}{victims}>")


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


def _errname(e):
    err = getattr(e, "errno", None)
    return errno_name(err) if isinstance(err, int) else type(e).__name__


def cgroup_attach_task(machine, pid, dst, policy):
    """Move task ``pid`` into cgroup ``dst``; returns the AttachResult, raises OSError on refusal.

    Whatever fails, ``machine.last_attach`` says what state the move left: "refused"
    while the task is still where it was, "half-moved" when the task is in ``dst`` but
    an error (a hook's, say) stopped its charges from following, "deadlock" when the
    writer hangs in the kernel (nothing more runs).
    """
    with machine._cgroup_mutex("cgroup_attach_task"):
        src = machine._by_memcg[check_ret(lib.emu_task_memcg(machine._m, pid))]
        ctx = AttachContext(machine, pid, src, dst, policy)
        try:
            _attach(machine, ctx)
        except OSError as e:
            if e.errno == errno.EDEADLK:
                ctx.outcome = "deadlock"
                machine._note_deadlock(ctx.call_path)
            raise
        finally:
            machine.last_attach = ctx.result()
        return machine.last_attach


def _attach(machine, ctx):
    """cgroup_attach_task() with cgroup_mutex held: every can_attach, then every attach."""
    if ctx.src is ctx.dst:
        ctx.outcome = "moved"
        return
    done = []
    for ss in _SUBSYS:
        try:
            injected = machine._fail_next.pop(ss.name, None)
            if injected:
                raise OSError(injected, f"{ss.name}: can_attach refused (injected)")
            ss.can_attach(ctx)
        except BaseException as e:
            if isinstance(e, OSError) and e.errno == errno.EDEADLK:
                ctx.error = _errname(e)
                raise       # hung: nothing rolls back
            ctx.outcome, ctx.error = "refused", _errname(e)
            # the seed's cgroup_attach_task() rolls back every subsystem, in order; undoing
            # what a hook's exception broke off runs that hook no more
            with contextlib.nullcontext() if isinstance(e, OSError) else machine._hook_muted():
                for prev in _SUBSYS if ctx.policy.rollback_every_subsys else reversed(done):
                    try:
                        prev.cancel(ctx)
                    except OSError as cancel_error:   # attach_rollback() is void (the RFD's cgroup.c):
                        if cancel_error.errno == errno.EDEADLK:     # best effort, unless it hangs
                            raise
                    except BaseException as hook_error:   # a hook's, inside the rollback: it ends the write
                        ctx.error = _errname(hook_error)
                        raise
            raise
        done.append(ss)
    errors = []
    for ss in done:         # every attach runs; the first error is reported after
        try:
            ss.attach(ctx)
        except BaseException as e:
            errors.append(e)
    if errors:
        ctx.error = _errname(errors[0])
        in_dst = lib.emu_task_memcg(machine._m, ctx.pid) == ctx.dst.memcg_id
        ctx.outcome = (ctx.outcome or "half-moved") if in_dst else "refused"
        raise errors[0]
    ctx.outcome = ctx.outcome or "moved"
