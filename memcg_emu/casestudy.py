"""The RFD's case study, under every policy and its variants (the project's main job).

group_A: limit 1G, task_X uses 800M; group_B: limit 1G, 500M used by task_Z;
move task_X to group_B.  Variants: as posted (B lacks room), B with room
(limit 2G), B filled by task_W at a preemption point of the move (the
seed's rollback case a), and a later subsystem (devices) refusing (case b).
The upstream policy runs with group_B's move_charge_at_immigrate = 1.

Each policy runs on its own kernel unless one is given: the RFD's policies
on 2.6.26 (the seed's base, whose OOM path takes cgroup_mutex: the seed as
posted deadlocks where it needs the OOM killer, "seed-2.6.29" shows it
without that lock), upstream on 6.1.
"""
import errno
import time

from .machine import Machine
from .policies import POLICIES

__all__ = ["VARIANTS", "casestudy_scenario", "run_case", "run_casestudy", "format_table"]

MiB = 1 << 20
PAGE_SIZE = 4096

VARIANTS = {
    "as-posted": "B limit 1G with 500M used: no room for X's 800M",
    "room": "B limit 2G: room enough",
    "b-filled": "B limit 1400M; after 1000 pages have moved, task_W in B faults 200M (rollback case a)",
    "later-refuses": "B limit 2G; the devices subsystem refuses after memory said yes (case b)",
}


def casestudy_scenario(b_limit="1G"):
    """The case study as a scenario file (DESIGN section 7), as posted: B limit 1G."""
    return {
        "name": "casestudy",
        "description": f"The RFD case study: group_A limit 1G, task_X uses 800M; group_B limit "
                       f"{b_limit}, task_Z uses 500M, move_charge_at_immigrate=1; move task_X to group_B",
        "vm": {"mem_mb": 4096, "smp": 1, "swap_mb": 0, "thp": "never"},
        "steps": [
            {"op": "mkdir", "cg": "group_A"},
            {"op": "write", "cg": "group_A", "file": "memory.limit_in_bytes", "value": "1G"},
            {"op": "mkdir", "cg": "group_B"},
            {"op": "write", "cg": "group_B", "file": "memory.limit_in_bytes", "value": b_limit},
            {"op": "write", "cg": "group_B", "file": "memory.move_charge_at_immigrate", "value": "1"},
            {"op": "spawn", "task": "task_X", "cg": "group_A"},
            {"op": "anon", "task": "task_X", "bytes": 800 * MiB},
            {"op": "spawn", "task": "task_Z", "cg": "group_B"},
            {"op": "anon", "task": "task_Z", "bytes": 500 * MiB},
            {"op": "move", "task": "task_X", "cg": "group_B", "label": "X A->B"},
            {"op": "read", "cg": "group_A", "file": "memcg_emu.wrong_charge_bytes", "label": "A.wrong"},
            {"op": "read", "cg": "group_A", "file": "memcg_emu.leaked_bytes", "label": "A.leaked"},
        ],
    }


def _usage(m, cg):
    return int(m.read(cg, "memory.usage_in_bytes"))


def default_kernel(policy):
    """The kernel a policy's row runs on by default: upstream's own, or the seed's base."""
    return "6.1" if policy == "upstream" else "2.6.26"


