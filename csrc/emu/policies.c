/*
 * The RFD's other policies, custom to the emulator (the kernel never had
 * them): reserve (policy 1), half (policy 4), lazy (policy 3) and lazy-move
 * (policy 3 with "moving of usage instead of freeing it").  Each works on
 * the seed's target set, isolated by emu_seed_isolate().
 */
#include "entry.h"


/* reserve, step 1: charge the whole target size to the new group (reclaim, no OOM). */
int emu_reserve_charge(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_ROOM, ctx);
	unsigned long n = ctx->nr_isolated;
	int ret;

	if (!n)
		EMU_RETURN(0);
	ret = mem_cgroup_try_charge(ctx->to, n, CHARGE_RECLAIM, NULL);
	if (ret)
		EMU_RETURN(emu_set_error(-ENOMEM, "memory cgroup %d cannot reserve %lu pages", ctx->to->id, n));
	ctx->precharge = n;
	atomic_fetch_add(&ctx->to->reserved, (long)(n * PAGE_SIZE));
	EMU_RETURN(0);
}

/* The old group keeps the pages' charge until the move ends: note whose it is. */
static void reserve_note_old(struct move_ctx *ctx, struct mem_cgroup *old, unsigned long n)
{
	for (int i = 0; i < ctx->nr_old; i++) {
		if (ctx->old_memcg[i] == old) {
			ctx->old_pages[i] += n;
			return;
		}
	}
	if (ctx->nr_old < 8) {
		ctx->old_memcg[ctx->nr_old] = old;
		ctx->old_pages[ctx->nr_old++] = n;
		return;
	}
	mem_cgroup_cancel_charge(old, n);	/* a ninth group: settled at once */
	atomic_fetch_sub(&old->reserved, (long)(n * PAGE_SIZE));
}

/*
 * reserve, step 2 (attach): hand each page to the new group against the
 * reservation, a batch of one group's pages at a time; the old groups are
 * uncharged only when all have moved, so the task counts twice meanwhile.
 */
int emu_reserve_move(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_MOVE_PAGES, ctx);
	struct page *pages[PTRS_PER_TABLE];
	int ret = 0;

	while (!list_empty(&ctx->isolated)) {
		struct mem_cgroup *old;
		unsigned long n, moved = 0;

		if ((ret = cond_resched_phase(EMU_PHASE_MOVE, ctx->nr_moved)))
			break;
		n = move_take_batch(&ctx->isolated, pages, &old);
		for (unsigned long i = 0; i < n; i++)
			list_move_tail(&pages[i]->lru, &ctx->moved);
		if (old && old != ctx->to)
			moved = mem_cgroup_move_account_batch(pages, n, old, ctx->to);
		ctx->nr_skipped += n - moved;
		if (!moved)
			continue;
		atomic_fetch_add(&old->reserved, (long)(moved * PAGE_SIZE));
		atomic_fetch_sub(&ctx->to->reserved, (long)(moved * PAGE_SIZE));
		ctx->precharge -= moved;
		ctx->nr_moved += moved;
		reserve_note_old(ctx, old, moved);
	}
	for (int i = 0; i < ctx->nr_old; i++) {
		mem_cgroup_cancel_charge(ctx->old_memcg[i], ctx->old_pages[i]);
		atomic_fetch_sub(&ctx->old_memcg[i]->reserved, (long)(ctx->old_pages[i] * PAGE_SIZE));
	}
	ctx->nr_old = 0;
	if (ctx->precharge) {	/* targets that stopped qualifying: their reservation goes */
		mem_cgroup_cancel_charge(ctx->to, ctx->precharge);
		atomic_fetch_sub(&ctx->to->reserved, (long)(ctx->precharge * PAGE_SIZE));
		ctx->precharge = 0;
	}
	EMU_RETURN(ret);
}

/* reserve, rollback: releasing the reservation is all there is to undo. */
int emu_reserve_cancel(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_ROLLBACK, ctx);

	if (ctx->precharge) {
		mem_cgroup_cancel_charge(ctx->to, ctx->precharge);
		atomic_fetch_sub(&ctx->to->reserved, (long)(ctx->precharge * PAGE_SIZE));
		ctx->precharge = 0;
	}
	EMU_RETURN(0);
}

/*
 * half (attach): page by page, charge the new group (reclaim, no OOM) and
 * hand the page over; at the first page that does not fit, stop.  What is
 * left stays charged to the old group; nothing rolls back.  A batch of one
 * group's pages that fits without reclaim is charged at once.
 */
