/* Page tables and page faults (mm/memory.c). */
#include "../include/linux/mm.h"

extern __thread struct mem_cgroup *current_memcg_in_oom;

/* The page table walk with allocation (pud_alloc/pmd_alloc/pte_alloc_map_lock). */
struct pte_table *pte_table_lookup(struct mm_struct *mm, unsigned long addr, int alloc)
{
	_Atomic(void *) *slot;
	struct pt_dir *dir = mm->pgd;
	static const int shifts[3] = { PGDIR_SHIFT, PUD_SHIFT, PMD_SHIFT };

	for (int level = 0; level < 3; level++) {
		void *next;

		slot = &dir->entry[(addr >> shifts[level]) & 511];
		next = atomic_load_explicit(slot, memory_order_acquire);
		if (!next) {
			void *expected = NULL;

			struct mem_cgroup *memcg;

			if (!alloc)
				return NULL;
			/* pud_alloc_one()/pmd_alloc_one()/pte_alloc_one(): GFP_PGTABLE_USER, accounted */
			memcg = memcg_kmem_charge_page(mm);
			if (memcg == ERR_MEMCG)
				return NULL;
			if (level < 2) {
				next = calloc(1, sizeof(struct pt_dir));
				if (next)
					((struct pt_dir *)next)->memcg = memcg;
			} else {
				next = calloc(1, sizeof(struct pte_table));
				if (next) {
					spin_lock_init(&((struct pte_table *)next)->ptl);
					((struct pte_table *)next)->memcg = memcg;
				}
			}
			if (!next) {
				memcg_kmem_uncharge_page(mm->machine, memcg);
				return NULL;
			}
			/* another fault may have populated it meanwhile (__pte_alloc) */
			if (!atomic_compare_exchange_strong(slot, &expected, next)) {
				memcg_kmem_uncharge_page(mm->machine, memcg);
				free(next);
				next = expected;
			}
		}
		if (level < 2)
			dir = next;
		else
			return next;
	}
	return NULL;
}

/* free_pgtables(), mm/memory.c: the tables go once no VMA can reach them. */
void free_pgtables(struct mm_struct *mm)
{
	struct pt_dir *pgd = mm->pgd;

	for (int i = 0; i < PTRS_PER_TABLE; i++) {
		struct pt_dir *pud = atomic_load(&pgd->entry[i]);

		if (!pud)
			continue;
		for (int j = 0; j < PTRS_PER_TABLE; j++) {
			struct pt_dir *pmd = atomic_load(&pud->entry[j]);

			if (!pmd)
				continue;
			for (int k = 0; k < PTRS_PER_TABLE; k++) {
				struct pte_table *pt = atomic_load(&pmd->entry[k]);

				if (pt)
					memcg_kmem_uncharge_page(mm->machine, pt->memcg);
				free(pt);
			}
			memcg_kmem_uncharge_page(mm->machine, pmd->memcg);
			free(pmd);
		}
		memcg_kmem_uncharge_page(mm->machine, pud->memcg);
		free(pud);
	}
	free(pgd);
	mm->pgd = NULL;
}

/*
 * A frame for a fault; when RAM itself is exhausted, reclaim from the whole
 * machine, then arm the (global) OOM killer at the root group.
 */
struct page *alloc_page_vma(void)
{
	struct machine *m = cur_machine;

	for (int retries = 0; retries <= MEM_CGROUP_RECLAIM_RETRIES; retries++) {
		struct page *page = alloc_page();

		if (page)
			return page;
		try_to_free_mem_cgroup_pages(m->memcgs[0], 1);
	}
	current_memcg_in_oom = m->memcgs[0];
	return NULL;
}

/*
 * lru_cache_add_active_or_unevictable(), mm/swap.c: pages of a VM_LOCKED
 * vma are mlocked; a new anon page starts on the active list before 5.9
 * and on the inactive one after (lru_cache_add_inactive_or_unevictable()).
 */
