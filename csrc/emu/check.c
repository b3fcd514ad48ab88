/*
 * emu_check(): every invariant the README lists (Invariants), by walking all page
 * tables, files, frames, LRU lists and counters.  Call it when no other
 * thread is inside the machine.
 */
#include <stdio.h>
#include "../include/linux/mm.h"

struct check_state {
	struct machine *m;
	unsigned long nr;		/* frames handed out so far */
	int *mapped;			/* PTEs per frame */
	int *pmdmapped;			/* huge PMDs per head frame */
	unsigned char *queued;		/* head frame is on the deferred split queue */
	unsigned char *cached;		/* frame is in a file's page cache */
	unsigned char *isolated;	/* frame is on an in-flight move's list */
	unsigned char *batched;		/* frame is in a CPU's LRU add batch */
	unsigned char *swapcached;	/* frame is in the swap cache */
	int *swapref;			/* references per swap slot */
	long *charged;			/* pages charged, per group id */
	long (*stat)[EMU_NR_STATS];	/* recomputed statistics, per group id */
	long (*lru)[NR_LRU_LISTS];	/* recomputed list lengths, per group id */
	long *kmem;			/* page-table pages charged, per (live) group id */
	int uncharged;			/* index of the zone's list of uncharged pages in lru */
};

#define CHECK(cond, ...) do { if (!(cond)) { emu_set_error(-EUCLEAN, __VA_ARGS__); return -EUCLEAN; } } while (0)

/* A page of kmem (a page table, an mm's kernel objects) charged to @memcg, or (once removed) to the ancestor that took its kmem. */
static void count_kmem(struct check_state *cs, struct mem_cgroup *memcg)
{
	if (!memcg)
		return;
	while (memcg->dead)
		memcg = memcg->parent;
	cs->kmem[memcg->id]++;
}

/* A huge PMD: a head frame, anon, at the right index, in a VMA that covers it, the PTEs unused. */
static int check_huge_pmd(struct check_state *cs, struct task_struct *p, struct mm_struct *mm,
			  struct pte_table *pt, unsigned long haddr, long *rss)
{
	struct page *head = pt->huge;
	struct vm_area_struct *vma = find_vma(mm, haddr);
	unsigned long pfn = page_to_pfn(head);

	CHECK(vma && vma->vm_start <= haddr && haddr + PMD_SIZE <= vma->vm_end && !vma->vm_file,
	      "task %d: huge PMD at 0x%lx outside a private anon VMA", p->pid, haddr);
	CHECK(pfn < cs->nr && PageHead(head) && PageAnon(head) && head->index == haddr >> PAGE_SHIFT,
	      "task %d: huge PMD at 0x%lx maps no huge anon page of its own", p->pid, haddr);
	for (int l = 0; l < PTRS_PER_TABLE; l++)
		CHECK(pte_none(pt->pte[l]), "task %d: huge PMD at 0x%lx over PTEs in use", p->pid, haddr);
	cs->pmdmapped[pfn]++;
	rss[MM_ANONPAGES] += HPAGE_PMD_NR;
	return 0;
}

