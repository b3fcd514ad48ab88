"""Bad input at scale: random junk to every control file, the Machine API and the scenario loader.

Every call either succeeds or raises OSError / ValueError (ScenarioError is a
ValueError), the interpreter never dies, and check() still passes afterwards.
Junk includes wrong types, empty and huge numbers, memparse suffixes, NUL
bytes, non-ASCII text, paths with slashes and dots, pids of dead and unborn
tasks, and scenario files that are not JSON, not objects, or objects with
wrong, missing and extra fields.
"""
import errno
import json
import math

from hypothesis_profiles import examples
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from memcg_emu import POLICIES, Machine
from memcg_emu.scenario import OPS, Scenario, load, run

PAGE = 4096
CONTROL_FILES = (
    "tasks", "cgroup.procs", "memory.usage_in_bytes", "memory.max_usage_in_bytes",
    "memory.limit_in_bytes", "memory.failcnt", "memory.force_empty", "memory.stat",
    "memory.move_charge_at_immigrate", "memory.use_hierarchy", "cpuset.cpus", "cpuset.mems",
    "memory.kmem.usage_in_bytes", "memcg_emu.wrong_charge_bytes", "memcg_emu.leaked_bytes",
)
GROUPS = ("", "A", "B", "A/C")

WORDS = st.sampled_from([
    "", " ", "\n", "-1", "0", "1", "3", "4095", "4096", "4097", "1G", "1g", "64k", "2M ", " 1M\n",
    "0x1000", "0X10", "010", "09", "1e3", "1.5", "+1", "--1", "-0", "18446744073709551615",
    "18446744073709551616", "9" * 40, "1T", "1P", "1E", "16E", "1Z", "1KB", "K", "\0", "1\0",
    "0-0", "0,0", "0-", "-", "0-1", "1-0", "0,", ",", "a", "max", "\xff", "\uff11", "0\t", "1 2",
])
TEXT = st.one_of(WORDS, st.text(max_size=24), st.integers(-2 ** 70, 2 ** 70).map(str),
                 st.tuples(WORDS, WORDS).map("".join))
JUNK = st.one_of(
    TEXT, st.integers(-2 ** 70, 2 ** 70), st.none(), st.booleans(),
    st.floats(allow_nan=True), st.binary(max_size=8), st.lists(st.integers(0, 5), max_size=2),
)
PATHS = st.one_of(st.sampled_from(GROUPS + ("/", "//A", "A/", "/A/C/", ".", "..", "A/..", "nope",
                                            "A/C/D", "A\0B", "B" * 300)), st.text(max_size=8))
NAMES = st.one_of(st.sampled_from(CONTROL_FILES), st.text(max_size=20))

# Small enough that a junk size which happens to be valid stays cheap (RAM bounds every fault).
SIZES = st.one_of(st.integers(-5, 64 * PAGE), st.sampled_from([0, 1, PAGE, "1M", "4K", "1G", "64M",
                                                               2 ** 47, 2 ** 64, -1]), JUNK)
PIDS = st.one_of(st.integers(-2, 12), st.sampled_from([0, 2 ** 31, 2 ** 63, -2 ** 31]), JUNK)
ADDRS = st.one_of(st.integers(-1, 2 ** 48), st.sampled_from([0x7f0000000000 - 64 * PAGE]), JUNK)
KINDS = st.one_of(st.sampled_from(["anon", "file", "shm"]), JUNK)


def make_machine():
    """A small machine with groups, limits and tasks holding every kind of memory."""
    m = Machine(ram="64M", swap="0", policy="seed")
    for g in GROUPS[1:]:
        m.mkdir(g)
    m.write("B", "memory.limit_in_bytes", "1M")
    m.write("B", "memory.move_charge_at_immigrate", "3")
    x = m.spawn("A")
    for kind, path in (("anon", None), ("shm", None), ("file", "/f")):
        addr = m.mmap(x, 16 * PAGE, kind=kind, path=path)
        m.touch(x, addr, 16 * PAGE)
    y = m.fork(x)
    m.touch(y, m.mmap(y, 8 * PAGE), 8 * PAGE)
    m.spawn("B")
    return m


def call(fn, *args, **kw):
    """The contract: a result, OSError or ValueError; nothing else escapes."""
    try:
        return fn(*args, **kw)
    except (OSError, ValueError):
        return None