static void lru_cache_add_vma(struct page *page, struct vm_area_struct *vma)
{
	if (vma->vm_flags & VM_LOCKED) {
		SetPageFlag(page, PG_mlocked);
		SetPageFlag(page, PG_unevictable);
	}
	lru_cache_add_new_anon(page);
}

/* count_memcg_event_mm(), include/linux/memcontrol.h */
static void count_memcg_event_mm(struct mm_struct *mm, int idx)
{
	mem_cgroup_stat_add(try_get_mem_cgroup_from_mm(mm), idx, 1);
}

/* A new private anon page for @addr, charged to the mm's group. */
static struct page *new_anon_page(struct mm_struct *mm)
{
	struct page *page = alloc_page_vma();

	if (!page)
		return NULL;
	if (mem_cgroup_charge_common(page, mm, NULL, MEM_CGROUP_CHARGE_TYPE_MAPPED,
				     CHARGE_RECLAIM | CHARGE_OOM)) {
		put_page(page);
		return NULL;
	}
	return page;
}

/* Install @page as a new anon page at @addr if the PTE still holds @orig. */
static int install_anon_page(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
			     struct pte_table *pt, pte_t orig, struct page *page)
{
	pte_t *pte = &pt->pte[pte_index(addr)];

	spin_lock(&pt->ptl);
	if (*pte != orig) {
		spin_unlock(&pt->ptl);
		put_page(page);
		return -EAGAIN;
	}
	page_add_new_anon_rmap(page, vma, addr, 0);
	lru_cache_add_vma(page, vma);
	*pte = pfn_pte(page_to_pfn(page), 1);
	atomic_fetch_add(&mm->rss[MM_ANONPAGES], 1);
	spin_unlock(&pt->ptl);
	return 0;
}

/* do_anonymous_page(), mm/memory.c: a read maps the zero page, a write a new charged page. */
static int do_anonymous_page(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
			     struct pte_table *pt, int write)
{
	struct page *page;

	if (!write) {
		pte_t *pte = &pt->pte[pte_index(addr)];

		spin_lock(&pt->ptl);
		if (pte_none(*pte))
			*pte = pfn_pte(page_to_pfn(cur_machine->zero_page), 0);
		spin_unlock(&pt->ptl);
		return 0;
	}
	anon_vma_prepare(vma);
	page = new_anon_page(mm);
	if (!page)
		return -ENOMEM;
	return install_anon_page(mm, vma, addr, pt, 0, page);
}

/*
 * do_wp_page(), mm/memory.c: a write to a write-protected PTE.  An anon page
 * mapped once is reused (staying in the swap cache if it is there); anything
 * else (COW after fork, the zero page, a MAP_PRIVATE file page) is copied
 * into a new anon page charged to the writer.  A frame of a huge page is
 * reused only while nothing else holds any of it (6.1 tests the folio's
 * refcount, which every PTE of every frame holds): else 4 KiB are copied.
 */
static int do_wp_page(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
		      struct pte_table *pt, pte_t orig)
{
	pte_t *pte = &pt->pte[pte_index(addr)];
	struct page *old, *page;

	spin_lock(&pt->ptl);
	if (*pte != orig) {
		spin_unlock(&pt->ptl);
		return -EAGAIN;
	}
	old = vm_normal_page(vma, addr, orig);
	/* wp_can_reuse_anon_folio(), 6.1: not while another PTE holds its swap-cache slot */
	if ((vma->vm_flags & VM_SHARED) ||
	    (old && PageAnon(old) && (PageCompound(old) ? page_count(old) == 1 :
				      page_mapcount(old) == 1 && !page_swapped(old)))) {
		*pte = orig | _PAGE_RW | _PAGE_ACCESSED;	/* wp_page_reuse(): pte_mkyoung() */
		spin_unlock(&pt->ptl);
		return 0;
	}
	if (old)
		get_page(old);
	spin_unlock(&pt->ptl);

