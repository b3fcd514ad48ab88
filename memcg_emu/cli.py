"""The ``memcg-emu`` command line.

Each subcommand is one ``cmd_<name>(args) -> exit code`` function plus an
``add_<name>(subparsers)`` that declares its arguments; ``main`` only
dispatches. Exit codes: 0 done, 1 the run found a problem, 2 bad input.
"""
import argparse
import json
import os
import sys

from . import __version__
from .scenario import ScenarioError, load, run

__all__ = ["main", "build_parser"]

PROG = "memcg-emu"


class UsageError(Exception):
    """Bad input from the user (a file that cannot be read or validated): exit code 2."""


def _write_json(data, out):
    text = json.dumps(data, indent=1) + "\n"
    if out is None or out == "-":
        sys.stdout.write(text)
    else:
        try:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"{out}: {e.strerror}") from None


def _load(path, **overrides):
    try:
        return load(path, **overrides)
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    except ScenarioError as e:
        raise UsageError(f"{path}: {e}") from None


# ---- run ----

def add_run(subparsers):
    p = subparsers.add_parser("run", help="run a scenario file and print its result JSON",
                              description="Replay a scenario (DESIGN section 7) on a fresh emulated "
                              "machine and print the result JSON, comparable with a real kernel's "
                              "by kcompare.py.")
    p.add_argument("file", metavar="FILE.json", help="the scenario")
    p.add_argument("--policy", help="charge-moving policy (overrides the file's emu.policy)")
    p.add_argument("--kernel", help="kernel profile (overrides the file's emu.kernel)")
    p.add_argument("--check", action="store_true",
                   help="check every invariant after each step (slower)")
    p.add_argument("-o", "--output", metavar="OUT", help="write the result here instead of stdout")
    p.set_defaults(func=cmd_run)


def cmd_run(args):
    scenario = _load(args.file, policy=args.policy, kernel=args.kernel)
    try:
        result = run(scenario, check=args.check)
    except ScenarioError as e:
        raise UsageError(f"{args.file}: {e}") from None
    _write_json(result, args.output)
    return 0


# ---- casestudy ----

def add_casestudy(subparsers):
    from .casestudy import VARIANTS
    p = subparsers.add_parser("casestudy", help="the RFD's case study under every policy",
                              description="Move task_X (800M) from group_A (limit 1G) to group_B "
                              "(500M used) under every policy and variant: "
                              + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()) + ".")
    p.add_argument("--policy", action="append", help="only this policy (repeatable)")
    p.add_argument("--variant", action="append", choices=list(VARIANTS),
                   help="only this variant (repeatable)")
    p.add_argument("--kernel", help="kernel profile for every row (default: the RFD's policies on "
                   "2.6.26, the seed's base, and upstream on 6.1)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    p.set_defaults(func=cmd_casestudy)


def _policies(args):
    """The --policy choices, all of them by default; UsageError naming an unknown one."""
    from .policies import POLICIES
    for p in args.policy or ():
        if p not in POLICIES:
            raise UsageError(f"unknown policy {p!r}; choose from {', '.join(POLICIES)}")
    return args.policy or list(POLICIES)


def cmd_casestudy(args):
    from .casestudy import VARIANTS, format_table, run_casestudy
    policies = _policies(args)
    try:
        rows = run_casestudy(policies, args.variant or list(VARIANTS), args.kernel)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if args.json:
        _write_json(rows, None)
    else:
        print(format_table(rows))
    return 0


# ---- compare ----

def add_compare(subparsers):
    p = subparsers.add_parser("compare", help="one scenario under every policy: table, JSON, plot",
                              description="Run a scenario (default: the case study as posted) under "
                              "every policy; print a table and write OUT/compare.json and "
                              "OUT/compare.png (the plot needs pip install .[plot]).")
    p.add_argument("file", metavar="FILE.json", nargs="?", help="the scenario (default: case study)")
    p.add_argument("--policy", action="append", help="only this policy (repeatable)")
    p.add_argument("--kernel", help="kernel profile (overrides the file's emu.kernel)")
    p.add_argument("--b-limit", default="1G",
                   help="group_B's limit in the default case study (1G as posted; 2G gives room)")
    p.add_argument("--out", default=".", help="directory for compare.json and compare.png")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args):
    from .casestudy import casestudy_scenario
    from .compare import compare, format_table, plot
    policies = _policies(args)
    source = args.file or casestudy_scenario(args.b_limit)
    try:
        rows = compare(source, policies, args.kernel)
    except OSError as e:
        raise UsageError(f"{args.file}: {e.strerror or e}") from None
    except ScenarioError as e:
        raise UsageError(f"{args.file or 'case study'}: {e}") from None
    print(format_table(rows))
    os.makedirs(args.out, exist_ok=True)
    _write_json(rows, os.path.join(args.out, "compare.json"))
    try:
        plot(rows, os.path.join(args.out, "compare.png"))
    except ImportError:
        print("no plot: matplotlib is not installed (pip install .[plot])", file=sys.stderr)
    else:
        print(f"wrote {os.path.join(args.out, 'compare.json')} and compare.png")
    return 0


# Subcommands, in --help order: add_<name> + cmd_<name>.
SUBCOMMANDS = (add_run, add_casestudy, add_compare)


def build_parser():
    parser = argparse.ArgumentParser(prog=PROG, description="memcg-emu: a kernel-faithful emulator "
                                     "of Linux memory-cgroup v1 charge accounting")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv=None):
    """Entry point of the ``memcg-emu`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 itself on bad usage
    try:
        return args.func(args)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:     # `memcg-emu casestudy | head`: the reader left, nothing to say
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