API = st.one_of(
    st.tuples(st.just("write"), PATHS, NAMES, JUNK),
    st.tuples(st.just("write"), st.sampled_from(GROUPS), st.sampled_from(CONTROL_FILES), JUNK),
    st.tuples(st.just("write"), st.sampled_from(GROUPS), st.sampled_from(CONTROL_FILES), TEXT),
    st.tuples(st.just("read"), PATHS, NAMES),
    st.tuples(st.just("mkdir"), PATHS),
    st.tuples(st.just("rmdir"), PATHS),
    st.tuples(st.just("spawn"), PATHS),
    st.tuples(st.just("mmap"), PIDS, SIZES, KINDS, st.one_of(st.none(), TEXT, JUNK), JUNK),
    st.tuples(st.just("touch"), PIDS, ADDRS, SIZES, JUNK),
    st.tuples(st.just("mlock"), PIDS, ADDRS, SIZES),
    st.tuples(st.just("munmap"), PIDS, ADDRS, SIZES),
    st.tuples(st.just("file_write"), PIDS, st.one_of(TEXT, JUNK), SIZES),
    st.tuples(st.just("fork"), PIDS),
    st.tuples(st.just("exec"), PIDS),
    st.tuples(st.just("exit"), PIDS),
    st.tuples(st.just("cgroup_of"), PIDS),
    st.tuples(st.just("move"), PIDS, PATHS, st.one_of(st.sampled_from(POLICIES), JUNK)),
    st.tuples(st.just("reclaim"), PATHS, SIZES),
    st.tuples(st.just("set_oom_score_adj"), PIDS, JUNK),
    st.tuples(st.just("fail_next_can_attach"), JUNK, JUNK),
    st.tuples(st.just("on_resched"), JUNK),
)


@settings(settings.default, max_examples=examples(ci=600, deep=20000),
          suppress_health_check=list(HealthCheck))
@given(calls=st.lists(API, min_size=1, max_size=25))
def test_junk_to_the_api_and_every_control_file(calls):
    m = make_machine()
    for name, *args in calls:
        fn = getattr(m, name)
        kw = {}
        if name == "mmap":
            args, kw = args[:2], dict(kind=args[2], path=args[3], private=args[4])
        elif name == "touch":
            args, kw = args[:3], dict(write=args[3])
        elif name == "move":
            args, kw = args[:2], dict(policy=args[2])
        call(fn, *args, **kw)
        m.on_resched(None)
        m.check()
    for g in GROUPS:                      # reads still work and give the kernel's shapes
        if call(m.read, g, "memory.usage_in_bytes") is not None:
            int(m.read(g, "memory.usage_in_bytes"))
            for line in m.read(g, "memory.stat").splitlines():
                key, value = line.split(" ")
                int(value)


@settings(settings.default, max_examples=examples(ci=150, deep=5000),
          suppress_health_check=list(HealthCheck))
@given(ram=st.one_of(st.sampled_from(["64M", "64K", "0", "1", "15", "16", 16 * PAGE, 17 * PAGE + 1,
                                      "1T1", "-1", 2 ** 70]), JUNK),
       swap=st.one_of(st.sampled_from(["0", "4K", "8K", 1, "1M", 2 ** 60]), JUNK),
       policy=st.one_of(st.sampled_from(POLICIES), JUNK),
       kernel=st.one_of(st.sampled_from(["6.1", "2.6.26", "2.6.34", "3.4", "6.13"]), JUNK),
       page_size=st.one_of(st.just(4096), JUNK), cpus=st.one_of(st.integers(-1, 4), JUNK))
def test_junk_machines(ram, swap, policy, kernel, page_size, cpus):
    try:
        m = Machine(ram=ram, swap=swap, page_size=page_size, policy=policy, kernel=kernel, cpus=cpus)
    except (OSError, ValueError):
        return
    assert m.ram_pages * PAGE <= 1 << 40, "a junk size built an enormous machine"
    pid = m.spawn("")
    call(m.touch, pid, m.mmap(pid, 8 * PAGE), 8 * PAGE)
    m.check()


# ---- the scenario loader ----

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 66, 2 ** 66),
                      st.floats(allow_nan=False, allow_infinity=False), TEXT)
JSON = st.recursive(JSON_LEAF, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(TEXT, kids, max_size=4)),
                    max_leaves=12)
