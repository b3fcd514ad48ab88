"""The seed policy: the RFD patch's move, its refusals and both rollback cases, in exact bytes."""
import errno

import pytest

from memcg_emu import Machine
from helpers import PAGE, MiB, alive, leaked, stat, usage


def mixed_task(m):
    """A task in A with every kind of page; returns (pid, movable pages, all pages charged to A)."""
    x = m.spawn("A")
    anon = m.mmap(x, "8M")
    m.touch(x, anon, "8M")                         # 2048 anon pages
    child = m.fork(x)                              # all 2048 now COW-shared (mapcount 2)
    m.touch(x, anon, "4M")                         # X copies 1024 of them: mapped once, movable
    shm = m.mmap(x, "2M", kind="shm")
    m.touch(x, shm, "2M")                          # 512 shmem pages: shared, stay
    shared = m.mmap(x, "2M", kind="file", path="/f1")
    m.touch(x, shared, "2M")                       # 512 page-cache pages: stay
    private = m.mmap(x, "2M", kind="file", path="/f2", private=True)
    m.touch(x, private, "1M", write=False)         # 256 cache pages mapped read-only: stay
    m.touch(x, private + MiB, "1M")                # 256 cache pages + 256 private anon copies: copies move
    movable = 1024 + 256
    charged = 2048 + 1024 + 512 + 512 + 512 + 256
    return x, child, movable, charged


@pytest.fixture
def m():
    m = Machine(ram="1G", policy="seed", thp="never", kmem=False)   # user pages only, 4 KiB
    m.mkdir("A")
    m.mkdir("B")
    return m


def test_moves_exactly_private_anon_pages_mapped_once(m):
    x, child, movable, charged = mixed_task(m)
    assert usage(m, "A") == charged * PAGE
    m.move(x, "B")
    assert m.cgroup_of(x) == "B" and m.cgroup_of(child) == "A"
    assert usage(m, "B") == movable * PAGE
    assert usage(m, "A") == (charged - movable) * PAGE
    assert stat(m, "B")["rss"] == movable * PAGE and stat(m, "B")["cache"] == 0
    assert stat(m, "A")["cache"] == (512 + 512 + 512) * PAGE
    assert m.last_attach.pages_moved == movable
    m.check()


def test_refused_move_changes_no_charge_but_memory_rolls_back_in_place(m):
    """No room in B: nothing moves.  The patched cgroup_attach_task() still runs memory's
    attach_rollback, towards A where the pages are: each movable page is uncharged and
    charged to A again (one pgpgout and one pgpgin each), nothing else changes."""
    m.write("B", "memory.limit_in_bytes", "4M")
    x, _, movable, charged = mixed_task(m)
    before = (stat(m, "A"), stat(m, "B"), m.read("B", "memory.failcnt"))
    with pytest.raises(OSError) as e:
        m.move(x, "B")
    assert e.value.errno == errno.ENOMEM
    assert m.cgroup_of(x) == "A"
    assert usage(m, "A") == charged * PAGE and usage(m, "B") == 0
    assert_recharged_in_place(before, (stat(m, "A"), stat(m, "B"), m.read("B", "memory.failcnt")), movable)
    m.check()


def assert_recharged_in_place(before, after, pages):
    """Nothing differs but A's (the first) page events: one pgpgout and one pgpgin per page."""
    for key in ("pgpgin", "pgpgout", "total_pgpgin", "total_pgpgout"):
        assert after[0].pop(key) - before[0].pop(key) == pages
    assert after == before


def race_b(m, x, b_limit, w_bytes, at_pages):
    """B gets filled by task W (never OOM-killed) once `at_pages` pages have moved."""
    m.write("B", "memory.limit_in_bytes", b_limit)
    w = m.spawn("B")
    m.set_oom_score_adj(w, -1000)
    m.set_oom_score_adj(x, -1000)
    w_addr = m.mmap(w, w_bytes)
    return w, w_addr


def test_rollback_case_a_returns_every_charge_when_old_group_has_room(m):
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "80M"), "80M")
    w, w_addr = race_b(m, x, "120M", "50M", 5120)
    fired = []

    def hook(info):
        if info.phase == "move" and info.pages >= 5120 and not fired:
            fired.append(info.pages)
            m.touch(w, w_addr, "50M")
    m.on_resched(hook)
    with pytest.raises(OSError) as e:
        m.move(x, "B")
    assert e.value.errno == errno.ENOMEM and fired == [5120]
    assert m.cgroup_of(x) == "A"
    assert usage(m, "A") == 80 * MiB and usage(m, "B") == 50 * MiB
    assert leaked(m, "A") == 0 and m.last_attach.pages_moved == 0
    m.check()


def test_rollback_case_a_leaks_exactly_what_the_full_old_group_cannot_take(m):
    m.write("A", "memory.limit_in_bytes", "100M")
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "80M"), "80M")            # 20480 pages
    w, w_addr = race_b(m, x, "120M", "50M", 5120)
    g = m.spawn("A")
    m.set_oom_score_adj(g, -1000)
    g_addr = m.mmap(g, "40M")
    events = []

    def hook(info):
        if info.phase == "move" and info.pages >= 5120 and "w" not in events:
            events.append("w")
            m.touch(w, w_addr, "50M")              # B: 20M moved + 50M = 70M of 120M
        if info.phase == "rollback" and "g" not in events:
            events.append("g")
            m.touch(g, g_addr, "40M")              # A: 10M unmoved + 40M = 50M of 100M
    m.on_resched(hook)
    with pytest.raises(OSError):
        m.move(x, "B")
    # 5120 + 12800 pages moved before B was full, plus the page whose charge failed:
    # 17921 must go back.  A holds X's 2559 unmoved pages and G's 10240, so it has
    # room for 12801 of them; 5120 stay charged nowhere.
    assert events == ["w", "g"]
    assert leaked(m, "A") == 5120 * PAGE
    assert m.last_attach.pages_leaked == 5120
    assert usage(m, "A") == 100 * MiB and usage(m, "B") == 50 * MiB
    assert stat(m, "A")["rss"] == 100 * MiB     # charged pages only: the leak is in nobody's rss
    m.check()                                   # the leak is the only uncharged page in use
    m.exit(x)
    assert leaked(m, "A") == 0 and usage(m, "A") == 40 * MiB
    m.check()