	anon_vma_prepare(vma);
	page = new_anon_page(mm);
	if (!page) {
		if (old)
			put_page(old);
		return -ENOMEM;
	}
	spin_lock(&pt->ptl);
	if (*pte != orig) {
		spin_unlock(&pt->ptl);
		put_page(page);
		if (old)
			put_page(old);
		return -EAGAIN;
	}
	if (old) {
		page_remove_rmap(old, 0);
		atomic_fetch_sub(&mm->rss[mm_counter(old)], 1);
	}
	page_add_new_anon_rmap(page, vma, addr, 0);
	lru_cache_add_vma(page, vma);
	*pte = pfn_pte(page_to_pfn(page), 1);
	atomic_fetch_add(&mm->rss[MM_ANONPAGES], 1);
	spin_unlock(&pt->ptl);
	if (old) {
		put_page(old);	/* the old PTE's reference */
		put_page(old);	/* ours */
	}
	return 0;
}

/*
 * mem_cgroup_charge() in do_swap_page() and __do_fault(), 2.6.26: a page
 * in use that no group is charged for (an anon page in the swap cache its
 * last unmap uncharged; a page-cache page whose charge force_empty
 * dropped) is charged to the faulting mm's group, and the charge kept only
 * if this is its first mapping (commit_first_mapping()).  NULL: nothing to
 * charge; ERR_MEMCG: the charge failed.
 */
static struct mem_cgroup *charge_uncharged_page(struct mm_struct *mm, struct page *page)
{
	struct mem_cgroup *memcg;

	if (cur_machine->kernel >= EMU_KERNEL_2_6_34 || page_memcg(page))
		return NULL;
	memcg = try_get_mem_cgroup_from_mm(mm);
	return mem_cgroup_try_charge(memcg, 1, CHARGE_RECLAIM | CHARGE_OOM, NULL) ? ERR_MEMCG : memcg;
}

/*
 * Under the PTE lock, as the mapping goes in: keep that charge if nothing
 * maps the page and no group took it meanwhile; else page_add_anon_rmap()/
 * page_add_file_rmap() (2.6.26) give it back at once.
 */
static void commit_first_mapping(struct page *page, struct mem_cgroup *memcg)
{
	if (memcg && mem_cgroup_commit_charge_lrucare(page, memcg, MEM_CGROUP_CHARGE_TYPE_MAPPED))
		mem_cgroup_cancel_charge(memcg, 1);
}

/*
 * do_swap_page()'s commit_first_mapping(), 2.6.26, which returns with the
 * page_cgroup lock held until the mapping counts, so that another mm's
 * last unmap cannot uncharge the page in between (2.6.26 held a reference
 * on the page_cgroup from mem_cgroup_charge() on).  -EAGAIN, unlocked, when
 * the page lost its charge after charge_uncharged_page() looked: the fault
 * retries, and charges it.
 */
static int swapin_map_begin(struct page *page, struct mem_cgroup *memcg)
{
	if (cur_machine->kernel >= EMU_KERNEL_2_6_34)
		return 0;
	commit_first_mapping(page, memcg);
	lock_page_cgroup(page);
	if (!page_get_page_cgroup(page) && !page_mapped(page)) {
		unlock_page_cgroup(page);
		return -EAGAIN;
	}
	return 0;
}

/*
 * The swap-cache page of slot @off, with a reference: the one cached, or a
 * new frame charged as mem_cgroup_swapin_memcg() says, added to the cache
 * and the LRU (__read_swap_cache_async(), mm/swap_state.c 6.1).
 */
