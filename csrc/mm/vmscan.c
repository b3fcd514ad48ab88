/* Memory-cgroup reclaim (mm/vmscan.c, try_to_free_mem_cgroup_pages and what it calls). */
#include "../include/linux/mm.h"
#include "../emu/trace.h"

/* The lazy-move policy's hook: recharge a WRONG_CHARGE page instead of reclaiming it. */
int mem_cgroup_lazy_recharge(struct page *page);

extern __thread int current_reclaim_noswap;

static int swap_available(void)
{
	return !current_reclaim_noswap && cur_machine->nr_swap && READ_ONCE(cur_machine->nr_swap_free) > 0;
}

/*
 * shrink_page_list() for an anon page, mm/vmscan.c 6.1: add_to_swap()
 * unless the page is in the swap cache already (a clean swap-in: its slot
 * still holds the data, nothing is written again), try_to_unmap() turns
 * every PTE into the slot's swap entry, __remove_mapping() takes it out of
 * the cache.  A page still mapped stays in the swap cache.
 */
static int reclaim_anon(struct page *page)
{
	struct mem_cgroup *memcg = NULL;

	if (!PageSwapCache(page) && add_to_swap(page) < 0)
		return -ENOMEM;
	if (try_to_unmap(page, &memcg))
		return -EBUSY;
	return remove_swap_cache_mapping(page, memcg);
}

/*
 * pageout of a swap-backed page: anon through the swap cache, shmem
 * (shmem_writepage()) to a swap slot in its file.  For shmem the slot's
 * first reference is ours, standing in for the swap cache's, which 6.1
 * drops again in the same reclaim: the file's slot adds its own, and ours
 * goes at the end, so a slot nobody took is freed rather than leaked.
 */
static int reclaim_swapbacked(struct page *page)
{
	struct mem_cgroup *memcg = NULL;
	struct address_space *mapping;
	int ret = -EAGAIN;
	long swp;

	if (PageAnon(page))
		return reclaim_anon(page);
	swp = get_swap_page();
	if (swp < 0)
		return -ENOMEM;
	/* the page lock we hold keeps shmem truncation from changing page->mapping */
	mapping = page_mapping(page);
	if (mapping && try_to_unmap(page, &memcg))
		ret = -EBUSY;
	else if (mapping) {
		spin_lock(&mapping->tree_lock);
		/* the page cache and our isolation are the only references left */
		if (page_count(page) == 2 && page_mapcount(page) == 0 &&
		    mapping->slots[page->index] == (uintptr_t)page) {
			swap_duplicate(swp);
			mapping->slots[page->index] = SWAP_SLOT(swp);
			mem_cgroup_swapout(page, swp, NULL);
			page->mapping = 0;
			atomic_fetch_sub(&page->_count, 1);
			ret = 0;
		}
		spin_unlock(&mapping->tree_lock);
	}
	swap_free(swp);
	return ret;
}

/* A clean page-cache page: unmap it and drop it from its file (__remove_mapping). */
static int reclaim_file(struct page *page)
{
	struct address_space *mapping = page_mapping(page);
	int ret = -EAGAIN;

	struct mem_cgroup *memcg = NULL;

	if (!mapping)
		return -EAGAIN;
	if (try_to_unmap(page, &memcg))
		return -EBUSY;
	spin_lock(&mapping->tree_lock);
	if (page_count(page) == 2 && page_mapcount(page) == 0 &&
	    mapping->slots[page->index] == (uintptr_t)page) {
		mapping->slots[page->index] = 0;
		page->mapping = 0;
		atomic_fetch_sub(&page->_count, 1);
		ret = 0;
	}
	spin_unlock(&mapping->tree_lock);
	return ret;
}