def test_rollback_does_not_uncount_pages_already_charged_to_the_new_group(m):
    """X's first 2M were charged in B (X left B under policy none), its next 2M in A.  The
    seed recharges B's pages in place (no move: not counted), then the hook raises: the
    rollback charges them to A as the patch does, and pages_moved stays 0 (it wrapped to
    2^64-512 when the rollback uncounted them)."""
    x = m.spawn("B")
    addr = m.mmap(x, "4M")
    m.touch(x, addr, "2M")
    m.move(x, "A", policy="none")
    m.touch(x, addr + 2 * MiB, "2M")
    m.drain()
    seen = []

    def hook(info):
        if info.phase == "move":
            seen.append(info.pages)
            if len(seen) == 2:
                raise RuntimeError("stop")
    m.on_resched(hook)
    with pytest.raises(RuntimeError):
        m.move(x, "B")
    assert seen == [0, 0]
    assert m.last_attach.pages_moved == 0 and m.last_attach.pages_leaked == 0
    assert (usage(m, "A"), usage(m, "B")) == (4 * MiB, 0)
    m.check()


def test_rollback_case_b_attach_rollback_returns_the_charges(m):
    x, child, movable, charged = mixed_task(m)
    m.drain()                       # every page on its list, where the RFD's walk finds it
    m.fail_next_can_attach("devices", errno.EPERM)
    with pytest.raises(PermissionError):
        m.move(x, "B")
    assert m.cgroup_of(x) == "A"
    assert usage(m, "A") == charged * PAGE and usage(m, "B") == 0
    assert int(m.read("B", "memory.max_usage_in_bytes")) == movable * PAGE   # they had moved
    assert m.last_attach.pages_moved == 0
    m.check()


@pytest.mark.parametrize("kernel,policy", [("6.1", "seed"), ("2.6.26", "seed-2.6.29")])
def test_seed_move_oom_kills_in_the_destination(kernel, policy):
    """GFP_KERNEL in phase 3: a charge that fails there runs the OOM killer in the new group.
    6.1 retries the charge after the kill and the move goes through; 2.6.2x fails the charge
    (on 2.6.26 itself the OOM path deadlocks: tests/test_pressure.py)."""
    m = Machine(ram="1G", policy=policy, kernel=kernel, thp="never", kmem=False)
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "40M"), "40M")
    m.drain()                       # every page on its list, where the RFD's walk finds it
    m.write("B", "memory.limit_in_bytes", "60M")
    z = m.spawn("B")
    z_addr = m.mmap(z, "30M")
    fired = []

    def hook(info):
        if info.phase == "move" and info.pages >= 512 and not fired:
            fired.append(1)
            m.touch(z, z_addr, "30M")           # B: 2M moved + 30M; 38M more will not fit
    m.on_resched(hook)
    if kernel == "6.1":
        m.move(x, "B")
        assert m.last_attach.oom_victims == [z] and not alive(m, z)
        assert m.cgroup_of(x) == "B" and usage(m, "A") == 0 and usage(m, "B") == 40 * MiB
    else:
        with pytest.raises(OSError):
            m.move(x, "B")
        assert not alive(m, z) and alive(m, x)
        assert m.cgroup_of(x) == "A" and usage(m, "A") == 40 * MiB and usage(m, "B") == 0
    m.check()


def test_none_never_moves_a_charge(m):
    x, child, movable, charged = mixed_task(m)
    m.move(x, "B", policy="none")
    assert m.cgroup_of(x) == "B"
    assert usage(m, "A") == charged * PAGE and usage(m, "B") == 0
    new = m.mmap(x, "1M")
    m.touch(x, new, "1M")                       # new faults charge the new group
    assert usage(m, "B") == MiB
    m.check()


def test_cpuset_refusal_still_runs_memorys_attach_rollback(m):
    """cpuset refuses before memory is asked; the patched cgroup_attach_task() calls memory's
    attach_rollback all the same: X's movable pages are recharged to A in place."""
    x, _, movable, charged = mixed_task(m)
    m.write("B", "cpuset.cpus", "")
    before = (stat(m, "A"), stat(m, "B"))
    with pytest.raises(OSError) as e:
        m.move(x, "B")
    assert e.value.errno == errno.ENOSPC and m.cgroup_of(x) == "A"
    assert_recharged_in_place(before, (stat(m, "A"), stat(m, "B")), movable)
    m.check()


def test_hook_exception_rolls_back_and_propagates(m):
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "8M"), "8M")

    def hook(info):
        if info.phase == "move" and info.pages >= 1024:
            raise KeyError("stop")
    m.on_resched(hook)
    with pytest.raises(KeyError):
        m.move(x, "B")
    assert m.cgroup_of(x) == "A" and usage(m, "A") == 8 * MiB and usage(m, "B") == 0
    m.check()


def test_check_passes_inside_the_move(m):
    """Pages isolated by an in-flight move are accounted for by check()."""
    x = m.spawn("A")
    m.touch(x, m.mmap(x, "8M"), "8M")
    seen = []

    def hook(info):
        m.check()
        seen.append(info.phase)
    m.on_resched(hook)
    m.move(x, "B")
    assert {"walk", "move", "putback"} <= set(seen)
    m.check()