static int check_mm(struct check_state *cs, struct task_struct *p, struct mm_struct *mm)
{
	struct machine *m = cs->m;
	long rss[NR_MM_COUNTERS] = { 0 };
	unsigned long prev_end = 0;
	long total_vm = 0;

	for (struct vm_area_struct *vma = mm->mmap; vma; vma = vma->vm_next) {
		CHECK(vma->vm_start < vma->vm_end && vma->vm_start >= prev_end,
		      "task %d: VMAs overlap or are unsorted at 0x%lx", p->pid, vma->vm_start);
		CHECK(vma->vm_mm == mm, "task %d: VMA 0x%lx belongs to another mm", p->pid, vma->vm_start);
		prev_end = vma->vm_end;
		total_vm += (vma->vm_end - vma->vm_start) >> PAGE_SHIFT;
	}
	CHECK(total_vm == atomic_load(&mm->total_vm), "task %d: total_vm is %ld, its VMAs span %ld pages",
	      p->pid, atomic_load(&mm->total_vm), total_vm);
	for (long i = 0; i < mm->kobj_pages; i++)
		count_kmem(cs, mm->kobj_memcg);
	for (int i = 0; i < PTRS_PER_TABLE; i++) {
		struct pt_dir *pud = atomic_load(&mm->pgd->entry[i]);

		if (pud)
			count_kmem(cs, pud->memcg);
		for (int j = 0; pud && j < PTRS_PER_TABLE; j++) {
			struct pt_dir *pmd = atomic_load(&pud->entry[j]);

			if (pmd)
				count_kmem(cs, pmd->memcg);
			for (int k = 0; pmd && k < PTRS_PER_TABLE; k++) {
				struct pte_table *pt = atomic_load(&pmd->entry[k]);

				if (pt)
					count_kmem(cs, pt->memcg);

				if (pt && pt->huge && check_huge_pmd(cs, p, mm, pt, ((unsigned long)i << PGDIR_SHIFT) |
								     ((unsigned long)j << PUD_SHIFT) |
								     ((unsigned long)k << PMD_SHIFT), rss))
					return -EUCLEAN;
				for (int l = 0; pt && l < PTRS_PER_TABLE; l++) {
					pte_t pte = pt->pte[l];
					unsigned long addr = ((unsigned long)i << PGDIR_SHIFT) |
						((unsigned long)j << PUD_SHIFT) |
						((unsigned long)k << PMD_SHIFT) | ((unsigned long)l << PAGE_SHIFT);
					struct vm_area_struct *vma;

					if (pte_none(pte))
						continue;
					vma = find_vma(mm, addr);
					CHECK(vma && vma->vm_start <= addr,
					      "task %d: PTE at 0x%lx outside every VMA", p->pid, addr);
					if (is_swap_pte(pte)) {
						unsigned long off = pte_to_swp_offset(pte);

						CHECK(off && off < m->nr_swap, "task %d: bad swap entry at 0x%lx",
						      p->pid, addr);
						cs->swapref[off]++;
						rss[MM_SWAPENTS]++;
						continue;
					}
					CHECK(pte_present(pte), "task %d: garbage PTE at 0x%lx", p->pid, addr);
					CHECK(pte_pfn(pte) < cs->nr, "task %d: PTE at 0x%lx points past RAM in use",
					      p->pid, addr);
					if (pte_pfn(pte) == 0) {
						CHECK(!pte_write(pte), "task %d: writable zero page at 0x%lx",
						      p->pid, addr);
						continue;
					}
					struct page *page = &m->mem_map[pte_pfn(pte)];

					CHECK(!PageFlag(page, PG_buddy), "task %d: PTE at 0x%lx maps a free page",
					      p->pid, addr);
					if (PageAnon(page)) {
						CHECK(page->index == addr >> PAGE_SHIFT,
						      "task %d: anon page at 0x%lx has index 0x%lx", p->pid, addr,
						      page->index);
						CHECK(!(vma->vm_flags & VM_SHARED),
						      "task %d: anon page in a shared mapping at 0x%lx", p->pid, addr);
					} else {
						CHECK((struct address_space *)page->mapping == vma->vm_file &&
						      page->index == vma->vm_pgoff + ((addr - vma->vm_start) >> PAGE_SHIFT),
						      "task %d: file page at 0x%lx is not the file's page", p->pid, addr);
					}
					cs->mapped[pte_pfn(pte)]++;
					rss[mm_counter(page)]++;
				}
			}
		}
	}
	for (int i = 0; i < NR_MM_COUNTERS; i++)
		CHECK(rss[i] == atomic_load(&mm->rss[i]), "task %d: rss counter %d is %ld, PTEs say %ld",
		      p->pid, i, atomic_load(&mm->rss[i]), rss[i]);
	return 0;
}

