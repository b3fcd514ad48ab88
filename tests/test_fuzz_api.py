"""Plausible calls at random: every policy and kernel, with and without swap, under pressure.

Where tests/test_fuzz_inputs.py throws junk at the API, this drives sequences
of calls that mostly make sense (live pids, real groups, sizes near the
limits), the kind that reach the deep paths: reclaim and swap-out, swap-in,
OOM kills, moves raced by their own hooks, force_empty, rmdir with charges
left.  The contract is the same: every call returns or raises OSError /
ValueError, and check() passes after every sequence.  This search found the
root group's swap record leak (mem_cgroup_id() of the root was 0, "nobody").
"""
import errno

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from memcg_emu import POLICIES, PROFILES, Machine

PAGE = 4096
GROUPS = ("", "A", "B", "A/C")
SIZES = st.sampled_from([PAGE, 3 * PAGE, 64 * PAGE, "1M", "3M", "6M"])
LIMITS = st.sampled_from(["-1", "0", "2M", "4M", "8M", "1G"])
PID = st.integers(0, 7)              # an index into the tasks spawned so far
GROUP = st.sampled_from(GROUPS)

OPS = st.one_of(
    st.tuples(st.just("spawn"), GROUP),
    st.tuples(st.just("anon"), PID, SIZES),
    st.tuples(st.just("shm"), PID, SIZES),
    st.tuples(st.just("file"), PID, SIZES, st.sampled_from(["/data/f", "/data/g"]), st.booleans()),
    st.tuples(st.just("retouch"), PID, st.booleans()),
    st.tuples(st.just("munmap"), PID),
    st.tuples(st.just("mlock"), PID),
    st.tuples(st.just("fork"), PID),
    st.tuples(st.just("exec"), PID),
    st.tuples(st.just("exit"), PID),
    st.tuples(st.just("oom_score_adj"), PID, st.sampled_from([-1000, -500, 0, 500, 1000])),
    st.tuples(st.just("limit"), st.sampled_from(GROUPS[1:]), LIMITS),
    st.tuples(st.just("knob"), st.sampled_from(GROUPS[1:]), st.integers(0, 3)),
    st.tuples(st.just("reclaim"), GROUP, SIZES),
    st.tuples(st.just("force_empty"), st.sampled_from(GROUPS[1:])),
    st.tuples(st.just("rmdir_mkdir"), st.sampled_from(["B", "A/C"])),
    st.tuples(st.just("move"), PID, GROUP, st.sampled_from(POLICIES)),
    st.tuples(st.just("move_raced"), PID, GROUP, st.sampled_from(POLICIES), PID,
              st.sampled_from(["touch", "exit", "limit", "reclaim"])),
    st.tuples(st.just("fail_next"), st.sampled_from(["cpuset", "memory", "devices"])),
)


class Driver:
    """Runs one sequence; keeps the tasks it spawned and the regions each maps."""

    def __init__(self, m):
        self.m = m
        self.pids = []
        self.regions = {}                 # pid -> [(addr, size)]

    def pid(self, i):
        return self.pids[i % len(self.pids)] if self.pids else 1

    def map(self, pid, size, **kw):
        addr = self.m.mmap(pid, size, **kw)
        self.regions.setdefault(pid, []).append((addr, size))
        self.m.touch(pid, addr, size)

    def region(self, pid):
        regions = self.regions.get(pid)
        if not regions:
            raise ValueError("no region")
        return regions[-1]

    def op(self, name, *a):
        m = self.m
        if name == "spawn":
            self.pids.append(m.spawn(a[0]))
        elif name == "anon":
            self.map(self.pid(a[0]), a[1])
        elif name == "shm":
            self.map(self.pid(a[0]), a[1], kind="shm")
        elif name == "file":
            self.map(self.pid(a[0]), a[1], kind="file", path=a[2], private=a[3])
        elif name == "retouch":
            pid = self.pid(a[0])
            addr, size = self.region(pid)
            m.touch(pid, addr, size, write=a[1])
        elif name == "munmap":
            pid = self.pid(a[0])
            addr, size = self.region(pid)
            self.regions[pid].pop()
            m.munmap(pid, addr, size)
        elif name == "mlock":
            pid = self.pid(a[0])
            m.mlock(pid, *self.region(pid))
        elif name == "fork":
            parent = self.pid(a[0])
            child = m.fork(parent)
            self.pids.append(child)
            self.regions[child] = list(self.regions.get(parent, []))
        elif name == "exec":
            m.exec(self.pid(a[0]))
            self.regions.pop(self.pid(a[0]), None)
        elif name == "exit":
            m.exit(self.pid(a[0]))
        elif name == "oom_score_adj":
            m.set_oom_score_adj(self.pid(a[0]), a[1])
        elif name == "limit":
            m.write(a[0], "memory.limit_in_bytes", a[1])
        elif name == "knob":
            m.write(a[0], "memory.move_charge_at_immigrate", str(a[1]))
        elif name == "reclaim":
            m.reclaim(a[0], a[1])
        elif name == "force_empty":
            m.write(a[0], "memory.force_empty", "0")
        elif name == "rmdir_mkdir":
            m.rmdir(a[0])
            m.mkdir(a[0])
        elif name == "move":
            m.move(self.pid(a[0]), a[1], policy=a[2])
        elif name == "move_raced":
            self.move_raced(*a)
        elif name == "fail_next":
            m.fail_next_can_attach(a[0], errno.EPERM)

    def move_raced(self, who, dst, policy, other, what):
        """A move whose first cond_resched() point runs one more call, as another task would."""
        m, mover, other = self.m, self.pid(who), self.pid(other)

        def hook(info):
            m.on_resched(None)
            if what == "touch":
                m.touch(other, *self.region(other))
            elif what == "exit":
                m.exit(other)
            elif what == "limit":
                m.write(dst or "A", "memory.limit_in_bytes", "1M")
            else:
                m.reclaim(info.src, "1M")
        m.on_resched(hook)
        try:
            m.move(mover, dst, policy=policy)
        finally:
            m.on_resched(None)


@settings(settings.default, max_examples=examples(ci=3000, deep=100000),
          suppress_health_check=list(HealthCheck))
@given(kernel=st.sampled_from(PROFILES), policy=st.sampled_from(POLICIES),
       swap=st.sampled_from(["0", "8M", "32M"]), ops=st.lists(OPS, min_size=4, max_size=30))
def test_plausible_calls_keep_every_invariant(kernel, policy, swap, ops):
    m = Machine(ram="32M", swap=swap, policy=policy, kernel=kernel)
    for g in GROUPS[1:]:
        m.mkdir(g)
    driver = Driver(m)
    for g in GROUPS:                     # a task in every group, each with some memory
        driver.op("spawn", g)
        driver.op("anon", -1, "2M")
    for name, *args in ops:
        try:
            driver.op(name, *args)
        except (OSError, ValueError):
            pass
        m.check()
