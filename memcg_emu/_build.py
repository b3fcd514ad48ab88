"""cffi builder (out-of-line API mode) for the C core in csrc/.

The cdef is csrc/include/memcg_emu.h itself: its EMU_ constants kept, its
other preprocessor lines dropped, and only the CFFI_CDEF branch of its one
#ifdef kept.

MEMCG_EMU_SANITIZE=address builds with -fsanitize=address,undefined,
MEMCG_EMU_SANITIZE=thread with -fsanitize=thread; MEMCG_EMU_DEBUG=1 turns on
lock assertions.  Rebuild with `pip install --no-build-isolation .` (or -e).
"""
import glob
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CSRC = os.path.join(ROOT, "csrc")
HEADER = os.path.join(CSRC, "include", "memcg_emu.h")


def read_cdef(path):
    """The header as cffi's cdef: keep the CFFI_CDEF side of #ifdef, drop directives."""
    out, keep = [], [True]
    for line in open(path).read().splitlines():
        word = line.strip().split(" ", 1)[0]
        if word == "#ifdef":
            keep.append(line.split()[1] == "CFFI_CDEF")
        elif word == "#ifndef":
            keep.append(True)
        elif word == "#else":
            keep[-1] = not keep[-1]
        elif word == "#endif":
            keep.pop()
        elif word == "#define" and line.split()[1].startswith("EMU_") and all(keep):
            out.append(line)  # constants: cffi takes integer #defines as they are
        elif not word.startswith("#") and all(keep):
            out.append(line)
    return "\n".join(out)


def compile_args():
    args = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-pthread", "-std=gnu11",
            "-Wno-unused-parameter", "-Wno-missing-field-initializers"]
    link = ["-pthread"]
    sanitize = os.environ.get("MEMCG_EMU_SANITIZE", "")
    if sanitize == "address":
        flags = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                 "-fno-sanitize-recover=undefined"]
    elif sanitize == "thread":
        flags = ["-fsanitize=thread", "-fno-omit-frame-pointer"]
    elif sanitize:
        raise SystemExit(f"MEMCG_EMU_SANITIZE must be 'address' or 'thread', not {sanitize!r}")
    else:
        flags = []
    if os.environ.get("MEMCG_EMU_DEBUG"):
        args.append("-DEMU_DEBUG")
    return args + flags, link + flags


sources = sorted(glob.glob(os.path.join(CSRC, "*", "*.c")))
# every object depends on every header: a changed struct must rebuild them all
headers = sorted(glob.glob(os.path.join(CSRC, "include", "**", "*.h"), recursive=True)
                 + glob.glob(os.path.join(CSRC, "*", "*.h")))
extra_compile_args, extra_link_args = compile_args()


def make_builder(module="memcg_emu._core", defines=(), absolute=False):
    """A cffi builder of the C core as ``module``; ``defines`` add -D flags.

    bench/sweep_throughput.py builds a second copy with -DEMU_NO_TRACE (every
    trace point compiled out) beside the installed one, with ``absolute`` paths.
    """
    path = os.path.abspath if absolute else (lambda p: os.path.relpath(p, ROOT))
    builder = FFI()
    builder.cdef(read_cdef(HEADER))
    builder.set_source(
        module,
        '#include "memcg_emu.h"',
        sources=[path(s) for s in sources],
        depends=[path(h) for h in headers],
        include_dirs=[path(os.path.join(CSRC, "include"))],
        extra_compile_args=extra_compile_args + [f"-D{d}" for d in defines],
        extra_link_args=extra_link_args,
    )
    return builder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
