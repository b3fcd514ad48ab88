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