static int check_files(struct check_state *cs)
{
	struct address_space *mapping;

	list_for_each_entry(mapping, &cs->m->files, all) {
		for (unsigned long i = 0; i < mapping->nr_slots; i++) {
			uintptr_t slot = mapping->slots[i];

			if (!slot)
				continue;
			if (SLOT_IS_SWAP(slot)) {
				CHECK(mapping->shmem, "file %s holds a swap entry", mapping->path);
				cs->swapref[SLOT_SWAP_OFF(slot)]++;
				continue;
			}
			struct page *page = (struct page *)slot;
			unsigned long pfn = page_to_pfn(page);

			CHECK(pfn < cs->nr && !PageFlag(page, PG_buddy), "a file holds a free page");
			CHECK(page->mapping == (uintptr_t)mapping && page->index == i,
			      "page cache entry %lu does not point back at its file", i);
			CHECK(!!PageSwapBacked(page) == !!mapping->shmem, "page cache page %lu has the "
			      "wrong swap-backed flag", i);
			cs->cached[pfn] = 1;
		}
	}
	return 0;
}

/*
 * The swap cache: each cached page points back at its slot, holds one
 * reference to it, and is charged once -- as a page, its slot's record
 * gone (mem_cgroup_swapin_uncharge_swap()) or not yet made.
 */
static int check_swap_cache(struct check_state *cs)
{
	struct machine *m = cs->m;

	for (unsigned long off = 1; off < m->nr_swap; off++) {
		struct page *page = m->swap_cache[off];
		unsigned long pfn;

		if (!page)
			continue;
		pfn = page_to_pfn(page);
		CHECK(pfn < cs->nr && !PageFlag(page, PG_buddy), "swap slot %lu caches a free frame", off);
		CHECK(PageSwapCache(page) && page->private == off && PageAnon(page),
		      "swap slot %lu: its cached frame %lu does not point back at it", off, pfn);
		CHECK(!atomic_load(&m->swap_cgroup[off]) || !page_memcg(page),
		      "swap slot %lu: charged as swap and as its cached frame %lu", off, pfn);
		cs->swapref[off]++;
		cs->swapcached[pfn] = 1;
	}
	return 0;
}

/*
 * The deferred split queue: huge pages only, each once, and its length
 * counted right.  Marks the queued heads for check_compound().
 */
static int check_split_queue(struct check_state *cs)
{
	struct machine *m = cs->m;
	unsigned long n = 0;
	struct list_head *pos;

	list_for_each(pos, &m->split_queue) {
		struct page *head = deferred_list_page(pos);
		unsigned long pfn = page_to_pfn(head);

		CHECK(pfn < cs->nr && PageHead(head) && !cs->queued[pfn],
		      "the deferred split queue holds frame %lu: no huge page, or twice", pfn);
		cs->queued[pfn] = 1;
		CHECK(++n <= cs->nr / HPAGE_PMD_NR, "the deferred split queue loops");
	}
	CHECK(n == atomic_load(&m->split_queue_len), "the deferred split queue holds %lu pages, its length says %lu",
	      n, atomic_load(&m->split_queue_len));
	return 0;
}

/*
 * A huge page: its PMD mappings counted right; one reference per PTE of
 * any of its frames and per PMD (the caller adds the rest); and, when no
 * PMD maps it and only some of its frames are PTE-mapped, queued for a
 * deferred split (page_remove_rmap()), as the unmapped frames are charged
 * until that split.
 */
