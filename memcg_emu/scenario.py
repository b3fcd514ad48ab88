"""Scenarios: one JSON file that runs here (``memcg-emu run``) and on a real kernel.

``load()`` validates the whole file before anything runs (ScenarioError names
the step and op); ``run()`` replays it on a Machine and returns the result JSON
of DESIGN section 7, shaped like the real kernel runner's so that
``../shared/tools/kcompare.py`` can compare the two line by line.
"""
import copy
import errno
import json
import os

from .errors import OOMKilled
from .machine import Machine
from .policies import POLICIES
from .profiles import PROFILES

__all__ = ["Scenario", "ScenarioError", "OPS", "load", "run", "parse_value"]

MiB = 1 << 20
DEFAULT_POLICY = "upstream"
DEFAULT_KERNEL = "6.1"
DEFAULT_VM = {"mem_mb": 2048, "smp": 1, "swap_mb": 0, "thp": None}

# Files whose text is recorded as text (stripped), never as a number.
TEXT_FILES = {"tasks", "cgroup.procs", "cpuset.cpus", "cpuset.mems"}

# Keys any step or the file itself may carry for people, ignored by the runner.
COMMENT_KEYS = ("comment", "description")


class ScenarioError(ValueError):
    """A scenario file that cannot run: ``step`` and ``op`` say where (None for the file itself)."""

    def __init__(self, message, step=None, op=None):
        if step is not None:
            message = f"step {step}{f' ({op})' if op else ''}: {message}"
        super().__init__(message)
        self.step = step
        self.op = op


# ---- field checkers: each returns None when the value is fine, else what is wrong ----

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _str(v):
    return None if isinstance(v, str) else "must be a string"


def _name(v):
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _path(v):
    if not isinstance(v, str) or not v or "\0" in v:
        return "must be a non-empty path string"
    return None


def _bytes(v):
    return None if _is_int(v) and v > 0 else "must be a positive integer (bytes)"


def _value(v):
    return None if isinstance(v, str) or _is_int(v) else "must be a string or an integer"


def _bool(v):
    return None if isinstance(v, bool) else "must be true or false"


def _ms(v):
    ok = (_is_int(v) or isinstance(v, float)) and v >= 0 and v == v
    return None if ok else "must be a non-negative number of milliseconds"


def _one_of(*choices):
    def check(v):
        return None if v in choices else "must be one of " + ", ".join(repr(c) for c in choices)
    return check


class Op:
    """One op's fields: required ones, optional ones with their defaults, which name tasks."""

    def __init__(self, required=(), optional=(), task=None, child=None):
        self.required = dict(required)                  # field -> checker
        # field -> (checker, default); every step may carry a label
        self.optional = {"label": (_str, None), **{k: (c, d) for k, c, d in optional}}
        self.task = task                                # field naming an existing task
        self.child = child                              # field naming a new task

    def fields(self):
        return list(self.required) + list(self.optional)


_CG = ("cg", _str)
_TASK = ("task", _name)
OPS = {
    "mkdir": Op([_CG]),
    "rmdir": Op([_CG]),
    "write": Op([_CG, ("file", _name), ("value", _value)]),
    "read": Op([_CG, ("file", _name)]),
    "drain": Op(),
    "spawn": Op([("task", _name), _CG], child="task"),
    "anon": Op([_TASK, ("bytes", _bytes)], [("madvise", _one_of("hugepage", "nohugepage"), None)],
               task="task"),
    "shm": Op([_TASK, ("bytes", _bytes)], task="task"),
    "file": Op([_TASK, ("bytes", _bytes), ("path", _path)],
               [("shared", _bool, False), ("touch", _one_of("read", "write"), "read"),
                ("map", _bool, True)], task="task"),
    "fork": Op([_TASK, ("child", _name)], task="task", child="child"),
    "move": Op([_TASK, _CG], [("file", _one_of("tasks", "cgroup.procs"), "tasks")], task="task"),
    "exit": Op([_TASK], task="task"),
    "kill": Op([_TASK], task="task"),
    "sleep": Op([("ms", _ms)]),
}


def _positive(v):
    return None if _is_int(v) and v > 0 else "must be a positive integer"


def _non_negative(v):
    return None if _is_int(v) and v >= 0 else "must be a non-negative integer"