static int swapin_page(struct mm_struct *mm, unsigned long off, struct page **pagep)
{
	struct page *page = lookup_swap_cache(off);

	if (page) {
		*pagep = page;
		return 0;
	}
	page = alloc_page_vma();
	if (!page)
		return -ENOMEM;
	if (mem_cgroup_charge_common(page, mm, mem_cgroup_swapin_memcg(mm, off),
				     MEM_CGROUP_CHARGE_TYPE_MAPPED, CHARGE_RECLAIM | CHARGE_OOM)) {
		put_page(page);
		return -ENOMEM;
	}
	if (add_to_swap_cache(page, off)) {
		put_page(page);
		return -EAGAIN;	/* another fault cached it, or the slot went */
	}
	/*
	 * mem_cgroup_swapin_uncharge_swap(), 6.1 (2.6.29's commit_charge_swapin):
	 * the page carries the charge now, so the slot's record goes at once.
	 */
	mem_cgroup_uncharge_swap(cur_machine, off);
	SetPageFlag(page, PG_swapbacked);	/* onto the anon LRU */
	if (cur_machine->kernel < EMU_KERNEL_2_6_34)
		SetPageFlag(page, PG_active);	/* read_swap_cache_async(), 2.6.26: lru_cache_add_active() */
	lru_cache_add(page);
	*pagep = page;
	return 0;
}

/*
 * do_swap_page(), mm/memory.c 6.1: map the slot's swap-cache page.  It
 * leaves the cache at once (should_try_to_free_swap()) when swap is over
 * half full, the VMA is mlocked, or a write finds it exclusive, and only
 * when no other PTE holds the slot; otherwise it stays cached, mapped
 * read-only, so reclaim can drop it again without writing.
 */
static int do_swap_page(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
			struct pte_table *pt, pte_t orig, int write)
{
	unsigned long off = pte_to_swp_offset(orig);
	pte_t *pte = &pt->pte[pte_index(addr)];
	struct mem_cgroup *memcg;
	struct page *page;
	int ret = swapin_page(mm, off, &page);

	if (ret)
		return ret;
	/* 2.6.26: its swap cache holds no charge; a cached page its last unmap uncharged */
	memcg = charge_uncharged_page(mm, page);
	if (memcg == ERR_MEMCG) {
		put_page(page);
		return -ENOMEM;
	}
	anon_vma_prepare(vma);
	lock_page(page);
	/* 6.1: the count below must not see this CPU's LRU batch's reference */
	if (write && cur_machine->kernel >= EMU_KERNEL_6_1 && !PageLRU(page))
		lru_add_drain();
	spin_lock(&pt->ptl);
	/* the PTE changed, or the page left the swap cache meanwhile: retry */
	if (*pte != orig || !PageSwapCache(page) || page->private != off) {
		if (memcg)
			mem_cgroup_cancel_charge(memcg, 1);
		goto out_nomap;
	}
	if (swapin_map_begin(page, memcg))
		goto out_nomap;
	if (page_mapcount(page))
		page_dup_rmap(page, 0);	/* page_add_anon_rmap(): another mm's COW-shared entry */
	else
		page_add_new_anon_rmap(page, vma, addr, 0);
	if (cur_machine->kernel < EMU_KERNEL_2_6_34)
		unlock_page_cgroup(page);
	if (vma->vm_flags & VM_LOCKED)
		mlock_vma_page(page);
	atomic_fetch_sub(&mm->rss[MM_SWAPENTS], 1);
	atomic_fetch_add(&mm->rss[MM_ANONPAGES], 1);
	swap_free(off);
	if (vm_swap_full() || (vma->vm_flags & VM_LOCKED) || PageMlocked(page) ||
	    (write && page_count(page) == 2))
		try_to_free_swap(page);
	/* exclusive: out of the cache and mapped here alone */
	*pte = pfn_pte(page_to_pfn(page), write && !PageSwapCache(page) && page_mapcount(page) == 1);
	spin_unlock(&pt->ptl);
	unlock_page(page);
	count_memcg_event_mm(mm, EMU_STAT_PGMAJFAULT);
	return 0;
out_nomap:
	spin_unlock(&pt->ptl);
	unlock_page(page);
	/* out_nomap, 2.6.26: mem_cgroup_uncharge_page() of the page swapin_page() charged */
	if (cur_machine->kernel < EMU_KERNEL_2_6_34)
		mem_cgroup_uncharge_unmapped(page);
	put_page(page);
	return -EAGAIN;
}