static int check_compound(struct check_state *cs, struct page *head, unsigned long pfn, int *expected_count)
{
	unsigned long mapped = 0;

	CHECK(compound_mapcount(head) == cs->pmdmapped[pfn], "huge page %lu: compound mapcount %d but %d PMDs "
	      "map it", pfn, compound_mapcount(head), cs->pmdmapped[pfn]);
	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++)
		mapped += cs->mapped[pfn + i] > 0;
	*expected_count += cs->pmdmapped[pfn];
	for (unsigned long i = 1; i < HPAGE_PMD_NR; i++)
		*expected_count += cs->mapped[pfn + i];
	CHECK(cs->pmdmapped[pfn] || !mapped || mapped == HPAGE_PMD_NR || cs->queued[pfn],
	      "huge page %lu: %lu of its frames mapped, the rest charged, and no deferred split queued", pfn,
	      mapped);
	return 0;
}

/*
 * Before 3.17 an anon page no PTE or PMD maps is charged to no group
 * (mem_cgroup_uncharge_unmapped()): on 2.6.26 whatever holds it, on
 * 2.6.34-3.4 unless the swap cache does.
 */
static int uncharged_unmapped(struct machine *m, struct page *page)
{
	return uncharge_at_unmap(m) && PageAnon(page) && !page_mapped(page) &&
	       (m->kernel < EMU_KERNEL_2_6_34 || !PageSwapCache(page));
}

