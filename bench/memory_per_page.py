#!/usr/bin/env python3
"""Host memory per emulated page.

A Machine(ram="16G", thp="never") gets 15 GiB of private anonymous memory
faulted in by one task (touched in chunks); then the same with thp="always",
reported apart (a huge page's cost, per 4 KiB it stands for).  The peak RSS of that process, minus the peak
RSS of an empty interpreter, divided by the pages faulted in, is what one
emulated page costs the host (struct page, page_cgroup, PTE and page-table
pages, LRU links; the import of memcg_emu itself is charged to it too, and
reported apart).  Both run in fresh subprocesses so the baseline is clean.  The result is validated in the
same run (usage_in_bytes less the page tables (kmem) and memory.stat rss must equal the bytes touched,
and m.check() must pass), then printed as JSON and a short table.

usage: python bench/memory_per_page.py [--quick] [--ram 16G] [--chunk 256M]
  --quick   a 1G machine with 15/16 of it faulted in
Exit status 1 when the figure is over the 128 bytes/page target or the run is invalid.
"""
import argparse
import json
import os
import subprocess
import sys
import time

TARGET_BYTES_PER_PAGE = 128
PAGE = 4096


def vm_hwm_bytes():
    """Peak resident set of this process (VmHWM), falling back to ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(ram, anon, chunk, thp):
    """Runs in the subprocess: measure, fault in, measure, validate; JSON on stdout."""
    from memcg_emu import Machine
    from memcg_emu.sizes import parse_size

    ram_b, anon_b, chunk_b = parse_size(ram), parse_size(anon), parse_size(chunk)
    baseline = vm_hwm_bytes()
    t0 = time.perf_counter()
    m = Machine(ram=ram_b, swap="0", policy="none", thp=thp)
    m.mkdir("bench")
    pid = m.spawn("bench")
    addr = m.mmap(pid, anon_b)
    for off in range(0, anon_b, chunk_b):
        m.touch(pid, addr + off, min(chunk_b, anon_b - off))
    seconds = time.perf_counter() - t0
    peak = vm_hwm_bytes()
    # validation after the peak is read: check() allocates its own scratch arrays; usage less
    # the page tables (6.1 charges them as kmem) after the per-CPU charge stock is drained
    m.drain()
    usage = int(m.read("bench", "memory.usage_in_bytes")) - int(m.read("bench", "memory.kmem.usage_in_bytes"))
    rss = next(int(line.split()[1]) for line in m.read("bench", "memory.stat").splitlines()
               if line.startswith("rss "))
    checked = True
    try:
        m.check()
    except AssertionError as e:
        checked = str(e)
    json.dump({"ram": ram_b, "anon": anon_b, "chunk": chunk_b, "baseline": baseline, "peak": peak,
               "seconds": seconds, "usage": usage, "rss": rss, "check": checked}, sys.stdout)


def run_python(args):
    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable] + args, check=True, capture_output=True, text=True,
                          env=env).stdout


def empty_interpreter_peak():
    """VmHWM of an interpreter that does nothing (the same helper, no memcg_emu import)."""
    return int(run_python([os.path.abspath(__file__), "--empty"]))


def measure(ram, anon, chunk, thp):
    return json.loads(run_python([os.path.abspath(__file__), "--child", ram, anon, chunk, thp]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1G machine instead of 16G")
    ap.add_argument("--ram", default=None, help="machine RAM (default 16G, or 1G with --quick)")
    ap.add_argument("--chunk", default="256M", help="bytes touched per call")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--empty", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.empty:
        print(vm_hwm_bytes())
        return 0
    if args.child:
        child(*args.child)
        return 0

    from memcg_emu.sizes import parse_size
    ram = args.ram or ("1G" if args.quick else "16G")
    ram_b = parse_size(ram)
    anon_b = ram_b // 16 * 15                     # 15 GiB of 16 GiB; 960 MiB of 1 GiB
    empty = empty_interpreter_peak()
    r = measure(str(ram_b), str(anon_b), args.chunk, "never")
    huge = measure(str(ram_b), str(anon_b), args.chunk, "always")     # the same memory in huge pages
    pages = anon_b // PAGE
    increase = r["peak"] - empty
    per_page = increase / pages
    huge_per_page = (huge["peak"] - empty) / pages
    valid = all(x["usage"] == anon_b and x["rss"] == anon_b and x["check"] is True for x in (r, huge))
    result = {
        "benchmark": "memory_per_page",
        "ram_bytes": ram_b,
        "anon_bytes": anon_b,
        "pages": pages,
        "empty_interpreter_peak_rss_bytes": empty,
        "import_bytes": r["baseline"] - empty,
        "peak_rss_bytes": r["peak"],
        "rss_increase_bytes": increase,
        "bytes_per_page": round(per_page, 2),
        "thp_bytes_per_page": round(huge_per_page, 2),
        "thp_bytes_per_huge_page": round(huge_per_page * 512),
        "projected_16g_bytes": int(per_page * (16 << 30) // PAGE),
        "target_bytes_per_page": TARGET_BYTES_PER_PAGE,
        "within_target": per_page <= TARGET_BYTES_PER_PAGE,
        "fault_seconds": round(r["seconds"], 3),
        "pages_per_second": int(pages / r["seconds"]) if r["seconds"] else None,
        "valid": valid,
        "validation": {"usage_in_bytes": r["usage"], "stat_rss": r["rss"], "check": r["check"],
                       "thp_check": huge["check"]},
    }
    print(json.dumps(result, indent=1))
    mib = 1 << 20
    print()
    print(f"{'machine RAM':<28}{ram_b / mib:>12.0f} MiB")
    print(f"{'anon faulted in':<28}{anon_b / mib:>12.0f} MiB  ({pages} pages)")
    print(f"{'peak RSS increase':<28}{increase / mib:>12.1f} MiB  (of which import {(r['baseline'] - empty) / mib:.1f} MiB)")
    print(f"{'host bytes per page':<28}{per_page:>12.1f}      (target <= {TARGET_BYTES_PER_PAGE})")
    print(f"{'... in huge pages (THP)':<28}{huge_per_page:>12.1f}      ({huge_per_page * 512:.0f} per 2 MiB page)")
    print(f"{'fault-in time':<28}{r['seconds']:>12.2f} s")
    print(f"{'validated':<28}{'yes' if valid else 'NO':>12}")
    return 0 if valid and result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
