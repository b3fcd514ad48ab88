"""One scenario under every policy, side by side: a table, a JSON file and a plot.

The plot has one panel per policy: the usage of each move's old and new
group at every cond_resched() point of the move, with their limits, so the
costs the RFD lists -- double counting (reserve, upstream's precharge),
limit excess (lazy), a half-moved state (half), leaks (seed) -- show at a
glance.  matplotlib is an optional extra: ``pip install .[plot]``.
"""
import json
import os

from .policies import POLICIES
from .progress import progress
from .scenario import load, run

__all__ = ["compare", "format_table", "plot", "diff_results"]

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
                "outcome": mv["outcome"],
                "error": None if mv["status"] == "ok" else mv["status"],
                "pages_moved": mv["pages_moved"],
                "after": mv["after"],
                "groups": mv.get("groups"),
                "limits": mv.get("limits"),
                "before": [trace[0]["from_usage"], trace[0]["to_usage"]] if trace else None,
                "peak": [max(t["from_usage"] for t in trace), max(t["to_usage"] for t in trace)]
                if trace else None,
                "end": [trace[-1]["from_usage"], trace[-1]["to_usage"]] if trace else None,
                "trace": trace,
                "reads": {r["label"]: r["value"] for r in result["reads"] if r.get("label")},
                # steps other than moves that failed (a move's failure is in the table)
                "notes": [f"{n['label']}: {n['status']}" for n in result["notes"] if n["op"] != "move"],
            })
    return rows


def format_table(rows):
    head = ("policy", "move", "outcome", "error", "old group before/peak/after MiB",
            "new group before/peak/after MiB", "old+new peak MiB", "pages moved", "samples")
    table = [head]
    for r in rows:
        first = (r["policy"], r["move"], r["outcome"], r["error"] or "-")
        if r["before"] is None:     # the task was gone before the move began
            table.append(first + ("-", "-", "-", str(r["pages_moved"]), "0"))
            continue

        def triple(i):
            return "/".join(str(round(r[k][i] / MiB)) for k in ("before", "peak", "end"))
        both = max(t["from_usage"] + t["to_usage"] for t in r["trace"])
        table.append(first + (triple(0), triple(1), str(round(both / MiB)), str(r["pages_moved"]),
                              str(len(r["trace"]))))
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
        ax.set_title(f"{r['policy']}: {r['outcome']}", fontsize=10)
        ax.set_xlabel("cond_resched() points of the move")
        ax.set_ylabel("usage MiB")
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(traced):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


MOVE_FIELDS = ("status", "outcome", "pages_moved", "pages_marked", "pages_leaked")


def _keyed(result, kind):
    return {r.get("label") or f"step{r.get('step')}": r for r in result.get(kind, []) if isinstance(r, dict)}


def diff_results(a, b, tol_abs=0, tol_rel=0.0, ignore=()):
    """Compare two run results field by field: (lines, one per difference; fields compared).

    Moves and reads are matched by label (or step); numbers read agree within
    ``tol_abs + tol_rel * max(|a|, |b|)`` (a move's fields must be equal); a field only one side records (an
    emulator-only one, say) is skipped, a move or read only one side has is a difference.
    """
    lines, total = [], 0

    def near(x, y):
        return abs(x - y) <= tol_abs + tol_rel * max(abs(x), abs(y))

    def same(where, x, y, tolerant=True):
        nonlocal total
        total += 1
        numbers = tolerant and all(isinstance(v, int) and not isinstance(v, bool) for v in (x, y))
        if not (near(x, y) if numbers else x == y):
            lines.append(f"{where}: {json.dumps(x)} vs {json.dumps(y)}")

    for kind, fields in (("moves", MOVE_FIELDS), ("reads", ("value",))):
        ka, kb = _keyed(a, kind), _keyed(b, kind)
        for label in sorted(set(ka) | set(kb)):
            if label in ignore:
                continue
            what = f"{kind[:-1]} {label!r}"
            if label not in ka or label not in kb:
                total += 1
                lines.append(f"{what}: only in {'B' if label not in ka else 'A'}")
                continue
            for field in fields:
                if field not in ka[label] or field not in kb[label]:
                    continue
                x, y = ka[label][field], kb[label][field]
                if isinstance(x, dict) and isinstance(y, dict):
                    for key in sorted(set(x) | set(y)):
                        if key not in x or key not in y:
                            total += 1
                            lines.append(f"{what}.{key}: only in {'B' if key not in x else 'A'}")
                        else:
                            same(f"{what}.{key}", x[key], y[key])
                else:
                    same(f"{what} {field}", x, y, tolerant=kind == "reads")
    sa = {s.get("i"): s for s in a.get("steps", []) if isinstance(s, dict)}
    for s in b.get("steps", []):
        if not isinstance(s, dict) or s.get("label") in ignore:
            continue
        other = sa.get(s.get("i"))
        if other is not None and "status" in s.get("result", {}) and "status" in other.get("result", {}):
            same(f"step {s.get('i')} ({s.get('op')}) status", other["result"]["status"], s["result"]["status"])
    return lines, total