static int check_frames(struct check_state *cs)
{
	struct machine *m = cs->m;
	unsigned long nr_buddy = 0, nr_pcp = 0;
	long nr_compound = 0;

	for (unsigned long pfn = 1; pfn < cs->nr; pfn++) {
		struct page *page = &m->mem_map[pfn];
		struct page_cgroup *pc = &m->page_cgroup_map[pfn];
		struct mem_cgroup *memcg = page_memcg(page);
		int expected_count;

		if (PageTail(page)) {
			struct page *head = compound_head(page);
			unsigned long i = pfn - page_to_pfn(head);

			/* the first tail's count field is the compound mapcount, checked with the head */
			CHECK(PageHead(head) && !memcg && (i == 1 || atomic_load(&page->_count) == 0) &&
			      !PageLRU(page) && !cs->cached[pfn] && page->mapping == head->mapping &&
			      page->index == head->index + i,
			      "tail frame %lu of a huge page is used on its own", pfn);
			CHECK(atomic_load(&page->_mapcount) + 1 == cs->mapped[pfn],
			      "frame %lu of a huge page: mapcount %d but %d PTEs map it", pfn,
			      atomic_load(&page->_mapcount) + 1, cs->mapped[pfn]);
			continue;
		}
		if (PageFlag(page, PG_buddy)) {
			nr_buddy++;
			CHECK(!memcg && page_count(page) == 0 && page_mapcount(page) == 0 && !PageLRU(page)
			      && !cs->mapped[pfn] && !cs->cached[pfn] && !cs->batched[pfn],
			      "free frame %lu is still in use (count %d, charged %d)", pfn,
			      page_count(page), memcg != NULL);
			continue;
		}
		CHECK(atomic_load(&page->_mapcount) + 1 == cs->mapped[pfn],
		      "frame %lu: mapcount %d but %d PTEs map it", pfn, atomic_load(&page->_mapcount) + 1,
		      cs->mapped[pfn]);
		CHECK(!!PageSwapCache(page) == cs->swapcached[pfn], "frame %lu: PG_swapcache but no slot caches it",
		      pfn);
		expected_count = cs->mapped[pfn] + cs->cached[pfn] + cs->isolated[pfn] + cs->swapcached[pfn] +
				 cs->batched[pfn];
		if (PageHead(page) && (nr_compound++, check_compound(cs, page, pfn, &expected_count)))
			return -EUCLEAN;
		CHECK(PageHead(page) || !cs->queued[pfn], "frame %lu is no huge page but is on the deferred split "
		      "queue", pfn);
		CHECK(expected_count > 0, "frame %lu is in use but neither mapped nor cached", pfn);
		CHECK(page_count(page) == expected_count, "frame %lu: refcount %d, expected %d",
		      pfn, page_count(page), expected_count);
		CHECK(!(cs->isolated[pfn] && cs->batched[pfn]), "frame %lu is in an LRU batch and on a move's list",
		      pfn);
		CHECK(!!PageLRU(page) == !(cs->isolated[pfn] || cs->batched[pfn]), PageLRU(page) ?
		      "frame %lu is on an LRU list and on a move's list or in an LRU batch" :
		      "frame %lu is in use but on no LRU list (left isolated)", pfn);
		CHECK(!PageFlag(page, PG_locked), "frame %lu is left locked", pfn);
		CHECK(!PageMlocked(page) || PageUnevictable(page), "mlocked frame %lu is evictable", pfn);
		/* a file page truncated while an LRU batch holds it is neither, until the batch drains */
		CHECK(!!PageAnon(page) != !!cs->cached[pfn] || (cs->batched[pfn] && !page->mapping),
		      "frame %lu: anon and cached at once, or neither", pfn);
		if (!memcg && cs->isolated[pfn] && !PcgFlag(pc, PCG_LEAKED))
			continue;	/* the seed's window: uncharged between uncharge and charge, isolated */
		if (!memcg) {
			CHECK(PcgFlag(pc, PCG_LEAKED) || PcgFlag(pc, PCG_DROPPED) || uncharged_unmapped(m, page),
			      "frame %lu is in use with no charge (no documented seed leak, no charge a 2.6.26 "
			      "force_empty dropped, no anon page uncharged at its last unmap before 3.17)", pfn);
			if (PcgFlag(pc, PCG_LEAKED))
				cs->stat[pc->mem_cgroup->id][EMU_STAT_LEAKED]++;
			if (!cs->isolated[pfn] && !cs->batched[pfn])
				cs->lru[cs->uncharged][page_lru(page)] += thp_nr_pages(page);
			continue;
		}
		CHECK(!PcgFlag(pc, PCG_DROPPED), "frame %lu is charged and marked dropped", pfn);
		CHECK(!uncharged_unmapped(m, page),
		      "frame %lu: an anon page still charged after its last unmap (before 3.17)", pfn);
		CHECK(!memcg->dead, "frame %lu is charged to removed group %d", pfn, memcg->id);
		/* 2.6.26: a page-cache page with no charge of its own is charged as mapped by its first mapping */
		CHECK(!!PcgFlag(pc, PCG_CACHE) == !PageAnon(page) ||
		      (m->kernel < EMU_KERNEL_2_6_34 && !PcgFlag(pc, PCG_CACHE) && page_mapped(page)),
		      "frame %lu charged with the wrong type", pfn);
		cs->charged[memcg->id] += thp_nr_pages(page);
		long *st = cs->stat[memcg->id];

		if (!PcgFlag(pc, PCG_CACHE)) {
			st[EMU_STAT_RSS] += thp_nr_pages(page);
			if (PageHead(page) && cs->pmdmapped[pfn])	/* NR_ANON_THPS: PMD-mapped */
				st[EMU_STAT_RSS_HUGE] += HPAGE_PMD_NR;
			if (PageSwapCache(page) && swapcache_in_cache_stat(m))
				st[EMU_STAT_CACHE]++;
		} else {
			st[EMU_STAT_CACHE]++;
			if (PageSwapBacked(page))
				st[EMU_STAT_SHMEM]++;
			if (page_mapcount(page))
				st[EMU_STAT_MAPPED_FILE]++;
		}
		if (PcgFlag(pc, PCG_WRONG_CHARGE))
			st[EMU_STAT_WRONG_CHARGE]++;
		if (!cs->isolated[pfn] && !cs->batched[pfn])
			cs->lru[memcg->id][page_lru(page)] += thp_nr_pages(page);
	}
	CHECK(nr_compound == atomic_load(&m->zone.nr_compound), "%ld huge pages in use, the zone counts %ld",
	      nr_compound, atomic_load(&m->zone.nr_compound));
	for (int cpu = 0; cpu < m->nr_cpus; cpu++)
		nr_pcp += (unsigned long)m->pcp[cpu].count;
	CHECK(m->zone.nr_free + nr_pcp == nr_buddy + (m->nr_pages - cs->nr),
	      "zone and CPU lists say %lu free frames, %lu are", m->zone.nr_free + nr_pcp,
	      nr_buddy + (m->nr_pages - cs->nr));
	return 0;
}