/* __do_fault(), mm/memory.c: a file or shmem page; a write to MAP_PRIVATE copies it. */
static int do_file_fault(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr,
			 struct pte_table *pt, int write)
{
	unsigned long index = vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT);
	int shared = !!(vma->vm_flags & VM_SHARED);
	pte_t *pte = &pt->pte[pte_index(addr)];
	struct mem_cgroup *memcg;
	struct page *page;
	int ret;

	ret = filemap_fault(mm, vma->vm_file, index, &page);
	if (ret)
		return ret;
	if (write && !shared) {
		/* do_cow_fault(): the private copy; the cache page stays in the file */
		struct page *copy;

		anon_vma_prepare(vma);
		copy = new_anon_page(mm);
		put_page(page);
		if (!copy)
			return -ENOMEM;
		return install_anon_page(mm, vma, addr, pt, 0, copy);
	}
	memcg = charge_uncharged_page(mm, page);	/* 2.6.26: a page force_empty left uncharged */
	if (memcg == ERR_MEMCG) {
		put_page(page);
		return -ENOMEM;
	}
	spin_lock(&pt->ptl);
	if (!pte_none(*pte)) {
		spin_unlock(&pt->ptl);
		put_page(page);
		if (memcg)
			mem_cgroup_cancel_charge(memcg, 1);
		return -EAGAIN;
	}
	commit_first_mapping(page, memcg);
	page_add_file_rmap(page);
	if (vma->vm_flags & VM_LOCKED)
		mlock_vma_page(page);
	*pte = pfn_pte(page_to_pfn(page), shared);
	atomic_fetch_add(&mm->rss[mm_counter(page)], 1);
	spin_unlock(&pt->ptl);
	return 0;
}

/*
 * handle_mm_fault(), mm/memory.c, for one page; the caller holds mmap_sem
 * for read.  Returns 0, or -ENOMEM when the charge (or RAM) ran out.
 */
int handle_mm_fault(struct mm_struct *mm, struct vm_area_struct *vma, unsigned long addr, int write)
{
	struct pte_table *pt = pte_table_lookup(mm, addr, 1);
	int thp = transhuge_vma_suitable(vma, addr);

	if (!pt)
		return -ENOMEM;
	for (;;) {
		struct page *huge;
		pte_t pte;
		int ret;

		spin_lock(&pt->ptl);
		pte = pt->pte[pte_index(addr)];
		huge = pt->huge;
		ret = huge && (!write || pt->huge_write);
		/* do_huge_pmd_wp_page(), 6.1: a huge page nothing else holds is reused */
		if (huge && !ret && page_count(huge) == 1)
			ret = pt->huge_write = 1;
		if (ret)
			pt->huge_young = 1;	/* the CPU's access sets the accessed bit */
		else if (!huge && pte_present(pte) && (!write || pte_write(pte)))
			pt->pte[pte_index(addr)] = pte | _PAGE_ACCESSED;
		spin_unlock(&pt->ptl);
		if (ret)
			return 0;
		if (huge) {
			/*
			 * COW of a huge page shared after fork: __split_huge_pmd() of
			 * this PMD alone (VM_FAULT_FALLBACK), then do_wp_page() copies
			 * the faulting 4 KiB; the other mm keeps its PMD.
			 */
			split_huge_pmd(pt);
			continue;
		}
		if (thp && write && pte_none(pte) && pte_table_empty(pt)) {
			ret = do_huge_pmd_anonymous_page(mm, vma, addr, pt);
			if (ret == -EAGAIN)
				continue;
			thp = 0;
			if (ret != VM_FAULT_FALLBACK) {
				if (!ret)
					count_memcg_event_mm(mm, EMU_STAT_PGFAULT);
				return ret;
			}
		}
		if (pte_present(pte)) {
			if (!write || pte_write(pte))
				return 0;
			ret = do_wp_page(mm, vma, addr, pt, pte);
		} else if (is_swap_pte(pte)) {
			ret = do_swap_page(mm, vma, addr, pt, pte, write);
		} else if (!vma->vm_file) {
			ret = do_anonymous_page(mm, vma, addr, pt, write);
		} else {
			ret = do_file_fault(mm, vma, addr, pt, write);
		}
		if (ret != -EAGAIN) {
			if (!ret)
				count_memcg_event_mm(mm, EMU_STAT_PGFAULT);
			return ret;
		}
	}
}

