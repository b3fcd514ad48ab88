"""The RFD's other policies: reserve, half, lazy and lazy-move; fits, does not fit, raced."""
import errno

import pytest

from memcg_emu import Machine
from helpers import PAGE, MiB, stat, usage


def world(policy, b_limit="100M", swap="0", x_size="80M"):
    m = Machine(ram="512M", swap=swap, policy=policy, kmem=False)
    m.mkdir("A")
    m.mkdir("B")
    m.write("B", "memory.limit_in_bytes", b_limit)
    x = m.spawn("A")
    addr = m.mmap(x, x_size)
    m.touch(x, addr, x_size)
    return m, x, addr


def racer(m, cg, size, phase="move", at=512):
    """A task in ``cg`` (never OOM-killed) that faults ``size`` once ``at`` pages of ``phase`` are done."""
    z = m.spawn(cg)
    m.set_oom_score_adj(z, -1000)
    addr = m.mmap(z, size)
    fired = []

    def hook(info):
        if info.phase == phase and info.pages >= at and not fired:
            fired.append(info.pages)
            try:
                m.touch(z, addr, size)
            except OSError as e:
                fired.append(e.errno)
    m.on_resched(hook)
    return z, fired


# ---- reserve ----

def test_reserve_fits_and_counts_twice_during_the_move():
    m, x, _ = world("reserve")
    seen = []
    m.on_resched(lambda info: seen.append((info.phase, usage(m, "A"), usage(m, "B"))))
    m.move(x, "B")
    assert ("move", 80 * MiB, 80 * MiB) in seen          # the task is counted twice meanwhile
    assert (usage(m, "A"), usage(m, "B")) == (0, 80 * MiB)
    assert int(m.read("A", "memory.max_usage_in_bytes")) == 80 * MiB
    m.check()


def test_reserve_does_not_fit():
    m, x, _ = world("reserve", b_limit="64M")
    with pytest.raises(OSError) as e:
        m.move(x, "B")
    assert e.value.errno == errno.ENOMEM and m.cgroup_of(x) == "A"
    assert (usage(m, "A"), usage(m, "B")) == (80 * MiB, 0)
    m.check()


def test_reserve_raced_the_reservation_holds_the_room():
    m, x, _ = world("reserve")
    m.set_oom_score_adj(x, -1000)
    z, fired = racer(m, "B", "30M")
    m.move(x, "B")
    assert fired == [512, errno.ENOMEM]                  # Z got only what the reservation left
    assert (usage(m, "A"), usage(m, "B")) == (0, 100 * MiB)
    assert stat(m, "B")["rss"] == 100 * MiB
    m.check()


def test_reserve_cancel_releases_the_reservation():
    m, x, _ = world("reserve")
    m.fail_next_can_attach("devices", errno.EACCES)
    with pytest.raises(PermissionError):
        m.move(x, "B")
    assert (usage(m, "A"), usage(m, "B")) == (80 * MiB, 0)
    assert int(m.read("B", "memory.max_usage_in_bytes")) == 80 * MiB
    m.check()


# ---- half ----

def test_half_fits():
    m, x, _ = world("half")
    m.move(x, "B")
    assert (usage(m, "A"), usage(m, "B")) == (0, 80 * MiB)
    assert m.last_attach.outcome == "moved"
    m.check()


def test_half_does_not_fit_and_stays_half_moved():
    m, x, _ = world("half", b_limit="50M")
    m.move(x, "B")                                       # never refuses
    assert m.cgroup_of(x) == "B" and m.last_attach.outcome == "half-moved"
    assert (usage(m, "A"), usage(m, "B")) == (30 * MiB, 50 * MiB)
    assert m.last_attach.pages_moved == 50 * MiB // PAGE
    m.check()


def test_half_raced_leaves_exactly_the_unmoved_pages_behind():
    m, x, _ = world("half")
    z, fired = racer(m, "B", "30M")
    m.move(x, "B")
    # 512 pages moved, then Z takes 30M: 68M of room is left for 78M
    assert fired == [512]
    assert (usage(m, "A"), usage(m, "B")) == (10 * MiB, 100 * MiB)
    assert m.last_attach.pages_moved == 70 * MiB // PAGE
    m.check()


