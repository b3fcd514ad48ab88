"""Page tables charged as kernel memory (6.1: memory.kmem.usage_in_bytes), each rule after the
kernel function that makes it.  The anon mappings here are 2 MiB multiples at the 2 MiB-aligned
mmap base: 4 MiB needs one pud table, one pmd table and two pte tables."""
import errno

import pytest

from helpers import MiB, PAGE, raises_errno, usage
from memcg_emu import Machine, ProcessImage


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


# ---- a program's image at execve(): its pages, its page tables, its kernel objects ----

IMAGE = ProcessImage(data_pages=12, stack_pages=3, kernel_pages=6, mmap_rnd_pages=377)


def test_load_elf_binary_charges_the_image_to_the_group(machine):
    """load_elf_binary()/setup_arg_pages(): the data and stack the program writes as it starts
    are anon rss; their two regions (at 0x4c0000 and below the top) take a pud, a pmd and a pte
    table each; its other kernel objects (PGD, mm_struct, VMAs) are kmem too.  Exit gives it all
    back."""
    m, pid = kmem_machine(machine)
    m.exec(pid, IMAGE)
    assert kmem(m, "A") == (6 + 6) * PAGE
    assert usage(m, "A") == (15 + 12) * PAGE
    assert int(m.stat("A")["rss"]) == 15 * PAGE
    m.check()
    m.exec(pid)                                     # an empty program: the old image goes
    assert usage(m, "A") == 0
    m.exec(pid, IMAGE)
    m.exit(pid)
    assert usage(m, "A") == 0
    m.check()


def test_dup_mm_charges_the_childs_kernel_objects_to_the_parents_group(machine):
    """dup_mm(): the child's mm has kernel objects of its own, charged like its page tables."""
    m, pid = kmem_machine(machine)
    m.exec(pid, IMAGE)
    before = kmem(m, "A")
    child = m.fork(pid)
    assert kmem(m, "A") == before + (6 + 6) * PAGE      # its objects and its copied page tables
    m.exit(child)
    assert kmem(m, "A") == before
    m.check()


def test_arch_pick_mmap_layout_decides_how_mappings_meet_huge_pages():
    """arch_pick_mmap_layout(): 6.1 does not align anon mappings to 2 MiB, so where the mmap
    base falls decides the huge pages: 64 MiB below a base 377 pages short of a 2 MiB boundary
    is 31 huge pages and 512 small ones; below an aligned base, 32 huge pages."""
    for image, huge in ((IMAGE, 31), (None, 32)):
        m = Machine(ram="256M", thp="always")
        m.mkdir("A")
        pid = m.spawn("A")
        m.exec(pid, image)
        addr = m.mmap(pid, "64M")
        m.touch(pid, addr, "64M")
        assert int(m.stat("A")["rss_huge"]) == huge * 512 * PAGE, image
        m.check()


def test_exec_image_kernel_objects_that_do_not_fit_fail_with_enomem_and_keep_the_old_mm(machine):
    """bprm_mm_init(): the new mm's objects are charged before the old mm goes, without the OOM
    killer (the mm is not the task's yet): ENOMEM, and the task runs its old program on."""
    m, pid = kmem_machine(machine)
    addr = m.mmap(pid, "1M")
    m.touch(pid, addr, "1M")
    m.write("A", "memory.limit_in_bytes", str(usage(m, "A") + 2 * PAGE))
    before = usage(m, "A")
    raises_errno(errno.ENOMEM, m.exec, pid, IMAGE)
    assert usage(m, "A") == before
    m.touch(pid, addr, "1M")                        # the old mapping is still there
    m.check()


def test_process_image_is_checked():
    for bad in ({"data_pages": -1}, {"stack_pages": 1.5}, {"kernel_pages": True}, {"mmap_rnd_pages": 1 << 40}):
        with pytest.raises(ValueError):
            ProcessImage(**bad)
    m = Machine(ram="64M")
    pid = m.spawn()
    with pytest.raises(TypeError):
        m.exec(pid, {"data_pages": 1})
    raises_errno(errno.EINVAL, m.exec, pid, ProcessImage(data_pages=512))   # past the 2 MiB of the binary
    m.check()
