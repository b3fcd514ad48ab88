"""Replay the real 6.1 kernel's answers (limits.*, foundation-facts.*) through the Python API.

Each scenario step is done with Machine calls (not the scenario runner), and
then compared with what the kernel recorded: every step's status exactly;
limit files exactly; byte figures (usage, rss, cache, mapped_file) within the
kernel's own overhead (the README's Scenarios section)
(2.5 MiB of helper pages + 0.5 %); tasks as text.
"""
import errno
import json

import pytest

from helpers import MiB, kernel_data, stat, usage
from memcg_emu import Machine, OOMKilled

SLACK = int(2.5 * MiB)
EXACT_FILES = {"memory.limit_in_bytes", "memory.move_charge_at_immigrate", "memory.use_hierarchy"}
TEXT_FILES = {"tasks", "cgroup.procs", "cpuset.cpus", "cpuset.mems"}
NEAR_STAT_KEYS = ("rss", "cache", "mapped_file", "total_rss", "total_cache")


def near(emu, real):
    return abs(emu - real) <= SLACK + real * 0.005


class Replay:
    """One scenario done step by step on a Machine, recording what the kernel runner records."""

    def __init__(self, scenario):
        vm = scenario["vm"]
        self.m = Machine(ram=vm["mem_mb"] * MiB, swap=vm.get("swap_mb", 0) * MiB, cpus=vm.get("smp", 1),
                         policy="none", kernel="6.1", kmem=False)
        self.pids = {}
        self.statuses = {}
        self.reads = {}
        self.victims = []
        for i, step in enumerate(scenario["steps"]):
            try:
                value = self.do(step)
                status = "ok"
            except OOMKilled as e:
                self.victims.append(e.victim)
                status = "died" if e.victim == self.pids.get(step.get("task")) else "ok"
                value = None
            except OSError as e:
                status = errno.errorcode[e.errno]
                value = None
            self.statuses[i] = status
            if step["op"] == "read":
                self.reads[step.get("label") or f"step{i}"] = value

    def touch_all(self, pid, addr, size, write):
        """A task's loop over its pages: after the OOM killer took another task, the fault retries."""
        for _ in range(8):
            try:
                self.m.touch(pid, addr, size, write=write)
                return
            except OOMKilled as e:
                if e.victim in (pid, 0):
                    raise           # recorded by the step: the task died (or nothing could be killed)
                self.victims.append(e.victim)
        raise AssertionError(f"task {pid} kept hitting the OOM killer")

    def do(self, step):
        m, op = self.m, step["op"]
        pid = self.pids.get(step.get("task"))
        if op == "mkdir":
            m.mkdir(step["cg"])
        elif op == "rmdir":
            m.rmdir(step["cg"])
        elif op == "write":
            m.write(step["cg"], step["file"], step["value"])
        elif op == "read":
            text = m.read(step["cg"], step["file"])
            if step["file"] in TEXT_FILES:
                return text.strip()
            if step["file"] == "memory.stat":
                return stat(m, step["cg"])
            return int(text)
        elif op in ("drain", "sleep"):
            m.drain()
        elif op == "spawn":
            self.pids[step["task"]] = m.spawn(step["cg"])
        elif op in ("anon", "shm"):
            addr = m.mmap(pid, step["bytes"], kind=op)
            self.touch_all(pid, addr, step["bytes"], True)
        elif op == "file":
            m.file_write(pid, step["path"], step["bytes"])
            if step.get("map", True):
                addr = m.mmap(pid, step["bytes"], kind="file", path=step["path"],
                              private=not step.get("shared", False))
                self.touch_all(pid, addr, step["bytes"], step.get("touch", "read") == "write")
        elif op == "fork":
            self.pids[step["child"]] = m.fork(pid)
        elif op in ("exit", "kill"):
            m.exit(pid)
        elif op == "move":
            m.write(step["cg"], step.get("file", "tasks"), str(pid))
        else:
            raise AssertionError(f"op {op!r} has no replay")


def load(name):
    scenario = json.load(open(kernel_data(f"{name}.json")))
    kernel = json.load(open(kernel_data(f"{name}.result.json")))
    return scenario, kernel


@pytest.fixture(scope="module")
def limits():
    scenario, kernel = load("limits")
    replay = Replay(scenario)
    yield replay, kernel
    replay.m.check()


