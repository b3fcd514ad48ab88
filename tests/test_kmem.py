"""Page tables charged as kernel memory (6.1: memory.kmem.usage_in_bytes), each rule after the
kernel function that makes it.  The anon mappings here are 2 MiB multiples at the 2 MiB-aligned
mmap base: 4 MiB needs one pud table, one pmd table and two pte tables."""
import errno

import pytest

from helpers import MiB, PAGE, raises_errno, usage
from memcg_emu import Machine


def kmem(m, cg):
    return int(m.read(cg, "memory.kmem.usage_in_bytes"))


def kmem_machine(machine, **kw):
    m = machine(kmem=True, **kw)
    m.mkdir("A")
    m.mkdir("B")
    return m, m.spawn("A")


def test_kmem_accounting_per_profile():
    assert Machine(ram="64M").kmem is True and Machine(ram="64M", kernel="6.13").kmem is True
    assert Machine(ram="64M", kernel="3.4").kmem is False
    with pytest.raises(ValueError):
        Machine(ram="64M", kernel="2.6.35", kmem=True)
    m = Machine(ram="64M", kmem=False)              # cgroup.memory=nokmem
    m.mkdir("A")
    pid = m.spawn("A")
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    assert kmem(m, "A") == 0 and usage(m, "A") == 4 * MiB


def test_pte_alloc_one_charges_page_tables_to_the_group(machine):
    """pud_alloc_one()/pmd_alloc_one()/pte_alloc_one(): GFP_PGTABLE_USER is accounted."""
    m, pid = kmem_machine(machine)
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    assert kmem(m, "A") == 4 * PAGE
    assert usage(m, "A") == 4 * MiB + 4 * PAGE
    assert int(m.read("A", "memory.memsw.usage_in_bytes")) == usage(m, "A")
    m.exit(pid)                                     # free_pgtables(): uncharged
    assert kmem(m, "A") == usage(m, "A") == 0


def test_pte_alloc_one_deposit_beside_a_huge_pmd_is_charged(machine):
    """do_huge_pmd_anonymous_page() deposits a page table: kmem as for 4 KiB pages."""
    m, pid = kmem_machine(machine, thp="always")
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    assert kmem(m, "A") == 4 * PAGE and usage(m, "A") == 4 * MiB + 4 * PAGE


def test_mem_cgroup_move_charge_leaves_kernel_memory(machine):
    """Only pages move with bit 0: the page tables stay charged to the old group."""
    m, pid = kmem_machine(machine, policy="upstream")
    m.write("B", "memory.move_charge_at_immigrate", "1")
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    m.move(pid, "B")
    assert usage(m, "A") == kmem(m, "A") == 4 * PAGE
    assert usage(m, "B") == 4 * MiB and kmem(m, "B") == 0
    m.touch(pid, m.mmap(pid, "2M"), "2M")           # new tables: charged where X is now
    assert kmem(m, "B") == 2 * PAGE                 # (below a guard page it straddles two)
    assert kmem(m, "") == 6 * PAGE                  # a page_counter: the subtree's


def test_dup_mmap_charges_the_childs_tables_to_the_forking_group(machine):
    m, pid = kmem_machine(machine)
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    child = m.fork(pid)
    assert kmem(m, "A") == 8 * PAGE
    m.exit(child)
    assert kmem(m, "A") == 4 * PAGE


def test_pte_alloc_one_over_the_limit_fails_the_fork(machine):
    m, pid = kmem_machine(machine)
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    m.write("A", "memory.limit_in_bytes", usage(m, "A"))
    raises_errno(errno.ENOMEM, m.fork, pid)
    assert kmem(m, "A") == 4 * PAGE and usage(m, "A") == 4 * MiB + 4 * PAGE


def test_memcg_reparent_objcgs_hands_kernel_memory_to_the_parent(machine):
    """rmdir: the page tables of a task that left stay charged, to the parent from then on."""
    m, pid = kmem_machine(machine)
    m.touch(pid, m.mmap(pid, "4M"), "4M")
    m.move(pid, "B")                                # policy none: everything stays in A
    root_kmem = kmem(m, "")
    m.rmdir("A")
    assert kmem(m, "") == root_kmem                 # counted in the root already (hierarchy)
    m.check()
    m.exit(pid)
    assert kmem(m, "") == root_kmem - 4 * PAGE and usage(m, "B") == 0