/* struct scan_control, mm/vmscan.c: one reclaim's state across its rounds. */
struct scan_control {
	struct mem_cgroup *target;	/* the group reclaimed for; NULL: the whole machine */
	unsigned long nr_to_reclaim;
	int priority;
	unsigned int may_deactivate;	/* 1 << 0: anon, 1 << 1: file (6.1) */
	int force_deactivate, skipped_deactivate;
	int cache_trim_mode;
	unsigned long anon_cost, file_cost;
	int reclaim_mapped;		/* 2.6.26 calc_reclaim_mapped() */
	unsigned long nr_pageout;
};

#define DEACTIVATE_ANON	1U
#define DEACTIVATE_FILE	2U

static int is_file_lru(enum lru_list lru) { return lru == LRU_INACTIVE_FILE || lru == LRU_ACTIVE_FILE; }
static int is_active_lru(enum lru_list lru) { return lru == LRU_ACTIVE_ANON || lru == LRU_ACTIVE_FILE; }

static unsigned long lru_count(struct mem_cgroup_per_zone *mz, enum lru_list lru)
{
	unsigned long n;

	spin_lock(&mz->lru_lock);
	n = mz->count[lru];
	spin_unlock(&mz->lru_lock);
	return n;
}

/* int_sqrt(), lib/math/int_sqrt.c */
static unsigned long int_sqrt(unsigned long x)
{
	unsigned long r = 0;

	while ((r + 1) * (r + 1) <= x)
		r++;
	return r;
}

/*
 * inactive_is_low(), mm/vmscan.c 6.1 (3.4 inactive_anon_is_low()): the
 * inactive list should hold 1/sqrt(10 * GiB of both) of the pair.  Before
 * 4.x the memcg file rule was plainly active > inactive
 * (mem_cgroup_inactive_file_is_low()).
 */
static int inactive_is_low(struct machine *m, unsigned long inactive, unsigned long active, int file)
{
	unsigned long gb = (inactive + active) >> (30 - PAGE_SHIFT);

	if (file && m->kernel < EMU_KERNEL_6_1)
		return active > inactive;
	return inactive * (gb ? int_sqrt(10 * gb) : 1) < active;
}

/*
 * lru_note_cost(), mm/swap.c 6.1: pages reclaim had to write out make that
 * type dearer for get_scan_count(), in the group and its ancestors; the
 * costs halve once they pass a quarter of the group's LRU pages.
 */
static void lru_note_cost(struct mem_cgroup *memcg, int file, unsigned long nr_pages)
{
	for (; memcg; memcg = memcg->parent) {
		struct mem_cgroup_per_zone *mz = &memcg->info[0];
		unsigned long lrusize;

		spin_lock(&mz->lru_lock);
		if (file)
			mz->file_cost += nr_pages;
		else
			mz->anon_cost += nr_pages;
		lrusize = mz->count[LRU_INACTIVE_ANON] + mz->count[LRU_ACTIVE_ANON] +
			  mz->count[LRU_INACTIVE_FILE] + mz->count[LRU_ACTIVE_FILE];
		if (mz->file_cost + mz->anon_cost > lrusize / 4) {
			mz->file_cost /= 2;
			mz->anon_cost /= 2;
		}
		spin_unlock(&mz->lru_lock);
	}
}

enum page_references { PAGEREF_RECLAIM, PAGEREF_KEEP, PAGEREF_ACTIVATE };

/* page_mapping_inuse(), mm/vmscan.c 2.6.26: mapped, in the swap cache, or of a file someone maps. */
static int page_mapping_inuse(struct page *page)
{
	struct address_space *mapping = page_mapping(page);
	int mapped;

	if (page_mapcount(page) || PageSwapCache(page))
		return 1;
	if (!mapping)
		return 0;
	spin_lock(&mapping->i_mmap_lock);
	mapped = !list_empty(&mapping->i_mmap);
	spin_unlock(&mapping->i_mmap_lock);
	return mapped;
}

