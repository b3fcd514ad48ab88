/* Reverse mapping: anon_vma lists (2.6.26 form) and i_mmap (mm/rmap.c). */
#include "../include/linux/mm.h"

/* anon_vma_prepare(), mm/rmap.c */
void anon_vma_prepare(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;
	struct machine *m = cur_machine;

	if (vma->anon_vma)
		return;
	spin_lock(&mm->page_table_lock);
	if (!vma->anon_vma) {
		struct anon_vma *av = calloc(1, sizeof(*av));

		BUG_ON(!av);
		if (av) {
			spin_lock_init(&av->lock);
			INIT_LIST_HEAD(&av->head);
			spin_lock(&m->anon_vma_lock);
			list_add(&av->all, &m->anon_vmas);
			spin_unlock(&m->anon_vma_lock);
			spin_lock(&av->lock);
			list_add(&vma->anon_vma_node, &av->head);
			vma->anon_vma = av;
			spin_unlock(&av->lock);
		}
	}
	spin_unlock(&mm->page_table_lock);
}

/* anon_vma_link(), mm/rmap.c 2.6.26 */
void anon_vma_link(struct vm_area_struct *vma)
{
	struct anon_vma *av = vma->anon_vma;

	if (av) {
		spin_lock(&av->lock);
		list_add_tail(&vma->anon_vma_node, &av->head);
		spin_unlock(&av->lock);
	}
}

/* anon_vma_unlink(), mm/rmap.c 2.6.26 */
void anon_vma_unlink(struct vm_area_struct *vma)
{
	struct anon_vma *av = vma->anon_vma;

	if (av) {
		spin_lock(&av->lock);
		list_del(&vma->anon_vma_node);
		spin_unlock(&av->lock);
	}
}

/*
 * The PMD mappings of huge page @head go up (@delta 1) or down (-1); the
 * first one on, or the last one off, counts HPAGE_PMD_NR in NR_ANON_THPS
 * (rss_huge), 6.1's page_add_anon_rmap()/page_remove_anon_compound_rmap().
 * Under the page_cgroup lock, so a move sees the mapcount and the
 * statistic agree.  Returns the PMD mappings left.
 */
int compound_mapcount_update(struct page *head, int delta)
{
	struct page_cgroup *pc;
	int old, now;

	lock_page_cgroup(head);
	old = atomic_fetch_add(compound_mapcount_ptr(head), delta) + 1;
	now = old + delta;
	pc = page_get_page_cgroup(head);
	if (pc && (!old || !now))
		mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_RSS_HUGE, now ? (long)HPAGE_PMD_NR : -(long)HPAGE_PMD_NR);
	unlock_page_cgroup(head);
	return now;
}

/*
 * page_add_new_anon_rmap(), mm/rmap.c: a new anon page, mapped once; a huge
 * one (@compound) by its PMD, each of its frames taking the anon_vma and
 * index a PTE mapping of it will need.
 */
void page_add_new_anon_rmap(struct page *page, struct vm_area_struct *vma, unsigned long addr, int compound)
{
	unsigned long nr = compound ? HPAGE_PMD_NR : 1;

	SetPageFlag(page, PG_swapbacked);
	for (unsigned long i = 0; i < nr; i++) {
		page[i].mapping = (uintptr_t)vma->anon_vma | PAGE_MAPPING_ANON;
		page[i].index = (addr >> PAGE_SHIFT) + i;
	}
	if (compound)
		compound_mapcount_update(page, 1);
	else
		atomic_store(&page->_mapcount, 0);
}

/* page_dup_rmap(), include/linux/rmap.h: fork shares the page (a huge one by its PMD, @compound). */
void page_dup_rmap(struct page *page, int compound)
{
	if (compound)
		atomic_fetch_add(compound_mapcount_ptr(page), 1);	/* the parent's PMD maps it still */
	else if (PageAnon(page))
		atomic_fetch_add(&page->_mapcount, 1);
	else
		page_file_rmap_update(page, 1);
}

/* page_add_file_rmap(), mm/rmap.c */
void page_add_file_rmap(struct page *page)
{
	page_file_rmap_update(page, 1);
}

/*
 * page_remove_rmap(), mm/rmap.c 6.1: an anon page's charge goes when the
 * frame is freed; before 3.17, when its last mapping goes
 * (mem_cgroup_uncharge_unmapped()).  A huge page whose last PMD goes while
 * some, not all, of its frames are still PTE-mapped, or a PTE-mapped frame
 * of one losing its last PTE, is queued for a deferred split
 * (deferred_split_huge_page()).
 */
