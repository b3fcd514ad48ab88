"""Scenarios: one JSON file that runs here (``memcg-emu run``) and on a real kernel.

``load()`` validates the whole file before anything runs (ScenarioError names
the step and op); ``run()`` replays it on a Machine and returns the result JSON,
shaped like the real kernel runner's so that the two compare line by line
(``memcg-emu diff``).  The language is documented in docs/scenarios.md;
``schema()`` is its JSON Schema, built from the OPS table below: an op is one
OPS entry (its fields) plus one ``_Runner.op_<name>`` method (what it does).
"""
import copy
import errno
import json
import os
import sys

from .attach import OUTCOMES, PHASES, SUBSYSTEMS
from .errors import OOMKilled, errno_name
from .machine import SCENARIO_HELPER, Machine
from .policies import POLICIES
from .profiles import PROFILES
from .sizes import parse_size

__all__ = ["Scenario", "ScenarioError", "OPS", "load", "loads", "run", "parse_value", "schema"]

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


# ---- field checkers: each returns None when the value is fine, else what is wrong;
# ---- ``.schema`` is the same rule as a JSON Schema fragment ----

def _schema(fragment):
    def wrap(check):
        check.schema = fragment
        return check
    return wrap


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


@_schema({"type": "string"})
def _str(v):
    return None if isinstance(v, str) else "must be a string"


@_schema({"type": "string", "minLength": 1, "pattern": "\\S"})
def _name(v):
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


@_schema({"type": "string", "minLength": 1})
def _path(v):
    if not isinstance(v, str) or not v or "\0" in v:
        return "must be a non-empty path string"
    return None


SIZE_SCHEMA = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": (1 << 64) - 1},
                         {"type": "string", "pattern": "^\\s*(0[xX][0-9a-fA-F]+|[0-9]+)[kKmMgGtTpPeE]?\\s*$"}]}


def _size_of(v):
    """Bytes from an int or a size string ("800M"), as Machine takes them; None if neither."""
    try:
        return parse_size(v)
    except ValueError:
        return None


@_schema(SIZE_SCHEMA)
def _bytes(v):
    return None if (_size_of(v) or 0) > 0 else \
        "must be a positive size: bytes (an integer) or a size string such as \"800M\""


@_schema(SIZE_SCHEMA)
def _offset(v):
    return None if _size_of(v) is not None else "must be a size: bytes or a size string"


@_schema({"type": ["string", "integer"]})
def _value(v):
    return None if isinstance(v, str) or _is_int(v) else "must be a string or an integer"


@_schema({"type": "boolean"})
def _bool(v):
    return None if isinstance(v, bool) else "must be true or false"


@_schema({"type": "integer"})
def _int(v):
    return None if _is_int(v) else "must be an integer"


@_schema({"type": "integer", "minimum": 0})
def _count(v):
    return None if _is_int(v) and v >= 0 else "must be a non-negative integer"


@_schema({"type": "number", "minimum": 0})
def _ms(v):
    ok = (_is_int(v) or isinstance(v, float)) and v >= 0 and v == v
    return None if ok else "must be a non-negative number of milliseconds"


def _one_of(*choices):
    @_schema({"enum": list(choices)})
    def check(v):
        return None if v in choices else "must be one of " + ", ".join(repr(c) for c in choices)
    return check


@_schema({"oneOf": [{"type": "string", "pattern": "^E[A-Z0-9]+$"}, {"type": "integer", "minimum": 1}]})
def _errno(v):
    if _is_int(v) and v > 0 or isinstance(v, str) and hasattr(errno, v) and v.startswith("E"):
        return None
    return "must be an errno name such as \"EPERM\" or a positive integer"


STATUS_SCHEMA = {"type": "string", "description": '"ok", an errno name ("ENOMEM") or "died"'}
NUMBER_SCHEMA = {"oneOf": [SIZE_SCHEMA, {"type": "integer"},
                           {"type": "object", "properties": {"min": SIZE_SCHEMA, "max": SIZE_SCHEMA},
                            "additionalProperties": False}]}
