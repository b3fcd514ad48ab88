"""Under pressure, the kernel's answers: cgroup_mutex and the seed's deadlock, the charge
path per profile (batch, reclaim retries, wait for a move, OOM, retry), OOM victims and
the 6.1 bit-1 rule.  Each test is named after the kernel function whose rule it pins."""
import errno

import pytest

from memcg_emu import Machine, OOMKilled
from memcg_emu.casestudy import run_case
from helpers import MiB, anon, raises_errno, usage

DEADLOCK_CHAIN = ["cgroup_attach_task", "mem_cgroup_can_attach", "mem_cgroup_recharge_task",
                  "mem_cgroup_charge_common", "mem_cgroup_out_of_memory", "cgroup_lock"]


def seed_move_into_filling_group(kernel, policy):
    """X (40M) moves from A into B (limit 80M, Z 20M); after 1024 pages W fills B with 30M,
    so the seed's page-by-page charge runs out and needs the OOM killer."""
    m = Machine(ram="512M", kernel=kernel, policy=policy)
    m.mkdir("A")
    m.write("A", "memory.limit_in_bytes", "100M")
    m.mkdir("B")
    m.write("B", "memory.limit_in_bytes", "80M")
    x = m.spawn("A")
    anon(m, x, 40 * MiB)
    z = m.spawn("B")
    anon(m, z, 20 * MiB)
    w = m.spawn("B")
    w_addr = m.mmap(w, "30M")
    fired = []

    def fill(info):
        if info.phase == "move" and info.pages >= 1024 and not fired:
            fired.append(m.touch(w, w_addr, "30M"))
    m.on_resched(fill)
    return m, x


# ---- cgroup_mutex: the 2.6.26 OOM path under attach ----

def test_mem_cgroup_out_of_memory_takes_cgroup_lock_under_attach_deadlocks_2_6_26():
    m, x = seed_move_into_filling_group("2.6.26", "seed")
    err = raises_errno(errno.EDEADLK, m.move, x, "B")
    assert "machine deadlocked at mem_cgroup_out_of_memory" in str(err)
    assert m.last_attach.outcome == "deadlock"
    assert m.deadlock == {"lock": "cgroup_mutex", "held_at": "cgroup_attach_task",
                          "wanted_at": "mem_cgroup_out_of_memory", "chain": DEADLOCK_CHAIN}
    assert "WARNING: possible recursive locking detected" in m.dmesg
    assert " *** DEADLOCK ***" in m.dmesg
    m.on_resched(None)
    # the writer hung: X never left A, nothing rolled back, the page in flight is charged nowhere
    assert m.cgroup_of(x) == "A"
    assert int(m.read("A", "memcg_emu.leaked_bytes")) == 4096
    assert usage(m, "B") == 80 * MiB
    # every later call that needs cgroup_mutex finds the machine hung
    for call, args in ((m.mkdir, ("C",)), (m.spawn, ("A",)), (m.move, (x, "")), (m.rmdir, ("B",)),
                       (m.fork, (x,))):
        assert "machine deadlocked at mem_cgroup_out_of_memory" in str(raises_errno(errno.EDEADLK, call, *args))
    m.read("A", "memory.usage_in_bytes")   # what needs no cgroup_mutex still answers
    m.check()


@pytest.mark.parametrize("kernel,policy", [("2.6.26", "seed-2.6.29"), ("6.1", "seed")])
def test_mem_cgroup_out_of_memory_without_cgroup_lock_kills_instead(kernel, policy):
    """2.6.29 dropped cgroup_lock() from the memcg OOM path: the same move goes OOM and fails."""
    m, x = seed_move_into_filling_group(kernel, policy)
    raises_errno(errno.ENOMEM, m.move, x, "B")
    assert m.deadlock is None and m.last_attach.outcome == "refused"
    assert m.last_attach.oom_victims
    m.on_resched(None)
    m.mkdir("C")
    m.check()


def test_cgroup_lock_from_a_resched_hook_is_another_task_and_nests():
    """The on_resched hook stands for another task: its cgroup calls are no self-deadlock."""
    m = Machine(ram="256M", kernel="2.6.26", policy="seed")
    m.mkdir("A")
    m.mkdir("B")
    x = m.spawn("A")
    anon(m, x, 8 * MiB)
    spawned = []
    m.on_resched(lambda info: spawned.append(m.spawn("B")) if not spawned else None)
    m.move(x, "B")
    assert m.cgroup_of(x) == "B" and m.cgroup_of(spawned[0]) == "B"
    m.mkdir("C")    # released for good after the move


def test_casestudy_seed_deadlocks_on_its_base_kernel_and_seed_2_6_29_does_not():
    seed = run_case("seed", "b-filled")
    assert seed["kernel"] == "2.6.26" and seed["outcome"] == "deadlock" and seed["status"] == "EDEADLK"
    assert seed["lock_chain"] == DEADLOCK_CHAIN and seed["oom_killed"] == []
    fixed = run_case("seed-2.6.29", "b-filled")
    assert fixed["kernel"] == "2.6.26" and fixed["outcome"] == "refused ENOMEM"
    assert fixed["oom_killed"] == ["task_Z"] and fixed["lock_chain"] is None
    assert run_case("upstream", "room")["kernel"] == "6.1"
    assert run_case("seed", "room", kernel="6.1")["kernel"] == "6.1"