void page_remove_rmap(struct page *page, int compound)
{
	if (compound) {
		unsigned long unmapped = 0;

		if (compound_mapcount_update(page, -1))
			return;
		for (unsigned long i = 0; i < HPAGE_PMD_NR; i++)
			unmapped += atomic_load(&page[i]._mapcount) < 0;
		if (unmapped && unmapped < HPAGE_PMD_NR)
			deferred_split_huge_page(page);
	} else if (!PageAnon(page)) {
		page_file_rmap_update(page, -1);
		if (cur_machine->kernel < EMU_KERNEL_2_6_34)	/* a page its mapping charged, 2.6.26 */
			mem_cgroup_uncharge_unmapped(page);
		return;
	} else if (atomic_fetch_sub(&page->_mapcount, 1) != 0) {
		return;
	} else if (PageCompound(page)) {
		deferred_split_huge_page(compound_head(page));
	}
	if (uncharge_at_unmap(cur_machine))
		mem_cgroup_uncharge_unmapped(compound_head(page));
}

/*
 * rmap_walk(), mm/rmap.c (3.x+): call @one for every VMA that may map
 * @page, at the address it would have there, under the anon_vma or i_mmap
 * lock; a non-zero return stops the walk and is returned.
 */
int rmap_walk(struct page *page, int (*one)(struct page *, struct vm_area_struct *, unsigned long, void *),
	      void *arg)
{
	struct vm_area_struct *vma;
	int ret = 0;

	if (PageAnon(page)) {
		struct anon_vma *av = page_anon_vma(page);
		unsigned long address = page->index << PAGE_SHIFT;

		spin_lock(&av->lock);
		list_for_each_entry(vma, &av->head, anon_vma_node)
			if (address >= vma->vm_start && address < vma->vm_end &&
			    (ret = one(page, vma, address, arg)))
				break;
		spin_unlock(&av->lock);
	} else {
		struct address_space *mapping = page_mapping(page);

		if (!mapping)
			return 0;
		spin_lock(&mapping->i_mmap_lock);
		list_for_each_entry(vma, &mapping->i_mmap, shared) {
			unsigned long npages = (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;

			if (page->index >= vma->vm_pgoff && page->index < vma->vm_pgoff + npages &&
			    (ret = one(page, vma, vma->vm_start + ((page->index - vma->vm_pgoff) << PAGE_SHIFT),
				       arg)))
				break;
		}
		spin_unlock(&mapping->i_mmap_lock);
	}
	return ret;
}

/* The PTE mapping @page at @address in @vma, locked, or NULL (page_check_address()). */
pte_t *page_check_address(struct page *page, struct vm_area_struct *vma, unsigned long address,
			  struct pte_table **ptp)
{
	struct pte_table *pt = pte_table_lookup(vma->vm_mm, address, 0);
	pte_t *pte;

	if (!pt)
		return NULL;
	spin_lock(&pt->ptl);
	pte = &pt->pte[pte_index(address)];
	if (pte_present(*pte) && pte_pfn(*pte) == page_to_pfn(page)) {
		*ptp = pt;
		return pte;
	}
	spin_unlock(&pt->ptl);
	return NULL;
}

/* What try_to_unmap() leaves in the PTEs, and the group of the first task it unmapped. */
struct unmap_arg {
	long swp_off;
	struct mem_cgroup *memcg;
};

/*
 * try_to_unmap_one(), mm/rmap.c: clear the PTE mapping @page in @vma,
 * leaving the swap entry of its swap-cache slot, with a reference of its
 * own, when it has one.  A VM_LOCKED mapping is left alone and stops the
 * walk (SWAP_MLOCK): the page goes back to mlocked.
 */
static int try_to_unmap_one(struct page *page, struct vm_area_struct *vma, unsigned long address,
			    void *arg)
{
	struct unmap_arg *ua = arg;
	struct pte_table *pt;
	pte_t *pte = page_check_address(page, vma, address, &pt);

	if (!pte)
		return 0;
	if (vma->vm_flags & VM_LOCKED) {
		spin_unlock(&pt->ptl);
		return 1;
	}
	if (!ua->memcg)
		ua->memcg = try_get_mem_cgroup_from_mm(vma->vm_mm);
	if (ua->swp_off >= 0) {
		*pte = swp_entry_to_pte((unsigned long)ua->swp_off);
		swap_duplicate((unsigned long)ua->swp_off);
		atomic_fetch_sub(&vma->vm_mm->rss[MM_ANONPAGES], 1);
		atomic_fetch_add(&vma->vm_mm->rss[MM_SWAPENTS], 1);
	} else {
		*pte = 0;
		atomic_fetch_sub(&vma->vm_mm->rss[mm_counter(page)], 1);
	}
	page_remove_rmap(page, 0);
	put_page(page);
	spin_unlock(&pt->ptl);
	return 0;
}

/*
 * try_to_unmap(), mm/rmap.c: unmap @page everywhere it is mapped; returns
 * 0 when no mapping is left.  An anon page's PTEs get its swap-cache slot
 * as a swap entry, however many mms map it.  A page an mlocked VMA maps is
 * marked mlocked again and stays.  *@memcg is set to the group of the
 * first task unmapped (for mem_cgroup_swapout()) when not already set.
 */
int try_to_unmap(struct page *page, struct mem_cgroup **memcg)
{
	struct unmap_arg ua = { PageSwapCache(page) ? (long)page->private : -1, *memcg };
	int ret = rmap_walk(page, try_to_unmap_one, &ua);

	*memcg = ua.memcg;
	if (ret) {
		mlock_vma_page(page);
		return -EAGAIN;
	}
	return page_mapcount(page) ? -EAGAIN : 0;
}

/* What page_referenced() counts. */
struct referenced_arg {
	struct mem_cgroup *target;	/* the reclaim's group: only its tasks' references count */
	int referenced;
	unsigned long vm_flags;
};

/*
 * folio_referenced_one(), mm/rmap.c 6.1 (2.6.26 page_referenced_one()):
 * test and clear the accessed bit of the PTE, or huge PMD, mapping @page in
 * @vma.  A VMA whose mm belongs outside the reclaim's group is skipped
 * (invalid_folio_referenced_vma(), mm_match_cgroup()); a VM_LOCKED one
 * stops the walk.
 */
static int page_referenced_one(struct page *page, struct vm_area_struct *vma, unsigned long address,
			       void *arg)
{
	struct referenced_arg *ra = arg;
	struct pte_table *pt;
	pte_t *pte;

	if (ra->target && !mem_cgroup_is_descendant(try_get_mem_cgroup_from_mm(vma->vm_mm), ra->target))
		return 0;
	if (PageHead(page)) {
		pt = pte_table_lookup(vma->vm_mm, address, 0);
		if (!pt)
			return 0;
		spin_lock(&pt->ptl);
		if (pt->huge != page) {
			spin_unlock(&pt->ptl);
			return 0;
		}
		pte = NULL;
	} else if (!(pte = page_check_address(page, vma, address, &pt))) {
		return 0;
	}
	if (vma->vm_flags & VM_LOCKED) {
		ra->vm_flags |= VM_LOCKED;
		spin_unlock(&pt->ptl);
		return 1;
	}
	if (pte ? pte_young(*pte) : pt->huge_young) {
		ra->referenced++;
		if (pte)
			*pte &= ~_PAGE_ACCESSED;	/* ptep_clear_flush_young() */
		else
			pt->huge_young = 0;
	}
	spin_unlock(&pt->ptl);
	return 0;
}

/*
 * folio_referenced(), mm/rmap.c: how many PTEs of @target's tasks mapping
 * @page were accessed since the last look (their bits are cleared).
 * *@vm_flags gets VM_LOCKED when an mlocked VMA maps it.  @target NULL:
 * global reclaim, every mapping counts.
 */
int page_referenced(struct page *page, struct mem_cgroup *target, unsigned long *vm_flags)
{
	struct referenced_arg ra = { target, 0, 0 };

	*vm_flags = 0;
	if (!page_mapcount(page))
		return 0;
	rmap_walk(page, page_referenced_one, &ra);
	*vm_flags = ra.vm_flags;
	return ra.referenced;
}

static int page_mlocked_one(struct page *page, struct vm_area_struct *vma, unsigned long address,
			    void *arg)
{
	struct pte_table *pt;

	if (!(vma->vm_flags & VM_LOCKED) || !page_check_address(page, vma, address, &pt))
		return 0;
	spin_unlock(&pt->ptl);
	return 1;
}

/* try_to_munlock(), mm/rmap.c: does another VM_LOCKED mapping still map @page? */
int page_mlocked_elsewhere(struct page *page)
{
	return rmap_walk(page, page_mlocked_one, NULL);
}