EXPECT_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "description": "what the step must give; a step whose expectation fails makes `run` exit 1",
    "properties": {
        "status": {"oneOf": [STATUS_SCHEMA, {"type": "array", "items": STATUS_SCHEMA}]},
        "value": {"description": "read: the value (a number or range, text, or per key of memory.stat)"},
        "min": SIZE_SCHEMA, "max": SIZE_SCHEMA,
        "outcome": {"enum": list(OUTCOMES)},
        "pages_moved": NUMBER_SCHEMA, "pages_marked": NUMBER_SCHEMA, "pages_leaked": NUMBER_SCHEMA,
        "oom_killed": {"type": "array", "items": {"type": "string"}},
    },
}
# which result fields an expectation may name, by op ("status" and "oom_killed": every op)
EXPECT_FIELDS = {"read": ("value", "min", "max"),
                 "move": ("outcome", "pages_moved", "pages_marked", "pages_leaked")}


def _range_problem(v):
    if isinstance(v, dict):
        if not v or set(v) - {"min", "max"}:
            return "a range is an object with min and/or max"
        return next((p for p in map(_range_problem, v.values()) if p), None)
    if _is_int(v) or _size_of(v) is not None:
        return None
    return "must be a number, a size string or a {min, max} range"


def _expect_problem(op, v):
    if not isinstance(v, dict) or not v:
        return "must be an object such as {\"status\": \"EINVAL\"}"
    allowed = ("status", "oom_killed") + EXPECT_FIELDS.get(op, ())
    for key, want in v.items():
        if key not in allowed:
            return f"{op} can expect {', '.join(allowed)}, not {key!r}"
        if key == "status":
            items = want if isinstance(want, list) else [want]
            if not items or not all(isinstance(s, str) and (s in ("ok", "died") or hasattr(errno, s))
                                    for s in items):
                return 'status must be "ok", "died", an errno name or a list of them'
        elif key == "oom_killed":
            if not isinstance(want, list) or not all(isinstance(s, str) for s in want):
                return "oom_killed must be a list of task names"
        elif key == "outcome":
            if want not in OUTCOMES:
                return f"outcome must be one of {', '.join(OUTCOMES)}"
        elif key == "value":
            if isinstance(want, dict) and want and not set(want) <= {"min", "max"}:
                problem = next((p for p in map(_range_problem, want.values()) if p), None)
            elif isinstance(want, str) or want is None:
                problem = None   # text, or a size string against a number
            else:
                problem = _range_problem(want)
            if problem:
                return f"value: {problem}"
        else:
            problem = _range_problem(want)
            if problem:
                return f"{key}: {problem}"
    return None


def _show(v, width=60):
    """repr() of a value from the file, cut short (and safe for integers too long to print)."""
    try:
        text = repr(v)
    except ValueError:
        text = "an integer too long to print"
    return text if len(text) <= width else text[:width - 3] + "..."


class Op:
    """One op's fields: required ones, optional ones with their defaults, which name tasks.

    ``doc`` says what the op does (it goes into the schema); ``in_hook`` says whether
    the op may run inside an ``at_resched`` block (ops that start or end tasks or
    move one may not).
    """

    def __init__(self, required=(), optional=(), task=None, child=None, doc="", in_hook=True):
        self.required = dict(required)                  # field -> checker
        self.optional = {k: (c, d) for k, c, d in optional}  # field -> (checker, default)
        self.task = task                                # field naming an existing task
        self.child = child                              # field naming a new task
        self.doc = doc
        self.in_hook = in_hook

    def fields(self):
        return list(self.required) + list(self.optional)