/*
 * folio_check_references(), mm/vmscan.c 6.1, for a page on the inactive
 * list: a page whose PTEs were accessed gets PG_referenced and another
 * trip round the inactive list (all mapped pages start with the accessed
 * bit of the fault that made them); accessed again, or by two PTEs, it is
 * activated.  page_check_references() (2.6.34 - 5.8) activated a
 * swap-backed page on its first access; 2.6.26's shrink_page_list()
 * activated any referenced page (PTEs or PG_referenced) whose mapping is
 * in use.  An mlocked VMA activates (and mlocks) it.
 */
static enum page_references page_check_references(struct page *page, struct scan_control *sc)
{
	struct machine *m = cur_machine;
	unsigned long vm_flags;
	int referenced_ptes = page_referenced(page, sc->target, &vm_flags);
	int referenced_page = TestClearPageFlag(page, PG_referenced);

	if (vm_flags & VM_LOCKED) {
		mlock_vma_page(page);
		return PAGEREF_ACTIVATE;
	}
	if (m->kernel < EMU_KERNEL_2_6_34)
		return (referenced_ptes || referenced_page) && page_mapping_inuse(page) ?
			PAGEREF_ACTIVATE : PAGEREF_RECLAIM;
	if (referenced_ptes) {
		if (m->kernel < EMU_KERNEL_6_1 && PageSwapBacked(page))
			return PAGEREF_ACTIVATE;
		SetPageFlag(page, PG_referenced);
		if (referenced_page || referenced_ptes > 1)
			return PAGEREF_ACTIVATE;
		return PAGEREF_KEEP;
	}
	return PAGEREF_RECLAIM;	/* PAGEREF_RECLAIM_CLEAN too: no page is dirty here */
}

/*
 * shrink_page_list(), mm/vmscan.c: free what can be freed; a referenced
 * page, or one that cannot be unmapped or has no swap, is activated
 * (activate_locked), the rest go back to the head of their list.
 */
static unsigned long shrink_page_list(struct list_head *page_list, struct scan_control *sc)
{
	unsigned long nr_reclaimed = 0;
	struct page *page, *next;

	list_for_each_entry_safe(page, next, page_list, lru) {
		int ret = -EBUSY;

		list_del(&page->lru);
		if (!trylock_page(page)) {
			putback_lru_page(page);
			continue;
		}
		/*
		 * shrink_folio_list(), 6.1: a huge page is split before it is
		 * swapped (no THP swap here), then reclaimed 4 KiB at a time;
		 * one that cannot be split (can_split_folio()) goes back.
		 */
		if (split_huge_page(page)) {
			unlock_page(page);
			putback_lru_page(page);
			continue;
		}
		if (!PageMlocked(page) && !PageUnevictable(page)) {
			if (mem_cgroup_lazy_recharge(page) == 0) {
				unlock_page(page);	/* it lives on, charged to its task's group */
				putback_lru_page(page);
				nr_reclaimed++;
				continue;
			}
			switch (page_check_references(page, sc)) {
			case PAGEREF_ACTIVATE:
				ret = -ENOMEM;
				break;
			case PAGEREF_KEEP:
				ret = -EAGAIN;
				break;
			case PAGEREF_RECLAIM:
				ret = PageSwapBacked(page) ? reclaim_swapbacked(page) : reclaim_file(page);
				break;
			}
		}
		unlock_page(page);
		if (ret == 0) {
			nr_reclaimed++;
			if (PageSwapBacked(page))
				sc->nr_pageout++;	/* written to swap */
			put_page(page);	/* unmapped and out of its file: the last reference */
			continue;
		}
		/* activate_locked: referenced, still mapped, or no swap slot */
		if ((ret == -ENOMEM || ret == -EBUSY) && !PageMlocked(page))
			SetPageFlag(page, PG_active);
		putback_lru_page(page);
	}
	return nr_reclaimed;
}

