/* walk_page_range(), mm/pagewalk.c: the pgd/pud/pmd levels, a callback per PTE table. */
#include "../include/linux/mm.h"

int walk_page_range(unsigned long addr, unsigned long end, struct mm_walk *walk)
{
	while (addr < end) {
		unsigned long next = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end);
		struct pte_table *pt = pte_table_lookup(walk->mm, addr, 0);
		int err = 0;

		if (pt && walk->pmd_entry)
			err = walk->pmd_entry(pt, addr, next, walk);
		else if (!pt && walk->pte_hole)
			err = walk->pte_hole(addr, next, walk);
		if (err)
			return err;
		addr = next;
	}
	return 0;
}

/*
 * Walk every VMA of walk->mm that walk->test_walk accepts (walk_page_range()
 * over the whole mm with ->test_walk, 4.x+); the caller holds mmap_sem.
 */
int walk_page_vmas_locked(struct mm_walk *walk)
{
	int ret = 0;

	for (struct vm_area_struct *vma = walk->mm->mmap; vma && !ret; vma = vma->vm_next) {
		walk->vma = vma;
		if (!walk->test_walk || walk->test_walk(vma, walk))
			ret = walk_page_range(vma->vm_start, vma->vm_end, walk);
	}
	return ret;
}

/* The same with mmap_sem taken for read around it. */
int walk_page_vmas(struct mm_walk *walk)
{
	int ret;

	down_read(&walk->mm->mmap_sem);
	ret = walk_page_vmas_locked(walk);
	up_read(&walk->mm->mmap_sem);
	return ret;
}
