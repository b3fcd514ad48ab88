"""Real threads: tasks fault, unmap, fork and exit in two groups while another thread moves them.

The C entry points release the GIL, so these threads truly race inside the
core (run under the thread sanitizer build too: see README).  At the end
check() passes and the charges add up to exactly what the threads left mapped.
"""
import random
import threading

import pytest

from memcg_emu import POLICIES, Machine
from helpers import PAGE, usage

ROUNDS = 60


def worker(m, pid, seed, live, barrier, errors):
    rnd = random.Random(seed)
    maps = []
    try:
        barrier.wait()
        for _ in range(ROUNDS):
            op = rnd.random()
            if op < 0.5 or not maps:
                pages = rnd.randint(1, 64)
                addr = m.mmap(pid, pages * PAGE)
                m.touch(pid, addr, pages * PAGE)
                maps.append((addr, pages))
            elif op < 0.8:
                addr, pages = maps.pop(rnd.randrange(len(maps)))
                m.munmap(pid, addr, pages * PAGE)
            else:
                child = m.fork(pid)              # shares everything COW; its exit frees nothing charged
                m.exit(child)
        live[pid] = sum(p for _, p in maps)
    except BaseException as e:  # reported by the main thread
        errors.append(e)


def mover(m, pids, policy, barrier, stop, errors):
    rnd = random.Random(7)
    try:
        barrier.wait()
        while not stop.is_set():
            pid = rnd.choice(pids)
            m.move(pid, "B" if m.cgroup_of(pid) == "A" else "A", policy=policy)
    except BaseException as e:
        errors.append(e)


@pytest.mark.parametrize("policy", POLICIES)
def test_threads_race_moves(policy):
    m = Machine(ram="256M", kmem=False, cpus=4)          # one task per CPU
    for cg in ("A", "B"):
        m.mkdir(cg)
        m.write(cg, "memory.move_charge_at_immigrate", 3)
    pids = [m.spawn("A"), m.spawn("A"), m.spawn("B"), m.spawn("B")]
    live, errors = {}, []
    barrier = threading.Barrier(len(pids) + 1)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(m, pid, i, live, barrier, errors))
               for i, pid in enumerate(pids)]
    mv = threading.Thread(target=mover, args=(m, pids, policy, barrier, stop, errors))
    for t in threads + [mv]:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    mv.join()
    assert not errors, errors
    m.check()
    assert usage(m, "A") + usage(m, "B") == sum(live.values()) * PAGE
    assert int(m.read("", "memory.usage_in_bytes")) == sum(live.values()) * PAGE
