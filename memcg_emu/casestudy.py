"""The RFD's case study, under every policy and its variants (the project's main job).

group_A: limit 1G, task_X uses 800M; group_B: limit 1G, 500M used by task_Z;
move task_X to group_B.  Variants: as posted (B lacks room), B with room
(limit 2G), B filled by task_W on CPU 1 from a preemption point of the move
(the seed's rollback case a), and a later subsystem (devices) refusing (case b).
Each variant is a scenario file, memcg_emu/scenarios/casestudy-<variant>.json;
group_B's move_charge_at_immigrate is 1 (the upstream policy's knob).

Each policy runs on its own kernel unless one is given: the RFD's policies
on 2.6.26 (the seed's base, whose OOM path takes cgroup_mutex: the seed as
posted deadlocks where it needs the OOM killer, "seed-2.6.29" shows it
without that lock), upstream on 6.1.
"""
import os

from .policies import POLICIES
from .scenario import load, run

__all__ = ["VARIANTS", "variant_path", "casestudy_scenario", "default_kernel", "run_case",
           "run_casestudy", "format_table"]

MiB = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))

VARIANTS = {
    "as-posted": "B limit 1G with 500M used: no room for X's 800M",
    "room": "B limit 2G: room enough",
    "b-filled": "B limit 1400M; after 1000 pages have moved, task_W in B faults 200M on CPU 1 (rollback case a)",
    "later-refuses": "B limit 2G; the devices subsystem refuses after memory said yes (case b)",
}


def variant_path(variant):
    """The scenario file of a case-study variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    return os.path.join(HERE, "scenarios", f"casestudy-{variant}.json")


def casestudy_scenario(b_limit="1G"):
    """The case study as posted, as a scenario dict, with group_B's limit ``b_limit``."""
    sc = load(variant_path("as-posted"))
    steps = [dict(s, value=b_limit) if s.get("label") == "B.limit" else s for s in sc.steps]
    return {"name": "casestudy", "description": sc.description, "vm": sc.vm, "emu": sc.emu,
            "steps": steps}


def default_kernel(policy):
    """The kernel a policy's row runs on by default: upstream's own, or the seed's base."""
    return "6.1" if policy == "upstream" else "2.6.26"


def _knob_note(result, policy, kernel):
    """What says the upstream policy cannot act on this kernel: its knob write failed."""
    if policy != "upstream":
        return None
    knob = next(s for s in result["steps"] if s.get("label") == "B.move_charge")
    if knob["result"]["status"] == "ok":
        return None
    return (f"upstream on kernel {kernel}: writing 1 to memory.move_charge_at_immigrate gives "
            f"{knob['result']['status']}, so no charge moves with the task")


def run_case(policy, variant, kernel=None, timing=False):
    """One move of task_X from A to B: its variant's scenario file under ``policy``; a row dict."""
    kernel = kernel or default_kernel(policy)
    result = run(load(variant_path(variant), policy=policy, kernel=kernel), trace=True, timing=timing)
    reads = {r["label"]: r["value"] for r in result["reads"]}
    (move,) = result["moves"]
    cgs = ("group_A", "group_B")
    row = {
        "policy": policy,
        "variant": variant,
        "kernel": kernel,
        "outcome": move["outcome"],
        "error": None if move["status"] == "ok" else move["status"],
        "task_X_in": move["after"].lstrip("/") if move["after"] else None,
        "before": {cg: reads[f"{cg[-1]}.before"] for cg in cgs},
        "peak": {cg: reads[f"{cg[-1]}.peak"] for cg in cgs},
        "after": {cg: reads[f"{cg[-1]}.after"] for cg in cgs},
        "both_peak": max(t["from_usage"] + t["to_usage"] for t in move["trace"]),
        "pages_moved": move["pages_moved"],
        "owed_bytes": reads["A.owed"],
        "leaked_bytes": reads["A.leaked"],
        "oom_killed": result["oom_killed"],
        "note": _knob_note(result, policy, kernel),
        "lock_chain": result["deadlock"]["chain"] if result["deadlock"] else None,
    }
    if timing:
        row["seconds"] = move.get("seconds", 0.0)
    return row


def run_casestudy(policies=POLICIES, variants=tuple(VARIANTS), kernel=None, timing=False):
    return [run_case(p, v, kernel, timing) for p in policies for v in variants]


def format_table(rows):
    """The rows as a text table: sizes in MiB; "ms" only when the rows carry timings."""
    timing = any("seconds" in r for r in rows)
    head = ("policy", "kernel", "variant", "outcome", "error", "A before/peak/after MiB", "B before/peak/after MiB",
            "A+B peak MiB", "pages moved", "owed MiB (lazy)", "leaked MiB", "OOM-killed") + \
        (("ms",) if timing else ())
    table = [head]
    for r in rows:
        def triple(cg):
            return "/".join(str(round(r[k][cg] / MiB)) for k in ("before", "peak", "after"))
        table.append((r["policy"], r["kernel"], r["variant"], r["outcome"], r["error"] or "-", triple("group_A"),
                      triple("group_B"), str(round(r["both_peak"] / MiB)), str(r["pages_moved"]),
                      str(round(r["owed_bytes"] / MiB)), str(round(r["leaked_bytes"] / MiB)),
                      ",".join(r["oom_killed"]) or "-")
                     + ((f"{r['seconds'] * 1000:.1f}",) if timing else ()))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