# vm: the machine, as the real kernel runner reads it (thp null: the kernel's default; the
# watchdog matters only there)
VM_FIELDS = {
    "mem_mb": _positive,
    "smp": lambda v: None if _is_int(v) and 1 <= v <= 1024 else "must be an integer from 1 to 1024",
    "swap_mb": _non_negative,
    "thp": lambda v: None if v in (None, "never", "always", "madvise")
    else "must be one of 'never', 'always', 'madvise' or null",
    "watchdog_s": _positive,
    "drain_before_read": _bool,
}
TOP_FIELDS = ("name", "description", "comment", "vm", "emu", "steps")


class Scenario:
    """A validated scenario: the effective machine (vm), emulator settings (emu) and the steps."""

    def __init__(self, name, description, vm, emu, steps, path=None):
        self.name = name
        self.description = description
        self.vm = vm          # every VM_FIELDS key that applies, defaults filled in
        self.emu = emu        # {"policy", "kernel"}, defaults and overrides applied
        self.steps = steps    # the steps exactly as written (echoed into the result)
        self.path = path

    @property
    def policy(self):
        return self.emu["policy"]

    @property
    def kernel(self):
        return self.emu["kernel"]

    def __repr__(self):
        return f"<Scenario {self.name!r}: {len(self.steps)} steps, {self.policy}, kernel {self.kernel}>"


def _check_emu_value(key, value):
    known = POLICIES if key == "policy" else PROFILES
    if not isinstance(value, str) or value not in known:
        raise ScenarioError(f"emu.{key}: unknown {key} {value!r}; choose one of {', '.join(known)}")


def _validate_steps(steps):
    if not isinstance(steps, list):
        raise ScenarioError("'steps' must be a list of step objects")
    alive, exited = set(), {}
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            raise ScenarioError("must be an object with an 'op'", i)
        op = step.get("op")
        if "op" not in step:
            raise ScenarioError("missing required field 'op'", i)
        if not isinstance(op, str) or op not in OPS:
            raise ScenarioError(f"unknown op {op!r}; known ops: {', '.join(OPS)}", i,
                                op if isinstance(op, str) else None)
        spec = OPS[op]
        for key in step:
            if key != "op" and key not in spec.required and key not in spec.optional \
                    and key not in COMMENT_KEYS:
                raise ScenarioError(f"unknown field {key!r}; {op} takes "
                                    f"{', '.join(spec.fields()) or 'no fields'}", i, op)
        for key, check in spec.required.items():
            if key not in step:
                raise ScenarioError(f"missing required field {key!r}", i, op)
            problem = check(step[key])
            if problem:
                raise ScenarioError(f"field {key!r} {problem}, not {step[key]!r}", i, op)
        for key, (check, _default) in spec.optional.items():
            if key in step:
                problem = check(step[key])
                if problem:
                    raise ScenarioError(f"field {key!r} {problem}, not {step[key]!r}", i, op)
        if spec.task:
            name = step[spec.task]
            if name in exited:
                raise ScenarioError(f"task {name!r} already ended at step {exited[name]}", i, op)
            if name not in alive:
                raise ScenarioError(f"unknown task {name!r} (no earlier spawn or fork makes it)",
                                    i, op)
        if spec.child:
            name = step[spec.child]
            if name in alive or name in exited:
                raise ScenarioError(f"task name {name!r} is already used by an earlier step", i, op)
            alive.add(name)
        if op in ("exit", "kill"):
            alive.discard(step["task"])
            exited[step["task"]] = i


def _validate_vm(vm):
    if vm is None:
        vm = {}
    if not isinstance(vm, dict):
        raise ScenarioError("'vm' must be an object")
    for key, value in vm.items():
        if key not in VM_FIELDS:
            raise ScenarioError(f"vm.{key}: unknown setting; vm takes {', '.join(VM_FIELDS)}")
        problem = VM_FIELDS[key](value)
        if problem:
            raise ScenarioError(f"vm.{key} {problem}, not {value!r}")
    return {**DEFAULT_VM, **vm}


def _validate_emu(emu, policy, kernel):
    if emu is None:
        emu = {}
    if not isinstance(emu, dict):
        raise ScenarioError("'emu' must be an object")
    for key in emu:
        if key not in ("policy", "kernel"):
            raise ScenarioError(f"emu.{key}: unknown setting; emu takes policy, kernel")
    out = {"policy": emu.get("policy", DEFAULT_POLICY), "kernel": emu.get("kernel", DEFAULT_KERNEL)}
    if policy is not None:
        out["policy"] = policy
    if kernel is not None:
        out["kernel"] = kernel
    for key in ("policy", "kernel"):
        _check_emu_value(key, out[key])
    return out