/* isolate_lru_pages(), mm/vmscan.c: up to @nr pages from the tail (the reclaim end). */
static unsigned long isolate_lru_pages(struct mem_cgroup_per_zone *mz, enum lru_list lru,
				       unsigned long nr, struct list_head *dst)
{
	unsigned long taken = 0;

	unsigned long scanned = 0, len;

	spin_lock(&mz->lru_lock);
	len = mz->count[lru];
	while (taken < nr && scanned++ < len && !list_empty(&mz->lists[lru])) {
		struct page *page = list_last_entry(&mz->lists[lru], struct page, lru);

		if (!get_page_unless_zero(page)) {
			/* being freed: put_page() takes it off; look past it */
			list_move(&page->lru, &mz->lists[lru]);
			continue;
		}
		list_move(&page->lru, dst);
		ClearPageFlag(page, PG_lru);
		mz->count[lru] -= thp_nr_pages(page);
		taken++;
	}
	spin_unlock(&mz->lru_lock);
	return taken;
}

/* shrink_inactive_list(), mm/vmscan.c: isolate @nr pages from the tail and try to free them. */
static unsigned long shrink_inactive_list(struct mem_cgroup *memcg, enum lru_list lru, unsigned long nr,
					  struct scan_control *sc)
{
	LIST_HEAD(page_list);
	unsigned long nr_reclaimed, pageout = sc->nr_pageout;

	if (!isolate_lru_pages(&memcg->info[0], lru, nr, &page_list))
		return 0;
	nr_reclaimed = shrink_page_list(&page_list, sc);
	if (cur_machine->kernel >= EMU_KERNEL_6_1)
		lru_note_cost(memcg, is_file_lru(lru), sc->nr_pageout - pageout);
	return nr_reclaimed;
}

/*
 * shrink_active_list(), mm/vmscan.c: age @nr pages from the tail of an
 * active list to the head of the inactive one.  From 2.6.28 every page
 * goes, the accessed bits of its PTEs cleared on the way (a VM_EXEC file
 * page would stay: there are none here).  2.6.26 keeps a mapped page
 * active when it was referenced, when mapped pages are not to be
 * reclaimed yet (calc_reclaim_mapped()), or when it is anon and the
 * machine has no swap.
 */
static void shrink_active_list(struct mem_cgroup *memcg, enum lru_list lru, unsigned long nr,
			       struct scan_control *sc)
{
	struct machine *m = cur_machine;
	LIST_HEAD(hold);
	struct page *page, *next;

	isolate_lru_pages(&memcg->info[0], lru, nr, &hold);
	list_for_each_entry_safe(page, next, &hold, lru) {
		unsigned long vm_flags;
		int keep = 0;

		list_del(&page->lru);
		/* the page lock keeps a file page's mapping while its PTEs are looked at */
		if (trylock_page(page)) {
			if (m->kernel < EMU_KERNEL_2_6_34)
				keep = page_mapcount(page) &&
				       (!sc->reclaim_mapped || (!m->nr_swap && PageAnon(page)) ||
					page_referenced(page, sc->target, &vm_flags) +
					TestClearPageFlag(page, PG_referenced));
			else
				page_referenced(page, sc->target, &vm_flags);
			unlock_page(page);
		} else {
			keep = m->kernel < EMU_KERNEL_2_6_34;	/* rmap contention counts as referenced */
		}
		if (!keep)
			ClearPageFlag(page, PG_active);
		putback_lru_page(page);
	}
}

/*
 * shrink_list(), mm/vmscan.c: an active list is aged only when its
 * inactive partner runs low (6.1: may_deactivate, judged on the reclaim's
 * group; 2.6.34 - 3.4: on this group, inactive_list_is_low(); 2.6.26
 * ages it every time, in proportion to its size).
 */
static unsigned long shrink_list(struct mem_cgroup *memcg, enum lru_list lru, unsigned long nr,
				 struct scan_control *sc)
{
	struct machine *m = cur_machine;
	struct mem_cgroup_per_zone *mz = &memcg->info[0];

