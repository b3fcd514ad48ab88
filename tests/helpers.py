"""Readers and small builders shared by the tests."""
import errno
import os

import pytest

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
PAGE = 4096

# What each cgroup-v1 limit file shows for "unlimited".
PAGE_COUNTER_MAX_BYTES = ((1 << 63) - 1) // PAGE * PAGE   # 3.19+ (page_counter): 9223372036854771712

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def usage(m, cg=""):
    return int(m.read(cg, "memory.usage_in_bytes"))


def stat(m, cg=""):
    """memory.stat as an ordered dict of ints."""
    out = {}
    for line in m.read(cg, "memory.stat").splitlines():
        key, value = line.split(" ")
        out[key] = int(value)
    return out


def limit(m, cg):
    return int(m.read(cg, "memory.limit_in_bytes"))


def tasks(m, cg):
    return [int(x) for x in m.read(cg, "tasks").split()]


def raises_errno(err, fn, *args, **kwargs):
    """Call fn and insist it fails with OSError ``err``; returns the exception."""
    with pytest.raises(OSError) as info:
        fn(*args, **kwargs)
    assert info.value.errno == err, (
        f"expected {errno.errorcode[err]}, got "
        f"{errno.errorcode.get(info.value.errno, info.value.errno)}: {info.value}")
    return info.value


def anon(m, pid, size, write=True):
    """A private anonymous mapping of ``size`` bytes, touched; returns its address."""
    addr = m.mmap(pid, size, kind="anon")
    m.touch(pid, addr, size, write=write)
    return addr


def kernel_data(name):
    """The path of a file of the real 6.1 kernel's scenarios (the project's copy first)."""
    candidates = [
        os.path.join(ROOT, "tests", "data", "kernel-6.1", name),
        os.path.join(ROOT, "scenarios", "kernel-6.1", name),
        os.path.join(ROOT, "..", "shared", "scenarios", "kernel-6.1", name),
    ]
    for path in candidates:
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"no copy of the kernel's {name} in {candidates}")


def leaked(m, cg):
    return int(m.read(cg, "memcg_emu.leaked_bytes"))


def alive(m, pid):
    try:
        m.cgroup_of(pid)
        return True
    except ProcessLookupError:
        return False


def die_once_then_run(marker, point):
    """A sweep's point function whose first call anywhere ends its worker process (os._exit).

    ``marker`` is a file path: the first call creates it and exits; every later call
    (a rerun of the same point included) runs the point.  No timing involved.
    """
    from memcg_emu.sweep import run_point
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return run_point(point)
    os.close(fd)
    os._exit(3)