_CG = ("cg", _str)
_TASK = ("task", _name)
_MAPPING = ("mapping", _name, None)
OPS = {
    "mkdir": Op([_CG], doc="create a cgroup (\"A\", \"A/B\" nests)"),
    "rmdir": Op([_CG], doc="remove a cgroup"),
    "write": Op([_CG, ("file", _name), ("value", _value)],
                doc="write a control file; an error is the step's status"),
    "read": Op([_CG, ("file", _name)],
               doc="record a control file's value: a number, a per-key object (memory.stat) or text"),
    "drain": Op(doc="flush every CPU's charge stock back to the counters (6.1: up to 64 pages a CPU) "
                    "and its LRU add batch onto the lists"),
    "spawn": Op([("task", _name), _CG], child="task", in_hook=False,
                doc="start a new task, with an empty address space, in a cgroup"),
    "anon": Op([_TASK, ("bytes", _bytes)], [_MAPPING, ("touch", _one_of("write", "read", "none"), "write"),
                                            ("madvise", _one_of("hugepage", "nohugepage"), None)],
               task="task", doc="map private anonymous memory and touch every page"),
    "shm": Op([_TASK, ("bytes", _bytes)], [_MAPPING, ("touch", _one_of("write", "read", "none"), "write")],
              task="task", doc="map shared anonymous memory (shmem) and touch every page"),
    "file": Op([_TASK, ("bytes", _bytes), ("path", _path)],
               [("shared", _bool, False), ("touch", _one_of("read", "write", "none"), "read"),
                ("map", _bool, True), _MAPPING], task="task",
               doc="write(2) the file up to `bytes` (page cache charged to the task's group), "
                   "then map it and touch it (map: false only writes)"),
    "touch": Op([_TASK, ("mapping", _name)], [("offset", _offset, 0), ("bytes", _bytes, None),
                                              ("write", _bool, True)], task="task",
                doc="fault in a named mapping (from offset, `bytes` or to its end)"),
    "mlock": Op([_TASK, ("mapping", _name)], [("offset", _offset, 0), ("bytes", _bytes, None)],
                task="task", doc="mlock(2) a named mapping: fault it in, pin it unevictable"),
    "munmap": Op([_TASK, ("mapping", _name)], [("offset", _offset, 0), ("bytes", _bytes, None)],
                 task="task", doc="munmap(2) a named mapping (or part of it)"),
    "madvise": Op([_TASK, ("mapping", _name), ("advice", _one_of("hugepage", "nohugepage"))],
                  [("offset", _offset, 0), ("bytes", _bytes, None)], task="task",
                  doc="madvise(MADV_HUGEPAGE or MADV_NOHUGEPAGE) on a named mapping (or part of it)"),
    "set_cpu": Op([_TASK, ("cpu", _count)], task="task",
                  doc="sched_setaffinity() to one CPU of the task's cpuset (EINVAL outside it)"),
    "reclaim": Op([_CG, ("bytes", _bytes)], doc="memory pressure: reclaim up to `bytes` from a cgroup"),
    "oom_score_adj": Op([_TASK, ("value", _int)], task="task",
                        doc="write /proc/PID/oom_score_adj (-1000 never killed ... 1000 killed first)"),
    "fork": Op([_TASK, ("child", _name)], task="task", child="child", in_hook=False,
               doc="fork(): the child shares every page copy-on-write"),
    "exec": Op([_TASK], task="task", in_hook=False,
               doc="execve(): the task gets a fresh, empty address space"),
    "fail_next": Op([("subsys", _one_of(*SUBSYSTEMS)), ("errno", _errno)], in_hook=False,
                    doc="the next move's can_attach of this subsystem fails with errno"),
    "at_resched": Op([("steps", _schema({"type": "array", "items": {"$ref": "#/$defs/step"}})(
                          lambda v: None if isinstance(v, list) else "must be a list of steps"))],
                     [("phase", _one_of(*PHASES.values()), None), ("pages", _count, 0),
                      ("cpu", _count, None)],
                     in_hook=False,
                     doc="during the next move, at the first cond_resched() point of `phase` (any) "
                         "after `pages` pages of it, run `steps` once, as another task would: "
                         "on the mover's thread, or with `cpu` on that CPU's own thread, the "
                         "move going on once they finish or wait (for the move, as a charger "
                         "does under upstream)"),
    "move": Op([_TASK, _CG], [("file", _one_of("tasks", "cgroup.procs"), "tasks")], task="task",
               in_hook=False, doc="write the task's pid into the cgroup's tasks file"),
    "exit": Op([_TASK], task="task", in_hook=False, doc="the task exits"),
    "kill": Op([_TASK], task="task", in_hook=False, doc="the task is killed (as exit)"),
    "sleep": Op([("ms", _ms)], doc="nothing in the emulator (time passes on a real kernel)"),
}
# Fields any step may carry: a label (reads and moves are keyed by it) and an expectation.
COMMON_FIELDS = ("label", "expect")


@_schema({"type": "integer", "minimum": 1})
def _positive(v):
    return None if _is_int(v) and v > 0 else "must be a positive integer"