def load(source, policy=None, kernel=None):
    """Validate a scenario (a path to a JSON file, or the already-parsed dict) into a Scenario.

    ``policy`` / ``kernel`` override the file's ``emu`` settings. Raises ScenarioError
    (a ValueError) for anything that would stop the run, before anything runs; OSError
    when the file cannot be read.
    """
    path = None
    if isinstance(source, Scenario):
        return Scenario(source.name, source.description, dict(source.vm),
                        _validate_emu(source.emu, policy, kernel), source.steps, source.path)
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ScenarioError(f"not valid JSON: {e}") from None
    elif isinstance(source, dict):
        data = copy.deepcopy(source)
    else:
        raise ScenarioError(f"load() takes a path or a dict, not {type(source).__name__}")
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a JSON object with 'steps'")
    for key in data:
        if key not in TOP_FIELDS:
            raise ScenarioError(f"unknown top-level key {key!r}; a scenario has "
                                f"{', '.join(TOP_FIELDS)}")
    if "steps" not in data:
        raise ScenarioError("missing 'steps'")
    default_name = os.path.splitext(os.path.basename(path))[0] if path else "scenario"
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"'name' must be a non-empty string, not {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError("'description' must be a string")
    vm = _validate_vm(data.get("vm"))
    emu = _validate_emu(data.get("emu"), policy, kernel)
    _validate_steps(data["steps"])
    return Scenario(name, description, vm, emu, data["steps"], path)


# ---- running ----

def _errno_name(err):
    return errno.errorcode.get(err, f"E{err}") if err else "EIO"


def _cg_path(path):
    """"A/B" -> "/A/B", "" -> "/": how the kernel runner prints a task's memcg."""
    return "/" + path.strip("/")


def parse_value(file, text):
    """A control file's text as a read records it: int, dict of ints (key value lines), or text."""
    stripped = text.strip()
    if file in TEXT_FILES or file.startswith("cpuset."):
        return stripped
    try:
        return int(stripped, 10)
    except ValueError:
        pass
    lines = stripped.splitlines()
    pairs = [line.split() for line in lines]
    if lines and all(len(p) == 2 for p in pairs):
        try:
            return {k: int(v, 10) for k, v in pairs}
        except ValueError:
            pass
    return stripped


class _Died(Exception):
    """The step's task is gone: OOM-killed ("died") or never born (its spawn or fork failed)."""

    def __init__(self, status, pid=None):
        super().__init__(status)
        self.status = status
        self.pid = pid


