"""The ``memcg-emu`` command line.

Each subcommand is one ``cmd_<name>(args) -> exit code`` function plus an
``add_<name>(subparsers)`` that declares its arguments, listed in SUBCOMMANDS;
``main`` only dispatches. Exit codes: 0 done, 1 the run found a problem (a failed
expectation, a difference, with --strict a policy that cannot act), 2 bad input
(one line on stderr naming what is wrong).
"""
import argparse
import json
import os
import sys

from . import __version__
from .policies import POLICIES
from .profiles import PROFILES
from .scenario import ScenarioError, load, loads, run
from .sizes import parse_size
from .sweep import add_sweep

__all__ = ["main", "build_parser"]

PROG = "memcg-emu"


class UsageError(Exception):
    """Bad input from the user (a file that cannot be read or validated): exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), as every other bad input."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _size(text):
    """--b-limit and friends: the API's own size parser."""
    try:
        parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give bytes or digits with a "
                                         "K/M/G/T suffix, such as 2G or 1536M") from None
    return text


def _add_policy_kernel(p, kernel_help, multi=False):
    if multi:
        p.add_argument("--policy", action="append", choices=POLICIES, metavar="POLICY",
                       help="only this policy (repeatable; default all): " + ", ".join(POLICIES))
    else:
        p.add_argument("--policy", choices=POLICIES, metavar="POLICY",
                       help="charge-moving policy (overrides the file's emu.policy): " + ", ".join(POLICIES))
    p.add_argument("--kernel", choices=PROFILES, metavar="KERNEL",
                   help=kernel_help + ": " + ", ".join(PROFILES))


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
    """A scenario from a path, or from stdin for "-"; UsageError naming the file."""
    try:
        source = loads(sys.stdin.buffer.read()) if path == "-" else path
        return load(source, **overrides)
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    except ScenarioError as e:
        raise UsageError(f"{'stdin' if path == '-' else path}: {e}") from None


def _warn(text):
    print(f"{PROG}: {text}", file=sys.stderr)


# ---- run ----

def add_run(subparsers):
    p = subparsers.add_parser("run", help="run a scenario file and print its result JSON",
                              description="Replay a scenario (docs/scenarios.md; `memcg-emu schema` "
                              "prints its JSON Schema) on a fresh emulated machine and print the "
                              "result JSON. Steps whose `expect` fails make the exit code 1; "
                              "steps that fail without an `expect` are noted on stderr.")
    p.add_argument("file", metavar="FILE.json", help="the scenario; - reads it from stdin")
    _add_policy_kernel(p, "kernel profile (overrides the file's emu.kernel)")
    p.add_argument("--check", action="store_true",
                   help="check every invariant after each step (walks every page: slow on long scenarios)")
    p.add_argument("--tap", action="store_true",
                   help="print one TAP line per expectation instead of the result JSON")
    p.add_argument("--strict", action="store_true",
                   help="a step that fails without an expect also fails the run (exit 1)")
    p.add_argument("--timing", action="store_true", help="add each move's seconds to the result")
    p.add_argument("-o", "--output", metavar="OUT", help="write the result JSON here instead of stdout")
    p.add_argument("--trace", metavar="FILE", help="write a timeline of the run's trace events to FILE "
                   "(Trace Event Format: open it at ui.perfetto.dev or chrome://tracing)")
    p.set_defaults(func=cmd_run)


def _tap(expectations):
    lines = [f"1..{len(expectations)}"]
    for n, e in enumerate(expectations, 1):
        lines.append(f"ok {n} - {e['label']}" if e["ok"] else f"not ok {n} - {e['label']}: {e['message']}")
    return "\n".join(lines) + "\n"