/* mlock_vma_page(), mm/mlock.c: off to the unevictable list. */
void mlock_vma_page(struct page *page)
{
	if (!TestSetPageFlag(page, PG_mlocked))
		lru_set_page_flag(page, PG_unevictable, 1);
}

/*
 * munlock_vma_page(), mm/mlock.c: back to an evictable list, unless another
 * VM_LOCKED mapping still maps it (try_to_munlock()).  No PTE lock held.
 */
void munlock_vma_page(struct page *page)
{
	struct address_space *mapping;

	if (!PageMlocked(page) || page_mlocked_elsewhere(page))
		return;
	mapping = page_mapping(page);
	/* a ramfs page stays unevictable (folio_evictable()) */
	if (TestClearPageFlag(page, PG_mlocked) && !(mapping && mapping->unevictable))
		lru_set_page_flag(page, PG_unevictable, 0);
}

/*
 * zap_huge_pmd(), mm/huge_memory.c: [addr, next) covers @pt's huge PMD
 * whole: unmap it (1).  A partial range splits the PMD first
 * (__split_huge_pmd() in zap_pmd_range()) and the PTEs go as usual (0):
 * the page stays whole, and charged, until a deferred split.
 */
static int zap_huge_pmd(struct vm_area_struct *vma, struct pte_table *pt, unsigned long addr,
			unsigned long next)
{
	struct page *head;

	if (!READ_ONCE(pt->huge))
		return 0;
	if ((addr & (PMD_SIZE - 1)) || next - addr < PMD_SIZE) {
		split_huge_pmd(pt);
		return 0;
	}
	spin_lock(&pt->ptl);
	head = lock_huge_pmd_page(pt);
	if (head) {
		pt->huge = NULL;
		page_remove_rmap(head, 1);
		atomic_fetch_sub(&vma->vm_mm->rss[MM_ANONPAGES], HPAGE_PMD_NR);
	}
	spin_unlock(&pt->ptl);
	if (!head)
		return 0;
	unlock_page(head);
	put_page(head);
	return 1;
}

/* zap_pte_range(), mm/memory.c: drop every mapping in [start, end) of @vma. */
void zap_page_range(struct vm_area_struct *vma, unsigned long start, unsigned long end)
{
	struct mm_struct *mm = vma->vm_mm;

	for (unsigned long addr = start; addr < end;) {
		unsigned long next = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), end);
		struct pte_table *pt = pte_table_lookup(mm, addr, 0);
		struct page *munlock[PTRS_PER_TABLE];
		unsigned long nm = 0;

		if (pt && zap_huge_pmd(vma, pt, addr, next)) {
			addr = next;
			continue;
		}
		if (pt) {
			spin_lock(&pt->ptl);
			for (; addr < next; addr += PAGE_SIZE) {
				pte_t *pte = &pt->pte[pte_index(addr)];
				struct page *page;

				if (pte_none(*pte))
					continue;
				if (is_swap_pte(*pte)) {
					free_swap_and_cache(pte_to_swp_offset(*pte));
					atomic_fetch_sub(&mm->rss[MM_SWAPENTS], 1);
					*pte = 0;
					continue;
				}
				page = vm_normal_page(vma, addr, *pte);
				*pte = 0;
				if (!page)
					continue;
				atomic_fetch_sub(&mm->rss[mm_counter(page)], 1);
				page_remove_rmap(page, 0);
				if ((vma->vm_flags & VM_LOCKED) && PageMlocked(page)) {
					munlock[nm++] = page;	/* keeps the PTE's reference a while */
				} else {
					free_swap_cache(page);	/* free_pages_and_swap_cache() */
					put_page(page);
				}
			}
			spin_unlock(&pt->ptl);
		}
		/* the rmap walk of munlock takes other PTE locks: after ours is dropped */
		for (unsigned long i = 0; i < nm; i++) {
			munlock_vma_page(munlock[i]);
			put_page(munlock[i]);
		}
		addr = next;
	}
}

