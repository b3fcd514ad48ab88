"""Regressions from fuzzing the API, the scenario runner and threads on one machine."""
import errno
import os
import signal
import threading

import pytest

from helpers import anon, raises_errno, stat, usage


@pytest.mark.parametrize("kernel", ["2.6.26", "3.4", "6.1"])
def test_mem_cgroup_id_keeps_the_root_groups_swap_record(machine, kernel):
    """The root's swap is recorded and uncharged like any group's (css ids start at 1, 0 is "none").
    2.6.26 shows no swap line (no swap accounting before 2.6.34): check() alone counts it there."""
    m = machine(ram="32M", swap="8M", policy="lazy", kernel=kernel)
    shown = kernel != "2.6.26"               # memory.stat has no swap line before swap accounting
    pid = m.spawn("")
    addr = m.mmap(pid, 4096)
    m.touch(pid, addr, 4096)
    assert m.reclaim("", 4096) == 4096
    assert stat(m).get("swap") == (4096 if shown else None)
    m.check()
    m.touch(pid, addr, 4096)                 # swap-in: the slot and its record go
    assert stat(m).get("swap") == (0 if shown else None)
    m.check()
    m.reclaim("", 4096)
    m.exit(pid)                              # the swap entry goes with the task
    assert stat(m).get("swap") == (0 if shown else None)
    m.check()


@pytest.mark.parametrize("policy", ["seed", "reserve", "half", "lazy", "lazy-move", "upstream"])
def test_mmap_write_lock_killable_inside_a_move_hook(machine, policy):
    """A hook runs on the mover's thread while the move holds the task's mmap_lock for read.

    mmap, munmap, mlock and fork of the moving task need it for write: on a
    kernel they would wait for the move; here that wait could never end, so
    they fail with EDEADLK (and a clear message) instead of hanging.
    """
    m = machine(policy=policy)
    m.mkdir("A")
    m.mkdir("B")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    pid = m.spawn("A")
    addr = anon(m, pid, "8M")
    calls = {"mmap": lambda: m.mmap(pid, "4K"), "munmap": lambda: m.munmap(pid, addr, "4K"),
             "mlock": lambda: m.mlock(pid, addr, "4K"), "fork": lambda: m.fork(pid)}
    seen = {}

    def hook(info):
        if not seen:
            for name, call in calls.items():
                seen[name] = raises_errno(errno.EDEADLK, call)
    m.on_resched(hook)
    m.move(pid, "B")
    m.on_resched(None)
    assert sorted(seen) == sorted(calls)
    assert all("make this call from another thread" in str(e) for e in seen.values())
    # nothing changed: the task maps its 8M, and once the move is over the same calls work
    assert m.cgroup_of(pid) == "B"
    m.munmap(pid, addr, "4K")
    m.exit(m.fork(pid))


@pytest.fixture
def ctrl_c():
    """SIGINT raises KeyboardInterrupt for the test, as at a terminal: a shell starts a
    background job (and so the suite, run as one) with SIGINT ignored."""
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, saved)


def interrupt_when(m, ready):
    """A thread that sends this process SIGINT once ``ready(m)`` holds (the main thread is in C)."""
    def body():
        while not ready(m):
            pass
        os.kill(os.getpid(), signal.SIGINT)
    thread = threading.Thread(target=body)
    thread.start()
    return thread


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals go to the main thread")
@pytest.mark.parametrize("how", ["touch", "file_write"])
def test_fatal_signal_pending_stops_a_long_fault_loop(machine, how, ctrl_c):
    """Ctrl-C stops a 16 GiB read of a file (or write(2)) on a 64M machine within a few thousand pages."""
    m = machine(ram="64M")
    pid = m.spawn("")
    addr = m.mmap(pid, "16G", kind="file", path="/data/big")
    thread = interrupt_when(m, lambda m: usage(m) > 0)
    with pytest.raises(KeyboardInterrupt):
        if how == "touch":
            m.touch(pid, addr, "16G", write=False)
        else:
            m.file_write(pid, "/data/big", "16G")
    thread.join()
    # it stopped early: far fewer pages came in than the 4M pages asked for
    assert stat(m)["pgpgin"] < 1 << 20