def cmd_run(args):
    scenario = _load(args.file, policy=args.policy, kernel=args.kernel)
    try:
        result = run(scenario, check=args.check, timing=args.timing, timeline=args.trace)
    except OSError as e:
        raise UsageError(f"{args.trace}: {e.strerror or e}") from None
    except ScenarioError as e:
        raise UsageError(f"{args.file}: {e}") from None
    except AssertionError as e:
        _warn(f"invariant broken: {e}")
        return 1
    if args.tap:
        sys.stdout.write(_tap(result["expectations"]))
        if args.output:
            _write_json(result, args.output)
    else:
        _write_json(result, args.output)
    for n in result["notes"]:
        _warn(f"note: {n['label']}: {n['status']}, and the step expects nothing "
              f"(add \"expect\": {{\"status\": \"{n['status']}\"}} if that is right)")
    failed = [e for e in result["expectations"] if not e["ok"]]
    if not args.tap:
        for e in failed:
            _warn(f"expectation failed: {e['label']}: {e['message']}")
    return 1 if failed or (args.strict and result["notes"]) else 0


# ---- casestudy ----

def add_casestudy(subparsers):
    from .casestudy import VARIANTS
    p = subparsers.add_parser("casestudy", help="the RFD's case study under every policy",
                              description="Move task_X (800M) from group_A (limit 1G) to group_B "
                              "(500M used) under every policy and variant: "
                              + "; ".join(f"{k}: {v}" for k, v in VARIANTS.items()) + ". Each variant "
                              "is a scenario file in memcg_emu/scenarios/. Sizes in MiB.")
    p.add_argument("--policy", action="append", choices=POLICIES, metavar="POLICY",
                   help="only this policy (repeatable; default all): " + ", ".join(POLICIES))
    p.add_argument("--variant", action="append", choices=list(VARIANTS), metavar="VARIANT",
                   help="only this variant (repeatable; default all): " + ", ".join(VARIANTS))
    p.add_argument("--kernel", choices=PROFILES, metavar="KERNEL",
                   help="kernel profile for every row (default: the RFD's policies on 2.6.26, the "
                   "seed's base, and upstream on 6.1): " + ", ".join(PROFILES))
    p.add_argument("--json", action="store_true", help="print the rows as JSON (sizes in bytes)")
    p.add_argument("--timing", action="store_true", help="add each move's wall-clock time (ms)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a policy cannot act on this kernel (its knob is missing or refused)")
    p.set_defaults(func=cmd_casestudy)


def cmd_casestudy(args):
    from .casestudy import VARIANTS, format_table, run_casestudy
    rows = run_casestudy(args.policy or POLICIES, args.variant or list(VARIANTS), args.kernel,
                         timing=args.timing)
    if args.json:
        _write_json(rows, None)
    else:
        print(format_table(rows))
    notes = sorted({r["note"] for r in rows if r["note"]})
    for note in notes:
        _warn(f"note: {note}")
    return 1 if args.strict and notes else 0


# ---- compare ----

def add_compare(subparsers):
    p = subparsers.add_parser("compare", help="one scenario under every policy: table, JSON, plot",
                              description="Run a scenario (default: the case study as posted) under "
                              "every policy; print a table (MiB) and write OUT/compare.json (bytes) "
                              "and OUT/compare.png (the plot needs pip install .[plot]).")
    p.add_argument("file", metavar="FILE.json", nargs="?", help="the scenario (default: case study)")
    _add_policy_kernel(p, "kernel profile (overrides the file's emu.kernel)", multi=True)
    p.add_argument("--b-limit", type=_size, metavar="SIZE",
                   help="group_B's limit in the built-in case study (1G as posted; 2G gives room)")
    p.add_argument("--out", default=".", metavar="DIR", help="directory for compare.json and compare.png")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 when a step fails under some policy (a knob this kernel lacks, say)")
    p.add_argument("--trace", metavar="DIR", help="write each policy's timeline to DIR/POLICY.trace.json")
    p.set_defaults(func=cmd_compare)