# vm: the machine, as the real kernel runner reads it (thp null: the kernel's default; the
# watchdog matters only there)
VM_FIELDS = {
    "mem_mb": _positive,
    "smp": _schema({"type": "integer", "minimum": 1, "maximum": 1024})(
        lambda v: None if _is_int(v) and 1 <= v <= 1024 else "must be an integer from 1 to 1024"),
    "swap_mb": _count,
    "thp": _schema({"enum": [None, "never", "always", "madvise"]})(
        lambda v: None if v in (None, "never", "always", "madvise")
        else "must be one of 'never', 'always', 'madvise' or null"),
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


# What a spawned task runs: the reference kernel runner's helper program, or nothing at all.
IMAGES = {"helper": SCENARIO_HELPER, "empty": None}


def _check_emu_value(key, value):
    known = POLICIES if key == "policy" else PROFILES
    if not isinstance(value, str) or value not in known:
        raise ScenarioError(f"emu.{key}: unknown {key} {_show(value)}; choose one of {', '.join(known)}")


def _check_fields(step, i, op, spec):
    for key in step:
        if key != "op" and key not in spec.required and key not in spec.optional \
                and key not in COMMENT_KEYS and key not in COMMON_FIELDS:
            raise ScenarioError(f"unknown field {key!r}; {op} takes "
                                f"{', '.join(spec.fields() + list(COMMON_FIELDS))}", i, op)
    for key, check in spec.required.items():
        if key not in step:
            raise ScenarioError(f"missing required field {key!r}", i, op)
        problem = check(step[key])
        if problem:
            raise ScenarioError(f"field {key!r} {problem}, not {_show(step[key])}", i, op)
    for key, (check, _default) in spec.optional.items():
        if key in step:
            problem = check(step[key])
            if problem:
                raise ScenarioError(f"field {key!r} {problem}, not {_show(step[key])}", i, op)
    if "label" in step and not isinstance(step["label"], str):
        raise ScenarioError(f"field 'label' must be a string, not {_show(step['label'])}", i, op)
    if "expect" in step:
        problem = _expect_problem(op, step["expect"])
        if problem:
            raise ScenarioError(f"field 'expect': {problem}", i, op)


class _Names:
    """What validation knows at a step: live and ended tasks, named mappings, armed hooks."""

    def __init__(self):
        self.alive, self.exited, self.mappings = set(), {}, {}
        self.hooks = []       # (step, at_resched step) waiting for the next move


def _validate_step(step, i, names, in_hook=False):
    if not isinstance(step, dict):
        raise ScenarioError("must be an object with an 'op'", i)
    op = step.get("op")
    if "op" not in step:
        raise ScenarioError("missing required field 'op'", i)
    if not isinstance(op, str) or op not in OPS:
        raise ScenarioError(f"unknown op {_show(op)}; known ops: {', '.join(OPS)}", i,
                            op if isinstance(op, str) else None)
    spec = OPS[op]
    if in_hook and not spec.in_hook:
        raise ScenarioError(f"{op} cannot run inside at_resched (ops that start, end or move a "
                            f"task cannot)", i, op)
    _check_fields(step, i, op, spec)
    if spec.task:
        name = step[spec.task]
        if name in names.exited:
            raise ScenarioError(f"task {name!r} already ended at step {names.exited[name]}", i, op)
        if name not in names.alive:
            raise ScenarioError(f"unknown task {name!r} (no earlier spawn or fork makes it)", i, op)
    if spec.child:
        name = step[spec.child]
        if name in names.alive or name in names.exited:
            raise ScenarioError(f"task name {name!r} is already used by an earlier step", i, op)
        names.alive.add(name)
    mapping = step.get("mapping")
    if mapping is not None:
        if op in ("anon", "shm", "file"):
            if mapping in names.mappings:
                raise ScenarioError(f"mapping name {mapping!r} is already used", i, op)
            if op == "file" and not step.get("map", True):
                raise ScenarioError("a file step with map: false makes no mapping to name", i, op)
            names.mappings[mapping] = step["task"]
        elif names.mappings.get(mapping) != step["task"]:
            raise ScenarioError(f"task {step['task']!r} has no mapping named {mapping!r} (name one "
                                f"with \"mapping\" on its anon, shm or file step)", i, op)
    if op in ("exit", "kill", "exec"):
        names.mappings = {k: t for k, t in names.mappings.items() if t != step["task"]}
    if op in ("exit", "kill"):
        names.alive.discard(step["task"])
        names.exited[step["task"]] = i
    if op == "at_resched":
        for j, inner in enumerate(step["steps"]):
            try:
                _validate_step(inner, j, names, in_hook=True)
            except ScenarioError as e:
                raise ScenarioError(f"at_resched {e}", i, op) from None
        names.hooks.append((i, step))
    if op == "move":
        for j, hook in names.hooks:
            if any(s.get("task") == step["task"] for s in hook["steps"]):
                raise ScenarioError(f"the at_resched of step {j} names {step['task']!r}, the task "
                                    f"this step moves: its memory calls would wait for the move "
                                    f"(the kernel's mmap_lock), forever", i, op)
        names.hooks = []


def _validate_steps(steps):
    if not isinstance(steps, list):
        raise ScenarioError("'steps' must be a list of step objects")
    names = _Names()
    for i, step in enumerate(steps):
        _validate_step(step, i, names)
    if names.hooks:
        raise ScenarioError("at_resched runs during the next move, and no move follows it",
                            names.hooks[0][0], "at_resched")


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
            raise ScenarioError(f"vm.{key} {problem}, not {_show(value)}")
    return {**DEFAULT_VM, **vm}


def _validate_emu(emu, policy, kernel):
    if emu is None:
        emu = {}
    if not isinstance(emu, dict):
        raise ScenarioError("'emu' must be an object")
    for key in emu:
        if key not in ("policy", "kernel", "image"):
            raise ScenarioError(f"emu.{key}: unknown setting; emu takes policy, kernel, image")
    if emu.get("image", "helper") not in IMAGES:
        raise ScenarioError(f"emu.image: unknown image {_show(emu['image'])}; choose one of {', '.join(IMAGES)}")
    out = {"policy": emu.get("policy", DEFAULT_POLICY), "kernel": emu.get("kernel", DEFAULT_KERNEL),
           "image": emu.get("image", "helper")}
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
        with open(path, "rb") as f:
            data = loads(f.read())
    elif isinstance(source, dict):
        try:
            data = copy.deepcopy(source)
        except RecursionError:
            raise ScenarioError("nested too deeply") from None
    else:
        raise ScenarioError(f"load() takes a path or a dict, not {type(source).__name__}")
    try:
        return _load_data(data, path, policy, kernel)
    except RecursionError:
        raise ScenarioError("nested too deeply") from None


def loads(raw):
    """Parse a scenario file's bytes (or text) into JSON data; ScenarioError on anything not JSON."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ScenarioError(f"not UTF-8 text: byte {e.start} is {raw[e.start]:#04x}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise ScenarioError(f"not valid JSON: {e}") from None
    except RecursionError:
        raise ScenarioError("not valid JSON here: nested more deeply than Python's parser goes "
                            f"(about {sys.getrecursionlimit()} levels)") from None
    except ValueError as e:    # an integer literal past sys.get_int_max_str_digits()
        raise ScenarioError(f"not valid JSON here: {e}") from None


def _load_data(data, path, policy, kernel):
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
        raise ScenarioError(f"'name' must be a non-empty string, not {_show(name)}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ScenarioError("'description' must be a string")
    vm = _validate_vm(data.get("vm"))
    emu = _validate_emu(data.get("emu"), policy, kernel)
    _validate_steps(data["steps"])
    for i, step in enumerate(data["steps"]):
        if step["op"] == "at_resched" and step.get("cpu") is not None and step["cpu"] >= vm["smp"]:
            raise ScenarioError(f"cpu {step['cpu']} is not one of the machine's {vm['smp']} "
                                f"(vm.smp)", i, "at_resched")
    return Scenario(name, description, vm, emu, data["steps"], path)


# ---- running ----

def _errno_name(err):
    return errno_name(err) if err else "EIO"


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
    def __init__(self, scenario, check, trace=False, timing=False, timeline=None):
        vm = scenario.vm
        self.scenario = scenario
        self.check = check
        self.trace = trace
        self.timing = timing
        self.timeline = timeline
        try:
            self.machine = Machine(ram=vm["mem_mb"] * MiB, swap=vm["swap_mb"] * MiB,
                                   policy=scenario.policy, kernel=scenario.kernel, cpus=vm["smp"],
                                   trace=timeline is not None, thp=vm["thp"])
        except (OSError, ValueError) as e:
            raise ScenarioError(f"vm: cannot build the machine: {e}") from None
        self.pids = {}        # task name -> pid (alive)
        self.gone = {}        # task name -> status its steps now get ("died", or ESRCH: never born)
        self.names = {}       # pid -> task name
        self.file_size = {}   # path -> bytes written so far (for the result's "written")
        self.mappings = {}    # mapping name -> (addr, bytes)
        self.hooks = []       # at_resched steps armed for the next move
        self.elsewhere = []   # at_resched work running on another CPU during this move
        self.moves, self.reads, self.steps, self.dmesg = [], [], [], []
        self.expectations = []  # {"step", "label", "ok", "message"}, in the order they ran
        self.notes = []       # errors on steps that expected nothing
        self.killed = []      # task names OOM-killed during the current step
        self.dmesg_seen = 0

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
        image = IMAGES[self.scenario.emu["image"]]
        if image:       # the program starts as the real runner's does: its first writes may OOM
            self.charging(pid, lambda: self.machine.exec(pid, image))
        return {"pid": pid, "status": "ok", "memcg": _cg_path(self.machine.cgroup_of(pid))}

    def _map_touch(self, s, pid, kind, touch, path=None, private=False):
        size = parse_size(s["bytes"])
        addr = self.machine.mmap(pid, size, kind=kind, path=path, private=private)
        if s.get("madvise"):
            self.machine.madvise(pid, addr, size, s["madvise"])
        if s.get("mapping"):
            self.mappings[s["mapping"]] = (addr, size)
        if touch != "none":
            self.charging(pid, lambda: self.machine.touch(pid, addr, size, write=touch == "write"))
        return addr

    def op_anon(self, s):
        pid = self.task(s["task"])
        addr = self._map_touch(s, pid, "anon", s.get("touch", "write"))
        return {"pid": pid, "status": "ok", "addr": hex(addr)}

    def op_shm(self, s):
        pid = self.task(s["task"])
        addr = self._map_touch(s, pid, "shm", s.get("touch", "write"))
        return {"pid": pid, "status": "ok", "addr": hex(addr)}

    def op_file(self, s):
        pid = self.task(s["task"])
        path, size = s["path"], parse_size(s["bytes"])
        have = self.file_size.get(path, 0)
        self.charging(pid, lambda: self.machine.file_write(pid, path, size))
        self.file_size[path] = max(have, size)
        result = {"pid": pid, "status": "ok"}
        if s.get("map", True):
            addr = self._map_touch(s, pid, "file", s.get("touch", "read"), path=path,
                                   private=not s.get("shared", False))
            result["addr"] = hex(addr)
        result["written"] = max(0, size - have)
        return result

    def _range(self, s):
        """The [addr, addr+bytes) a mapping step names: from offset, bytes or to the mapping's end."""
        addr, size = self.mappings[s["mapping"]]
        offset = parse_size(s.get("offset", 0))
        length = parse_size(s["bytes"]) if s.get("bytes") is not None else max(size - offset, 0)
        return addr + offset, length

    def op_touch(self, s):
        pid = self.task(s["task"])
        addr, length = self._range(s)
        self.charging(pid, lambda: self.machine.touch(pid, addr, length, write=s.get("write", True)))
        return {"pid": pid, "status": "ok"}

    def op_mlock(self, s):
        pid = self.task(s["task"])
        addr, length = self._range(s)
        self.charging(pid, lambda: self.machine.mlock(pid, addr, length))
        return {"pid": pid, "status": "ok"}

    def op_munmap(self, s):
        pid = self.task(s["task"])
        addr, length = self._range(s)
        self.machine.munmap(pid, addr, length)
        return {"pid": pid, "status": "ok"}

    def op_madvise(self, s):
        pid = self.task(s["task"])
        addr, length = self._range(s)
        self.machine.madvise(pid, addr, length, s["advice"])
        return {"pid": pid, "status": "ok"}

    def op_set_cpu(self, s):
        pid = self.task(s["task"])
        self.machine.set_cpu(pid, s["cpu"])
        return {"pid": pid, "status": "ok", "cpu": s["cpu"]}

    def op_reclaim(self, s):
        freed = self.machine.reclaim(s["cg"], parse_size(s["bytes"]))
        return {"status": "ok", "reclaimed": freed}

    def op_oom_score_adj(self, s):
        pid = self.task(s["task"])
        if not -1000 <= s["value"] <= 1000:   # oom_score_adj_write(), fs/proc/base.c
            raise OSError(errno.EINVAL, "oom_score_adj takes -1000 to 1000")
        self.machine.set_oom_score_adj(pid, s["value"])
        return {"pid": pid, "status": "ok"}

    def op_exec(self, s):
        pid = self.task(s["task"])
        self.machine.exec(pid)
        return {"pid": pid, "status": "ok"}

    def op_fail_next(self, s):
        err = s["errno"] if _is_int(s["errno"]) else getattr(errno, s["errno"])
        self.machine.fail_next_can_attach(s["subsys"], err)
        return {"status": "ok"}

    def op_at_resched(self, s):
        self.hooks.append(s)
        return {"status": "ok", "armed": True}

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
        hooks, self.hooks = self.hooks, []
        try:
            pid = entry["pid"] = self.task(s["task"])
        except _Died as e:
            entry["status"], entry["errno"] = e.status, None
            raise
        src = self.machine.cgroup_of(pid)
        entry["from"] = _cg_path(src)
        result = {"pid": pid, "from": entry["from"]}
        if self.trace:
            entry["groups"] = [src, s["cg"]]
            entry["limits"] = [int(self.machine.read(cg, "memory.limit_in_bytes"))
                               for cg in entry["groups"]]
            entry["trace"] = [self.sample("start", 0, entry)]
        during = []
        if self.trace or hooks:
            self.machine.on_resched(lambda info: self.at_resched(info, entry, hooks, during, i))
        self.machine.last_attach = None
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
            self.machine.on_resched(None)
            for work in self.elsewhere:
                work.join()
            self.elsewhere = []
            if self.trace:
                entry["trace"].append(self.sample("end", 0, entry))
        if s["task"] in self.pids:
            entry["after"] = _cg_path(self.machine.cgroup_of(pid))
        attach = self.machine.last_attach
        entry["outcome"] = attach.outcome if attach is not None else "refused"
        for key in ("pages_moved", "pages_marked", "pages_leaked"):
            entry[key] = getattr(attach, key, 0)
        entry["oom_victims"] = [self.names.get(p, p) for p in getattr(attach, "oom_victims", ())]
        if self.timing and attach is not None:
            entry["seconds"] = attach.seconds
        result.update((k, entry[k]) for k in ("status", "errno", "after", "outcome", "pages_moved",
                                               "pages_marked", "pages_leaked", "oom_victims"))
        if during:
            result["during"] = during
        return result

    def sample(self, phase, pages, entry):
        usage = [self.machine.usage(cg) for cg in entry["groups"]]
        return {"phase": phase, "pages": pages, "from_usage": usage[0], "to_usage": usage[1]}

    def at_resched(self, info, entry, hooks, during, i):
        """A cond_resched() point of a move: sample the groups, run the armed at_resched steps."""
        if self.trace:
            entry["trace"].append(self.sample(info.phase, info.pages, entry))
        for hook in [h for h in hooks if h.get("phase") in (None, info.phase)
                     and info.pages >= h.get("pages", 0)]:
            hooks.remove(hook)
            outer = self.killed
            if hook.get("cpu") is None:
                for s in hook["steps"]:
                    self.step(i, s, during)
            else:       # another CPU's task: its own thread, joined once the move is over
                work = info.run_on(hook["cpu"], lambda steps=hook["steps"]: [
                    self.step(i, s, during) for s in steps])
                work.wait_blocked_or_done()
                self.elsewhere.append(work)
            self.killed = outer + self.killed

    def op_exit(self, s):
        pid = self.task(s["task"])
        self.machine.exit(pid)
        del self.pids[s["task"]]
        return {"pid": pid, "status": "ok"}

    op_kill = op_exit

    # -- the loop --
    def step(self, i, s, record):
        op = s["op"]
        fn = getattr(self, "op_" + op)
        self.killed = []
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
        lines = self.machine.dmesg[self.dmesg_seen:]
        self.dmesg_seen = len(self.machine.dmesg)
        if lines:
            result["dmesg"] = list(lines)
            self.dmesg.extend({"step": i, "line": line} for line in lines)
        if self.check:
            try:
                self.machine.check()
            except AssertionError as e:
                raise AssertionError(f"step {i} ({op}): {e}") from None
        fields = {k: v for k, v in s.items() if k != "op"}
        record.append({"i": i, "op": op, **fields, "result": result})
        self.judge(i, s, result)

    def judge(self, i, s, result):
        """Check the step's expectation, or note an error nobody expected."""
        label = s.get("label") or f"step {i} ({s['op']})"
        if "expect" not in s:
            if result["status"] != "ok":
                self.notes.append({"step": i, "op": s["op"], "label": label, "status": result["status"]})
            return
        problems = [p for p in (_unmet(key, want, result, s["expect"])
                                for key, want in s["expect"].items()) if p]
        self.expectations.append({"step": i, "label": label, "ok": not problems,
                                  "message": "; ".join(problems)})

    def pid_of(self, name):
        for pid, n in self.names.items():
            if n == name:
                return pid
        return None

    def run(self):
        for i, s in enumerate(self.scenario.steps):
            self.step(i, s, self.steps)
        sc = self.scenario
        if self.timeline is not None:
            self.machine.trace.write(self.timeline, title=f"{sc.name}: policy {sc.policy}, "
                                     f"kernel {sc.kernel}")
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
            "oom_killed": sorted(n for n, status in self.gone.items() if status == "died"),
            "deadlock": self.machine.deadlock,
            "expectations": self.expectations,
            "notes": self.notes,
        }


