/*
 * Memory controller: page_cgroup, charge, uncharge, move_account and the
 * per-memcg LRU placement, after mm/memcontrol.c (2.6.26, with the later
 * pieces each function names).
 */
#include "../include/linux/mm.h"
#include "../emu/trace.h"

/* page_assign_page_cgroup(), mm/memcontrol.c 2.6.26: caller holds the lock bit. */
static void page_assign_page_cgroup(struct page *page, struct page_cgroup *pc)
{
	atomic_store(&page->page_cgroup, (uintptr_t)pc | ((uintptr_t)1 << PAGE_CGROUP_LOCK_BIT));
}

struct mem_cgroup *mem_cgroup_lookup(struct machine *m, int id)
{
	struct mem_cgroup *memcg = NULL;

	if (id < 0 || id > MEMCG_ID_MAX)
		return NULL;
	spin_lock(&m->memcg_lock);
	memcg = m->memcgs[id];
	spin_unlock(&m->memcg_lock);
	return (memcg && !memcg->dead) ? memcg : NULL;
}

/* Walk the id table: 0 past its end, else 1 with *memcg the group or NULL. */
int mem_cgroup_by_index(struct machine *m, int id, struct mem_cgroup **memcg)
{
	int ok;

	spin_lock(&m->memcg_lock);
	ok = id < m->nr_memcg_ids;
	*memcg = ok ? m->memcgs[id] : NULL;
	spin_unlock(&m->memcg_lock);
	return ok;
}

/* mem_cgroup_is_descendant(), mm/memcontrol.c */
int mem_cgroup_is_descendant(struct mem_cgroup *memcg, struct mem_cgroup *root)
{
	/* charges climb only through hierarchical links */
	for (; memcg; memcg = memcg->res.parent ? memcg->parent : NULL)
		if (memcg == root)
			return 1;
	return 0;
}

/* mem_cgroup_from_task(), mm/memcontrol.c */
struct mem_cgroup *mem_cgroup_from_task(struct task_struct *p)
{
	return atomic_load(&p->mem_cgroup);
}

/* get_mem_cgroup_from_mm(), mm/memcontrol.c: the mm owner's group. */
struct mem_cgroup *try_get_mem_cgroup_from_mm(struct mm_struct *mm)
{
	return mem_cgroup_from_task(mm->owner);
}

/* mem_cgroup_margin(), mm/memcontrol.c 3.x: room left, the tightest level counting. */
unsigned long long mem_cgroup_margin(struct mem_cgroup *memcg)
{
	unsigned long long margin = RESOURCE_MAX;

	for (int memsw = 0; memsw <= do_swap_account(memcg->machine); memsw++) {
		for (struct res_counter *c = memsw ? &memcg->memsw : &memcg->res; c; c = c->parent) {
			spin_lock(&c->lock);
			if (c->limit - c->usage < margin)
				margin = c->limit > c->usage ? c->limit - c->usage : 0;
			spin_unlock(&c->lock);
		}
	}
	return margin;
}

/* do_swap_account (2.6.29-3.x), do_memsw_account() (6.1): memory+swap is counted from 2.6.29 on. */
int do_swap_account(struct machine *m)
{
	return m->kernel >= EMU_KERNEL_2_6_34;
}

/*
 * The counters of a charge, try_charge_memcg(), mm/memcontrol.c 6.1:
 * memory+swap first, then memory; no reclaim.  On failure *over_limit is
 * the group whose counter refused and *memsw says which counter it was.
 */
int mem_cgroup_charge_counters(struct mem_cgroup *memcg, unsigned long nr_pages,
			       struct mem_cgroup **over_limit, int *memsw)
{
	unsigned long long val = nr_pages * PAGE_SIZE;
	int account = do_swap_account(memcg->machine);
	struct res_counter *fail;

	*memsw = 0;
	if (account && res_counter_charge(&memcg->memsw, val, &fail)) {
		*over_limit = container_of(fail, struct mem_cgroup, memsw);
		*memsw = 1;
		return -ENOMEM;
	}
	if (!res_counter_charge(&memcg->res, val, &fail))
		return 0;
	if (account)
		res_counter_uncharge(&memcg->memsw, val);
	*over_limit = container_of(fail, struct mem_cgroup, res);
	return -ENOMEM;
}

/* Reclaim that may not swap: set while a charge over its memsw limit reclaims (6.1 ~MEMCG_RECLAIM_MAY_SWAP). */
__thread int current_reclaim_noswap;

/* 2.6.26: set when a charge gave up; the memcg OOM killer runs once the charge unwinds. */
__thread struct mem_cgroup *current_memcg_in_oom;

/* Upstream move in flight: chargers wait instead of failing (mem_cgroup_wait_acct_move). */
int mem_cgroup_wait_acct_move(struct mem_cgroup *over_limit);

/*
 * The charge batch: none in 2.6.26; CHARGE_BATCH 32 from 2.6.33
 * (__mem_cgroup_try_charge()); MEMCG_CHARGE_BATCH 64 in 6.1.
 */
static unsigned long charge_batch(struct machine *m)
{
	if (m->kernel < EMU_KERNEL_2_6_34)
		return 1;
	return m->kernel < EMU_KERNEL_6_1 ? 32 : 64;
}

/* MEM_CGROUP_RECLAIM_RETRIES 5 (2.6.26-3.x), MAX_RECLAIM_RETRIES 16 (6.1). */
static int reclaim_retries(struct machine *m)
{
	return m->kernel < EMU_KERNEL_6_1 ? MEM_CGROUP_RECLAIM_RETRIES : MAX_RECLAIM_RETRIES;
}

/*
 * The per-CPU charge stock, mm/memcontrol.c (2.6.33 on; 6.1's form): what a
 * batch charged beyond need, handed out later without touching the
 * counters.  The root is never stocked: 6.1 does not charge it at all.
 */
static struct memcg_stock_pcp *this_cpu_stock(struct machine *m)
{
	return &m->memcg_stock[smp_processor_id()];
}

/* consume_stock(), 6.1: take the charge from this CPU's stock if it holds enough of @memcg's. */
static int consume_stock(struct machine *m, struct mem_cgroup *memcg, unsigned long nr_pages)
{
	struct memcg_stock_pcp *stock;
	int ret = 0;

	/* before 6.1 (3.4: nr_pages == 1 && consume_stock()) single pages only */
	if (nr_pages > charge_batch(m) || (m->kernel < EMU_KERNEL_6_1 && nr_pages != 1))
		return 0;
	stock = this_cpu_stock(m);
	spin_lock(&stock->stock_lock);	/* local_lock_irqsave(&memcg_stock.stock_lock) */
	if (stock->cached == memcg && stock->nr_pages >= nr_pages) {
		stock->nr_pages -= (unsigned int)nr_pages;
		ret = 1;
	}
	spin_unlock(&stock->stock_lock);
	return ret;
}

