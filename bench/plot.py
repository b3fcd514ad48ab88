#!/usr/bin/env python3
"""Plot pages/s against task size per policy from move_throughput.py's JSON (needs matplotlib).

    python bench/plot.py RESULTS.json [-o move_throughput.png]
"""
import argparse
import json
import sys


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", help="the JSON that move_throughput.py --json wrote")
    ap.add_argument("-o", "--output", default="move_throughput.png")
    args = ap.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: pip install .[plot]", file=sys.stderr)
        return 2
    records = json.load(open(args.results))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for policy in dict.fromkeys(r["policy"] for r in records):
        rows = sorted((r for r in records if r["policy"] == policy), key=lambda r: r["pages"])
        ax.plot([r["pages"] for r in rows], [r["pages_per_s"] for r in rows], marker="o", label=policy)
    limit = {r["pages"]: r["limit_pages_per_s"] for r in records}
    ax.plot(sorted(limit), [limit[p] for p in sorted(limit)], "k--", label="minimal C loop")
    py = {r["pages"]: r["python_pages_per_s"] for r in records if r["python_pages_per_s"]}
    if py:
        ax.plot(sorted(py), [py[p] for p in sorted(py)], "k:", label="pure Python seed")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("task size (private anon pages)")
    ax.set_ylabel("pages moved per second")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(args.output, dpi=100)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