/*
 * copy_huge_pmd(), mm/huge_memory.c (fork): the child maps the huge page
 * too, both write-protected, under the page lock that split_huge_page()
 * counts the mappings under.  Returns 1 when @spt held a huge PMD.
 */
static int copy_huge_pmd(struct mm_struct *dst, struct pte_table *spt, struct pte_table *dpt)
{
	struct page *head;

	if (!READ_ONCE(spt->huge))
		return 0;
	spin_lock(&spt->ptl);
	head = lock_huge_pmd_page(spt);
	if (head) {
		spin_lock(&dpt->ptl);
		get_page(head);
		page_dup_rmap(head, 1);
		spt->huge_write = dpt->huge_write = 0;
		dpt->huge_young = 0;	/* copy_huge_pmd(): pmd_mkold() for the child */
		dpt->huge = head;
		atomic_fetch_add(&dst->rss[MM_ANONPAGES], HPAGE_PMD_NR);
		spin_unlock(&dpt->ptl);
		unlock_page(head);
	}
	spin_unlock(&spt->ptl);
	return head != NULL;
}

/*
 * copy_pte_range(), mm/memory.c (fork): share every page; private ones are
 * write-protected in both so the first write copies (COW).
 */
int copy_page_range(struct mm_struct *dst, struct mm_struct *src, struct vm_area_struct *vma)
{
	int cow = !(vma->vm_flags & VM_SHARED);

	for (unsigned long addr = vma->vm_start; addr < vma->vm_end;) {
		unsigned long next = min((addr + PMD_SIZE) & ~(PMD_SIZE - 1), vma->vm_end);
		struct pte_table *spt = pte_table_lookup(src, addr, 0), *dpt;

		if (!spt) {
			addr = next;
			continue;
		}
		dpt = pte_table_lookup(dst, addr, 1);
		if (!dpt)
			return -ENOMEM;
		if (copy_huge_pmd(dst, spt, dpt)) {
			addr = next;
			continue;
		}
		spin_lock(&spt->ptl);
		spin_lock(&dpt->ptl);
		for (; addr < next; addr += PAGE_SIZE) {
			pte_t *spte = &spt->pte[pte_index(addr)];
			struct page *page;

			if (pte_none(*spte))
				continue;
			if (is_swap_pte(*spte)) {
				swap_duplicate(pte_to_swp_offset(*spte));
				dpt->pte[pte_index(addr)] = *spte;
				atomic_fetch_add(&dst->rss[MM_SWAPENTS], 1);
				continue;
			}
			if (cow)
				*spte &= ~_PAGE_RW;
			/* copy_present_pte(): the child's PTE starts old (pte_mkold()) */
			dpt->pte[pte_index(addr)] = *spte & ~_PAGE_ACCESSED;
			page = vm_normal_page(vma, addr, *spte);
			if (!page)
				continue;
			get_page(page);
			page_dup_rmap(page, 0);
			atomic_fetch_add(&dst->rss[mm_counter(page)], 1);
		}
		spin_unlock(&dpt->ptl);
		spin_unlock(&spt->ptl);
	}
	return 0;
}