static int check_lruvec(struct check_state *cs, struct mem_cgroup_per_zone *mz, struct mem_cgroup *memcg,
			long *expected)
{
	for (int l = 0; l < NR_LRU_LISTS; l++) {
		long n = 0;
		struct page *page;

		list_for_each_entry(page, &mz->lists[l], lru) {
			CHECK(PageLRU(page) && page_lru(page) == (enum lru_list)l && page_memcg(page) == memcg,
			      "frame %lu is on LRU list %d of group %d but belongs elsewhere",
			      page_to_pfn(page), l, memcg ? memcg->id : -1);
			n += thp_nr_pages(page);
			if (n > (long)cs->nr)
				break;
		}
		CHECK(n == (long)mz->count[l] && n == expected[l],
		      "group %d LRU list %d: %ld pages linked, count says %lu, %ld pages say they are on it",
		      memcg ? memcg->id : -1, l, n, mz->count[l], expected[l]);
	}
	return 0;
}

/*
 * Memory+swap is the group's memory charge plus the swap entries recorded
 * for it (the root's too: mem_cgroup_id() is index + 1), hierarchically.  An
 * upstream move holds swap charges on both sides until it ends, so the
 * check waits for no move to be in flight.
 */
static long long memsw_expected(struct check_state *cs, struct mem_cgroup *memcg)
{
	struct machine *m = cs->m;
	long long expected = (long long)memcg->res.usage;

	expected += cs->stat[memcg->id][EMU_STAT_SWAP] * PAGE_SIZE;
	for (int c = 0; c < m->nr_memcg_ids; c++) {
		struct mem_cgroup *child = m->memcgs[c];

		/* the child's memory is in our memory usage already */
		if (child->parent == memcg && child->memsw.parent == &memcg->memsw)
			expected += (long long)child->memsw.usage - (long long)child->res.usage;
	}
	return expected;
}

static int check_memsw(struct check_state *cs, struct mem_cgroup *memcg)
{
	if (!do_swap_account(cs->m) || !list_empty(&cs->m->moves))
		return 0;
	CHECK((long long)memcg->memsw.usage == memsw_expected(cs, memcg),
	      "group %d: memory+swap %llu, but memory and swap make %lld", memcg->id, memcg->memsw.usage,
	      memsw_expected(cs, memcg));
	return 0;
}

/* Charge the CPUs' stocks hold for @memcg (counted in usage, owned by no page). */
static unsigned long memcg_stocked(struct machine *m, struct mem_cgroup *memcg)
{
	unsigned long n = 0;

	for (int cpu = 0; cpu < m->nr_cpus; cpu++) {
		struct memcg_stock_pcp *stock = &m->memcg_stock[cpu];

		spin_lock(&stock->stock_lock);
		if (stock->cached == memcg)
			n += stock->nr_pages;
		spin_unlock(&stock->stock_lock);
	}
	return n;
}