/* drain_stock(), 6.1: give what the stock holds back to its group's counters. */
static void drain_stock(struct memcg_stock_pcp *stock)
{
	lockdep_assert_held(&stock->stock_lock);
	if (stock->cached && stock->nr_pages)
		mem_cgroup_cancel_charge(stock->cached, stock->nr_pages);
	stock->nr_pages = 0;
	stock->cached = NULL;
}

/* refill_stock(), 6.1: keep @nr_pages charged to @memcg on this CPU; past the batch, give all back. */
static void refill_stock(struct machine *m, struct mem_cgroup *memcg, unsigned long nr_pages)
{
	struct memcg_stock_pcp *stock = this_cpu_stock(m);

	spin_lock(&stock->stock_lock);
	if (stock->cached != memcg) {
		drain_stock(stock);
		stock->cached = memcg;
	}
	stock->nr_pages += (unsigned int)nr_pages;
	if (stock->nr_pages > charge_batch(m))
		drain_stock(stock);
	spin_unlock(&stock->stock_lock);
}

/*
 * drain_all_stock(), 6.1 (drain_all_stock_sync/async before): every CPU's
 * stock of @root or a group under it (NULL: all) goes back.  6.1 queues the
 * other CPUs' drains on their workqueues; we run each at once under that
 * CPU's lock, which is what the work does when it runs.
 */
void drain_all_stock(struct mem_cgroup *root)
{
	struct machine *m = cur_machine;

	for (int cpu = 0; cpu < m->nr_cpus; cpu++) {
		struct memcg_stock_pcp *stock = &m->memcg_stock[cpu];

		spin_lock(&stock->stock_lock);
		if (stock->cached && (!root || mem_cgroup_is_descendant(stock->cached, root)))
			drain_stock(stock);
		spin_unlock(&stock->stock_lock);
	}
}

/*
 * mem_cgroup_oom() and mem_cgroup_out_of_memory(), mm/memcontrol.c 6.1 (the
 * kill inline in the charge path since 4.19): under oom_lock, look at the
 * margin again, then kill.  1 when the charge may retry (a victim was
 * killed, or one is still exiting), 0 when nothing could be killed.  A
 * victim that is the charging task itself exits once the fault unwinds.
 */
static int mem_cgroup_oom(struct mem_cgroup *memcg, unsigned long nr_pages, int *waited)
{
	struct machine *m = cur_machine;
	int victim = 0, ret = 1;

	if (nr_pages > 1UL << PAGE_ALLOC_COSTLY_ORDER)
		return 0;	/* a huge page falls back to small ones instead */
	oom_note(memcg, 0);
	if (atomic_load(&memcg->oom_kill_disable))	/* memory.oom_control: no kill (here: no wait) */
		return 0;
	mutex_lock_sleeping(&m->oom_lock, EMU_WAIT_OOM_LOCK);
	if (mem_cgroup_margin(memcg) < nr_pages * PAGE_SIZE && !current_task_dying()) {
		victim = select_bad_process(memcg);
		if (victim > 0)
			oom_kill_process(m, memcg, victim, victim != current_pid);
		else if (victim < 0)
			/* a victim still exiting stops further kills; a second time, give up
			 * (the kernel's oom_reaper would have marked it MMF_OOM_SKIP by then) */
			ret = !(*waited)++;
		else
			ret = 0;
	}
	pthread_mutex_unlock(&m->oom_lock);
	if (victim > 0)
		oom_note(memcg, victim);
	return ret;
}

/*
 * The charge path, one step per kernel function: mem_cgroup_charge_common()
 * (2.6.26), __mem_cgroup_try_charge()/mem_cgroup_do_charge() (2.6.34-3.4),
 * try_charge_memcg() (6.1).
 *  1. consume_stock(), else charge the batch; a batch that does not fit is
 *     retried with @nr_pages alone (never reclaim on behalf of batching);
 *  2. no __GFP_DIRECT_RECLAIM: fail;
 *  3. try_to_free_mem_cgroup_pages() in the group over its limit;
 *  4. mem_cgroup_margin() re-check: room now, retry;
 *  5. 6.1: drain_all_stock() once and retry; __GFP_NORETRY: fail here;
 *  6. reclaim made progress (2.6.26: any charge; 3.x: one page; 6.1: up to
 *     8 pages): retry without spending a retry;
 *  7. 2.6.34+: mem_cgroup_wait_acct_move(): only now wait for a move;
 *  8. the profile's retries (2.6.26-3.4: 5; 6.1: 16);
 *  9. the OOM killer: 2.6.26 arms it and the charge fails (the caller runs
 *     it and the fault fails); 2.6.34+ kill and retry with fresh retries,
 *     until the charging task itself is the one dying (passed_oom).
 */
int mem_cgroup_try_charge(struct mem_cgroup *memcg, unsigned long nr_pages, int flags,
			  struct mem_cgroup **over_limit)
{
	struct machine *m = cur_machine;
	/* the root is never stocked (6.1 does not charge it) */
	unsigned long batch = memcg->id ? max(charge_batch(m), nr_pages) : nr_pages, reclaimed;
	int nr_retries = reclaim_retries(m), drained = 0, passed_oom = 0, waited = 0;
	struct mem_cgroup *mem_over_limit;
	int memsw;

	for (;;) {
		if (consume_stock(m, memcg, nr_pages))
			return 0;
		if (!mem_cgroup_charge_counters(memcg, batch, &mem_over_limit, &memsw)) {
			if (batch > nr_pages)
				refill_stock(m, memcg, batch - nr_pages);
			return 0;
		}
		if (over_limit)
			*over_limit = mem_over_limit;
		if (batch > nr_pages) {
			batch = nr_pages;
			continue;
		}
		if (!(flags & CHARGE_RECLAIM)) {
			trace_instant(EMU_TRACE_CHARGE_FAIL, mem_over_limit->id, nr_pages, EMU_CHARGE_FAIL_NORECLAIM, 0);
			return -ENOMEM;
		}
		/* before 6.1, mem_cgroup_reclaim() drains the stocks as each round starts */
		if (m->kernel < EMU_KERNEL_6_1)
			drain_all_stock(mem_over_limit);
		/* over memory+swap, swapping out frees nothing of it (~MEMCG_RECLAIM_MAY_SWAP) */
		current_reclaim_noswap = memsw;
		reclaimed = try_to_free_mem_cgroup_pages(mem_over_limit, nr_pages);
		current_reclaim_noswap = 0;
		if (mem_cgroup_margin(mem_over_limit) >= nr_pages * PAGE_SIZE)
			continue;
		if (m->kernel >= EMU_KERNEL_6_1 && !drained) {
			drain_all_stock(mem_over_limit);
			drained = 1;
			continue;
		}
		if (flags & CHARGE_NORETRY) {
			trace_instant(EMU_TRACE_CHARGE_FAIL, mem_over_limit->id, nr_pages, EMU_CHARGE_FAIL_RETRIES, 0);
			return -ENOMEM;
		}
		if (reclaimed && (m->kernel < EMU_KERNEL_2_6_34 || nr_pages <=
				  (m->kernel < EMU_KERNEL_6_1 ? 1UL : 1UL << PAGE_ALLOC_COSTLY_ORDER)))
			continue;
		if (m->kernel >= EMU_KERNEL_2_6_34 && mem_cgroup_wait_acct_move(mem_over_limit))
			continue;
		if (nr_retries-- > 0)
			continue;
		trace_instant(EMU_TRACE_CHARGE_FAIL, mem_over_limit->id, nr_pages,
			      flags & CHARGE_OOM ? EMU_CHARGE_FAIL_OOM : EMU_CHARGE_FAIL_RETRIES, 0);
		if (!(flags & CHARGE_OOM))
			return -ENOMEM;
		if (m->kernel < EMU_KERNEL_2_6_34) {
			current_memcg_in_oom = mem_over_limit;
			return -ENOMEM;
		}
		if (passed_oom && current_task_dying())
			return -ENOMEM;
		if (!mem_cgroup_oom(mem_over_limit, nr_pages, &waited))
			return -ENOMEM;
		passed_oom = 1;
		nr_retries = reclaim_retries(m);
	}
}

