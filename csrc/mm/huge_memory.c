/*
 * Transparent huge pages for private anonymous memory (mm/huge_memory.c,
 * 6.1): a PMD-mapped order-9 page charged as one, and its split.  A split
 * of the PMD splits the page at once in every mm that maps it (6.1 splits
 * only the one PMD and queues the page for a deferred split).
 */
#include "../include/linux/mm.h"

/*
 * transhuge_vma_suitable() and hugepage_vma_check(), 6.1: a private anon
 * VMA covering the aligned 2 MiB around @addr, where
 * transparent_hugepage/enabled (and MADV_(NO)HUGEPAGE) allow it.
 * VM_LOCKED VMAs keep 4 KiB pages here (mlock splits).
 */
int transhuge_vma_suitable(struct vm_area_struct *vma, unsigned long addr)
{
	unsigned long haddr = addr & ~(PMD_SIZE - 1);
	int mode = vma->vm_mm->machine->thp;

	if (vma->vm_file || (vma->vm_flags & (VM_SHARED | VM_LOCKED | VM_NOHUGEPAGE)))
		return 0;
	if (!(mode == EMU_THP_ALWAYS || (mode == EMU_THP_MADVISE && (vma->vm_flags & VM_HUGEPAGE))))
		return 0;
	return haddr >= vma->vm_start && haddr + PMD_SIZE <= vma->vm_end;
}

/* pmd_none(): no PTE of the table is in use (the emulator keeps emptied tables). */
int pte_table_empty(struct pte_table *pt)
{
	for (int i = 0; i < PTRS_PER_TABLE; i++)
		if (!pte_none(pt->pte[i]))
			return 0;
	return 1;
}

/*
 * do_huge_pmd_anonymous_page(), mm/huge_memory.c 6.1: a write fault maps a
 * new huge page charged as HPAGE_PMD_NR pages at once.  Without an order-9
 * block, or when the charge fails, VM_FAULT_FALLBACK: 4 KiB pages.  Under
 * defrag "madvise" (the default) only a MADV_HUGEPAGE VMA's charge may
 * reclaim (GFP_TRANSHUGE); the costly order never OOM-kills.  -EAGAIN: the
 * PMD changed meanwhile.
 */
int do_huge_pmd_anonymous_page(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
			       struct pte_table *pt)
{
	struct mem_cgroup *memcg = try_get_mem_cgroup_from_mm(mm);
	struct page *head;

	anon_vma_prepare(vma);
	head = alloc_huge_page();
	if (!head)
		return VM_FAULT_FALLBACK;
	if (mem_cgroup_try_charge(memcg, HPAGE_PMD_NR, vma->vm_flags & VM_HUGEPAGE ? CHARGE_RECLAIM : 0,
				  NULL)) {
		put_page(head);
		return VM_FAULT_FALLBACK;
	}
	mem_cgroup_commit_charge(head, memcg, MEM_CGROUP_CHARGE_TYPE_MAPPED);
	spin_lock(&pt->ptl);
	if (pt->huge || !pte_table_empty(pt)) {	/* a new page: nobody else can lock it */
		int huge = pt->huge != NULL;

		spin_unlock(&pt->ptl);
		put_page(head);
		return huge ? -EAGAIN : VM_FAULT_FALLBACK;
	}
	page_add_new_anon_rmap(head, vma, addr & ~(PMD_SIZE - 1));
	lru_cache_add_new_anon(head);
	pt->huge = head;
	pt->huge_write = pt->huge_young = 1;
	atomic_fetch_add(&mm->rss[MM_ANONPAGES], HPAGE_PMD_NR);
	spin_unlock(&pt->ptl);
	return 0;
}

/* __split_huge_pmd_locked(): the PMD becomes 512 PTEs of the subpages, same protection. */
static void __split_huge_pmd_locked(struct pte_table *pt, struct page *head)
{
	unsigned long pfn = page_to_pfn(head);

	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++)
		pt->pte[i] = pfn_pte(pfn + i, pt->huge_write) & ~(pt->huge_young ? 0 : _PAGE_ACCESSED);
	pt->huge = NULL;
}

/*
 * __split_huge_page(), mm/huge_memory.c: the tails become pages of their
 * own -- mapped @nmaps times like the head, charged to the head's group
 * (split_page_memcg()), next to it on its LRU list -- and the group's
 * rss_huge drops.  Under the lruvec lock, so neither a move nor reclaim
 * sees it half done.
 */