class _Runner:
    def __init__(self, scenario, check, trace=False):
        vm = scenario.vm
        self.scenario = scenario
        self.check = check
        self.trace = trace
        try:
            self.machine = Machine(ram=vm["mem_mb"] * MiB, swap=vm["swap_mb"] * MiB,
                                   policy=scenario.policy, kernel=scenario.kernel, cpus=vm["smp"],
                                   thp=vm["thp"])
        except (OSError, ValueError) as e:
            raise ScenarioError(f"vm: cannot build the machine: {e}") from None
        self.pids = {}        # task name -> pid (alive)
        self.gone = {}        # task name -> status its steps now get ("died", or ESRCH: never born)
        self.names = {}       # pid -> task name
        self.file_size = {}   # path -> bytes written so far (for the result's "written")
        self.moves, self.reads, self.steps, self.dmesg = [], [], [], []
        self.killed = []      # task names OOM-killed during the current step

    # -- tasks --
    def task(self, name):
        if name in self.gone:
            raise _Died(self.gone[name])
        return self.pids[name]

    def born(self, name, pid):
        self.pids[name] = pid
        self.names[pid] = name

    def mark_dead(self, pid):
        name = self.names.get(pid)
        if name is not None and name in self.pids:
            del self.pids[name]
            self.gone[name] = "died"
            self.killed.append(name)

    def reap(self):
        """Notice tasks killed by any path (the OOM killer inside a move, say)."""
        for name, pid in list(self.pids.items()):
            try:
                self.machine.cgroup_of(pid)
            except OSError as e:
                if e.errno != errno.ESRCH:
                    raise
                self.mark_dead(pid)

    def charging(self, pid, fn):
        """Run a call that charges memory on behalf of ``pid`` as a page fault would.

        When the memcg OOM killer kills another task, the kernel retries the
        fault and the task goes on; when it kills this task, the task died.
        """
        for _ in range(len(self.names) + 2):
            try:
                return fn()
            except OOMKilled as e:
                if e.victim:
                    self.mark_dead(e.victim)
                if e.victim == pid:
                    raise _Died("died", pid) from None
                if not e.victim:
                    raise  # no task to kill: the charge fails (ENOMEM)
        raise OSError(errno.ENOMEM, "the OOM killer made no progress")

    # -- ops: each returns the step's result dict, "status" first --
    def op_mkdir(self, s):
        self.machine.mkdir(s["cg"])
        return {"status": "ok", "errno": 0}

    def op_rmdir(self, s):
        self.machine.rmdir(s["cg"])
        return {"status": "ok", "errno": 0}

    def op_write(self, s):
        self.machine.write(s["cg"], s["file"], s["value"])
        return {"status": "ok", "errno": 0}

    def op_read(self, s, i):
        entry = {"step": i, "cg": s["cg"], "file": s["file"], "label": s.get("label"),
                 "value": None, "status": "ok"}
        self.reads.append(entry)
        if self.scenario.vm.get("drain_before_read"):       # as the kernel runner: stocks back first
            self.machine.drain()
        try:
            entry["value"] = parse_value(s["file"], self.machine.read(s["cg"], s["file"]))
        except OSError as e:
            entry["status"] = _errno_name(e.errno)
            return {"status": entry["status"], "errno": e.errno, "value": None}
        return {"status": "ok", "value": entry["value"]}

    def op_drain(self, s):
        self.machine.drain()
        return {"status": "ok", "cpus": self.scenario.vm["smp"]}

    def op_sleep(self, s):
        return {"status": "ok"}

    def op_spawn(self, s):
        try:
            pid = self.machine.spawn(s["cg"])
        except OSError:
            self.gone[s["task"]] = "ESRCH"
            raise
        self.born(s["task"], pid)
        return {"pid": pid, "status": "ok", "memcg": _cg_path(self.machine.cgroup_of(pid))}

    def _map_touch(self, pid, size, kind, write, path=None, private=False, advice=None):
        addr = self.machine.mmap(pid, size, kind=kind, path=path, private=private)
        if advice:
            self.machine.madvise(pid, addr, size, advice)
        self.charging(pid, lambda: self.machine.touch(pid, addr, size, write=write))
        return addr

    def op_anon(self, s):
        pid = self.task(s["task"])
        addr = self._map_touch(pid, s["bytes"], "anon", True, advice=s.get("madvise"))
        return {"pid": pid, "status": "ok", "addr": hex(addr)}

    def op_shm(self, s):
        pid = self.task(s["task"])
        addr = self._map_touch(pid, s["bytes"], "shm", True)
        return {"pid": pid, "status": "ok", "addr": hex(addr)}

    def op_file(self, s):
        pid = self.task(s["task"])
        path, size = s["path"], s["bytes"]
        have = self.file_size.get(path, 0)
        self.charging(pid, lambda: self.machine.file_write(pid, path, size))
        self.file_size[path] = max(have, size)
        result = {"pid": pid, "status": "ok"}
        if s.get("map", True):
            addr = self._map_touch(pid, size, "file", s.get("touch", "read") == "write", path=path,
                                   private=not s.get("shared", False))
            result["addr"] = hex(addr)
        result["written"] = max(0, size - have)
        return result

    def op_fork(self, s):
        try:
            pid = self.task(s["task"])
        except _Died:
            self.gone[s["child"]] = "ESRCH"
            raise
        try:
            child = self.machine.fork(pid)
        except OSError:
            self.gone[s["child"]] = "ESRCH"
            raise
        self.born(s["child"], child)
        return {"parent_pid": pid, "status": "ok", "pid": child, "child_status": "ok",
                "child_pid": child, "child_memcg": _cg_path(self.machine.cgroup_of(child))}

    def op_move(self, s, i):
        entry = {"step": i, "task": s["task"], "cg": s["cg"], "label": s.get("label"),
                 "pid": None, "from": None, "after": None, "status": "ok", "errno": 0}
        self.moves.append(entry)
        try:
            pid = entry["pid"] = self.task(s["task"])
        except _Died as e:
            entry["status"], entry["errno"] = e.status, None
            raise
        entry["from"] = _cg_path(self.machine.cgroup_of(pid))
        result = {"pid": pid, "from": entry["from"]}
        if self.trace:
            self.trace_move(entry, self.machine.cgroup_of(pid), s["cg"])
        try:
            self.machine.write(s["cg"], s.get("file", "tasks"), str(pid))
        except OOMKilled as e:
            # the seed policy charges with the OOM killer armed during the move
            if e.victim:
                self.mark_dead(e.victim)
            entry["status"] = "died" if e.victim == pid else _errno_name(e.errno)
            entry["errno"] = None if e.victim == pid else e.errno
        except OSError as e:
            entry["status"], entry["errno"] = _errno_name(e.errno), e.errno
        finally:
            if self.trace:
                self.machine.on_resched(None)
                entry["trace"].append(self.sample("end", 0, entry))
        if s["task"] in self.pids:
            entry["after"] = _cg_path(self.machine.cgroup_of(pid))
        result.update(status=entry["status"], errno=entry["errno"], after=entry["after"])
        return result

    def sample(self, phase, pages, entry):
        usage = [int(self.machine.read(cg, "memory.usage_in_bytes")) for cg in entry["groups"]]
        return {"phase": phase, "pages": pages, "from_usage": usage[0], "to_usage": usage[1]}

    def trace_move(self, entry, src, dst):
        """Sample both groups' usage at every cond_resched() point of this move."""
        entry["groups"] = [src, dst]
        entry["limits"] = [int(self.machine.read(cg, "memory.limit_in_bytes")) for cg in (src, dst)]
        entry["trace"] = []
        entry["trace"].append(self.sample("start", 0, entry))
        self.machine.on_resched(lambda info: entry["trace"].append(
            self.sample(info.phase, info.pages, entry)))

    def op_exit(self, s):
        pid = self.task(s["task"])
        self.machine.exit(pid)
        del self.pids[s["task"]]
        return {"pid": pid, "status": "ok"}

    op_kill = op_exit

    # -- the loop --
    def step(self, i, s):
        op = s["op"]
        fn = getattr(self, "op_" + op)
        self.killed = []
        dmesg_at = len(self.machine.dmesg)
        try:
            result = fn(s, i) if op in ("read", "move") else fn(s)
        except _Died as e:
            result = {"pid": e.pid if e.pid is not None else self.pid_of(s.get("task")),
                      "status": e.status}
        except OOMKilled as e:
            if e.victim:
                self.mark_dead(e.victim)
            result = {"status": _errno_name(e.errno), "errno": e.errno}
        except OSError as e:
            result = {"status": _errno_name(e.errno), "errno": e.errno}
        self.reap()
        if self.killed:
            result["oom_killed"] = list(self.killed)
        lines = self.machine.dmesg[dmesg_at:]
        if lines:
            result["dmesg"] = list(lines)
            self.dmesg.extend({"step": i, "line": line} for line in lines)
        if self.check:
            try:
                self.machine.check()
            except AssertionError as e:
                raise AssertionError(f"step {i} ({op}): {e}") from None
        fields = {k: v for k, v in s.items() if k != "op"}
        self.steps.append({"i": i, "op": op, **fields, "result": result})

    def pid_of(self, name):
        for pid, n in self.names.items():
            if n == name:
                return pid
        return None

    def run(self):
        for i, s in enumerate(self.scenario.steps):
            self.step(i, s)
        sc = self.scenario
        return {
            "scenario": sc.name,
            "kernel": f"memcg-emu {sc.kernel}",
            "complete": True,
            "emu": dict(sc.emu),
            "vm": dict(sc.vm),
            "moves": self.moves,
            "reads": self.reads,
            "steps": self.steps,
            "dmesg": self.dmesg,
        }


def run(scenario, policy=None, kernel=None, check=False, trace=False):
    """Replay a scenario on a fresh Machine and return the result JSON (a dict).

    ``scenario`` is a Scenario, a path or a dict (validated first); ``policy`` /
    ``kernel`` override its ``emu`` settings; ``check=True`` runs Machine.check()
    after every step (AssertionError naming the step on a broken invariant);
    ``trace=True`` adds to each move the usage of its two groups at every
    cond_resched() point ("groups", "trace").
    """
    if not isinstance(scenario, Scenario) or policy is not None or kernel is not None:
        scenario = load(scenario, policy=policy, kernel=kernel)
    return _Runner(scenario, check, trace).run()
