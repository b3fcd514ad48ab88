/* Page frames: mem_map and an order-0 free list (mm/page_alloc.c). */
#include "../include/linux/mm.h"

/* alloc_page(), mm/page_alloc.c (order 0): NULL when RAM is exhausted. */
struct page *alloc_page(void)
{
	struct machine *m = cur_machine;
	struct zone *zone = &m->zone;
	struct page *page = NULL;

	spin_lock(&zone->lock);
	if (!list_empty(&zone->free_list)) {
		page = list_first_entry(&zone->free_list, struct page, lru);
		list_del(&page->lru);
	} else if (zone->next_fresh < m->nr_pages) {
		/* hand out never-used frames lazily: an idle 16G machine costs nothing */
		page = &m->mem_map[zone->next_fresh++];
	}
	if (page)
		zone->nr_free--;
	spin_unlock(&zone->lock);
	if (!page)
		return NULL;
	atomic_store(&page->flags, 0);
	atomic_store(&page->_count, 1);
	atomic_store(&page->_mapcount, -1);
	INIT_LIST_HEAD(&page->lru);
	page->mapping = 0;
	page->index = 0;
	atomic_store(&page->page_cgroup, 0);
	return page;
}

/* free_hot_cold_page(), mm/page_alloc.c */
void free_page_to_zone(struct page *page)
{
	struct zone *zone = &cur_machine->zone;

	BUG_ON(atomic_load(&page->page_cgroup) != 0);
	BUG_ON(page_mapcount(page) != 0);
	atomic_store(&page->flags, 1UL << PG_buddy);
	page->mapping = 0;
	spin_lock(&zone->lock);
	list_add(&page->lru, &zone->free_list);
	zone->nr_free++;
	spin_unlock(&zone->lock);
}

/*
 * put_page(), mm/swap.c: the last reference takes the page off its LRU
 * (__page_cache_release), drops its charge and frees it.
 */
void put_page(struct page *page)
{
	int old = atomic_fetch_sub(&page->_count, 1);

	BUG_ON(old <= 0);
	if (old != 1)
		return;
	if (PageLRU(page))
		del_page_from_lru(page);
	mem_cgroup_uncharge_page(page);
	free_page_to_zone(page);
}