@pytest.fixture(scope="module")
def facts():
    scenario, kernel = load("foundation-facts")
    replay = Replay(scenario)
    yield replay, kernel
    replay.m.check()


def kernel_statuses(kernel):
    return {s["i"]: s["result"]["status"] for s in kernel["steps"]
            if s["op"] not in ("drain", "sleep") and "status" in s["result"]}


def compare_read(label, emu, kernel_read):
    real, name = kernel_read["value"], kernel_read["file"]
    if name in EXACT_FILES or name in TEXT_FILES:
        assert emu == real, f"{label}: emulator {emu!r}, kernel {real!r}"
    elif name == "memory.stat":
        assert list(emu) == list(real)
        for key in NEAR_STAT_KEYS:
            assert near(emu[key], real[key]), f"{label}.{key}: emulator {emu[key]}, kernel {real[key]}"
        assert emu["hierarchical_memory_limit"] == real["hierarchical_memory_limit"]
    elif name == "memory.failcnt":
        assert (emu > 0) == (real > 0), f"{label}: emulator {emu}, kernel {real}"
    else:
        assert near(emu, real), f"{label}: emulator {emu}, kernel {real}"


# ---------------------------------------------------------------- limits

def test_limits_every_step_status(limits):
    replay, kernel = limits
    expected = kernel_statuses(kernel)
    got = {i: replay.statuses[i] for i in expected}
    assert got == expected


@pytest.mark.parametrize("label", ["lim4097", "lim1G", "limm1", "limabc", "lim12k", "lim32M_busy",
                                   "use_after_busy", "maxu_reset"])
def test_limits_read(limits, label):
    replay, kernel = limits
    kernel_read = next(r for r in kernel["reads"] if r["label"] == label)
    compare_read(label, replay.reads[label], kernel_read)


def test_limits_exact_figures(limits):
    """Beyond the kernel's overhead: the emulator charges exactly the 64 MiB the task touched."""
    replay, _ = limits
    assert replay.reads["use_after_busy"] == 64 * MiB
    assert replay.reads["maxu_reset"] == 64 * MiB


# ---------------------------------------------------------------- foundation-facts

def test_facts_every_step_status(facts):
    replay, kernel = facts
    expected = kernel_statuses(kernel)
    got = {i: replay.statuses[i] for i in expected}
    assert got == expected


@pytest.mark.parametrize("label", ["oom.usage", "oom.failcnt", "oom.tasks", "cow.before", "cow.afterfork",
                                   "file.D", "file.E", "shm.E"])
def test_facts_read(facts, label):
    replay, kernel = facts
    kernel_read = next(r for r in kernel["reads"] if r["label"] == label)
    compare_read(label, replay.reads[label], kernel_read)


def test_facts_oom_killed_the_toucher(facts):
    replay, _ = facts
    assert replay.victims == [replay.pids["X"]]
    with pytest.raises(OSError) as info:
        replay.m.cgroup_of(replay.pids["X"])
    assert info.value.errno == errno.ESRCH


def test_facts_exact_figures(facts):
    """The same facts without the kernel's own pages: what the emulator must charge exactly."""
    replay, _ = facts
    r = replay.reads
    assert r["oom.usage"] == 0
    assert r["cow.before"]["rss"] == 16 * MiB and r["cow.before"]["cache"] == 0
    assert r["cow.afterfork"]["rss"] == 16 * MiB                 # fork charges nothing
    assert r["file.D"]["cache"] == 8 * MiB and r["file.D"]["mapped_file"] == 8 * MiB
    assert r["file.D"]["rss"] == 0
    assert r["file.E"]["cache"] == 0 and r["file.E"]["rss"] == 0  # charged once, to its first toucher
    assert r["shm.E"]["cache"] == 4 * MiB and r["shm.E"]["shmem"] == 4 * MiB
    assert r["shm.E"]["mapped_file"] == 4 * MiB and r["shm.E"]["rss"] == 0
    assert r["shm.E"]["inactive_anon"] + r["shm.E"]["active_anon"] == 4 * MiB   # shm on the anon LRU
    assert usage(replay.m, "E") == 4 * MiB and usage(replay.m, "D") == 8 * MiB