int emu_half_move(struct move_ctx *ctx)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_MOVE_PAGES, ctx);
	struct page *pages[PTRS_PER_TABLE];

	while (!list_empty(&ctx->isolated)) {
		struct mem_cgroup *old, *over;
		unsigned long n, moved;
		int memsw, ret = cond_resched_phase(EMU_PHASE_MOVE, ctx->nr_moved);

		if (ret)
			EMU_RETURN(ret);
		n = move_take_batch(&ctx->isolated, pages, &old);
		if (!old || old == ctx->to) {
			for (unsigned long i = 0; i < n; i++)
				list_move_tail(&pages[i]->lru, &ctx->moved);
			ctx->nr_skipped += n;
			continue;
		}
		if (!mem_cgroup_charge_counters(ctx->to, n, &over, &memsw)) {
			for (unsigned long i = 0; i < n; i++)
				list_move_tail(&pages[i]->lru, &ctx->moved);
			moved = mem_cgroup_move_account_batch(pages, n, old, ctx->to);
			mem_cgroup_cancel_charge(old, moved);
			if (moved < n)
				mem_cgroup_cancel_charge(ctx->to, n - moved);
			ctx->nr_moved += moved;
			ctx->nr_skipped += n - moved;
			continue;
		}
		for (unsigned long i = 0; i < n; i++) {
			struct page *page = pages[i];

			if (mem_cgroup_try_charge(ctx->to, 1, CHARGE_RECLAIM, NULL))
				EMU_RETURN(emu_set_error(-ENOMEM, "memory cgroup %d is full after %lu pages: "
							 "the rest stay behind", ctx->to->id, ctx->nr_moved));
			list_move_tail(&page->lru, &ctx->moved);
			if (mem_cgroup_move_account(page, old, ctx->to, 1)) {
				mem_cgroup_cancel_charge(ctx->to, 1);
				ctx->nr_skipped++;
				continue;
			}
			ctx->nr_moved++;
		}
	}
	EMU_RETURN(0);
}

/*
 * lazy and lazy-move (attach): mark each target still charged elsewhere
 * WRONG_CHARGE and rotate it to the reclaim end of its inactive list;
 * reclaim then takes it first (lazy-move: recharges it when the task's
 * group has room).  Mlocked pages are marked but never leave.
 */
int emu_lazy_mark(struct move_ctx *ctx, int recharge)
{
	EMU_ENTER(ctx->machine);
	TRACE_STEP(EMU_TRACE_MOVE_PAGES, ctx);
	const unsigned long mask = (1UL << PCG_WRONG_CHARGE) | (1UL << PCG_RECHARGE);
	struct page *pages[PTRS_PER_TABLE];

	while (!list_empty(&ctx->isolated)) {
		struct mem_cgroup *old;
		unsigned long n = move_take_batch(&ctx->isolated, pages, &old);
		int wrong = old && old != ctx->to;	/* else: back in its group, the mark goes */
		unsigned long want = wrong ? (1UL << PCG_WRONG_CHARGE) | (recharge ? 1UL << PCG_RECHARGE : 0) : 0;
		long delta = 0;

		for (unsigned long i = 0; i < n; i++) {
			struct page *page = pages[i];
			struct page_cgroup *pc = lookup_page_cgroup(page);
			unsigned long f;

			list_del(&page->lru);
			lock_page_cgroup(page);
			f = atomic_load(&pc->flags);
			if (page_memcg(page) && (f & mask) != want) {
				delta += !!(want & (1UL << PCG_WRONG_CHARGE)) - !!(f & (1UL << PCG_WRONG_CHARGE));
				atomic_store(&pc->flags, (f & ~mask) | want);
			}
			unlock_page_cgroup(page);
			if (wrong && PageActive(page))
				ClearPageFlag(page, PG_active);
		}
		if (old && delta)
			mem_cgroup_stat_add(old, EMU_STAT_WRONG_CHARGE, delta);
		if (wrong)
			ctx->nr_moved += n;
		else
			ctx->nr_skipped += n;
		/* marked pages go to the reclaim end of the inactive list (rotate_reclaimable_page()) */
		lru_add_page_batch(pages, n, wrong ? LRU_ADD_TAIL : 0);
		for (unsigned long i = 0; i < n; i++)
			put_page(pages[i]);
	}
	EMU_RETURN(0);
}

static int page_owner_one(struct page *page, struct vm_area_struct *vma, unsigned long address, void *arg)
{
	struct pte_table *pt;

	if (!page_check_address(page, vma, address, &pt))
		return 0;
	*(struct mem_cgroup **)arg = try_get_mem_cgroup_from_mm(vma->vm_mm);
	spin_unlock(&pt->ptl);
	return 1;
}

/* The group of the task whose PTE maps this (mapped-once anon) page now, or NULL. */
static struct mem_cgroup *page_owner_memcg(struct page *page)
{
	struct mem_cgroup *memcg = NULL;

	if (!PageAnon(page) || page_mapcount(page) != 1)
		return NULL;
	rmap_walk(page, page_owner_one, &memcg);
	return memcg;
}

/*
 * lazy-move, from shrink_page_list(): a WRONG_CHARGE page (isolated and
 * locked by reclaim) is recharged to its task's group when that group has
 * room, instead of being reclaimed.  0 if the page left its group that way.
 */
int mem_cgroup_lazy_recharge(struct page *page)
{
	struct page_cgroup *pc = lookup_page_cgroup(page);
	struct mem_cgroup *from = page_memcg(page), *to;

	if (!from || !PcgFlag(pc, PCG_WRONG_CHARGE) || !PcgFlag(pc, PCG_RECHARGE))
		return -EAGAIN;
	to = page_owner_memcg(page);
	if (!to || to == from)
		return -EAGAIN;
	if (mem_cgroup_try_charge(to, 1, 0, NULL))
		return -ENOMEM;		/* no room there: reclaim it as lazy would */
	if (mem_cgroup_move_account(page, from, to, 1)) {
		mem_cgroup_cancel_charge(to, 1);
		return -EAGAIN;
	}
	return 0;
}