/* cancel_charge(), mm/memcontrol.c 6.1: both counters. */
void mem_cgroup_cancel_charge(struct mem_cgroup *memcg, unsigned long nr_pages)
{
	res_counter_uncharge(&memcg->res, nr_pages * PAGE_SIZE);
	if (do_swap_account(memcg->machine))
		res_counter_uncharge(&memcg->memsw, nr_pages * PAGE_SIZE);
}

/* The statistics a charged page contributes to its group, added into @d times @sign. */
static void page_stat_delta(struct page *page, struct page_cgroup *pc, long *d, int sign)
{
	if (PageHead(page)) {	/* only anon pages come huge here */
		d[EMU_STAT_RSS] += sign * (long)HPAGE_PMD_NR;
		/* NR_ANON_THPS: while a PMD maps it (compound_mapcount_update()) */
		if (compound_mapcount(page))
			d[EMU_STAT_RSS_HUGE] += sign * (long)HPAGE_PMD_NR;
	} else if (PcgFlag(pc, PCG_CACHE)) {
		d[EMU_STAT_CACHE] += sign;
		if (PageSwapBacked(page))
			d[EMU_STAT_SHMEM] += sign;
		if (page_mapcount(page) > 0)
			d[EMU_STAT_MAPPED_FILE] += sign;
	} else {
		d[EMU_STAT_RSS] += sign;
		if (PageSwapCache(page) && swapcache_in_cache_stat(cur_machine))	/* NR_FILE_PAGES */
			d[EMU_STAT_CACHE] += sign;
	}
	if (PcgFlag(pc, PCG_WRONG_CHARGE))
		d[EMU_STAT_WRONG_CHARGE] += sign;
}

/* Apply (and clear) accumulated statistics: one atomic add per counter that moved. */
static void mem_cgroup_stat_apply(struct mem_cgroup *memcg, long *d)
{
	for (int i = 0; i < EMU_NR_STATS; i++) {
		if (d[i]) {
			mem_cgroup_stat_add(memcg, i, d[i]);
			d[i] = 0;
		}
	}
}

/* mem_cgroup_charge_statistics(), mm/memcontrol.c */
static void mem_cgroup_charge_statistics(struct mem_cgroup *memcg, struct page *page,
					 struct page_cgroup *pc, int sign)
{
	long d[EMU_NR_STATS] = { 0 };

	page_stat_delta(page, pc, d, sign);
	mem_cgroup_stat_apply(memcg, d);
}

/* The heart of __mem_cgroup_commit_charge(): its page_cgroup lock held, the page charged to no group. */
static void __mem_cgroup_commit_charge(struct page *page, struct mem_cgroup *memcg, enum charge_type ctype)
{
	struct page_cgroup *pc = lookup_page_cgroup(page);
	unsigned long flags = 1UL << PCG_USED;

	if (ctype != MEM_CGROUP_CHARGE_TYPE_MAPPED)
		flags |= 1UL << PCG_CACHE;
	if (ctype == MEM_CGROUP_CHARGE_TYPE_CACHE)
		flags |= 1UL << PCG_FILE;
	BUG_ON(page_get_page_cgroup(page) != NULL);
	if (PcgFlag(pc, PCG_LEAKED))	/* a seed leak ends when the page is charged again */
		mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_LEAKED, -1);
	pc->mem_cgroup = memcg;
	pc->page = page;
	atomic_store(&pc->flags, flags);
	page_assign_page_cgroup(page, pc);
	mem_cgroup_charge_statistics(memcg, page, pc, 1);
	mem_cgroup_stat_add(memcg, EMU_STAT_PGPGIN, 1);
}

/* __mem_cgroup_commit_charge(), mm/memcontrol.c 2.6.29: bind a charged page to its group. */
void mem_cgroup_commit_charge(struct page *page, struct mem_cgroup *memcg, enum charge_type ctype)
{
	lock_page_cgroup(page);
	__mem_cgroup_commit_charge(page, memcg, ctype);
	unlock_page_cgroup(page);
}

/*
 * Take @page off the LRU list it is on, if any (@mz locked): 1 if it was,
 * and the caller puts it back once its group has changed.
 */
static int lru_take_locked(struct mem_cgroup_per_zone *mz, struct page *page)
{
	if (!TestClearPageFlag(page, PG_lru))
		return 0;
	list_del(&page->lru);
	mz->count[page_lru(page)] -= thp_nr_pages(page);
	return 1;
}

/*
 * Let go of the page_cgroup lock and of @mz, the lruvec lock taken before
 * it; a page lru_take_locked() took goes back on the list its charge now
 * says (its group's, or the zone's of uncharged pages).
 */
static void unlock_page_lruvec_cgroup(struct mem_cgroup_per_zone *mz, struct page *page, int on_lru)
{
	unlock_page_cgroup(page);
	spin_unlock(&mz->lru_lock);
	if (on_lru)
		lru_add_page(page);
}

/*
 * A page in use that no group is charged for gets a charge: 2.6.26's
 * mem_cgroup_charge_common() for a page with no page_cgroup, as its first
 * mapping keeps it (page_add_anon_rmap()/page_add_file_rmap() give a later
 * mapping's charge back at once), with 3.x's lrucare: the page leaves the
 * zone's list of uncharged pages for its group's.  -EBUSY (the caller
 * cancels the charge) when it has a group or a mapping by now.
 */
