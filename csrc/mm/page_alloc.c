/* Page frames: mem_map and an order-0 free list (mm/page_alloc.c). */
#include "../include/linux/mm.h"

static void prep_new_page(struct page *page);

/* alloc_page(), mm/page_alloc.c (order 0): NULL when RAM is exhausted. */
struct page *alloc_page(void)
{
	struct machine *m = cur_machine;
	struct zone *zone = &m->zone;
	struct page *page = NULL;

	spin_lock(&zone->lock);
	if (list_empty(&zone->free_list) && zone->next_fresh >= m->nr_pages &&
	    !list_empty(&zone->free_huge)) {
		/* expand(): break a free order-9 block into order-0 frames */
		struct page *head = list_first_entry(&zone->free_huge, struct page, lru);

		list_del(&head->lru);
		for (unsigned long i = 0; i < HPAGE_PMD_NR; i++)
			list_add_tail(&head[i].lru, &zone->free_list);
	}
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
	prep_new_page(page);
	return page;
}

/*
 * __alloc_pages(order 9) for a transparent huge page, without compaction:
 * a free order-9 block, else never-used frames from the next aligned
 * boundary (the frames skipped on the way go to the order-0 list).  NULL
 * when neither is there: the fault falls back to 4 KiB pages.
 */
struct page *alloc_huge_page(void)
{
	struct machine *m = cur_machine;
	struct zone *zone = &m->zone;
	struct page *head = NULL;

	spin_lock(&zone->lock);
	if (!list_empty(&zone->free_huge)) {
		head = list_first_entry(&zone->free_huge, struct page, lru);
		list_del(&head->lru);
	} else {
		unsigned long start = (zone->next_fresh + HPAGE_PMD_NR - 1) & ~(HPAGE_PMD_NR - 1);

		if (start + HPAGE_PMD_NR <= m->nr_pages) {
			for (; zone->next_fresh < start; zone->next_fresh++) {
				struct page *skipped = &m->mem_map[zone->next_fresh];

				atomic_store(&skipped->flags, 1UL << PG_buddy);
				atomic_store(&skipped->_mapcount, -1);
				list_add_tail(&skipped->lru, &zone->free_list);
			}
			head = &m->mem_map[start];
			zone->next_fresh = start + HPAGE_PMD_NR;
		}
	}
	if (head)
		zone->nr_free -= HPAGE_PMD_NR;
	spin_unlock(&zone->lock);
	if (!head)
		return NULL;
	/* prep_compound_page() */
	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++) {
		prep_new_page(&head[i]);
		atomic_store(&head[i].flags, 1UL << (i ? PG_tail : PG_head));
	}
	atomic_store(&head->_count, 1);
	for (unsigned long i = 1; i < HPAGE_PMD_NR; i++)
		atomic_store(&head[i]._count, 0);
	return head;
}

/* prep_new_page(), mm/page_alloc.c: a fresh frame with one reference. */
static void prep_new_page(struct page *page)
{
	atomic_store(&page->flags, 0);
	atomic_store(&page->_count, 1);
	atomic_store(&page->_mapcount, -1);
	INIT_LIST_HEAD(&page->lru);
	page->mapping = 0;
	page->index = 0;
	atomic_store(&page->page_cgroup, 0);
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

/* free_compound_page(), mm/page_alloc.c: the whole order-9 block back, as one. */
static void free_huge_page_to_zone(struct page *head)
{
	struct zone *zone = &cur_machine->zone;

	BUG_ON(atomic_load(&head->page_cgroup) != 0);
	BUG_ON(page_mapcount(head) != 0);
	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++) {
		atomic_store(&head[i].flags, 1UL << PG_buddy);
		head[i].mapping = 0;
	}
	spin_lock(&zone->lock);
	list_add(&head->lru, &zone->free_huge);
	zone->nr_free += HPAGE_PMD_NR;
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
	if (PageHead(page))
		free_huge_page_to_zone(page);
	else
		free_page_to_zone(page);
}
