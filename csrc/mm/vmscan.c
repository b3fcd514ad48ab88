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
		return -EAGAIN;
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
	if (mapping && !try_to_unmap(page, &memcg)) {
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

	if (!mapping || try_to_unmap(page, &memcg))
		return -EAGAIN;
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

/* shrink_page_list(), mm/vmscan.c: free what can be freed, put the rest back. */
static unsigned long shrink_page_list(struct list_head *page_list)
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
			if (PageSwapBacked(page))
				ret = reclaim_swapbacked(page);
			else
				ret = reclaim_file(page);
		}
		unlock_page(page);
		if (ret == 0) {
			nr_reclaimed++;
			put_page(page);	/* unmapped and out of its file: the last reference */
		} else {
			putback_lru_page(page);
		}
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

/* shrink_active_list(), mm/vmscan.c: age pages from the active to the inactive list. */
static unsigned long shrink_active_list(struct mem_cgroup_per_zone *mz, enum lru_list lru,
					unsigned long nr)
{
	unsigned long moved = 0;

	spin_lock(&mz->lru_lock);
	while (moved < nr && !list_empty(&mz->lists[lru])) {
		struct page *page = list_last_entry(&mz->lists[lru], struct page, lru);

		ClearPageFlag(page, PG_active);
		list_move(&page->lru, &mz->lists[lru - 1]);
		mz->count[lru] -= thp_nr_pages(page);
		mz->count[lru - 1] += thp_nr_pages(page);
		moved++;
	}
	spin_unlock(&mz->lru_lock);
	return moved;
}

static unsigned long lru_count(struct mem_cgroup_per_zone *mz, enum lru_list lru)
{
	unsigned long n;

	spin_lock(&mz->lru_lock);
	n = mz->count[lru];
	spin_unlock(&mz->lru_lock);
	return n;
}

/*
 * shrink_lruvec() for one group, mm/vmscan.c: its share at @priority, the
 * lists' size >> priority (get_scan_count(): file pages first, anon pages
 * only with free swap), until it alone has freed @nr_to_reclaim.
 */
static unsigned long shrink_mem_cgroup_zone(struct mem_cgroup *memcg, unsigned long nr_to_reclaim,
					    int priority)
{
	struct mem_cgroup_per_zone *mz = &memcg->info[0];
	unsigned long nr_reclaimed = 0, budget, scanned = 0;
	/* anon is worth scanning with free swap, or for lazy-move's recharges */
	int anon = swap_available() || memcg_page_state(memcg, EMU_STAT_WRONG_CHARGE) > 0;

	budget = lru_count(mz, LRU_INACTIVE_FILE) + lru_count(mz, LRU_ACTIVE_FILE);
	if (anon)
		budget += lru_count(mz, LRU_INACTIVE_ANON) + lru_count(mz, LRU_ACTIVE_ANON);
	budget >>= priority;
	while (nr_reclaimed < nr_to_reclaim && budget) {
		LIST_HEAD(page_list);
		unsigned long batch = min(SWAP_CLUSTER_MAX, budget), taken;

		taken = isolate_lru_pages(mz, LRU_INACTIVE_FILE, batch, &page_list);
		if (anon && taken < batch)
			taken += isolate_lru_pages(mz, LRU_INACTIVE_ANON, batch - taken, &page_list);
		if (!taken) {
			taken = shrink_active_list(mz, LRU_ACTIVE_FILE, batch);
			if (anon)
				taken += shrink_active_list(mz, LRU_ACTIVE_ANON, batch - taken);
			if (!taken)
				break;
			continue;
		}
		budget -= min(budget, taken);
		scanned += taken;
		nr_reclaimed += shrink_page_list(&page_list);
	}
	trace_instant(EMU_TRACE_SHRINK, memcg->id, (long long)scanned, (long long)nr_reclaimed, 0);
	return nr_reclaimed;
}

/*
 * try_to_free_mem_cgroup_pages() and do_try_to_free_pages(), mm/vmscan.c:
 * from DEF_PRIORITY down, each round visits every group of @memcg's subtree
 * (shrink_node_memcgs(), here in id order) for its share, the size of its
 * lists >> priority, so reclaim falls on the groups in proportion to their
 * size; it ends after the round that has freed SWAP_CLUSTER_MAX pages (or
 * @nr_pages).  Lazy pages (WRONG_CHARGE) sit at the reclaim end and go
 * first.
 */
unsigned long try_to_free_mem_cgroup_pages(struct mem_cgroup *memcg, unsigned long nr_pages)
{
	struct machine *m = cur_machine;
	unsigned long target = max(nr_pages, SWAP_CLUSTER_MAX), reclaimed = 0;
	TRACE_SLICE(EMU_TRACE_RECLAIM, memcg->id, (long long)target, 0, &reclaimed);

	lru_add_drain();	/* shrink_inactive_list()/shrink_active_list(): this CPU's batches */
	for (int priority = DEF_PRIORITY; priority >= 0 && reclaimed < target; priority--) {
		for (int id = 0;; id++) {
			struct mem_cgroup *mc;

			if (!mem_cgroup_by_index(m, id, &mc))
				break;
			if (!mc || mc->dead || !mem_cgroup_is_descendant(mc, memcg))
				continue;
			reclaimed += shrink_mem_cgroup_zone(mc, target, priority);
			deferred_split_scan(mc, priority);	/* shrink_slab() */
		}
	}
	return reclaimed;
}