int mem_cgroup_commit_charge_lrucare(struct page *page, struct mem_cgroup *memcg, enum charge_type ctype)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);
	int on_lru = 0, ret = -EBUSY;

	lock_page_cgroup(page);
	if (!page_get_page_cgroup(page) && !page_mapped(page)) {
		on_lru = lru_take_locked(mz, page);
		__mem_cgroup_commit_charge(page, memcg, ctype);
		ret = 0;
	}
	unlock_page_lruvec_cgroup(mz, page, on_lru);
	return ret;
}

/*
 * mem_cgroup_charge_common(), mm/memcontrol.c 2.6.26: charge one page to
 * @memcg, or to the group of @mm's owner.
 */
int mem_cgroup_charge_common(struct page *page, struct mm_struct *mm, struct mem_cgroup *memcg,
			     enum charge_type ctype, int flags)
{
	int ret;

	if (!memcg)
		memcg = try_get_mem_cgroup_from_mm(mm);
	ret = mem_cgroup_try_charge(memcg, 1, flags, NULL);
	if (ret)
		return ret;
	mem_cgroup_commit_charge(page, memcg, ctype);
	return 0;
}

/* Unbind a charged page from its group, its page_cgroup lock held; the caller uncharges the counters. */
static struct mem_cgroup *__mem_cgroup_uncharge(struct page *page, struct page_cgroup *pc)
{
	struct mem_cgroup *memcg = pc->mem_cgroup;

	mem_cgroup_charge_statistics(memcg, page, pc, -1);
	mem_cgroup_stat_add(memcg, EMU_STAT_PGPGOUT, 1);
	atomic_store(&pc->flags, 0);
	pc->mem_cgroup = NULL;
	page_assign_page_cgroup(page, NULL);
	return memcg;
}

/*
 * Uncharge @page, which stays in use (its lruvec @mz and page_cgroup locks
 * held): off its group's list (*@on_lru, for unlock_page_lruvec_cgroup()),
 * marked PCG_DROPPED when @dropped (in use with no charge of its own, for
 * check()).  The caller uncharges the counters.
 */
static struct mem_cgroup *uncharge_in_use(struct mem_cgroup_per_zone *mz, struct page *page,
					  struct page_cgroup *pc, int dropped, int *on_lru)
{
	struct mem_cgroup *memcg;

	*on_lru = lru_take_locked(mz, page);
	memcg = __mem_cgroup_uncharge(page, pc);
	if (dropped)
		atomic_store(&pc->flags, 1UL << PCG_DROPPED);
	return memcg;
}

/*
 * __mem_cgroup_uncharge_common(), mm/memcontrol.c: drop the page's charge.
 * Called when the frame is freed (6.1 uncharges at free time).
 */
void mem_cgroup_uncharge_page(struct page *page)
{
	struct page_cgroup *pc = lookup_page_cgroup(page);
	struct mem_cgroup *memcg;

	lock_page_cgroup(page);
	if (!page_get_page_cgroup(page)) {
		/* a seed leak ends when its page is freed */
		if (PcgFlag(pc, PCG_LEAKED))
			mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_LEAKED, -1);
		atomic_store(&pc->flags, 0);	/* and so does a 2.6.26 dropped charge's mark */
		pc->mem_cgroup = NULL;
		unlock_page_cgroup(page);
		return;
	}
	memcg = __mem_cgroup_uncharge(page, pc);
	unlock_page_cgroup(page);
	mem_cgroup_cancel_charge(memcg, thp_nr_pages(page));
}

/*
 * Does @page (charged: @pc) lose its charge now that nothing maps it,
 * before 3.17?  An anon page does, except in the swap cache on 2.6.34-3.4
 * (2.6.26's swap cache holds no charge); a page-cache page only if its
 * first mapping charged it (2.6.26, after force_empty dropped its charge).
 */
static int uncharged_by_unmap(struct page *page, struct page_cgroup *pc)
{
	if (!PageAnon(page))
		return !PcgFlag(pc, PCG_CACHE);
	return cur_machine->kernel < EMU_KERNEL_2_6_34 || !PageSwapCache(page);
}

/*
 * mem_cgroup_uncharge_page() as page_remove_rmap() called it before 3.17
 * (__mem_cgroup_uncharge_common(MEM_CGROUP_CHARGE_TYPE_MAPPED), 2.6.34-3.4;
 * the page_cgroup's last reference, 2.6.26), and mem_cgroup_uncharge_swapcache()
 * (2.6.34-3.4) as the page leaves the swap cache: a page no PTE or PMD maps
 * any more is uncharged now, whoever else holds it (a CPU's LRU add batch,
 * a move's or reclaim's isolation), if uncharged_by_unmap().  A page on its
 * group's LRU list moves to the zone's list of uncharged pages.
 */
void mem_cgroup_uncharge_unmapped(struct page *page)
{
	struct mem_cgroup_per_zone *mz;
	struct mem_cgroup *memcg = NULL;
	struct page_cgroup *pc = page_get_page_cgroup(page);
	int on_lru = 0;

	if (!pc || (!PageAnon(page) && PcgFlag(pc, PCG_CACHE)))
		return;		/* the common cases, without the locks */
	mz = lock_page_lruvec(page);
	lock_page_cgroup(page);
	pc = page_get_page_cgroup(page);
	/* a page-cache page stays in the cache, with no charge of its own */
	if (pc && !page_mapped(page) && uncharged_by_unmap(page, pc))
		memcg = uncharge_in_use(mz, page, pc, !PageAnon(page), &on_lru);
	unlock_page_lruvec_cgroup(mz, page, on_lru);
	if (memcg)
		mem_cgroup_cancel_charge(memcg, thp_nr_pages(page));
}

/*
 * mem_cgroup_force_empty_list(), mm/memcontrol.c 2.6.26: the page, taken
 * from @memcg's list with a reference, loses its page_cgroup whatever else
 * holds it (mem_cgroup_uncharge_page() there ignores the reference count):
 * it stays in use, charged to no group -- later it is uncharged nowhere,
 * and only a new first mapping charges it again.  Marked PCG_DROPPED, for
 * check().  -EAGAIN if it left @memcg meanwhile.
 */
int mem_cgroup_drop_page(struct page *page, struct mem_cgroup *memcg)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);
	struct mem_cgroup *dropped = NULL;
	struct page_cgroup *pc;
	int on_lru = 0;

	lock_page_cgroup(page);
	pc = page_get_page_cgroup(page);
	if (pc && pc->mem_cgroup == memcg)
		dropped = uncharge_in_use(mz, page, pc, 1, &on_lru);
	unlock_page_lruvec_cgroup(mz, page, on_lru);
	if (!dropped)
		return -EAGAIN;
	mem_cgroup_cancel_charge(memcg, thp_nr_pages(page));
	return 0;
}