# ---- lazy ----

def test_lazy_moves_the_task_not_the_charges():
    m, x, addr = world("lazy", b_limit="10M")
    m.move(x, "B")
    assert m.cgroup_of(x) == "B"
    assert (usage(m, "A"), usage(m, "B")) == (80 * MiB, 0)
    assert int(m.read("A", "memcg_emu.wrong_charge_bytes")) == 80 * MiB
    # B's task uses 80M against a 10M limit: more than the limit, by at most the wrong charge
    assert 80 * MiB <= int(m.read("B", "memory.limit_in_bytes")) + 80 * MiB
    m.check()


def test_lazy_reclaim_takes_wrong_charge_first_and_refault_charges_the_new_group():
    m, x, addr = world("lazy", swap="256M")
    y = m.spawn("A")
    y_addr = m.mmap(y, "8M")
    m.touch(y, y_addr, "8M")                            # A's own pages, younger than X's
    m.move(x, "B")
    r = m.reclaim("A", "16M")       # priority rounds: the last one may free a little more
    assert 16 * MiB <= r < 17 * MiB
    assert stat(m, "A")["rss"] == 80 * MiB - r + 8 * MiB
    assert int(m.read("A", "memcg_emu.wrong_charge_bytes")) == 80 * MiB - r   # Y untouched
    assert stat(m, "B")["swap"] == r                    # recorded for X's group now
    m.touch(x, addr, "80M")                             # refault
    assert usage(m, "B") == r and usage(m, "A") == 88 * MiB - r
    m.check()


def test_lazy_mlocked_pages_never_leave():
    m, x, addr = world("lazy", swap="256M", x_size="8M")
    m.mlock(x, addr, "4M")
    m.move(x, "B")
    m.reclaim("A", "100M")
    assert int(m.read("A", "memcg_emu.wrong_charge_bytes")) == 4 * MiB
    assert stat(m, "A")["unevictable"] == 4 * MiB and usage(m, "A") == 4 * MiB
    m.check()


def test_lazy_raced_by_a_charger_in_the_old_group():
    m, x, addr = world("lazy", b_limit="10M")
    z, fired = racer(m, "A", "4M", phase="walk")
    m.move(x, "B")
    assert fired == [512]
    assert usage(m, "A") == 84 * MiB and int(m.read("A", "memcg_emu.wrong_charge_bytes")) == 80 * MiB
    m.check()


# ---- lazy-move ----

def test_lazy_move_recharges_instead_of_reclaiming_when_there_is_room():
    m, x, addr = world("lazy-move", b_limit="20M")
    m.move(x, "B")
    freed = m.reclaim("A", "32M")                        # no swap: only recharging helps
    assert freed >= 20 * MiB
    assert usage(m, "B") == 20 * MiB and usage(m, "A") == 60 * MiB
    assert int(m.read("A", "memcg_emu.wrong_charge_bytes")) == 60 * MiB
    m.check()


def test_lazy_move_reclaims_when_the_new_group_is_full():
    m, x, addr = world("lazy-move", b_limit="4M", swap="256M")
    m.move(x, "B")
    m.reclaim("A", "16M")
    assert usage(m, "B") == 4 * MiB                      # recharged while B had room
    assert stat(m, "B")["swap"] + stat(m, "B")["rss"] >= 16 * MiB
    assert int(m.read("A", "memcg_emu.wrong_charge_bytes")) == usage(m, "A")
    m.check()


def test_lazy_move_raced_fill_of_the_new_group():
    m, x, addr = world("lazy-move", b_limit="20M")
    z, fired = racer(m, "B", "20M", phase="walk")
    m.move(x, "B")
    assert m.reclaim("A", "32M") == 0                    # B is full, no swap: nothing moves
    assert usage(m, "A") == 80 * MiB and usage(m, "B") == 20 * MiB
    m.check()