def _number(v):
    return v if _is_int(v) else _size_of(v)


def _matches(got, want):
    """Does a recorded value meet an expectation: equal, in a {min, max} range, or per key."""
    if isinstance(want, dict) and want and set(want) <= {"min", "max"}:
        if not _is_int(got):
            return False
        return ("min" not in want or got >= _number(want["min"])) and \
            ("max" not in want or got <= _number(want["max"]))
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _matches(got[k], w) for k, w in want.items())
    if _is_int(got) and isinstance(want, str) and _size_of(want) is not None:
        return got == _size_of(want)
    return got == want


def _unmet(key, want, result, expect):
    """What is wrong with ``result`` for one ``expect`` key, or None."""
    if key == "status":
        wants = want if isinstance(want, list) else [want]
        ok = result["status"] in wants
    elif key in ("min", "max"):
        if key == "max" and "min" in expect:
            return None     # judged with min
        rng = {k: expect[k] for k in ("min", "max") if k in expect}
        ok, key, want = _matches(result.get("value"), rng), "value", rng
    elif key == "oom_killed":
        ok = sorted(result.get("oom_killed", [])) == sorted(want)
    else:
        ok = _matches(result.get(key), want)
    if ok:
        return None
    got = result.get(key, [] if key == "oom_killed" else None)
    why = f" ({result['status']})" if key != "status" and result["status"] != "ok" else ""
    return f"got {key} {json.dumps(got)}{why}, expected {json.dumps(want)}"


