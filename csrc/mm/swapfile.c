/* Swap slots (mm/swapfile.c): a reference count and the owning group per slot. */
#include "../include/linux/mm.h"

/* get_swap_page(), mm/swapfile.c: a free slot with one reference, or -1. */
long get_swap_page(void)
{
	struct machine *m = cur_machine;
	long off = -1;

	spin_lock(&m->swap_lock);
	if (atomic_load(&m->nr_swap_free) > 0) {
		for (unsigned long n = 0; n < m->nr_swap; n++) {
			unsigned long i = (m->swap_cursor + n) % m->nr_swap;

			if (i == 0)
				continue;	/* slot 0 stays unused, as the swap header */
			if (!atomic_load(&m->swap_map[i])) {
				atomic_store(&m->swap_map[i], 1);
				m->swap_cursor = i + 1;
				atomic_fetch_sub(&m->nr_swap_free, 1);
				off = (long)i;
				break;
			}
		}
	}
	spin_unlock(&m->swap_lock);
	return off;
}

/* swap_duplicate(), mm/swapfile.c */
void swap_duplicate(unsigned long off)
{
	atomic_fetch_add(&cur_machine->swap_map[off], 1);
}

/* swap_free(), mm/swapfile.c: the last reference frees the slot and its record. */
void swap_free(unsigned long off)
{
	struct machine *m = cur_machine;

	spin_lock(&m->swap_lock);
	BUG_ON(atomic_load(&m->swap_map[off]) == 0);
	if (atomic_fetch_sub(&m->swap_map[off], 1) == 1) {
		mem_cgroup_uncharge_swap(m, off);
		atomic_fetch_add(&m->nr_swap_free, 1);
	}
	spin_unlock(&m->swap_lock);
}

/* vm_swap_full(), include/linux/swap.h: more than half the swap space is in use. */
int vm_swap_full(void)
{
	struct machine *m = cur_machine;

	return m->nr_swap && atomic_load(&m->nr_swap_free) * 2 < (long)(m->nr_swap - 1);
}

/* folio_swapped(), mm/swapfile.c: does a PTE or shmem slot still hold the cached page's slot? */
int page_swapped(struct page *page)
{
	return PageSwapCache(page) && atomic_load(&cur_machine->swap_map[page->private]) > 1;
}

/*
 * try_to_free_swap() (folio_free_swap()), mm/swapfile.c 6.1: with the page
 * locked, drop it from the swap cache when nothing else holds its slot.
 * 1 if it went.
 */
int try_to_free_swap(struct page *page)
{
	if (!PageSwapCache(page) || page_swapped(page))
		return 0;
	delete_from_swap_cache(page);
	return 1;
}

/*
 * free_swap_and_cache(), mm/swapfile.c 6.1: a zapped swap PTE's reference
 * goes; when the swap cache's is then the last and its page is unmapped,
 * the page leaves the cache (__try_to_reclaim_swap(TTRS_UNMAPPED)).
 */
void free_swap_and_cache(unsigned long off)
{
	struct page *page;

	swap_free(off);
	if (atomic_load(&cur_machine->swap_map[off]) != 1 || !(page = lookup_swap_cache(off)))
		return;
	free_swap_cache(page);
	put_page(page);
}