	if (!is_active_lru(lru))
		return shrink_inactive_list(memcg, lru, nr, sc);
	if (m->kernel >= EMU_KERNEL_6_1) {
		if (sc->may_deactivate & (is_file_lru(lru) ? DEACTIVATE_FILE : DEACTIVATE_ANON))
			shrink_active_list(memcg, lru, nr, sc);
		else
			sc->skipped_deactivate = 1;
	} else if (m->kernel < EMU_KERNEL_2_6_34 ||
		   inactive_is_low(m, lru_count(mz, lru - 1), lru_count(mz, lru), is_file_lru(lru))) {
		shrink_active_list(memcg, lru, nr, sc);
	}
	return 0;
}

/* Anon pages are worth scanning with free swap, or for lazy-move's recharges. */
static int can_reclaim_anon_pages(struct mem_cgroup *memcg)
{
	return swap_available() || memcg_page_state(memcg, EMU_STAT_WRONG_CHARGE) > 0;
}

enum scan_balance { SCAN_EQUAL, SCAN_FRACT, SCAN_ANON, SCAN_FILE };

/*
 * get_scan_count(), mm/vmscan.c 6.1: how many pages of each list to scan
 * at this priority, each list's size >> priority, split between anon and
 * file.  File only without swap, or when the group's memory.swappiness is
 * 0, or while the inactive file list is big enough (cache_trim_mode);
 * both by size at priority 0 (swappiness not 0); otherwise anon gets swappiness and file
 * 200 - swappiness, each over its cost (lru_note_cost()).  2.6.26 has one
 * list per state and no balance: both types by size when there is swap.
 */
static void get_scan_count(struct mem_cgroup *memcg, struct scan_control *sc, unsigned long *nr)
{
	struct machine *m = cur_machine;
	struct mem_cgroup_per_zone *mz = &memcg->info[0];
	int swappiness = atomic_load(&memcg->swappiness);
	unsigned long long fraction[2] = { 0, 0 }, denominator = 1;
	enum scan_balance balance;

	if (!can_reclaim_anon_pages(memcg))
		balance = SCAN_FILE;
	else if (m->kernel < EMU_KERNEL_2_6_34)
		balance = SCAN_EQUAL;
	else if (sc->target && !swappiness)
		balance = SCAN_FILE;
	else if (!sc->priority && swappiness)
		balance = SCAN_EQUAL;
	else if (sc->cache_trim_mode)
		balance = SCAN_FILE;
	else {
		unsigned long long total = sc->anon_cost + sc->file_cost;
		unsigned long long anon_cost = total + sc->anon_cost, file_cost = total + sc->file_cost;

		total = anon_cost + file_cost;
		fraction[0] = (unsigned long long)swappiness * (total + 1) / (anon_cost + 1);
		fraction[1] = (unsigned long long)(200 - swappiness) * (total + 1) / (file_cost + 1);
		denominator = fraction[0] + fraction[1];
		balance = SCAN_FRACT;
	}
	for (int lru = 0; lru < LRU_UNEVICTABLE; lru++) {
		unsigned long scan = lru_count(mz, (enum lru_list)lru) >> sc->priority;
		int file = is_file_lru((enum lru_list)lru);

		if (balance == SCAN_FRACT)
			scan = denominator ? (unsigned long)(scan * fraction[file] / denominator) : 0;
		else if ((balance == SCAN_FILE && !file) || (balance == SCAN_ANON && file))
			scan = 0;
		nr[lru] = scan;
	}
}

/*
 * shrink_lruvec(), mm/vmscan.c 6.1, for one group: the lists in turn, 32
 * pages at a time, until get_scan_count()'s counts are done.  Once the
 * group alone has freed what the reclaim wants, the smaller of anon and
 * file stops and the other is cut to the same share of its count (2.6.26
 * scans its counts out).  Then the active anon list is aged if the
 * inactive one is low and there is swap.
 */