def run(scenario, policy=None, kernel=None, check=False, trace=False, timing=False, timeline=None):
    """Replay a scenario on a fresh Machine and return the result JSON (a dict).

    ``scenario`` is a Scenario, a path or a dict (validated first); ``policy`` /
    ``kernel`` override its ``emu`` settings; ``check=True`` runs Machine.check()
    after every step (AssertionError naming the step on a broken invariant);
    ``trace=True`` adds to each move the usage of its two groups at every
    cond_resched() point ("groups", "trace"); ``timing=True`` adds each move's
    "seconds"; ``timeline`` (a path) writes the machine's trace events there as a
    timeline (memcg_emu.trace).  Besides the kernel runner's fields the result has "expectations"
    (one entry per step with an ``expect``: "ok" and, when not, "message") and
    "notes" (steps without an ``expect`` that failed).
    """
    if not isinstance(scenario, Scenario) or policy is not None or kernel is not None:
        scenario = load(scenario, policy=policy, kernel=kernel)
    return _Runner(scenario, check, trace, timing, timeline).run()


def schema():
    """The scenario language as a JSON Schema (draft 2020-12), built from OPS and VM_FIELDS."""
    def props(op, spec):
        p = {"op": {"const": op}, "label": {"type": "string"}, "expect": EXPECT_SCHEMA,
             **{k: {"type": "string"} for k in COMMENT_KEYS}}
        for key, check in spec.required.items():
            p[key] = dict(check.schema)
        for key, (check, default) in spec.optional.items():
            p[key] = {**check.schema, "default": default}
        return p
    steps = [{"type": "object", "description": spec.doc, "properties": props(op, spec),
              "required": ["op"] + list(spec.required), "additionalProperties": False}
             for op, spec in OPS.items()]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "memcg-emu scenario",
        "description": "A scenario for `memcg-emu run` (docs/scenarios.md). Sizes are bytes (an "
                       "integer) or size strings (\"800M\"); cgroups are paths (\"A/B\", root \"\").",
        "type": "object",
        "required": ["steps"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "comment": {"type": "string"},
            "vm": {"type": "object", "additionalProperties": False,
                   "properties": {k: {**c.schema, **({"default": DEFAULT_VM[k]} if k in DEFAULT_VM else {})}
                                  for k, c in VM_FIELDS.items()}},
            "emu": {"type": "object", "additionalProperties": False,
                    "properties": {"policy": {"enum": list(POLICIES), "default": DEFAULT_POLICY},
                                   "kernel": {"enum": list(PROFILES), "default": DEFAULT_KERNEL},
                                   "image": {"enum": list(IMAGES), "default": "helper"}}},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/step"}},
        },
        "$defs": {"step": {"oneOf": steps}},
    }