static int check_memcgs(struct check_state *cs)
{
	struct machine *m = cs->m;
	static const int checked[] = { EMU_STAT_RSS, EMU_STAT_RSS_HUGE, EMU_STAT_CACHE, EMU_STAT_SHMEM, EMU_STAT_MAPPED_FILE,
				       EMU_STAT_WRONG_CHARGE, EMU_STAT_LEAKED, EMU_STAT_SWAP };
	static const char *names[] = { "rss", "rss_huge", "cache", "shmem", "mapped_file", "wrong_charge",
				       "leaked", "swap" };

	for (unsigned long off = 1; off < m->nr_swap; off++) {
		unsigned short id = atomic_load(&m->swap_cgroup[off]);

		if (atomic_load(&m->swap_map[off]) && id)
			cs->stat[id - 1][EMU_STAT_SWAP]++;	/* mem_cgroup_id() is index + 1 */
	}
	for (int id = 0; id < m->nr_memcg_ids; id++) {
		struct mem_cgroup *memcg = m->memcgs[id];
		unsigned long long expected;

		if (memcg->dead)
			continue;
		CHECK(atomic_load(&memcg->kmem) == cs->kmem[id], "group %d: kmem %ld pages, page tables and mms say %ld",
		      id, atomic_load(&memcg->kmem), cs->kmem[id]);
		expected = (cs->charged[id] + cs->kmem[id] + memcg_stocked(m, memcg)) * PAGE_SIZE +
			   (unsigned long long)atomic_load(&memcg->reserved);
		for (int c = 0; c < m->nr_memcg_ids; c++) {
			struct mem_cgroup *child = m->memcgs[c];

			if (!child->dead && child->parent == memcg && child->res.parent == &memcg->res)
				expected += child->res.usage;
		}
		CHECK(memcg->res.usage == expected,
		      "group %d: usage %llu, but its pages, reservations and children make %llu",
		      id, memcg->res.usage, expected);
		/* 2.6.26's res_counter_write() sets a limit below usage; later kernels reclaim first */
		CHECK(m->kernel < EMU_KERNEL_2_6_34 || memcg->res.usage <= memcg->res.limit,
		      "group %d: usage %llu above limit %llu",
		      id, memcg->res.usage, memcg->res.limit);
		CHECK(memcg->res.max_usage >= memcg->res.usage, "group %d: max_usage %llu below usage %llu",
		      id, memcg->res.max_usage, memcg->res.usage);
		if (check_memsw(cs, memcg))
			return -EUCLEAN;
		for (unsigned i = 0; i < sizeof(checked) / sizeof(checked[0]); i++)
			CHECK(memcg_page_state(memcg, checked[i]) == cs->stat[id][checked[i]],
			      "group %d: %s is %ld pages, the frames say %ld", id, names[i],
			      memcg_page_state(memcg, checked[i]), cs->stat[id][checked[i]]);
		if (check_lruvec(cs, &memcg->info[0], memcg, cs->lru[id]))
			return -EUCLEAN;
	}
	return check_lruvec(cs, &m->zone.lruvec, NULL, cs->lru[cs->uncharged]);
}

static int check_swap(struct check_state *cs)
{
	struct machine *m = cs->m;
	long nr_free = 0;

	for (unsigned long off = 1; off < m->nr_swap; off++) {
		unsigned short count = atomic_load(&m->swap_map[off]);

		CHECK(count == cs->swapref[off], "swap slot %lu: count %u, %d references", off, count,
		      cs->swapref[off]);
		CHECK(count || !atomic_load(&m->swap_cgroup[off]), "free swap slot %lu still charged", off);
		nr_free += !count;
	}
	CHECK(!m->nr_swap || nr_free == atomic_load(&m->nr_swap_free), "swap: %ld free slots, counter says %ld",
	      nr_free, atomic_load(&m->nr_swap_free));
	return 0;
}

/* Pages on an in-flight move's lists (check() run from an on_resched hook). */
static int check_moves(struct check_state *cs)
{
	struct move_ctx *ctx;
	struct page *page;

	list_for_each_entry(ctx, &cs->m->moves, node) {
		struct list_head *lists[2] = { &ctx->isolated, &ctx->moved };

		for (int i = 0; i < 2; i++) {
			list_for_each_entry(page, lists[i], lru) {
				unsigned long pfn = page_to_pfn(page);

				CHECK(pfn < cs->nr && !cs->isolated[pfn], "frame %lu is isolated twice", pfn);
				cs->isolated[pfn] = 1;
			}
		}
	}
	return 0;
}

