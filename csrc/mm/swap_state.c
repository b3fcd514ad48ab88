/*
 * The swap cache (mm/swap_state.c): the page of a swap slot while it is
 * being swapped out, or after a swap-in while the slot is still referenced.
 * m->swap_cache is swap_address_space(), one pointer per slot, under
 * swap_lock; a cached page has PG_swapcache, its slot in page->private, one
 * page reference and one slot reference (the kernel's SWAP_HAS_CACHE).
 */
#include "../include/linux/mm.h"

/*
 * PG_swapcache on or off, and the page's group's cache statistic with it:
 * 6.1's __add_to_swap_cache()/__delete_from_swap_cache() count a swap-cache
 * page in NR_FILE_PAGES (v1 memory.stat "cache") as well as NR_SWAPCACHE
 * (3.4's touch no memcg statistic).  Under the page_cgroup lock, so a move
 * or an uncharge sees flag and statistic agree.
 */
static void swapcache_set(struct page *page, int on)
{
	struct page_cgroup *pc;

	lock_page_cgroup(page);
	if (on)
		SetPageFlag(page, PG_swapcache);
	else
		ClearPageFlag(page, PG_swapcache);
	pc = page_get_page_cgroup(page);
	if (pc && swapcache_in_cache_stat(cur_machine))
		mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_CACHE, on ? 1 : -1);
	unlock_page_cgroup(page);
}

static void __add_to_swap_cache(struct page *page, unsigned long off)
{
	get_page(page);
	page->private = off;
	swapcache_set(page, 1);
	cur_machine->swap_cache[off] = page;
}

/* add_to_swap_cache(), mm/swap_state.c, after swapcache_prepare(): -EEXIST if cached, -ENOENT if freed. */
int add_to_swap_cache(struct page *page, unsigned long off)
{
	struct machine *m = cur_machine;
	int ret = 0;

	spin_lock(&m->swap_lock);
	if (m->swap_cache[off])
		ret = -EEXIST;
	else if (!atomic_load(&m->swap_map[off]))
		ret = -ENOENT;
	if (!ret) {
		atomic_fetch_add(&m->swap_map[off], 1);
		__add_to_swap_cache(page, off);
	}
	spin_unlock(&m->swap_lock);
	return ret;
}

/* add_to_swap(), mm/swap_state.c 6.1: a new slot whose one reference is the swap cache's; -1 if swap is full. */
long add_to_swap(struct page *page)
{
	struct machine *m = cur_machine;
	long off = get_swap_page();

	if (off < 0)
		return -1;
	spin_lock(&m->swap_lock);
	__add_to_swap_cache(page, (unsigned long)off);
	spin_unlock(&m->swap_lock);
	return off;
}

/* lookup_swap_cache() (find_get_page() on swap_address_space()): the cached page, with a reference. */
struct page *lookup_swap_cache(unsigned long off)
{
	struct machine *m = cur_machine;
	struct page *page;

	spin_lock(&m->swap_lock);
	page = m->swap_cache[off];
	if (page && !get_page_unless_zero(page))
		page = NULL;
	spin_unlock(&m->swap_lock);
	return page;
}

/*
 * mem_cgroup_uncharge_swapcache(), mm/memcontrol.c 2.6.34-3.4 (from
 * swapcache_free()): a page leaving the swap cache unmapped is uncharged
 * then, not when it is freed.  (2.6.26 uncharged it at its last unmap.)
 */
static void mem_cgroup_uncharge_swapcache(struct page *page)
{
	if (uncharge_at_unmap(cur_machine))
		mem_cgroup_uncharge_unmapped(page);
}

static void __delete_from_swap_cache(struct page *page)
{
	cur_machine->swap_cache[page->private] = NULL;
	swapcache_set(page, 0);
}

/* delete_from_swap_cache(), mm/swap_state.c: the page locked; its slot and page references go. */
void delete_from_swap_cache(struct page *page)
{
	struct machine *m = cur_machine;

	spin_lock(&m->swap_lock);
	__delete_from_swap_cache(page);
	spin_unlock(&m->swap_lock);
	swap_free(page->private);	/* put_swap_folio() */
	mem_cgroup_uncharge_swapcache(page);
	put_page(page);
}

/*
 * __remove_mapping() of a swap-cache page, mm/vmscan.c 6.1: when only the
 * cache and reclaim's isolation hold it (the refcount freeze at 2), the
 * slot's group is recorded (mem_cgroup_swapout()) and the page leaves the
 * cache; the caller's put_page() frees it.  -EAGAIN if someone took it.
 */
int remove_swap_cache_mapping(struct page *page, struct mem_cgroup *swap_memcg)
{
	struct machine *m = cur_machine;
	unsigned long off = page->private;
	int frozen;

	/* recorded as it leaves, so a racing swap-in finds the page or the record */
	spin_lock(&m->swap_lock);
	frozen = page_count(page) == 2 && !page_mapcount(page);
	if (frozen) {
		mem_cgroup_swapout(page, off, swap_memcg);
		__delete_from_swap_cache(page);
	}
	spin_unlock(&m->swap_lock);
	if (!frozen)
		return -EAGAIN;
	swap_free(off);
	mem_cgroup_uncharge_swapcache(page);
	atomic_fetch_sub(&page->_count, 1);
	return 0;
}

/*
 * free_swap_cache(), mm/swap_state.c: a page whose mapping was just zapped
 * leaves the swap cache when nothing else holds it or its slot.  The caller
 * still holds a reference.
 */
void free_swap_cache(struct page *page)
{
	if (PageSwapCache(page) && !page_mapcount(page) && trylock_page(page)) {
		try_to_free_swap(page);
		unlock_page(page);
	}
}
