/*
 * Transparent huge pages for private anonymous memory (mm/huge_memory.c,
 * 6.1): a PMD-mapped order-9 page charged as one, and its splits.  Splitting
 * a PMD (__split_huge_pmd()) maps the same compound page with 512 PTEs in
 * that mm alone; the page stays whole, and charged whole, until
 * split_huge_page() makes 512 pages of it -- at reclaim, or at the deferred
 * split of a page partly unmapped (deferred_split_scan()), which frees the
 * unmapped frames and their charge.
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
	page_add_new_anon_rmap(head, vma, addr & ~(PMD_SIZE - 1), 1);
	lru_cache_add_new_anon(head);
	pt->huge = head;
	pt->huge_write = pt->huge_young = 1;
	atomic_fetch_add(&mm->rss[MM_ANONPAGES], HPAGE_PMD_NR);
	spin_unlock(&pt->ptl);
	return 0;
}

/* Off the deferred split queue, if on it (a split or a free of the page). */
static void deferred_split_del(struct page *head)
{
	struct machine *m = cur_machine;

	spin_lock(&m->split_queue_lock);
	if (!list_empty(page_deferred_list(head))) {
		list_del(page_deferred_list(head));
		m->split_queue_len--;
	}
	spin_unlock(&m->split_queue_lock);
}

/*
 * __split_huge_pmd_locked(), mm/huge_memory.c 6.1: the PMD becomes 512 PTEs
 * of the subpages, same protection, each holding a reference on the
 * compound page and a mapcount on its frame; the PMD's mapping goes (and
 * with the last one, rss_huge).  @pt's lock and the page lock held.
 */
static void __split_huge_pmd_locked(struct pte_table *pt, struct page *head)
{
	unsigned long pfn = page_to_pfn(head);

	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++) {
		pt->pte[i] = pfn_pte(pfn + i, pt->huge_write) & ~(pt->huge_young ? 0 : _PAGE_ACCESSED);
		atomic_fetch_add(&head[i]._mapcount, 1);
	}
	atomic_fetch_add(&head->_count, HPAGE_PMD_NR - 1);	/* the PMD's one reference becomes 512 */
	pt->huge = NULL;
	compound_mapcount_update(head, -1);
}

/*
 * __split_huge_page(), mm/huge_memory.c: the compound page, unmapped from
 * every PMD and with its refcount frozen, becomes 512 pages.  Each frame
 * keeps the PTE mappings it has and a reference for each; the head also
 * the caller's.  Each is charged to the head's group (split_page_memcg())
 * and goes next to it on its LRU list; a frame no PTE maps is freed, and
 * its charge with it.  Under the lruvec lock, so neither a move nor reclaim
 * sees it half done.
 */
static void __split_huge_page(struct page *head)
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
		int maps = atomic_load(&page->_mapcount) + 1;

		atomic_store(&page->_count, maps ? maps : 1);	/* an unmapped one: ours, dropped below */
		if (pc) {
			struct page_cgroup *tpc = lookup_page_cgroup(page);

			tpc->mem_cgroup = pc->mem_cgroup;
			tpc->page = page;
			atomic_store(&tpc->flags, atomic_load(&pc->flags));
			atomic_store(&page->page_cgroup, (uintptr_t)tpc);
		}
		atomic_store(&page->flags, atomic_load(&head->flags) & keep);
		INIT_LIST_HEAD(&page->lru);
		if (!maps)
			continue;	/* unmapped everywhere: freed below */
		if (on_lru) {
			/* 6.1 puts tails 511..1 each just before the head (lru_add_page_tail());
			 * 1..511 each before the last one put is the same order: from the
			 * reclaim end, the head, then tails 1, 2, ... */
			list_add_tail(&page->lru, &prev->lru);
			mz->count[page_lru(page)]++;
			SetPageFlag(page, PG_lru);
			prev = page;
		} else {
			lru_cache_add_locked(mz, page);
		}
	}
	ClearPageFlag(head, PG_head);
	atomic_fetch_sub(&cur_machine->zone.nr_compound, 1);
	unlock_page_cgroup(head);
	spin_unlock(&mz->lru_lock);
	atomic_store(&head->_count, page_mapcount(head) + 1);	/* unfrozen: its PTEs and the caller */
	for (unsigned long i = 1; i < HPAGE_PMD_NR; i++)
		if (atomic_load(&head[i]._mapcount) < 0)
			put_page(head + i);
}