/*
 * __memcg_kmem_charge_page(), mm/memcontrol.c 6.1, for a page-table page
 * (GFP_PGTABLE_USER has __GFP_ACCOUNT): charged to @mm's group like any
 * page, reclaim and OOM armed, and counted as kernel memory.  Returns the
 * group (NULL without kmem accounting), or an ERR value when the charge failed.
 */
struct mem_cgroup *memcg_kmem_charge_page(struct mm_struct *mm)
{
	struct mem_cgroup *memcg;

	if (!mm->machine->kmem_account || !mm->owner)
		return NULL;
	memcg = try_get_mem_cgroup_from_mm(mm);
	/* a fork (the owner is still the parent) fails with ENOMEM; a fault goes to the OOM killer */
	if (mem_cgroup_try_charge(memcg, 1, CHARGE_RECLAIM | (mm->owner->mm == mm ? CHARGE_OOM : 0), NULL))
		return ERR_MEMCG;
	atomic_fetch_add(&memcg->kmem, 1);
	return memcg;
}

/*
 * __memcg_kmem_uncharge_page(): the charge goes from the group charged, or
 * -- once that group is removed -- from the ancestor its kernel memory went
 * to (memcg_reparent_objcgs()); memcg_lock orders it against rmdir.
 */
void memcg_kmem_uncharge_page(struct machine *m, struct mem_cgroup *memcg)
{
	if (!memcg)
		return;
	spin_lock(&m->memcg_lock);
	while (memcg->dead)
		memcg = memcg->parent;
	atomic_fetch_sub(&memcg->kmem, 1);
	mem_cgroup_cancel_charge(memcg, 1);
	spin_unlock(&m->memcg_lock);
}

/*
 * page_add_file_rmap()/page_remove_rmap() for page cache, mm/rmap.c with
 * mem_cgroup_update_file_mapped() (2.6.32): the mapcount moves 0<->1 under
 * the page_cgroup lock, so a concurrent move sees mapped_file and the
 * mapcount agree.
 */
void page_file_rmap_update(struct page *page, int delta)
{
	struct page_cgroup *pc;
	int old;

	lock_page_cgroup(page);
	old = atomic_fetch_add(&page->_mapcount, delta);
	pc = page_get_page_cgroup(page);
	if (pc && PcgFlag(pc, PCG_CACHE)) {
		if (delta > 0 && old == -1)
			mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_MAPPED_FILE, 1);
		else if (delta < 0 && old == 0)
			mem_cgroup_stat_add(pc->mem_cgroup, EMU_STAT_MAPPED_FILE, -1);
	}
	unlock_page_cgroup(page);
}

/*
 * The heart of mem_cgroup_move_account(): switch one off-LRU page from
 * @from to @to under its page_cgroup lock, its statistics into @dfrom/@dto.
 * The caller holds @from's lru_lock: whoever holds a group's lru_lock sees
 * the group of its pages stand still (what folio_memcg_lock() gives 6.1).
 */
static int __mem_cgroup_move_account(struct page *page, struct mem_cgroup *from, struct mem_cgroup *to,
				     long *dfrom, long *dto)
{
	struct page_cgroup *pc;

	lockdep_assert_held(&from->info[0].lru_lock);
	BUG_ON(PageLRU(page));
	lock_page_cgroup(page);
	pc = page_get_page_cgroup(page);
	if (!pc || pc->mem_cgroup != from) {
		unlock_page_cgroup(page);
		return -EINVAL;
	}
	page_stat_delta(page, pc, dfrom, -1);
	/* in its task's group now: no longer owed (a plain test first: an atomic per page is dear) */
	if (atomic_load(&pc->flags) & ((1UL << PCG_WRONG_CHARGE) | (1UL << PCG_RECHARGE)))
		atomic_fetch_and(&pc->flags, ~((1UL << PCG_WRONG_CHARGE) | (1UL << PCG_RECHARGE)));
	pc->mem_cgroup = to;
	page_stat_delta(page, pc, dto, 1);
	unlock_page_cgroup(page);
	/* mem_cgroup_charge_statistics() both ways: one pgpgout and one pgpgin event */
	dfrom[EMU_STAT_PGPGOUT]++;
	dto[EMU_STAT_PGPGIN]++;
	return 0;
}

/*
 * mem_cgroup_move_account(), mm/memcontrol.c 2.6.32: hand a page's charge
 * from @from to @to, whose counter the caller has already charged.  The
 * page must be off the LRU, so no list holds it under @from's lock.
 */
int mem_cgroup_move_account(struct page *page, struct mem_cgroup *from, struct mem_cgroup *to,
			    int uncharge_from)
{
	long dfrom[EMU_NR_STATS] = { 0 }, dto[EMU_NR_STATS] = { 0 };
	int ret;

	spin_lock(&from->info[0].lru_lock);
	ret = __mem_cgroup_move_account(page, from, to, dfrom, dto);
	spin_unlock(&from->info[0].lru_lock);
	if (ret)
		return ret;
	mem_cgroup_stat_apply(from, dfrom);
	mem_cgroup_stat_apply(to, dto);
	if (uncharge_from)
		mem_cgroup_cancel_charge(from, thp_nr_pages(page));
	return 0;
}

/*
 * mem_cgroup_move_account() over a batch of off-LRU pages (one PTE table's
 * worth), the statistics applied once: pages not charged to @from are
 * skipped and set to NULL.  Returns how many base pages moved.
 */
unsigned long mem_cgroup_move_account_batch(struct page **pages, unsigned long n,
					    struct mem_cgroup *from, struct mem_cgroup *to)
{
	long dfrom[EMU_NR_STATS] = { 0 }, dto[EMU_NR_STATS] = { 0 };
	unsigned long moved = 0;

	spin_lock(&from->info[0].lru_lock);
	for (unsigned long i = 0; i < n; i++) {
		if (!pages[i])
			continue;
		if (__mem_cgroup_move_account(pages[i], from, to, dfrom, dto))
			pages[i] = NULL;
		else
			moved += thp_nr_pages(pages[i]);
	}
	spin_unlock(&from->info[0].lru_lock);
	mem_cgroup_stat_apply(from, dfrom);
	mem_cgroup_stat_apply(to, dto);
	return moved;
}

/*
 * mem_cgroup_swapout(), mm/memcontrol.c 6.1 (swap_cgroup_record() since
 * 2.6.29), as the page leaves the swap cache at pageout: the slot
 * remembers the group; the memory charge goes when the frame is freed.  A
 * lazy (WRONG_CHARGE) page is recorded for @task_memcg, the group its task
 * is in now, so the refault charges there.
 */