static void __split_huge_page(struct page *head, int nmaps)
{
	const unsigned long keep = (1UL << PG_swapbacked) | (1UL << PG_active) | (1UL << PG_mlocked) |
				   (1UL << PG_unevictable) | (1UL << PG_referenced);
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(head);
	int on_lru = PageLRU(head);
	struct page_cgroup *pc;
	struct page *prev = head;

	lock_page_cgroup(head);
	pc = page_get_page_cgroup(head);
	if (on_lru)	/* the head stays on its list, standing for one page from now on */
		mz->count[page_lru(head)] -= HPAGE_PMD_NR - 1;
	for (unsigned long i = 1; i < HPAGE_PMD_NR; i++) {
		struct page *page = head + i;

		page->mapping = head->mapping;
		page->index = head->index + i;
		atomic_store(&page->_mapcount, nmaps - 1);
		atomic_store(&page->_count, nmaps);
		if (pc) {
			struct page_cgroup *tpc = lookup_page_cgroup(page);

			tpc->mem_cgroup = pc->mem_cgroup;
			tpc->page = page;
			atomic_store(&tpc->flags, atomic_load(&pc->flags));
			atomic_store(&page->page_cgroup, (uintptr_t)tpc);
		}
		atomic_store(&page->flags, atomic_load(&head->flags) & keep);
		if (!nmaps)
			continue;	/* unmapped everywhere: freed below */
		if (on_lru) {
			list_add(&page->lru, &prev->lru);	/* the head's place, in order */
			mz->count[page_lru(page)]++;
			SetPageFlag(page, PG_lru);
			prev = page;
		} else {
			lru_cache_add_locked(mz, page);
		}
	}
	ClearPageFlag(head, PG_head);
	if (pc)
		mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_RSS_HUGE, -(long)HPAGE_PMD_NR);
	unlock_page_cgroup(head);
	spin_unlock(&mz->lru_lock);
	for (unsigned long i = 1; !nmaps && i < HPAGE_PMD_NR; i++) {
		atomic_store(&head[i]._count, 1);
		put_page(head + i);
	}
}

/*
 * split_huge_page(), mm/huge_memory.c: the caller holds the page lock and a
 * reference.  Mapping or unmapping a huge PMD takes the page lock too, so
 * the mapcount stands still: the page splits first, then every PMD mapping
 * it (found through its anon_vma) becomes PTEs.  The head keeps the
 * references others hold; each tail gets one per mapping.
 */
int split_huge_page(struct page *head)
{
	unsigned long haddr = head->index << PAGE_SHIFT;
	struct anon_vma *av = page_anon_vma(head);
	int nmaps = page_mapcount(head), done = 0;
	struct vm_area_struct *vma;

	if (!PageHead(head))
		return 0;	/* split by someone else meanwhile */
	__split_huge_page(head, nmaps);
	spin_lock(&av->lock);
	list_for_each_entry(vma, &av->head, anon_vma_node) {
		struct pte_table *pt;

		if (haddr < vma->vm_start || haddr >= vma->vm_end)
			continue;
		pt = pte_table_lookup(vma->vm_mm, haddr, 0);
		if (!pt)
			continue;
		spin_lock(&pt->ptl);
		if (pt->huge == head) {
			__split_huge_pmd_locked(pt, head);
			done++;
		}
		spin_unlock(&pt->ptl);
	}
	spin_unlock(&av->lock);
	BUG_ON(done != nmaps);
	return 1;
}

/*
 * The head of @pt's huge PMD, locked, with the PMD lock still held; NULL
 * when the PMD maps no huge page (any more).  The page lock comes first in
 * the kernel's order: without it at hand, wait for it unlocked and look
 * again.
 */
struct page *lock_huge_pmd_page(struct pte_table *pt)
{
	for (;;) {
		struct page *head = pt->huge;

		if (!head || trylock_page(head))
			return head;
		get_page(head);
		spin_unlock(&pt->ptl);
		lock_page(head);
		unlock_page(head);
		put_page(head);
		spin_lock(&pt->ptl);
	}
}

/*
 * split_huge_pmd(), mm/huge_memory.c: the huge PMD of @pt, if any, goes,
 * and the page with it.  The caller holds no page-table lock.  Returns
 * whether there was one.
 */
int split_huge_pmd(struct pte_table *pt)
{
	struct page *head;

	spin_lock(&pt->ptl);
	head = lock_huge_pmd_page(pt);
	if (head)
		get_page(head);
	spin_unlock(&pt->ptl);
	if (!head)
		return 0;
	split_huge_page(head);
	unlock_page(head);
	put_page(head);
	return 1;
}