FIELDS = ("cg", "file", "value", "label", "task", "bytes", "path", "shared", "touch", "map", "child", "ms")
SMALL = st.one_of(st.integers(-2, 3 * PAGE), st.sampled_from([1, PAGE, 8 * PAGE, 1 << 20]))
FIELD_VALUE = st.one_of(st.sampled_from(["A", "B", "", "X", "Y", "/f", "read", "write", "tasks",
                                         "memory.limit_in_bytes", "memory.stat", "1M", "-1"]),
                        SMALL, st.booleans(), st.none(), st.floats(), JSON_LEAF)
STEP = st.one_of(
    st.builds(lambda op, fields: {"op": op, **fields},
              st.one_of(st.sampled_from(sorted(OPS)), JSON_LEAF),
              st.dictionaries(st.one_of(st.sampled_from(FIELDS), TEXT), FIELD_VALUE, max_size=5)),
    JSON,
)
VM = st.one_of(st.fixed_dictionaries({}, optional={
    "mem_mb": st.one_of(st.sampled_from([16, 32, 64, 0, -1]), JSON_LEAF),
    "swap_mb": st.one_of(st.sampled_from([0, 8, 16, -1]), JSON_LEAF),
    "smp": st.one_of(st.integers(0, 3), JSON_LEAF),
    "thp": st.one_of(st.sampled_from(["never", "always", "madvise", None]), JSON_LEAF),
    "watchdog_s": JSON_LEAF, "drain_before_read": JSON_LEAF}), JSON)
EMU = st.one_of(st.fixed_dictionaries({}, optional={
    "policy": st.one_of(st.sampled_from(POLICIES), JSON_LEAF),
    "kernel": st.one_of(st.sampled_from(["6.1", "2.6.26", "2.6.35", "6.13"]), JSON_LEAF)}), JSON)
TASK_NAMES = st.sampled_from(["X", "X", "X", "Y"])          # X exists, Y only after a fork/spawn
NEW_NAMES = st.sampled_from(["Y", "Z", "W", "X"])
BYTES = st.one_of(st.integers(1, 64 * PAGE), st.sampled_from([1, PAGE, 1 << 20, 0, -1]))
PLAUSIBLE_VALUE = st.one_of(st.sampled_from(["1M", "-1", "0", "4096", "3", "", "1", "65536"]), TEXT,
                            st.integers(-1, 1 << 22))
PLAUSIBLE_STEP = st.one_of(
    st.fixed_dictionaries({"op": st.sampled_from(["mkdir", "rmdir"]), "cg": st.sampled_from(GROUPS + ("A/C",))}),
    st.fixed_dictionaries({"op": st.just("write"), "cg": st.sampled_from(GROUPS),
                           "file": st.sampled_from(CONTROL_FILES), "value": PLAUSIBLE_VALUE}),
    st.fixed_dictionaries({"op": st.just("read"), "cg": st.sampled_from(GROUPS),
                           "file": st.one_of(st.sampled_from(CONTROL_FILES), TEXT)}, optional={"label": TEXT}),
    st.fixed_dictionaries({"op": st.sampled_from(["spawn"]), "task": NEW_NAMES, "cg": st.sampled_from(GROUPS)}),
    st.fixed_dictionaries({"op": st.sampled_from(["anon", "shm"]), "task": TASK_NAMES, "bytes": BYTES}),
    st.fixed_dictionaries({"op": st.just("file"), "task": TASK_NAMES, "bytes": BYTES,
                           "path": st.sampled_from(["/f", "/g", "/f/"])},
                          optional={"shared": st.booleans(), "touch": st.sampled_from(["read", "write"]),
                                    "map": st.booleans()}),
    st.fixed_dictionaries({"op": st.just("fork"), "task": TASK_NAMES, "child": NEW_NAMES}),
    st.fixed_dictionaries({"op": st.just("move"), "task": TASK_NAMES, "cg": st.sampled_from(GROUPS)},
                          optional={"file": st.sampled_from(["tasks", "cgroup.procs"]), "label": TEXT}),
    st.fixed_dictionaries({"op": st.sampled_from(["exit", "kill"]), "task": st.sampled_from(["Y", "Z"])}),
    st.fixed_dictionaries({"op": st.just("drain")}),
    st.fixed_dictionaries({"op": st.just("sleep"), "ms": st.one_of(SMALL, st.floats())}),
)
PLAUSIBLE = st.fixed_dictionaries(
    {"steps": st.lists(PLAUSIBLE_STEP, max_size=16).map(
        lambda steps: [{"op": "mkdir", "cg": "A"}, {"op": "spawn", "task": "X", "cg": "A"}] + steps)},
    optional={"vm": st.fixed_dictionaries({"mem_mb": st.sampled_from([16, 32, 64]),
                                           "swap_mb": st.sampled_from([0, 8, 16])}),
              "emu": st.fixed_dictionaries({"policy": st.sampled_from(POLICIES),
                                            "kernel": st.sampled_from(["6.1", "2.6.26", "2.6.34", "2.6.35",
                                                                       "3.4", "6.13"])})})
