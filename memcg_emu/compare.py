"""One scenario under every policy, side by side: a table, a JSON file and a plot.

The plot has one panel per policy: the usage of each move's old and new
group at every cond_resched() point of the move, with their limits, so the
costs the RFD lists -- double counting (reserve, upstream's precharge),
limit excess (lazy), a half-moved state (half), leaks (seed) -- show at a
glance.  matplotlib is an optional extra: ``pip install .[plot]``.
"""
import os

from .policies import POLICIES
from .progress import progress
from .scenario import load, run

__all__ = ["compare", "format_table", "plot"]

MiB = 1 << 20


def compare(scenario, policies=POLICIES, kernel=None, timelines=None):
    """Run ``scenario`` (path, dict or Scenario) under each policy; rows, one per policy and move.

    ``timelines``: a directory to write each policy's trace timeline to (POLICY.trace.json).
    """
    rows = []
    for policy in progress(policies, desc="compare"):
        timeline = os.path.join(timelines, f"{policy}.trace.json") if timelines else None
        result = run(load(scenario, policy=policy, kernel=kernel), trace=True, timeline=timeline)
        for mv in result["moves"]:
            trace = mv.get("trace", [])
            rows.append({
                "policy": policy,
                "move": mv["label"] or f"step{mv['step']}",
                "status": mv["status"],
                "after": mv["after"],
                "groups": mv.get("groups"),
                "limits": mv.get("limits"),
                "before": [trace[0]["from_usage"], trace[0]["to_usage"]] if trace else None,
                "peak": [max(t["from_usage"] for t in trace), max(t["to_usage"] for t in trace)]
                if trace else None,
                "end": [trace[-1]["from_usage"], trace[-1]["to_usage"]] if trace else None,
                "trace": trace,
                "reads": {r["label"]: r["value"] for r in result["reads"] if r.get("label")},
            })
    return rows


def format_table(rows):
    head = ("policy", "move", "status", "old group before/peak/after MiB",
            "new group before/peak/after MiB", "old+new peak MiB", "samples")
    table = [head]
    for r in rows:
        if r["before"] is None:
            table.append((r["policy"], r["move"], r["status"], "-", "-", "-", "0"))
            continue

        def triple(i):
            return "/".join(str(round(r[k][i] / MiB)) for k in ("before", "peak", "end"))
        both = max(t["from_usage"] + t["to_usage"] for t in r["trace"])
        table.append((r["policy"], r["move"], r["status"], triple(0), triple(1),
                      str(round(both / MiB)), str(len(r["trace"]))))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(rows, path):
    """Write the per-policy usage panels to ``path`` (PNG); ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    traced = [r for r in rows if r["trace"]]
    cols = min(4, max(1, len(traced)))
    nrows = (len(traced) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False,
                             sharey=True)
    for ax, r in zip(axes.flat, traced):
        xs = range(len(r["trace"]))
        ax.plot(xs, [t["from_usage"] / MiB for t in r["trace"]], label=f"old ({r['groups'][0]})")
        ax.plot(xs, [t["to_usage"] / MiB for t in r["trace"]], label=f"new ({r['groups'][1]})")
        for limit, style in zip(r["limits"], (":", "--")):
            if limit < 1 << 50:
                ax.axhline(limit / MiB, linestyle=style, color="grey", linewidth=0.8)
        ax.set_title(f"{r['policy']}: {r['status']}", fontsize=10)
        ax.set_xlabel("cond_resched() points of the move")
        ax.set_ylabel("usage MiB")
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(traced):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
