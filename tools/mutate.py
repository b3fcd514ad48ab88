"""Mutation check: does the test suite catch small realistic bugs?

For each mutant in tools/mutants.toml (a find/replace on csrc/ or memcg_emu/):
copy the repository's tracked files as they are in the working tree to a
scratch directory under /tmp, apply the mutant, build the C core there, run
the state machine alone, then the whole suite (each with -x: the first failure
ends it; the suite runs the example tests first, the state machine last), and print a table of who
killed it and how fast.  Exit status: 0 every mutant killed by both; 1 some
mutant survived; 2 some mutant does not apply (its ``find`` text is gone or
ambiguous: refresh it) or does not build.

    python tools/mutate.py                  # every mutant, then the table
    python tools/mutate.py -k precharge     # the mutants whose name contains a word
    python tools/mutate.py --sm-only        # the state machine alone, not the suite
    python tools/mutate.py --list           # names, and whether each still applies
    python tools/mutate.py -j 2             # two mutants at a time, on two cores

Run under `nice` on a shared machine; times are wall-clock seconds, build excluded,
with the CPU seconds the tests used (what the wall time is on an idle machine).
"""
import argparse
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUTANTS = os.path.join(ROOT, "tools", "mutants.toml")
STATE_MACHINE = ["tests/test_state_machine.py::TestMemcgStateMachine"]
# the whole suite as `python -m pytest` runs it (tests/conftest.py puts the state machine's
# long search after the example tests)
SUITE = ["tests"]


def load(path=MUTANTS):
    with open(path, "rb") as f:
        return tomllib.load(f)["mutant"]


def apply(mutant, root):
    """Apply every edit under ``root``; None, or why the mutant does not apply."""
    texts = {}
    for edit in mutant["edit"]:
        path = os.path.join(root, edit["file"])
        if edit["file"] not in texts:
            if not os.path.exists(path):
                return f"{edit['file']} does not exist"
            with open(path) as f:
                texts[edit["file"]] = f.read()
        n = texts[edit["file"]].count(edit["find"])
        if n != 1:
            return f"{edit['file']}: the text to replace occurs {n} times"
        texts[edit["file"]] = texts[edit["file"]].replace(edit["find"], edit["replace"])
    for name, text in texts.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    return None


def copy_tree(dst):
    """The tracked files as they are in the working tree (uncommitted test edits included)."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if os.path.exists(os.path.join(ROOT, name)):
            os.makedirs(os.path.join(dst, os.path.dirname(name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(dst, name))


def env_for(root):
    env = dict(os.environ, PYTHONPATH=root, HYPOTHESIS_PROFILE="ci")
    env.pop("PYTEST_ADDOPTS", None)
    return env


def build(root):
    r = subprocess.run([sys.executable, "memcg_emu/_build.py"], cwd=root, env=env_for(root),
                       capture_output=True, text=True)
    return None if r.returncode == 0 else (r.stdout + r.stderr)[-2000:]


def run_tests(root, args, timeout):
    """(killed, (wall, cpu) seconds, detail): killed when pytest fails or dies of a signal.
    CPU seconds (the run's own, from wait4(), so right with -j too) say what the wall time
    would be on an idle machine (the tests use one core)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *args]
    timed_out = threading.Event()
    t0 = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as out:
        p = subprocess.Popen(cmd, cwd=root, env=env_for(root), stdout=out, stderr=subprocess.STDOUT,
                             text=True)
        timer = threading.Timer(timeout, lambda: (timed_out.set(), p.kill()))
        timer.start()
        try:
            _, status, usage = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if timed_out.is_set():
        return False, (time.monotonic() - t0, None), f"not killed in {timeout} s"
    dt = (time.monotonic() - t0, usage.ru_utime + usage.ru_stime)
    if p.returncode == 0:
        return False, dt, ""
    failed = [ln for ln in stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    why = [ln[1:].strip() for ln in stdout.splitlines() if ln.startswith("E ")]
    detail = " ".join((failed[:1] or [f"exit {p.returncode}"]) + why[:1])[:300]
    if p.returncode < 0:
        detail = f"crashed (signal {-p.returncode})"
    return True, dt, detail


def cell(killed, seconds):
    wall, cpu = seconds
    took = f"{wall:.0f} s" + (f" (cpu {cpu:.0f} s)" if cpu is not None else "")
    return f"caught, {took}" if killed else f"**missed**, {took}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="word", default="", help="only the mutants whose name contains this")
    ap.add_argument("--sm-only", action="store_true", help="run the state machine alone, not the suite")
    ap.add_argument("--timeout", type=int, default=900, help="seconds before a run counts as a miss")
    ap.add_argument("-j", dest="jobs", type=int, default=1, help="mutants at a time (one core each)")
    ap.add_argument("--list", action="store_true", help="list the mutants and whether each applies")
    ap.add_argument("--keep", action="store_true", help="keep the scratch copies (their paths are printed)")
    ap.add_argument("-v", "--verbose", action="store_true", help="print what killed each mutant")
    opts = ap.parse_args(argv)
    # a kill of this process ends the test run it waits for and removes its scratch copy
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    mutants = [mu for mu in load() if opts.word.lower() in mu["name"].lower()]
    if opts.list:
        for mu in mutants:
            problem = None
            with tempfile.TemporaryDirectory(prefix="memcg-mutant-") as tmp:
                copy_tree(tmp)
                problem = apply(mu, tmp)
            print(f"{mu['name']}: {problem or 'applies'}")
        return 0

    base = tempfile.mkdtemp(prefix="memcg-mutants-")     # one snapshot: later edits do not leak in
    try:
        copy_tree(base)
        return run_all(mutants, base, opts)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_one(mu, base, opts):
    """(table row, survived, stale) of one mutant, in a scratch copy of its own."""
    tmp = tempfile.mkdtemp(prefix="memcg-mutant-")
    try:
        shutil.copytree(base, tmp, dirs_exist_ok=True)
        problem = apply(mu, tmp)
        if problem is None:
            errors = build(tmp)
            problem = errors and "does not build: " + next(
                (ln for ln in errors.splitlines() if "error:" in ln), errors.splitlines()[-1])
        if problem:
            return f"| {mu['name']} | does not apply: {problem} | |", False, True
        killed, dt, detail = run_tests(tmp, STATE_MACHINE, opts.timeout)
        sm = cell(killed, dt)
        if opts.sm_only:
            whole, wkilled = "not run", True
        else:
            wkilled, wdt, wdetail = run_tests(tmp, SUITE, opts.timeout)
            whole = cell(wkilled, wdt)
            detail = detail or wdetail
        row = f"| {mu['name']} | {sm} | {whole} |"
        if opts.verbose and detail:
            row += f"\n|   | {detail} | |"
        return row, not (killed and wkilled), False
    finally:
        if opts.keep:
            print(f"    (scratch copy: {tmp})", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run_all(mutants, base, opts):
    survived = stale = False
    print("| bug planted | state machine alone | whole suite |\n|---|---|---|", flush=True)
    # -j N: N mutants at a time (each test run uses one core); rows print in list order
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for row, lost, bad in pool.map(lambda mu: run_one(mu, base, opts), mutants):
            survived, stale = survived or lost, stale or bad
            print(row, flush=True)
    return 1 if survived else 2 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