SCENARIO = st.one_of(
    PLAUSIBLE,
    st.fixed_dictionaries({"steps": st.lists(STEP, max_size=12)},
                          optional={"name": JSON_LEAF, "description": JSON_LEAF, "vm": VM, "emu": EMU,
                                    "comment": JSON_LEAF, "extra": JSON_LEAF}),
    JSON,
)


def note(text):
    try:
        event(text)
    except Exception:      # outside a property test: nothing to count
        pass


def shrink_machine(sc):
    """Run cheaply: at most 64M of RAM and swap (a valid scenario may ask for 2T)."""
    sc.vm = {**sc.vm, "mem_mb": min(sc.vm["mem_mb"], 64), "swap_mb": min(sc.vm["swap_mb"], 64)}


def load_and_run(source):
    try:
        sc = load(source)
    except (OSError, ValueError):
        note("scenario rejected")
        return
    assert isinstance(sc, Scenario)
    shrink_machine(sc)
    try:
        result = run(sc, check=True)        # check() after every step
    except (OSError, ValueError):
        note("scenario refused to run")
        return
    note(f"scenario ran: {sum(s['result']['status'] == 'ok' for s in result['steps'])} steps ok of "
         f"{len(result['steps'])}" if len(result["steps"]) < 3 else "scenario ran: 3+ steps")
    json.dumps(result)                      # the result is JSON
    statuses = [s["result"]["status"] for s in result["steps"]]
    assert len(statuses) == len(sc.steps)
    assert all(isinstance(x, str) for x in statuses)


@settings(settings.default, max_examples=examples(ci=1000, deep=40000),
          suppress_health_check=list(HealthCheck))
@given(doc=SCENARIO)
def test_junk_scenarios_load_or_fail_cleanly(doc):
    load_and_run(doc)


@settings(settings.default, max_examples=examples(ci=300, deep=10000),
          suppress_health_check=list(HealthCheck))
@given(doc=PLAUSIBLE)
def test_plausible_scenarios_with_junk_values_run_cleanly(doc):
    """Mostly valid scenarios (every op, junk values where a value is free): most load and run."""
    load_and_run(doc)


@settings(settings.default, max_examples=examples(ci=300, deep=10000),
          suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(st.binary(max_size=200), SCENARIO.map(json.dumps).map(str.encode),
                     SCENARIO.map(json.dumps).map(lambda t: t[: len(t) // 2].encode()),
                     st.just(b'{"steps": [{"op": "mkdir", "cg": "A"}], "name": NaN}')))
def test_junk_scenario_files(raw, tmp_path_factory):
    path = tmp_path_factory.mktemp("junk") / "junk.json"
    path.write_bytes(raw)
    load_and_run(str(path))


def test_nan_and_infinity_in_a_scenario():
    for value in (math.nan, math.inf, -math.inf):
        load_and_run({"steps": [{"op": "sleep", "ms": value}]})
        load_and_run({"vm": {"mem_mb": value}, "steps": []})


# ---- what the fuzzing found (fixed in ca70ef8; kept as regression tests) ----

def test_unhashable_kind_policy_kernel_are_value_errors():
    m = Machine(ram="64M")
    pid = m.spawn("")
    for fn in (lambda: m.mmap(pid, PAGE, kind=["anon"]), lambda: m.move(pid, "", policy=["seed"]),
               lambda: Machine(ram="64M", policy=["seed"]), lambda: Machine(ram="64M", kernel={"6.1": 1})):
        with pytest.raises(ValueError):
            fn()


def test_address_beyond_64_bits_is_a_value_error():
    m = Machine(ram="64M")
    pid = m.spawn("")
    for fn in (m.touch, m.mlock, m.munmap):
        with pytest.raises(ValueError):
            fn(pid, 1 << 64, PAGE)


def test_huge_pid_in_tasks_is_einval():
    m = Machine(ram="64M")
    m.mkdir("A")
    for name in ("tasks", "cgroup.procs"):
        for pid in (1 << 31, 1 << 64):
            with pytest.raises(OSError) as e:
                m.write("A", name, str(pid))
            assert e.value.errno == errno.EINVAL