static unsigned long shrink_lruvec(struct mem_cgroup *memcg, struct scan_control *sc)
{
	struct machine *m = cur_machine;
	struct mem_cgroup_per_zone *mz = &memcg->info[0];
	unsigned long nr[LRU_UNEVICTABLE], targets[LRU_UNEVICTABLE], nr_reclaimed = 0, scanned = 0;
	int scan_adjusted = m->kernel < EMU_KERNEL_2_6_34;

	get_scan_count(memcg, sc, nr);
	memcpy(targets, nr, sizeof(nr));
	while (nr[LRU_INACTIVE_ANON] || nr[LRU_ACTIVE_FILE] || nr[LRU_INACTIVE_FILE] ||
	       (m->kernel < EMU_KERNEL_2_6_34 && nr[LRU_ACTIVE_ANON])) {
		unsigned long nr_file, nr_anon, percentage;
		int stop, other;

		for (int lru = 0; lru < LRU_UNEVICTABLE; lru++) {
			unsigned long n = min(nr[lru], SWAP_CLUSTER_MAX);

			if (!n)
				continue;
			nr[lru] -= n;
			scanned += n;
			nr_reclaimed += shrink_list(memcg, (enum lru_list)lru, n, sc);
		}
		if (nr_reclaimed < sc->nr_to_reclaim || scan_adjusted)
			continue;
		nr_file = nr[LRU_INACTIVE_FILE] + nr[LRU_ACTIVE_FILE];
		nr_anon = nr[LRU_INACTIVE_ANON] + nr[LRU_ACTIVE_ANON];
		if (!nr_file || !nr_anon)
			break;
		if (nr_file > nr_anon) {
			stop = LRU_INACTIVE_ANON;
			percentage = nr_anon * 100 / (targets[LRU_INACTIVE_ANON] + targets[LRU_ACTIVE_ANON] + 1);
		} else {
			stop = LRU_INACTIVE_FILE;
			percentage = nr_file * 100 / (targets[LRU_INACTIVE_FILE] + targets[LRU_ACTIVE_FILE] + 1);
		}
		nr[stop] = nr[stop + 1] = 0;
		other = stop == LRU_INACTIVE_FILE ? LRU_INACTIVE_ANON : LRU_INACTIVE_FILE;
		for (int lru = other; lru <= other + 1; lru++) {
			unsigned long done = targets[lru] - nr[lru];

			nr[lru] = targets[lru] * (100 - percentage) / 100;
			nr[lru] -= min(nr[lru], done);
		}
		scan_adjusted = 1;
	}
	if (m->kernel >= EMU_KERNEL_2_6_34 && swap_available() &&
	    inactive_is_low(m, lru_count(mz, LRU_INACTIVE_ANON), lru_count(mz, LRU_ACTIVE_ANON), 0))
		shrink_active_list(memcg, LRU_ACTIVE_ANON, SWAP_CLUSTER_MAX, sc);
	trace_instant(EMU_TRACE_SHRINK, memcg->id, (long long)scanned, (long long)nr_reclaimed, 0);
	return nr_reclaimed;
}

/* Each group of @root's subtree, live, in id order (mem_cgroup_iter()). */
#define for_each_mem_cgroup_tree(mc, id, root)						\
	for (int id = 0; mem_cgroup_by_index(cur_machine, id, &mc); id++)		\
		if (mc && !mc->dead && mem_cgroup_is_descendant(mc, root))

/*
 * prepare_scan_count(), mm/vmscan.c 6.1, at each priority: whether the
 * active lists may be aged (inactive_is_low() over the reclaim's whole
 * subtree, or forced), cache_trim_mode, and the reclaim group's costs.
 * calc_reclaim_mapped(), 2.6.26: whether mapped pages may leave the
 * active list, from the share of the group that is mapped anon, the
 * priority and the active:inactive imbalance (vm_swappiness 60).
 */