def cmd_compare(args):
    from .casestudy import casestudy_scenario
    from .compare import compare, format_table, plot
    if args.file and args.b_limit:
        raise UsageError("--b-limit sets group_B's limit in the built-in case study; "
                         "with FILE.json, write the limit in the file")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    source = _load(args.file) if args.file else casestudy_scenario(args.b_limit or "1G")
    steps = source.steps if args.file else source["steps"]
    if not any(s["op"] == "move" for s in steps):
        raise UsageError(f"{args.file}: no move step, so nothing to compare")
    try:
        os.makedirs(args.out, exist_ok=True)
        if args.trace:
            os.makedirs(args.trace, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{e.filename}: {e.strerror}") from None
    rows = compare(source, args.policy or POLICIES, args.kernel, timelines=args.trace)
    print(format_table(rows))
    notes = sorted({(r["policy"], n) for r in rows for n in r["notes"]})
    for policy, note in notes:
        _warn(f"note: under {policy}: {note}, and the step expects nothing")
    _write_json(rows, os.path.join(args.out, "compare.json"))
    try:
        plot(rows, os.path.join(args.out, "compare.png"))
    except ImportError:
        _warn("no plot: matplotlib is not installed (pip install .[plot])")
    else:
        print(f"wrote {os.path.join(args.out, 'compare.json')} and compare.png")
    return 1 if args.strict and notes else 0


# ---- diff ----

def add_diff(subparsers):
    p = subparsers.add_parser("diff", help="compare two result files field by field",
                              description="Compare two `memcg-emu run` results (or an emulator's "
                              "and a real kernel's for the same scenario): moves by label (status, "
                              "outcome, pages), reads by label (numbers within the tolerances, "
                              "memory.stat key by key), every step's status. Prints one line per "
                              "difference and a count; exit 1 on any difference.")
    p.add_argument("a", metavar="A.json")
    p.add_argument("b", metavar="B.json")
    p.add_argument("--abs", type=_size, default="0", metavar="SIZE",
                   help="numbers read may differ by this much (bytes or a size string; default 0)")
    p.add_argument("--rel", type=float, default=0.0, metavar="PERCENT",
                   help="... plus this percent of the larger (default 0)")
    p.add_argument("--ignore", action="append", default=[], metavar="LABEL",
                   help="skip the move or read with this label (repeatable)")
    p.set_defaults(func=cmd_diff)


def _read_result(path):
    try:
        with open(path, "rb") as f:
            data = loads(f.read())
    except OSError as e:
        raise UsageError(f"{path}: {e.strerror or e}") from None
    except ScenarioError as e:
        raise UsageError(f"{path}: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("steps", []), list):
        raise UsageError(f"{path}: not a result of memcg-emu run (an object with moves, reads, steps)")
    return data


def cmd_diff(args):
    from .compare import diff_results
    if args.rel < 0 or args.rel != args.rel:
        raise UsageError(f"--rel {args.rel}: must be a non-negative percent")
    lines, total = diff_results(_read_result(args.a), _read_result(args.b),
                                parse_size(args.abs), args.rel / 100, set(args.ignore))
    for line in lines:
        print(line)
    print(f"{total - len(lines)}/{total} fields agree")
    return 1 if lines else 0


# ---- schema ----

def add_schema(subparsers):
    p = subparsers.add_parser("schema", help="print the scenario language's JSON Schema",
                              description="Print the JSON Schema of scenario files (every op, "
                              "field, default and unit; docs/scenarios.md explains them).")
    p.set_defaults(func=cmd_schema)


def cmd_schema(args):
    from .scenario import schema
    _write_json(schema(), None)
    return 0


# Subcommands, in --help order: add_<name> + cmd_<name>.
SUBCOMMANDS = (add_run, add_casestudy, add_compare, add_diff, add_schema, add_sweep)


def build_parser():
    parser = Parser(prog=PROG, description="memcg-emu: a kernel-faithful emulator "
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