/* The PTE tables of every VMA that may map part of the huge page at @haddr, once each. */
struct split_tables {
	struct pte_table **pt;
	int n;
};

static int collect_split_tables(struct anon_vma *av, unsigned long haddr, struct split_tables *t)
{
	struct vm_area_struct *vma;
	int cap = 0;

	t->n = 0;
	list_for_each_entry(vma, &av->head, anon_vma_node) {
		struct pte_table *pt;
		int dup = 0;

		if (vma->vm_end <= haddr || vma->vm_start >= haddr + PMD_SIZE)
			continue;
		pt = pte_table_lookup(vma->vm_mm, haddr, 0);
		for (int i = 0; pt && i < t->n; i++)
			dup |= t->pt[i] == pt;
		if (!pt || dup)
			continue;
		if (t->n == cap) {
			struct pte_table **more = realloc(t->pt, sizeof(*more) * (size_t)(cap = cap * 2 + 8));

			if (!more)
				return -ENOMEM;
			t->pt = more;
		}
		t->pt[t->n++] = pt;
	}
	return 0;
}

/* Every table's lock: the first waited for, the others tried, all let go and retried on a miss. */
static void lock_split_tables(struct split_tables *t)
{
	for (;;) {
		int i;

		for (i = 0; i < t->n && (i == 0 ? (spin_lock(&t->pt[0]->ptl), 1) : spin_trylock(&t->pt[i]->ptl)); i++)
			;
		if (i == t->n)
			return;
		while (i--)
			spin_unlock(&t->pt[i]->ptl);
		cpu_relax();
	}
}

/*
 * split_huge_page(), mm/huge_memory.c 6.1: the caller holds the page lock
 * and a reference.  Under the anon_vma lock, with the lock of every PTE
 * table that may map the page held, so no PTE of it comes or goes: every
 * PMD still mapping it is split (unmap_page() with TTU_SPLIT_HUGE_PMD),
 * then the refcount must be exactly its mappings and ours
 * (can_split_folio()) or the split fails with -EBUSY, the PMDs split
 * all the same.  It leaves the deferred split queue.  0: split (or no
 * longer huge).
 */
