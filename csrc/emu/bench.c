/* The benchmark's lower bound on a move (custom to the emulator). */
#include "entry.h"

long emu_bench_min_loop(struct machine *m, int pid, int to_id)
{
	EMU_ENTER(m);
	TASK_ARG(p, m, pid);
	MEMCG_ARG(to, m, to_id);
	struct mm_struct *mm = get_task_mm(p);
	long n = 0;

	if (!mm)
		EMU_RETURN(emu_set_error(-ESRCH, "task %d has exited", pid));
	down_read(&mm->mmap_sem);
	for (struct vm_area_struct *vma = mm->mmap; vma; vma = vma->vm_next) {
		for (unsigned long addr = vma->vm_start; addr < vma->vm_end;) {
			unsigned long next = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), vma->vm_end);
			struct pte_table *pt = pte_table_lookup(mm, addr, 0);

			if (!pt) {
				addr = next;
				continue;
			}
			spin_lock(&pt->ptl);
			if (pt->huge) {	/* one page_cgroup stands for the huge page */
				lock_page_cgroup(pt->huge);
				lookup_page_cgroup(pt->huge)->mem_cgroup = to;
				unlock_page_cgroup(pt->huge);
				n += HPAGE_PMD_NR;
				addr = next;
			}
			for (; addr < next; addr += PAGE_SIZE) {
				pte_t pte = pt->pte[pte_index(addr)];
				struct page *page;
				struct page_cgroup *pc;

				if (!pte_present(pte) || !(page = vm_normal_page(vma, addr, pte)))
					continue;
				lock_page_cgroup(page);
				pc = lookup_page_cgroup(page);
				if (pc->mem_cgroup) {
					pc->mem_cgroup = to;
					n++;
				}
				unlock_page_cgroup(page);
			}
			spin_unlock(&pt->ptl);
		}
	}
	up_read(&mm->mmap_sem);
	mmput(mm);
	EMU_RETURN(n);
}