def run_case(policy, variant, kernel=None):
    """One move of task_X from A to B; a dict of what happened."""
    kernel = kernel or default_kernel(policy)
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    # user pages as the RFD counts them: no page-table kmem (it never moves; 1.6 MiB for task_X)
    m = Machine(ram="4G", swap="0", policy=policy, kernel=kernel, kmem=False)
    m.mkdir("group_A")
    m.write("group_A", "memory.limit_in_bytes", "1G")
    m.mkdir("group_B")
    m.write("group_B", "memory.limit_in_bytes",
            {"as-posted": "1G", "b-filled": "1400M"}.get(variant, "2G"))
    if m.profile.has_move_charge() and m.profile.move_charge_mask & 1:
        m.write("group_B", "memory.move_charge_at_immigrate", "1")
    x = m.spawn("group_A")
    m.touch(x, m.mmap(x, "800M"), "800M")
    z = m.spawn("group_B")
    m.touch(z, m.mmap(z, "500M"), "500M")
    names = {x: "task_X", z: "task_Z"}
    both_peak = [0]
    fill = []
    if variant == "b-filled":
        w = m.spawn("group_B")
        names[w] = "task_W"
        fill.append((w, m.mmap(w, "200M")))

    def at_resched(info):
        """Sample A+B at every preemption point; in b-filled, task_W faults 200M once."""
        both_peak[0] = max(both_peak[0], _usage(m, "group_A") + _usage(m, "group_B"))
        if fill and info.phase == "move" and info.pages >= 1000:
            w_pid, w_addr = fill.pop()
            try:
                m.touch(w_pid, w_addr, "200M")
            except OSError:
                pass  # task_W itself may hit the limit: that is the race
    m.on_resched(at_resched)
    if variant == "later-refuses":
        m.fail_next_can_attach("devices", errno.EPERM)
    before = {cg: _usage(m, cg) for cg in ("group_A", "group_B")}
    for cg in before:
        m.write(cg, "memory.max_usage_in_bytes", "0")  # the peak of the move from here on
    t0 = time.perf_counter()
    status = "ok"
    try:
        m.move(x, "group_B")
    except OSError as e:
        status = errno.errorcode.get(e.errno, str(e.errno))
    seconds = time.perf_counter() - t0
    m.on_resched(None)
    ctx = m.last_attach
    alive = {}
    for pid, name in names.items():
        try:
            alive[name] = m.cgroup_of(pid)
        except OSError:
            alive[name] = None  # OOM-killed during the move
    if status == "EDEADLOCK":
        status = "EDEADLK"      # errno 35's usual name
    outcome = "moved" if status == "ok" else f"refused {status}"
    if ctx.outcome in ("half-moved", "deadlock"):
        outcome = ctx.outcome
    row = {
        "policy": policy,
        "variant": variant,
        "kernel": kernel,
        "outcome": outcome,
        "status": status,
        "task_X_in": alive["task_X"],
        "before": before,
        "peak": {cg: int(m.read(cg, "memory.max_usage_in_bytes")) for cg in before},
        "after": {cg: _usage(m, cg) for cg in before},
        "both_peak": max(both_peak[0], sum(before.values())),
        "pages_moved": ctx.pages_moved,
        "owed_bytes": int(m.read("group_A", "memcg_emu.wrong_charge_bytes")),
        "leaked_bytes": int(m.read("group_A", "memcg_emu.leaked_bytes")),
        "oom_killed": sorted(name for name, cg in alive.items() if cg is None),
        "seconds": seconds,
        "lock_chain": m.deadlock["chain"] if m.deadlock else None,
    }
    m.check()
    return row


def run_casestudy(policies=POLICIES, variants=tuple(VARIANTS), kernel=None):
    return [run_case(p, v, kernel) for p in policies for v in variants]


def _size(b):
    return "0" if not b else f"{b // MiB}M" if b >= MiB else f"{b // 1024}K"


def format_table(rows):
    head = ("policy", "kernel", "variant", "outcome", "A before/peak/after MiB", "B before/peak/after MiB",
            "A+B peak", "pages moved", "owed (lazy)", "leaked", "OOM-killed", "ms")
    table = [head]
    for r in rows:
        def triple(cg):
            return "/".join(str(round(r[k][cg] / MiB)) for k in ("before", "peak", "after"))
        table.append((r["policy"], r["kernel"], r["variant"], r["outcome"], triple("group_A"), triple("group_B"),
                      str(round(r["both_peak"] / MiB)), str(r["pages_moved"]),
                      _size(r["owed_bytes"]),
                      _size(r["leaked_bytes"]),
                      ",".join(r["oom_killed"]) or "-", f"{r['seconds'] * 1000:.1f}"))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
