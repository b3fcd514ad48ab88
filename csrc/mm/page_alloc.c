/* Page frames: mem_map, the order-0 and order-9 free lists and the per-CPU lists (mm/page_alloc.c). */
#include "../include/linux/mm.h"

static void prep_new_page(struct page *page);

/*
 * zone_batchsize(), mm/page_alloc.c: about a quarter of 1/1024 of the zone,
 * at most 512K (2.6.26) or 1M (6.1) worth, rounded to 2^n - 1; the pcp list
 * may hold 6 batches (pageset_set_batch(); 6.1 sizes high from the
 * watermarks, of the same order).
 */
void pcp_init(struct machine *m)
{
	unsigned long cap = (m->kernel >= EMU_KERNEL_6_1 ? (1UL << 20) : (512UL << 10)) / PAGE_SIZE;
	unsigned long batch = m->nr_pages / 1024;
	int pow = 1;

	if (batch > cap)
		batch = cap;
	batch /= 4;
	if (batch < 1)
		batch = 1;
	while ((unsigned long)pow * 2 <= batch + batch / 2)
		pow *= 2;
	m->pcp_batch = pow - 1 > 0 ? pow - 1 : 1;
	m->pcp_high = 6 * m->pcp_batch;
	for (int cpu = 0; cpu < m->nr_cpus; cpu++) {
		spin_lock_init(&m->pcp[cpu].lock);
		INIT_LIST_HEAD(&m->pcp[cpu].list);
	}
}

/* rmqueue_bulk(), mm/page_alloc.c: up to a batch of frames from the zone, under its lock once. */
static void rmqueue_bulk(struct machine *m, struct per_cpu_pages *pcp)
{
	struct zone *zone = &m->zone;

	spin_lock(&zone->lock);
	for (int i = 0; i < m->pcp_batch; i++) {
		struct page *page;

		if (list_empty(&zone->free_list) && zone->next_fresh >= m->nr_pages &&
		    !list_empty(&zone->free_huge)) {
			/* expand(): break a free order-9 block into order-0 frames */
			struct page *head = list_first_entry(&zone->free_huge, struct page, lru);

			list_del(&head->lru);
			for (unsigned long j = 0; j < HPAGE_PMD_NR; j++)
				list_add_tail(&head[j].lru, &zone->free_list);
		}
		if (!list_empty(&zone->free_list)) {
			page = list_first_entry(&zone->free_list, struct page, lru);
			list_del(&page->lru);
		} else if (zone->next_fresh < m->nr_pages) {
			/* hand out never-used frames lazily: an idle 16G machine costs nothing */
			page = &m->mem_map[zone->next_fresh++];
			atomic_store(&page->flags, 1UL << PG_buddy);
			atomic_store(&page->_mapcount, -1);
		} else {
			break;
		}
		zone->nr_free--;
		list_add_tail(&page->lru, &pcp->list);
		pcp->count++;
	}
	spin_unlock(&zone->lock);
}

/* free_pcppages_bulk(), mm/page_alloc.c: @n frames back to the zone, under its lock once. */
static void free_pcppages_bulk(struct machine *m, struct per_cpu_pages *pcp, int n)
{
	struct zone *zone = &m->zone;

	spin_lock(&zone->lock);
	while (n-- > 0 && !list_empty(&pcp->list)) {
		struct page *page = list_last_entry(&pcp->list, struct page, lru);

		list_move(&page->lru, &zone->free_list);
		pcp->count--;
		zone->nr_free++;
	}
	spin_unlock(&zone->lock);
}

/* drain_all_pages(), mm/page_alloc.c: every CPU's free frames back to the zone. */
void drain_all_pages(struct machine *m)
{
	for (int cpu = 0; cpu < m->nr_cpus; cpu++) {
		struct per_cpu_pages *pcp = &m->pcp[cpu];

		spin_lock(&pcp->lock);
		free_pcppages_bulk(m, pcp, pcp->count);
		spin_unlock(&pcp->lock);
	}
}

/* rmqueue_pcplist(), mm/page_alloc.c: one frame from this CPU's list, refilled a batch at a time. */
static struct page *rmqueue_pcplist(struct machine *m)
{
	struct per_cpu_pages *pcp = &m->pcp[smp_processor_id()];
	struct page *page = NULL;

	spin_lock(&pcp->lock);
	if (list_empty(&pcp->list))
		rmqueue_bulk(m, pcp);
	if (!list_empty(&pcp->list)) {
		page = list_first_entry(&pcp->list, struct page, lru);
		list_del(&page->lru);
		pcp->count--;
	}
	spin_unlock(&pcp->lock);
	return page;
}

/*
 * alloc_page(), mm/page_alloc.c (order 0): NULL when RAM is exhausted.  A
 * frame may wait on another CPU's list: before failing, drain them all
 * (__alloc_pages_direct_reclaim() does, when reclaim did not help).
 */
struct page *alloc_page(void)
{
	struct machine *m = cur_machine;
	struct page *page = rmqueue_pcplist(m);

	if (!page) {
		drain_all_pages(m);
		page = rmqueue_pcplist(m);
	}
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
	if (head) {
		zone->nr_free -= HPAGE_PMD_NR;
		atomic_fetch_add(&zone->nr_compound, 1);
	}
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
	atomic_store(compound_mapcount_ptr(head), -1);
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

/* free_unref_page(), mm/page_alloc.c (free_hot_cold_page() before): onto this CPU's list. */
void free_page_to_zone(struct page *page)
{
	struct machine *m = cur_machine;
	struct per_cpu_pages *pcp = &m->pcp[smp_processor_id()];

	BUG_ON(atomic_load(&page->page_cgroup) != 0);
	BUG_ON(page_mapcount(page) != 0);
	atomic_store(&page->flags, 1UL << PG_buddy);
	page->mapping = 0;
	spin_lock(&pcp->lock);
	list_add(&page->lru, &pcp->list);
	if (++pcp->count >= m->pcp_high)
		free_pcppages_bulk(m, pcp, m->pcp_batch);
	spin_unlock(&pcp->lock);
}

/* free_compound_page(), mm/page_alloc.c: the whole order-9 block back, as one. */
static void free_huge_page_to_zone(struct page *head)
{
	struct zone *zone = &cur_machine->zone;

	BUG_ON(atomic_load(&head->page_cgroup) != 0);
	BUG_ON(page_mapcount(head) != 0);
	atomic_store(compound_mapcount_ptr(head), 0);	/* a free frame's count again */
	for (unsigned long i = 0; i < HPAGE_PMD_NR; i++) {
		atomic_store(&head[i].flags, 1UL << PG_buddy);
		head[i].mapping = 0;
	}
	spin_lock(&zone->lock);
	list_add(&head->lru, &zone->free_huge);
	zone->nr_free += HPAGE_PMD_NR;
	atomic_fetch_sub(&zone->nr_compound, 1);
	spin_unlock(&zone->lock);
}

/*
 * put_page(), mm/swap.c: the last reference takes the page off its LRU
 * (__page_cache_release), drops its charge and frees it.
 */
void put_page(struct page *page)
{
	int old;

	page = compound_head(page);	/* a tail's references are its huge page's */
	old = atomic_fetch_sub(&page->_count, 1);
	BUG_ON(old <= 0);
	if (old != 1)
		return;
	if (PageHead(page))
		free_transhuge_page(page);
	if (PageLRU(page))
		del_page_from_lru(page);
	mem_cgroup_uncharge_page(page);
	if (PageHead(page))
		free_huge_page_to_zone(page);
	else
		free_page_to_zone(page);
}
