"""Readers and small builders shared by the tests."""
import errno
import os

import pytest

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4096

# What each cgroup-v1 limit file shows for "unlimited".
PAGE_COUNTER_MAX_BYTES = ((1 << 63) - 1) // PAGE * PAGE   # 3.19+ (page_counter): 9223372036854771712

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def usage(m, cg=""):
    """Bytes charged to pages: drains the CPUs' charge stocks first, as a test on a real kernel does."""
    m.drain()
    return int(m.read(cg, "memory.usage_in_bytes"))


def stat(m, cg=""):
    """memory.stat as an ordered dict of ints, after a drain: the CPUs' LRU add batches are on
    their lists (a page in one is in no LRU line yet) and their charge stocks given back."""
    m.drain()
    return raw_stat(m, cg)


def raw_stat(m, cg=""):
    """memory.stat as read, the CPUs' batches and stocks as they are."""
    out = {}
    for line in m.read(cg, "memory.stat").splitlines():
        key, value = line.split(" ")
        out[key] = int(value)
    return out


def limit(m, cg):
    return int(m.read(cg, "memory.limit_in_bytes"))


def tasks(m, cg):
    return [int(x) for x in m.read(cg, "tasks").split()]


def raises_errno(err, fn, *args, **kwargs):
    """Call fn and insist it fails with OSError ``err``; returns the exception."""
    with pytest.raises(OSError) as info:
        fn(*args, **kwargs)
    assert info.value.errno == err, (
        f"expected {errno.errorcode[err]}, got "
        f"{errno.errorcode.get(info.value.errno, info.value.errno)}: {info.value}")
    return info.value


def anon(m, pid, size, write=True):
    """A private anonymous mapping of ``size`` bytes, touched; returns its address."""
    addr = m.mmap(pid, size, kind="anon")
    m.touch(pid, addr, size, write=write)
    return addr


def kernel_data(name):
    """The path of a file of the real 6.1 kernel's scenarios (the project's copy first)."""
    candidates = [
        os.path.join(ROOT, "tests", "data", "kernel-6.1", name),
        os.path.join(ROOT, "scenarios", "kernel-6.1", name),
    ]
    for path in candidates:
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no copy of the kernel's {name} in {candidates}")


def leaked(m, cg):
    return int(m.read(cg, "memcg_emu.leaked_bytes"))


def alive(m, pid):
    try:
        m.cgroup_of(pid)
        return True
    except ProcessLookupError:
        return False


def move_while_charging(m, pid, path, charge):
    """Move ``pid`` to ``path``; at the move's first "move" point ``charge()`` runs on another
    thread (``info.run_on``) and the move goes on once it has finished or waits for the move.
    Returns the events: "move", "charged", "waiters:N" in their order."""
    from memcg_emu._core import lib

    events, work = [], []

    def run():
        charge()
        events.append("charged")

    def hook(info):
        if info.phase == "move" and not events:
            events.append("move")
            work.append(info.run_on(0, run))
            work[0].wait_blocked_or_done()
            events.append(f"waiters:{lib.emu_mc_waiters(m._m)}")
    m.on_resched(hook)
    m.move(pid, path)
    m.on_resched(None)
    work[0].join()
    return events


# ---- agreement with a real kernel's scenario result ----

AGREE_STAT_KEYS = ("rss", "rss_huge", "cache", "shmem", "mapped_file", "swap", "unevictable")
AGREE_EXACT_FILES = {"memory.limit_in_bytes", "memory.move_charge_at_immigrate", "memory.use_hierarchy",
                     "memory.soft_limit_in_bytes"}
AGREE_SLACK = int(2.5 * MiB)


def kernel_disagreements(emu, real):
    """Where an emulator result and the real kernel's result for the same scenario differ.

    Returns (disagreements, comparisons).  Moves and every step agree on status; labelled
    usage, memory+swap usage and memory.stat's AGREE_STAT_KEYS agree within the kernel's own
    overhead: the group's kernel memory as the kernel read it, 2.5 MiB of the helper's pages and
    0.5 %.  Per-cpu stock, kmem, max_usage and failcnt reads are the kernel's detail.  A field or
    file the kernel has and the emulator lacks is a disagreement.
    """
    def labelled(result, kind):
        return {r.get("label") or f"step{r.get('step')}": r for r in result.get(kind, [])}

    def near(e, r, kmem):
        return abs(e - r) <= AGREE_SLACK + kmem + r * 0.005

    bad, total = [], 0
    em, rm = labelled(emu, "moves"), labelled(real, "moves")
    for label, r in rm.items():
        total += 1
        if str((em.get(label) or {}).get("status")) != str(r.get("status")):
            bad.append(f"move {label!r}: emulator {(em.get(label) or {}).get('status')} vs {r.get('status')}")
    er, rr = labelled(emu, "reads"), labelled(real, "reads")
    for label, r in rr.items():
        if any(k in label for k in ("usage_raw", "kmem", "max_usage", "failcnt")):
            continue
        kmem_label = label.replace(".usage.", ".kmem.").replace(".stat.", ".kmem.").replace(".memsw.", ".kmem.")
        kmem = rr.get(kmem_label, {}).get("value", 0) if kmem_label != label else 0
        kmem = kmem if isinstance(kmem, int) else 0
        ev, rv = (er.get(label) or {}).get("value"), r.get("value")
        if isinstance(rv, dict):
            for key in AGREE_STAT_KEYS:
                if key in rv:
                    total += 1
                    if not isinstance(ev, dict) or key not in ev or not near(ev[key], rv[key], 0):
                        bad.append(f"read {label!r}.{key}: emulator {(ev or {}).get(key)} vs {rv[key]}")
        elif isinstance(rv, int) and "usage" in r.get("file", ""):
            total += 1
            if not isinstance(ev, int) or not near(ev, rv, kmem):
                bad.append(f"read {label!r}: emulator {ev} vs {rv} (kmem {kmem})")
        if r.get("file") in AGREE_EXACT_FILES and isinstance(rv, int):
            total += 1
            if ev != rv:
                bad.append(f"read {label!r} ({r['file']}): emulator {ev} vs {rv}")
    es = {x.get("i"): x for x in emu.get("steps", [])}
    for r in real.get("steps", []):
        if r.get("op") in ("drain", "sleep", "read") or "status" not in r.get("result", {}):
            continue
        total += 1
        e = es.get(r.get("i"), {}).get("result", {})
        if str(e.get("status")) != str(r["result"]["status"]):
            bad.append(f"step {r.get('i')} {r.get('op')}: emulator {e.get('status')} vs {r['result']['status']}")
    return bad, total


def oom_killed(m):
    """The pids the memcg OOM killer's dmesg lines name (every profile's wording has "Killed process N")."""
    return [int(line.split("Killed process ", 1)[1].split()[0]) for line in m.dmesg
            if "Killed process " in line]
def die_once_then_run(marker, point):
    """A sweep's point function whose first call anywhere ends its worker process (os._exit).

    ``marker`` is a file path: the first call creates it and exits; every later call
    (a rerun of the same point included) runs the point.  No timing involved.
    """
    from memcg_emu.sweep import run_point
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return run_point(point)
    os.close(fd)
    os._exit(3)
