"""Regressions from fuzzing the API, the scenario runner and threads on one machine."""
import pytest

from helpers import stat


@pytest.mark.parametrize("kernel", ["2.6.26", "3.4", "6.1"])
def test_mem_cgroup_id_keeps_the_root_groups_swap_record(machine, kernel):
    """The root's swap is recorded and uncharged like any group's (css ids start at 1, 0 is "none")."""
    m = machine(ram="32M", swap="8M", policy="lazy", kernel=kernel)
    pid = m.spawn("")
    addr = m.mmap(pid, 4096)
    m.touch(pid, addr, 4096)
    assert m.reclaim("", 0) == 4096
    assert stat(m)["swap"] == 4096
    m.check()
    m.touch(pid, addr, 4096)                 # swap-in: the slot and its record go
    assert stat(m)["swap"] == 0
    m.check()
    m.reclaim("", 0)
    m.exit(pid)                              # the swap entry goes with the task
    assert stat(m)["swap"] == 0
    m.check()