static void prepare_scan_count(struct mem_cgroup *root, struct scan_control *sc)
{
	struct machine *m = cur_machine;
	unsigned long n[NR_LRU_LISTS] = { 0 };
	struct mem_cgroup *mc;

	for_each_mem_cgroup_tree(mc, id, root)
		for (int lru = 0; lru < LRU_UNEVICTABLE; lru++)
			n[lru] += lru_count(&mc->info[0], (enum lru_list)lru);
	if (m->kernel < EMU_KERNEL_2_6_34) {
		long total = (long)(res_counter_read_usage(&root->res) >> PAGE_SHIFT) + 1;
		long mapped_ratio = memcg_page_state(root, EMU_STAT_RSS) * 100 / total;
		long imbalance = (long)((n[LRU_ACTIVE_ANON] + n[LRU_ACTIVE_FILE]) /
					(n[LRU_INACTIVE_ANON] + n[LRU_INACTIVE_FILE] + 1));

		imbalance = imbalance * 61 / 100 * mapped_ratio / 100;
		sc->reclaim_mapped = mapped_ratio / 2 + (100 >> sc->priority) + 60 + imbalance >= 100;
		return;
	}
	sc->may_deactivate = 0;
	if (sc->force_deactivate || inactive_is_low(m, n[LRU_INACTIVE_ANON], n[LRU_ACTIVE_ANON], 0))
		sc->may_deactivate |= DEACTIVATE_ANON;
	if (sc->force_deactivate || inactive_is_low(m, n[LRU_INACTIVE_FILE], n[LRU_ACTIVE_FILE], 1))
		sc->may_deactivate |= DEACTIVATE_FILE;
	sc->cache_trim_mode = m->kernel >= EMU_KERNEL_6_1 && (n[LRU_INACTIVE_FILE] >> sc->priority) &&
			      !(sc->may_deactivate & DEACTIVATE_FILE);
	spin_lock(&root->info[0].lru_lock);
	sc->anon_cost = root->info[0].anon_cost;
	sc->file_cost = root->info[0].file_cost;
	spin_unlock(&root->info[0].lru_lock);
}

/*
 * try_to_free_mem_cgroup_pages() and do_try_to_free_pages(), mm/vmscan.c:
 * from DEF_PRIORITY down, each round visits every group of @memcg's subtree
 * (shrink_node_memcgs(), here in id order) for its share, the size of its
 * lists >> priority, so reclaim falls on the groups in proportion to their
 * size; it ends after the round that has freed SWAP_CLUSTER_MAX pages (or
 * @nr_pages).  6.1: a reclaim that freed nothing because it left active
 * lists alone starts over, aging them (force_deactivate).  Lazy pages
 * (WRONG_CHARGE) sit at the reclaim end and go first.
 */
unsigned long try_to_free_mem_cgroup_pages(struct mem_cgroup *memcg, unsigned long nr_pages)
{
	struct machine *m = cur_machine;
	struct scan_control sc = {
		/* the root is global reclaim: every task's references count */
		.target = memcg == m->memcgs[0] ? NULL : memcg,
		.nr_to_reclaim = max(nr_pages, SWAP_CLUSTER_MAX),
	};
	unsigned long reclaimed = 0;
	struct mem_cgroup *mc;
	TRACE_SLICE(EMU_TRACE_RECLAIM, memcg->id, (long long)sc.nr_to_reclaim, 0, &reclaimed);

	lru_add_drain();	/* shrink_inactive_list()/shrink_active_list(): this CPU's batches */
	for (;;) {
		for (sc.priority = DEF_PRIORITY; sc.priority >= 0 && reclaimed < sc.nr_to_reclaim;
		     sc.priority--) {
			prepare_scan_count(memcg, &sc);
			for_each_mem_cgroup_tree(mc, id, memcg) {
				reclaimed += shrink_lruvec(mc, &sc);
				deferred_split_scan(mc, sc.priority);	/* shrink_slab() */
			}
		}
		if (reclaimed || !sc.skipped_deactivate || sc.force_deactivate)
			break;
		sc.force_deactivate = 1;
		sc.skipped_deactivate = 0;
	}
	return reclaimed;
}