void mem_cgroup_swapout(struct page *page, unsigned long swp_off, struct mem_cgroup *task_memcg)
{
	struct page_cgroup *pc = lookup_page_cgroup(page);
	struct mem_cgroup *memcg = page_memcg(page);

	if (!memcg)
		return;
	if (task_memcg && PcgFlag(pc, PCG_WRONG_CHARGE))
		memcg = task_memcg;
	atomic_store(&cur_machine->swap_cgroup[swp_off], mem_cgroup_id(memcg));
	mem_cgroup_stat_add(memcg, EMU_STAT_SWAP, 1);
	/* the entry holds memory+swap; the frame's uncharge takes both */
	if (do_swap_account(memcg->machine))
		res_counter_charge_nofail(&memcg->memsw, PAGE_SIZE);
}

/*
 * The group a swap-in charges: the slot's record while that group lives
 * (mem_cgroup_swapin_charge_folio(), 6.1), else the mm owner's; 2.6.26 had
 * no record and charged the mm.
 */
struct mem_cgroup *mem_cgroup_swapin_memcg(struct mm_struct *mm, unsigned long swp_off)
{
	struct machine *m = cur_machine;

	if (m->kernel > EMU_KERNEL_2_6_26) {
		struct mem_cgroup *memcg = mem_cgroup_from_id(m, atomic_load(&m->swap_cgroup[swp_off]));

		if (memcg)
			return memcg;
	}
	return try_get_mem_cgroup_from_mm(mm);
}

/* mem_cgroup_uncharge_swap(), mm/memcontrol.c 2.6.29 */
void mem_cgroup_uncharge_swap(struct machine *m, unsigned long swp_off)
{
	unsigned short id = atomic_exchange(&m->swap_cgroup[swp_off], 0);
	struct mem_cgroup *memcg;

	if (!id)
		return;
	spin_lock(&m->memcg_lock);
	memcg = m->memcgs[id - 1];	/* a removed group's too: its parent's total_swap shows it */
	spin_unlock(&m->memcg_lock);
	if (!memcg)
		return;
	mem_cgroup_stat_add(memcg, EMU_STAT_SWAP, -1);
	if (do_swap_account(m))
		res_counter_uncharge(&memcg->memsw, PAGE_SIZE);
}

/*
 * memcg_page_state() after mem_cgroup_flush_stats(), 6.1 (mem_cgroup_read_stat()
 * before: the per-CPU sum): every CPU's counter folded.  6.1 flushes only
 * past a threshold of pending updates; we always fold, so a read is exact.
 */
long memcg_page_state(struct mem_cgroup *memcg, int idx)
{
	long sum = 0;

	for (int cpu = 0; cpu < memcg->machine->nr_cpus; cpu++)
		sum += atomic_load_explicit(&memcg->vmstats_percpu[cpu].count[idx], memory_order_relaxed);
	return sum;
}

/* ---- LRU placement (mm/swap.c, mm/memcontrol.c mem_cgroup_add_lru_list) ---- */

/*
 * Lock the lruvec the page belongs to.  A page changes group only while off
 * the LRU and under its old group's lru_lock, but the group is read before
 * the lock: look again under it (folio_lruvec_lock(), 5.x).
 */
struct mem_cgroup_per_zone *lock_page_lruvec(struct page *page)
{
	for (;;) {
		struct mem_cgroup *memcg = page_memcg(page);
		struct mem_cgroup_per_zone *mz = page_cgroup_zoneinfo(memcg, page);

		spin_lock(&mz->lru_lock);
		if (page_memcg(page) == memcg)
			return mz;
		spin_unlock(&mz->lru_lock);
	}
}

/* add_page_to_lru_list(), include/linux/mm_inline.h: the page's lruvec lock held. */
void lru_cache_add_locked(struct mem_cgroup_per_zone *mz, struct page *page)
{
	enum lru_list lru = page_lru(page);

	BUG_ON(PageLRU(page));
	list_add(&page->lru, &mz->lists[lru]);
	mz->count[lru] += thp_nr_pages(page);
	SetPageFlag(page, PG_lru);
}

/*
 * lru_add_fn() with its lruvec lock (mm/swap.c): onto the head of its list
 * at once, no batch; reclaim takes from the tail.
 */
void lru_add_page(struct page *page)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);

	lru_cache_add_locked(mz, page);
	spin_unlock(&mz->lru_lock);
}

/*
 * A new anon page onto its LRU: the active list before 5.9 (2.6.26
 * lru_cache_add_active(), 2.6.28+ lru_cache_add_active_or_unevictable()),
 * the inactive one from 5.9 (lru_cache_add_inactive_or_unevictable()).
 */
void lru_cache_add_new_anon(struct page *page)
{
	if (cur_machine->kernel < EMU_KERNEL_6_1)
		SetPageFlag(page, PG_active);
	lru_cache_add(page);
}

/* del_page_from_lru(), include/linux/mm_inline.h */
void del_page_from_lru(struct page *page)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);

	lru_take_locked(mz, page);
	spin_unlock(&mz->lru_lock);
}

/* isolate_lru_page(), mm/vmscan.c: take the page off its LRU with a reference. */
int isolate_lru_page(struct page *page)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);
	int ret = -EBUSY;

	/* a page whose last reference is gone stays for put_page() to take off */
	if (PageLRU(page) && get_page_unless_zero(page)) {
		ClearPageFlag(page, PG_lru);
		list_del(&page->lru);
		mz->count[page_lru(page)] -= thp_nr_pages(page);
		ret = 0;
	}
	spin_unlock(&mz->lru_lock);
	return ret;
}

/* putback_lru_page(), mm/vmscan.c: back on the list its flags name; drop the isolation reference. */
void putback_lru_page(struct page *page)
{
	lru_add_page(page);
	put_page(page);
}

/*
 * isolate_lru_page() over a batch (the pages of one PTE table): one lock
 * hold per run of pages of the same group.  Pages not on an LRU are set to
 * NULL; with @get each isolated page also gets a reference (without it the
 * caller's PTE lock keeps the pages alive).
 */
unsigned long isolate_lru_page_batch(struct page **pages, unsigned long n, int get)
{
	struct mem_cgroup_per_zone *mz = NULL;
	unsigned long isolated = 0;

	for (unsigned long i = 0; i < n; i++) {
		struct page *page = pages[i];
		struct mem_cgroup_per_zone *want = page_cgroup_zoneinfo(page_memcg(page), page);

		if (want != mz) {
			if (mz)
				spin_unlock(&mz->lru_lock);
			mz = lock_page_lruvec(page);	/* looks again under the lock */
		}
		if (PageLRU(page) && (!get || get_page_unless_zero(page))) {
			ClearPageFlag(page, PG_lru);
			list_del(&page->lru);
			mz->count[page_lru(page)] -= thp_nr_pages(page);
			isolated++;
		} else {
			pages[i] = NULL;
		}
	}
	if (mz)
		spin_unlock(&mz->lru_lock);
	return isolated;
}

/*
 * trylock_page() and isolate_lru_page() at once, for a batch under one
 * lock hold per group: a page that is unlocked and on its LRU becomes
 * locked and isolated in one atomic step; the others are set to NULL.
 */