/* Pages in the CPUs' LRU add batches (lru_cache_add()): never a huge page, never in two. */
static int check_lru_batches(struct check_state *cs)
{
	struct machine *m = cs->m;

	for (int cpu = 0; cpu < m->nr_cpus; cpu++) {
		for (int i = 0; i < NR_LRU_LISTS; i++) {
			struct pagevec *pvec = &m->lru_add[cpu].pvec[i];

			CHECK(pvec->nr < m->pagevec_size, "CPU %d: a full LRU add batch of %u pages", cpu, pvec->nr);
			for (unsigned int j = 0; j < pvec->nr; j++) {
				unsigned long pfn = page_to_pfn(pvec->pages[j]);

				CHECK(pfn < cs->nr && !cs->batched[pfn] && !PageHead(pvec->pages[j]),
				      "frame %lu is twice in LRU add batches, or huge", pfn);
				cs->batched[pfn] = 1;
			}
		}
	}
	return 0;
}

static int check_all(struct check_state *cs)
{
	struct machine *m = cs->m;

	if (check_moves(cs) || check_lru_batches(cs))
		return -EUCLEAN;
	struct move_ctx *ctx;

	for (int pid = 1; pid < m->next_pid; pid++) {
		struct task_struct *p = m->tasks[pid];

		if (p && p->mm && check_mm(cs, p, p->mm))
			return -EUCLEAN;
	}
	/* an mm only an in-flight move still holds: its task was killed or exec'ed meanwhile */
	list_for_each_entry(ctx, &m->moves, node)
		if (ctx->mm && ctx->task->mm != ctx->mm && check_mm(cs, ctx->task, ctx->mm))
			return -EUCLEAN;
	if (check_files(cs) || check_swap_cache(cs) || check_split_queue(cs) || check_frames(cs) || check_memcgs(cs) ||
	    check_swap(cs))
		return -EUCLEAN;
	return 0;
}

int emu_check_locked(struct machine *m)
{
	struct check_state cs = { .m = m, .nr = m->zone.next_fresh, .uncharged = m->nr_memcg_ids };
	int ret = -ENOMEM;

	cs.mapped = calloc(cs.nr, sizeof(*cs.mapped));
	cs.pmdmapped = calloc(cs.nr, sizeof(*cs.pmdmapped));
	cs.queued = calloc(cs.nr, 1);
	cs.cached = calloc(cs.nr, 1);
	cs.isolated = calloc(cs.nr, 1);
	cs.batched = calloc(cs.nr, 1);
	cs.swapcached = calloc(cs.nr, 1);
	cs.swapref = calloc(m->nr_swap + 1, sizeof(*cs.swapref));
	cs.charged = calloc(cs.uncharged + 1, sizeof(*cs.charged));
	cs.stat = calloc(cs.uncharged + 1, sizeof(*cs.stat));
	cs.lru = calloc(cs.uncharged + 1, sizeof(*cs.lru));
	cs.kmem = calloc(cs.uncharged + 1, sizeof(*cs.kmem));
	if (cs.mapped && cs.pmdmapped && cs.queued && cs.cached && cs.isolated && cs.batched && cs.swapcached && cs.swapref &&
	    cs.charged && cs.stat && cs.lru && cs.kmem)
		ret = check_all(&cs);
	else
		emu_set_error(-ENOMEM, "out of host memory for the check");
	free(cs.mapped);
	free(cs.pmdmapped);
	free(cs.queued);
	free(cs.cached);
	free(cs.isolated);
	free(cs.batched);
	free(cs.swapcached);
	free(cs.swapref);
	free(cs.charged);
	free(cs.stat);
	free(cs.lru);
	free(cs.kmem);
	return ret;
}
