/* Per-CPU LRU add batches (mm/swap.c): new pages reach their LRU list a batch at a time. */
#include "linux/mm.h"

/*
 * PAGEVEC_SIZE, include/linux/pagevec.h: 14 pointers until 4.14, 15 from
 * 4.15 (6.1), 31 from 6.10 (6.13).
 */
void lru_add_init(struct machine *m)
{
	m->pagevec_size = m->kernel >= EMU_KERNEL_6_13 ? 31 : m->kernel >= EMU_KERNEL_6_1 ? 15 : 14;
	for (int cpu = 0; cpu < m->nr_cpus; cpu++)
		spin_lock_init(&m->lru_add[cpu].lock);
}

/*
 * Which of the CPU's batches takes @page: 6.1 has one (lru_add_fn() sorts
 * the pages out as they move); 2.6.28-3.10 one per list, except that an
 * unevictable page goes straight to its list (-1:
 * lru_cache_add_active_or_unevictable()); 2.6.26 lru_add_pvecs and
 * lru_add_active_pvecs (lru_cache_add_active() for anon pages).
 */
static int lru_add_pvec_index(struct machine *m, struct page *page)
{
	if (m->kernel >= EMU_KERNEL_6_1)
		return 0;
	if (m->kernel == EMU_KERNEL_2_6_26)
		return PageActive(page);
	return page_lru(page) == LRU_UNEVICTABLE ? -1 : (int)page_lru(page);
}

/* __pagevec_lru_add(), folio_batch_move_lru() (6.1): onto the lists, then the batch's references go. */
static void pagevec_lru_move(struct pagevec *pvec)
{
	lru_add_page_batch(pvec->pages, pvec->nr, 0);
	for (unsigned int i = 0; i < pvec->nr; i++)
		put_page(pvec->pages[i]);
	pvec->nr = 0;
}

/*
 * lru_cache_add(), folio_add_lru() (6.1), mm/swap.c: into this CPU's batch
 * with a reference; a full batch moves onto the lists.  6.1 moves the
 * batch at once behind a huge page (folio_batch_add_and_move()); we do on
 * every profile, so a huge page is never left in a batch.
 */
void lru_cache_add(struct page *page)
{
	struct machine *m = cur_machine;
	struct lru_add_pvecs *cpu = &m->lru_add[smp_processor_id()];
	int idx = lru_add_pvec_index(m, page);
	struct pagevec *pvec;

	if (idx < 0) {
		lru_add_page(page);
		return;
	}
	get_page(page);
	spin_lock(&cpu->lock);
	pvec = &cpu->pvec[idx];
	pvec->pages[pvec->nr++] = page;
	if (pvec->nr == m->pagevec_size || PageHead(page))
		pagevec_lru_move(pvec);
	spin_unlock(&cpu->lock);
}

/* lru_add_drain_cpu(), mm/swap.c: everything @cpu's batches hold onto the lists. */
static void lru_add_drain_cpu(struct machine *m, int cpu)
{
	struct lru_add_pvecs *c = &m->lru_add[cpu];

	spin_lock(&c->lock);
	for (int i = 0; i < NR_LRU_LISTS; i++)
		if (c->pvec[i].nr)
			pagevec_lru_move(&c->pvec[i]);
	spin_unlock(&c->lock);
}

/* lru_add_drain(), mm/swap.c: this CPU's batches. */
void lru_add_drain(void)
{
	lru_add_drain_cpu(cur_machine, smp_processor_id());
}

/*
 * lru_add_drain_all(), mm/swap.c: every CPU's batches.  The kernel queues
 * lru_add_drain_per_cpu() on each CPU and waits; we drain each under its
 * CPU's lock, which is what that work does.
 */
void lru_add_drain_all(void)
{
	struct machine *m = cur_machine;

	for (int cpu = 0; cpu < m->nr_cpus; cpu++)
		lru_add_drain_cpu(m, cpu);
}

/*
 * Pages of @memcg in any CPU's batch, by the list each will join.  On
 * 2.6.26 a page joined its group's own list at charge
 * (mem_cgroup_charge_common()), so memory.stat counts these there.
 */
void lru_add_count_batched(struct mem_cgroup *memcg, unsigned long *count)
{
	struct machine *m = memcg->machine;

	for (int cpu = 0; cpu < m->nr_cpus; cpu++) {
		struct lru_add_pvecs *c = &m->lru_add[cpu];

		spin_lock(&c->lock);
		for (int i = 0; i < NR_LRU_LISTS; i++)
			for (unsigned int j = 0; j < c->pvec[i].nr; j++)
				if (page_memcg(c->pvec[i].pages[j]) == memcg)
					count[page_lru(c->pvec[i].pages[j])] += thp_nr_pages(c->pvec[i].pages[j]);
		spin_unlock(&c->lock);
	}
}