unsigned long trylock_isolate_lru_page_batch(struct page **pages, unsigned long n)
{
	const unsigned long lru = 1UL << PG_lru, locked = 1UL << PG_locked;
	struct mem_cgroup_per_zone *mz = NULL;
	unsigned long isolated = 0;

	for (unsigned long i = 0; i < n; i++) {
		struct page *page = pages[i];
		struct mem_cgroup_per_zone *want = page_cgroup_zoneinfo(page_memcg(page), page);
		unsigned long old;

		if (want != mz) {
			if (mz)
				spin_unlock(&mz->lru_lock);
			mz = lock_page_lruvec(page);
		}
		old = atomic_load(&page->flags);
		do {
			if ((old & (lru | locked)) != lru)
				break;
		} while (!atomic_compare_exchange_weak(&page->flags, &old, (old | locked) & ~lru));
		if ((old & (lru | locked)) != lru) {
			pages[i] = NULL;
			continue;
		}
		list_del(&page->lru);
		mz->count[page_lru(page)] -= thp_nr_pages(page);
		isolated++;
	}
	if (mz)
		spin_unlock(&mz->lru_lock);
	return isolated;
}

/*
 * lru_cache_add() over a batch: one lock hold per run of pages of the same
 * group (a pagevec); LRU_ADD_UNLOCK also unlocks the pages that
 * trylock_isolate_lru_page_batch() locked, LRU_ADD_TAIL puts them at the
 * reclaim end.
 */
void lru_add_page_batch(struct page **pages, unsigned long n, int mode)
{
	struct mem_cgroup_per_zone *mz = NULL;

	for (unsigned long i = 0; i < n; i++) {
		struct page *page = pages[i];
		struct mem_cgroup_per_zone *want;
		enum lru_list lru;

		if (!page)
			continue;
		want = page_cgroup_zoneinfo(page_memcg(page), page);
		if (want != mz) {
			if (mz)
				spin_unlock(&mz->lru_lock);
			mz = lock_page_lruvec(page);
		}
		lru = page_lru(page);
		if (mode & LRU_ADD_TAIL)
			list_add_tail(&page->lru, &mz->lists[lru]);
		else
			list_add(&page->lru, &mz->lists[lru]);
		mz->count[lru] += thp_nr_pages(page);
		if (mode & LRU_ADD_UNLOCK)	/* PG_lru on and PG_locked off in one step: we hold the lock */
			atomic_fetch_xor(&page->flags, (1UL << PG_lru) | (1UL << PG_locked));
		else
			SetPageFlag(page, PG_lru);
	}
	if (mz)
		spin_unlock(&mz->lru_lock);
}

/* putback_lru_pages(), mm/migrate.c: a pagevec at a time, then the isolation references go. */
void putback_lru_pages(struct list_head *l)
{
	struct page *pages[PTRS_PER_TABLE];

	while (!list_empty(l)) {
		unsigned long n = 0;

		while (n < PTRS_PER_TABLE && !list_empty(l)) {
			struct page *page = list_first_entry(l, struct page, lru);

			list_del(&page->lru);
			pages[n++] = page;
		}
		lru_add_page_batch(pages, n, 0);
		for (unsigned long i = 0; i < n; i++)
			put_page(pages[i]);
	}
}

/*
 * Change a flag that decides which list the page is on (PG_active,
 * PG_unevictable), moving it across under the lruvec lock if it is on one.
 */
void lru_set_page_flag(struct page *page, int bit, int set)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);
	int on_lru = PageLRU(page);

	if (on_lru) {
		list_del(&page->lru);
		mz->count[page_lru(page)] -= thp_nr_pages(page);
	}
	if (set)
		SetPageFlag(page, bit);
	else
		ClearPageFlag(page, bit);
	if (on_lru) {
		list_add(&page->lru, &mz->lists[page_lru(page)]);
		mz->count[page_lru(page)] += thp_nr_pages(page);
	}
	spin_unlock(&mz->lru_lock);
}

/* rotate_reclaimable_page(), mm/swap.c: to the reclaim end of its inactive list. */
void rotate_reclaimable_page(struct page *page)
{
	struct mem_cgroup_per_zone *mz = lock_page_lruvec(page);

	if (PageLRU(page)) {
		mz->count[page_lru(page)] -= thp_nr_pages(page);
		ClearPageFlag(page, PG_active);
		mz->count[page_lru(page)] += thp_nr_pages(page);
		list_move_tail(&page->lru, &mz->lists[page_lru(page)]);
	}
	spin_unlock(&mz->lru_lock);
}

/* ---- the RFD patch: "memcg: Move Usage at Task Move" (2.6.26-rc2-mm1) ---- */

/* A page the failed seed rollback could not charge back: in use, charged nowhere. */
static void mem_cgroup_mark_leaked(struct page *page, struct mem_cgroup *memcg)
{
	struct page_cgroup *pc = lookup_page_cgroup(page);

	lock_page_cgroup(page);
	if (!page_get_page_cgroup(page)) {
		pc->mem_cgroup = memcg;
		pc->page = page;
		atomic_store(&pc->flags, 1UL << PCG_LEAKED);
		mem_cgroup_stat_add(memcg, EMU_STAT_LEAKED, 1);
	}
	unlock_page_cgroup(page);
}

/*
 * mem_cgroup_recharge_private(), the RFD patch: a private anon page mapped
 * once (and held only by its PTE and our isolation) is uncharged and charged
 * again to @memcg, reclaim and OOM armed (GFP_KERNEL).  Pages that stopped
 * qualifying are left alone (1): the patch counts them as done.
 */
static int recharge_qualifies(struct page *page)
{
	return page_count(page) == 2 && page_mapcount(page) == 1 && PageAnon(page);
}

static int mem_cgroup_recharge_private(struct page *page, struct mem_cgroup *memcg, struct move_ctx *ctx)
{
	struct mem_cgroup *old = page_memcg(page);
	struct oom_report *saved;
	int ret;

	if (!recharge_qualifies(page)) {
		ctx->nr_skipped++;
		return 1;
	}
	mem_cgroup_uncharge_page(page);
	/* here the page is charged to no group: the window the RFD's rollback has to close */
	saved = current_oom_report;
	current_oom_report = &ctx->oom;
	ret = mem_cgroup_charge_common(page, NULL, memcg, MEM_CGROUP_CHARGE_TYPE_MAPPED,
				       CHARGE_RECLAIM | CHARGE_OOM);
	current_oom_report = saved;
	if (ret && move_ctx_oom(ctx) == -EDEADLK) {
		/* the writer hangs in the OOM path: this page stays charged nowhere */
		mem_cgroup_mark_leaked(page, old ? old : ctx->from);
		ctx->nr_leaked++;
		return -EDEADLK;
	}
	return ret;
}