int split_huge_page(struct page *head)
{
	unsigned long haddr = head->index << PAGE_SHIFT;
	struct anon_vma *av = page_anon_vma(head);
	struct split_tables t = { NULL, 0 };
	int ret, expected = 1;

	if (!PageHead(head))
		return 0;
	spin_lock(&av->lock);
	ret = collect_split_tables(av, haddr, &t);
	if (!ret) {
		lock_split_tables(&t);
		for (int i = 0; i < t.n; i++)
			if (t.pt[i]->huge == head)
				__split_huge_pmd_locked(t.pt[i], head);
		for (unsigned long i = 0; i < HPAGE_PMD_NR; i++)
			expected += atomic_load(&head[i]._mapcount) + 1;
		/* page_ref_freeze(): nobody may take a reference while the counts are dealt out */
		ret = atomic_compare_exchange_strong(&head->_count, &expected, 0) ? 0 : -EBUSY;
		if (!ret) {
			deferred_split_del(head);
			__split_huge_page(head);
		}
		for (int i = 0; i < t.n; i++)
			spin_unlock(&t.pt[i]->ptl);
	}
	spin_unlock(&av->lock);
	free(t.pt);
	return ret;
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
 * split_huge_pmd() (__split_huge_pmd()), mm/huge_memory.c 6.1: the huge PMD
 * of @pt, if any, becomes PTEs mapping the same compound page, in this mm
 * only.  The caller holds no page-table lock.  Returns whether there was one.
 */
int split_huge_pmd(struct pte_table *pt)
{
	struct page *head;

	spin_lock(&pt->ptl);
	head = lock_huge_pmd_page(pt);
	if (head) {
		__split_huge_pmd_locked(pt, head);
		unlock_page(head);
	}
	spin_unlock(&pt->ptl);
	return head != NULL;
}

/*
 * For a walker older than THP (the RFD policies; mlock here): the huge PMD
 * of @pt is split as walk_page_range() splits it for a walker without a PMD
 * callback, then every compound page [start, end) of @vma maps through
 * @pt's PTEs is split into 4 KiB pages (split_huge_page()).  A page that
 * cannot be split now (another reference) stays compound.
 */
void split_huge_pages_of_table(struct pte_table *pt, struct vm_area_struct *vma, unsigned long start,
			       unsigned long end)
{
	unsigned long addr = start;

	if (!atomic_load_explicit(&cur_machine->zone.nr_compound, memory_order_relaxed))
		return;	/* no huge page anywhere: nothing to look for */
	split_huge_pmd(pt);
	for (;;) {
		struct page *head = NULL;

		spin_lock(&pt->ptl);
		for (; addr < end && !head; addr += PAGE_SIZE) {
			pte_t pte = pt->pte[pte_index(addr)];
			struct page *page = pte_present(pte) ? vm_normal_page(vma, addr, pte) : NULL;

			if (page && PageCompound(page)) {
				head = compound_head(page);
				get_page(head);
			}
		}
		spin_unlock(&pt->ptl);
		if (!head)
			return;
		lock_page(head);
		split_huge_page(head);
		unlock_page(head);
		put_page(head);
	}
}

/*
 * deferred_split_huge_page(), mm/huge_memory.c 6.1: queue a partly unmapped
 * huge page, once, for the shrinker to split.  It stays whole and charged
 * whole meanwhile.
 */
void deferred_split_huge_page(struct page *head)
{
	struct machine *m = cur_machine;

	/* no lockless list_empty() first, as 6.1 has: the list is only read under the lock */
	spin_lock(&m->split_queue_lock);
	if (list_empty(page_deferred_list(head))) {
		list_add_tail(page_deferred_list(head), &m->split_queue);
		m->split_queue_len++;
	}
	spin_unlock(&m->split_queue_lock);
}

/* free_transhuge_page(), mm/huge_memory.c: a huge page being freed leaves the queue. */
void free_transhuge_page(struct page *head)
{
	deferred_split_del(head);
}

#define SHRINK_BATCH	128	/* shrinker->batch 0: the default batch */
#define DEFAULT_SEEKS	2	/* the deferred split shrinker's seeks */

/*
 * deferred_split_count() and deferred_split_scan(), mm/huge_memory.c 6.1,
 * as do_shrink_slab() (mm/vmscan.c) runs them for @memcg at @priority: of
 * the queued pages charged to @memcg (freeable), scan (freeable >>
 * priority) * 4 / seeks, at most twice freeable, a batch at a time while
 * at least a batch or all of freeable is left -- so a short queue is split
 * only at the lowest priorities, once reclaim of the lists fell short.
 * Each page taken is split if its lock is free; the rest go back on the
 * queue.  The pages freed count in no reclaim total (6.1's
 * reclaim_state counts slab pages only): the charge retry sees the margin.
 * Returns the pages split.
 */
unsigned long deferred_split_scan(struct mem_cgroup *memcg, int priority)
{
	struct machine *m = cur_machine;
	unsigned long freeable = 0, total_scan, split = 0;
	struct list_head *pos, *next;

	if (!READ_ONCE(m->split_queue_len))
		return 0;
	spin_lock(&m->split_queue_lock);
	list_for_each(pos, &m->split_queue)
		freeable += page_memcg(deferred_list_page(pos)) == memcg;
	spin_unlock(&m->split_queue_lock);
	total_scan = min((freeable >> priority) * 4 / DEFAULT_SEEKS, freeable * 2);
	while (freeable && (total_scan >= SHRINK_BATCH || total_scan >= freeable)) {
		unsigned long nr_to_scan = min(total_scan, (unsigned long)SHRINK_BATCH), n = 0;
		struct page *pages[SHRINK_BATCH];
		LIST_HEAD(list);

		total_scan -= nr_to_scan;
		spin_lock(&m->split_queue_lock);
		list_for_each_safe(pos, next, &m->split_queue) {
			struct page *head = deferred_list_page(pos);

			if (n == nr_to_scan)
				break;
			if (page_memcg(head) != memcg)
				continue;
			if (get_page_unless_zero(head)) {
				list_move_tail(pos, &list);
				pages[n++] = head;
			} else {	/* lost the race with the last put_page() */
				list_del(pos);
				m->split_queue_len--;
			}
		}
		spin_unlock(&m->split_queue_lock);
		if (!n)
			break;
		for (unsigned long i = 0; i < n; i++) {
			if (!trylock_page(pages[i]))
				continue;
			split += !split_huge_page(pages[i]);	/* off the list when split */
			unlock_page(pages[i]);
		}
		spin_lock(&m->split_queue_lock);
		list_splice_init(&list, &m->split_queue);	/* the ones not split, back */
		spin_unlock(&m->split_queue_lock);
		for (unsigned long i = 0; i < n; i++)
			put_page(pages[i]);
	}
	return split;
}