/* __recharge_get_page_range(), the RFD patch: isolate the movable pages of one PTE table. */
static int __recharge_get_page_range(struct pte_table *pt, unsigned long addr, unsigned long end,
				     struct mm_walk *walk)
{
	struct move_ctx *ctx = walk->private;
	struct page *pages[PTRS_PER_TABLE];
	unsigned long n = 0;

	/*
	 * The RFD predates huge pages and walks PTEs only: a huge PMD is split
	 * first, as walk_page_range() does for a walker without a PMD callback,
	 * and so is each huge page it maps, into the 4 KiB pages the patch
	 * knows; one that cannot be split now is left where it is.
	 */
	split_huge_pages_of_table(pt, walk->vma, addr, end);
	spin_lock(&pt->ptl);
	for (; addr != end; addr += PAGE_SIZE) {
		pte_t ptent = pt->pte[pte_index(addr)];
		struct page *page;

		if (!pte_present(ptent))
			continue;
		page = vm_normal_page(walk->vma, addr, ptent);
		if (!page || !PageAnon(page) || PageCompound(page) || page_mapcount(page) > 1)
			continue;
		pages[n++] = page;
	}
	/* isolate_lru_page() for each, the LRU lock taken once per run of one group's pages */
	isolate_lru_page_batch(pages, n, 1);
	for (unsigned long i = 0; i < n; i++) {
		if (pages[i]) {
			list_add_tail(&pages[i]->lru, &ctx->isolated);
			ctx->nr_isolated++;
		}
	}
	spin_unlock(&pt->ptl);	/* the posted patch lost this brace: the unlock sat inside the loop */
	return cond_resched_phase(EMU_PHASE_WALK, ctx->nr_isolated);
}

/*
 * Phase 1 of mem_cgroup_recharge_task(), the RFD patch: walk the private,
 * non-hugetlb VMAs and isolate every present anon page mapped once,
 * whichever group it is charged to.
 */
/* The RFD's VMA filter: private, non-hugetlb mappings only. */
static int recharge_test_walk(struct vm_area_struct *vma, struct mm_walk *walk)
{
	(void)walk;
	return !(vma->vm_flags & (VM_HUGETLB | VM_SHARED | VM_MAYSHARE));
}

int mem_cgroup_recharge_isolate(struct move_ctx *ctx)
{
	struct mm_walk walk = { .pmd_entry = __recharge_get_page_range, .test_walk = recharge_test_walk,
				.mm = ctx->mm, .private = ctx };

	return walk_page_vmas(&walk);
}

/*
 * Up to a PTE table's worth of pages from the head of @list that are all
 * charged to one group (*memcg): the unit the batched moves work on.
 */
unsigned long move_take_batch(struct list_head *list, struct page **pages, struct mem_cgroup **memcg)
{
	unsigned long n = 0;
	struct page *page;

	*memcg = NULL;
	list_for_each_entry(page, list, lru) {
		if (n == PTRS_PER_TABLE || (n && page_memcg(page) != *memcg))
			break;
		if (!n)
			*memcg = page_memcg(page);
		pages[n++] = page;
	}
	return n;
}

/*
 * Phase 3 of mem_cgroup_recharge_task(): move each isolated page's charge
 * to ctx->to, a cond_resched() every PTE table's worth.  A batch whose pages
 * all qualify and fit without reclaim is charged and uncharged at once;
 * otherwise the patch's page-by-page loop runs, and on failure the page
 * that failed is on ctx->moved, uncharged.
 */
int mem_cgroup_recharge_move(struct move_ctx *ctx)
{
	struct page *pages[PTRS_PER_TABLE];

	if (!ctx->counted && !(ctx->counted = calloc(ctx->nr_isolated + 1, 1)))
		return emu_set_error(-ENOMEM, "no memory for the move's bookkeeping");
	while (!list_empty(&ctx->isolated)) {
		struct mem_cgroup *old, *over;
		unsigned long n, moved, i;
		int memsw, ret = cond_resched_phase(EMU_PHASE_MOVE, ctx->nr_moved);

		if (ret)
			return ret;
		n = move_take_batch(&ctx->isolated, pages, &old);
		for (i = 0; i < n && recharge_qualifies(pages[i]); i++)
			;
		if (i == n && old && old != ctx->to &&
		    !mem_cgroup_charge_counters(ctx->to, n, &over, &memsw)) {
			for (i = 0; i < n; i++)
				list_move_tail(&pages[i]->lru, &ctx->moved);
			moved = mem_cgroup_move_account_batch(pages, n, old, ctx->to);
			for (i = 0; i < n; i++)
				ctx->counted[ctx->nr_listed++] = page_memcg(pages[i]) == ctx->to;
			mem_cgroup_cancel_charge(old, moved);
			if (moved < n)
				mem_cgroup_cancel_charge(ctx->to, n - moved);
			ctx->nr_moved += moved;
			ctx->nr_skipped += n - moved;
			continue;
		}
		for (i = 0; i < n; i++) {
			struct page *page = list_first_entry(&ctx->isolated, struct page, lru);

			struct mem_cgroup *was = page_memcg(page);

			list_move_tail(&page->lru, &ctx->moved);	/* here this page is the target of rollback */
			ret = mem_cgroup_recharge_private(page, ctx->to, ctx);
			ctx->nr_listed++;
			if (ret < 0)
				return ret;
			if (!ret && was != ctx->to) {	/* recharged in place is no move */
				ctx->counted[ctx->nr_listed - 1] = 1;
				ctx->nr_moved++;
			}
		}
	}
	return 0;
}

/*
 * The rollback of mem_cgroup_recharge_task(): charge every moved page back
 * to ctx->from, best effort; a page that does not fit stays uncharged (the
 * leak the RFD accepts), counted in memcg_emu.leaked_bytes of ctx->from.
 */
int mem_cgroup_recharge_rollback(struct move_ctx *ctx)
{
	unsigned long n = 0;
	struct page *page;

	list_for_each_entry(page, &ctx->moved, lru) {
		struct mem_cgroup *cur = page_memcg(page);
		int ret;

		if (n++ % PTRS_PER_TABLE == 0)
			cond_resched_phase(EMU_PHASE_ROLLBACK, n - 1);	/* rollback goes on regardless */
		if (cur == ctx->from)
			continue;
		ret = mem_cgroup_recharge_private(page, ctx->from, ctx);
		/* it had moved (not the page whose charge failed, nor one charged to ctx->to before) */
		if (ret == 0 && ctx->counted[n - 1])
			ctx->nr_moved--;
		if (ret == -EDEADLK)
			return ret;	/* hung: the rollback goes no further */
		if (ret >= 0)
			continue;
		/* ignore this failure intentionally: the page is charged nowhere */
		mem_cgroup_mark_leaked(page, ctx->from);
		ctx->nr_leaked++;
	}
	return 0;
}
